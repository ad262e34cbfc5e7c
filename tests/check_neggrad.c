/* The neggrad plugin (NegGrad+): its combined gradient against the two halves' gradients taken
 * apart; the per-sample flood (a forget row above it descends, one below ascends); the
 * complement loss's gradient against central differences; the repair's steps and update
 * against a full-batch step taken by hand; and forget runs on the fixture's synthetic data:
 * the forgotten samples' accuracy falls, the test accuracy holds, a request that leaves no
 * D_r is refused. */
#define _GNU_SOURCE
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/services.h"
#include "forget_fixture.h"
#include "testutil.h"

#include "../plugins/neggrad/neggrad.c"

/* Learns the fixture with neggrad at its defaults, asks for every third sample of task 1 and
 * opens that request's forget set as the plugin would, its hooks' services entered. */
static const lethe_host *open_request(struct fixture *f, struct forget_set *s)
{
	fixture_learn(f, "neggrad", "", NULL);
	fixture_request_samples(f, 1, 3);
	const lethe_host *h = &f->e.plugins[0].host;
	services_enter(&f->e.plugins[0].svc);
	ck_assert_int_eq(forget_set_open(s, h, &f->req), LETHE_OK);
	return h;
}

/* Rows 0..3 retained, 4..6 forget: one backward of neggrad_dlogits gives the parameters'
 * gradient α ∇CE_r − (1 − α) ∇CE_f, each half's gradient taken apart from its own rows with
 * dlogits (p − onehot)/n computed here in double. */
START_TEST(test_combined_gradient)
{
	struct fixture f;
	struct forget_set s;
	const lethe_host *h = open_request(&f, &s);
	struct forget_rows r, part;
	ck_assert_int_eq(forget_rows_init(&r, &s, 7), LETHE_OK);
	ck_assert_int_eq(forget_rows_init(&part, &s, 7), LETHE_OK);
	for (uint64_t pos = 0; r.n < 4; pos++) {
		int covered;
		ck_assert_int_eq(forget_rows_add_position(&r, &s, pos, &covered), LETHE_OK);
		r.n -= covered;
	}
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(forget_rows_add_forget(&r, &s, 2 * i), LETHE_OK);
	lethe_model *m = h->model_clone(h, h->model(h));
	uint64_t P;
	const float *grad = h->model_grads(h, m, &P);
	const double alpha = 0.8;
	ck_assert_int_eq(h->model_forward(h, m, r.x, 7, r.logits), LETHE_OK);
	double ce_r, ce_f;
	double loss = neggrad_dlogits(&r, &s, 4, alpha, 0.0, 0, &ce_r, &ce_f);
	ck_assert_int_eq(h->model_backward(h, m, r.dlogits, 7), LETHE_OK);
	float *combined = malloc(P * sizeof(float)), *want = calloc(P, sizeof(float));
	double *mag = calloc(P, sizeof(double));
	memcpy(combined, grad, P * sizeof(float));

	const size_t from[2] = { 0, 4 }, count[2] = { 4, 3 };
	const double weight[2] = { alpha, -(1.0 - alpha) };
	double ce[2] = { 0, 0 };
	for (int half = 0; half < 2; half++) {
		size_t n = count[half], C = s.C;
		memcpy(part.x, r.x + from[half] * s.dim, n * s.dim * sizeof(float));
		ck_assert_int_eq(h->model_forward(h, m, part.x, n, part.logits), LETHE_OK);
		for (size_t i = 0; i < n; i++) {
			const float *z = part.logits + i * C;
			int32_t y = r.y[from[half] + i];
			double max = z[0], sum = 0.0;
			for (size_t j = 1; j < C; j++)
				max = z[j] > max ? z[j] : max;
			for (size_t j = 0; j < C; j++)
				sum += exp(z[j] - max);
			for (size_t j = 0; j < C; j++)
				part.dlogits[i * C + j] = (float)((exp(z[j] - max) / sum -
								   (j == (size_t)y)) / (double)n);
			ce[half] += (max + log(sum) - z[y]) / (double)n;
		}
		ck_assert_int_eq(h->model_backward(h, m, part.dlogits, n), LETHE_OK);
		for (uint64_t i = 0; i < P; i++) {
			want[i] += (float)(weight[half] * grad[i]);
			mag[i] += fabs(weight[half] * grad[i]);
		}
	}
	ck_assert_msg(fabs(ce_r - ce[0]) <= 1e-5 * (1 + ce[0]), "CE_r %.9g, by hand %.9g", ce_r,
		      ce[0]);
	ck_assert_msg(fabs(ce_f - ce[1]) <= 1e-5 * (1 + ce[1]), "CE_f %.9g, by hand %.9g", ce_f,
		      ce[1]);
	ck_assert(fabs(loss - (alpha * ce[0] - (1 - alpha) * ce[1])) <= 1e-5 * (1 + ce[0] + ce[1]));
	/* Float sums over 7 rows in any order: a few ulps of the terms' magnitudes. */
	for (uint64_t i = 0; i < P; i++)
		ck_assert_msg(fabs(combined[i] - want[i]) <= 1e-4 * mag[i] + 1e-9,
			      "parameter %llu: %.9g, by halves %.9g", (unsigned long long)i,
			      combined[i], want[i]);
	free(combined);
	free(want);
	free(mag);
	h->model_free(h, m);
	forget_rows_free(&r);
	forget_rows_free(&part);
	forget_set_close(&s);
	fixture_close(&f);
}
END_TEST

/* Per-sample flooding: with flood b between the forget rows' CEs, a forget row whose CE (by
 * hand) is above b gets the opposite dlogits of the plain ascent's, one below the same; the
 * retained rows do not change. */
START_TEST(test_flood_turns_rows_above)
{
	struct fixture f;
	struct forget_set s;
	const lethe_host *h = open_request(&f, &s);
	struct forget_rows r;
	ck_assert_int_eq(forget_rows_init(&r, &s, 12), LETHE_OK);
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(forget_rows_add_retain(&r, &s), LETHE_OK);
	for (size_t i = 0; i < 8; i++)
		ck_assert_int_eq(forget_rows_add_forget(&r, &s, i), LETHE_OK);
	lethe_model *m = h->model(h);
	ck_assert_int_eq(h->model_forward(h, m, r.x, r.n, r.logits), LETHE_OK);
	/* Shift the forget rows' true logits apart, so that their CEs spread out. */
	double ce[12], sorted[8];
	for (size_t i = 4; i < 12; i++) {
		float *z = r.logits + i * s.C;
		z[r.y[i]] += 3.0f - (float)(i - 4);
		double max = z[0], sum = 0.0;
		for (size_t j = 1; j < s.C; j++)
			max = z[j] > max ? z[j] : max;
		for (size_t j = 0; j < s.C; j++)
			sum += exp(z[j] - max);
		ce[i] = max + log(sum) - z[r.y[i]];
		sorted[i - 4] = ce[i];
	}
	for (size_t i = 0; i < 8; i++)
		for (size_t k = i + 1; k < 8; k++)
			if (sorted[k] < sorted[i]) {
				double v = sorted[i];
				sorted[i] = sorted[k];
				sorted[k] = v;
			}
	const double flood = (sorted[3] + sorted[4]) / 2.0;
	float plain[12 * 16], flooded[12 * 16];
	ck_assert_uint_le(s.C, 16);
	double ce_r, ce_f, ce_r2, ce_f2;
	neggrad_dlogits(&r, &s, 4, 0.8, 0.0, 0, &ce_r, &ce_f);
	memcpy(plain, r.dlogits, r.n * s.C * sizeof(float));
	neggrad_dlogits(&r, &s, 4, 0.8, flood, 0, &ce_r2, &ce_f2);
	memcpy(flooded, r.dlogits, r.n * s.C * sizeof(float));
	ck_assert(ce_r == ce_r2 && ce_f == ce_f2);
	size_t above = 0;
	for (size_t i = 0; i < 12; i++) {
		int turned = i >= 4 && ce[i] > flood;
		above += (size_t)turned;
		for (size_t j = 0; j < s.C; j++) {
			float want = turned ? -plain[i * s.C + j] : plain[i * s.C + j];
			ck_assert_msg(flooded[i * s.C + j] == want,
				      "row %zu (CE %.4g, flood %.4g), class %zu: %.9g, want %.9g",
				      i, i >= 4 ? ce[i] : 0.0, flood, j, flooded[i * s.C + j],
				      want);
		}
		/* The forget rows' plain dlogits ascend: minus the CE's gradient, p_y - 1 < 0
		 * negated at y. */
		if (i >= 4)
			ck_assert(plain[i * s.C + (size_t)r.y[i]] > 0.0f);
	}
	ck_assert_uint_eq(above, 4);
	forget_rows_free(&r);
	forget_set_close(&s);
	fixture_close(&f);
}
END_TEST

/* -log(1 - p_y) of logits z (5 classes, all allowed), computed as log sum_j e^z_j - log
 * sum_{j != y} e^z_j in long double. */
static long double complement_loss(const double *z, int y)
{
	long double all = 0.0L, other = 0.0L;
	for (int j = 0; j < 5; j++) {
		all += expl((long double)z[j]);
		other += j == y ? 0.0L : expl((long double)z[j]);
	}
	return logl(all) - logl(other);
}

/* complement_add's gradient against central differences of -log(1 - p_y), on a row the model
 * is unsure of and on a confident one (1 - p_y near 2e-9), where the CE's gradient has all but
 * vanished and this one must not; and its returned CE against -log p_y. */
START_TEST(test_complement_gradient)
{
	const double rows[2][5] = { { 0.3, -1.2, 2.0, 0.7, -0.4 }, { 20.0, 0.5, -0.3, 0.0, 0.2 } };
	const int y[2] = { 2, 0 };
	const uint8_t mask[5] = { 1, 1, 1, 1, 1 };
	for (int k = 0; k < 2; k++) {
		float z[5], dz[5] = { 0 };
		double zd[5];
		for (int j = 0; j < 5; j++) {
			z[j] = (float)rows[k][j];
			zd[j] = z[j];
		}
		double ce = complement_add(z, 5, y[k], k ? mask : NULL, 0.5, dz);
		long double sum = 0.0L;
		for (int j = 0; j < 5; j++)
			sum += expl((long double)zd[j]);
		double want_ce = (double)(logl(sum) - (long double)zd[y[k]]);
		ck_assert_msg(fabs(ce - want_ce) <= 1e-12 * (1 + want_ce), "CE %.15g, want %.15g",
			      ce, want_ce);
		for (int j = 0; j < 5; j++) {
			/* Central differences: error h^2/6 times the third derivative, of order 1
			 * here; h = 1e-4 leaves 2e-9, long double's rounding over 2h far less. */
			const double hh = 1e-4;
			double zp[5], zm[5];
			memcpy(zp, zd, sizeof(zp));
			memcpy(zm, zd, sizeof(zm));
			zp[j] += hh;
			zm[j] -= hh;
			long double up = complement_loss(zp, y[k]);
			long double down = complement_loss(zm, y[k]);
			double fd = (double)((up - down) / (2.0L * hh));
			/* dz holds floats: a few ulps of values below 1. */
			ck_assert_msg(fabs(dz[j] - 0.5 * fd) <= 1e-7 + 1e-6 * fabs(fd),
				      "row %d, class %d: %.9g, by differences %.9g", k, j, dz[j],
				      0.5 * fd);
		}
		if (k == 1)
			ck_assert(dz[0] > 0.49f);
	}
}
END_TEST

/* D_r's rows, in the order of the numbering, in all (initialised here). */
static void retained_rows(const struct forget_set *s, struct forget_rows *all)
{
	ck_assert_int_eq(forget_rows_init(all, s, (size_t)s->num_retain), LETHE_OK);
	for (uint64_t pos = 0; pos < s->starts[s->learned]; pos++) {
		int covered;
		ck_assert_int_eq(forget_rows_add_position(all, s, pos, &covered), LETHE_OK);
		all->n -= (size_t)covered;
	}
	ck_assert_uint_eq(all->n, s->num_retain);
}

/* Full-batch momentum steps on all of D_r taken by hand on model c, epoch e at lr[e]:
 * v = mu v + g, theta -= lr v. Returns the sum of |g| over the steps for each parameter. */
static double *steps_by_hand(const lethe_host *h, lethe_model *c, const struct forget_set *s,
			     struct forget_rows *all, int epochs, const double *lr, double mu)
{
	uint64_t P;
	const size_t n = all->n;
	float *theta = h->model_params(h, c, &P);
	const float *grad = h->model_grads(h, c, NULL);
	double *v = calloc(P, sizeof(double)), *mag = calloc(P, sizeof(double));
	for (int e = 0; e < epochs; e++) {
		ck_assert_int_eq(h->model_forward(h, c, all->x, n, all->logits), LETHE_OK);
		memset(all->dlogits, 0, n * s->C * sizeof(float));
		for (size_t i = 0; i < n; i++)
			xent_add(all->logits + i * s->C, s->C, all->y[i], NULL, 1.0 / (double)n,
				 all->dlogits + i * s->C);
		ck_assert_int_eq(h->model_backward(h, c, all->dlogits, n), LETHE_OK);
		for (uint64_t i = 0; i < P; i++) {
			v[i] = mu * v[i] + grad[i];
			mag[i] += fabs(grad[i]);
			theta[i] -= (float)(lr[e] * v[i]);
		}
	}
	free(v);
	return mag;
}

/* The model's parameters against the steps taken by hand on c: the same rows summed in another
 * order, float rounding of the gradient, a few ulps of its terms, times lr over the steps.
 * Then frees c, all and mag and closes s and f. */
static void assert_by_hand_and_close(struct fixture *f, struct forget_set *s, lethe_model *c,
				     struct forget_rows *all, double *mag, double lr)
{
	const lethe_host *h = s->h;
	uint64_t P;
	const float *got = h->model_params(h, h->model(h), &P);
	const float *theta = h->model_params(h, c, NULL);
	for (uint64_t i = 0; i < P; i++)
		ck_assert_msg(fabs(got[i] - theta[i]) <= 1e-4 * lr * mag[i] + 1e-6 * fabs(theta[i]),
			      "parameter %llu: %.9g, by hand %.9g", (unsigned long long)i, got[i],
			      theta[i]);
	free(mag);
	h->model_free(h, c);
	forget_rows_free(all);
	forget_set_close(s);
	fixture_close(f);
}

/* The repair walks D_r whole: ceil(|D_r| / rows) steps an epoch. With a batch of all of D_r,
 * two epochs are two full-batch momentum steps, here taken again by hand on a clone of the
 * model from before: theta_1 = theta_0 - lr g_0, theta_2 = theta_1 - lr (mu g_0 + g_1). */
START_TEST(test_repair_steps)
{
	struct fixture f;
	struct forget_set s;
	const lethe_host *h = open_request(&f, &s);
	struct forget_rows all;
	lethe_model *c = h->model_clone(h, h->model(h));
	uint64_t steps;
	double ce;
	ck_assert_int_eq(repair_run(&s, 3, 16, 0.0, 0.9, 0.0, &steps, &ce), LETHE_OK);
	ck_assert_uint_eq(steps, 3 * ((s.num_retain + 15) / 16));

	const double lr[2] = { 0.05, 0.05 };
	retained_rows(&s, &all);
	double *mag = steps_by_hand(h, c, &s, &all, 2, lr, 0.9);
	ck_assert_int_eq(repair_run(&s, 2, all.n, lr[0], 0.9, 0.0, &steps, &ce), LETHE_OK);
	ck_assert_uint_eq(steps, 2);
	assert_by_hand_and_close(&f, &s, c, &all, mag, lr[0]);
}
END_TEST

/* A repair that keeps the forget half walks D_r: the retained halves of an epoch's steps hold
 * each retained sample once, whatever the walk's order. */
START_TEST(test_walk_covers_retained)
{
	struct fixture f;
	struct forget_set s;
	const lethe_host *h = open_request(&f, &s);
	struct forget_rows all, r;
	retained_rows(&s, &all);
	ck_assert_int_eq(forget_rows_init(&r, &s, 16), LETHE_OK);
	size_t n = (size_t)s.starts[s.learned], at = 0, seen = 0, steps = 0;
	size_t *walk = malloc(n * sizeof(size_t));
	char *used = calloc(all.n, 1);
	for (size_t i = 0; i < n; i++)
		walk[i] = i;
	forget_shuffle(h, walk, n);
	for (;;) {
		r.n = 0;
		ck_assert_int_eq(neggrad_add_retained(&r, &s, 16, walk, &at), LETHE_OK);
		if (r.n == 0)
			break;
		steps++;
		for (size_t i = 0; i < r.n; i++) {
			size_t j = 0;
			while (j < all.n && (used[j] || all.y[j] != r.y[i] ||
					     memcmp(all.x + j * s.dim, r.x + i * s.dim,
						    s.dim * sizeof(float))))
				j++;
			ck_assert_msg(j < all.n, "row %zu of step %zu is not a retained sample "
				      "left in the walk", i, steps);
			used[j] = 1;
			seen++;
		}
	}
	ck_assert_uint_eq(seen, all.n);
	ck_assert_uint_eq(steps, (all.n + 15) / 16);
	free(used);
	free(walk);
	forget_rows_free(&r);
	forget_rows_free(&all);
	forget_set_close(&s);
	fixture_close(&f);
}
END_TEST

/* The cosine schedule against its closed forms: lr at t = 0, lr / 2 half way, and at T - 1
 * lr sin²(π / 2T) (1 + cos x = 2 cos²(x / 2)), falling at every step; constant: lr. */
START_TEST(test_cosine_schedule)
{
	struct neggrad_phase ph = { .lr = 0.02, .cosine = 1 };
	const size_t T = 40;
	ck_assert(neggrad_lr(&ph, 0, T) == 0.02);
	ck_assert(fabs(neggrad_lr(&ph, T / 2, T) - 0.01) <= 4 * DBL_EPSILON * 0.02);
	double last = 0.02 * pow(sin(M_PI / (2.0 * T)), 2);
	ck_assert_msg(fabs(neggrad_lr(&ph, T - 1, T) - last) <= 1e-9 * last, "%.17g against %.17g",
		      neggrad_lr(&ph, T - 1, T), last);
	for (size_t t = 1; t < T; t++)
		ck_assert(neggrad_lr(&ph, t, T) < neggrad_lr(&ph, t - 1, T));
	ph.cosine = 0;
	for (size_t t = 0; t < T; t++)
		ck_assert(neggrad_lr(&ph, t, T) == 0.02);
}
END_TEST

/* A cosine repair without forget rows (alpha 1) and a batch of all of D_r: two
 * epochs are two full-batch momentum steps at lr and at lr (1 + cos(π / 2)) / 2 = lr / 2,
 * taken again by hand. */
START_TEST(test_cosine_repair_steps)
{
	struct fixture f;
	struct forget_set s;
	const lethe_host *h = open_request(&f, &s);
	struct forget_rows all;
	lethe_model *c = h->model_clone(h, h->model(h));
	retained_rows(&s, &all);
	const double lr[2] = { 0.05, 0.025 };
	double *mag = steps_by_hand(h, c, &s, &all, 2, lr, 0.9);
	const struct neggrad g = { .host = h };
	const struct neggrad_phase ph = { 2, 1, 0, lr[0], 0.9, 0.0, 1.0, 0.0, 1, 1 };
	uint64_t taken = 0;
	double ce_r, ce_f;
	ck_assert_int_eq(neggrad_train(&g, &s, all.n, &ph, &taken, &ce_r, &ce_f), LETHE_OK);
	ck_assert_uint_eq(taken, 2);
	assert_by_hand_and_close(&f, &s, c, &all, mag, lr[0]);
}
END_TEST

/* One forget-phase step (lr 1) from three fixtures learnt alike, so each draws the same rows:
 * unclipped, its step is minus the gradient g; clipped at |g| / 2 the same step halved;
 * clipped above |g| the same bits as unclipped. forget_step returns θ_after − θ_before and
 * θ_before in theta0. */
static float *forget_step(double clip, uint64_t *count, float **theta0)
{
	struct fixture f;
	struct forget_set s;
	const lethe_host *h = open_request(&f, &s);
	const struct neggrad g = { .host = h, .alpha = 0.5 };
	const struct neggrad_phase ph = { 1, 1, 8, 1.0, 0.0, 0.0, 0.5, clip, 0, 0 };
	const float *theta = h->model_params(h, h->model(h), count);
	float *step = malloc(*count * sizeof(float));
	*theta0 = malloc(*count * sizeof(float));
	memcpy(*theta0, theta, *count * sizeof(float));
	uint64_t taken = 0;
	double ce_r, ce_f;
	ck_assert_int_eq(neggrad_train(&g, &s, 8, &ph, &taken, &ce_r, &ce_f), LETHE_OK);
	ck_assert_uint_eq(taken, 1);
	for (uint64_t i = 0; i < *count; i++)
		step[i] = theta[i] - (*theta0)[i];
	forget_set_close(&s);
	fixture_close(&f);
	return step;
}

START_TEST(test_clip_bounds_step)
{
	uint64_t P, P2, P3;
	float *theta, *theta2, *theta3;
	float *plain = forget_step(0.0, &P, &theta);
	/* A step is θ − g rounded to float, then θ subtracted: off g by an ulp of θ at most. */
	double norm = 0.0, err = 0.0;
	for (uint64_t i = 0; i < P; i++) {
		norm += (double)plain[i] * plain[i];
		err += pow(FLT_EPSILON * fabs(theta[i]), 2);
	}
	norm = sqrt(norm);
	err = sqrt(err);
	ck_assert(norm > 100.0 * err);
	float *half = forget_step(norm / 2.0, &P2, &theta2);
	float *above = forget_step(2.0 * norm, &P3, &theta3);
	ck_assert_uint_eq(P2, P);
	ck_assert_uint_eq(P3, P);
	/* The clipped step's scale: |g| / 2 over the plugin's float sdot of g (relative error
	 * within P ε) and our |g| from rounded steps (within err / norm). */
	const double scale_err = (double)P * FLT_EPSILON + err / norm;
	for (uint64_t i = 0; i < P; i++) {
		ck_assert(theta2[i] == theta[i] && theta3[i] == theta[i]);
		ck_assert_msg(above[i] == plain[i], "parameter %llu: %.9g unclipped, %.9g under a "
			      "bound above |g|", (unsigned long long)i, plain[i], above[i]);
		double tol = 2.0 * FLT_EPSILON * (fabs(theta[i]) + fabs(plain[i])) +
			     fabs(plain[i]) * scale_err;
		ck_assert_msg(fabs(half[i] - plain[i] / 2.0) <= tol, "parameter %llu: step %.9g at "
			      "|g| / 2, %.9g unclipped", (unsigned long long)i, half[i], plain[i]);
	}
	free(plain);
	free(half);
	free(above);
	free(theta);
	free(theta2);
	free(theta3);
}
END_TEST

/* A gradient whose norm is not finite is refused, not scaled to nothing: a float sum of
 * squares past FLT_MAX, and a NaN. */
START_TEST(test_clip_refuses_nonfinite)
{
	struct fixture f;
	struct forget_set s;
	const lethe_host *h = open_request(&f, &s);
	float g[3] = { 1e20f, 1e20f, 1.0f };
	ck_assert_int_eq(neggrad_clip(h, g, 3, 15.0, 0.1), LETHE_ERR_NUMERIC);
	g[0] = NAN;
	ck_assert_int_eq(neggrad_clip(h, g, 3, 15.0, 0.1), LETHE_ERR_NUMERIC);
	float ok[2] = { 3.0f, 4.0f };
	ck_assert_int_eq(neggrad_clip(h, ok, 2, 15.0, 0.1), LETHE_OK);
	ck_assert(ok[0] == 3.0f && ok[1] == 4.0f);
	forget_set_close(&s);
	fixture_close(&f);
}
END_TEST

/* At the defaults; with the flood, cycled steps and a repair of D_r alone; with the complement
 * loss and a repair that keeps the forget half (8 forget rows a step); with the flood and a
 * cosine repair that keeps the forget half. A repair reports its
 * steps: epochs of ceil(|D_r| / 32), |D_r| = 240 - 40. */
static const char *const forget_params[] = {
	"",
	"flood = 2\nsteps = 6\nrepair_epochs = 3\n",
	"forget_loss = complement\nrepair_epochs = 2\nrepair_alpha = 0.9\n"
	"repair_forget_batch = 8\n",
	"flood = 2\nrepair_epochs = 2\nrepair_alpha = 0.9\nrepair_schedule = cosine\n",
};
static const double repair_epochs[] = { 0, 3, 2, 2 };

START_TEST(test_forgets_samples)
{
	struct fixture f;
	fixture_learn(&f, "neggrad", forget_params[_i], NULL);
	fixture_request_samples(&f, 1, 3);
	double before = fixture_forget_accuracy(&f), test0 = fixture_test_accuracy(&f);
	ck_assert_msg(fixture_unlearn(&f) == LETHE_OK, "%s", fixture_error(&f));
	double after = fixture_forget_accuracy(&f), test1 = fixture_test_accuracy(&f);
	ck_assert_msg(after <= before - 0.1, "D_f accuracy from %.3f to %.3f", before, after);
	ck_assert_msg(test1 >= test0 - 0.1, "test accuracy from %.3f to %.3f", test0, test1);
	double steps = fixture_reported(&f, "repair_steps");
	if (_i == 0)
		ck_assert(isnan(steps));
	else
		ck_assert_msg(steps == repair_epochs[_i] * ((240 - 40 + 31) / 32),
			      "repair steps %g", steps);
	fixture_close(&f);
}
END_TEST

/* A cosine schedule is for the repair that keeps the forget half; asked of the repair of D_r
 * alone, it is refused at creation rather than ignored. */
START_TEST(test_cosine_refused_alone)
{
	struct fixture f;
	ck_assert_int_eq(fixture_open(&f, "neggrad", "repair_epochs = 1\n"
				      "repair_schedule = cosine\n", NULL), -1);
	ck_assert_has(f.err.msg, "plugin neggrad: create failed: repair_schedule = cosine");
	ck_assert_has(f.err.msg, "set repair_alpha below 1");
	fixture_close(&f);
}
END_TEST

START_TEST(test_refuses_without_retain)
{
	struct fixture f;
	fixture_learn(&f, "neggrad", "", NULL);
	fixture_request_all(&f);
	ck_assert_int_eq(fixture_unlearn(&f), LETHE_ERR_INVALID);
	ck_assert_has(fixture_error(&f), "neggrad cannot serve this request (task 1, 240 samples)");
	fixture_close(&f);
}
END_TEST

static Suite *neggrad_suite(void)
{
	Suite *s = suite_create("neggrad");
	TCase *tc = tcase_create("neggrad");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_combined_gradient);
	tcase_add_test(tc, test_flood_turns_rows_above);
	tcase_add_test(tc, test_complement_gradient);
	tcase_add_test(tc, test_repair_steps);
	tcase_add_test(tc, test_walk_covers_retained);
	tcase_add_test(tc, test_cosine_schedule);
	tcase_add_test(tc, test_cosine_repair_steps);
	tcase_add_test(tc, test_clip_bounds_step);
	tcase_add_test(tc, test_clip_refuses_nonfinite);
	tcase_add_loop_test(tc, test_forgets_samples, 0, 4);
	tcase_add_test(tc, test_refuses_without_retain);
	tcase_add_test(tc, test_cosine_refused_alone);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(neggrad_suite());
}
