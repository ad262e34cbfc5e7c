/* What OVOR's outlier synthesis costs at the start of a head-only epoch: a task of 12,000
 * samples of 256 features in 2 classes of 6,000 (one task of split Fashion-MNIST under the
 * 784-256-256-10 MLP), with the plugin's defaults (K = 50, 50 boundary points and 10 candidates
 * each per class, 40 kept per class), on one BLAS thread. The features are synthetic: two
 * clusters of nonnegative values, as after a ReLU. Target: under one second, normalising
 * included. Figures are processor time, the fastest of a few runs.
 *
 * Usage: bench_outliers. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../plugins/ovor/outliers.h"
#include "util/rng.h"

#define CLASSES 2
#define ROWS_PER_CLASS 6000
#define DIM 256
#define REPEATS 3
#define TARGET_SECONDS 1.0

static struct rng draws;

static void bench_sgemm(const lethe_host *h, int trans_a, int trans_b, size_t m, size_t n,
			size_t k, float alpha, const float *a, size_t lda, const float *b,
			size_t ldb, float beta, float *c, size_t ldc)
{
	(void)h;
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda,
		    b, (int)ldb, beta, c, (int)ldc);
}

static double bench_normal(const lethe_host *h)
{
	(void)h;
	return rng_normal(&draws);
}

static const lethe_host host = {
	.struct_size = sizeof(lethe_host),
	.rng_normal = bench_normal,
	.sgemm = bench_sgemm,
};

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void)
{
	openblas_set_num_threads(1);
	rng_seed(&draws, 1, 0);
	size_t n = CLASSES * ROWS_PER_CLASS, counts[CLASSES];
	float *h = malloc(n * DIM * sizeof(float));
	if (!h) {
		fprintf(stderr, "bench_outliers: out of memory\n");
		return 1;
	}
	for (size_t c = 0; c < CLASSES; c++) {
		counts[c] = ROWS_PER_CLASS;
		float centre[DIM];
		for (size_t j = 0; j < DIM; j++)
			centre[j] = (float)fabs(rng_normal(&draws));
		for (size_t i = c * ROWS_PER_CLASS; i < (c + 1) * ROWS_PER_CLASS; i++)
			for (size_t j = 0; j < DIM; j++)
				h[i * DIM + j] =
					fmaxf(0.0f, centre[j] + 0.5f * (float)rng_normal(&draws));
	}
	struct outliers_config cfg = { .k = 50, .boundary = 50, .candidates = 10, .per_class = 40,
				       .sigma = 0.1f };
	struct outliers o;
	if (outliers_init(&o, &cfg, DIM, CLASSES) != LETHE_OK ||
	    outliers_begin(&o, CLASSES, counts) != LETHE_OK) {
		fprintf(stderr, "bench_outliers: out of memory\n");
		outliers_free(&o);
		free(h);
		return 1;
	}
	double best = INFINITY;
	for (int r = 0; r < REPEATS; r++) {
		double t0 = cpu_seconds();
		outliers_put(&o, 0, h, n);
		outliers_synthesise(&o, &host);
		double t = cpu_seconds() - t0;
		best = t < best ? t : best;
	}
	/* Per class: its own K-NN (n_c^2 dim) and its candidates against the task (n dim). */
	double flops = 0.0;
	for (size_t c = 0; c < CLASSES; c++)
		flops += 2.0 * DIM * ((double)counts[c] * counts[c] +
				      (double)cfg.boundary * cfg.candidates * (double)n);
	printf("ovor outlier synthesis, %d classes x %d samples x %d features, 1 thread: %.3f s "
	       "(%.1f GFLOP/s of distance products over it), %zu outliers; target < %.1f s: %s\n",
	       CLASSES, ROWS_PER_CLASS, DIM, best, flops / best * 1e-9, o.count, TARGET_SECONDS,
	       best < TARGET_SECONDS ? "met" : "MISSED");
	outliers_free(&o);
	free(h);
	return 0;
}
