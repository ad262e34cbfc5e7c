/* The lethe_host table each plugin instance receives: the engine's services behind the ABI. */
#ifndef LETHE_SERVICES_H
#define LETHE_SERVICES_H

#include <stddef.h>

#include <lethe/host.h>

#include "error.h"
#include "mlp.h"
#include "rng.h"

struct engine;

#define SERVICES_METRICS_MAX 16
#define SERVICES_KEY_MAX 32

struct services_ctx {
	struct engine *engine;
	size_t index;	      /* the plugin's position in the scenario */
	struct rng rng;	      /* the plugin's own stream */
	char error[ERROR_MSG_MAX];
	int has_error;	      /* error() was called since the last hook */
	size_t reserved;      /* extra batch rows asked for */
	struct services_metric {
		char key[SERVICES_KEY_MAX];
		double value;
	} metrics[SERVICES_METRICS_MAX]; /* what report() was given */
	size_t num_metrics;
	struct mlp **clones;  /* models the plugin holds, freed with it if it forgets */
	size_t num_clones, clones_cap;
};

/* Fills h for plugin `index` of e; h->host_data points at ctx. */
void services_init(lethe_host *h, struct services_ctx *ctx, struct engine *e, size_t index,
		   const char *name);
void services_free(struct services_ctx *ctx);

#endif
