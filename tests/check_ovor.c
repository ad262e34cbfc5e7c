/* The ovor plugin: its K-th neighbour distances against a brute force, its outliers against the
 * boundary points they come from, its energy hinge and its hooks' gradients against finite
 * differences, the frozen trunk of its head-only phase (next to l2), its calibrated thresholds
 * against a recomputation, its rounding of the head phase, and its state. The synthesis runs
 * here on a host table of the test's own (cblas_sgemm and a seeded RNG); the plugin runs in the
 * real engine on synthetic data. */
#define _GNU_SOURCE
#include <cblas.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/ovor/outliers.h"
#include "core/engine.h"
#include "model/loss.h"
#include "model/model.h"
#include "model/sgd.h"
#include "scenario/scenario.h"
#include "util/rng.h"
#include "testutil.h"

static struct rng draws;

static void setup(void)
{
	testutil_setup();
	rng_seed(&draws, 11, 0);
}

/* ---- the synthesis on a host of the test's own ---- */

static void test_sgemm(const lethe_host *h, int trans_a, int trans_b, size_t m, size_t n,
		       size_t k, float alpha, const float *a, size_t lda, const float *b,
		       size_t ldb, float beta, float *c, size_t ldc)
{
	(void)h;
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda,
		    b, (int)ldb, beta, c, (int)ldc);
}

static double test_normal(const lethe_host *h)
{
	(void)h;
	return rng_normal(&draws);
}

static const lethe_host test_host = {
	.struct_size = sizeof(lethe_host),
	.rng_normal = test_normal,
	.sgemm = test_sgemm,
};

/* The k-th smallest distance from q to the rows of ref, skipping row skip, in double. */
static double brute_kth(const float *q, const float *ref, size_t n, size_t dim, size_t k,
			size_t skip)
{
	double *d = malloc(n * sizeof(double));
	size_t m = 0;
	for (size_t j = 0; j < n; j++) {
		if (j == skip)
			continue;
		double s = 0.0;
		for (size_t t = 0; t < dim; t++) {
			double diff = (double)q[t] - ref[j * dim + t];
			s += diff * diff;
		}
		d[m++] = sqrt(s);
	}
	ck_assert_uint_ge(m, k);
	/* Selection sort up to k: n is small here. */
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < m; j++)
			if (d[j] < d[i]) {
				double t = d[i];
				d[i] = d[j];
				d[j] = t;
			}
	double kth = d[k - 1];
	free(d);
	return kth;
}

/* How far knn_kth's float distance from q may be from the exact one, want (any BLAS kernel).
 * Each squared distance |q|^2 + |r|^2 - 2 q.r is a float sum of dim + 2 terms' worth of
 * products (the norms, the GEMM, two additions): within E = gamma(dim + 2) (|q|^2 + |r|^2 +
 * 2 sum |q_t r_t|), and so is the k-th smallest of them. The square root then moves by at most
 * min(sqrt(E), E / want), and sqrtf rounds. */
static double knn_tolerance(const float *q, const float *ref, size_t n, size_t dim, double want)
{
	double qq = 0.0, E = 0.0;
	for (size_t t = 0; t < dim; t++)
		qq += (double)q[t] * q[t];
	for (size_t j = 0; j < n; j++) {
		double rr = 0.0, qr = 0.0;
		for (size_t t = 0; t < dim; t++) {
			rr += (double)ref[j * dim + t] * ref[j * dim + t];
			qr += fabs((double)q[t] * ref[j * dim + t]);
		}
		E = fmax(E, ref_gamma(dim + 2) * (qq + rr + 2.0 * qr));
	}
	double moved = want > 0.0 ? fmin(sqrt(E), E / want) : sqrt(E);
	return moved + 0x1p-24 * (want + moved);
}

static float *random_rows(size_t n, size_t dim, double scale)
{
	float *x = malloc(n * dim * sizeof(float));
	for (size_t i = 0; i < n * dim; i++)
		x[i] = (float)(scale * rng_normal(&draws));
	return x;
}

static float *squared_norms(const float *x, size_t n, size_t dim)
{
	float *sq = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		sq[i] = 0.0f;
		for (size_t t = 0; t < dim; t++)
			sq[i] += x[i * dim + t] * x[i * dim + t];
	}
	return sq;
}

/* Queries against a reference set and the set against itself, with blocks of 3 rows (so many
 * GEMMs and a short last one) and of the whole set; a duplicated row is its twin's neighbour
 * at distance 0. */
START_TEST(test_knn_matches_brute_force)
{
	const size_t n = 301, nq = 47, dim = 7, k = 5;
	float *ref = random_rows(n, dim, 1.0), *q = random_rows(nq, dim, 1.5);
	memcpy(ref + 10 * dim, ref + 20 * dim, dim * sizeof(float));
	float *ref_sq = squared_norms(ref, n, dim), *q_sq = squared_norms(q, nq, dim);
	size_t block_floats = _i ? n * 3 + 2 : n * (n + 1);
	float *block = malloc(block_floats * sizeof(float)), heap[5];
	float *dist = malloc(n * sizeof(float));
	struct knn s = { ref, ref_sq, n, dim, k, block, block_floats, heap };

	knn_kth(&test_host, &s, q, q_sq, nq, KNN_NO_SELF, dist);
	for (size_t i = 0; i < nq; i++) {
		double want = brute_kth(q + i * dim, ref, n, dim, k, SIZE_MAX);
		double tol = knn_tolerance(q + i * dim, ref, n, dim, want);
		ck_assert_msg(fabs(dist[i] - want) <= tol, "query %zu: %.7g, brute force %.7g", i,
			      dist[i], want);
	}
	knn_kth(&test_host, &s, ref, ref_sq, n, 0, dist);
	for (size_t i = 0; i < n; i++) {
		double want = brute_kth(ref + i * dim, ref, n, dim, k, i);
		double tol = knn_tolerance(ref + i * dim, ref, n, dim, want);
		ck_assert_msg(fabs(dist[i] - want) <= tol, "row %zu: %.7g, brute force %.7g", i,
			      dist[i], want);
	}
	/* k = 1: the twins find each other, at 0 give or take rounding. */
	s.k = 1;
	knn_kth(&test_host, &s, ref, ref_sq, n, 0, dist);
	ck_assert_double_le(dist[10], knn_tolerance(ref + 10 * dim, ref, n, dim, 0.0));
	ck_assert_double_le(dist[20], knn_tolerance(ref + 20 * dim, ref, n, dim, 0.0));
	free(ref);
	free(q);
	free(ref_sq);
	free(q_sq);
	free(block);
	free(dist);
}
END_TEST

#define CLASSES 3
#define PER_CLASS_ROWS 200
#define DIM 16

/* Three clusters of nonnegative features (as after a ReLU), of different scales. */
static void synthesise(struct outliers *o, const struct outliers_config *cfg)
{
	size_t counts[CLASSES] = { PER_CLASS_ROWS, PER_CLASS_ROWS, PER_CLASS_ROWS };
	ck_assert_int_eq(outliers_init(o, cfg, DIM, CLASSES), LETHE_OK);
	ck_assert_int_eq(outliers_begin(o, CLASSES, counts), LETHE_OK);
	float h[DIM];
	for (size_t c = 0; c < CLASSES; c++) {
		float centre[DIM];
		for (size_t t = 0; t < DIM; t++)
			centre[t] = (float)fabs(rng_normal(&draws));
		for (size_t i = 0; i < PER_CLASS_ROWS; i++) {
			for (size_t t = 0; t < DIM; t++)
				h[t] = (float)((c + 1) *
					       fabs(centre[t] + 0.3 * rng_normal(&draws)));
			outliers_put(o, c * PER_CLASS_ROWS + i, h, 1);
		}
	}
	outliers_synthesise(o, &test_host);
}

/* Every outlier lies farther from the task's data than the boundary point it was drawn around,
 * by K-th neighbour distance (brute force), and that point is one of its class's `boundary`
 * rows farthest from their K-th neighbour within the class. */
START_TEST(test_outliers_beyond_boundary)
{
	struct outliers_config cfg = { .k = 10, .boundary = 12, .candidates = 6, .per_class = 9,
				       .sigma = 0.1f };
	struct outliers o;
	synthesise(&o, &cfg);
	size_t n = CLASSES * PER_CLASS_ROWS;
	ck_assert_uint_eq(o.count, CLASSES * cfg.per_class);

	/* Each class's K-th neighbour distances within the class, and the boundary's cut-off.
	 * The plugin ranked its float distances, each within slack[c] of these: a row it picked
	 * is at most 2 slack[c] below the cut-off (the ranks' values move no more than that). */
	double within[CLASSES * PER_CLASS_ROWS], cut[CLASSES], slack[CLASSES] = { 0 };
	for (size_t c = 0; c < CLASSES; c++) {
		const float *rows = o.unit + c * PER_CLASS_ROWS * DIM;
		double sorted[PER_CLASS_ROWS];
		for (size_t i = 0; i < PER_CLASS_ROWS; i++) {
			sorted[i] = within[c * PER_CLASS_ROWS + i] =
				brute_kth(rows + i * DIM, rows, PER_CLASS_ROWS, DIM, cfg.k, i);
			slack[c] = fmax(slack[c], knn_tolerance(rows + i * DIM, rows,
								PER_CLASS_ROWS, DIM, sorted[i]));
		}
		for (size_t i = 0; i < cfg.boundary; i++)
			for (size_t j = i + 1; j < PER_CLASS_ROWS; j++)
				if (sorted[j] > sorted[i]) {
					double t = sorted[i];
					sorted[i] = sorted[j];
					sorted[j] = t;
				}
		cut[c] = sorted[cfg.boundary - 1];
	}
	for (size_t i = 0; i < o.count; i++) {
		size_t c = i / cfg.per_class, src = o.source[i];
		ck_assert_uint_lt(src, n);
		ck_assert_uint_eq(src / PER_CLASS_ROWS, c);
		ck_assert_msg(within[src] >= cut[c] - 2.0 * slack[c], "outlier %zu comes from row "
			      "%zu, not a boundary point (%.6g < %.6g)", i, src, within[src],
			      cut[c]);
		const float *u = o.unit_points + i * DIM;
		double mine = brute_kth(u, o.unit, n, DIM, cfg.k, SIZE_MAX);
		double theirs = brute_kth(o.unit + src * DIM, o.unit, n, DIM, cfg.k, src);
		ck_assert_msg(fabs(o.kth[i] - mine) <= knn_tolerance(u, o.unit, n, DIM, mine),
			      "outlier %zu: kth %.7g, brute force %.7g", i, o.kth[i], mine);
		ck_assert_msg(mine > theirs, "outlier %zu at %.6g is no farther than its boundary "
			      "point at %.6g", i, mine, theirs);
		/* Back at the features' scale: the boundary point's norm. */
		for (size_t t = 0; t < DIM; t++)
			ck_assert_float_eq_tol(o.points[i * DIM + t], o.norm[src] * u[t], 1e-5f);
	}
	/* Kept best first within a class. */
	for (size_t i = 1; i < o.count; i++)
		if (i % cfg.per_class)
			ck_assert_float_le(o.kth[i], o.kth[i - 1]);
	outliers_free(&o);

	/* Around the origin: no source, and as many outliers. */
	cfg.origin = 1;
	synthesise(&o, &cfg);
	ck_assert_uint_eq(o.count, CLASSES * cfg.per_class);
	for (size_t i = 0; i < o.count; i++)
		ck_assert_uint_eq(o.source[i], KNN_NO_SELF);
	outliers_free(&o);
}
END_TEST

/* A class too small for K takes the largest K it allows; one row alone gets no outliers. */
START_TEST(test_outliers_small_classes)
{
	struct outliers_config cfg = { .k = 50, .boundary = 50, .candidates = 10, .per_class = 40,
				       .sigma = 0.1f };
	struct outliers o;
	size_t counts[2] = { 5, 1 };
	ck_assert_int_eq(outliers_init(&o, &cfg, 4, 2), LETHE_OK);
	ck_assert_int_eq(outliers_begin(&o, 2, counts), LETHE_OK);
	float *h = random_rows(6, 4, 1.0);
	outliers_put(&o, 0, h, 6);
	outliers_synthesise(&o, &test_host);
	ck_assert_uint_eq(o.count, 40);
	for (size_t i = 0; i < o.count; i++) {
		ck_assert_uint_lt(o.source[i], 5);
		ck_assert(isfinite(o.kth[i]));
	}
	ck_assert_int_eq(outliers_begin(&o, 3, counts), LETHE_ERR_INVALID);
	free(h);
	outliers_free(&o);
}
END_TEST

/* The hinge's value by its formula and its gradient by central differences, on both sides of
 * the threshold and in both pieces of the Huber loss. */
START_TEST(test_energy_hinge_gradient)
{
	const size_t C = 6;
	const uint8_t mask[6] = { 0, 1, 1, 0, 1, 0 };
	for (int trial = 0; trial < 40; trial++) {
		float z[6], dz[6] = { 0 };
		for (size_t j = 0; j < C; j++)
			z[j] = (float)(2.0 * rng_normal(&draws));
		int sign = trial % 2 ? -1 : 1;
		double tau = 2.0 * rng_normal(&draws), delta = 0.7, scale = 0.3;
		double E = energy(z, C, mask);
		double lse = log(exp(z[1]) + exp(z[2]) + exp(z[4]));
		ck_assert_double_eq_tol(E, -lse, 1e-9);
		double raw = sign * (E - tau), r = fmax(0.0, raw);
		double want = scale * (r <= delta ? 0.5 * r * r : delta * (r - 0.5 * delta));
		double got = energy_hinge(z, C, mask, tau, sign, delta, scale, dz);
		ck_assert_double_eq_tol(got, want, 1e-9);
		for (size_t j = 0; j < C; j++) {
			const float h = 1.0f / 256;
			float keep = z[j];
			z[j] = keep + h;
			double up = energy_hinge(z, C, mask, tau, sign, delta, scale, NULL);
			z[j] = keep - h;
			double down = energy_hinge(z, C, mask, tau, sign, delta, scale, NULL);
			z[j] = keep;
			double fd = (up - down) / (2.0 * h);
			/* Skip a difference that straddles a kink (r = 0 or r = delta). */
			if (fabs(raw) < 0.02 || fabs(raw - delta) < 0.02)
				continue;
			ck_assert_msg(fabs(fd - dz[j]) <= 1e-3 * fabs(fd) + 1e-5,
				      "trial %d, logit %zu: gradient %.7g, finite difference %.7g",
				      trial, j, dz[j], fd);
			if (!mask[j])
				ck_assert(dz[j] == 0.0f);
		}
	}
}
END_TEST

/* ---- the plugin in the engine ---- */

/* 4 classes in 2 tasks of 200 training samples, 8 inputs, one hidden layer of 16: 4 batches an
 * epoch. plugins and the [ovor] section's text are the caller's. */
static char *write_scenario(const char *plugins, const char *train, const char *ovor)
{
	char text[4096];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = ovor\nprotocol = class-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 100\n"
		 "test_per_class = 20\nspread = 10\n"
		 "[tasks]\nsplit = 2\n[model]\nhidden = 16\n"
		 "[train]\nlr = 0.05\nbatch_size = 50\nseed = 3\n%s%s"
		 "[ovor]\nk = 10\nboundary = 10\ncandidates = 5\nper_class = 8\n%s",
		 plugins, train, strstr(plugins, "l2") ? "[l2]\nlambda = 0.5\n" : "", ovor);
	return testutil_write_text(testutil_dir, "ovor.ini", text);
}

struct trunk_watch {
	float *trunk;        /* after the last batch of E1 */
	float *head;
	size_t trunk_len, head_len;
	size_t head_batches, checked_steps;
	float *calibration;  /* the parameters when the last task's E2 began */
};

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;
	struct trunk_watch w;
	size_t ovor;         /* the plugin's index */
};

/* Keeps the trunk and head after every E1 batch; at each step's end, the trunk must be as E1
 * left it and the head must have moved. */
static void watch(void *ctx, const struct event *ev)
{
	struct trunk_watch *w = ctx;
	const struct engine *e = ev->engine;
	const struct model *m = &e->model;
	if (ev->kind == EVENT_BATCH && !e->batch.head_only) {
		memcpy(w->trunk, m->params, w->trunk_len * sizeof(float));
		memcpy(w->head, m->params + w->trunk_len, w->head_len * sizeof(float));
		memcpy(w->calibration, m->params, m->num_params * sizeof(float));
	} else if (ev->kind == EVENT_BATCH) {
		w->head_batches++;
	} else if (ev->kind == EVENT_STEP_END) {
		ck_assert_msg(memcmp(w->trunk, m->params, w->trunk_len * sizeof(float)) == 0,
			      "step %zu: the trunk moved in the head-only phase", ev->step + 1);
		ck_assert_msg(memcmp(w->head, m->params + w->trunk_len,
				     w->head_len * sizeof(float)) != 0,
			      "step %zu: the head-only phase left the head", ev->step + 1);
		w->checked_steps++;
	}
}

static void run_open(struct run *r, const char *plugins, const char *train, const char *ovor)
{
	memset(r, 0, sizeof(*r));
	char *path = write_scenario(plugins, train, ovor);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &r->err) == 0, "%s", r->err.msg);
	free(path);
	plugin_path_init(&r->pp, getenv("LETHE_BUILD_PLUGINS"));
	ck_assert_msg(engine_open(&r->e, &r->s, &r->pp, &r->err) == 0, "%s", r->err.msg);
	for (r->ovor = 0; strcmp(r->e.plugins[r->ovor].file.entry.name, "ovor"); r->ovor++)
		ck_assert_uint_lt(r->ovor + 1, r->e.num_plugins);
	const struct model *m = &r->e.model;
	r->w.trunk_len = model_head_offset(m);
	r->w.head_len = m->num_params - r->w.trunk_len;
	r->w.trunk = malloc(r->w.trunk_len * sizeof(float));
	r->w.head = malloc(r->w.head_len * sizeof(float));
	r->w.calibration = malloc(m->num_params * sizeof(float));
	engine_add_sink(&r->e, watch, &r->w);
}

static void run_all(struct run *r, const char *plugins, const char *train, const char *ovor)
{
	run_open(r, plugins, train, ovor);
	ck_assert_msg(engine_run(&r->e, NULL, &r->err) == 0, "%s", r->err.msg);
}

static void run_close(struct run *r)
{
	free(r->w.trunk);
	free(r->w.head);
	free(r->w.calibration);
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

static double figure(const struct run *r, const char *key)
{
	const struct services_ctx *c = &r->e.plugins[r->ovor].svc;
	for (size_t i = 0; i < c->num_metrics; i++)
		if (!strcmp(c->metrics[i].key, key))
			return c->metrics[i].value;
	ck_abort_msg("the plugin reported no %s", key);
	return 0.0;
}

static lethe_plugin *hooks(struct run *r)
{
	return &r->e.plugins[r->ovor].hooks;
}

static lethe_plugin *inst(struct run *r)
{
	return r->e.plugins[r->ovor].inst;
}

/* With l2 pulling the trunk (its gradient lands on the trunk in E2 too), the head-only phase of
 * every task leaves the trunk bit for bit as E1 left it, and moves the head. */
START_TEST(test_trunk_frozen_in_head_phase)
{
	struct run r;
	run_all(&r, "l2, ovor", "epochs = 4\n", "head_fraction = 0.5\n");
	ck_assert_uint_eq(r.w.checked_steps, 2);
	ck_assert_uint_eq(r.w.head_batches, 2 * 2 * 4);
	ck_assert_uint_eq(figure(&r, "outliers"), 2 * 8);
	ck_assert_double_gt(figure(&r, "synthesis_seconds"), 0.0);
	run_close(&r);
}
END_TEST

/* round(fraction x epochs), at least 1 when fraction > 0, at most epochs - 1 unless it is 1. */
START_TEST(test_head_epochs_rounding)
{
	static const struct {
		const char *fraction;
		uint32_t epochs, want;
	} cases[] = {
		{ "0", 5, 0 },   { "0.2", 1, 0 }, { "0.2", 2, 1 },  { "0.2", 5, 1 },
		{ "0.2", 10, 2 }, { "0.3", 5, 2 }, { "0.5", 3, 2 }, { "0.9", 2, 1 },
		{ "1", 1, 1 },    { "1", 4, 4 },   { "0.2", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char ovor[64];
		snprintf(ovor, sizeof(ovor), "head_fraction = %s\n", cases[i].fraction);
		struct run r;
		run_open(&r, "ovor", "epochs = 2\n", ovor);
		uint32_t got = hooks(&r)->head_epochs(inst(&r), &r.e.task_info[0], cases[i].epochs);
		ck_assert_msg(got == cases[i].want, "fraction %s of %u epochs: %u head epochs, "
			      "want %u", cases[i].fraction, cases[i].epochs, got, cases[i].want);
		run_close(&r);
	}
}
END_TEST

/* The loss of a batch as the engine makes it: the host's cross-entropy, then on_logits. */
static double batch_loss(struct run *r, lethe_batch *b, float *z, float *dz)
{
	double loss = loss_softmax_ce(z, b->n, r->e.num_classes, b->y, NULL, dz);
	ck_assert_int_eq(hooks(r)->on_logits(inst(r), b, z, dz, &loss), LETHE_OK);
	return loss;
}

static double huber(double r, double delta)
{
	r = fmax(r, 0.0);
	return r <= delta ? 0.5 * r * r : delta * (r - 0.5 * delta);
}

/* on_logits in a head-only batch of task 2 with rows of task 1 among it: the task's rows'
 * cross-entropy over classes 2 and 3, the other rows' over all four, plus w times the mean ID
 * hinge over the task's rows; its gradient against central differences. */
START_TEST(test_on_logits_gradient)
{
	const double w = 0.4, tau = -1.0, delta = 0.5;
	char ovor[256];
	snprintf(ovor, sizeof(ovor), "weight = %g\nthresholds = fixed\ntau_id = %g\nhuber_delta = "
		 "%g\n", w, tau, delta);
	struct run r;
	run_all(&r, "ovor", "epochs = 2\n", ovor);
	const size_t n = 12, C = r.e.num_classes;
	lethe_batch b = r.e.batch;
	b.n = b.n_host = n;
	b.task = 1;
	b.head_only = 1;
	float z[12 * 4], dz[12 * 4];
	size_t own = 0;
	for (size_t i = 0; i < n; i++) {
		b.tasks[i] = i % 3 ? 1 : 0;
		b.y[i] = (int32_t)(2 * b.tasks[i] + i % 2);
		own += b.tasks[i] == 1;
		for (size_t j = 0; j < C; j++)
			z[i * C + j] = (float)(1.5 * rng_normal(&draws));
	}
	double want = 0.0;
	for (size_t i = 0; i < n; i++) {
		const float *row = z + i * C;
		size_t lo = b.tasks[i] == 1 ? 2 : 0;
		double sum = 0.0, all = 0.0;
		for (size_t j = 0; j < C; j++)
			all += exp(row[j]);
		for (size_t j = lo; j < 4; j++)
			sum += exp(row[j]);
		want += (b.tasks[i] == 1 ? log(sum) : log(all)) - row[b.y[i]];
		if (b.tasks[i] == 1)
			want += (double)n * w / (double)own * huber(-log(sum) - tau, delta);
	}
	want /= (double)n;
	double got = batch_loss(&r, &b, z, dz);
	ck_assert_msg(fabs(got - want) <= 1e-6 * fabs(want), "loss %.9g, want %.9g", got, want);
	float scratch[12 * 4];
	for (size_t i = 0; i < n * C; i++) {
		const float h = 1.0f / 512;
		float keep = z[i];
		z[i] = keep + h;
		double up = batch_loss(&r, &b, z, scratch);
		z[i] = keep - h;
		double down = batch_loss(&r, &b, z, scratch);
		z[i] = keep;
		double fd = (up - down) / (2.0 * h);
		ck_assert_msg(fabs(fd - dz[i]) <= 2e-3 * fabs(fd) + 1e-5,
			      "logit %zu: gradient %.7g, finite difference %.7g", i, dz[i], fd);
	}
	/* Outside the head-only phase only the task's cross-entropy is left. */
	b.head_only = 0;
	double e1 = batch_loss(&r, &b, z, dz);
	ck_assert_double_lt(e1, got);
	run_close(&r);
}
END_TEST

/* The gradients the host's backward left, for the plugin to add to. */
#define HOST_GRAD 0.25f

/* The OOD term on top of the host's gradients, as the engine would add it in a head-only
 * batch. */
static double ood_term(struct run *r)
{
	double loss = 0.0;
	for (size_t i = 0; i < r->e.model.num_params; i++)
		r->e.model.grads[i] = HOST_GRAD;
	ck_assert_int_eq(hooks(r)->on_gradient(inst(r), &r->e.batch, &loss), LETHE_OK);
	return loss;
}

/* A reader of bytes in memory, for outliers_load. */
struct memory {
	const unsigned char *at;
	size_t left;
};

static int memory_read(const lethe_istream *in, void *buf, uint64_t size)
{
	struct memory *m = in->ctx;
	if (size > m->left)
		return LETHE_ERR_IO;
	memcpy(buf, m->at, size);
	m->at += size;
	m->left -= size;
	return LETHE_OK;
}

static char *saved(struct run *r, size_t *size);

/* The plugin's outliers, from its state as ovor.c documents version 2: past the host's frame
 * (version, length) and the figures (3 doubles, the count), the classes and their slots, then
 * what outliers_save wrote. */
static void saved_outliers(struct run *r, struct outliers *o)
{
	size_t size;
	char *state = saved(r, &size);
	uint64_t classes;
	size_t at = 12 + 3 * sizeof(double) + 8;
	memcpy(&classes, state + at, sizeof(classes));
	at += sizeof(classes) + classes * sizeof(int32_t);
	struct memory m = { (const unsigned char *)state + at, size - at };
	lethe_istream in = { sizeof(in), &m, memory_read };
	struct outliers_config cfg = { .k = 10, .boundary = 10, .candidates = 5, .per_class = 8 };
	int features;
	ck_assert_int_eq(outliers_init(o, &cfg, testutil_view(&r->e.model, model_num_views(&r->e.model) - 1).in,
				       classes), LETHE_OK);
	ck_assert_int_eq(outliers_load(o, &in, &features), LETHE_OK);
	ck_assert_uint_eq(m.left, 0);
	free(state);
}

/* The OOD term as ovor.c defines it, in double on the head's reference pass over the outliers
 * (one linear layer): w/M sum_i huber(tau_ood + LSE of z_i over the task's classes), each r_i
 * into r. With the hinge in its quadratic piece the float dz_i = (w/M) r_i p_i (p over those
 * classes) is bounded from the logits' bound e_i: r moves by at most e_i, p as
 * ref_softmax_error says, then dz rounds to float; *eloss bounds the float loss. */
static double ood_reference(struct ref_mlp *pass, const double *theta, const double *points,
			    const uint8_t *mask, double w, double tau, double *r, double *dz,
			    double *edz, double *eloss)
{
	size_t M = pass->rows, C = pass->size[1];
	ref_mlp_forward(pass, theta, points, NULL);
	double loss = 0.0, scale = w / (double)M;
	*eloss = 0.0;
	for (size_t i = 0; i < M; i++) {
		const double *z = pass->z[0] + i * C, *ez = pass->ez[0] + i * C;
		double max = -INFINITY, sum = 0.0, e = 0.0;
		for (size_t j = 0; j < C; j++)
			if (mask[j]) {
				max = fmax(max, z[j]);
				e = fmax(e, ez[j]);
			}
		for (size_t j = 0; j < C; j++)
			sum += mask[j] ? exp(z[j] - max) : 0.0;
		double ri = tau + max + log(sum);
		ck_assert(ri > e); /* the hinge is on, in its quadratic piece (huber_delta 1000) */
		loss += scale * 0.5 * ri * ri;
		*eloss += scale * (ri * e + 0.5 * e * e);
		if (!dz)
			continue;
		r[i] = ri;
		for (size_t j = 0; j < C; j++) {
			double p = mask[j] ? exp(z[j] - max) / sum : 0.0;
			double ep = mask[j] ? ref_softmax_error(p, e) : 0.0;
			dz[i * C + j] = scale * ri * p;
			edz[i * C + j] = scale * (e * (p + ep) + ri * ep) +
					 0x1p-24 * scale * (ri + e) * (p + ep);
		}
	}
	return loss;
}

/* The central differences' step on the head's parameters, in double. */
#define FD_H 0x1p-20

/* After the run the last task's outliers are still there: on_gradient's head gradient, added to
 * the host's, against central differences of the term computed in double from the outliers and
 * the head, within the float pass's bound; nothing on the trunk, nothing outside the head-only
 * phase, nothing after a forget request. A high tau_ood and a wide Huber keep every outlier in
 * the hinge's smooth quadratic piece. */
START_TEST(test_on_gradient_matches_loss)
{
	const double weight = 0.7, tau = 30.0;
	struct run r;
	run_all(&r, "ovor", "epochs = 2\n",
		"weight = 0.7\nthresholds = fixed\ntau_ood = 30\nhuber_delta = 1000\n");
	struct model *m = &r.e.model;
	struct model_view v = testutil_view(m, model_num_views(m) - 1), *ly = &v;
	size_t P = m->num_params, head = ly->weight_offset, d = ly->in, C = ly->out;
	r.e.batch.head_only = 0;
	ck_assert(ood_term(&r) == 0.0);
	for (size_t i = 0; i < P; i++)
		ck_assert(m->grads[i] == HOST_GRAD);
	r.e.batch.head_only = 1;
	double loss = ood_term(&r);
	ck_assert_double_gt(loss, 0.0);
	for (size_t i = 0; i < head; i++)
		ck_assert(m->grads[i] == HOST_GRAD);

	struct outliers o;
	saved_outliers(&r, &o);
	size_t M = o.count;
	ck_assert_uint_eq(M, 2 * 8);
	const uint8_t mask[4] = { 0, 0, 1, 1 }; /* task 2's classes */
	double *theta = malloc((P - head) * sizeof(double));
	double *points = malloc(M * d * sizeof(double));
	double *dz = malloc(M * C * sizeof(double)), *edz = malloc(M * C * sizeof(double));
	double *rows_r = malloc(M * sizeof(double)), *up_z = malloc(M * C * sizeof(double));
	for (size_t i = head; i < P; i++)
		theta[i - head] = m->params[i];
	for (size_t i = 0; i < M * d; i++)
		points[i] = o.points[i];
	struct ref_mlp ref, pass;
	ref_mlp_init(&ref, (const size_t[]){ d, C }, 2, M);
	ref_mlp_init(&pass, (const size_t[]){ d, C }, 2, M);
	double eloss, unused;
	double want = ood_reference(&ref, theta, points, mask, weight, tau, rows_r, dz, edz,
				    &eloss);
	ck_assert_msg(fabs(loss - want) <= eloss, "loss %.9g, reference %.9g, bound %g", loss,
		      want, eloss);

	size_t nonzero = 0;
	for (size_t i = head; i < P; i++) {
		int bias = i >= ly->bias_offset;
		size_t j = bias ? i - ly->bias_offset : (i - head) / d, k = (i - head) % d;
		/* The float pass adds dz^T h (one GEMM over the outliers) or dz's column sums to
		 * the host's 0.25: gamma(M + 1) of the magnitudes, plus dz's own error carried. */
		double mag = HOST_GRAD, carried = 0.0;
		for (size_t row = 0; row < M; row++) {
			double h = bias ? 1.0 : fabs(points[row * d + k]);
			mag += (fabs(dz[row * C + j]) + edz[row * C + j]) * h;
			carried += edz[row * C + j] * h;
		}
		double keep = theta[i - head];
		theta[i - head] = keep + FD_H;
		double plus = ood_reference(&pass, theta, points, mask, weight, tau, NULL, NULL,
					    NULL, &unused);
		memcpy(up_z, pass.z[0], M * C * sizeof(double));
		theta[i - head] = keep - FD_H;
		double minus = ood_reference(&pass, theta, points, mask, weight, tau, NULL, NULL,
					     NULL, &unused);
		theta[i - head] = keep;
		/* A row's third derivative along the step, (w/M) (3 r' r" + r r"'), is at most
		 * (w/M) (3 + 2 r) s^3 for its logit's slope s (r' <= s, r" <= s^2, r"' <= 2 s^3);
		 * within the step r grows by far less than 1. */
		double third = 0.0;
		for (size_t row = 0; row < M; row++) {
			double s = fabs(up_z[row * C + j] - pass.z[0][row * C + j]) / (2 * FD_H);
			third += weight / (double)M * (3.0 + 2.0 * (rows_r[row] + 1.0)) * pow(s, 3);
		}
		double fd = (plus - minus) / (2 * FD_H);
		double bound = ref_gamma(M + 1) * mag + carried + ref_fd_error(FD_H, third, eloss);
		double grad = (double)m->grads[i] - HOST_GRAD;
		ck_assert_msg(fabs(fd - grad) <= bound,
			      "parameter %zu: gradient %.9g, central difference %.9g, bound %g", i,
			      grad, fd, bound);
		nonzero += grad != 0.0;
	}
	/* Task 2's classes 2 and 3: their rows of W and their biases. */
	ck_assert_uint_eq(nonzero, 2 * (16 + 1));
	/* A forget request takes the outliers, made from the task's samples, away. */
	lethe_forget_request req = { .struct_size = sizeof(req), .kind = LETHE_FORGET_TASK,
				     .task = 1 };
	ck_assert_int_eq(hooks(&r)->on_forget(inst(&r), &req), LETHE_OK);
	ck_assert(ood_term(&r) == 0.0);
	free(theta);
	free(points);
	free(dz);
	free(edz);
	free(rows_r);
	free(up_z);
	ref_mlp_free(&ref);
	ref_mlp_free(&pass);
	outliers_free(&o);
	run_close(&r);
}
END_TEST

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* tau_id is the percentile of task 2's training energies over its classes, with the weights
 * E1 left (linear between order statistics), and tau_ood = tau_id + gap; fixed thresholds are
 * the parameters. */
START_TEST(test_thresholds_calibrate)
{
	const double q = 30.0, gap = 2.5;
	char ovor[128];
	snprintf(ovor, sizeof(ovor), "head_fraction = 0.5\npercentile = %g\ngap = %g\n", q, gap);
	struct run r;
	run_all(&r, "ovor", "epochs = 2\n", ovor);

	/* Recomputed in double on the model's reference pass. Each float energy is within the
	 * largest bound e of its two logits (log-sum-exp is 1-Lipschitz), the order statistics
	 * too, and so the interpolation between two of them. */
	const struct model *mm = &r.e.model;
	const struct task *t = &r.e.tasks.t[1];
	size_t n = t->num_train, C = r.e.num_classes, dim = r.e.train.dim, L = model_num_views(mm);
	struct ref_mlp ref;
	double *theta = ref_mlp_init_for(&ref, mm, n);
	float *x = malloc(n * dim * sizeof(float));
	int32_t *y = malloc(n * sizeof(int32_t));
	double *E = malloc(n * sizeof(double)), *xd = malloc(n * dim * sizeof(double)), e = 0.0;
	tasks_gather(t, &r.e.train, t->train, n, x, y);
	for (size_t i = 0; i < n * dim; i++)
		xd[i] = x[i];
	for (size_t i = 0; i < mm->num_params; i++)
		theta[i] = r.w.calibration[i];
	ref_mlp_forward(&ref, theta, xd, NULL);
	for (size_t i = 0; i < n; i++) {
		const double *z = ref.z[L - 1] + i * C, *ez = ref.ez[L - 1] + i * C;
		double top = fmax(z[2], z[3]);
		E[i] = -(top + log(exp(z[2] - top) + exp(z[3] - top)));
		e = fmax(e, fmax(ez[2], ez[3]));
	}
	qsort(E, n, sizeof(double), compare_doubles);
	double at = q / 100.0 * (double)(n - 1);
	size_t lo = (size_t)at;
	double want = E[lo] + (at - (double)lo) * (E[lo + 1] - E[lo]);
	ck_assert_msg(fabs(figure(&r, "tau_id") - want) <= e + 0x1p-50 * fabs(want),
		      "tau_id %.9g, recomputed %.9g, bound %g", figure(&r, "tau_id"), want, e);
	ck_assert_double_eq_tol(figure(&r, "tau_ood"), figure(&r, "tau_id") + gap, 1e-9);
	free(x);
	free(xd);
	free(y);
	free(E);
	free(theta);
	ref_mlp_free(&ref);
	run_close(&r);

	run_all(&r, "ovor", "epochs = 2\n", "thresholds = fixed\ntau_id = -7\ntau_ood = 1.5\n");
	ck_assert(figure(&r, "tau_id") == -7.0);
	ck_assert(figure(&r, "tau_ood") == 1.5);
	run_close(&r);
}
END_TEST

static char *saved(struct run *r, size_t *size)
{
	char *buf;
	FILE *f = open_memstream(&buf, size);
	ck_assert_msg(engine_plugin_save(&r->e, r->ovor, f, &r->err) == 0, "%s", r->err.msg);
	fclose(f);
	return buf;
}

static int load(struct run *r, const char *state, size_t size)
{
	FILE *f = fmemopen((void *)state, size, "rb");
	int rc = engine_plugin_load(&r->e, r->ovor, f, &r->err);
	fclose(f);
	return rc;
}

/* The state carries the figures: a fresh instance that loads it reports them and saves the same
 * bytes; a cut state is refused. */
START_TEST(test_state_round_trip)
{
	struct run a, b;
	run_all(&a, "ovor", "epochs = 2\n", "");
	size_t size, again_size;
	char *state = saved(&a, &size);
	/* The figures, then the last task's features and outliers. */
	ck_assert_uint_gt(size, 4 + 8 + 3 * sizeof(double) + 8);

	run_open(&b, "ovor", "epochs = 2\n", "");
	ck_assert_msg(load(&b, state, size) == 0, "%s", b.err.msg);
	static const char *const keys[] = { "outliers", "tau_id", "tau_ood", "synthesis_seconds" };
	for (size_t i = 0; i < 4; i++)
		ck_assert_msg(figure(&a, keys[i]) == figure(&b, keys[i]), "%s: %g, loaded %g",
			      keys[i], figure(&a, keys[i]), figure(&b, keys[i]));
	char *again = saved(&b, &again_size);
	ck_assert_uint_eq(again_size, size);
	ck_assert(memcmp(again, state, size) == 0);
	ck_assert_int_eq(load(&b, state, size - 4), -1);
	ck_assert_has(b.err.msg, "plugin ovor: load failed");
	free(state);
	free(again);
	run_close(&a);
	run_close(&b);
}
END_TEST

/* per_class must not exceed the candidates drawn per class. */
START_TEST(test_refuses_too_many_per_class)
{
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;
	const char *overrides[] = { "ovor.boundary=10", "ovor.candidates=5", "ovor.per_class=51" };
	char *path = write_scenario("ovor", "epochs = 2\n", "");
	ck_assert_msg(scenario_load(&s, path, overrides, 3, &err) == 0, "%s", err.msg);
	free(path);
	plugin_path_init(&pp, getenv("LETHE_BUILD_PLUGINS"));
	ck_assert_int_eq(engine_open(&e, &s, &pp, &err), -1);
	ck_assert_has(err.msg, "per_class = 51 exceeds the 50 candidates");
	engine_close(&e);
	plugin_path_free(&pp);
	scenario_free(&s);
}
END_TEST

static Suite *ovor_suite(void)
{
	Suite *s = suite_create("ovor");
	TCase *tc = tcase_create("ovor");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_add_loop_test(tc, test_knn_matches_brute_force, 0, 2);
	tcase_add_test(tc, test_outliers_beyond_boundary);
	tcase_add_test(tc, test_outliers_small_classes);
	tcase_add_test(tc, test_energy_hinge_gradient);
	tcase_add_test(tc, test_trunk_frozen_in_head_phase);
	tcase_add_test(tc, test_head_epochs_rounding);
	tcase_add_test(tc, test_on_logits_gradient);
	tcase_add_test(tc, test_on_gradient_matches_loss);
	tcase_add_test(tc, test_thresholds_calibrate);
	tcase_add_test(tc, test_state_round_trip);
	tcase_add_test(tc, test_refuses_too_many_per_class);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(ovor_suite());
}
