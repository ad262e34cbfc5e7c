/* What EWC's Fisher costs next to training: for each kind, the ewc plugin's time over one task
 * of 12,000 samples of 784 values, as a multiple of one training epoch over the same task
 * (MLP 784-256-256-10, batch 64, one BLAS thread). The task is Fashion-MNIST's classes 0 and 1
 * when the data set is installed, else synthetic data of that shape. Targets: at most 1 epoch
 * for the empirical and sampled Fisher, at most classes + 1 for the exact one, which runs a
 * backward per class but one (fisher.h). The batched Fisher is an epoch without the updates: it
 * has no target.
 *
 * Usage: bench_fisher. The plugin comes from $LETHE_BUILD_PLUGINS, else the build tree's
 * plugins/. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_engine.h"

#define CLASSES 10
#define REPEATS 3 /* runs per kind; the fastest of each figure counts */

static const char *const kinds[] = { "exact", "sampled", "empirical", "batched" };
#define NUM_KINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Classes 0 and 1 of ten, as the first task of split Fashion-MNIST. */
static const char scenario_text[] =
	"[scenario]\nname = bench-fisher\nprotocol = class-incremental\nplugins = ewc\n"
	"[tasks]\ntask1 = 0,1\n[model]\nhidden = 256,256\n"
	"[train]\nlr = 0.01\nbatch_size = 64\nepochs = 1\nseed = 1\nthreads = 1\n[ewc]\n";
static const char fashion_data[] = "[data]\nsource = fashion-mnist\nmax_test = 100\n";
static const char synthetic_data[] =
	"[data]\nsource = synthetic\nclasses = 10\ndim = 784\ntrain_per_class = 6000\n"
	"test_per_class = 10\n";

/* The epoch runs from the step's start to its last batch; the Fisher from there to the line
 * the plugin logs once it has computed it. */
struct timing {
	double step_start, last_batch, fisher_logged;
	size_t samples; /* the task's */
};

static void watch(void *ctx, const struct event *ev)
{
	struct timing *t = ctx;
	if (ev->kind == EVENT_STEP_START)
		t->step_start = bench_cpu_seconds();
	else if (ev->kind == EVENT_BATCH)
		t->last_batch = bench_cpu_seconds();
	else if (ev->kind == EVENT_LOG && !strcmp(ev->source, "ewc") && strstr(ev->msg, "Fisher"))
		t->fisher_logged = bench_cpu_seconds();
}

static void finished(const struct engine *e, void *ctx)
{
	struct timing *t = ctx;
	t->samples = e->tasks.t[0].num_train;
}

/* One epoch and one Fisher of this kind; their seconds go to *epoch and *fisher. */
static int bench_kind(const struct bench_scenario *b, const char *kind,
		      const struct plugin_path *pp, double *epoch, double *fisher, size_t *samples)
{
	char set_kind[64];
	snprintf(set_kind, sizeof(set_kind), "ewc.fisher=%s", kind);
	const char *overrides[] = { set_kind };
	struct timing t = { 0 };
	if (bench_engine_run("bench_fisher", b, overrides, 1, pp, watch, finished, &t) != 0)
		return -1;
	*epoch = t.last_batch - t.step_start;
	*fisher = t.fisher_logged - t.last_batch;
	*samples = t.samples;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "usage: %s\n", argv[0]);
		return EXIT_FAILURE;
	}
	struct bench_scenario b;
	if (bench_scenario_write(&b, "fisher", scenario_text, fashion_data, synthetic_data) != 0)
		return EXIT_FAILURE;
	const char *plugins = getenv("LETHE_BUILD_PLUGINS");
	struct plugin_path pp;
	plugin_path_init(&pp, plugins && *plugins ? plugins : LETHE_BUILD_DIR "/plugins");

	printf("EWC Fisher over one task (%s classes 0 and 1), MLP 784-256-256-10, 1 thread;\n"
	       "processor seconds, the fastest of %d runs\n",
	       b.fashion ? "Fashion-MNIST" : "synthetic", REPEATS);
	printf("%-10s %8s %9s %9s %7s %7s\n", "fisher", "samples", "fisher s", "epoch s", "ratio",
	       "target");
	int status = EXIT_SUCCESS;
	for (size_t i = 0; i < NUM_KINDS && status == EXIT_SUCCESS; i++) {
		double epoch = INFINITY, fisher = INFINITY;
		size_t samples = 0;
		for (int r = 0; r < REPEATS && status == EXIT_SUCCESS; r++) {
			double e, f;
			if (bench_kind(&b, kinds[i], &pp, &e, &f, &samples) != 0)
				status = EXIT_FAILURE;
			else {
				epoch = fmin(epoch, e);
				fisher = fmin(fisher, f);
			}
		}
		if (status != EXIT_SUCCESS)
			break;
		double ratio = fisher / epoch;
		printf("%-10s %8zu %9.3f %9.3f %7.2f", kinds[i], samples, fisher, epoch, ratio);
		if (!strcmp(kinds[i], "batched"))
			printf(" %7s\n", "-");
		else {
			double target = strcmp(kinds[i], "exact") ? 1.0 : CLASSES + 1.0;
			printf(" %7.0f %s\n", target, ratio <= target ? "ok" : "MISSED");
		}
	}
	plugin_path_free(&pp);
	bench_scenario_remove(&b);
	return status;
}
