/* Training throughput of a 784-256-256-10 MLP, and how close its matrix products come to the
 * same cblas_sgemm calls run back to back: everything else a step does (bias, ReLU, softmax,
 * SGD) shows up as the gap. Usage: bench_train [threads]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

#include "model/loss.h"
#include "model/model.h"
#include "model/sgd.h"
#include "bench_threads.h"

#define RUN_SECONDS 2.5
#define WARM_SECONDS 0.5
#define NUM_BATCHES 16 /* distinct pre-generated batches, cycled */
#define LR 0.01

static const size_t sizes[] = {784, 256, 256, 10};
#define NUM_SIZES (sizeof(sizes) / sizeof(sizes[0]))
#define NUM_LAYERS (NUM_SIZES - 1)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs step after a warm-up for RUN_SECONDS; returns steps per second. */
static double steps_per_second(int (*step)(void *), void *ctx)
{
	for (double start = now(); now() - start < WARM_SECONDS;)
		if (step(ctx) < 0)
			return -1.0;
	unsigned long steps = 0;
	double start = now(), t;
	do {
		if (step(ctx) < 0)
			return -1.0;
		steps++;
	} while ((t = now()) - start < RUN_SECONDS);
	return (double)steps / (t - start);
}

/* The FLOPs of one training step's products: Z = A Wᵀ and dW = δᵀ A per layer, and dA = δ W
 * for every layer but the first. */
static double step_flops(size_t batch)
{
	double flops = 0.0;
	for (size_t l = 0; l < NUM_LAYERS; l++)
		flops += (l == 0 ? 2.0 : 3.0) * 2.0 * (double)batch * (double)sizes[l] *
			 (double)sizes[l + 1];
	return flops;
}

static float *uniform_floats(struct rng *r, size_t count)
{
	float *v = malloc(count * sizeof(float));
	if (!v)
		return NULL;
	for (size_t i = 0; i < count; i++)
		v[i] = (float)rng_uniform(r);
	return v;
}

struct train {
	struct model m;
	struct sgd opt;
	struct error e;
	size_t batch, next;
	float *x, *logits, *dlogits;
	int32_t *y;
};

static int train_step(void *ctx)
{
	struct train *t = ctx;
	size_t k = t->next++ % NUM_BATCHES, in = sizes[0], c = sizes[NUM_LAYERS];
	if (model_forward(&t->m, t->x + k * t->batch * in, t->batch, t->logits, &t->e) < 0)
		return -1;
	loss_softmax_ce(t->logits, t->batch, c, t->y + k * t->batch, NULL, t->dlogits);
	model_backward(&t->m, t->dlogits);
	sgd_step(&t->opt, t->m.params, t->m.grads, t->m.num_params);
	return 0;
}

static void train_free(struct train *t)
{
	model_free(&t->m);
	sgd_free(&t->opt);
	free(t->x);
	free(t->logits);
	free(t->dlogits);
	free(t->y);
}

/* Returns training steps per second at this batch size, or -1 with a message printed. */
static double bench_training(size_t batch)
{
	struct train t = {.batch = batch};
	struct rng r;
	double rate = -1.0;
	size_t in = sizes[0], c = sizes[NUM_LAYERS];

	rng_seed(&r, 1, 0);
	struct model_desc d;
	if (model_desc_mlp(&d, sizes + 1, NUM_SIZES - 2, &t.e) < 0 ||
	    model_build(&t.m, &d, (struct model_shape){ 1, 1, in }, c, &t.e) < 0 ||
	    sgd_init(&t.opt, t.m.num_params, LR, 0.0, 0.0, &t.e) < 0)
		goto out;
	model_init_params(&t.m, MODEL_INIT_HE, &r);
	t.x = malloc(NUM_BATCHES * batch * in * sizeof(float));
	t.y = malloc(NUM_BATCHES * batch * sizeof(int32_t));
	t.logits = malloc(batch * c * sizeof(float));
	t.dlogits = malloc(batch * c * sizeof(float));
	if (!t.x || !t.y || !t.logits || !t.dlogits) {
		error_set(&t.e, "out of memory");
		goto out;
	}
	/* Pixel-like inputs: 256 levels in [0, 1], as a converted uint8 image has. */
	for (size_t i = 0; i < NUM_BATCHES * batch * in; i++)
		t.x[i] = (float)rng_below(&r, 256) / 255.0f;
	for (size_t i = 0; i < NUM_BATCHES * batch; i++)
		t.y[i] = (int32_t)rng_below(&r, c);
	rate = steps_per_second(train_step, &t);
out:
	if (rate < 0.0)
		fprintf(stderr, "bench_train: %s\n", t.e.msg);
	train_free(&t);
	return rate;
}

/* Buffers for the bare products, one set per layer, shaped as training's. */
struct gemms {
	size_t batch;
	float *a[NUM_LAYERS], *w[NUM_LAYERS], *z[NUM_LAYERS], *dw[NUM_LAYERS], *da[NUM_LAYERS];
};

/* The calls an MLP's model_forward and model_backward make, in their order, with nothing in between. */
static int gemm_step(void *ctx)
{
	struct gemms *g = ctx;
	int n = (int)g->batch;
	for (size_t l = 0; l < NUM_LAYERS; l++) {
		int in = (int)sizes[l], out = (int)sizes[l + 1];
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, g->a[l], in,
			    g->w[l], in, 0.0f, g->z[l], out);
	}
	for (size_t l = NUM_LAYERS; l-- > 0;) {
		int in = (int)sizes[l], out = (int)sizes[l + 1];
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, g->z[l], out,
			    g->a[l], in, 0.0f, g->dw[l], in);
		if (l > 0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f,
				    g->z[l], out, g->w[l], in, 0.0f, g->da[l], in);
	}
	return 0;
}

static void gemms_free(struct gemms *g)
{
	for (size_t l = 0; l < NUM_LAYERS; l++) {
		free(g->a[l]);
		free(g->w[l]);
		free(g->z[l]);
		free(g->dw[l]);
		free(g->da[l]);
	}
}

static double bench_gemms(size_t batch)
{
	struct gemms g = {.batch = batch};
	struct rng r;
	double rate = -1.0;
	int ok = 1;

	rng_seed(&r, 2, 0);
	for (size_t l = 0; l < NUM_LAYERS; l++) {
		size_t in = sizes[l], out = sizes[l + 1];
		g.a[l] = uniform_floats(&r, batch * in);
		g.w[l] = uniform_floats(&r, out * in);
		g.z[l] = uniform_floats(&r, batch * out);
		g.dw[l] = malloc(out * in * sizeof(float));
		g.da[l] = malloc(batch * in * sizeof(float));
		ok = ok && g.a[l] && g.w[l] && g.z[l] && g.dw[l] && g.da[l];
	}
	if (ok)
		rate = steps_per_second(gemm_step, &g);
	else
		fprintf(stderr, "bench_train: out of memory\n");
	gemms_free(&g);
	return rate;
}

int main(int argc, char **argv)
{
	static const size_t batches[] = {64, 256};
	long threads;
	if (bench_threads(argc, argv, "bench_train", &threads) != 0)
		return EXIT_FAILURE;

	printf("MLP 784-256-256-10, SGD lr %g, %ld thread%s; %.1f s per figure\n", LR, threads,
	       threads == 1 ? "" : "s", RUN_SECONDS);
	printf("%6s %12s %14s %14s %10s\n", "batch", "samples/s", "train GFLOP/s", "sgemm GFLOP/s",
	       "train/sgemm");
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		size_t batch = batches[i];
		double train = bench_training(batch), bare = bench_gemms(batch);
		if (train < 0.0 || bare < 0.0)
			return EXIT_FAILURE;
		double flops = step_flops(batch);
		printf("%6zu %12.0f %14.2f %14.2f %9.1f%%\n", batch, train * (double)batch,
		       train * flops * 1e-9, bare * flops * 1e-9, 100.0 * train / bare);
	}
	return EXIT_SUCCESS;
}
