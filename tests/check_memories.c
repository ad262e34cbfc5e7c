/* The gradient-memory plugins gem, agem and gdumb: GEM's dual QP solver against a brute force
 * over every active set on small problems; GEM's projection on a run's earlier tasks' memory
 * gradients satisfies the constraints and is the closest point (the KKT conditions); A-GEM's
 * projection is the paper's formula; GDumb's memory is class-balanced. Bad parameters are
 * refused by the catalogue (tests/bad_inputs/186-191). */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/gem/qp.h"
#include "core/engine.h"
#include "scenario/scenario.h"
#include "testutil.h"

/* ---- the QP ---- */

static double objective(const double *Q, const double *c, const double *u, size_t t)
{
	double f = 0.0;
	for (size_t i = 0; i < t; i++) {
		f += c[i] * u[i];
		for (size_t j = 0; j < t; j++)
			f += 0.5 * u[i] * Q[i * t + j] * u[j];
	}
	return f;
}

/* The minimum over the orthant by brute force: every support S, the stationary point of the
 * problem restricted to S (Gauss-Jordan; a singular system skipped), kept when non-negative. */
static double brute_min(const double *Q, const double *c, size_t t)
{
	double best = 0.0; /* u = 0 */
	for (unsigned S = 1; S < (1u << t); S++) {
		size_t idx[8], k = 0;
		for (size_t i = 0; i < t; i++)
			if (S >> i & 1)
				idx[k++] = i;
		double a[8][9];
		for (size_t r = 0; r < k; r++) {
			for (size_t q = 0; q < k; q++)
				a[r][q] = Q[idx[r] * t + idx[q]];
			a[r][k] = -c[idx[r]];
		}
		int ok = 1;
		for (size_t col = 0; col < k && ok; col++) {
			size_t piv = col;
			for (size_t r = col + 1; r < k; r++)
				if (fabs(a[r][col]) > fabs(a[piv][col]))
					piv = r;
			for (size_t q = 0; q <= k; q++) {
				double tmp = a[col][q];
				a[col][q] = a[piv][q];
				a[piv][q] = tmp;
			}
			if (fabs(a[col][col]) < 1e-12) {
				ok = 0;
				break;
			}
			for (size_t r = 0; r < k; r++) {
				if (r == col)
					continue;
				double f = a[r][col] / a[col][col];
				for (size_t q = col; q <= k; q++)
					a[r][q] -= f * a[col][q];
			}
		}
		double u[8] = { 0 };
		for (size_t r = 0; r < k && ok; r++) {
			u[idx[r]] = a[r][k] / a[r][r];
			ok = u[idx[r]] >= 0;
		}
		if (ok && objective(Q, c, u, t) < best)
			best = objective(Q, c, u, t);
	}
	return best;
}

/* Random problems of 1 to 5 variables, Q = G G^T of random "gradients" (some with a row
 * repeated: a singular Q): the solver's point is feasible, and its objective the brute force's
 * to 1e-9 of the problem's scale. */
START_TEST(test_qp_brute_force)
{
	srand(7);
	for (int trial = 0; trial < 400; trial++) {
		size_t t = 1 + (size_t)(trial % 5), P = 6;
		double G[5 * 6], g[6], Q[25], c[5], u[5], work[64];
		for (size_t i = 0; i < t * P; i++)
			G[i] = rand() / (double)RAND_MAX * 2 - 1;
		if (t > 2 && trial % 3 == 0)
			memcpy(G + P, G, P * sizeof(double));
		for (size_t i = 0; i < P; i++)
			g[i] = rand() / (double)RAND_MAX * 2 - 1;
		for (size_t a = 0; a < t; a++) {
			c[a] = 0;
			for (size_t i = 0; i < P; i++)
				c[a] += G[a * P + i] * g[i];
			for (size_t b = 0; b < t; b++) {
				Q[a * t + b] = 0;
				for (size_t i = 0; i < P; i++)
					Q[a * t + b] += G[a * P + i] * G[b * P + i];
			}
		}
		ck_assert_uint_ge(sizeof(work) / sizeof(double), qp_work_size(t));
		ck_assert_int_eq(qp_solve(Q, c, t, u, work), 0);
		for (size_t i = 0; i < t; i++)
			ck_assert(u[i] >= 0);
		double got = objective(Q, c, u, t), want = brute_min(Q, c, t);
		ck_assert_msg(fabs(got - want) <= 1e-9 * (1 + fabs(want)), "trial %d: %g against %g",
			      trial, got, want);
	}
}
END_TEST

/* ---- the plugins on a run ---- */

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
};

static void run_open(struct run *r, const char *plugin, const char *section, int tasks)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = class-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = %d\ndim = 8\ntrain_per_class = 40\n"
		 "test_per_class = 10\nspread = 10\n[tasks]\nsplit = %d\n[model]\nhidden = 6\n"
		 "[train]\nlr = 0.05\nbatch_size = 20\nepochs = 1\nseed = 5\n[%s]\n%s",
		 plugin, 2 * tasks, tasks, plugin, section);
	char *path = testutil_write_text(testutil_dir, "m.ini", text);
	struct error err;
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &err) == 0, "%s", err.msg);
	free(path);
	plugin_path_init(&r->pp, getenv("LETHE_BUILD_PLUGINS"));
	ck_assert_msg(engine_open(&r->e, &r->s, &r->pp, &err) == 0, "%s", err.msg);
	ck_assert_msg(engine_run(&r->e, NULL, &err) == 0, "%s", err.msg);
}

static void run_close(struct run *r)
{
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

/* Plugin 0's state, less the engine's framing (uint32 version, uint64 length). */
static unsigned char *state_of(struct run *r, size_t *size)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	struct error err;
	ck_assert_msg(engine_plugin_save(&r->e, 0, f, &err) == 0, "%s", err.msg);
	fclose(f);
	*size = n - 12;
	memmove(buf, buf + 12, n - 12);
	return (unsigned char *)buf;
}

/* A made-up batch gradient, as the host's backward would leave it. */
static void fake_gradient(float *g, size_t P)
{
	for (size_t i = 0; i < P; i++)
		g[i] = (float)sin(0.37 * (double)i + 1.0);
}

/* The gradient of the host's model on rows given as raw bytes of task k. */
static void rows_gradient(struct run *r, const uint8_t *pixels, const int32_t *y, size_t n,
			  uint32_t k, float *grad)
{
	const lethe_host *h = &r->e.plugins[0].host;
	size_t D = r->e.train.dim;
	float *x = malloc(n * D * sizeof(float));
	uint32_t *tasks = malloc(n * sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		tasks[i] = k;
	ck_assert_int_eq(h->task_convert(h, k, pixels, n, x), 0);
	ck_assert_int_eq(h->model_rows_gradient(h, h->model(h), x, y, tasks, n, grad, NULL), 0);
	free(x);
	free(tasks);
}

static double dot(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* After three tasks (margin 0), on_gradient of a batch of task 2 with a made-up gradient g:
 * g~ = g + G^T v with v >= 0, G g~ >= 0, and v_k (G g~)_k = 0 (complementary slackness): the
 * KKT conditions of min |g~ - g|^2 over the cone, so g~ is the closest point in it. G is
 * computed here from the memory in the plugin's state. Tolerances: float gradients of ~1 over
 * P terms, 1e-4 of the products' scale. */
START_TEST(test_gem_projection)
{
	struct run r;
	run_open(&r, "gem", "memory_per_task = 30\nmargin = 0\n", 3);
	size_t P = r.e.model.num_params, D = r.e.train.dim, size;
	unsigned char *st = state_of(&r, &size), *at = st + 16;
	float *G = malloc(2 * P * sizeof(float));
	for (uint32_t k = 0; k < 2; k++) {
		uint64_t n;
		memcpy(&n, at, 8);
		ck_assert_uint_eq(n, 30);
		at += 16;
		const uint8_t *pixels = at;
		at += n * D;
		int32_t y[30];
		memcpy(y, at, n * 4);
		at += n * 4 + n * 8;
		rows_gradient(&r, pixels, y, n, k, G + k * P);
	}
	float *g = r.e.model.grads, *g0 = malloc(P * sizeof(float));
	/* a gradient against both memories: the negated sum of theirs, plus some noise */
	fake_gradient(g, P);
	for (size_t i = 0; i < P; i++)
		g[i] = 0.1f * g[i] - G[i] - 0.5f * G[P + i];
	memcpy(g0, g, P * sizeof(float));
	r.e.batch.task = 2;
	double loss = 0;
	struct engine_plugin *p = &r.e.plugins[0];
	services_enter(&p->svc);
	ck_assert_int_eq(p->hooks.on_gradient(p->inst, &r.e.batch, &loss), 0);
	double scale = sqrt(dot(G, G, P) * dot(g0, g0, P)) + dot(G + P, G + P, P);
	/* v from g~ - g = G^T v, by least squares on the two rows */
	double a11 = dot(G, G, P), a12 = dot(G, G + P, P), a22 = dot(G + P, G + P, P);
	float *d = malloc(P * sizeof(float));
	for (size_t i = 0; i < P; i++)
		d[i] = g[i] - g0[i];
	double b1 = dot(G, d, P), b2 = dot(G + P, d, P), det = a11 * a22 - a12 * a12;
	double v1 = (b1 * a22 - b2 * a12) / det, v2 = (a11 * b2 - a12 * b1) / det;
	double resid = 0;
	for (size_t i = 0; i < P; i++) {
		double e = d[i] - v1 * G[i] - v2 * G[P + i];
		resid += e * e;
	}
	double tol = 1e-4 * scale;
	ck_assert_msg(resid <= 1e-8 * dot(d, d, P) + 1e-12, "g~ - g is not in G's row space");
	ck_assert(v1 >= -1e-4 && v2 >= -1e-4);
	double c1 = dot(G, g, P), c2 = dot(G + P, g, P);
	ck_assert_msg(c1 >= -tol && c2 >= -tol, "constraints %g %g", c1, c2);
	ck_assert(fabs(v1 * c1) <= tol && fabs(v2 * c2) <= tol);
	ck_assert(dot(G, g0, P) < 0 || dot(G + P, g0, P) < 0); /* it had to project */
	free(d);
	free(g0);
	free(G);
	free(st);
	run_close(&r);
}
END_TEST

/* With the whole memory as the reference batch (sample_size >= stored), on_batch then
 * on_gradient of a batch of task 1 turn a made-up g with g . g_ref < 0 into
 * g - (g . g_ref / g_ref . g_ref) g_ref, g_ref computed here from the memory in the state
 * (reservoir_save's layout); rounding: float sums, 1e-4 relative. */
START_TEST(test_agem_formula)
{
	struct run r;
	run_open(&r, "agem", "max_stored = 16\nsample_size = 16\n", 2);
	size_t P = r.e.model.num_params, D = r.e.train.dim, size;
	unsigned char *st = state_of(&r, &size);
	uint64_t count;
	memcpy(&count, st + 8, 8);
	ck_assert_uint_eq(count, 16);
	const uint8_t *pixels = st + 24;
	int32_t y[16];
	uint32_t tasks[16];
	memcpy(y, pixels + count * D, count * 4);
	memcpy(tasks, pixels + count * D + count * 4 + count * 8, count * 4);
	float *ref = malloc(P * sizeof(float)), *want = malloc(P * sizeof(float));
	/* every stored sample is of task 0 or 1; their gradient as one mean */
	const lethe_host *h = &r.e.plugins[0].host;
	float *x = malloc(count * D * sizeof(float));
	for (size_t i = 0; i < count; i++)
		ck_assert_int_eq(h->task_convert(h, tasks[i], pixels + i * D, 1, x + i * D), 0);
	services_enter(&r.e.plugins[0].svc);
	ck_assert_int_eq(h->model_rows_gradient(h, h->model(h), x, y, tasks, count, ref, NULL), 0);
	struct engine_plugin *p = &r.e.plugins[0];
	/* a batch of task 1 in its second epoch (nothing offered), then the gradient */
	lethe_batch *b = &r.e.batch;
	b->task = 1;
	b->epoch = 1;
	b->n = b->n_host = 0;
	ck_assert_int_eq(p->hooks.on_batch(p->inst, b), 0);
	float *g = r.e.model.grads;
	fake_gradient(g, P);
	for (size_t i = 0; i < P; i++)
		g[i] -= 3.0f * ref[i];
	double gr = dot(g, ref, P), rr = dot(ref, ref, P);
	ck_assert(gr < 0);
	for (size_t i = 0; i < P; i++)
		want[i] = (float)(g[i] - gr / rr * ref[i]);
	double loss = 0;
	ck_assert_int_eq(p->hooks.on_gradient(p->inst, b, &loss), 0);
	double norm = sqrt(dot(want, want, P));
	for (size_t i = 0; i < P; i++)
		ck_assert_msg(fabs(g[i] - want[i]) <= 1e-4 * norm, "%zu: %g against %g", i, g[i],
			      want[i]);
	free(x);
	free(ref);
	free(want);
	free(st);
	run_close(&r);
}
END_TEST

/* 20 slots over 4 classes of 40 samples each: the greedy sampler ends with 5 of each. */
START_TEST(test_gdumb_balance)
{
	struct run r;
	run_open(&r, "gdumb", "max_stored = 20\nepochs = 1\n", 2);
	size_t D = r.e.train.dim, size;
	unsigned char *st = state_of(&r, &size);
	uint64_t head[3];
	memcpy(head, st, sizeof(head));
	ck_assert_uint_eq(head[2], 20);
	int32_t y[20];
	memcpy(y, st + 24 + 4 + 20 * D, sizeof(y));
	int per[4] = { 0 };
	for (size_t i = 0; i < 20; i++)
		per[y[i]]++;
	for (int c = 0; c < 4; c++)
		ck_assert_int_eq(per[c], 5);
	free(st);
	run_close(&r);
}
END_TEST

static Suite *memories_suite(void)
{
	Suite *s = suite_create("memories");
	TCase *tc = tcase_create("memories");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_qp_brute_force);
	tcase_add_test(tc, test_gem_projection);
	tcase_add_test(tc, test_agem_formula);
	tcase_add_test(tc, test_gdumb_balance);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(memories_suite());
}
