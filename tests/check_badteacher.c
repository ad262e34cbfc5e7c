/* The badteacher plugin: the incompetent teacher's weights drawn through the layer views on a
 * residual net (PyTorch's default bounds, batch norm reset), and a forget run on the fixture's
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

#include "../plugins/badteacher/badteacher.c"

/* Every dense and convolution weight and bias within ±1/√fan_in and spread over it (a uniform
 * draw's variance bound²/3), batch norm's gamma 1, beta 0, running means 0, variances 1. */
START_TEST(test_reinit_on_resnet)
{
	struct fixture f;
	fixture_learn(&f, "badteacher", "",
		      "layers = conv 4 k3 p1 nobias, bn, relu, res 4, res 6 s2, gap, dense");
	const lethe_host *h = &f.e.plugins[0].host;
	services_enter(&f.e.plugins[0].svc);
	lethe_model *m = h->model_clone(h, h->model(h));
	ck_assert_int_eq(badteacher_reinit(h, m), LETHE_OK);
	float *theta = h->model_params(h, m, NULL);
	uint64_t count;
	const float *state = h->model_state(h, m, &count);
	uint64_t at = 0;
	for (uint32_t l = 0; l < h->model_num_layers(h, m); l++) {
		lethe_layer ly = { .struct_size = sizeof(ly) };
		ck_assert_int_eq(h->model_layer(h, m, l, &ly), LETHE_OK);
		if (ly.kind == LETHE_LAYER_BATCHNORM) {
			for (uint64_t i = 0; i < ly.weight_count; i++) {
				ck_assert(theta[ly.weight_offset + i] == 1.0f);
				ck_assert(theta[ly.bias_offset + i] == 0.0f);
				ck_assert(state[at + i] == 0.0f);
				ck_assert(state[at + ly.weight_count + i] == 1.0f);
			}
			at += 2 * ly.weight_count;
			continue;
		}
		double fan_in = ly.kind == LETHE_LAYER_CONV2D ? ly.in_shape.c * ly.kernel * ly.kernel
							      : ly.in;
		double bound = 1.0 / sqrt(fan_in), sq = 0.0;
		for (uint64_t i = 0; i < ly.weight_count; i++) {
			float w = theta[ly.weight_offset + i];
			ck_assert_msg(fabs(w) <= bound, "layer %u: %g beyond %g", l, w, bound);
			sq += (double)w * w;
		}
		for (uint64_t i = 0; i < ly.bias_count; i++)
			ck_assert(fabs(theta[ly.bias_offset + i]) <= bound);
		/* The mean square of n uniform draws: within 5 standard errors of bound²/3
		 * (the square's variance is 4 bound⁴/45). */
		double n = (double)ly.weight_count, mean = sq / n, var = bound * bound / 3.0;
		ck_assert_msg(fabs(mean - var) <= 5.0 * sqrt(4.0 / 45.0 / n) * bound * bound,
			      "layer %u: mean square %g, want %g", l, mean, var);
	}
	ck_assert_uint_eq(at, count);
	h->model_free(h, m);
	fixture_close(&f);
}
END_TEST

START_TEST(test_forgets_samples)
{
	struct fixture f;
	fixture_learn(&f, "badteacher", "retain_fraction = 0.5\nepochs = 3\n", NULL);
	fixture_request_samples(&f, 1, 3);
	double before = fixture_forget_accuracy(&f), test0 = fixture_test_accuracy(&f);
	ck_assert_msg(fixture_unlearn(&f) == LETHE_OK, "%s", fixture_error(&f));
	double after = fixture_forget_accuracy(&f), test1 = fixture_test_accuracy(&f);
	ck_assert_msg(after <= before - 0.05, "D_f accuracy from %.3f to %.3f", before, after);
	ck_assert_msg(test1 >= test0 - 0.1, "test accuracy from %.3f to %.3f", test0, test1);
	fixture_close(&f);
}
END_TEST

START_TEST(test_refuses_without_retain)
{
	struct fixture f;
	fixture_learn(&f, "badteacher", "", NULL);
	fixture_request_all(&f);
	ck_assert_int_eq(fixture_unlearn(&f), LETHE_ERR_INVALID);
	ck_assert_has(fixture_error(&f), "badteacher cannot serve this request (task 1, 240 samples)");
	fixture_close(&f);
}
END_TEST

static Suite *badteacher_suite(void)
{
	Suite *s = suite_create("badteacher");
	TCase *tc = tcase_create("badteacher");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_reinit_on_resnet);
	tcase_add_test(tc, test_forgets_samples);
	tcase_add_test(tc, test_refuses_without_retain);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(badteacher_suite());
}
