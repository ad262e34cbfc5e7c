/* Training throughput of whole models at batch 64: a step is a training forward, the loss, the
 * backward and an SGD step. The MLP 784-256-256-10 and the CNN on 28x28x1, ResNet-18 of width 20
 * and 64 on 32x32x3, each on the model's 1 and 2 threads (OpenBLAS at one thread inside, as the
 * model asks), taken in turn on the same model so that a passing load weighs on both alike,
 * each figure the best of a few rounds of wall time. Against them, the sgemm roofline: the
 * step's own products (the same shapes, transposes and groups) run back to back on one thread,
 * the lowering, pooling, batch norm and element-wise passes being the difference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>

#include <cblas.h>

#include "util/blas.h"
#include "model/loss.h"
#include "model/model.h"
#include "model/model_impl.h"
#include "model/sgd.h"
#include "util/rng.h"

#define BATCH	    64
#define ROUND_SECS  0.4
#define ROUNDS	    3
#define MAX_THREADS 2

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The process's processor seconds, all threads. */
static double cpu_now(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
	       (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

static void *alloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size);
	if (!p) {
		fprintf(stderr, "bench_net: out of memory\n");
		exit(EXIT_FAILURE);
	}
	return p;
}

struct bench {
	struct model m;
	struct sgd opt;
	float *x, *logits, *dlogits;
	int32_t *y;
	float *a, *b, *c; /* the roofline's operands, large enough for every product */
	double flops;	  /* of the step's products */
};

/* One product of the step: C (m x n) = op(A) op(B), k the inner size. */
struct product {
	int ta, tb, m, n, k;
};

/* The products a training step makes, in order (see host/model/model.c and conv.c); count
 * them when out is NULL. */
static size_t step_products(const struct model *m, struct product *out)
{
	size_t count = 0;
#define ADD(TA, TB, M, N, K)                                                                  \
	do {                                                                                  \
		if (out)                                                                      \
			out[count] = (struct product){TA, TB, (int)(M), (int)(N), (int)(K)};  \
		count++;                                                                      \
	} while (0)
	for (size_t i = 0; i < m->num_layers; i++) {
		const struct model_layer *l = &m->layer[i];
		int first = m->node[l->in].root == 0; /* no input gradient */
		if (l->kind == MODEL_DENSE) {
			ADD(0, 1, BATCH, l->out_len, l->in_len);
			ADD(1, 0, l->out_len, l->in_len, BATCH);
			if (!first)
				ADD(0, 0, BATCH, l->in_len, l->out_len);
		} else if (l->kind == MODEL_CONV) {
			const struct conv_geom *g = &l->conv;
			for (size_t s = 0; s < BATCH; s += g->group) {
				size_t cols = (BATCH - s < g->group ? BATCH - s : g->group) * g->pixels;
				ADD(0, 0, g->cout, cols, g->kdim);
				ADD(0, 1, g->cout, g->kdim, cols);
				if (!first)
					ADD(1, 0, g->kdim, cols, g->cout);
			}
		}
	}
#undef ADD
	return count;
}

static void bench_init(struct bench *b, const struct model_desc *d, struct model_shape in,
		       size_t classes)
{
	struct error e;
	struct rng r;
	if (model_build(&b->m, d, in, classes, &e) < 0 ||
	    sgd_init(&b->opt, b->m.num_params, 0.01, 0.9, 5e-4, &e) < 0) {
		fprintf(stderr, "bench_net: %s\n", e.msg);
		exit(EXIT_FAILURE);
	}
	rng_seed(&r, 1, 0);
	model_init_params(&b->m, MODEL_INIT_HE, &r);
	size_t nx = BATCH * model_inputs(&b->m);
	b->x = alloc(nx, sizeof(float));
	for (size_t i = 0; i < nx; i++)
		b->x[i] = (float)rng_uniform(&r);
	b->y = alloc(BATCH, sizeof(int32_t));
	for (size_t i = 0; i < BATCH; i++)
		b->y[i] = (int32_t)rng_below(&r, classes);
	b->logits = alloc(BATCH * classes, sizeof(float));
	b->dlogits = alloc(BATCH * classes, sizeof(float));
	size_t n = step_products(&b->m, NULL), most = 1;
	struct product *p = alloc(n, sizeof(*p));
	step_products(&b->m, p);
	for (size_t i = 0; i < n; i++) {
		size_t sizes[] = {(size_t)p[i].m * p[i].k, (size_t)p[i].k * p[i].n,
				  (size_t)p[i].m * p[i].n};
		for (size_t j = 0; j < 3; j++)
			most = sizes[j] > most ? sizes[j] : most;
		b->flops += 2.0 * p[i].m * p[i].n * p[i].k;
	}
	free(p);
	b->a = alloc(most, sizeof(float));
	b->b = alloc(most, sizeof(float));
	b->c = alloc(most, sizeof(float));
	b->m.training = 1;
}

static void bench_free(struct bench *b)
{
	model_free(&b->m);
	sgd_free(&b->opt);
	free(b->x);
	free(b->y);
	free(b->logits);
	free(b->dlogits);
	free(b->a);
	free(b->b);
	free(b->c);
}

static void step(struct bench *b)
{
	struct error e;
	if (model_forward(&b->m, b->x, BATCH, b->logits, &e) < 0) {
		fprintf(stderr, "bench_net: %s\n", e.msg);
		exit(EXIT_FAILURE);
	}
	loss_softmax_ce(b->logits, BATCH, b->m.classes, b->y, NULL, b->dlogits);
	model_backward(&b->m, b->dlogits);
	sgd_step(&b->opt, b->m.params, b->m.grads, b->m.num_params);
}

static void roofline(struct bench *b)
{
	size_t n = step_products(&b->m, NULL);
	struct product *p = alloc(n, sizeof(*p));
	step_products(&b->m, p);
	for (size_t i = 0; i < n; i++) {
		const struct product *q = &p[i];
		int lda = q->ta ? q->m : q->k, ldb = q->tb ? q->k : q->n;
		cblas_sgemm(CblasRowMajor, q->ta ? CblasTrans : CblasNoTrans,
			    q->tb ? CblasTrans : CblasNoTrans, q->m, q->n, q->k, 1.0f, b->a, lda,
			    b->b, ldb, 0.0f, b->c, q->n);
	}
	free(p);
}

/* Seconds per call of fn, the best over the rounds so far in *best, and in *cores the processor
 * time over the wall time of that round (what the machine gave the threads): calls for
 * ROUND_SECS at least, and at least one. */
static void timed(void (*fn)(struct bench *), struct bench *b, double *best, double *cores)
{
	double start = now(), cpu = cpu_now(), t;
	unsigned long calls = 0;
	do {
		fn(b);
		calls++;
	} while ((t = now()) - start < ROUND_SECS);
	double per = (t - start) / (double)calls;
	if (*best <= 0.0 || per < *best) {
		*best = per;
		*cores = (cpu_now() - cpu) / (t - start);
	}
}

static void run(const char *only, const char *name, const struct model_desc *d,
		struct model_shape in, size_t classes)
{
	if (only && strcmp(only, name) != 0)
		return;
	struct bench b;
	struct error e;
	bench_init(&b, d, in, classes);
	double best[MAX_THREADS + 1] = {0}, cores[MAX_THREADS + 1] = {0}, gemm = 0.0, gcores;
	for (size_t t = 1; t <= MAX_THREADS; t++) { /* warm up: workspace, pools, caches */
		model_set_threads(&b.m, t, &e);
		step(&b);
	}
	roofline(&b);
	for (int r = 0; r < ROUNDS; r++) {
		for (size_t t = 1; t <= MAX_THREADS; t++) {
			if (model_set_threads(&b.m, t, &e) < 0) {
				fprintf(stderr, "bench_net: %s\n", e.msg);
				exit(EXIT_FAILURE);
			}
			timed(step, &b, &best[t], &cores[t]);
		}
		timed(roofline, &b, &gemm, &gcores);
	}
	for (size_t t = 1; t <= MAX_THREADS; t++) {
		printf("%-12s %9zu %3zu %6.2f %10.0f %9.1f %8.1f", name, b.m.num_params, t, cores[t],
		       BATCH / best[t], 1e3 * best[t], b.flops / best[t] * 1e-9);
		if (t == 1)
			printf(" %8.1f %7.0f%%\n", b.flops / gemm * 1e-9, 100.0 * gemm / best[1]);
		else
			printf(" %8s %8s %6.2fx\n", "", "", best[1] / best[t]);
	}
	bench_free(&b);
}

int main(int argc, char **argv)
{
	if (argc > 2) {
		fprintf(stderr, "usage: %s [model: mlp, cnn, resnet18-20 or resnet18-64]\n", argv[0]);
		return EXIT_FAILURE;
	}
	const char *only = argc == 2 ? argv[1] : NULL;
	openblas_set_num_threads(1);
	struct model_desc d;
	struct error e;
	static const size_t hidden[] = {256, 256};
	printf("# bench_net: training steps at batch %d (forward, loss, backward, SGD), wall time,\n"
	       "# best of %d rounds taken in turn; OpenBLAS %s at 1 thread inside the model's\n"
	       "# threads. GFLOP/s counts the step's products; sgemm: those products alone, one\n"
	       "# thread. cores: processor over wall time of the best round, what the machine gave\n"
	       "# the threads (below 2 on two threads, another load shared the cores).\n",
	       BATCH, ROUNDS, blas_kernel());
	printf("%-12s %9s %3s %6s %10s %9s %8s %8s %8s %7s\n", "model", "params", "thr", "cores",
	       "samples/s", "step ms", "GFLOP/s", "sgemm", "of sgemm", "speedup");
	model_desc_mlp(&d, hidden, 2, &e);
	run(only, "mlp", &d, (struct model_shape){1, 28, 28}, 10);
	model_desc_cnn(&d);
	run(only, "cnn", &d, (struct model_shape){1, 28, 28}, 10);
	model_desc_resnet18(&d, 20, &e);
	run(only, "resnet18-20", &d, (struct model_shape){3, 32, 32}, 10);
	model_desc_resnet18(&d, 64, &e);
	run(only, "resnet18-64", &d, (struct model_shape){3, 32, 32}, 10);
	return 0;
}
