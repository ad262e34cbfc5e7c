/* The lethe_host table each plugin instance receives: the engine's services behind the ABI,
 * served from what the engine hands over (struct services_env), never from the engine. */
#ifndef LETHE_SERVICES_H
#define LETHE_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/host.h>

#include "data/dataset.h"
#include "data/tasks.h"
#include "model/model.h"
#include "util/error.h"
#include "util/rng.h"

/* What the services serve from, shared by every plugin of a run. */
struct services_env {
	const lethe_run_info *run_info;
	const lethe_task_info *task_info; /* one per task */
	const struct task_list *tasks;
	const struct dataset *train, *test;
	struct model *model;
	const struct model *initial; /* the model before any training (model_initial) */
	uint64_t seed;		 /* the scenario's: each plugin's stream is seeded from it */
	/* A line for the run's log from plugin `source`. */
	void (*log)(void *ctx, const char *source, lethe_log_level level, const char *msg);
	/* Makes plugin `index`'s reservation of extra batch rows `rows` (not on top of what it
	 * had): 0, or -1 with err saying why, the reservation as it was. */
	int (*reserve)(void *ctx, size_t index, size_t rows, struct error *err);
	void *ctx;
};

#define SERVICES_METRICS_MAX 16
#define SERVICES_KEY_MAX 32

struct services_ctx {
	const struct services_env *env;
	size_t index;	      /* the plugin's position in the scenario */
	uint32_t abi_minor;   /* the ABI the plugin was built against: 1.0 and 1.1 see dense
			       * layers only */
	const char *name;     /* the plugin's, for its log lines */
	struct rng rng;	      /* the plugin's own stream */
	char error[ERROR_MSG_MAX];
	int has_error;	      /* error() was called, or a service refused, since the hook began */
	int misused;	      /* a service that cannot return a failure refused its arguments: the
			       * hook fails even if it returns LETHE_OK */
	size_t reserved;      /* extra batch rows asked for */
	struct services_metric {
		char key[SERVICES_KEY_MAX];
		double value;
		uint64_t serial; /* reports' count when last given: which came in a batch */
	} metrics[SERVICES_METRICS_MAX]; /* what report() was given */
	size_t num_metrics;
	uint64_t reports;     /* report() calls so far */
	struct model **clones;  /* models the plugin holds, freed with it if it forgets */
	size_t num_clones, clones_cap;
	/* model_rows_gradient's workspace: a model of the host's architecture and its rows'
	 * buffers, grown to the largest n asked for. */
	struct model *rows_work;
	float *rows_logits, *rows_dlogits;
	const uint8_t **rows_masks;
	size_t rows_cap;
};

/* Fills h for the run's plugin `index`, built against ABI 1.abi_minor; h->host_data points at
 * ctx. */
void services_init(lethe_host *h, struct services_ctx *ctx, const struct services_env *env,
		   size_t index, const char *name, uint32_t abi_minor);
void services_free(struct services_ctx *ctx);

/* Before each hook (and create) of ctx's plugin: no error reason yet, and ctx is where a
 * service called with a NULL host reports. */
void services_enter(struct services_ctx *ctx);

/* Plugin text (log lines, error reasons) made fit for one line of a terminal or the dashboard:
 * out (size >= 1 bytes) receives in with each control character (C0, DEL, the C1 range) and
 * each byte that is not part of well-formed UTF-8 written as \n, \r, \t or \xHH; printable
 * UTF-8 passes intact. Cut at a character's boundary when out is too small; in may be NULL. */
void services_escape(char *out, size_t size, const char *in);

#endif
