/* The scrub plugin: the gradients of its max and min losses with respect to the student's
 * logits against central differences, and a forget run on the fixture's synthetic data. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/services.h"
#include "forget_fixture.h"
#include "testutil.h"

#include "../plugins/scrub/scrub.c"

#define ROWS 3
#define NC 4

static double step_loss(int max, struct forget_rows *r, const struct forget_set *s,
			const float *teacher)
{
	return max ? scrub_max_dlogits(r, s, teacher, 2.5) :
		     scrub_min_dlogits(r, s, teacher, 2.5, 0.7, 0.9);
}

/* _i = 1 the max step's −T² KL, 0 the min step's γ CE + α T² KL. Differences of the loss (in
 * double from float logits) at a step h = 1/64 in one logit: the truncation, h²/6 times the
 * third derivative (a few units here), stays below 1e-4; dlogits are floats of values near 1. */
START_TEST(test_kl_gradient)
{
	float logits[ROWS * NC] = { 1.0f, -0.5f, 2.0f, 0.25f, -1.0f, 0.0f, 0.5f, 3.0f,
				   0.1f, 0.2f, -0.3f, 0.4f };
	const float teacher[ROWS * NC] = { 2.0f, 0.0f, 1.0f, -1.0f, 0.5f, 0.5f, -2.0f, 1.0f,
					  -0.5f, 1.5f, 0.0f, 0.25f };
	float dlogits[ROWS * NC], grad[ROWS * NC];
	int32_t y[ROWS] = { 2, 0, 3 };
	uint32_t task[ROWS] = { 0, 0, 0 };
	struct forget_set s = { .C = NC };
	struct forget_rows r = { .cap = ROWS, .n = ROWS, .logits = logits, .dlogits = dlogits,
				 .y = y, .task = task };
	step_loss(_i, &r, &s, teacher);
	memcpy(grad, dlogits, sizeof(grad));
	const float h = 1.0f / 64;
	for (int k = 0; k < ROWS * NC; k++) {
		float at = logits[k];
		logits[k] = at + h;
		double up = step_loss(_i, &r, &s, teacher);
		logits[k] = at - h;
		double down = step_loss(_i, &r, &s, teacher);
		logits[k] = at;
		double fd = (up - down) / (2.0 * h);
		ck_assert_msg(fabs(fd - grad[k]) <= 1e-4, "%s step, logit %d: gradient %.9g, "
			      "difference %.9g", _i ? "max" : "min", k, grad[k], fd);
	}
}
END_TEST

/* The KL of a student equal to its teacher is zero, whatever T. */
START_TEST(test_kl_zero_at_teacher)
{
	const float z[NC] = { 0.3f, -1.0f, 2.0f, 0.0f };
	float d[NC] = { 0 };
	ck_assert(fabs(kl_add(z, z, NC, NULL, 4.0, 1.0, d)) < 1e-12);
	for (int j = 0; j < NC; j++)
		ck_assert(fabsf(d[j]) < 1e-6f);
}
END_TEST

START_TEST(test_forgets_samples)
{
	struct fixture f;
	fixture_learn(&f, "scrub", "lr = 0.05\n", NULL);
	fixture_request_samples(&f, 1, 3);
	double before = fixture_forget_accuracy(&f), test0 = fixture_test_accuracy(&f);
	ck_assert_msg(fixture_unlearn(&f) == LETHE_OK, "%s", fixture_error(&f));
	double after = fixture_forget_accuracy(&f), test1 = fixture_test_accuracy(&f);
	ck_assert_msg(after <= before - 0.1, "D_f accuracy from %.3f to %.3f", before, after);
	ck_assert_msg(test1 >= test0 - 0.1, "test accuracy from %.3f to %.3f", test0, test1);
	fixture_close(&f);
}
END_TEST

static int params_all_finite(const struct fixture *f)
{
	for (size_t i = 0; i < f->e.model.num_params; i++)
		if (!isfinite(f->e.model.params[i]))
			return 0;
	return 1;
}

/* lr 10 with shrinks = 0: the max steps' ascent runs off, and that fails, as every run off did
 * before the step could shrink. */
START_TEST(test_runs_off_without_shrinks)
{
	struct fixture f;
	fixture_learn(&f, "scrub", "lr = 10\nforget_batch = 1\nshrinks = 0\n", NULL);
	fixture_request_samples(&f, 1, 3);
	ck_assert_int_eq(fixture_unlearn(&f), LETHE_ERR_NUMERIC);
	ck_assert_has(fixture_error(&f), "ran off (a loss or the parameters not finite) at lr = 10 "
		      "after 0 halvings");
	fixture_close(&f);
}
END_TEST

/* The same lr with the default shrinks: the step shrinks, the request finishes with finite
 * parameters, and the lr it ended at is 10 halved once per reported shrink. */
START_TEST(test_shrinks_instead_of_failing)
{
	struct fixture f;
	fixture_learn(&f, "scrub", "lr = 10\nforget_batch = 1\n", NULL);
	fixture_request_samples(&f, 1, 3);
	ck_assert_msg(fixture_unlearn(&f) == LETHE_OK, "%s", fixture_error(&f));
	ck_assert(params_all_finite(&f));
	double shrinks = fixture_reported(&f, "shrinks"), lr = fixture_reported(&f, "lr");
	ck_assert_msg(shrinks >= 1 && shrinks <= 10, "%g shrinks", shrinks);
	ck_assert_double_eq(lr, ldexp(10.0, -(int)shrinks));
	ck_assert(isfinite(fixture_test_accuracy(&f)));
	fixture_close(&f);
}
END_TEST

START_TEST(test_refuses_without_retain)
{
	struct fixture f;
	fixture_learn(&f, "scrub", "", NULL);
	fixture_request_all(&f);
	ck_assert_int_eq(fixture_unlearn(&f), LETHE_ERR_INVALID);
	ck_assert_has(fixture_error(&f), "scrub cannot serve this request (task 1, 240 samples)");
	fixture_close(&f);
}
END_TEST

static Suite *scrub_suite(void)
{
	Suite *s = suite_create("scrub");
	TCase *tc = tcase_create("scrub");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_loop_test(tc, test_kl_gradient, 0, 2);
	tcase_add_test(tc, test_kl_zero_at_teacher);
	tcase_add_test(tc, test_forgets_samples);
	tcase_add_test(tc, test_refuses_without_retain);
	tcase_add_test(tc, test_runs_off_without_shrinks);
	tcase_add_test(tc, test_shrinks_instead_of_failing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(scrub_suite());
}
