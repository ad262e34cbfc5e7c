/* A run's peak memory, estimated before anything large is allocated, and what the machine can
 * give it: engine_open refuses a run that cannot fit (a model of hidden = 65536,65536 needs
 * 70 GiB) instead of letting the kernel's OOM killer end it, or the machine, hours later. */
#ifndef LETHE_MEMORY_H
#define LETHE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/param.h>

#include "data/dataset.h"
#include "data/tasks.h"
#include "scenario/scenario.h"
#include "util/error.h"

/* A plugin as the estimate knows it: by its name, its parameters' declarations and values. */
struct memory_plugin {
	const char *name;
	const lethe_param_decl *params;
	uint32_t num_params;
	const lethe_param_value *values;
};

/* What the estimate reads of a run: its scenario, its data's labels and shapes, its tasks and
 * plugins, all known before the pixels, the model and the plugins' instances take memory. */
struct memory_run {
	const struct scenario *s;
	const struct dataset *train, *test;
	const struct task_list *tasks;
	size_t num_classes;
	size_t num_plugins;
	struct memory_plugin plugins[SCENARIO_PLUGINS_MAX];
};

/* In bytes; total is the sum of the others. */
struct memory_estimate {
	uint64_t data;	    /* pixels and labels of both splits, the tasks' sample lists */
	uint64_t model;	    /* the model's and its initial copy's parameters and gradients, the
			       optimiser's velocity */
	uint64_t workspace; /* activations and deltas, the batch, the step's order, evaluation */
	uint64_t plugins;   /* what the listed plugins keep, and the largest hook's own peak */
	uint64_t forget;    /* the forget steps beyond that: their sets, reference models and
			       measurements, the retraining engine */
	uint64_t reading;   /* what reading the pixels holds above all that, when it does: a .gz
			       file's compressed bytes beside the pixels so far */
	uint64_t total;
};

/* The estimate for run r: a pure function of it. */
void memory_estimate(const struct memory_run *r, struct memory_estimate *m);

/* What this process may still allocate: MemAvailable (/proc/meminfo), or less when RLIMIT_AS
 * or RLIMIT_DATA, less what the process already maps, leaves less. */
struct memory_available {
	uint64_t bytes;
	const char *source; /* which figure that is, in words */
};

/* Returns 0, or -1 when no figure can be read (no /proc): nothing is known to refuse on. */
int memory_available(struct memory_available *a);

/* 0 when m fits in a; else -1 and one line naming both figures, that of what the run needs
 * broken down (e names the scenario when path is not NULL). */
int memory_check(const struct memory_estimate *m, const struct memory_available *a,
		 const char *path, struct error *e);

/* engine_open's gate: memory_estimate against memory_available. */
int memory_admit(const struct memory_run *r, struct error *err);

/* bytes as "512 B", "48 KiB", "312 MiB", "70.3 GiB". */
void memory_format(uint64_t bytes, char *out, size_t size);

#endif
