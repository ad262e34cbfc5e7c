/* The model suite: the MLP's forward and backward, softmax cross-entropy, SGD, determinism, and
 * that steady-state training allocates nothing. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "model/loss.h"
#include "model/model.h"
#include "model/parallel.h"
#include "model/sgd.h"
#include "alloc_hook.h"
#include "testutil.h"


static void init_model(struct model *m, const size_t *sizes, size_t n, uint64_t seed)
{
	struct error e;
	struct rng r;
	ck_assert_int_eq(testutil_mlp(m, sizes, n, &e), 0);
	rng_seed(&r, seed, 0);
	model_init_params(m, MODEL_INIT_HE, &r);
}

static float *random_inputs(size_t count, uint64_t seed)
{
	struct rng r;
	float *x = malloc(count * sizeof(float));
	rng_seed(&r, seed, 1);
	for (size_t i = 0; i < count; i++)
		x[i] = (float)rng_uniform(&r);
	return x;
}

static int32_t *random_labels(size_t n, size_t classes, uint64_t seed)
{
	struct rng r;
	int32_t *y = malloc(n * sizeof(int32_t));
	rng_seed(&r, seed, 2);
	for (size_t i = 0; i < n; i++)
		y[i] = (int32_t)rng_below(&r, classes);
	return y;
}

static void assert_close(const float *got, const double *want, size_t n, double tol)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(fabs(got[i] - want[i]) <= tol, "[%zu]: got %.9g, want %.9g", i,
			      (double)got[i], want[i]);
}

/* A 3-2-2 network small enough to run by hand; the second row hits ReLU's flat side. */
static const size_t tiny_sizes[] = {3, 2, 2};
static const float tiny_params[] = {
	1.0f, -1.0f, 0.5f, 0.5f, 2.0f, -1.0f, /* W0 */
	0.1f, -0.2f,                          /* b0 */
	1.0f, 2.0f, -1.0f, 0.5f,              /* W1 */
	0.5f, -0.5f,                          /* b1 */
};
static const float tiny_x[] = {1, 2, 3, 2, 0, 1};

static void tiny_model(struct model *m)
{
	struct error e;
	ck_assert_int_eq(testutil_mlp(m, tiny_sizes, 3, &e), 0);
	ck_assert_uint_eq(m->num_params, sizeof(tiny_params) / sizeof(float));
	memcpy(m->params, tiny_params, sizeof(tiny_params));
}

/* The tiny network in double, for the float pass's rounding bounds; dlogits (exact) backward. */
static void tiny_reference(struct ref_mlp *r, double *theta, const float *dlogits)
{
	double x[6], dl[4], exact[4] = {0};
	for (size_t i = 0; i < 14; i++)
		theta[i] = tiny_params[i];
	for (size_t i = 0; i < 6; i++)
		x[i] = tiny_x[i];
	ref_mlp_init(r, tiny_sizes, 3, 2);
	ref_mlp_forward(r, theta, x, NULL);
	for (size_t i = 0; dlogits && i < 4; i++)
		dl[i] = dlogits[i];
	if (dlogits)
		ref_mlp_backward(r, theta, dl, exact);
}

/* got against values worked by hand, within the float pass's bound plus 1e-8 for the hand's
 * decimals (0.1 and -0.2 for the floats nearest them). */
static void assert_by_hand(const float *got, const double *want, const double *bound, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(fabs(got[i] - want[i]) <= bound[i] + 1e-8,
			      "[%zu]: got %.9g, want %.9g", i, (double)got[i], want[i]);
}

START_TEST(test_forward_by_hand)
{
	struct model m;
	struct error e;
	struct ref_mlp r;
	double theta[14];
	float logits[4];
	tiny_model(&m);
	tiny_reference(&r, theta, NULL);
	ck_assert_uint_eq(model_inputs(&m), 3);
	ck_assert_uint_eq(model_outputs(&m), 2);
	ck_assert_int_eq(model_forward(&m, tiny_x, 2, logits, &e), 0);
	/* h = relu(W0 x + b0): (0.6, 1.3) and (2.6, relu(-0.2) = 0) */
	assert_by_hand(testutil_view(&m, 1).input, (const double[]){0.6, 1.3, 2.6, 0.0}, r.ea[1], 4);
	assert_by_hand(logits, (const double[]){3.7, -0.45, 3.1, -3.1}, r.ez[1], 4);
	ck_assert_ptr_eq(testutil_view(&m, 0).input, tiny_x);
	ck_assert_uint_eq(m.rows, 2);
	model_free(&m);
	ref_mlp_free(&r);
}
END_TEST

/* The most dense layers an MLP's description holds. */
#define DENSE_MAX ((MODEL_ITEMS_MAX + 1) / 2)

START_TEST(test_init_errors)
{
	struct model m;
	struct error e;
	size_t sizes[DENSE_MAX + 2] = {4, 3, 2};
	sizes[1] = 0;
	ck_assert_int_eq(testutil_mlp(&m, sizes, 3, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "out of range"));
	for (size_t i = 0; i < DENSE_MAX + 2; i++)
		sizes[i] = 2;
	ck_assert_int_eq(testutil_mlp(&m, sizes, DENSE_MAX + 2, &e), -1);
	ck_assert_int_eq(testutil_mlp(&m, sizes, DENSE_MAX + 1, &e), 0);
	ck_assert_uint_eq(model_num_views(&m), DENSE_MAX);
	model_free(&m);
}
END_TEST

START_TEST(test_layout)
{
	static const size_t sizes[] = {5, 4, 3};
	struct model m;
	struct error e;
	ck_assert_int_eq(testutil_mlp(&m, sizes, 3, &e), 0);
	ck_assert_uint_eq(m.num_params, 5 * 4 + 4 + 4 * 3 + 3);
	ck_assert_uint_eq(testutil_view(&m, 0).weight_offset, 0);
	ck_assert_uint_eq(testutil_view(&m, 0).bias_offset, 20);
	ck_assert_uint_eq(testutil_view(&m, 1).weight_offset, 24);
	ck_assert_uint_eq(testutil_view(&m, 1).bias_offset, 36);
	model_free(&m);
}
END_TEST

START_TEST(test_he_init)
{
	static const size_t sizes[] = {1000, 400, 10};
	struct model m;
	init_model(&m, sizes, 3, 7);
	for (size_t l = 0; l < model_num_views(&m); l++) {
		struct model_view v = testutil_view(&m, l), *ly = &v;
		size_t count = ly->in * ly->out;
		double sum = 0.0, sq = 0.0;
		for (size_t i = 0; i < count; i++) {
			sum += m.params[ly->weight_offset + i];
			sq += (double)m.params[ly->weight_offset + i] * m.params[ly->weight_offset + i];
		}
		double var = 2.0 / (double)ly->in, mean = sum / (double)count;
		ck_assert_double_le(fabs(mean), 5.0 * sqrt(var / (double)count));
		ck_assert_double_le(fabs(sq / (double)count - var), 0.1 * var);
		for (size_t j = 0; j < ly->out; j++)
			ck_assert_float_eq(m.params[ly->bias_offset + j], 0.0f);
	}
	model_free(&m);
}
END_TEST

START_TEST(test_clone)
{
	static const size_t sizes[] = {6, 5, 4};
	struct model a, b;
	struct error e;
	init_model(&a, sizes, 3, 3);
	a.grads[0] = 1.0f;
	ck_assert_int_eq(model_clone(&b, &a, &e), 0);
	ck_assert_uint_eq(model_num_views(&b), 2);
	ck_assert_uint_eq(b.num_params, a.num_params);
	ck_assert_uint_eq(b.capacity, 0);
	ck_assert_ptr_ne(b.params, a.params);
	ck_assert_mem_eq(b.params, a.params, a.num_params * sizeof(float));
	ck_assert_float_eq(b.grads[0], 0.0f);
	for (size_t l = 0; l < 2; l++) {
		ck_assert_uint_eq(testutil_view(&b, l).in, testutil_view(&a, l).in);
		ck_assert_uint_eq(testutil_view(&b, l).out, testutil_view(&a, l).out);
	}
	model_free(&a);
	model_free(&b);
}
END_TEST

START_TEST(test_empty_batch)
{
	struct model m;
	struct error e;
	tiny_model(&m);
	m.grads[0] = 1.0f;
	ck_assert_int_eq(model_forward(&m, tiny_x, 0, NULL, &e), 0);
	model_backward(&m, NULL);
	for (size_t i = 0; i < m.num_params; i++)
		ck_assert_float_eq(m.grads[i], 0.0f);
	model_free(&m);
}
END_TEST

/* The float pass against the double reference of testutil.h (written apart from the model): a
 * 7-18-5-3 network (18 is wider than the model's elementwise blocks), He weights and small
 * random biases, on FD_ROWS samples, after forward, loss and backward. */
#define FD_ROWS 4
#define FD_CLASSES 3

struct fd_case {
	struct model m;
	float *x, logits[FD_ROWS * FD_CLASSES], dlogits[FD_ROWS * FD_CLASSES];
	int32_t *y;
	double *theta, *xd, loss;
	/* The reference at the fixture, its dL/dlogits and their bounds, its loss's bound. */
	struct ref_mlp ref;
	double dl[FD_ROWS * FD_CLASSES], edl[FD_ROWS * FD_CLASSES], eloss;
};

static void fd_setup(struct fd_case *c)
{
	static const size_t sizes[] = {7, 18, 5, FD_CLASSES};
	struct error e;
	struct rng r;
	init_model(&c->m, sizes, 4, 11);
	rng_seed(&r, 11, 3);
	for (size_t l = 0; l < model_num_views(&c->m); l++) {
		struct model_view v = testutil_view(&c->m, l);
		for (size_t j = 0; j < v.out; j++)
			c->m.params[v.bias_offset + j] = (float)(0.1 * rng_normal(&r));
	}
	c->x = random_inputs(FD_ROWS * 7, 11);
	c->y = random_labels(FD_ROWS, FD_CLASSES, 11);
	c->theta = malloc(c->m.num_params * sizeof(double));
	for (size_t i = 0; i < c->m.num_params; i++)
		c->theta[i] = c->m.params[i];
	c->xd = malloc(FD_ROWS * 7 * sizeof(double));
	for (size_t i = 0; i < FD_ROWS * 7; i++)
		c->xd[i] = c->x[i];
	ck_assert_int_eq(model_forward(&c->m, c->x, FD_ROWS, c->logits, &e), 0);
	c->loss = loss_softmax_ce(c->logits, FD_ROWS, FD_CLASSES, c->y, NULL, c->dlogits);
	model_backward(&c->m, c->dlogits);

	ref_mlp_init(&c->ref, sizes, 4, FD_ROWS);
	ck_assert_uint_eq(c->ref.num_params, c->m.num_params);
	ref_mlp_forward(&c->ref, c->theta, c->xd, NULL);
	/* Every unit is farther from its kink than rounding can move it, so every gradient below
	 * is held to its float bound (the fixture is computed in double: no kernel changes it). */
	ck_assert_uint_eq(c->ref.num_ambiguous, 0);
	double want = ref_mlp_ce(&c->ref, c->y, NULL, 1.0 / FD_ROWS, c->dl, c->edl, &c->eloss);
	ck_assert_msg(fabs(c->loss - want) <= c->eloss, "loss %.9g, reference %.9g, bound %g",
		      c->loss, want, c->eloss);
	ref_mlp_backward(&c->ref, c->theta, c->dl, c->edl);
}

static void fd_teardown(struct fd_case *c)
{
	model_free(&c->m);
	ref_mlp_free(&c->ref);
	free(c->x);
	free(c->xd);
	free(c->y);
	free(c->theta);
}

/* The step of the central differences, in double on the reference with the fixture's ReLU masks
 * kept (the loss is then smooth along every step). Their error (ref_fd_error) is some 1e-11,
 * thousands of times below the float bounds they are compared within. */
#define FD_H 0x1p-20

/* The reference's loss with the fixture's masks, and the central difference's error bound
 * from the logits' slope along the step: a row's log-sum-exp has a third derivative of at most
 * twice the cube of its largest slope (the third central moment of the slopes under softmax). */
static double fd_loss(struct fd_case *c, struct ref_mlp *pass)
{
	double dl[FD_ROWS * FD_CLASSES], edl[FD_ROWS * FD_CLASSES], unused;
	ref_mlp_forward(pass, c->theta, c->xd, &c->ref);
	return ref_mlp_ce(pass, c->y, NULL, 1.0 / FD_ROWS, dl, edl, &unused);
}

static double fd_error(struct fd_case *c, const struct ref_mlp *up, const struct ref_mlp *down)
{
	double third = 0.0;
	for (size_t r = 0; r < FD_ROWS; r++)
		third += 2.0 * pow(ref_mlp_slope(up, down, FD_H, r), 3) / FD_ROWS;
	return ref_fd_error(FD_H, third, c->eloss);
}

/* Every dL/dθ of the float backward against central differences of the reference's loss, within
 * the float pass's bound; the reference's own backward, which made that bound, agrees too. */
START_TEST(test_gradient_finite_difference)
{
	static const size_t sizes[] = {7, 18, 5, FD_CLASSES};
	struct fd_case c;
	struct ref_mlp up, down;
	fd_setup(&c);
	ref_mlp_init(&up, sizes, 4, FD_ROWS);
	ref_mlp_init(&down, sizes, 4, FD_ROWS);
	for (size_t i = 0; i < c.m.num_params; i++) {
		double keep = c.theta[i];
		c.theta[i] = keep + FD_H;
		double plus = fd_loss(&c, &up);
		c.theta[i] = keep - FD_H;
		double minus = fd_loss(&c, &down);
		c.theta[i] = keep;
		double fd = (plus - minus) / (2 * FD_H), err = fd_error(&c, &up, &down);
		ck_assert_msg(fabs(c.m.grads[i] - fd) <= c.ref.egrad[i] + err,
			      "grad[%zu]: backward %.9g, finite difference %.9g, bound %g", i,
			      (double)c.m.grads[i], fd, c.ref.egrad[i] + err);
		ck_assert_msg(fabs(c.ref.grad[i] - fd) <= err + ldexp(c.ref.egrad[i], -29),
			      "grad[%zu]: the reference's %.12g, finite difference %.12g", i,
			      c.ref.grad[i], fd);
	}
	ref_mlp_free(&up);
	ref_mlp_free(&down);
	fd_teardown(&c);
}
END_TEST

/* What plugins read after backward: act[l] is layer l's input, delta[l] is dL/dz of layer l
 * row by row (central differences of the reference nudging that z), and together they give the
 * weight gradient as Σ_n δ_n a_nᵀ, each within its float bound. */
START_TEST(test_gradient_deltas)
{
	static const size_t sizes[] = {7, 18, 5, FD_CLASSES};
	struct fd_case c;
	struct ref_mlp up, down;
	fd_setup(&c);
	ref_mlp_init(&up, sizes, 4, FD_ROWS);
	ref_mlp_init(&down, sizes, 4, FD_ROWS);
	ck_assert_ptr_eq(testutil_view(&c.m, 0).input, c.x);
	for (size_t l = 0; l < model_num_views(&c.m); l++) {
		struct model_view v = testutil_view(&c.m, l), *ly = &v;
		for (size_t i = 0; i < FD_ROWS * ly->in; i++)
			ck_assert_msg(fabs(testutil_view(&c.m, l).input[i] - c.ref.a[l][i]) <= c.ref.ea[l][i],
				      "act[%zu][%zu] = %.9g, reference %.9g", l, i,
				      (double)testutil_view(&c.m, l).input[i], c.ref.a[l][i]);
		for (size_t i = 0; i < FD_ROWS * ly->out; i++) {
			up.nudge_layer = down.nudge_layer = l;
			up.nudge_at = down.nudge_at = i;
			up.nudge = FD_H;
			down.nudge = -FD_H;
			double fd = (fd_loss(&c, &up) - fd_loss(&c, &down)) / (2 * FD_H);
			double bound = c.ref.edelta[l][i] + fd_error(&c, &up, &down);
			ck_assert_msg(fabs(testutil_view(&c.m, l).delta[i] - fd) <= bound,
				      "delta[%zu][%zu]: backward %.9g, finite difference %.9g, "
				      "bound %g", l, i, (double)testutil_view(&c.m, l).delta[i], fd, bound);
		}
		/* One GEMM over the rows of float inputs: gamma(rows) of the magnitudes. */
		for (size_t j = 0; j < ly->out; j++)
			for (size_t k = 0; k < ly->in; k++) {
				double s = 0.0, mag = 0.0;
				for (size_t r = 0; r < FD_ROWS; r++) {
					double t = (double)testutil_view(&c.m, l).delta[r * ly->out + j] *
						   testutil_view(&c.m, l).input[r * ly->in + k];
					s += t;
					mag += fabs(t);
				}
				ck_assert_double_le(fabs(c.m.grads[ly->weight_offset + j * ly->in + k] - s),
						    ref_gamma(FD_ROWS) * mag);
			}
	}
	for (size_t i = 0; i < FD_ROWS * FD_CLASSES; i++)
		ck_assert_float_eq(testutil_view(&c.m, 2).delta[i], c.dlogits[i]);
	ref_mlp_free(&up);
	ref_mlp_free(&down);
	fd_teardown(&c);
}
END_TEST

START_TEST(test_backward_by_hand)
{
	struct model m;
	struct error e;
	struct ref_mlp r;
	double theta[14];
	float logits[4];
	const float dlogits[] = {1, 0, 0, 1};
	tiny_model(&m);
	tiny_reference(&r, theta, dlogits);
	ck_assert_int_eq(model_forward(&m, tiny_x, 2, logits, &e), 0);
	model_backward(&m, dlogits);
	/* delta0 = (dlogits W1) masked by h > 0 = ((1, 2), (-1, 0)) */
	assert_by_hand(testutil_view(&m, 0).delta, (const double[]){1, 2, -1, 0}, r.edelta[0], 4);
	assert_by_hand(m.grads, (const double[]){-1, 2, 2, 2, 4, 6, 0, 2}, r.egrad, 8);
	assert_by_hand(m.grads + 8, (const double[]){0.6, 1.3, 2.6, 0, 1, 1}, r.egrad + 8, 6);
	model_free(&m);
	ref_mlp_free(&r);
}
END_TEST

START_TEST(test_loss_by_hand)
{
	const float logits[] = {1, 2, 3, 0, 0, 0};
	const int32_t y[] = {2, 0};
	float d[6];
	/* row 0: p = softmax(1, 2, 3), CE = log(1 + e^-1 + e^-2); row 1: CE = log 3 */
	double want = (log(1 + exp(-1.0) + exp(-2.0)) + log(3.0)) / 2;
	ck_assert_double_eq_tol(loss_softmax_ce(logits, 2, 3, y, NULL, d), want, 1e-9);
	double p0 = 1 / (1 + exp(1.0) + exp(2.0)), p1 = exp(1.0) * p0, p2 = exp(2.0) * p0;
	double third = 1.0 / 3;
	assert_close(d, (const double[]){p0 / 2, p1 / 2, (p2 - 1) / 2, (third - 1) / 2,
					 third / 2, third / 2},
		     6, 1e-7);
	ck_assert_double_eq_tol(loss_softmax_ce(logits, 2, 3, y, NULL, NULL), want, 1e-9);
}
END_TEST

START_TEST(test_loss_stable)
{
	const float logits[] = {1000, 1000, -1000, 0};
	const int32_t y[] = {0, 1};
	float d[4];
	double loss = loss_softmax_ce(logits, 2, 2, y, NULL, d);
	ck_assert_double_eq_tol(loss, log(2.0) / 2, 1e-9);
	assert_close(d, (const double[]){-0.25, 0.25, 0, 0}, 4, 1e-7);
}
END_TEST

START_TEST(test_loss_masked)
{
	/* Class 0 is masked out, with a logit that would overflow exp if it counted. */
	const float logits[] = {1000, 1, 2, 3, 7, 5, 4, 1};
	const uint8_t allow[] = {0, 1, 0, 1};
	const uint8_t *mask[] = {allow, allow};
	const int32_t y[] = {3, 1};
	float d[8];
	double loss = loss_softmax_ce(logits, 2, 4, y, mask, d);
	/* CE over classes {1, 3} only: row 0 logits (1, 3), row 1 (5, 1) */
	double want = (log(1 + exp(-2.0)) + log(1 + exp(-4.0))) / 2;
	ck_assert_double_eq_tol(loss, want, 1e-9);
	double q0 = 1 / (1 + exp(2.0)), q1 = 1 / (1 + exp(-4.0));
	assert_close(d, (const double[]){0, q0 / 2, 0, -q0 / 2,
					 0, (q1 - 1) / 2, 0, (1 - q1) / 2},
		     8, 1e-7);
	for (size_t i = 0; i < 8; i += 2)
		ck_assert_float_eq(d[i], 0.0f);

	const int32_t masked_label[] = {2, 1};
	ck_assert(isinf(loss_softmax_ce(logits, 2, 4, masked_label, mask, NULL)));
}
END_TEST

START_TEST(test_argmax)
{
	const float row[] = {1, 5, 2, 5, 3};
	const uint8_t odd[] = {0, 1, 0, 1, 0}, even[] = {1, 0, 1, 0, 1}, none[5] = {0};
	ck_assert_int_eq(loss_argmax(row, 5, NULL), 1);
	ck_assert_int_eq(loss_argmax(row, 5, odd), 1);
	ck_assert_int_eq(loss_argmax(row, 5, even), 4);
	ck_assert_int_eq(loss_argmax(row, 5, none), -1);
	const float ties[] = {-2, -2, -2};
	ck_assert_int_eq(loss_argmax(ties, 3, NULL), 0);
}
END_TEST

START_TEST(test_sgd_plain)
{
	struct sgd o;
	struct error e;
	float w[] = {1.0f, -2.0f};
	const float g[] = {0.5f, 0.25f};
	ck_assert_int_eq(sgd_init(&o, 2, 0.1, 0.0, 0.0, &e), 0);
	ck_assert_ptr_null(o.velocity);
	sgd_step(&o, w, g, 2);
	assert_close(w, (const double[]){0.95, -2.025}, 2, 1e-6);
	sgd_step(&o, w, g, 2);
	assert_close(w, (const double[]){0.9, -2.05}, 2, 1e-6);
	sgd_free(&o);
}
END_TEST

START_TEST(test_sgd_momentum)
{
	struct sgd o;
	struct error e;
	float w[] = {1.0f, -2.0f};
	const float g1[] = {0.5f, 0.25f}, g2[] = {-1.0f, 1.0f};
	ck_assert_int_eq(sgd_init(&o, 2, 0.1, 0.9, 0.0, &e), 0);
	/* first step: v = g */
	sgd_step(&o, w, g1, 2);
	assert_close(o.velocity, (const double[]){0.5, 0.25}, 2, 1e-6);
	assert_close(w, (const double[]){0.95, -2.025}, 2, 1e-6);
	/* v = 0.9 v + g2 = (-0.55, 1.225) */
	sgd_step(&o, w, g2, 2);
	assert_close(o.velocity, (const double[]){-0.55, 1.225}, 2, 1e-6);
	assert_close(w, (const double[]){1.005, -2.1475}, 2, 1e-6);
	/* started cleared: the next step starts the velocity afresh */
	o.started = 0;
	sgd_step(&o, w, g1, 2);
	assert_close(o.velocity, (const double[]){0.5, 0.25}, 2, 1e-6);
	sgd_free(&o);
}
END_TEST

START_TEST(test_sgd_weight_decay)
{
	struct sgd o;
	struct error e;
	float w[] = {1.0f, -2.0f};
	const float g[] = {0.5f, 0.25f};
	/* g' = g + 0.1 w = (0.6, 0.05) */
	ck_assert_int_eq(sgd_init(&o, 2, 0.1, 0.0, 0.1, &e), 0);
	sgd_step(&o, w, g, 2);
	assert_close(w, (const double[]){0.94, -2.005}, 2, 1e-6);
	sgd_free(&o);

	/* with momentum: v1 = (0.6, 0.05), w1 = (0.94, -2.005); g' = (0.594, 0.0495),
	 * v2 = 0.5 v1 + g' = (0.894, 0.0745), w2 = (0.8506, -2.01245) */
	float u[] = {1.0f, -2.0f};
	ck_assert_int_eq(sgd_init(&o, 2, 0.1, 0.5, 0.1, &e), 0);
	sgd_step(&o, u, g, 2);
	sgd_step(&o, u, g, 2);
	assert_close(o.velocity, (const double[]){0.894, 0.0745}, 2, 1e-6);
	assert_close(u, (const double[]){0.8506, -2.01245}, 2, 1e-6);
	sgd_free(&o);
}
END_TEST

/* Enough parameters for whole blocks and a remainder, against the update done in double. */
START_TEST(test_sgd_many)
{
	enum { count = 37 };
	struct sgd o;
	struct error e;
	struct rng r;
	float w[count], g[count];
	double want_w[count], want_v[count];
	rng_seed(&r, 8, 0);
	for (size_t i = 0; i < count; i++) {
		w[i] = (float)rng_normal(&r);
		want_w[i] = w[i];
	}
	ck_assert_int_eq(sgd_init(&o, count, 0.1, 0.9, 0.01, &e), 0);
	for (int step = 0; step < 3; step++) {
		for (size_t i = 0; i < count; i++) {
			g[i] = (float)rng_normal(&r);
			double gi = g[i] + 0.01 * want_w[i];
			want_v[i] = step ? 0.9 * want_v[i] + gi : gi;
			want_w[i] -= 0.1 * want_v[i];
		}
		sgd_step(&o, w, g, count);
	}
	assert_close(o.velocity, want_v, count, 1e-5);
	assert_close(w, want_w, count, 1e-5);
	sgd_free(&o);
}
END_TEST

/* Split between 2 and 3 threads, the step is the closed form's and, being element-wise, the
 * unsplit step's bit for bit; the first step starts the velocity from zero. */
START_TEST(test_sgd_threads)
{
	enum { count = 53 };
	struct error e;
	struct rng r;
	float w0[count], g[count], want[count];
	rng_seed(&r, 9, 0);
	for (size_t i = 0; i < count; i++) {
		w0[i] = (float)rng_normal(&r);
		g[i] = (float)rng_normal(&r);
	}
	for (size_t threads = 2; threads <= 3; threads++) {
		struct parallel *p = parallel_create(threads, &e);
		ck_assert_ptr_nonnull(p);
		struct sgd a, b;
		float w[count], u[count];
		memcpy(w, w0, sizeof(w));
		memcpy(u, w0, sizeof(u));
		ck_assert_int_eq(sgd_init(&a, count, 0.1, 0.9, 0.01, &e), 0);
		ck_assert_int_eq(sgd_init(&b, count, 0.1, 0.9, 0.01, &e), 0);
		/* Velocity left from elsewhere: the first step ignores it. */
		for (size_t i = 0; i < count; i++)
			a.velocity[i] = 7.0f;
		for (int step = 0; step < 2; step++) {
			sgd_step_threads(&a, p, w, g, 3, count - 3);
			sgd_step_range(&b, u, g, 3, count - 3);
		}
		for (size_t i = 0; i < count; i++) {
			double gi = i < 3 ? 0.0 : g[i] + 0.01 * w0[i];
			double w1 = w0[i] - 0.1 * gi;
			double g2 = i < 3 ? 0.0 : g[i] + 0.01 * w1;
			want[i] = (float)(w1 - 0.1 * (0.9 * gi + g2));
		}
		for (size_t i = 0; i < count; i++)
			ck_assert_float_eq_tol(w[i], want[i], 1e-5);
		ck_assert_mem_eq(w, u, sizeof(w));
		ck_assert_mem_eq(a.velocity, b.velocity, count * sizeof(float));
		ck_assert_int_eq(a.started, 1);
		sgd_free(&a);
		sgd_free(&b);
		parallel_free(p);
	}
}
END_TEST

START_TEST(test_sgd_errors)
{
	struct sgd o;
	struct error e;
	ck_assert_int_eq(sgd_init(&o, 2, -0.1, 0.0, 0.0, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "learning rate"));
	ck_assert_int_eq(sgd_init(&o, 2, 0.1, 1.0, 0.0, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "momentum"));
	ck_assert_int_eq(sgd_init(&o, 2, 0.1, 0.0, NAN, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "weight decay"));
}
END_TEST

#define TRAIN_BATCH 16

/* Rounds of forward, loss, backward and SGD with momentum and weight decay on fixed data. */
static void train_rounds(struct model *m, int rounds)
{
	struct sgd o;
	struct error e;
	size_t in = model_inputs(m), c = model_outputs(m);
	float *x = random_inputs(TRAIN_BATCH * in, 5);
	int32_t *y = random_labels(TRAIN_BATCH, c, 5);
	float *logits = malloc(TRAIN_BATCH * c * sizeof(float));
	float *d = malloc(TRAIN_BATCH * c * sizeof(float));
	ck_assert_int_eq(sgd_init(&o, m->num_params, 0.05, 0.9, 1e-4, &e), 0);
	for (int i = 0; i < rounds; i++) {
		ck_assert_int_eq(model_forward(m, x, TRAIN_BATCH, logits, &e), 0);
		ck_assert(isfinite(loss_softmax_ce(logits, TRAIN_BATCH, c, y, NULL, d)));
		model_backward(m, d);
		sgd_step(&o, m->params, m->grads, m->num_params);
	}
	sgd_free(&o);
	free(x);
	free(y);
	free(logits);
	free(d);
}

static const size_t det_sizes[] = {20, 16, 12, 5};

START_TEST(test_same_seed)
{
	struct model a, b, c;
	init_model(&a, det_sizes, 4, 42);
	init_model(&b, det_sizes, 4, 42);
	init_model(&c, det_sizes, 4, 43);
	ck_assert_mem_eq(a.params, b.params, a.num_params * sizeof(float));
	ck_assert(memcmp(a.params, c.params, a.num_params * sizeof(float)) != 0);
	train_rounds(&a, 5);
	train_rounds(&b, 5);
	ck_assert_mem_eq(a.params, b.params, a.num_params * sizeof(float));
	ck_assert_mem_eq(a.grads, b.grads, a.num_params * sizeof(float));
	model_free(&a);
	model_free(&b);
	model_free(&c);
}
END_TEST

START_TEST(test_training_learns)
{
	struct model m;
	struct error e;
	float logits[TRAIN_BATCH * 5];
	init_model(&m, det_sizes, 4, 1);
	float *x = random_inputs(TRAIN_BATCH * 20, 5);
	int32_t *y = random_labels(TRAIN_BATCH, 5, 5);
	ck_assert_int_eq(model_forward(&m, x, TRAIN_BATCH, logits, &e), 0);
	double before = loss_softmax_ce(logits, TRAIN_BATCH, 5, y, NULL, NULL);
	train_rounds(&m, 50);
	ck_assert_int_eq(model_forward(&m, x, TRAIN_BATCH, logits, &e), 0);
	double after = loss_softmax_ce(logits, TRAIN_BATCH, 5, y, NULL, NULL);
	ck_assert_msg(after < 0.5 * before, "loss %g -> %g", before, after);
	model_free(&m);
	free(x);
	free(y);
}
END_TEST

START_TEST(test_workspace_growth)
{
	struct model m;
	struct error e;
	float small[3 * 5], large[40 * 5], d[40 * 5];
	init_model(&m, det_sizes, 4, 9);
	float *x = random_inputs(40 * 20, 9);
	ck_assert_int_eq(model_forward(&m, x, 3, small, &e), 0);
	ck_assert_uint_eq(m.capacity, 3);
	ck_assert_int_eq(model_forward(&m, x, 40, large, &e), 0);
	ck_assert_uint_ge(m.capacity, 40);
	for (size_t i = 0; i < 3 * 5; i++)
		ck_assert_float_eq_tol(large[i], small[i], 1e-5f);
	for (size_t i = 0; i < 40 * 5; i++)
		d[i] = 0.01f;
	model_backward(&m, d);
	ck_assert_int_eq(model_forward(&m, x, 3, small, &e), 0);
	ck_assert_uint_ge(m.capacity, 40);
	ck_assert_uint_eq(m.rows, 3);
	model_free(&m);
	free(x);
}
END_TEST

#ifndef ALLOC_HOOK_OFF
START_TEST(test_steady_state_allocates_nothing)
{
	static const size_t sizes[] = {64, 32, 32, 10};
	enum { batch = 32 };
	struct model m;
	struct sgd o;
	struct error e;
	float logits[batch * 10], d[batch * 10];
	init_model(&m, sizes, 4, 2);
	float *x = random_inputs(batch * 64, 2);
	int32_t *y = random_labels(batch, 10, 2);
	ck_assert_int_eq(sgd_init(&o, m.num_params, 0.01, 0.9, 1e-4, &e), 0);
	/* One round first: it grows the workspace, and OpenBLAS sets itself up. No assertion
	 * while counting: Check allocates to record one. */
	int failed = 0;
	for (int round = 0; round < 6; round++) {
		alloc_counting = round > 0;
		size_t n = round % 2 ? batch / 2 : batch;
		failed |= model_forward(&m, x, n, logits, &e);
		loss_softmax_ce(logits, n, 10, y, NULL, d);
		model_backward(&m, d);
		sgd_step(&o, m.params, m.grads, m.num_params);
	}
	alloc_counting = 0;
	ck_assert_int_eq(failed, 0);
	ck_assert_uint_eq(alloc_count, 0);

	/* The counter does see the model's allocations: a larger batch grows the workspace. */
	float *big = random_inputs(2 * batch * 64, 2);
	float big_logits[2 * batch * 10];
	alloc_counting = 1;
	int grew = model_forward(&m, big, 2 * batch, big_logits, &e);
	alloc_counting = 0;
	ck_assert_int_eq(grew, 0);
	ck_assert_uint_gt(alloc_count, 0);
	sgd_free(&o);
	model_free(&m);
	free(x);
	free(y);
	free(big);
}
END_TEST

START_TEST(test_allocation_failures)
{
	static const size_t sizes[] = {8, 6, 4};
	struct model m;
	struct sgd o;
	struct error e, model_e, sgd_e;
	float logits[16 * 4];
	float *x = random_inputs(16 * 8, 4);

	/* No assertion while allocations fail: Check allocates to record one. */
	alloc_counting = alloc_failing = 1;
	int model_rc = testutil_mlp(&m, sizes, 3, &model_e);
	int sgd_rc = sgd_init(&o, 10, 0.1, 0.9, 0.0, &sgd_e);
	alloc_counting = alloc_failing = 0;
	ck_assert_int_eq(model_rc, -1);
	ck_assert_ptr_nonnull(strstr(model_e.msg, "allocate"));
	ck_assert_int_eq(sgd_rc, -1);
	ck_assert_ptr_nonnull(strstr(sgd_e.msg, "allocate"));

	init_model(&m, sizes, 3, 4);
	ck_assert_int_eq(model_forward(&m, x, 4, logits, &e), 0);
	alloc_counting = alloc_failing = 1;
	int grow_rc = model_forward(&m, x, 16, logits, &e);
	int small_rc = model_forward(&m, x, 4, logits, &model_e);
	alloc_counting = alloc_failing = 0;
	ck_assert_int_eq(grow_rc, -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "workspace"));
	ck_assert_int_eq(small_rc, 0);
	ck_assert_uint_eq(m.capacity, 4);
	ck_assert_int_eq(model_forward(&m, x, 16, logits, &e), 0);
	ck_assert_uint_eq(m.capacity, 16);
	model_free(&m);
	free(x);
}
END_TEST
#endif

static Suite *model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("forward");
	tcase_add_test(tc, test_forward_by_hand);
	tcase_add_test(tc, test_init_errors);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_he_init);
	tcase_add_test(tc, test_clone);
	tcase_add_test(tc, test_empty_batch);
	suite_add_tcase(s, tc);

	tc = tcase_create("gradient");
	tcase_add_test(tc, test_gradient_finite_difference);
	tcase_add_test(tc, test_gradient_deltas);
	tcase_add_test(tc, test_backward_by_hand);
	suite_add_tcase(s, tc);

	tc = tcase_create("loss");
	tcase_add_test(tc, test_loss_by_hand);
	tcase_add_test(tc, test_loss_stable);
	tcase_add_test(tc, test_loss_masked);
	tcase_add_test(tc, test_argmax);
	suite_add_tcase(s, tc);

	tc = tcase_create("sgd");
	tcase_add_test(tc, test_sgd_plain);
	tcase_add_test(tc, test_sgd_momentum);
	tcase_add_test(tc, test_sgd_weight_decay);
	tcase_add_test(tc, test_sgd_many);
	tcase_add_test(tc, test_sgd_threads);
	tcase_add_test(tc, test_sgd_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("determinism");
	tcase_add_test(tc, test_same_seed);
	tcase_add_test(tc, test_training_learns);
	tcase_add_test(tc, test_workspace_growth);
	suite_add_tcase(s, tc);

#ifndef ALLOC_HOOK_OFF
	tc = tcase_create("allocation");
	tcase_add_test(tc, test_steady_state_allocates_nothing);
	tcase_add_test(tc, test_allocation_failures);
	suite_add_tcase(s, tc);
#endif
	return s;
}

int main(void)
{
	openblas_set_num_threads(1);
	return testutil_run(model_suite());
}
