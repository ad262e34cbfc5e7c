/* The parts of icarl and bic tested apart from the host, against results worked out by hand:
 * herding's order on four points (which differs from the order of nearness to the mean), the
 * nearest-mean-of-exemplars scores, and BiC's correction, its gradient, its fit. Bad parameters are
 * refused by the catalogue (tests/bad_inputs/192-195). */
#include <check.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "../plugins/bic/correction.h"
#include "../plugins/common/exemplars.h"
#include "testutil.h"

/* Four unit vectors, a = (1, 0), b = (0, 1), c = (0.8, 0.6), d = (0.28, 0.96), given at other
 * lengths. Their mean is (0.52, 0.64); the squared distances worked out by hand: step 1 c
 * (0.08; d 0.16, b 0.40, a 0.64), step 2 d (0.02; b 0.04, a 0.26), step 3 a (0.044; b 0.071):
 * herding picks c, d, a, b, where nearness to the mean would pick c, d, b, a. */
START_TEST(test_herding_order)
{
	float f[8] = { 3, 0, 0, 0.5f, 1.6f, 1.2f, 0.028f, 0.096f };
	size_t order[4], want[4] = { 2, 3, 0, 1 };
	exemplars_normalize(f, 4, 2);
	ck_assert_float_eq_tol(f[0], 1.0f, 1e-6f);
	ck_assert_float_eq_tol(f[7], 0.96f, 1e-6f);
	ck_assert_uint_eq(exemplars_herd(f, 4, 2, 4, order), 4);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(order[i], want[i]);
	/* m below n: the first m of the same order. */
	ck_assert_uint_eq(exemplars_herd(f, 4, 2, 2, order), 2);
	ck_assert_uint_eq(order[0], 2);
	ck_assert_uint_eq(order[1], 3);
}
END_TEST

/* Class means (1, 0) and (0, 1), class 2 without exemplars. The row (3, 4) normalises to
 * (0.6, 0.8): distances sqrt(0.16 + 0.64) and sqrt(0.36 + 0.04); a zero row stays zero, at 1
 * from both unit means. */
START_TEST(test_nme_scores)
{
	const float f[4] = { 3, 4, 0, 0 }, means[6] = { 1, 0, 0, 1, 0, 0 };
	const uint8_t have[3] = { 1, 1, 0 };
	float row[2], s[6];
	exemplars_nme(f, 2, 2, means, have, 3, row, s);
	ck_assert_float_eq_tol(s[0], -sqrtf(0.8f), 1e-6f);
	ck_assert_float_eq_tol(s[1], -sqrtf(0.4f), 1e-6f);
	ck_assert(s[2] == -FLT_MAX);
	ck_assert_float_eq_tol(s[3], -1.0f, 1e-6f);
	ck_assert_float_eq_tol(s[4], -1.0f, 1e-6f);
	ck_assert(s[5] == -FLT_MAX);
}
END_TEST

/* Two corrections in order on (1, 2, 3): class 1 by 2 z + 1, class 2 by 0.5 z - 1. */
START_TEST(test_bic_correction)
{
	uint8_t c1[3] = { 0, 1, 0 }, c2[3] = { 0, 0, 1 };
	struct correction k[2] = { { c1, 2.0, 1.0 }, { c2, 0.5, -1.0 } };
	float z[6] = { 1, 2, 3, -1, 0, 4 };
	correction_apply(k, 2, 3, z, 2);
	const float want[6] = { 1, 5, 0.5f, -1, 1, 1 };
	for (int i = 0; i < 6; i++)
		ck_assert_float_eq_tol(z[i], want[i], 1e-6f);
}
END_TEST

/* correction_backward against central differences of correction_apply: two corrections, the
 * second over the first's class and one more, so one class takes the product of two α. The
 * corrections are affine, so the differences are exact up to float rounding of z ± h. */
START_TEST(test_bic_backward)
{
	uint8_t c1[3] = { 0, 1, 0 }, c2[3] = { 0, 1, 1 };
	struct correction k[2] = { { c1, 0.4, 1.0 }, { c2, 0.7, -0.5 } };
	const float z[3] = { 0.3f, -1.2f, 2.5f };
	float dz[3] = { 1, 1, 1 };
	const double h = 0.25;
	correction_backward(k, 2, 3, dz, 1);
	for (int j = 0; j < 3; j++) {
		float up[3], down[3];
		memcpy(up, z, sizeof(z));
		memcpy(down, z, sizeof(z));
		up[j] += (float)h;
		down[j] -= (float)h;
		correction_apply(k, 2, 3, up, 1);
		correction_apply(k, 2, 3, down, 1);
		double fd = (up[j] - down[j]) / (2 * h);
		ck_assert_double_eq_tol(dz[j], fd, 1e-5);
	}
	ck_assert_float_eq_tol(dz[1], 0.28f, 1e-6f); /* 0.4 · 0.7 */
}
END_TEST

static uint64_t counter;
static uint64_t fake_rng(const lethe_host *h)
{
	(void)h;
	return counter++ * 0x9e3779b97f4a7c15ull;
}

/* Two classes, class 1 the new one; rows (1, 2) of class 0 and (0, 1) of class 1; one batch
 * holding both, so the order does not matter. With p = σ(q1 − q0), the mean cross-entropy's
 * gradient is Σ_rows (p − [y = 1]) (z1, 1) / 2 for (α, β). Two steps of SGD with momentum μ
 * from (1, 0), worked here from that formula. */
START_TEST(test_bic_fit)
{
	const float z[4] = { 1, 2, 0, 1 };
	const int32_t y[2] = { 0, 1 };
	const uint8_t seen[2] = { 1, 1 };
	uint8_t cls[2] = { 0, 1 };
	struct correction k = { cls, 0, 0 };
	struct correction_data d = { z, y, NULL, NULL, seen, 2, 2 };
	lethe_host h = { .rng_u64 = fake_rng };
	size_t order[2];
	float q[4];
	double lr = 0.5, mu = 0.9, a = 1, b = 0, va = 0, vb = 0;
	for (int step = 0; step < 2; step++) {
		double ga = 0, gb = 0;
		for (int i = 0; i < 2; i++) {
			double p = 1.0 / (1.0 + exp(-(a * z[2 * i + 1] + b - z[2 * i])));
			ga += (p - y[i]) * z[2 * i + 1] / 2;
			gb += (p - y[i]) / 2;
		}
		va = step ? mu * va + ga : ga;
		vb = step ? mu * vb + gb : gb;
		a -= lr * va;
		b -= lr * vb;
	}
	correction_fit(&k, &d, &h, 2, 2, lr, mu, order, q);
	ck_assert_double_eq_tol(k.alpha, a, 1e-6);
	ck_assert_double_eq_tol(k.beta, b, 1e-6);
	ck_assert(fabs(a - 1.0) > 0.1); /* the fit moved */
}
END_TEST

static Suite *exemplars_suite(void)
{
	Suite *s = suite_create("exemplars");
	TCase *tc = tcase_create("exemplars");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_herding_order);
	tcase_add_test(tc, test_nme_scores);
	tcase_add_test(tc, test_bic_correction);
	tcase_add_test(tc, test_bic_backward);
	tcase_add_test(tc, test_bic_fit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(exemplars_suite());
}
