/* The l1sparse plugin: its step against the l1 subgradient worked by hand, the penalty's linear
 * decay, and a forget run on the fixture's synthetic data. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/services.h"
#include "forget_fixture.h"
#include "testutil.h"

#include "../plugins/l1sparse/l1sparse.c"

/* θ − lr (g + γ sign θ), sign 0 at 0; the norm returned is |θ|_1 before the step. */
START_TEST(test_subgradient_step)
{
	float theta[5] = { 1.5f, -0.25f, 0.0f, 2.0f, -3.0f };
	const float grad[5] = { 0.5f, 0.5f, -1.0f, 0.0f, 0.25f };
	const float want[5] = { 1.5f - 0.1f * (0.5f + 0.5f), -0.25f - 0.1f * (0.5f - 0.5f),
				0.0f - 0.1f * (-1.0f), 2.0f - 0.1f * 0.5f,
				-3.0f - 0.1f * (0.25f - 0.5f) };
	double norm = l1sparse_step(theta, grad, 5, 0.1f, 0.5f);
	ck_assert(fabs(norm - 6.75) < 1e-12);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(fabsf(theta[i] - want[i]) <= 1e-6f, "%d: %.9g, want %.9g", i,
			      theta[i], want[i]);
}
END_TEST

START_TEST(test_gamma_decays)
{
	ck_assert(l1sparse_gamma(0.5, 0, 10) == 0.5);
	ck_assert(fabs(l1sparse_gamma(0.5, 5, 10) - 0.25) < 1e-15);
	ck_assert(fabs(l1sparse_gamma(0.5, 9, 10) - 0.05) < 1e-15);
}
END_TEST

/* A penalty that pulls hard shrinks |θ|_1 below the model's before. */
START_TEST(test_penalty_shrinks)
{
	struct fixture f;
	fixture_learn(&f, "l1sparse", "gamma = 0.05\nlr = 0.05\n", NULL);
	fixture_request_samples(&f, 1, 3);
	double before = 0.0;
	for (size_t i = 0; i < f.e.model.num_params; i++)
		before += fabsf(f.e.model.params[i]);
	ck_assert_msg(fixture_unlearn(&f) == LETHE_OK, "%s", fixture_error(&f));
	double after = 0.0;
	for (size_t i = 0; i < f.e.model.num_params; i++)
		after += fabsf(f.e.model.params[i]);
	ck_assert_msg(after < 0.95 * before, "|theta|_1 from %.4g to %.4g", before, after);
	fixture_close(&f);
}
END_TEST

START_TEST(test_forgets_samples)
{
	struct fixture f;
	fixture_learn(&f, "l1sparse", "", NULL);
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
	fixture_learn(&f, "l1sparse", "", NULL);
	fixture_request_all(&f);
	ck_assert_int_eq(fixture_unlearn(&f), LETHE_ERR_INVALID);
	ck_assert_has(fixture_error(&f), "l1sparse cannot serve this request (task 1, 240 samples)");
	fixture_close(&f);
}
END_TEST

static Suite *l1sparse_suite(void)
{
	Suite *s = suite_create("l1sparse");
	TCase *tc = tcase_create("l1sparse");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_subgradient_step);
	tcase_add_test(tc, test_gamma_decays);
	tcase_add_test(tc, test_penalty_shrinks);
	tcase_add_test(tc, test_forgets_samples);
	tcase_add_test(tc, test_refuses_without_retain);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(l1sparse_suite());
}
