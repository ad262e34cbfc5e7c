/* The neggrad plugin (NegGrad+): its combined gradient against the two halves' gradients taken
 * apart, and a forget run on the fixture's synthetic data: the forgotten samples' accuracy
 * falls, the test accuracy holds, a request that leaves no D_r is refused. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/services.h"
#include "forget_fixture.h"
#include "testutil.h"

#include "../plugins/neggrad/neggrad.c"

/* Rows 0..3 retained, 4..6 forget: one backward of neggrad_dlogits gives the parameters'
 * gradient α ∇CE_r − (1 − α) ∇CE_f, each half's gradient taken apart from its own rows with
 * dlogits (p − onehot)/n computed here in double. */
START_TEST(test_combined_gradient)
{
	struct fixture f;
	fixture_learn(&f, "neggrad", "", NULL);
	fixture_request_samples(&f, 1, 3);
	const lethe_host *h = &f.e.plugins[0].host;
	services_enter(&f.e.plugins[0].svc);
	struct forget_set s;
	struct forget_rows r, part;
	ck_assert_int_eq(forget_set_open(&s, h, &f.req), LETHE_OK);
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
	double loss = neggrad_dlogits(&r, &s, 4, alpha, &ce_r, &ce_f);
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

START_TEST(test_forgets_samples)
{
	struct fixture f;
	fixture_learn(&f, "neggrad", "", NULL);
	fixture_request_samples(&f, 1, 3);
	double before = fixture_forget_accuracy(&f), test0 = fixture_test_accuracy(&f);
	ck_assert_msg(fixture_unlearn(&f) == LETHE_OK, "%s", fixture_error(&f));
	double after = fixture_forget_accuracy(&f), test1 = fixture_test_accuracy(&f);
	ck_assert_msg(after <= before - 0.1, "D_f accuracy from %.3f to %.3f", before, after);
	ck_assert_msg(test1 >= test0 - 0.1, "test accuracy from %.3f to %.3f", test0, test1);
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
	tcase_add_test(tc, test_forgets_samples);
	tcase_add_test(tc, test_refuses_without_retain);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(neggrad_suite());
}
