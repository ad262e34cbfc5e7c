/* What the host's hook dispatch costs: the training loop of split Fashion-MNIST (5 tasks, one
 * epoch, MLP 784-256-256-10, batch 64, one BLAS thread) with eight plugins that do nothing in
 * every hook (bench/noop.c, built as noop1..noop8), against the same loop with no plugin. The
 * two alternate, REPS times each, in one process; the figure is processor time from each
 * step's start to its last batch, the fastest run of each side. Target: under 2%. Synthetic
 * data of the same shape stands in where Fashion-MNIST is not installed.
 *
 * Usage: bench_dispatch. The no-op plugins come from $NOOP_PATH, else the build tree's
 * bench/.libs. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_engine.h"

#define REPS 5
#define TARGET_PERCENT 2.0

static const char scenario_text[] =
	"[scenario]\nname = bench-dispatch\nprotocol = class-incremental\n"
	"[tasks]\nsplit = 5\n[model]\nhidden = 256,256\n"
	"[train]\nlr = 0.01\nbatch_size = 64\nepochs = 1\nseed = 1\nthreads = 1\n";
static const char fashion_data[] = "[data]\nsource = fashion-mnist\n";
static const char synthetic_data[] =
	"[data]\nsource = synthetic\nclasses = 10\ndim = 784\ntrain_per_class = 6000\n"
	"test_per_class = 100\n";
static const char noops[] = "scenario.plugins=noop1,noop2,noop3,noop4,noop5,noop6,noop7,noop8";

/* The training loops' time: each step from its start to its last batch. */
struct timing {
	double step_start, last_batch, loops;
	uint64_t batches;
	double hooks; /* the engine's own count of the time inside hooks */
};

static void watch(void *ctx, const struct event *ev)
{
	struct timing *t = ctx;
	if (ev->kind == EVENT_STEP_START) {
		t->step_start = t->last_batch = bench_cpu_seconds();
	} else if (ev->kind == EVENT_BATCH) {
		t->last_batch = bench_cpu_seconds();
		t->batches++;
	} else if (ev->kind == EVENT_STEP_END) {
		t->loops += t->last_batch - t->step_start;
	}
}

static void finished(const struct engine *e, void *ctx)
{
	struct timing *t = ctx;
	t->hooks = e->phase_seconds[PHASE_HOOKS];
}

/* One run; its training loops' seconds go to *loops, the time inside hooks to *hooks. */
static int run(const struct bench_scenario *b, int with_noops, const struct plugin_path *pp,
	       double *loops, double *hooks, uint64_t *batches)
{
	const char *overrides[] = { noops };
	struct timing t = { 0 };
	if (bench_engine_run("bench_dispatch", b, overrides, with_noops ? 1 : 0, pp, watch,
			     finished, &t) != 0)
		return -1;
	*loops = t.loops;
	*hooks = t.hooks;
	*batches = t.batches;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "usage: %s\n", argv[0]);
		return EXIT_FAILURE;
	}
	struct bench_scenario b;
	if (bench_scenario_write(&b, "dispatch", scenario_text, fashion_data, synthetic_data) != 0)
		return EXIT_FAILURE;
	const char *noop_path = getenv("NOOP_PATH");
	struct plugin_path pp;
	plugin_path_init(&pp, noop_path && *noop_path ? noop_path : LETHE_BUILD_DIR "/bench/.libs");

	double best[2] = { INFINITY, INFINITY }, hooks = 0.0;
	uint64_t batches = 0;
	int status = EXIT_SUCCESS;
	for (int r = 0; r < REPS && status == EXIT_SUCCESS; r++)
		for (int side = 0; side < 2 && status == EXIT_SUCCESS; side++) {
			double loops = INFINITY, h = 0;
			if (run(&b, side, &pp, &loops, &h, &batches) != 0)
				status = EXIT_FAILURE;
			best[side] = fmin(best[side], loops);
			if (side)
				hooks = h;
		}
	if (status == EXIT_SUCCESS) {
		double overhead = 100.0 * (best[1] - best[0]) / best[0];
		printf("hook dispatch: split %s, 1 epoch, %llu batches, 1 thread; processor seconds "
		       "of the training loops, the fastest of %d alternating runs\n"
		       "  no plugin %.3f s, 8 no-op plugins in every hook %.3f s: %+.2f%% "
		       "(target < %.0f%%: %s); %.4f s inside the hooks, %.0f ns a call\n",
		       b.fashion ? "Fashion-MNIST" : "synthetic data", (unsigned long long)batches,
		       REPS, best[0], best[1], overhead, TARGET_PERCENT,
		       overhead < TARGET_PERCENT ? "met" : "MISSED", hooks,
		       1e9 * hooks / ((double)batches * 8 * 4));
	}
	plugin_path_free(&pp);
	bench_scenario_remove(&b);
	return status;
}
