/* The layers suite: convolution, pooling, batch normalisation and the element-wise kernels of
 * host/model, each against a naive double-precision reference written here (direct loops, no
 * lowering), whose own gradients are first checked by central differences in double.
 *
 * Tolerances. A float sum of K terms, in any order, with or without FMA, is within
 * γ_K Σ|terms| of the exact sum, γ_K ≈ K u and u = 2^-24 the unit roundoff of float (Higham,
 * Accuracy and Stability of Numerical Algorithms, §3.1). The references therefore return, next
 * to each value, the sum of the magnitudes of its terms, and a kernel's result must lie within
 * (K + 2) u of it, K counting every addition the kernel's path may make (the +2 covers the
 * products' and the final rounding). The bound holds for any BLAS kernel and summation order,
 * and a wrong term (a missed tap, a misplaced index) is off by far more. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "model/conv.h"
#include "model/elementwise.h"
#include "model/norm.h"
#include "model/pool.h"
#include "util/rng.h"
#include "testutil.h"

#define U     (FLT_EPSILON / 2.0) /* float's unit roundoff */
#define BATCH 5			  /* samples per case: groups of 2 leave a remainder */

/* Central differences of the double references: the step h = 1e-6 leaves a rounding error of
 * about 1e-16 |L| / h = 1e-10 |L| on losses of order 1, and the truncation error (h² times a
 * third derivative) is 0 on the linear layers and about 1e-12 on batch norm; 1e-6 relative
 * leaves room for both, while a wrong formula is off by order 1. */
#define FD_H   1e-6
#define FD_TOL 1e-6

static void *alloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* count floats uniform in [lo, hi), and their exact double copy when d is not NULL. */
static float *uniform(struct rng *r, size_t count, double lo, double hi, double *d)
{
	float *f = alloc(count, sizeof(float));
	for (size_t i = 0; i < count; i++) {
		f[i] = (float)(lo + (hi - lo) * rng_uniform(r));
		if (d)
			d[i] = f[i];
	}
	return f;
}

static double dot(const double *a, const double *b, size_t count)
{
	double s = 0.0;
	for (size_t i = 0; i < count; i++)
		s += a[i] * b[i];
	return s;
}

/* got within (terms + 2) u mag of want, element by element (see the top). */
static void assert_sum(const float *got, const double *want, const double *mag, size_t count,
		       double terms, const char *what)
{
	for (size_t i = 0; i < count; i++) {
		double tol = (terms + 2.0) * U * mag[i] + 1e-30;
		ck_assert_msg(fabs(got[i] - want[i]) <= tol,
			      "%s[%zu]: got %.9g, want %.9g (tolerance %.3g)", what, i,
			      (double)got[i], want[i], tol);
	}
}

/* d loss / d v[i] by central differences against grad, for every i. */
static void assert_fd(double *v, size_t count, const double *grad, double (*loss)(void *),
		      void *ctx, const char *what)
{
	for (size_t i = 0; i < count; i++) {
		double keep = v[i];
		v[i] = keep + FD_H;
		double plus = loss(ctx);
		v[i] = keep - FD_H;
		double minus = loss(ctx);
		v[i] = keep;
		double fd = (plus - minus) / (2.0 * FD_H);
		ck_assert_msg(fabs(fd - grad[i]) <= FD_TOL * (1.0 + fabs(grad[i])),
			      "%s[%zu]: analytic %.12g, finite difference %.12g", what, i, grad[i],
			      fd);
	}
}

/* Scratch for a kernel, followed by a guard the kernel must leave alone. */
#define GUARD	    64
#define GUARD_VALUE 1234.5f

static float *guarded(size_t count)
{
	float *p = alloc(count + GUARD, sizeof(float));
	for (size_t i = 0; i < GUARD; i++)
		p[count + i] = GUARD_VALUE;
	return p;
}

static void assert_guard(const float *p, size_t count)
{
	for (size_t i = 0; i < GUARD; i++)
		ck_assert_msg(p[count + i] == GUARD_VALUE, "write past the end, at +%zu", i);
}

/* ---- convolution ---- */

static size_t ref_out(size_t len, size_t k, size_t s, size_t p)
{
	return (len + 2 * p - k) / s + 1;
}

/* The index into x of the input that tap t = (ci, ky, kx) of output o = (i, co, oy, ox) reads,
 * or -1 in the padding. */
static long ref_input(const struct conv_geom *g, size_t o, size_t t)
{
	size_t ho = ref_out(g->h, g->k, g->stride, g->pad),
	       wo = ref_out(g->w, g->k, g->stride, g->pad);
	size_t ox = o % wo, oy = o / wo % ho, i = o / wo / ho / g->cout;
	size_t kx = t % g->k, ky = t / g->k % g->k, ci = t / g->k / g->k;
	long iy = (long)(oy * g->stride + ky) - (long)g->pad;
	long ix = (long)(ox * g->stride + kx) - (long)g->pad;
	if (iy < 0 || iy >= (long)g->h || ix < 0 || ix >= (long)g->w)
		return -1;
	return (long)(((i * g->cin + ci) * g->h + (size_t)iy) * g->w + (size_t)ix);
}

static size_t ref_outputs(const struct conv_geom *g, size_t n)
{
	return n * g->cout * ref_out(g->h, g->k, g->stride, g->pad) *
	       ref_out(g->w, g->k, g->stride, g->pad);
}

/* Direct convolution in double: y (n cout ho wo) and, when mag is not NULL, Σ|terms| of each
 * output (the bias a term). b may be NULL. Output o's channel is o / (ho wo) % cout, and its
 * weights are row co of w, tap t at co cin k k + t. */
static void ref_conv_forward(const struct conv_geom *g, const double *x, const double *w,
			     const double *b, size_t n, double *y, double *mag)
{
	size_t taps = g->cin * g->k * g->k, per = ref_outputs(g, 1) / g->cout;
	for (size_t o = 0; o < ref_outputs(g, n); o++) {
		size_t co = o / per % g->cout;
		double s = b ? b[co] : 0.0, m = fabs(s);
		for (size_t t = 0; t < taps; t++) {
			long xi = ref_input(g, o, t);
			if (xi < 0)
				continue;
			double term = w[co * taps + t] * x[xi];
			s += term;
			m += fabs(term);
		}
		y[o] = s;
		if (mag)
			mag[o] = m;
	}
}

struct conv_grads {
	double *dx, *dw, *db;	 /* gradients */
	double *mdx, *mdw, *mdb; /* Σ|terms| of each */
};

static void conv_grads_alloc(struct conv_grads *r, const struct conv_geom *g, size_t n)
{
	r->dx = alloc(n * g->in_len, sizeof(double));
	r->mdx = alloc(n * g->in_len, sizeof(double));
	r->dw = alloc(g->num_weights, sizeof(double));
	r->mdw = alloc(g->num_weights, sizeof(double));
	r->db = alloc(g->cout, sizeof(double));
	r->mdb = alloc(g->cout, sizeof(double));
}

static void conv_grads_free(struct conv_grads *r)
{
	free(r->dx);
	free(r->mdx);
	free(r->dw);
	free(r->mdw);
	free(r->db);
	free(r->mdb);
}

/* The backward pass of direct convolution: every term of the forward sum sends dy back to the
 * weight and the input it multiplied. */
static void ref_conv_backward(const struct conv_geom *g, const double *x, const double *w,
			      const double *dy, size_t n, struct conv_grads *r)
{
	size_t taps = g->cin * g->k * g->k, per = ref_outputs(g, 1) / g->cout;
	size_t nx = n * g->cin * g->h * g->w;
	memset(r->dx, 0, nx * sizeof(double));
	memset(r->mdx, 0, nx * sizeof(double));
	memset(r->dw, 0, g->cout * taps * sizeof(double));
	memset(r->mdw, 0, g->cout * taps * sizeof(double));
	memset(r->db, 0, g->cout * sizeof(double));
	memset(r->mdb, 0, g->cout * sizeof(double));
	for (size_t o = 0; o < ref_outputs(g, n); o++) {
		size_t co = o / per % g->cout;
		r->db[co] += dy[o];
		r->mdb[co] += fabs(dy[o]);
		for (size_t t = 0; t < taps; t++) {
			long xi = ref_input(g, o, t);
			if (xi < 0)
				continue;
			size_t wi = co * taps + t;
			r->dw[wi] += dy[o] * x[xi];
			r->mdw[wi] += fabs(dy[o] * x[xi]);
			r->dx[xi] += dy[o] * w[wi];
			r->mdx[xi] += fabs(dy[o] * w[wi]);
		}
	}
}

/* Shapes covering stride 1, 2 and 3, padding 0, 1 and 2 (odd and even, for the deinterleaved
 * rows of stride 2), kernels 1 and 3, one and several input channels, non-square images of odd
 * and even widths, and rows of a block, a quad and a rest in the lowering (w 19 and 7 at
 * stride 1, w 42 at stride 2, w 43 for the 1x1 stride-2 shortcut). */
static const struct conv_geom conv_shapes[] = {
	{.cin = 1, .h = 5, .w = 7, .cout = 2, .k = 3, .stride = 1, .pad = 1},
	{.cin = 3, .h = 7, .w = 5, .cout = 4, .k = 3, .stride = 2, .pad = 1},
	{.cin = 3, .h = 6, .w = 4, .cout = 2, .k = 3, .stride = 1, .pad = 0},
	{.cin = 3, .h = 5, .w = 6, .cout = 3, .k = 1, .stride = 2, .pad = 0},
	{.cin = 2, .h = 4, .w = 5, .cout = 3, .k = 1, .stride = 1, .pad = 0},
	{.cin = 1, .h = 6, .w = 19, .cout = 3, .k = 3, .stride = 1, .pad = 1},
	{.cin = 2, .h = 3, .w = 42, .cout = 2, .k = 3, .stride = 2, .pad = 1},
	{.cin = 2, .h = 5, .w = 5, .cout = 2, .k = 3, .stride = 2, .pad = 0},
	{.cin = 2, .h = 3, .w = 4, .cout = 2, .k = 3, .stride = 3, .pad = 2},
	{.cin = 1, .h = 6, .w = 7, .cout = 2, .k = 3, .stride = 2, .pad = 2},
	{.cin = 2, .h = 4, .w = 43, .cout = 2, .k = 1, .stride = 2, .pad = 0},
};
#define NUM_CONV_SHAPES (sizeof(conv_shapes) / sizeof(conv_shapes[0]))

static struct conv_geom conv_shape(size_t i)
{
	struct conv_geom g = conv_shapes[i];
	struct error e;
	ck_assert_msg(conv_geom_init(&g, &e) == 0, "shape %zu: %s", i, e.msg);
	return g;
}

/* A conv case: float inputs and their exact double copies. */
struct conv_case {
	struct conv_geom g;
	size_t n;
	float *x, *w, *b, *dy;
	double *xd, *wd, *bd, *dyd;
	double *y; /* the loss's forward output */
};

static void conv_case_init(struct conv_case *c, size_t shape, size_t n, uint64_t seed)
{
	struct rng r;
	rng_seed(&r, seed, shape);
	c->g = conv_shape(shape);
	c->n = n;
	c->xd = alloc(n * c->g.in_len, sizeof(double));
	c->wd = alloc(c->g.num_weights, sizeof(double));
	c->bd = alloc(c->g.cout, sizeof(double));
	c->dyd = alloc(n * c->g.out_len, sizeof(double));
	c->y = alloc(n * c->g.out_len, sizeof(double));
	c->x = uniform(&r, n * c->g.in_len, -1.0, 1.0, c->xd);
	c->w = uniform(&r, c->g.num_weights, -1.0, 1.0, c->wd);
	c->b = uniform(&r, c->g.cout, -1.0, 1.0, c->bd);
	c->dy = uniform(&r, n * c->g.out_len, -1.0, 1.0, c->dyd);
}

static void conv_case_free(struct conv_case *c)
{
	free(c->x);
	free(c->w);
	free(c->b);
	free(c->dy);
	free(c->xd);
	free(c->wd);
	free(c->bd);
	free(c->dyd);
	free(c->y);
}

/* L = Σ dy · conv(x), whose gradients are the backward pass of dy. */
static double conv_loss(void *ctx)
{
	struct conv_case *c = ctx;
	ref_conv_forward(&c->g, c->xd, c->wd, c->bd, c->n, c->y, NULL);
	return dot(c->dyd, c->y, c->n * c->g.out_len);
}

START_TEST(test_conv_reference)
{
	for (size_t s = 0; s < NUM_CONV_SHAPES; s++) {
		struct conv_case c;
		struct conv_grads r;
		conv_case_init(&c, s, 2, 1);
		conv_grads_alloc(&r, &c.g, c.n);
		ref_conv_backward(&c.g, c.xd, c.wd, c.dyd, c.n, &r);
		assert_fd(c.xd, c.n * c.g.in_len, r.dx, conv_loss, &c, "conv dx");
		assert_fd(c.wd, c.g.num_weights, r.dw, conv_loss, &c, "conv dw");
		assert_fd(c.bd, c.g.cout, r.db, conv_loss, &c, "conv db");
		conv_grads_free(&r);
		conv_case_free(&c);
	}
}
END_TEST

START_TEST(test_conv_geometry)
{
	struct error e;
	struct conv_geom g = {.cin = 3, .h = 32, .w = 30, .cout = 8, .k = 3, .stride = 2, .pad = 1};
	ck_assert_int_eq(conv_geom_init(&g, &e), 0);
	ck_assert_uint_eq(g.hout, 16);
	ck_assert_uint_eq(g.wout, 15);
	ck_assert_uint_eq(g.kdim, 27);
	ck_assert_uint_eq(g.pixels, 240);
	ck_assert_uint_eq(g.in_len, 3 * 32 * 30);
	ck_assert_uint_eq(g.out_len, 8 * 240);
	ck_assert_uint_eq(g.num_weights, 8 * 27);
	ck_assert_uint_ge(g.group, 1);
	ck_assert_uint_ge(conv_scratch_floats(&g), g.kdim * g.pixels);

	g = (struct conv_geom){.cin = 1, .h = 2, .w = 6, .cout = 1, .k = 5, .stride = 1, .pad = 1};
	ck_assert_int_eq(conv_geom_init(&g, &e), -1);
	ck_assert_has(e.msg, "larger than the padded input");
	ck_assert_has(e.msg, "5x5");
	ck_assert_has(e.msg, "on 1x2x6");
	g.pad = 2; /* 2 + 4 = 6 rows: fits */
	ck_assert_int_eq(conv_geom_init(&g, &e), 0);
	ck_assert_uint_eq(g.hout, 2);

	static const struct conv_geom zero[] = {
		{.cin = 0, .h = 4, .w = 4, .cout = 1, .k = 1, .stride = 1},
		{.cin = 1, .h = 0, .w = 4, .cout = 1, .k = 1, .stride = 1},
		{.cin = 1, .h = 4, .w = 4, .cout = 0, .k = 1, .stride = 1},
		{.cin = 1, .h = 4, .w = 4, .cout = 1, .k = 0, .stride = 1},
		{.cin = 1, .h = 4, .w = 4, .cout = 1, .k = 1, .stride = 0},
	};
	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
		g = zero[i];
		ck_assert_int_eq(conv_geom_init(&g, &e), -1);
		ck_assert_has(e.msg, "out of range");
	}
	g = (struct conv_geom){.cin = 70000, .h = 100, .w = 100, .cout = 1, .k = 3, .stride = 1};
	ck_assert_int_eq(conv_geom_init(&g, &e), -1);
	ck_assert_has(e.msg, "too large");
}
END_TEST

/* The groups a kernel is run with: one sample per product, two (a remainder in a batch of 5),
 * and conv_geom_init's choice. */
static size_t conv_group(const struct conv_geom *g, size_t v)
{
	return v == 0 ? 1 : v == 1 ? 2 : g->group;
}

START_TEST(test_conv_forward)
{
	for (size_t s = 0; s < NUM_CONV_SHAPES; s++)
		for (size_t v = 0; v < 3; v++) {
			struct conv_case c;
			conv_case_init(&c, s, BATCH, 2);
			struct conv_geom g = c.g;
			g.group = conv_group(&c.g, v);
			size_t ny = c.n * g.out_len, ns = conv_scratch_floats(&g);
			double *want = alloc(ny, sizeof(double)), *mag = alloc(ny, sizeof(double));
			float *y = guarded(ny), *scratch = guarded(ns);
			/* The bias is one more term of each output's sum. */
			ref_conv_forward(&g, c.xd, c.wd, c.bd, c.n, want, mag);
			conv_forward(&g, c.w, c.b, c.x, c.n, y, scratch);
			assert_sum(y, want, mag, ny, (double)g.kdim + 1.0, "conv y");
			ref_conv_forward(&g, c.xd, c.wd, NULL, c.n, want, mag);
			conv_forward(&g, c.w, NULL, c.x, c.n, y, scratch);
			assert_sum(y, want, mag, ny, (double)g.kdim, "conv y without bias");
			assert_guard(y, ny);
			assert_guard(scratch, ns);
			free(want);
			free(mag);
			free(y);
			free(scratch);
			conv_case_free(&c);
		}
}
END_TEST

/* The kernel's additions: dW sums n P products (in groups, then across them with beta 1), db
 * as many values, and dX the Cout products of a column then up to k² columns in col2im. */
static void assert_conv_grads(const struct conv_geom *g, size_t n, const float *dx, const float *dw,
			      const float *db, const struct conv_grads *r)
{
	double rows = (double)(n * g->pixels);
	if (dw)
		assert_sum(dw, r->dw, r->mdw, g->num_weights, rows, "conv dw");
	if (db)
		assert_sum(db, r->db, r->mdb, g->cout, rows, "conv db");
	if (dx)
		assert_sum(dx, r->dx, r->mdx, n * g->in_len, (double)(g->cout + g->k * g->k),
			   "conv dx");
}

START_TEST(test_conv_backward)
{
	for (size_t s = 0; s < NUM_CONV_SHAPES; s++)
		for (size_t v = 0; v < 3; v++) {
			struct conv_case c;
			struct conv_grads r;
			conv_case_init(&c, s, BATCH, 3);
			struct conv_geom g = c.g;
			g.group = conv_group(&c.g, v);
			size_t nx = c.n * g.in_len, ns = conv_scratch_floats(&g);
			float *dx = guarded(nx), *dw = guarded(g.num_weights),
			      *db = guarded(g.cout);
			float *scratch = guarded(ns);
			conv_grads_alloc(&r, &g, c.n);
			ref_conv_backward(&g, c.xd, c.wd, c.dyd, c.n, &r);
			/* Garbage first: every output is overwritten. */
			for (size_t i = 0; i < nx; i++)
				dx[i] = 7.0f;
			for (size_t i = 0; i < g.num_weights; i++)
				dw[i] = 7.0f;
			for (size_t i = 0; i < g.cout; i++)
				db[i] = 7.0f;
			conv_backward(&g, c.w, c.x, c.dy, c.n, dw, db, dx, 0, scratch);
			assert_conv_grads(&g, c.n, dx, dw, db, &r);
			/* Each output alone. */
			memset(dw, 0, g.num_weights * sizeof(float));
			conv_backward(&g, c.w, c.x, c.dy, c.n, NULL, NULL, dx, 0, scratch);
			assert_conv_grads(&g, c.n, dx, NULL, NULL, &r);
			conv_backward(&g, c.w, c.x, c.dy, c.n, dw, NULL, NULL, 0, scratch);
			assert_conv_grads(&g, c.n, NULL, dw, NULL, &r);
			conv_backward(&g, c.w, c.x, c.dy, c.n, NULL, db, NULL, 0, scratch);
			assert_conv_grads(&g, c.n, NULL, NULL, db, &r);
			assert_guard(dx, nx);
			assert_guard(dw, g.num_weights);
			assert_guard(db, g.cout);
			assert_guard(scratch, ns);
			conv_grads_free(&r);
			free(dx);
			free(dw);
			free(db);
			free(scratch);
			conv_case_free(&c);
		}
}
END_TEST

/* A batch split in two ranges, the second accumulating its parameter gradients onto the first's
 * (beta 1), gives the whole batch's; CONV_ACCUMULATE_INPUT adds onto dx; an empty range clears
 * the gradients, or leaves them when accumulating. */
START_TEST(test_conv_accumulate)
{
	for (size_t s = 0; s < NUM_CONV_SHAPES; s++) {
		struct conv_case c;
		struct conv_grads r;
		conv_case_init(&c, s, BATCH, 4);
		struct conv_geom *g = &c.g;
		size_t nx = c.n * g->in_len, split = 2;
		float *dx = alloc(nx, sizeof(float)), *dw = alloc(g->num_weights, sizeof(float));
		float *db = alloc(g->cout, sizeof(float));
		float *scratch = alloc(conv_scratch_floats(g), sizeof(float));
		conv_grads_alloc(&r, g, c.n);
		ref_conv_backward(g, c.xd, c.wd, c.dyd, c.n, &r);

		conv_backward(g, c.w, c.x, c.dy, split, dw, db, dx, 0, scratch);
		conv_backward(g, c.w, c.x + split * g->in_len, c.dy + split * g->out_len,
			      c.n - split, dw, db, dx + split * g->in_len, CONV_ACCUMULATE_PARAMS,
			      scratch);
		assert_conv_grads(g, c.n, dx, dw, db, &r);

		for (size_t i = 0; i < nx; i++) {
			dx[i] = 1.0f;
			r.dx[i] += 1.0;
			r.mdx[i] += 1.0;
		}
		conv_backward(g, c.w, c.x, c.dy, c.n, NULL, NULL, dx, CONV_ACCUMULATE_INPUT,
			      scratch);
		assert_conv_grads(g, c.n, dx, NULL, NULL, &r);

		float *keep = alloc(g->num_weights, sizeof(float));
		memcpy(keep, dw, g->num_weights * sizeof(float));
		conv_backward(g, c.w, c.x, c.dy, 0, dw, db, NULL, CONV_ACCUMULATE_PARAMS, scratch);
		ck_assert_mem_eq(keep, dw, g->num_weights * sizeof(float));
		conv_backward(g, c.w, c.x, c.dy, 0, dw, db, NULL, 0, scratch);
		for (size_t i = 0; i < g->num_weights; i++)
			ck_assert_float_eq(dw[i], 0.0f);
		for (size_t i = 0; i < g->cout; i++)
			ck_assert_float_eq(db[i], 0.0f);
		free(keep);
		conv_grads_free(&r);
		free(dx);
		free(dw);
		free(db);
		free(scratch);
		conv_case_free(&c);
	}
}
END_TEST

/* conv_grad_sq against each sample's own reference gradient: sq = sq0 + scale Σ_i g_i². Each
 * g has the error e of a sum of P terms (as dw above); its square 2|g| e + e², then the float
 * scale g², and the sum over samples: (n + 4) u of scale Σ g², and n + 1 of sq0. */
START_TEST(test_conv_grad_sq)
{
	static const float scale = 0.375f;
	for (size_t s = 0; s < NUM_CONV_SHAPES; s++) {
		struct conv_case c;
		struct conv_grads r;
		struct rng rg;
		conv_case_init(&c, s, BATCH, 5);
		struct conv_geom *g = &c.g;
		size_t np = g->num_weights + g->cout, ns = conv_scratch_floats(g);
		double *want = alloc(np, sizeof(double)), *tol = alloc(np, sizeof(double));
		double norms[BATCH], want_norms[BATCH], tol_norms[BATCH];
		float *scratch = guarded(ns);
		rng_seed(&rg, 5, 99);
		float *sq = uniform(&rg, np, 0.0, 1.0, want);
		for (size_t j = 0; j < np; j++)
			tol[j] = (BATCH + 1) * U * want[j];
		conv_grads_alloc(&r, g, 1);
		for (size_t i = 0; i < BATCH; i++) {
			ref_conv_backward(g, c.xd + i * g->in_len, c.wd, c.dyd + i * g->out_len, 1,
					  &r);
			want_norms[i] = tol_norms[i] = 0.0;
			for (size_t j = 0; j < np; j++) {
				int bias = j >= g->num_weights;
				double v = bias ? r.db[j - g->num_weights] : r.dw[j];
				double m = bias ? r.mdb[j - g->num_weights] : r.mdw[j];
				double e = ((double)g->pixels + 2.0) * U * m;
				want[j] += scale * v * v;
				tol[j] += scale *
					  (2.0 * fabs(v) * e + e * e + (BATCH + 4) * U * v * v);
				want_norms[i] += v * v;
				tol_norms[i] += 2.0 * fabs(v) * e + e * e;
			}
		}
		conv_grad_sq(g, c.x, c.dy, BATCH, scale, sq, norms, scratch);
		for (size_t j = 0; j < np; j++)
			ck_assert_msg(fabs(sq[j] - want[j]) <= tol[j] + 1e-30,
				      "shape %zu sq[%zu]: got %.9g, want %.9g", s, j, (double)sq[j],
				      want[j]);
		for (size_t i = 0; i < BATCH; i++)
			ck_assert_msg(fabs(norms[i] - want_norms[i]) <= tol_norms[i] + 1e-30,
				      "shape %zu norm[%zu]: got %.12g, want %.12g", s, i, norms[i],
				      want_norms[i]);
		assert_guard(scratch, ns);
		/* No samples, or a scale of 0, add nothing. */
		float *keep = alloc(np, sizeof(float));
		memcpy(keep, sq, np * sizeof(float));
		conv_grad_sq(g, c.x, c.dy, 0, scale, sq, norms, scratch);
		conv_grad_sq(g, c.x, c.dy, 1, 0.0f, sq, NULL, scratch);
		ck_assert_mem_eq(keep, sq, np * sizeof(float));
		free(keep);
		conv_grads_free(&r);
		free(want);
		free(tol);
		free(sq);
		free(scratch);
		conv_case_free(&c);
	}
}
END_TEST

/* ---- pooling ---- */

/* Shapes: non-overlapping and overlapping windows, a remainder row and column that no window
 * covers, and rows longer than a block. */
static const struct pool_geom pool_shapes[] = {
	{.c = 2, .h = 4, .w = 6, .k = 2, .stride = 2},
	{.c = 3, .h = 5, .w = 7, .k = 3, .stride = 2},
	{.c = 1, .h = 5, .w = 5, .k = 2, .stride = 3},
	{.c = 2, .h = 3, .w = 40, .k = 2, .stride = 1},
	{.c = 1, .h = 3, .w = 3, .k = 3, .stride = 1},
};
#define NUM_POOL_SHAPES (sizeof(pool_shapes) / sizeof(pool_shapes[0]))

static struct pool_geom pool_shape(size_t i)
{
	struct pool_geom g = pool_shapes[i];
	struct error e;
	ck_assert_msg(pool_geom_init(&g, &e) == 0, "shape %zu: %s", i, e.msg);
	return g;
}

/* The index into x of tap t = (ky, kx) of pooling output o = (i, c, oy, ox). */
static size_t ref_window(const struct pool_geom *g, size_t o, size_t t)
{
	size_t ho = (g->h - g->k) / g->stride + 1, wo = (g->w - g->k) / g->stride + 1;
	size_t ox = o % wo, oy = o / wo % ho, plane = o / wo / ho;
	return (plane * g->h + oy * g->stride + t / g->k) * g->w + ox * g->stride + t % g->k;
}

static size_t ref_pool_outputs(const struct pool_geom *g, size_t n)
{
	return n * g->c * ((g->h - g->k) / g->stride + 1) * ((g->w - g->k) / g->stride + 1);
}

/* Max pooling in double: the first maximum of each window in row-major order; its index within
 * the sample into arg. */
static void ref_max_forward(const struct pool_geom *g, const double *x, size_t n, double *y,
			    uint32_t *arg)
{
	for (size_t o = 0; o < ref_pool_outputs(g, n); o++) {
		size_t best = ref_window(g, o, 0);
		for (size_t t = 1; t < g->k * g->k; t++)
			if (x[ref_window(g, o, t)] > x[best])
				best = ref_window(g, o, t);
		y[o] = x[best];
		if (arg)
			arg[o] = (uint32_t)(best % (g->c * g->h * g->w));
	}
}

static void ref_max_backward(const struct pool_geom *g, const double *dy, const uint32_t *arg,
			     size_t n, double *dx, double *mag)
{
	memset(dx, 0, n * g->in_len * sizeof(double));
	memset(mag, 0, n * g->in_len * sizeof(double));
	for (size_t o = 0; o < ref_pool_outputs(g, n); o++) {
		size_t at = o / g->out_len * g->in_len + arg[o];
		dx[at] += dy[o];
		mag[at] += fabs(dy[o]);
	}
}

/* Average pooling in double (mag: Σ|x| / k² of each window). */
static void ref_avg_forward(const struct pool_geom *g, const double *x, size_t n, double *y,
			    double *mag)
{
	double kk = (double)(g->k * g->k);
	for (size_t o = 0; o < ref_pool_outputs(g, n); o++) {
		double s = 0.0, m = 0.0;
		for (size_t t = 0; t < g->k * g->k; t++) {
			s += x[ref_window(g, o, t)];
			m += fabs(x[ref_window(g, o, t)]);
		}
		y[o] = s / kk;
		if (mag)
			mag[o] = m / kk;
	}
}

static void ref_avg_backward(const struct pool_geom *g, const double *dy, size_t n, double *dx,
			     double *mag)
{
	double kk = (double)(g->k * g->k);
	memset(dx, 0, n * g->in_len * sizeof(double));
	memset(mag, 0, n * g->in_len * sizeof(double));
	for (size_t o = 0; o < ref_pool_outputs(g, n); o++)
		for (size_t t = 0; t < g->k * g->k; t++) {
			dx[ref_window(g, o, t)] += dy[o] / kk;
			mag[ref_window(g, o, t)] += fabs(dy[o]) / kk;
		}
}

/* Inputs without ties within a window, even after a finite-difference step: a shuffle of evenly
 * spaced values in [-1, 1), at least 2 / count apart. */
static float *distinct(struct rng *r, size_t count, double *d)
{
	uint32_t *order = alloc(count, sizeof(uint32_t));
	float *f = alloc(count, sizeof(float));
	for (size_t i = 0; i < count; i++)
		order[i] = (uint32_t)i;
	rng_shuffle_u32(r, order, count);
	for (size_t i = 0; i < count; i++) {
		f[i] = (float)(-1.0 + 2.0 * ((double)order[i] + 0.5) / (double)count);
		d[i] = f[i];
	}
	free(order);
	return f;
}

struct pool_case {
	struct pool_geom g;
	size_t n;
	float *x, *dy;
	double *xd, *dyd, *y;
	int kind; /* 0 max, 1 average, 2 global */
};

static void pool_case_init(struct pool_case *c, size_t shape, size_t n, int kind, uint64_t seed)
{
	struct rng r;
	rng_seed(&r, seed, shape);
	c->g = pool_shape(shape);
	c->n = n;
	c->kind = kind;
	c->xd = alloc(n * c->g.in_len, sizeof(double));
	c->dyd = alloc(n * c->g.in_len, sizeof(double));
	c->y = alloc(n * c->g.in_len, sizeof(double));
	c->x = distinct(&r, n * c->g.in_len, c->xd);
	c->dy = uniform(&r, n * c->g.in_len, -1.0, 1.0, c->dyd);
}

static void pool_case_free(struct pool_case *c)
{
	free(c->x);
	free(c->dy);
	free(c->xd);
	free(c->dyd);
	free(c->y);
}

static size_t pool_out(const struct pool_case *c)
{
	return c->kind == 2 ? c->g.c : c->g.out_len;
}

static void ref_global_forward(const struct pool_geom *g, const double *x, size_t n, double *y,
			       double *mag)
{
	size_t p = g->h * g->w;
	for (size_t i = 0; i < n * g->c; i++) {
		y[i] = 0.0;
		if (mag)
			mag[i] = 0.0;
		for (size_t j = 0; j < p; j++) {
			y[i] += x[i * p + j] / (double)p;
			if (mag)
				mag[i] += fabs(x[i * p + j]) / (double)p;
		}
	}
}

static double pool_loss(void *ctx)
{
	struct pool_case *c = ctx;
	if (c->kind == 0)
		ref_max_forward(&c->g, c->xd, c->n, c->y, NULL);
	else if (c->kind == 1)
		ref_avg_forward(&c->g, c->xd, c->n, c->y, NULL);
	else
		ref_global_forward(&c->g, c->xd, c->n, c->y, NULL);
	return dot(c->dyd, c->y, c->n * pool_out(c));
}

START_TEST(test_pool_reference)
{
	for (size_t s = 0; s < NUM_POOL_SHAPES; s++)
		for (int kind = 0; kind < 3; kind++) {
			struct pool_case c;
			pool_case_init(&c, s, 2, kind, 6);
			size_t nx = c.n * c.g.in_len, p = c.g.h * c.g.w;
			double *dx = alloc(nx, sizeof(double)), *mag = alloc(nx, sizeof(double));
			uint32_t *arg = alloc(c.n * c.g.out_len, sizeof(uint32_t));
			if (kind == 0) {
				ref_max_forward(&c.g, c.xd, c.n, c.y, arg);
				ref_max_backward(&c.g, c.dyd, arg, c.n, dx, mag);
			} else if (kind == 1) {
				ref_avg_backward(&c.g, c.dyd, c.n, dx, mag);
			} else {
				for (size_t i = 0; i < nx; i++)
					dx[i] = c.dyd[i / p] / (double)p;
			}
			assert_fd(c.xd, nx, dx, pool_loss, &c, "pool dx");
			free(dx);
			free(mag);
			free(arg);
			pool_case_free(&c);
		}
}
END_TEST

START_TEST(test_pool_geometry)
{
	struct error e;
	struct pool_geom g = {.c = 4, .h = 7, .w = 6, .k = 2, .stride = 2};
	ck_assert_int_eq(pool_geom_init(&g, &e), 0);
	ck_assert_uint_eq(g.hout, 3);
	ck_assert_uint_eq(g.wout, 3);
	ck_assert_uint_eq(g.in_len, 4 * 7 * 6);
	ck_assert_uint_eq(g.out_len, 4 * 9);
	g = (struct pool_geom){.c = 2, .h = 1, .w = 5, .k = 2, .stride = 2};
	ck_assert_int_eq(pool_geom_init(&g, &e), -1);
	ck_assert_has(e.msg, "larger than the input");
	ck_assert_has(e.msg, "on 2x1x5");
	g = (struct pool_geom){.c = 2, .h = 4, .w = 4, .k = 2, .stride = 0};
	ck_assert_int_eq(pool_geom_init(&g, &e), -1);
	ck_assert_has(e.msg, "out of range");
}
END_TEST

/* Max pooling moves values and gradients without arithmetic, except where overlapping windows
 * pick the same input: its gradient sums theirs (k² at most). */
START_TEST(test_pool_max)
{
	for (size_t s = 0; s < NUM_POOL_SHAPES; s++) {
		struct pool_case c;
		pool_case_init(&c, s, BATCH, 0, 7);
		size_t ny = c.n * c.g.out_len, nx = c.n * c.g.in_len;
		uint32_t *want_arg = alloc(ny, sizeof(uint32_t)),
			 *arg = alloc(ny, sizeof(uint32_t));
		double *dx_want = alloc(nx, sizeof(double)), *mag = alloc(nx, sizeof(double));
		float *y = guarded(ny), *dx = guarded(nx);
		ref_max_forward(&c.g, c.xd, c.n, c.y, want_arg);
		pool_max_forward(&c.g, c.x, c.n, y, arg);
		for (size_t o = 0; o < ny; o++) {
			ck_assert_float_eq(y[o], (float)c.y[o]);
			ck_assert_uint_eq(arg[o], want_arg[o]);
		}
		for (size_t i = 0; i < nx; i++)
			dx[i] = 7.0f;
		ref_max_backward(&c.g, c.dyd, want_arg, c.n, dx_want, mag);
		pool_max_backward(&c.g, c.dy, arg, c.n, dx);
		assert_sum(dx, dx_want, mag, nx, (double)(c.g.k * c.g.k), "max-pool dx");
		assert_guard(y, ny);
		assert_guard(dx, nx);
		free(want_arg);
		free(arg);
		free(dx_want);
		free(mag);
		free(y);
		free(dx);
		pool_case_free(&c);
	}
}
END_TEST

/* Ties keep the first of the window in row-major order; a NaN is passed on. */
START_TEST(test_pool_max_ties)
{
	struct error e;
	struct pool_geom g = {.c = 1, .h = 2, .w = 6, .k = 2, .stride = 2};
	ck_assert_int_eq(pool_geom_init(&g, &e), 0);
	const float x[12] = {1, 3, 2, 2, 5,   1, /* row 0 */
			     3, 0, 2, 2, NAN, 5};
	float y[3];
	uint32_t arg[3];
	pool_max_forward(&g, x, 1, y, arg);
	ck_assert_float_eq(y[0], 3.0f);
	ck_assert_uint_eq(arg[0], 1); /* (0,1) before (1,0) */
	ck_assert_float_eq(y[1], 2.0f);
	ck_assert_uint_eq(arg[1], 2); /* four equal: the first */
	ck_assert(isnan(y[2]));
	ck_assert_uint_eq(arg[2], 10);
}
END_TEST

/* Average pooling: k² terms a window, and k² windows at most onto one input. */
START_TEST(test_pool_avg)
{
	for (size_t s = 0; s < NUM_POOL_SHAPES; s++) {
		struct pool_case c;
		pool_case_init(&c, s, BATCH, 1, 8);
		size_t ny = c.n * c.g.out_len, nx = c.n * c.g.in_len;
		double *want = alloc(nx, sizeof(double)), *mag = alloc(nx, sizeof(double));
		float *y = guarded(ny), *dx = guarded(nx);
		double terms = (double)(c.g.k * c.g.k);
		ref_avg_forward(&c.g, c.xd, c.n, want, mag);
		pool_avg_forward(&c.g, c.x, c.n, y);
		assert_sum(y, want, mag, ny, terms, "avg-pool y");
		ref_avg_backward(&c.g, c.dyd, c.n, want, mag);
		for (size_t i = 0; i < nx; i++)
			dx[i] = 7.0f;
		pool_avg_backward(&c.g, c.dy, c.n, dx);
		assert_sum(dx, want, mag, nx, terms, "avg-pool dx");
		assert_guard(y, ny);
		assert_guard(dx, nx);
		free(want);
		free(mag);
		free(y);
		free(dx);
		pool_case_free(&c);
	}
}
END_TEST

/* Global average pooling: a sum of H W terms, then a division; the gradient one product. */
START_TEST(test_pool_global)
{
	for (size_t s = 0; s < NUM_POOL_SHAPES; s++) {
		struct pool_case c;
		pool_case_init(&c, s, BATCH, 2, 9);
		size_t p = c.g.h * c.g.w, ny = c.n * c.g.c, nx = c.n * c.g.in_len;
		double *want = alloc(nx, sizeof(double)), *mag = alloc(nx, sizeof(double));
		float *y = guarded(ny), *dx = guarded(nx);
		ref_global_forward(&c.g, c.xd, c.n, want, mag);
		pool_global_forward(c.g.c, p, c.x, c.n, y);
		assert_sum(y, want, mag, ny, (double)p, "global-pool y");
		for (size_t i = 0; i < nx; i++) {
			want[i] = c.dyd[i / p] / (double)p;
			mag[i] = fabs(want[i]);
		}
		pool_global_backward(c.g.c, p, c.dy, c.n, dx);
		assert_sum(dx, want, mag, nx, 1.0, "global-pool dx");
		assert_guard(y, ny);
		assert_guard(dx, nx);
		free(want);
		free(mag);
		free(y);
		free(dx);
		pool_case_free(&c);
	}
}
END_TEST

/* ---- batch normalisation ---- */

/* BatchNorm1d (pixels 1) over more channels than a block, and BatchNorm2d over planes shorter
 * and longer than a block. */
static const struct norm_geom norm_shapes[] = {
	{.channels = 37, .pixels = 1, .eps = 1e-5, .momentum = 0.1},
	{.channels = 3, .pixels = 6, .eps = 1e-5, .momentum = 0.1},
	{.channels = 2, .pixels = 20, .eps = 1e-3, .momentum = 0.25},
};
#define NUM_NORM_SHAPES (sizeof(norm_shapes) / sizeof(norm_shapes[0]))

struct norm_case {
	struct norm_geom g;
	size_t n;
	int train;
	float *x, *gamma, *beta, *dy, *rm, *rv;
	double *xd, *gd, *bd, *dyd, *rmd, *rvd;
	double *y, *mean, *var; /* the loss's forward output and statistics */
};

static void norm_case_init(struct norm_case *c, size_t shape, size_t n, int train, uint64_t seed)
{
	struct rng r;
	struct error e;
	rng_seed(&r, seed, shape);
	c->g = norm_shapes[shape];
	ck_assert_int_eq(norm_geom_init(&c->g, &e), 0);
	c->n = n;
	c->train = train;
	size_t nx = n * c->g.len, nc = c->g.channels;
	c->xd = alloc(nx, sizeof(double));
	c->dyd = alloc(nx, sizeof(double));
	c->gd = alloc(nc, sizeof(double));
	c->bd = alloc(nc, sizeof(double));
	c->rmd = alloc(nc, sizeof(double));
	c->rvd = alloc(nc, sizeof(double));
	c->y = alloc(nx, sizeof(double));
	c->mean = alloc(nc, sizeof(double));
	c->var = alloc(nc, sizeof(double));
	/* An offset mean, as activations have, so that x - mean matters. */
	c->x = uniform(&r, nx, 1.0, 3.0, c->xd);
	c->dy = uniform(&r, nx, -1.0, 1.0, c->dyd);
	c->gamma = uniform(&r, nc, 0.5, 1.5, c->gd);
	c->beta = uniform(&r, nc, -0.5, 0.5, c->bd);
	c->rm = uniform(&r, nc, 1.5, 2.5, c->rmd);
	c->rv = uniform(&r, nc, 0.2, 0.5, c->rvd);
}

static void norm_case_free(struct norm_case *c)
{
	free(c->x);
	free(c->dy);
	free(c->gamma);
	free(c->beta);
	free(c->rm);
	free(c->rv);
	free(c->xd);
	free(c->dyd);
	free(c->gd);
	free(c->bd);
	free(c->rmd);
	free(c->rvd);
	free(c->y);
	free(c->mean);
	free(c->var);
}

/* Per channel, the mean and biased variance of the batch, two passes in double. */
static void ref_norm_stats(const struct norm_geom *g, const double *x, size_t n, double *mean,
			   double *var)
{
	double m = (double)(n * g->pixels);
	for (size_t c = 0; c < g->channels; c++) {
		double s = 0.0, q = 0.0;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < g->pixels; j++)
				s += x[i * g->len + c * g->pixels + j];
		mean[c] = s / m;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < g->pixels; j++) {
				double d = x[i * g->len + c * g->pixels + j] - mean[c];
				q += d * d;
			}
		var[c] = q / m;
	}
}

/* y = γ (x - mean) / √(var + eps) + β; mag, the scale of the float kernel's rounding (see
 * test_norm_train): |γ invstd| (|x| + 2 |mean|) + |β|. */
static void ref_norm_forward(const struct norm_geom *g, const double *x, size_t n,
			     const double *gamma, const double *beta, const double *mean,
			     const double *var, double *y, double *mag)
{
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < g->channels; c++) {
			double a = gamma[c] / sqrt(var[c] + g->eps);
			for (size_t j = 0; j < g->pixels; j++) {
				size_t at = i * g->len + c * g->pixels + j;
				y[at] = a * (x[at] - mean[c]) + beta[c];
				if (mag)
					mag[at] = fabs(a) * (fabs(x[at]) + 2.0 * fabs(mean[c])) +
						  fabs(beta[c]);
			}
		}
}

struct norm_grads {
	double *dx, *mdx, *dgamma, *mdgamma, *dbeta, *mdbeta;
};

static void norm_grads_alloc(struct norm_grads *r, const struct norm_geom *g, size_t n)
{
	r->dx = alloc(n * g->len, sizeof(double));
	r->mdx = alloc(n * g->len, sizeof(double));
	r->dgamma = alloc(g->channels, sizeof(double));
	r->mdgamma = alloc(g->channels, sizeof(double));
	r->dbeta = alloc(g->channels, sizeof(double));
	r->mdbeta = alloc(g->channels, sizeof(double));
}

static void norm_grads_free(struct norm_grads *r)
{
	free(r->dx);
	free(r->mdx);
	free(r->dgamma);
	free(r->mdgamma);
	free(r->dbeta);
	free(r->mdbeta);
}

/* The backward pass: with x̂ = (x - mean) invstd, dβ = Σ dy and dγ = Σ dy x̂; in training, the
 * statistics are functions of x, and dx = γ invstd / M (M dy - Σ dy - x̂ Σ dy x̂) (M values a
 * channel); in evaluation dx = γ invstd dy. mdx: the scale of the kernel's rounding, |a dy| +
 * |b| (|x| + 2 |mean|) + |t| for dx = a dy + b (x - mean) + t. */
static void ref_norm_backward(const struct norm_geom *g, const double *x, const double *dy,
			      size_t n, const double *gamma, const double *mean, const double *var,
			      int train, struct norm_grads *r)
{
	double m = (double)(n * g->pixels);
	for (size_t c = 0; c < g->channels; c++) {
		double invstd = 1.0 / sqrt(var[c] + g->eps), sdy = 0.0, sdyx = 0.0, ms = 0.0,
		       msx = 0.0;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < g->pixels; j++) {
				size_t at = i * g->len + c * g->pixels + j;
				double xh = (x[at] - mean[c]) * invstd;
				sdy += dy[at];
				sdyx += dy[at] * xh;
				ms += fabs(dy[at]);
				msx += fabs(dy[at] * xh);
			}
		r->dbeta[c] = sdy;
		r->mdbeta[c] = ms;
		r->dgamma[c] = sdyx;
		r->mdgamma[c] = msx;
		double a = gamma[c] * invstd;
		double b = train ? -a * invstd * sdyx / m : 0.0, t = train ? -a * sdy / m : 0.0;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < g->pixels; j++) {
				size_t at = i * g->len + c * g->pixels + j;
				r->dx[at] = a * dy[at] + b * (x[at] - mean[c]) + t;
				r->mdx[at] = fabs(a * dy[at]) +
					     fabs(b) * (fabs(x[at]) + 2.0 * fabs(mean[c])) +
					     fabs(t);
			}
	}
}

/* L = Σ dy · y, the statistics taken from x (training) or the running ones (evaluation). */
static double norm_loss(void *ctx)
{
	struct norm_case *c = ctx;
	if (c->train)
		ref_norm_stats(&c->g, c->xd, c->n, c->mean, c->var);
	else
		for (size_t k = 0; k < c->g.channels; k++) {
			c->mean[k] = c->rmd[k];
			c->var[k] = c->rvd[k];
		}
	ref_norm_forward(&c->g, c->xd, c->n, c->gd, c->bd, c->mean, c->var, c->y, NULL);
	return dot(c->dyd, c->y, c->n * c->g.len);
}

START_TEST(test_norm_reference)
{
	for (size_t s = 0; s < NUM_NORM_SHAPES; s++)
		for (int train = 0; train < 2; train++) {
			struct norm_case c;
			struct norm_grads r;
			norm_case_init(&c, s, 3, train, 10);
			norm_grads_alloc(&r, &c.g, c.n);
			norm_loss(&c); /* the statistics */
			ref_norm_backward(&c.g, c.xd, c.dyd, c.n, c.gd, c.mean, c.var, train, &r);
			assert_fd(c.xd, c.n * c.g.len, r.dx, norm_loss, &c, "norm dx");
			assert_fd(c.gd, c.g.channels, r.dgamma, norm_loss, &c, "norm dgamma");
			assert_fd(c.bd, c.g.channels, r.dbeta, norm_loss, &c, "norm dbeta");
			norm_grads_free(&r);
			norm_case_free(&c);
		}
}
END_TEST

START_TEST(test_norm_errors)
{
	struct error e;
	struct norm_geom g = {.channels = 4, .pixels = 1, .eps = 0.0, .momentum = 0.1};
	ck_assert_int_eq(norm_geom_init(&g, &e), -1);
	ck_assert_has(e.msg, "eps 0");
	g.eps = 1e-5;
	g.momentum = 1.5;
	ck_assert_int_eq(norm_geom_init(&g, &e), -1);
	ck_assert_has(e.msg, "momentum 1.5");
	g.momentum = 0.1;
	g.channels = 0;
	ck_assert_int_eq(norm_geom_init(&g, &e), -1);
	ck_assert_has(e.msg, "out of range");
	g.channels = 4;
	ck_assert_int_eq(norm_geom_init(&g, &e), 0);
	ck_assert_uint_eq(g.len, 4);

	/* One sample of BatchNorm1d has no variance; one sample of 2x2 planes has. */
	double sums[NORM_SUMS(4)] = {0}, mean[4], invstd[4];
	ck_assert_int_eq(norm_batch_stats(&g, sums, 1, mean, invstd, NULL, NULL, &e), -1);
	ck_assert_has(e.msg, "1 sample of 1 value");
	g.pixels = 4;
	ck_assert_int_eq(norm_geom_init(&g, &e), 0);
	ck_assert_int_eq(norm_batch_stats(&g, sums, 1, mean, invstd, NULL, NULL, &e), 0);
	ck_assert_double_eq(invstd[0], 1.0 / sqrt(1e-5));
}
END_TEST

/* Statistics summed in double from float inputs: M + 2 double roundings of Σ|x| (and, for the
 * variance, of Σ x² + M mean², the size of the cancelling terms), through 1 / √ to invstd. */
static void assert_stats(const struct norm_case *c, const double *mean, const double *invstd)
{
	double m = (double)(c->n * c->g.pixels), ud = DBL_EPSILON / 2.0;
	for (size_t k = 0; k < c->g.channels; k++) {
		double sabs = 0.0, sq = 0.0;
		for (size_t i = 0; i < c->n; i++)
			for (size_t j = 0; j < c->g.pixels; j++) {
				double v = c->xd[i * c->g.len + k * c->g.pixels + j];
				sabs += fabs(v);
				sq += v * v;
			}
		double want_inv = 1.0 / sqrt(c->var[k] + c->g.eps);
		double var_tol = (m + 4.0) * ud * (sq / m + c->mean[k] * c->mean[k]) * 2.0;
		ck_assert_msg(fabs(mean[k] - c->mean[k]) <= (m + 2.0) * ud * sabs / m,
			      "mean[%zu]: got %.17g, want %.17g", k, mean[k], c->mean[k]);
		ck_assert_msg(fabs(invstd[k] - want_inv) <=
				      want_inv * var_tol / (c->var[k] + c->g.eps) +
					      4.0 * ud * want_inv,
			      "invstd[%zu]: got %.17g, want %.17g", k, invstd[k], want_inv);
	}
}

/* Training: sums over two ranges of the batch into one accumulator, the statistics once, each
 * range normalised; backward likewise. The float passes are y = b (x - m) + t and
 * dx = a dy + b (x - m) + t with coefficients rounded from double: each coefficient, x - m,
 * the products and the additions round once, within 6 u of the reference's mag (8 u allowed),
 * with m rounded to float counted in the 2 |mean| of mag. */
START_TEST(test_norm_train)
{
	for (size_t s = 0; s < NUM_NORM_SHAPES; s++) {
		struct norm_case c;
		struct norm_grads r;
		struct error e;
		norm_case_init(&c, s, BATCH, 1, 11);
		struct norm_geom *g = &c.g;
		size_t nx = c.n * g->len, nc = g->channels, split = 2;
		double *sums = alloc(NORM_SUMS(nc), sizeof(double));
		double *mean = alloc(nc, sizeof(double)), *invstd = alloc(nc, sizeof(double));
		double *want = alloc(nx, sizeof(double)), *mag = alloc(nx, sizeof(double));
		float *y = guarded(nx), *dx = guarded(nx);
		float *dgamma = alloc(nc, sizeof(float)), *dbeta = alloc(nc, sizeof(float));

		norm_sums(g, c.x, split, sums);
		norm_sums(g, c.x + split * g->len, c.n - split, sums);
		ck_assert_int_eq(norm_batch_stats(g, sums, c.n, mean, invstd, c.rm, c.rv, &e), 0);
		ref_norm_stats(g, c.xd, c.n, c.mean, c.var);
		assert_stats(&c, mean, invstd);
		double mm = (double)(c.n * g->pixels);
		for (size_t k = 0; k < nc; k++) {
			double rm = (1.0 - g->momentum) * c.rmd[k] + g->momentum * c.mean[k];
			double rv = (1.0 - g->momentum) * c.rvd[k] +
				    g->momentum * c.var[k] * mm / (mm - 1.0);
			ck_assert_msg(fabs(c.rm[k] - rm) <= 2.0 * U * fabs(rm),
				      "running mean[%zu]: got %.9g, want %.9g", k, (double)c.rm[k],
				      rm);
			ck_assert_msg(fabs(c.rv[k] - rv) <= 2.0 * U * fabs(rv),
				      "running var[%zu]: got %.9g, want %.9g", k, (double)c.rv[k],
				      rv);
		}

		norm_forward(g, c.x, split, mean, invstd, c.gamma, c.beta, y);
		norm_forward(g, c.x + split * g->len, c.n - split, mean, invstd, c.gamma, c.beta,
			     y + split * g->len);
		ref_norm_forward(g, c.xd, c.n, c.gd, c.bd, c.mean, c.var, want, mag);
		assert_sum(y, want, mag, nx, 6.0, "norm y");

		norm_grads_alloc(&r, g, c.n);
		ref_norm_backward(g, c.xd, c.dyd, c.n, c.gd, c.mean, c.var, 1, &r);
		memset(sums, 0, NORM_SUMS(nc) * sizeof(double));
		norm_backward_sums(g, c.x, c.dy, split, mean, invstd, sums);
		norm_backward_sums(g, c.x + split * g->len, c.dy + split * g->len, c.n - split,
				   mean, invstd, sums);
		norm_param_grads(g, sums, dgamma, dbeta);
		assert_sum(dgamma, r.dgamma, r.mdgamma, nc, 1.0, "norm dgamma");
		assert_sum(dbeta, r.dbeta, r.mdbeta, nc, 1.0, "norm dbeta");
		norm_backward_train(g, c.x, c.dy, split, c.n, mean, invstd, c.gamma, sums, dx);
		norm_backward_train(g, c.x + split * g->len, c.dy + split * g->len, c.n - split,
				    c.n, mean, invstd, c.gamma, sums, dx + split * g->len);
		assert_sum(dx, r.dx, r.mdx, nx, 6.0, "norm dx");
		assert_guard(y, nx);
		assert_guard(dx, nx);

		norm_grads_free(&r);
		free(sums);
		free(mean);
		free(invstd);
		free(want);
		free(mag);
		free(y);
		free(dx);
		free(dgamma);
		free(dbeta);
		norm_case_free(&c);
	}
}
END_TEST

/* Evaluation: the running statistics, left as they are; the gradient does not go through
 * them. */
START_TEST(test_norm_eval)
{
	for (size_t s = 0; s < NUM_NORM_SHAPES; s++) {
		struct norm_case c;
		struct norm_grads r;
		norm_case_init(&c, s, BATCH, 0, 12);
		struct norm_geom *g = &c.g;
		size_t nx = c.n * g->len, nc = g->channels;
		double *sums = alloc(NORM_SUMS(nc), sizeof(double));
		double *mean = alloc(nc, sizeof(double)), *invstd = alloc(nc, sizeof(double));
		double *want = alloc(nx, sizeof(double)), *mag = alloc(nx, sizeof(double));
		float *y = guarded(nx), *dx = guarded(nx);
		float *dgamma = alloc(nc, sizeof(float)), *dbeta = alloc(nc, sizeof(float));

		norm_running_stats(g, c.rm, c.rv, mean, invstd);
		for (size_t k = 0; k < nc; k++) {
			ck_assert_double_eq(mean[k], c.rmd[k]);
			ck_assert_double_eq_tol(invstd[k], 1.0 / sqrt(c.rvd[k] + g->eps),
						4.0 * DBL_EPSILON * invstd[k]);
		}
		norm_forward(g, c.x, c.n, mean, invstd, c.gamma, c.beta, y);
		ref_norm_forward(g, c.xd, c.n, c.gd, c.bd, c.rmd, c.rvd, want, mag);
		assert_sum(y, want, mag, nx, 6.0, "norm eval y");

		norm_grads_alloc(&r, g, c.n);
		ref_norm_backward(g, c.xd, c.dyd, c.n, c.gd, c.rmd, c.rvd, 0, &r);
		norm_backward_sums(g, c.x, c.dy, c.n, mean, invstd, sums);
		norm_param_grads(g, sums, dgamma, dbeta);
		assert_sum(dgamma, r.dgamma, r.mdgamma, nc, 1.0, "norm eval dgamma");
		assert_sum(dbeta, r.dbeta, r.mdbeta, nc, 1.0, "norm eval dbeta");
		norm_backward_eval(g, c.dy, c.n, invstd, c.gamma, dx);
		assert_sum(dx, r.dx, r.mdx, nx, 6.0, "norm eval dx");
		assert_guard(y, nx);
		assert_guard(dx, nx);

		norm_grads_free(&r);
		free(sums);
		free(mean);
		free(invstd);
		free(want);
		free(mag);
		free(y);
		free(dx);
		free(dgamma);
		free(dbeta);
		norm_case_free(&c);
	}
}
END_TEST

/* ---- element-wise ---- */

#define EW_COUNT 37 /* two blocks and a remainder */

START_TEST(test_elementwise)
{
	struct rng r;
	double xd[EW_COUNT];
	rng_seed(&r, 13, 0);
	float *x = uniform(&r, EW_COUNT, -1.0, 1.0, xd),
	      *y = uniform(&r, EW_COUNT, -1.0, 1.0, NULL);
	float *d = uniform(&r, EW_COUNT, -1.0, 1.0, NULL), *keep = alloc(EW_COUNT, sizeof(float));
	x[3] = 0.0f;
	xd[3] = 0.0;

	memcpy(keep, y, EW_COUNT * sizeof(float));
	elementwise_add(y, x, EW_COUNT);
	for (size_t i = 0; i < EW_COUNT; i++)
		ck_assert_float_eq(y[i], keep[i] + x[i]);

	double s = 0.0, m = 0.0;
	for (size_t i = 0; i < EW_COUNT; i++) {
		s += xd[i];
		m += fabs(xd[i]);
	}
	float sum = (float)elementwise_sum(x, EW_COUNT);
	assert_sum(&sum, &s, &m, 1, EW_COUNT, "sum");
	ck_assert_double_eq(elementwise_sum(x, 0), 0.0);

	elementwise_relu(x, EW_COUNT);
	memcpy(keep, d, EW_COUNT * sizeof(float));
	elementwise_relu_backward(d, x, EW_COUNT);
	for (size_t i = 0; i < EW_COUNT; i++) {
		ck_assert_float_eq(x[i], xd[i] > 0.0 ? (float)xd[i] : 0.0f);
		ck_assert_float_eq(d[i], xd[i] > 0.0 ? keep[i] : 0.0f);
	}
	free(x);
	free(y);
	free(d);
	free(keep);
}
END_TEST

static Suite *layers_suite(void)
{
	Suite *s = suite_create("layers");
	TCase *tc = tcase_create("conv");
	tcase_add_test(tc, test_conv_reference);
	tcase_add_test(tc, test_conv_geometry);
	tcase_add_test(tc, test_conv_forward);
	tcase_add_test(tc, test_conv_backward);
	tcase_add_test(tc, test_conv_accumulate);
	tcase_add_test(tc, test_conv_grad_sq);
	suite_add_tcase(s, tc);

	tc = tcase_create("pool");
	tcase_add_test(tc, test_pool_reference);
	tcase_add_test(tc, test_pool_geometry);
	tcase_add_test(tc, test_pool_max);
	tcase_add_test(tc, test_pool_max_ties);
	tcase_add_test(tc, test_pool_avg);
	tcase_add_test(tc, test_pool_global);
	suite_add_tcase(s, tc);

	tc = tcase_create("norm");
	tcase_add_test(tc, test_norm_reference);
	tcase_add_test(tc, test_norm_errors);
	tcase_add_test(tc, test_norm_train);
	tcase_add_test(tc, test_norm_eval);
	suite_add_tcase(s, tc);

	tc = tcase_create("elementwise");
	tcase_add_test(tc, test_elementwise);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	openblas_set_num_threads(1);
	return testutil_run(layers_suite());
}
