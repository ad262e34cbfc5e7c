/* The engine: steps the model through the scenario's tasks, calls the plugins' hooks, evaluates
 * every task after every step, and tells its sinks (progress line, dashboard, tests) what
 * happens. It knows nothing of terminals. */
#ifndef LETHE_ENGINE_H
#define LETHE_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <lethe/plugin.h>

#include "dataset.h"
#include "error.h"
#include "mlp.h"
#include "plugin_loader.h"
#include "results.h"
#include "rng.h"
#include "scenario.h"
#include "services.h"
#include "tasks.h"
#include "unlearn.h"

enum event_kind {
	EVENT_RUN_START,  /* before the untrained evaluation */
	EVENT_STEP_START, /* step begins */
	EVENT_BATCH,      /* after every optimiser step */
	EVENT_STEP_END,   /* the step's row of the accuracy matrix is known */
	EVENT_FORGET_END, /* a forget step finished: its figures are in the unlearning list */
	EVENT_RUN_END,    /* every step finished */
	EVENT_LOG         /* a message from the engine or a plugin */
};

struct event {
	enum event_kind kind;
	const struct engine *engine;
	size_t step;	      /* 0-based */
	size_t epoch;	      /* 0-based, within the step */
	size_t batch;	      /* 0-based, within the epoch */
	size_t batches;	      /* per epoch of this step */
	uint64_t batches_done;
	uint64_t batches_total;
	uint64_t samples_done; /* training samples processed in the run so far */
	double loss;	      /* of the last batch */
	double elapsed;	      /* seconds since the run started */
	const char *source;   /* EVENT_LOG: "lethe" or the plugin's name */
	lethe_log_level level;
	const char *msg;
};

struct sink {
	void (*event)(void *ctx, const struct event *ev);
	void *ctx;
};

#define ENGINE_SINKS_MAX 4

struct engine_plugin {
	struct plugin_file file;
	const char *section;
	lethe_param_value *values;
	lethe_plugin *inst;
	lethe_plugin hooks; /* zero-extended copy of the instance's table */
	lethe_host host;
	struct services_ctx svc;
};

struct engine {
	const struct scenario *s;
	const struct plugin_path *pp; /* borrowed from engine_open: the retrain reference reopens */
	struct dataset train, test;
	struct task_list tasks;
	lethe_run_info run_info;
	lethe_task_info task_info[TASKS_MAX];
	size_t num_classes;

	struct mlp model;
	struct mlp initial; /* the model's initial weights: retrain starts from them */
	struct sgd opt;
	struct rng rng; /* shuffling */

	size_t num_plugins;
	struct engine_plugin plugins[SCENARIO_PLUGINS_MAX];
	int in_batch;	  /* per-batch hooks running: no allocation allowed */

	size_t num_sinks;
	struct sink sinks[ENGINE_SINKS_MAX];

	/* Training buffers, sized once per step; nothing is allocated per batch. */
	lethe_batch batch;
	size_t batch_capacity;
	float *x, *logits, *dlogits;
	int32_t *y;
	uint32_t *row_task;
	uint64_t *ids;
	const uint8_t **masks;
	uint64_t *order; /* (task << 32) | position of every sample of the step */
	size_t order_cap;

	/* Results so far. R and b are num_tasks x num_tasks and num_tasks. */
	double *R, *b, *step_seconds;
	double *confusion; /* per step: inter-task confusion (class-incremental), else NaN */
	size_t rows_done;
	struct timespec t0;
	double total_seconds;
	uint64_t batches_done, batches_total, samples_done;
	size_t step;

	/* The forget steps done, in order. */
	size_t num_unlearning;
	struct results_unlearning unlearning[SCENARIO_FORGETS_MAX];
};

/* Loads the data, builds the tasks and the model, loads and creates the plugins (checking each
 * one's INI section against its parameters). pp is the plugin search path. */
int engine_open(struct engine *e, const struct scenario *s, const struct plugin_path *pp,
		struct error *err);
int engine_add_sink(struct engine *e, void (*fn)(void *ctx, const struct event *ev), void *ctx);

/* Runs every step and writes DIR/metrics.json and DIR/accuracy.csv after each. On an error the
 * results of the finished steps stay on disk. out_dir may be NULL (no files). */
int engine_run(struct engine *e, const char *out_dir, struct error *err);

/* A forget request: every plugin's on_forget hears it, then the covered samples leave the
 * tasks' training data, so no later step (joint included) trains on them. */
int engine_forget(struct engine *e, const lethe_forget_request *req, struct error *err);

/* A scenario's forget step: builds the request and its sets, runs the asked-for reference
 * methods on copies, then the named plugin's unlearn on the model (while the data is still
 * there), then engine_forget, and measures the result; the figures join e->unlearning. */
int engine_forget_step(struct engine *e, const struct scenario_forget *f, struct error *err);

/* Evaluates the model on every task: acc[j] for j < num_tasks. confusion, if not NULL,
 * receives the inter-task confusion over every task's test samples: the fraction of errors whose
 * predicted class belongs to another task than the true one (a class of no task counts as
 * another), or NaN when there is no error or the protocol is not class-incremental. */
int engine_evaluate(struct engine *e, double *acc, double *confusion, struct error *err);

/* A plugin's state through its save/load hooks, as one framed record (state version, length,
 * bytes) in f: what checkpoints are made of. */
int engine_plugin_save(struct engine *e, size_t i, FILE *f, struct error *err);
int engine_plugin_load(struct engine *e, size_t i, FILE *f, struct error *err);

/* Sends a log event from `source` to the sinks. */
void engine_log(struct engine *e, const char *source, lethe_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Makes the training batch hold batch_size plus every plugin's reserved rows. */
int engine_reserve_batch(struct engine *e, struct error *err);

void engine_close(struct engine *e);

#endif
