/* The conv layers of the CNN and ResNet-18 scenarios at batch 64: forward (im2col, GEMM, bias)
 * and backward (dW, db and dX: im2col, two GEMMs, col2im) GFLOP/s, against the same
 * cblas_sgemm calls run back to back with nothing in between, the layer's lowering being all
 * the difference; and, for the choice of host/model/conv.c's group (samples per product), the
 * layer with one product per sample. Then pooling and batch norm throughput. One thread; times
 * are the thread's CPU time, so that other load on a shared machine counts less, each figure
 * the best of a few runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "model/conv.h"
#include "model/norm.h"
#include "model/pool.h"
#include "util/blas.h"
#include "util/rng.h"

#define BATCH	    64
#define RUN_SECONDS 0.05
#define RUNS	    5

struct shape {
	const char *name;
	size_t cin, h, w, cout, k, stride, pad;
};

/* The CNN's two convs; ResNet-18's stem, a 3x3 conv of each stage, the first conv of stages
 * 2-4 (stride 2) and their 1x1 stride-2 shortcuts, at width 64 and at the reduced width 20, on
 * 32x32 inputs. */
static const struct shape shapes[] = {
	{"cnn conv1", 1, 28, 28, 32, 3, 1, 1},
	{"cnn conv2", 32, 14, 14, 64, 3, 1, 1},
	{"r18-64 stem", 3, 32, 32, 64, 3, 1, 1},
	{"r18-64 s1", 64, 32, 32, 64, 3, 1, 1},
	{"r18-64 s2 down", 64, 32, 32, 128, 3, 2, 1},
	{"r18-64 s2", 128, 16, 16, 128, 3, 1, 1},
	{"r18-64 s2 short", 64, 32, 32, 128, 1, 2, 0},
	{"r18-64 s3 down", 128, 16, 16, 256, 3, 2, 1},
	{"r18-64 s3", 256, 8, 8, 256, 3, 1, 1},
	{"r18-64 s3 short", 128, 16, 16, 256, 1, 2, 0},
	{"r18-64 s4 down", 256, 8, 8, 512, 3, 2, 1},
	{"r18-64 s4", 512, 4, 4, 512, 3, 1, 1},
	{"r18-64 s4 short", 256, 8, 8, 512, 1, 2, 0},
	{"r18-20 stem", 3, 32, 32, 20, 3, 1, 1},
	{"r18-20 s1", 20, 32, 32, 20, 3, 1, 1},
	{"r18-20 s2 down", 20, 32, 32, 40, 3, 2, 1},
	{"r18-20 s2", 40, 16, 16, 40, 3, 1, 1},
	{"r18-20 s2 short", 20, 32, 32, 40, 1, 2, 0},
	{"r18-20 s3 down", 40, 16, 16, 80, 3, 2, 1},
	{"r18-20 s3", 80, 8, 8, 80, 3, 1, 1},
	{"r18-20 s3 short", 40, 16, 16, 80, 1, 2, 0},
	{"r18-20 s4 down", 80, 8, 8, 160, 3, 2, 1},
	{"r18-20 s4", 160, 4, 4, 160, 3, 1, 1},
	{"r18-20 s4 short", 80, 8, 8, 160, 1, 2, 0},
};
#define NUM_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct timed {
	void (*run)(void *);
	void *ctx;
};

/* Seconds per call of each of n calls, the best of RUNS rounds of RUN_SECONDS each, taken in
 * turn so that a passing load weighs on all alike; after one warm-up call each. */
static void seconds_per_call(const struct timed *t, size_t n, double *best)
{
	for (size_t i = 0; i < n; i++) {
		t[i].run(t[i].ctx);
		best[i] = -1.0;
	}
	for (int r = 0; r < RUNS; r++)
		for (size_t i = 0; i < n; i++) {
			unsigned long calls = 0;
			double start = cpu_now(), now;
			do {
				t[i].run(t[i].ctx);
				calls++;
			} while ((now = cpu_now()) - start < RUN_SECONDS);
			double per = (now - start) / (double)calls;
			if (best[i] < 0.0 || per < best[i])
				best[i] = per;
		}
}

static float *uniform_floats(struct rng *r, size_t count)
{
	float *v = malloc((count ? count : 1) * sizeof(float));
	if (!v) {
		fprintf(stderr, "bench_conv: out of memory\n");
		exit(EXIT_FAILURE);
	}
	for (size_t i = 0; i < count; i++)
		v[i] = (float)(rng_uniform(r) - 0.5);
	return v;
}

struct layer {
	struct conv_geom g;
	float *x, *w, *b, *y, *dy, *dx, *dw, *db, *scratch;
	/* the bare products: a group's lowered input and output */
	float *col, *z;
};

static void layer_forward(void *ctx)
{
	struct layer *l = ctx;
	conv_forward(&l->g, l->w, l->b, l->x, BATCH, l->y, l->scratch);
}

static void layer_backward(void *ctx)
{
	struct layer *l = ctx;
	conv_backward(&l->g, l->w, l->x, l->dy, BATCH, l->dw, l->db, l->dx, 0, l->scratch);
}

static void layer_both(void *ctx)
{
	layer_forward(ctx);
	layer_backward(ctx);
}

/* The products conv_forward makes, one per group, with nothing in between; beta 1 where it
 * adds one sample's product onto the bias. */
static void bare_forward(void *ctx)
{
	struct layer *l = ctx;
	const struct conv_geom *g = &l->g;
	for (size_t first = 0; first < BATCH; first += g->group) {
		size_t m = BATCH - first < g->group ? BATCH - first : g->group;
		int cols = (int)(m * g->pixels);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->cout, cols,
			    (int)g->kdim, 1.0f, l->w, (int)g->kdim, l->col, cols,
			    m == 1 ? 1.0f : 0.0f, l->z, cols);
	}
}

/* And conv_backward's: dW accumulated over the groups, dX's columns. */
static void bare_backward(void *ctx)
{
	struct layer *l = ctx;
	const struct conv_geom *g = &l->g;
	float beta = 0.0f;
	for (size_t first = 0; first < BATCH; first += g->group) {
		size_t m = BATCH - first < g->group ? BATCH - first : g->group;
		int cols = (int)(m * g->pixels);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->cout, (int)g->kdim,
			    cols, 1.0f, l->z, cols, l->col, cols, beta, l->dw, (int)g->kdim);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g->kdim, cols,
			    (int)g->cout, 1.0f, l->w, (int)g->kdim, l->z, cols, 0.0f, l->col, cols);
		beta = 1.0f;
	}
}

static void layer_init(struct layer *l, const struct shape *s, struct rng *r)
{
	struct error e;
	l->g = (struct conv_geom){.cin = s->cin,
				  .h = s->h,
				  .w = s->w,
				  .cout = s->cout,
				  .k = s->k,
				  .stride = s->stride,
				  .pad = s->pad};
	if (conv_geom_init(&l->g, &e) < 0) {
		fprintf(stderr, "bench_conv: %s\n", e.msg);
		exit(EXIT_FAILURE);
	}
	const struct conv_geom *g = &l->g;
	size_t cols = g->group * g->pixels;
	l->x = uniform_floats(r, BATCH * g->in_len);
	l->w = uniform_floats(r, g->num_weights);
	l->b = uniform_floats(r, g->cout);
	l->y = uniform_floats(r, BATCH * g->out_len);
	l->dy = uniform_floats(r, BATCH * g->out_len);
	l->dx = uniform_floats(r, BATCH * g->in_len);
	l->dw = uniform_floats(r, g->num_weights);
	l->db = uniform_floats(r, g->cout);
	l->scratch = uniform_floats(r, conv_scratch_floats(g));
	l->col = uniform_floats(r, g->kdim * cols);
	l->z = uniform_floats(r, g->cout * cols);
}

static void layer_free(struct layer *l)
{
	free(l->x);
	free(l->w);
	free(l->b);
	free(l->y);
	free(l->dy);
	free(l->dx);
	free(l->dw);
	free(l->db);
	free(l->scratch);
	free(l->col);
	free(l->z);
}

/* The FLOP-weighted totals of a model's convs. */
struct total {
	double flops, layer, bare;
};

/* The convs whose name starts with only (all when NULL). */
static void bench_convs(const char *only)
{
	struct rng r;
	struct total cnn = {0}, r64 = {0}, r20 = {0};
	rng_seed(&r, 1, 0);
	printf("conv layers at batch %d, GFLOP/s (forward 2 M N K, backward 4 M N K: dW, dX)\n",
	       BATCH);
	printf("%-16s %-20s %5s %7s %7s %7s %7s %7s %7s %6s %9s\n", "layer", "in -> out", "group",
	       "fwd", "sgemm", "bwd", "sgemm", "f+b", "sgemm", "ratio", "per-sample");
	for (size_t i = 0; i < NUM_SHAPES; i++) {
		const struct shape *s = &shapes[i];
		struct layer l;
		if (only && strncmp(s->name, only, strlen(only)))
			continue;
		layer_init(&l, s, &r);
		double fwd = 2.0 * (double)l.g.num_weights * (double)l.g.pixels * BATCH;
		/* The same buffers with one product per sample: the scratch for any group holds
		 * one sample's. */
		struct layer one = l;
		one.g.group = 1;
		const struct timed runs[] = {{layer_forward, &l},
					     {layer_backward, &l},
					     {bare_forward, &l},
					     {bare_backward, &l},
					     {layer_both, &one}};
		double secs[5];
		seconds_per_call(runs, 5, secs);
		double tf = secs[0], tb = secs[1], sf = secs[2], sb = secs[3], t1 = secs[4];
		size_t chosen = l.g.group;
		char io[40];
		snprintf(io, sizeof(io), "%zux%zux%zu->%zux%zux%zu", s->cin, s->h, s->w, s->cout,
			 l.g.hout, l.g.wout);
		printf("%-16s %-20s %5zu %7.1f %7.1f %7.1f %7.1f %7.1f %7.1f %5.0f%% %9.1f\n",
		       s->name, io, chosen, fwd / tf * 1e-9, fwd / sf * 1e-9, 2 * fwd / tb * 1e-9,
		       2 * fwd / sb * 1e-9, 3 * fwd / (tf + tb) * 1e-9, 3 * fwd / (sf + sb) * 1e-9,
		       100.0 * (sf + sb) / (tf + tb), 3 * fwd / t1 * 1e-9);
		struct total *t = !strncmp(s->name, "cnn", 3)	   ? &cnn
				  : !strncmp(s->name, "r18-64", 6) ? &r64
								   : &r20;
		t->flops += 3 * fwd;
		t->layer += tf + tb;
		t->bare += sf + sb;
		layer_free(&l);
	}
	const struct {
		const char *name;
		const struct total *t;
	} totals[] = {{"cnn convs", &cnn}, {"r18-64 convs", &r64}, {"r18-20 convs", &r20}};
	for (size_t i = 0; i < 3; i++)
		if (totals[i].t->flops > 0.0)
			printf("%-16s %-20s %5s %7s %7s %7s %7s %7.1f %7.1f %5.0f%%\n",
			       totals[i].name, "(above, weighted)", "", "", "", "", "",
			       totals[i].t->flops / totals[i].t->layer * 1e-9,
			       totals[i].t->flops / totals[i].t->bare * 1e-9,
			       100.0 * totals[i].t->bare / totals[i].t->layer);
}

struct pool_run {
	struct pool_geom g;
	float *x, *y, *dy, *dx;
	uint32_t *arg;
	int kind; /* 0 max, 1 average, 2 global */
};

static void pool_forward(void *ctx)
{
	struct pool_run *p = ctx;
	if (p->kind == 0)
		pool_max_forward(&p->g, p->x, BATCH, p->y, p->arg);
	else if (p->kind == 1)
		pool_avg_forward(&p->g, p->x, BATCH, p->y);
	else
		pool_global_forward(p->g.c, p->g.h * p->g.w, p->x, BATCH, p->y);
}

static void pool_backward(void *ctx)
{
	struct pool_run *p = ctx;
	if (p->kind == 0)
		pool_max_backward(&p->g, p->dy, p->arg, BATCH, p->dx);
	else if (p->kind == 1)
		pool_avg_backward(&p->g, p->dy, BATCH, p->dx);
	else
		pool_global_backward(p->g.c, p->g.h * p->g.w, p->dy, BATCH, p->dx);
}

struct norm_run {
	struct norm_geom g;
	float *x, *y, *dy, *dx, *gamma, *beta, *rm, *rv;
	double *sums, *mean, *invstd;
};

static void norm_train_forward(void *ctx)
{
	struct norm_run *b = ctx;
	memset(b->sums, 0, NORM_SUMS(b->g.channels) * sizeof(double));
	norm_sums(&b->g, b->x, BATCH, b->sums);
	norm_batch_stats(&b->g, b->sums, BATCH, b->mean, b->invstd, b->rm, b->rv, NULL);
	norm_forward(&b->g, b->x, BATCH, b->mean, b->invstd, b->gamma, b->beta, b->y);
}

static void norm_train_backward(void *ctx)
{
	struct norm_run *b = ctx;
	memset(b->sums, 0, NORM_SUMS(b->g.channels) * sizeof(double));
	norm_backward_sums(&b->g, b->x, b->dy, BATCH, b->mean, b->invstd, b->sums);
	norm_backward_train(&b->g, b->x, b->dy, BATCH, BATCH, b->mean, b->invstd, b->gamma, b->sums,
			    b->dx);
}

static void norm_eval_forward(void *ctx)
{
	struct norm_run *b = ctx;
	norm_running_stats(&b->g, b->rm, b->rv, b->mean, b->invstd);
	norm_forward(&b->g, b->x, BATCH, b->mean, b->invstd, b->gamma, b->beta, b->y);
}

/* Million input values a second, forward and backward (tb 0: none). */
static void print_rate(const char *name, const char *shape, size_t values, double tf, double tb)
{
	printf("%-30s %-10s %10.0f", name, shape, (double)values / tf * 1e-6);
	if (tb > 0.0)
		printf(" %10.0f", (double)values / tb * 1e-6);
	printf("\n");
}

static void bench_others(void)
{
	struct rng r;
	struct error e;
	rng_seed(&r, 2, 0);
	printf("\npooling and batch norm at batch %d, million input values a second\n", BATCH);
	printf("%-30s %-10s %10s %10s\n", "layer", "input", "forward", "backward");
	static const struct {
		const char *name;
		size_t c, h, w, k, stride;
		int kind;
	} pools[] = {
		{"max-pool 2 (cnn 1)", 32, 28, 28, 2, 2, 0},
		{"max-pool 2 (cnn 2)", 64, 14, 14, 2, 2, 0},
		{"avg-pool 2", 64, 14, 14, 2, 2, 1},
		{"global avg-pool (r18-64)", 512, 4, 4, 4, 1, 2},
		{"global avg-pool (r18-20)", 160, 4, 4, 4, 1, 2},
	};
	for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++) {
		struct pool_run p = {.g = {.c = pools[i].c,
					   .h = pools[i].h,
					   .w = pools[i].w,
					   .k = pools[i].k,
					   .stride = pools[i].stride},
				     .kind = pools[i].kind};
		if (pool_geom_init(&p.g, &e) < 0) {
			fprintf(stderr, "bench_conv: %s\n", e.msg);
			exit(EXIT_FAILURE);
		}
		p.x = uniform_floats(&r, BATCH * p.g.in_len);
		p.dx = uniform_floats(&r, BATCH * p.g.in_len);
		p.y = uniform_floats(&r, BATCH * p.g.out_len);
		p.dy = uniform_floats(&r, BATCH * p.g.out_len);
		p.arg = calloc(BATCH * p.g.out_len, sizeof(uint32_t));
		if (!p.arg)
			exit(EXIT_FAILURE);
		char shape[32];
		snprintf(shape, sizeof(shape), "%zux%zux%zu", p.g.c, p.g.h, p.g.w);
		const struct timed runs[] = {{pool_forward, &p}, {pool_backward, &p}};
		double t[2];
		seconds_per_call(runs, 2, t);
		print_rate(pools[i].name, shape, BATCH * p.g.in_len, t[0], t[1]);
		free(p.x);
		free(p.dx);
		free(p.y);
		free(p.dy);
		free(p.arg);
	}
	static const struct {
		const char *name;
		size_t c, pixels;
	} norms[] = {
		{"batch norm (r18-64 s1)", 64, 32 * 32},
		{"batch norm (r18-64 s4)", 512, 4 * 4},
		{"batch norm 1-D", 256, 1},
	};
	for (size_t i = 0; i < sizeof(norms) / sizeof(norms[0]); i++) {
		struct norm_run b = {.g = {.channels = norms[i].c,
					   .pixels = norms[i].pixels,
					   .eps = 1e-5,
					   .momentum = 0.1}};
		if (norm_geom_init(&b.g, &e) < 0) {
			fprintf(stderr, "bench_conv: %s\n", e.msg);
			exit(EXIT_FAILURE);
		}
		size_t n = BATCH * b.g.len;
		b.x = uniform_floats(&r, n);
		b.y = uniform_floats(&r, n);
		b.dy = uniform_floats(&r, n);
		b.dx = uniform_floats(&r, n);
		b.gamma = uniform_floats(&r, b.g.channels);
		b.beta = uniform_floats(&r, b.g.channels);
		b.rm = uniform_floats(&r, b.g.channels);
		b.rv = uniform_floats(&r, b.g.channels);
		for (size_t c = 0; c < b.g.channels; c++)
			b.rv[c] += 1.0f;
		b.sums = calloc(NORM_SUMS(b.g.channels), sizeof(double));
		b.mean = calloc(b.g.channels, sizeof(double));
		b.invstd = calloc(b.g.channels, sizeof(double));
		if (!b.sums || !b.mean || !b.invstd)
			exit(EXIT_FAILURE);
		char shape[32], name[48];
		if (b.g.pixels > 1)
			snprintf(shape, sizeof(shape), "%zux%zu", b.g.channels, b.g.pixels);
		else
			snprintf(shape, sizeof(shape), "%zu", b.g.channels);
		snprintf(name, sizeof(name), "%s train", norms[i].name);
		const struct timed runs[] = {{norm_train_forward, &b},
					     {norm_train_backward, &b},
					     {norm_eval_forward, &b}};
		double t[3];
		seconds_per_call(runs, 3, t);
		print_rate(name, shape, n, t[0], t[1]);
		snprintf(name, sizeof(name), "%s eval", norms[i].name);
		print_rate(name, shape, n, t[2], 0.0);
		free(b.x);
		free(b.y);
		free(b.dy);
		free(b.dx);
		free(b.gamma);
		free(b.beta);
		free(b.rm);
		free(b.rv);
		free(b.sums);
		free(b.mean);
		free(b.invstd);
	}
}

int main(int argc, char **argv)
{
	char blas[128];
	if (argc > 2) {
		fprintf(stderr, "usage: %s [layer name prefix, e.g. r18-20]\n", argv[0]);
		return EXIT_FAILURE;
	}
	openblas_set_num_threads(1);
	printf("%s; CPU time, each figure the best of %d runs of %.2f s, in turn\n",
	       blas_describe(blas, sizeof(blas)), RUNS, RUN_SECONDS);
	bench_convs(argc == 2 ? argv[1] : NULL);
	if (argc == 1)
		bench_others();
	return EXIT_SUCCESS;
}
