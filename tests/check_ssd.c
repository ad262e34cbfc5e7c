/* The ssd plugin: its dampening factors against values worked by hand, and a forget run on the
 * fixture's synthetic data. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/services.h"
#include "forget_fixture.h"
#include "testutil.h"

#include "../plugins/ssd/ssd.c"

/* α = 10, λ = 1: dampened where f > 10 d, by min(d / f, 1); with λ = 50 a selected parameter
 * whose λ d / f exceeds 1 keeps its value. */
START_TEST(test_dampening_by_hand)
{
	float theta[6] = { 1.0f, -2.0f, 3.0f, 0.5f, 4.0f, -1.0f };
	const float f[6] = { 1.0f, 20.0f, 11.0f, 0.0f, 100.0f, 5.0f };
	const float d[6] = { 1.0f, 1.0f, 1.0f, 0.0f, 2.0f, 0.0f };
	/* 0: 1 > 10 no; 1: 20 > 10, beta 1/20; 2: 11 > 10, beta 1/11; 3: 0 > 0 no;
	 * 4: 100 > 20, beta 2/100; 5: 5 > 0, beta 0. */
	const float want[6] = { 1.0f, -0.1f, 3.0f / 11.0f, 0.5f, 0.08f, -0.0f };
	ck_assert_uint_eq(ssd_dampen(theta, f, d, 6, 10.0, 1.0), 4);
	for (int i = 0; i < 6; i++)
		ck_assert_msg(fabsf(theta[i] - want[i]) <= 1e-6f, "%d: %.9g, want %.9g", i,
			      theta[i], want[i]);
	float kept[2] = { 1.0f, 1.0f };
	const float f2[2] = { 20.0f, 200.0f }, d2[2] = { 1.0f, 1.0f };
	ck_assert_uint_eq(ssd_dampen(kept, f2, d2, 2, 10.0, 50.0), 2);
	ck_assert(kept[0] == 1.0f);
	ck_assert(fabsf(kept[1] - 0.25f) <= 1e-7f);
}
END_TEST

START_TEST(test_forgets_samples)
{
	struct fixture f;
	fixture_learn(&f, "ssd", "alpha = 1\nlambda = 0.5", NULL);
	fixture_request_samples(&f, 1, 3);
	double before = fixture_forget_accuracy(&f), test0 = fixture_test_accuracy(&f);
	ck_assert_msg(fixture_unlearn(&f) == LETHE_OK, "%s", fixture_error(&f));
	double after = fixture_forget_accuracy(&f), test1 = fixture_test_accuracy(&f);
	ck_assert_msg(after <= before - 0.05, "D_f accuracy from %.3f to %.3f", before, after);
	ck_assert_msg(test1 >= test0 - 0.1, "test accuracy from %.3f to %.3f", test0, test1);
	fixture_close(&f);
}
END_TEST

/* reference = retain needs D_r; full does not, but a request of every sample leaves D's
 * importance that of D_f, so nothing is dampened. */
START_TEST(test_refuses_without_retain)
{
	struct fixture f;
	fixture_learn(&f, "ssd", "reference = retain\n", NULL);
	fixture_request_all(&f);
	ck_assert_int_eq(fixture_unlearn(&f), LETHE_ERR_INVALID);
	ck_assert_has(fixture_error(&f), "ssd cannot serve this request (task 1, 240 samples)");
	fixture_close(&f);
}
END_TEST

static Suite *ssd_suite(void)
{
	Suite *s = suite_create("ssd");
	TCase *tc = tcase_create("ssd");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_dampening_by_hand);
	tcase_add_test(tc, test_forgets_samples);
	tcase_add_test(tc, test_refuses_without_retain);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(ssd_suite());
}
