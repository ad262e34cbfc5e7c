/* What the C benchmarks that drive the engine share: processor time, a scenario written to a
 * scratch directory with Fashion-MNIST where it is installed (synthetic data of its shape
 * elsewhere), and one run of it with a sink attached. */
#ifndef LETHE_BENCH_ENGINE_H
#define LETHE_BENCH_ENGINE_H

#include <stddef.h>

#include "core/engine.h"

/* Processor seconds of this process: steady on a machine others share, and with one BLAS
 * thread the engine's own. */
double bench_cpu_seconds(void);

struct bench_scenario {
	char dir[64];  /* /tmp/bench-NAME-XXXXXX */
	char ini[128]; /* dir/NAME.ini */
	int fashion;   /* the data is Fashion-MNIST, not synthetic */
};

/* Writes text followed by fashion_data when Fashion-MNIST is installed, else synthetic_data.
 * Returns 0, or -1 after a message naming the bench. */
int bench_scenario_write(struct bench_scenario *b, const char *name, const char *text,
			 const char *fashion_data, const char *synthetic_data);
void bench_scenario_remove(const struct bench_scenario *b);

/* Runs b's scenario with the overrides and no results files, sink(ctx) attached, then calls
 * done(e, ctx) on the finished engine. Returns 0, or -1 after a message naming the bench. */
int bench_engine_run(const char *name, const struct bench_scenario *b,
		     const char *const *overrides, size_t num_overrides,
		     const struct plugin_path *pp, void (*sink)(void *, const struct event *),
		     void (*done)(const struct engine *, void *), void *ctx);

#endif
