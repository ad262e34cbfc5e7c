/* The salun plugin: its mask keeps exactly the top fraction of the weights by gradient
 * magnitude, random labels differ from the true ones, and a forget run on the fixture's
 * synthetic data. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/services.h"
#include "forget_fixture.h"
#include "testutil.h"

#include "../plugins/salun/salun.c"

/* floor(ratio n) weights kept for several ratios, each of them at least as large in |g| as
 * every weight left out; among equal magnitudes the earlier positions win. */
START_TEST(test_mask_top_fraction)
{
	enum { N = 1000 };
	float g[N];
	uint8_t mask[N];
	for (int i = 0; i < N; i++)
		g[i] = (float)((i * 7919) % 211 - 105) / 8.0f; /* many ties, both signs */
	const double ratios[] = { 0.0, 0.013, 0.5, 0.777, 1.0 };
	for (size_t k = 0; k < sizeof(ratios) / sizeof(ratios[0]); k++) {
		size_t want = (size_t)floor(ratios[k] * N), kept = salun_mask(g, N, ratios[k], mask);
		ck_assert_uint_eq(kept, want);
		size_t count = 0;
		float low = INFINITY, high = -INFINITY;
		int last_in = -1, first_out = N;
		for (int i = 0; i < N; i++) {
			count += mask[i];
			if (mask[i] && fabsf(g[i]) < low)
				low = fabsf(g[i]);
			if (!mask[i] && fabsf(g[i]) > high)
				high = fabsf(g[i]);
		}
		ck_assert_uint_eq(count, want);
		ck_assert_msg(want == 0 || want == N || low >= high, "kept down to %g, left %g",
			      low, high);
		/* At the threshold, the kept tie members come before the left ones. */
		for (int i = 0; i < N && want && want < N; i++) {
			if (fabsf(g[i]) != low || low != high)
				continue;
			if (mask[i])
				last_in = i;
			else if (first_out == N)
				first_out = i;
		}
		ck_assert(last_in < first_out);
	}
}
END_TEST

START_TEST(test_forgets_samples)
{
	struct fixture f;
	fixture_learn(&f, "salun", "", NULL);
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
	fixture_learn(&f, "salun", "", NULL);
	fixture_request_all(&f);
	ck_assert_int_eq(fixture_unlearn(&f), LETHE_ERR_INVALID);
	ck_assert_has(fixture_error(&f), "salun cannot serve this request (task 1, 240 samples)");
	fixture_close(&f);
}
END_TEST

static Suite *salun_suite(void)
{
	Suite *s = suite_create("salun");
	TCase *tc = tcase_create("salun");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_mask_top_fraction);
	tcase_add_test(tc, test_forgets_samples);
	tcase_add_test(tc, test_refuses_without_retain);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(salun_suite());
}
