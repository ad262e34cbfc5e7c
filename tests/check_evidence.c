/* The evidence of forgetting against hand computations: the loss attack's AUC on a tiny
 * ranking with ties, KL and JS in closed form, Song & Mittal's features, and the attack's
 * logistic classifier on separable toy sets. */
#include <check.h>
#include <math.h>
#include <stdint.h>

#include "core/evidence.h"
#include "testutil.h"

/* Closed forms in double: a few roundings of a handful of logs and exps. */
#define EPS 1e-12

START_TEST(test_auc_ties)
{
	/* Pairs with a below b, ties half: 1 is below 2 and 3 (2), each 2 ties 2 and is below 3
	 * (1.5 + 1.5), 5 is below neither: 5 of the 8 pairs. */
	const double a[] = { 2, 5, 1, 2 }, b[] = { 3, 2 };
	double auc;
	ck_assert_int_eq(evidence_auc(a, 4, b, 2, &auc), 0);
	ck_assert_double_eq_tol(auc, 5.0 / 8.0, EPS);
	/* Swapping the sides complements it. */
	ck_assert_int_eq(evidence_auc(b, 2, a, 4, &auc), 0);
	ck_assert_double_eq_tol(auc, 3.0 / 8.0, EPS);
	/* All tied, infinities and NaN (as infinity) included: a coin. */
	const double inf[] = { INFINITY, NAN }, inf2[] = { INFINITY };
	ck_assert_int_eq(evidence_auc(inf, 2, inf2, 1, &auc), 0);
	ck_assert_double_eq_tol(auc, 0.5, EPS);
	/* Separated: 1 and 0. */
	const double lo[] = { 0.1, 0.2 }, hi[] = { 0.3, 7 };
	ck_assert_int_eq(evidence_auc(lo, 2, hi, 2, &auc), 0);
	ck_assert_double_eq(auc, 1.0);
	ck_assert_int_eq(evidence_auc(hi, 2, lo, 2, &auc), 0);
	ck_assert_double_eq(auc, 0.0);
	ck_assert_int_eq(evidence_auc(lo, 0, hi, 2, &auc), 0);
	ck_assert(isnan(auc));
}
END_TEST

START_TEST(test_divergence_closed_form)
{
	double lp[] = { log(0.5), log(0.5) }, lq[] = { log(0.25), log(0.75) };
	double kl, js, l2;
	evidence_divergence(lp, lq, 2, &kl, &js, &l2);
	ck_assert_double_eq_tol(kl, 0.5 * log(0.5 / 0.25) + 0.5 * log(0.5 / 0.75), EPS);
	double js_hand = 0.5 * (0.5 * log(0.5 / 0.375) + 0.5 * log(0.5 / 0.625)) +
			 0.5 * (0.25 * log(0.25 / 0.375) + 0.75 * log(0.75 / 0.625));
	ck_assert_double_eq_tol(js, js_hand, EPS);
	ck_assert_double_eq_tol(l2, sqrt(2 * 0.25 * 0.25), EPS);
	/* Identical outputs: all zero. */
	evidence_divergence(lp, lp, 2, &kl, &js, &l2);
	ck_assert_double_eq_tol(kl, 0, EPS);
	ck_assert_double_eq_tol(js, 0, EPS);
	ck_assert_double_eq(l2, 0);
	/* Disjoint supports (a masked class on each side): JS at its bound ln 2, KL infinite,
	 * distance sqrt 2. */
	double a[] = { 0, -INFINITY }, b[] = { -INFINITY, 0 };
	evidence_divergence(a, b, 2, &kl, &js, &l2);
	ck_assert(isinf(kl) && kl > 0);
	ck_assert_double_eq_tol(js, M_LN2, EPS);
	ck_assert_double_eq_tol(l2, M_SQRT2, EPS);
}
END_TEST

START_TEST(test_log_softmax_and_features)
{
	const float z[] = { 1.0f, 2.0f, 3.0f };
	const uint8_t mask[] = { 1, 0, 1 };
	double lp[3];
	ck_assert_int_eq(evidence_log_softmax(z, 3, mask, lp), 0);
	ck_assert_double_eq_tol(exp(lp[0]), 1 / (1 + exp(2.0)), EPS);
	ck_assert(lp[1] == -INFINITY);
	const float bad[] = { 1.0f, NAN, 0.0f };
	ck_assert_int_eq(evidence_log_softmax(bad, 3, NULL, lp), -1);

	double p[] = { log(0.7), log(0.2), log(0.1) }, f[EVIDENCE_FEATURES];
	evidence_features(p, 3, NULL, 1, f);
	ck_assert_double_eq(f[EVIDENCE_CORRECTNESS], 0);
	ck_assert_double_eq_tol(f[EVIDENCE_CONFIDENCE], 0.2, EPS);
	ck_assert_double_eq_tol(f[EVIDENCE_ENTROPY],
				-(0.7 * log(0.7) + 0.2 * log(0.2) + 0.1 * log(0.1)), EPS);
	ck_assert_double_eq_tol(f[EVIDENCE_M_ENTROPY],
				-0.8 * log(0.2) - 0.7 * log(0.3) - 0.1 * log(0.9), EPS);
	evidence_features(p, 3, NULL, 0, f);
	ck_assert_double_eq(f[EVIDENCE_CORRECTNESS], 1);
	/* Outputs not finite: a row that knows nothing of its two allowed classes. */
	evidence_features(NULL, 3, mask, 0, f);
	ck_assert_double_eq(f[EVIDENCE_CONFIDENCE], 0);
	ck_assert_double_eq_tol(f[EVIDENCE_ENTROPY], log(2.0), EPS);
	ck_assert_double_eq_tol(f[EVIDENCE_M_ENTROPY], -log(1e-30), EPS);
}
END_TEST

START_TEST(test_logit_separable)
{
	/* One feature at stride 2 (the other column noise): members low, non-members high. */
	const double x[] = { 0, 9, 1, -4, 2, 7, 3, 1, 10, 2, 11, -8, 12, 5, 13, 0 };
	const uint8_t member[] = { 1, 1, 1, 1, 0, 0, 0, 0 };
	const size_t first[] = { 0 }, both[] = { 0, 1 };
	struct evidence_logit c;
	ck_assert_int_eq(evidence_logit_fit(&c, x, 2, first, 1, member, 8), 0);
	for (size_t i = 0; i < 8; i++)
		ck_assert_int_eq(evidence_logit_member(&c, x + 2 * i, first), member[i]);
	ck_assert_int_eq(evidence_logit_member(&c, (const double[]){ 4, 0 }, first), 1);
	ck_assert_int_eq(evidence_logit_member(&c, (const double[]){ 9, 0 }, first), 0);
	/* The noise column does not undo it. */
	ck_assert_int_eq(evidence_logit_fit(&c, x, 2, both, 2, member, 8), 0);
	for (size_t i = 0; i < 8; i++)
		ck_assert_int_eq(evidence_logit_member(&c, x + 2 * i, both), member[i]);
	/* Same data, same weights: nothing random. */
	struct evidence_logit c2;
	ck_assert_int_eq(evidence_logit_fit(&c2, x, 2, both, 2, member, 8), 0);
	ck_assert_mem_eq(c.w, c2.w, sizeof(c.w));
	/* A constant feature says nothing: the bias alone, the majority (members, 3 of 5). */
	const double flat[] = { 1, 1, 1, 1, 1 };
	const uint8_t some[] = { 1, 0, 1, 0, 1 };
	ck_assert_int_eq(evidence_logit_fit(&c, flat, 1, first, 1, some, 5), 0);
	ck_assert_int_eq(evidence_logit_member(&c, flat, first), 1);
	ck_assert_int_eq(evidence_logit_fit(&c, flat, 1, first, 1, some, 0), -1);
}
END_TEST

static Suite *evidence_suite(void)
{
	Suite *s = suite_create("evidence");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_auc_ties);
	tcase_add_test(tc, test_divergence_closed_form);
	tcase_add_test(tc, test_log_softmax_and_features);
	tcase_add_test(tc, test_logit_separable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(evidence_suite());
}
