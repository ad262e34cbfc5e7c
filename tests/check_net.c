/* The net suite: the model as a graph of layers (host/model/model*.c). Whole graphs against an
 * independent reference in double written here, whose gradients are first checked by central
 * differences; descriptions, presets and their errors;
 * batch norm's modes; clones and copies; initialisations; threads; and no allocation in steady
 * state.
 *
 * Tolerances. The reference carries, beside every value, a bound on how far the float model's
 * may lie from it, whatever the BLAS kernel, the thread count and the order of each sum: a float
 * sum of k terms in any order, fused or not, is within γ_k = k u / (1 - k u) of the sum of their
 * magnitudes (u = 2^-24; Higham, Accuracy and Stability of Numerical Algorithms, §3.1), and
 * errors already in a layer's inputs travel through it as through any function: bounded by the
 * layer's slope, |w| e for a product with a weight, |a| eb + ea |b| + ea eb for a product of two
 * uncertain values, and for batch norm through its statistics (see ref_norm_stats). Where a
 * decision may go either way within the bounds (a ReLU's input within its bound of 0, two inputs
 * of a max-pooling window within theirs), the bound of the gradient covers both ways. Each
 * layer's own rounding is the count of its additions, as tests/check_layers.c derives them for
 * the kernels. Those whole-graph bounds compound through the layers (batch norm divides by the
 * batch's deviation), so each layer is also checked alone, the reference run on the model's own
 * float inputs taken as exact: then each bound is that layer's own rounding, however deep. A
 * wrong index, a missed term or a gradient overwritten instead of added is off by orders of
 * magnitude more. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "alloc_hook.h"
#include "model/loss.h"
#include "model/model.h"
#include "model/sgd.h"
#include "model/model.h"
#include "model/model_impl.h"
#include "util/rng.h"
#include "testutil.h"

#define U  0x1p-24 /* float's unit roundoff */
#define UD 0x1p-53 /* double's */

/* Central differences of the double reference, decisions (ReLU masks, max-pooling choices)
 * kept from the base pass so that the loss is smooth: the step h = 1e-6 leaves a rounding error
 * of about 1e-16 |L| / h = 1e-10 |L|, and a truncation error of h² times a third derivative,
 * 0 on the linear layers and small through batch norm; 1e-6 relative leaves room for both,
 * while a wrong formula is off by order 1. */
#define FD_H   1e-6
#define FD_TOL 1e-6

#define BATCH 5 /* 2 and 3 samples on two threads, 1, 2, 2 on three */

static void *alloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* count floats uniform in [lo, hi). */
static float *uniform(struct rng *r, size_t count, double lo, double hi)
{
	float *f = alloc(count, sizeof(float));
	for (size_t i = 0; i < count; i++)
		f[i] = (float)(lo + (hi - lo) * rng_uniform(r));
	return f;
}

static double *widen(const float *f, size_t count)
{
	double *d = alloc(count, sizeof(double));
	for (size_t i = 0; i < count; i++)
		d[i] = f[i];
	return d;
}

/* got within tol of want, element by element. */
static void assert_within(const float *got, const double *want, const double *tol, size_t count,
			  const char *what)
{
	for (size_t i = 0; i < count; i++)
		ck_assert_msg(fabs(got[i] - want[i]) <= tol[i] + 1e-30,
			      "%s[%zu]: got %.9g, want %.9g (tolerance %.3g)", what, i,
			      (double)got[i], want[i], tol[i]);
}

/* ---- test graphs: the layers a description means, written out independently ---- */

enum rkind { R_DENSE, R_CONV, R_BN, R_RELU, R_MAX, R_AVG, R_GAP, R_ADD, R_FLAT };

struct rspec {
	enum rkind kind;
	size_t in, in2;	       /* input nodes: 0 the input, i + 1 layer i's output */
	size_t n, k, s, p;     /* dense, conv: outputs; conv, pools: kernel, stride, padding */
	int bias;
};

#define SPEC_MAX 48

struct graph {
	const char *desc; /* the model's free list */
	size_t c, h, w, classes;
	size_t num;
	struct rspec spec[SPEC_MAX];
};

static size_t put(struct graph *g, struct rspec s)
{
	ck_assert_uint_lt(g->num, SPEC_MAX);
	g->spec[g->num++] = s;
	return g->num;
}

static size_t conv(struct graph *g, size_t x, size_t n, size_t k, size_t s, size_t p, int bias)
{
	return put(g, (struct rspec){.kind = R_CONV, .in = x, .n = n, .k = k, .s = s, .p = p,
				     .bias = bias});
}

static size_t plain(struct graph *g, enum rkind kind, size_t x)
{
	return put(g, (struct rspec){.kind = kind, .in = x});
}

static size_t pool(struct graph *g, enum rkind kind, size_t x, size_t k, size_t s)
{
	return put(g, (struct rspec){.kind = kind, .in = x, .k = k, .s = s});
}

static size_t dense(struct graph *g, size_t x, size_t n)
{
	return put(g, (struct rspec){.kind = R_DENSE, .in = x, .n = n, .bias = 1});
}

/* He et al.'s BasicBlock, as the design gives it: conv3x3(s) bn relu conv3x3 bn, the input or
 * conv1x1(s) bn of it, added, relu. */
static size_t block(struct graph *g, size_t x, size_t cin, size_t n, size_t s)
{
	size_t y = conv(g, x, n, 3, s, 1, 0);
	y = plain(g, R_BN, y);
	y = plain(g, R_RELU, y);
	y = conv(g, y, n, 3, 1, 1, 0);
	y = plain(g, R_BN, y);
	size_t sc = x;
	if (s != 1 || cin != n)
		sc = plain(g, R_BN, conv(g, x, n, 1, s, 0, 0));
	y = put(g, (struct rspec){.kind = R_ADD, .in = y, .in2 = sc});
	return plain(g, R_RELU, y);
}

/* A small CNN: padding, stride 2, no bias, max and average pooling, flatten, dense. */
static void graph_cnn(struct graph *g)
{
	*g = (struct graph){.desc = "conv 3 k3 p1, relu, maxpool 2, conv 4 k3 s2 p1 nobias, relu, "
				    "avgpool 2 s1, flatten, dense 5, relu, dense",
			    .c = 2, .h = 7, .w = 6, .classes = 3};
	size_t x = plain(g, R_RELU, conv(g, 0, 3, 3, 1, 1, 1));
	x = pool(g, R_MAX, x, 2, 2);
	x = plain(g, R_RELU, conv(g, x, 4, 3, 2, 1, 0));
	x = plain(g, R_FLAT, pool(g, R_AVG, x, 2, 1));
	dense(g, plain(g, R_RELU, dense(g, x, 5)), 3);
}

/* A residual block with batch norm and a 1x1 shortcut at stride 2, global pooling. */
static void graph_res(struct graph *g)
{
	*g = (struct graph){.desc = "conv 4 k3 p1 nobias, bn, relu, res 6 s2, gap, dense",
			    .c = 3, .h = 6, .w = 6, .classes = 3};
	size_t x = plain(g, R_RELU, plain(g, R_BN, conv(g, 0, 4, 3, 1, 1, 0)));
	x = block(g, x, 4, 6, 2);
	dense(g, plain(g, R_GAP, x), 3);
}

/* A block with the identity shortcut, on the input itself: two layers read it. */
static void graph_block(struct graph *g)
{
	*g = (struct graph){.desc = "res 3, gap, dense", .c = 3, .h = 5, .w = 4, .classes = 2};
	dense(g, plain(g, R_GAP, block(g, 0, 3, 3, 1)), 2);
}

/* Convolutions fused with their ReLU and 2x2 max-pooling (host/model/fuse.c) over an odd
 * width, then an odd height and width, whose last column and row are in no window; ReLU
 * outputs of 0 tie in a window. */
static void graph_fused(struct graph *g)
{
	*g = (struct graph){.desc = "conv 3 k2, relu, maxpool 2, conv 2 k1 nobias, relu, "
				    "maxpool 2, flatten, dense",
			    .c = 2, .h = 7, .w = 8, .classes = 3};
	size_t x = pool(g, R_MAX, plain(g, R_RELU, conv(g, 0, 3, 2, 1, 0, 1)), 2, 2);
	x = pool(g, R_MAX, plain(g, R_RELU, conv(g, x, 2, 1, 1, 0, 0)), 2, 2);
	dense(g, plain(g, R_FLAT, x), 3);
}

/* The rest: a ReLU on the input (not in place), overlapping max-pooling windows, batch norm
 * over a dense layer (1-D), a conv at stride 3 with padding 2 after a flatten-free pool. */
static void graph_misc(struct graph *g)
{
	*g = (struct graph){.desc = "relu, maxpool 3 s1, conv 3 k3 s3 p2, avgpool 2, flatten, "
				    "dense 6, bn, relu, dense",
			    .c = 2, .h = 6, .w = 7, .classes = 4};
	size_t x = pool(g, R_MAX, plain(g, R_RELU, 0), 3, 1);
	x = pool(g, R_AVG, conv(g, x, 3, 3, 3, 2, 1), 2, 2);
	x = plain(g, R_RELU, plain(g, R_BN, dense(g, plain(g, R_FLAT, x), 6)));
	dense(g, x, 4);
}

/* ---- the reference ---- */

struct ref {
	const struct graph *g;
	size_t rows, num, num_params, num_state;
	size_t *c, *h, *w, *len;		     /* per node */
	size_t *w_off, *w_cnt, *b_off, *b_cnt, *s_off; /* per layer */
	double **v, **e;			     /* per node: values and bounds */
	double **gr, **eg;			     /* per node: gradients and bounds */
	uint8_t *written;			     /* per node: gradient set */
	uint8_t **mask, **amb;			     /* RELU per value, MAX per output */
	size_t **arg;				     /* MAX per output */
	double **mean, **emean, **var, **evar, **inv, **einv; /* BN per channel */
	double *grad, *egrad;			     /* num_params */
	int train; /* batch norm's batch statistics */
	int stats; /* backward: batch norm's statistics as constants */
};

static void ref_init(struct ref *r, const struct graph *g, size_t rows)
{
	memset(r, 0, sizeof(*r));
	r->g = g;
	r->rows = rows;
	r->num = g->num;
	size_t nodes = g->num + 1;
	r->c = alloc(nodes, sizeof(size_t));
	r->h = alloc(nodes, sizeof(size_t));
	r->w = alloc(nodes, sizeof(size_t));
	r->len = alloc(nodes, sizeof(size_t));
	r->w_off = alloc(g->num, sizeof(size_t));
	r->w_cnt = alloc(g->num, sizeof(size_t));
	r->b_off = alloc(g->num, sizeof(size_t));
	r->b_cnt = alloc(g->num, sizeof(size_t));
	r->s_off = alloc(g->num, sizeof(size_t));
	r->c[0] = g->c;
	r->h[0] = g->h;
	r->w[0] = g->w;
	for (size_t i = 0; i < g->num; i++) {
		const struct rspec *s = &g->spec[i];
		size_t a = s->in, o = i + 1, c = r->c[a], h = r->h[a], w = r->w[a];
		size_t wc = 0, bc = 0;
		switch (s->kind) {
		case R_DENSE:
			r->c[o] = s->n, r->h[o] = r->w[o] = 1;
			wc = s->n * c * h * w, bc = s->n;
			break;
		case R_CONV:
			r->c[o] = s->n;
			r->h[o] = (h + 2 * s->p - s->k) / s->s + 1;
			r->w[o] = (w + 2 * s->p - s->k) / s->s + 1;
			wc = s->n * c * s->k * s->k, bc = s->bias ? s->n : 0;
			break;
		case R_BN:
			r->c[o] = c, r->h[o] = h, r->w[o] = w;
			wc = bc = c;
			r->s_off[i] = r->num_state;
			r->num_state += 2 * c;
			break;
		case R_MAX:
		case R_AVG:
			r->c[o] = c;
			r->h[o] = (h - s->k) / s->s + 1;
			r->w[o] = (w - s->k) / s->s + 1;
			break;
		case R_GAP:
			r->c[o] = c, r->h[o] = r->w[o] = 1;
			break;
		case R_FLAT:
			r->c[o] = c * h * w, r->h[o] = r->w[o] = 1;
			break;
		case R_RELU:
		case R_ADD:
			r->c[o] = c, r->h[o] = h, r->w[o] = w;
			break;
		}
		r->w_off[i] = r->num_params;
		r->w_cnt[i] = wc;
		r->b_off[i] = r->num_params + wc;
		r->b_cnt[i] = bc;
		r->num_params += wc + bc;
	}
	r->v = alloc(nodes, sizeof(double *));
	r->e = alloc(nodes, sizeof(double *));
	r->gr = alloc(nodes, sizeof(double *));
	r->eg = alloc(nodes, sizeof(double *));
	r->written = alloc(nodes, 1);
	for (size_t j = 0; j < nodes; j++) {
		r->len[j] = r->c[j] * r->h[j] * r->w[j];
		r->v[j] = alloc(rows * r->len[j], sizeof(double));
		r->e[j] = alloc(rows * r->len[j], sizeof(double));
		r->gr[j] = alloc(rows * r->len[j], sizeof(double));
		r->eg[j] = alloc(rows * r->len[j], sizeof(double));
	}
	r->mask = alloc(g->num, sizeof(uint8_t *));
	r->amb = alloc(g->num, sizeof(uint8_t *));
	r->arg = alloc(g->num, sizeof(size_t *));
	r->mean = alloc(g->num, sizeof(double *));
	r->emean = alloc(g->num, sizeof(double *));
	r->var = alloc(g->num, sizeof(double *));
	r->evar = alloc(g->num, sizeof(double *));
	r->inv = alloc(g->num, sizeof(double *));
	r->einv = alloc(g->num, sizeof(double *));
	for (size_t i = 0; i < g->num; i++) {
		size_t out = rows * r->len[i + 1], c = r->c[i + 1];
		r->mask[i] = alloc(out, 1);
		r->amb[i] = alloc(out, 1);
		r->arg[i] = alloc(out, sizeof(size_t));
		r->mean[i] = alloc(c, sizeof(double));
		r->emean[i] = alloc(c, sizeof(double));
		r->var[i] = alloc(c, sizeof(double));
		r->evar[i] = alloc(c, sizeof(double));
		r->inv[i] = alloc(c, sizeof(double));
		r->einv[i] = alloc(c, sizeof(double));
	}
	r->grad = alloc(r->num_params, sizeof(double));
	r->egrad = alloc(r->num_params, sizeof(double));
}

static void ref_free(struct ref *r)
{
	for (size_t j = 0; j <= r->num; j++) {
		free(r->v[j]);
		free(r->e[j]);
		free(r->gr[j]);
		free(r->eg[j]);
	}
	for (size_t i = 0; i < r->num; i++) {
		free(r->mask[i]);
		free(r->amb[i]);
		free(r->arg[i]);
		free(r->mean[i]);
		free(r->emean[i]);
		free(r->var[i]);
		free(r->evar[i]);
		free(r->inv[i]);
		free(r->einv[i]);
	}
	void *all[] = {r->c,	r->h,	 r->w,	  r->len,  r->w_off, r->w_cnt,	r->b_off,
		       r->b_cnt, r->s_off, r->v,	  r->e,	   r->gr,    r->eg,	r->written,
		       r->mask,	r->amb,	 r->arg,  r->mean, r->emean, r->var,	r->evar,
		       r->inv,	r->einv, r->grad, r->egrad};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(all[i]);
}

/* Index of (sample, channel, y, x) in node j. */
static size_t at(const struct ref *r, size_t j, size_t n, size_t c, size_t y, size_t x)
{
	return ((n * r->c[j] + c) * r->h[j] + y) * r->w[j] + x;
}

/* The input a conv tap (ci, ky, kx) reads for output (oy, ox) of sample n, or -1 in the
 * padding. */
static long conv_input(const struct ref *r, size_t i, size_t n, size_t ci, size_t ky, size_t kx,
		       size_t oy, size_t ox)
{
	const struct rspec *s = &r->g->spec[i];
	long y = (long)(oy * s->s + ky) - (long)s->p, x = (long)(ox * s->s + kx) - (long)s->p;
	if (y < 0 || x < 0 || y >= (long)r->h[s->in] || x >= (long)r->w[s->in])
		return -1;
	return (long)at(r, s->in, n, ci, (size_t)y, (size_t)x);
}

/* Batch norm's statistics and the bounds of the float model's, which sums x and x² in double
 * from its float inputs: the mean moves by at most the mean of the inputs' bounds, the variance
 * by 2 Σ|x - μ| e / M + Σ e² / M (var(x + d) - var(x) = 2 cov(x, d) + var(d)), plus the double
 * sums' own rounding ((M + 4) ud of the cancelling terms, as check_layers); 1 / √(var + eps) is
 * decreasing, so its bound is its value at the variance's lower end minus its value. */
static void ref_norm_stats(struct ref *r, size_t i, const double *state)
{
	const struct rspec *s = &r->g->spec[i];
	size_t a = s->in, P = r->h[a] * r->w[a];
	double M = (double)(r->rows * P);
	for (size_t c = 0; c < r->c[a]; c++) {
		double mu, var, emu = 0.0, evar = 0.0;
		if (r->train) {
			double sum = 0.0, q = 0.0, se = 0.0, mag = 0.0;
			for (size_t n = 0; n < r->rows; n++)
				for (size_t p = 0; p < P; p++) {
					size_t k = at(r, a, n, c, 0, 0) + p;
					sum += r->v[a][k];
					se += r->e[a][k];
					mag += fabs(r->v[a][k]) + r->e[a][k];
				}
			mu = sum / M;
			emu = se / M + UD * (M + 2.0) * mag / M;
			double cov = 0.0, ee = 0.0, sq = 0.0;
			for (size_t n = 0; n < r->rows; n++)
				for (size_t p = 0; p < P; p++) {
					size_t k = at(r, a, n, c, 0, 0) + p;
					double d = r->v[a][k] - mu, x = fabs(r->v[a][k]) + r->e[a][k];
					q += d * d;
					cov += fabs(d) * r->e[a][k];
					ee += r->e[a][k] * r->e[a][k];
					sq += x * x;
				}
			var = q / M;
			evar = 2.0 * cov / M + ee / M +
			       UD * (M + 4.0) * 2.0 * (sq / M + (fabs(mu) + emu) * (fabs(mu) + emu));
		} else {
			mu = state[r->s_off[i] + c];
			var = state[r->s_off[i] + r->c[a] + c];
		}
		double inv = 1.0 / sqrt(var + 1e-5);
		ck_assert_msg(var - evar + 1e-5 > 0.0, "batch norm variance bound too wide");
		r->mean[i][c] = mu;
		r->emean[i][c] = emu;
		r->var[i][c] = var;
		r->evar[i][c] = evar;
		r->inv[i][c] = inv;
		r->einv[i][c] = 1.0 / sqrt(var - evar + 1e-5) - inv + 4.0 * UD * inv;
	}
}

/* The layer's output and its bound; decisions (masks, maxima, batch norm's statistics when
 * freeze_stats) from frozen if not NULL. */
static void ref_layer_forward(struct ref *r, size_t i, const double *theta, const double *state,
			      const struct ref *frozen, int freeze_stats)
{
	const struct rspec *s = &r->g->spec[i];
	size_t a = s->in, o = i + 1, N = r->rows;
	const double *x = r->v[a], *ex = r->e[a];
	double *y = r->v[o], *ey = r->e[o];
	const double *W = theta + r->w_off[i], *B = theta + r->b_off[i];
	switch (s->kind) {
	case R_DENSE: {
		size_t in = r->len[a];
		for (size_t n = 0; n < N; n++)
			for (size_t j = 0; j < s->n; j++) {
				double v = B[j], mag = fabs(B[j]), car = 0.0;
				for (size_t k = 0; k < in; k++) {
					double wk = W[j * in + k], xk = x[n * in + k];
					v += wk * xk;
					mag += fabs(wk) * (fabs(xk) + ex[n * in + k]);
					car += fabs(wk) * ex[n * in + k];
				}
				y[n * s->n + j] = v;
				ey[n * s->n + j] = car + ref_gamma(in + 1) * mag;
			}
		break;
	}
	case R_CONV: {
		size_t cin = r->c[a], kk = s->k * s->k;
		for (size_t n = 0; n < N; n++)
			for (size_t co = 0; co < s->n; co++)
				for (size_t oy = 0; oy < r->h[o]; oy++)
					for (size_t ox = 0; ox < r->w[o]; ox++) {
						double v = s->bias ? B[co] : 0.0, mag = fabs(v),
						       car = 0.0;
						for (size_t t = 0; t < cin * kk; t++) {
							long xi = conv_input(r, i, n, t / kk,
									     t % kk / s->k,
									     t % s->k, oy, ox);
							if (xi < 0)
								continue;
							double wt = W[co * cin * kk + t];
							v += wt * x[xi];
							mag += fabs(wt) * (fabs(x[xi]) + ex[xi]);
							car += fabs(wt) * ex[xi];
						}
						size_t k = at(r, o, n, co, oy, ox);
						y[k] = v;
						ey[k] = car + ref_gamma(cin * kk + 1) * mag;
					}
		break;
	}
	case R_BN: {
		if (!(freeze_stats && frozen))
			ref_norm_stats(r, i, state);
		else
			for (size_t c = 0; c < r->c[a]; c++) {
				r->mean[i][c] = frozen->mean[i][c];
				r->var[i][c] = frozen->var[i][c];
				r->inv[i][c] = frozen->inv[i][c];
				r->emean[i][c] = frozen->emean[i][c];
				r->evar[i][c] = frozen->evar[i][c];
				r->einv[i][c] = frozen->einv[i][c];
			}
		size_t P = r->h[a] * r->w[a];
		for (size_t n = 0; n < N; n++)
			for (size_t c = 0; c < r->c[a]; c++) {
				double mu = r->mean[i][c], emu = r->emean[i][c];
				double inv = r->inv[i][c], einv = r->einv[i][c];
				for (size_t p = 0; p < P; p++) {
					size_t k = at(r, a, n, c, 0, 0) + p;
					double d = x[k] - mu;
					y[k] = W[c] * d * inv + B[c];
					/* Through x, the mean and invstd; then the kernel's own
					 * rounding, 8 u of its terms (check_layers). */
					double mag = fabs(W[c]) * (inv + einv) *
							     (fabs(x[k]) + ex[k] +
							      2.0 * (fabs(mu) + emu)) +
						     fabs(B[c]);
					ey[k] = fabs(W[c]) * ((ex[k] + emu) * (inv + einv) +
							      fabs(d) * einv) +
						8.0 * U * mag;
				}
			}
		break;
	}
	case R_RELU:
		for (size_t k = 0; k < N * r->len[a]; k++) {
			uint8_t on = frozen ? frozen->mask[i][k] : x[k] > 0.0;
			r->mask[i][k] = on;
			r->amb[i][k] = x[k] > -ex[k] && x[k] <= ex[k];
			y[k] = on ? x[k] : 0.0;
			/* Below -e the float input is not positive either: its ReLU is 0 too. */
			ey[k] = x[k] > -ex[k] ? ex[k] : 0.0;
		}
		break;
	case R_MAX:
	case R_AVG:
		for (size_t n = 0; n < N; n++)
			for (size_t c = 0; c < r->c[a]; c++)
				for (size_t oy = 0; oy < r->h[o]; oy++)
					for (size_t ox = 0; ox < r->w[o]; ox++) {
						size_t ko = at(r, o, n, c, oy, ox);
						size_t best = at(r, a, n, c, oy * s->s, ox * s->s);
						double sum = 0.0, mag = 0.0, esum = 0.0, emax = 0.0;
						for (size_t ky = 0; ky < s->k; ky++)
							for (size_t kx = 0; kx < s->k; kx++) {
								size_t k = at(r, a, n, c,
									      oy * s->s + ky,
									      ox * s->s + kx);
								if (x[k] > x[best])
									best = k;
								sum += x[k];
								esum += ex[k];
								mag += fabs(x[k]) + ex[k];
								emax = fmax(emax, ex[k]);
							}
						double kk = (double)(s->k * s->k);
						if (s->kind == R_AVG) {
							y[ko] = sum / kk;
							ey[ko] = esum / kk +
								 ref_gamma(s->k * s->k + 3) * mag / kk;
							continue;
						}
						if (frozen)
							best = frozen->arg[i][ko];
						r->arg[i][ko] = best;
						y[ko] = x[best];
						ey[ko] = emax;
						/* Another input that may reach the maximum within the
						 * bounds: the float pass may take it. */
						r->amb[i][ko] = 0;
						for (size_t ky = 0; ky < s->k; ky++)
							for (size_t kx = 0; kx < s->k; kx++) {
								size_t k = at(r, a, n, c,
									      oy * s->s + ky,
									      ox * s->s + kx);
								if (k != best &&
								    x[k] + ex[k] >= x[best] - ex[best])
									r->amb[i][ko] = 1;
							}
					}
		break;
	case R_GAP: {
		size_t P = r->h[a] * r->w[a];
		for (size_t k = 0; k < N * r->c[a]; k++) {
			double sum = 0.0, esum = 0.0, mag = 0.0;
			for (size_t p = 0; p < P; p++) {
				sum += x[k * P + p];
				esum += ex[k * P + p];
				mag += fabs(x[k * P + p]) + ex[k * P + p];
			}
			y[k] = sum / (double)P;
			ey[k] = esum / (double)P + ref_gamma(P + 3) * mag / (double)P;
		}
		break;
	}
	case R_ADD: {
		const double *x2 = r->v[s->in2], *ex2 = r->e[s->in2];
		for (size_t k = 0; k < N * r->len[o]; k++) {
			y[k] = x[k] + x2[k];
			ey[k] = ex[k] + ex2[k] + U * (fabs(x[k]) + ex[k] + fabs(x2[k]) + ex2[k]);
		}
		break;
	}
	case R_FLAT:
		memcpy(y, x, N * r->len[o] * sizeof(double));
		memcpy(ey, ex, N * r->len[o] * sizeof(double));
		break;
	}
}

static void ref_forward(struct ref *r, const double *theta, const double *state, const double *x,
			const struct ref *frozen, int freeze_stats)
{
	memcpy(r->v[0], x, r->rows * r->len[0] * sizeof(double));
	memset(r->e[0], 0, r->rows * r->len[0] * sizeof(double));
	for (size_t i = 0; i < r->num; i++)
		ref_layer_forward(r, i, theta, state, frozen, freeze_stats);
}

/* Σ dl · logits: the loss whose gradient a backward from dl computes. */
static double ref_loss(struct ref *r, const double *theta, const double *state, const double *x,
		       const struct ref *frozen, int freeze_stats, const double *dl)
{
	ref_forward(r, theta, state, x, frozen, freeze_stats);
	double sum = 0.0;
	for (size_t k = 0; k < r->rows * r->len[r->num]; k++)
		sum += dl[k] * r->v[r->num][k];
	return sum;
}

/* A contribution cv (bound ce, from a sum of terms terms) to node j's gradient: set, or added
 * to what is there, the float addition then rounding at most terms + 2 times onto the earlier
 * value (a conv's col2im adds each tap onto it, a GEMM with beta 1 its whole sum). */
static void contribute(struct ref *r, size_t j, const double *cv, const double *ce, size_t terms)
{
	size_t count = r->rows * r->len[j];
	if (!r->written[j]) {
		memcpy(r->gr[j], cv, count * sizeof(double));
		memcpy(r->eg[j], ce, count * sizeof(double));
		r->written[j] = 1;
		return;
	}
	for (size_t k = 0; k < count; k++) {
		double mag = fabs(r->gr[j][k]) + r->eg[j][k] + fabs(cv[k]) + ce[k];
		r->eg[j][k] += ce[k] + ref_gamma(terms + 2) * mag;
		r->gr[j][k] += cv[k];
	}
}

/* Σ over terms: value, carried bound and magnitude, finished into value and bound. */
struct acc3 {
	double *v, *car, *mag;
};

static struct acc3 acc3_new(size_t count)
{
	return (struct acc3){alloc(count, sizeof(double)), alloc(count, sizeof(double)),
			     alloc(count, sizeof(double))};
}

/* car + γ_terms mag into car; frees mag. */
static void acc3_finish(struct acc3 *a, size_t count, size_t terms)
{
	for (size_t k = 0; k < count; k++)
		a->car[k] += ref_gamma(terms) * a->mag[k];
	free(a->mag);
}

static void acc3_free(struct acc3 *a)
{
	free(a->v);
	free(a->car);
}

/* dL/dθ of a sum Σ_k dy_k x_k over terms, into grad and egrad. */
static void param_grad(struct ref *r, size_t p, double v, double car, double mag, size_t terms)
{
	r->grad[p] = v;
	r->egrad[p] = car + ref_gamma(terms) * mag;
}

/* An interval: a value and a bound on the float model's distance from it. */
struct iv {
	double v, e;
};

static struct iv iv_mul(struct iv a, struct iv b)
{
	return (struct iv){a.v * b.v, fabs(a.v) * b.e + a.e * fabs(b.v) + a.e * b.e};
}

static struct iv iv_scale(struct iv a, double c)
{
	return (struct iv){a.v * c, a.e * fabs(c)};
}

static double iv_mag(struct iv a)
{
	return fabs(a.v) + a.e;
}

static void ref_norm_backward(struct ref *r, size_t i, const double *theta)
{
	const struct rspec *s = &r->g->spec[i];
	size_t a = s->in, o = i + 1, P = r->h[a] * r->w[a], C = r->c[a], N = r->rows;
	const double *x = r->v[a], *ex = r->e[a], *dy = r->gr[o], *edy = r->eg[o];
	const double *gamma = theta + r->w_off[i];
	double M = (double)(N * P);
	double *cv = alloc(N * r->len[a], sizeof(double)), *ce = alloc(N * r->len[a], sizeof(double));
	int train = r->train && !r->stats;
	for (size_t c = 0; c < C; c++) {
		struct iv mu = {r->mean[i][c], r->emean[i][c]}, inv = {r->inv[i][c], r->einv[i][c]};
		/* Σ dy and Σ dy (x - mean), summed in double by the model. */
		double s1 = 0.0, e1 = 0.0, m1 = 0.0, s2 = 0.0, e2 = 0.0, m2 = 0.0;
		for (size_t n = 0; n < N; n++)
			for (size_t p = 0; p < P; p++) {
				size_t k = at(r, a, n, c, 0, 0) + p;
				struct iv d = {x[k] - mu.v, ex[k] + mu.e}, g = {dy[k], edy[k]};
				struct iv t = iv_mul(g, d);
				s1 += dy[k];
				e1 += edy[k];
				m1 += iv_mag(g);
				s2 += t.v;
				e2 += t.e;
				m2 += iv_mag(t);
			}
		struct iv S1 = {s1, e1 + UD * (M + 2.0) * m1};
		struct iv S2 = iv_mul((struct iv){s2, e2 + UD * (M + 2.0) * m2}, inv);
		r->grad[r->b_off[i] + c] = S1.v;
		r->egrad[r->b_off[i] + c] = S1.e + U * iv_mag(S1);
		r->grad[r->w_off[i] + c] = S2.v;
		r->egrad[r->w_off[i] + c] = S2.e + U * iv_mag(S2);
		struct iv A = iv_scale(inv, gamma[c]);
		struct iv B = train ? iv_scale(iv_mul(iv_mul(A, inv), S2), -1.0 / M) : (struct iv){0};
		struct iv T = train ? iv_scale(iv_mul(A, S1), -1.0 / M) : (struct iv){0};
		for (size_t n = 0; n < N; n++)
			for (size_t p = 0; p < P; p++) {
				size_t k = at(r, a, n, c, 0, 0) + p;
				struct iv g = {dy[k], edy[k]}, d = {x[k] - mu.v, ex[k] + mu.e};
				struct iv t1 = iv_mul(A, g), t2 = iv_mul(B, d);
				cv[k] = t1.v + t2.v + T.v;
				/* The kernel's own rounding, coefficients included (check_layers'
				 * 8 u of its terms' magnitudes). */
				double mag = iv_mag(t1) +
					     iv_mag(B) * (fabs(x[k]) + ex[k] + 2.0 * iv_mag(mu)) +
					     iv_mag(T);
				ce[k] = t1.e + t2.e + T.e + 8.0 * U * mag;
			}
	}
	contribute(r, a, cv, ce, 0);
	free(cv);
	free(ce);
}

static void ref_layer_backward(struct ref *r, size_t i, const double *theta)
{
	const struct rspec *s = &r->g->spec[i];
	size_t a = s->in, o = i + 1, N = r->rows, nx = N * r->len[a];
	const double *x = r->v[a], *ex = r->e[a], *dy = r->gr[o], *edy = r->eg[o];
	const double *W = theta + r->w_off[i];
	if (s->kind == R_BN) {
		ref_norm_backward(r, i, theta);
		return;
	}
	struct acc3 dx = acc3_new(nx);
	size_t terms = 0; /* of dx's sums */
	switch (s->kind) {
	case R_DENSE: {
		size_t in = r->len[a], out = s->n;
		for (size_t j = 0; j < out; j++) {
			double bv = 0.0, bcar = 0.0, bmag = 0.0;
			for (size_t k = 0; k < in; k++) {
				double v = 0.0, car = 0.0, mag = 0.0;
				for (size_t n = 0; n < N; n++) {
					double d = dy[n * out + j], e = edy[n * out + j];
					double xv = x[n * in + k], xe = ex[n * in + k];
					v += d * xv;
					car += e * (fabs(xv) + xe) + fabs(d) * xe;
					mag += (fabs(d) + e) * (fabs(xv) + xe);
					double wk = W[j * in + k];
					dx.v[n * in + k] += d * wk;
					dx.car[n * in + k] += e * fabs(wk);
					dx.mag[n * in + k] += (fabs(d) + e) * fabs(wk);
				}
				param_grad(r, r->w_off[i] + j * in + k, v, car, mag, N + 1);
			}
			for (size_t n = 0; n < N; n++) {
				bv += dy[n * out + j];
				bcar += edy[n * out + j];
				bmag += fabs(dy[n * out + j]) + edy[n * out + j];
			}
			param_grad(r, r->b_off[i] + j, bv, bcar, bmag, N + 1);
		}
		terms = out + 1;
		break;
	}
	case R_CONV: {
		size_t cin = r->c[a], kk = s->k * s->k, nw = r->w_cnt[i], P = r->h[o] * r->w[o];
		struct acc3 dw = acc3_new(nw), db = acc3_new(s->n);
		for (size_t n = 0; n < N; n++)
			for (size_t co = 0; co < s->n; co++)
				for (size_t oy = 0; oy < r->h[o]; oy++)
					for (size_t ox = 0; ox < r->w[o]; ox++) {
						size_t ko = at(r, o, n, co, oy, ox);
						double d = dy[ko], e = edy[ko];
						db.v[co] += d;
						db.car[co] += e;
						db.mag[co] += fabs(d) + e;
						for (size_t t = 0; t < cin * kk; t++) {
							long xi = conv_input(r, i, n, t / kk,
									     t % kk / s->k,
									     t % s->k, oy, ox);
							if (xi < 0)
								continue;
							size_t wi = co * cin * kk + t;
							dw.v[wi] += d * x[xi];
							dw.car[wi] += e * (fabs(x[xi]) + ex[xi]) +
								      fabs(d) * ex[xi];
							dw.mag[wi] += (fabs(d) + e) *
								      (fabs(x[xi]) + ex[xi]);
							dx.v[xi] += d * W[wi];
							dx.car[xi] += e * fabs(W[wi]);
							dx.mag[xi] += (fabs(d) + e) * fabs(W[wi]);
						}
					}
		acc3_finish(&dw, nw, N * P + 1);
		acc3_finish(&db, s->n, N * P + 1);
		memcpy(r->grad + r->w_off[i], dw.v, nw * sizeof(double));
		memcpy(r->egrad + r->w_off[i], dw.car, nw * sizeof(double));
		if (s->bias) {
			memcpy(r->grad + r->b_off[i], db.v, s->n * sizeof(double));
			memcpy(r->egrad + r->b_off[i], db.car, s->n * sizeof(double));
		}
		acc3_free(&dw);
		acc3_free(&db);
		/* check_layers' count: Cout products of a column, then up to k² columns. */
		terms = s->n + kk + 2;
		break;
	}
	case R_RELU:
		for (size_t k = 0; k < nx; k++) {
			dx.v[k] = r->mask[i][k] ? dy[k] : 0.0;
			/* Ambiguous: the float pass may have passed dy or 0. */
			dx.car[k] = r->amb[i][k] ? fabs(dy[k]) + edy[k] : r->mask[i][k] ? edy[k] : 0.0;
		}
		break;
	case R_MAX:
	case R_AVG:
		for (size_t n = 0; n < N; n++)
			for (size_t c = 0; c < r->c[a]; c++)
				for (size_t oy = 0; oy < r->h[o]; oy++)
					for (size_t ox = 0; ox < r->w[o]; ox++) {
						size_t ko = at(r, o, n, c, oy, ox);
						double d = dy[ko], e = edy[ko], kk = (double)(s->k * s->k);
						size_t best = r->arg[i][ko];
						for (size_t ky = 0; ky < s->k; ky++)
							for (size_t kx = 0; kx < s->k; kx++) {
								size_t k = at(r, a, n, c,
									      oy * s->s + ky,
									      ox * s->s + kx);
								if (s->kind == R_AVG) {
									dx.v[k] += d / kk;
									dx.car[k] += e / kk;
									dx.mag[k] += (fabs(d) + e) / kk;
									continue;
								}
								int cand = r->amb[i][ko] &&
									   x[k] + ex[k] >=
										   x[best] - ex[best];
								if (k == best) {
									dx.v[k] += d;
									dx.mag[k] += fabs(d) + e;
									dx.car[k] += cand ? fabs(d) + e : e;
								} else if (cand) {
									dx.car[k] += fabs(d) + e;
									dx.mag[k] += fabs(d) + e;
								}
							}
					}
		terms = s->k * s->k + 3;
		break;
	case R_GAP: {
		size_t P = r->h[a] * r->w[a];
		for (size_t k = 0; k < nx; k++) {
			dx.v[k] = dy[k / P] / (double)P;
			dx.car[k] = edy[k / P] / (double)P;
			dx.mag[k] = (fabs(dy[k / P]) + edy[k / P]) / (double)P;
		}
		terms = 3;
		break;
	}
	case R_ADD:
		memcpy(dx.v, dy, nx * sizeof(double));
		memcpy(dx.car, edy, nx * sizeof(double));
		contribute(r, s->in2, dx.v, dx.car, 0);
		break;
	case R_FLAT:
	case R_BN: /* above */
		memcpy(dx.v, dy, nx * sizeof(double));
		memcpy(dx.car, edy, nx * sizeof(double));
		break;
	}
	acc3_finish(&dx, nx, terms);
	contribute(r, a, dx.v, dx.car, terms);
	acc3_free(&dx);
}

/* The backward pass from dl (exact): every node's gradient and dL/dθ, bounded. */
static void ref_backward(struct ref *r, const double *theta, const double *dl, int stats)
{
	r->stats = stats;
	memset(r->written, 0, r->num + 1);
	size_t last = r->num;
	memcpy(r->gr[last], dl, r->rows * r->len[last] * sizeof(double));
	memset(r->eg[last], 0, r->rows * r->len[last] * sizeof(double));
	r->written[last] = 1;
	for (size_t i = r->num; i-- > 0;)
		ref_layer_backward(r, i, theta);
}

/* ---- a model and its reference, on the same parameters and inputs ---- */

struct pair {
	struct graph g;
	struct model m;
	struct ref r;
	size_t rows;
	float *x, *dl, *logits;
	double *theta, *state, *xd, *dld;
};

/* Torch's initialisation (biases not zero), batch norm's gamma, beta and running statistics
 * moved off their defaults, so that every term matters. */
static void pair_init(struct pair *p, void (*graph)(struct graph *), size_t rows, int train,
		      size_t threads, uint64_t seed)
{
	struct error e;
	struct model_desc d;
	struct rng r;
	memset(p, 0, sizeof(*p));
	graph(&p->g);
	p->rows = rows;
	ck_assert_msg(model_desc_parse(&d, p->g.desc, &e) == 0, "%s", e.msg);
	struct model_shape in = {p->g.c, p->g.h, p->g.w};
	ck_assert_msg(model_build(&p->m, &d, in, p->g.classes, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(model_set_threads(&p->m, threads, &e), 0);
	rng_seed(&r, seed, 0);
	model_init_params(&p->m, MODEL_INIT_TORCH, &r);
	ref_init(&p->r, &p->g, rows);
	ck_assert_uint_eq(p->m.num_params, p->r.num_params);
	ck_assert_uint_eq(p->m.num_state, p->r.num_state);
	for (size_t i = 0; i < p->g.num; i++) {
		if (p->g.spec[i].kind != R_BN)
			continue;
		size_t c = p->r.b_cnt[i];
		for (size_t k = 0; k < c; k++) {
			p->m.params[p->r.w_off[i] + k] = (float)(0.5 + rng_uniform(&r));
			p->m.params[p->r.b_off[i] + k] = (float)(rng_uniform(&r) - 0.5);
			p->m.state[p->r.s_off[i] + k] = (float)(rng_uniform(&r) - 0.5);
			p->m.state[p->r.s_off[i] + c + k] = (float)(0.5 + rng_uniform(&r));
		}
	}
	p->m.training = train;
	p->r.train = train;
	size_t nx = rows * model_inputs(&p->m), nl = rows * p->g.classes;
	p->x = uniform(&r, nx, -1.0, 1.0);
	p->dl = uniform(&r, nl, -1.0, 1.0);
	p->logits = alloc(nl, sizeof(float));
	p->theta = widen(p->m.params, p->m.num_params);
	p->state = widen(p->m.state, p->m.num_state);
	p->xd = widen(p->x, nx);
	p->dld = widen(p->dl, nl);
	/* The state the forward reads: training moves it. */
	ref_forward(&p->r, p->theta, p->state, p->xd, NULL, 0);
	ck_assert_msg(model_forward(&p->m, p->x, rows, p->logits, &e) == 0, "%s", e.msg);
}

static void pair_free(struct pair *p)
{
	model_free(&p->m);
	ref_free(&p->r);
	free(p->x);
	free(p->dl);
	free(p->logits);
	free(p->theta);
	free(p->state);
	free(p->xd);
	free(p->dld);
}

/* The reference's layer of the model's view i: the parameterised ones in order. */
static size_t view_layer(const struct ref *r, size_t v)
{
	for (size_t i = 0;; i++) {
		enum rkind k = r->g->spec[i].kind;
		if ((k == R_DENSE || k == R_CONV || k == R_BN) && v-- == 0)
			return i;
	}
}

/* Every view's shape, offsets, input and (deltas) delta against the reference. */
static void assert_views(const struct pair *p, int deltas)
{
	const struct ref *r = &p->r;
	size_t num = model_num_views(&p->m);
	for (size_t v = 0; v < num; v++) {
		struct model_view view;
		model_view(&p->m, v, &view);
		size_t i = view_layer(r, v), a = r->g->spec[i].in;
		enum rkind kind = r->g->spec[i].kind;
		ck_assert_int_eq(view.kind, kind == R_DENSE  ? MODEL_VIEW_DENSE
					    : kind == R_CONV ? MODEL_VIEW_CONV2D
							     : MODEL_VIEW_BATCHNORM);
		ck_assert_uint_eq(view.weight_offset, r->w_off[i]);
		ck_assert_uint_eq(view.weight_count, r->w_cnt[i]);
		ck_assert_uint_eq(view.bias_offset, r->b_off[i]);
		ck_assert_uint_eq(view.bias_count, r->b_cnt[i]);
		ck_assert_uint_eq(view.in, r->len[a]);
		ck_assert_uint_eq(view.out, r->len[i + 1]);
		ck_assert_uint_eq(view.in_shape.c, r->c[a]);
		ck_assert_uint_eq(view.out_shape.h, r->h[i + 1]);
		ck_assert_int_eq(view.is_head, i + 1 == r->num);
		if (kind == R_CONV) {
			ck_assert_uint_eq(view.kernel, r->g->spec[i].k);
			ck_assert_uint_eq(view.stride, r->g->spec[i].s);
			ck_assert_uint_eq(view.padding, r->g->spec[i].p);
		}
		assert_within(view.input, r->v[a], r->e[a], p->rows * r->len[a], "view input");
		if (deltas)
			assert_within(view.delta, r->gr[i + 1], r->eg[i + 1],
				      p->rows * r->len[i + 1], "view delta");
	}
}

/* ---- layer by layer: each layer against the reference run on the model's own float inputs,
 * taken as exact, so that each bound is the layer's own rounding however deep the graph (the
 * whole-graph bounds compound through the layers, batch norm dividing by small deviations) ---- */

static const enum rkind kind_of[] = {
	[MODEL_DENSE] = R_DENSE, [MODEL_CONV] = R_CONV,	  [MODEL_BATCHNORM] = R_BN,
	[MODEL_RELU] = R_RELU,	 [MODEL_MAXPOOL] = R_MAX, [MODEL_AVGPOOL] = R_AVG,
	[MODEL_GLOBALPOOL] = R_GAP, [MODEL_ADD] = R_ADD, [MODEL_FLATTEN] = R_FLAT,
};

/* A model layer whose output shares its input's buffers: a FLATTEN, a RELU in place. */
static int aliasing(const struct model *m, size_t i)
{
	const struct model_layer *l = &m->layer[i];
	return l->kind == MODEL_FLATTEN || (l->kind == MODEL_RELU && m->node[i + 1].root == l->in);
}

/* Whether node j keeps no activations: a conv's output fused into its ReLU and pooling. */
static int bare(const struct model *m, size_t j)
{
	return m->node[m->node[j].root].bare;
}

/* Node j's buffer (act or grad, rows values each) into the reference's v or gr, exact. */
static void load(const struct pair *p, size_t j, const float *from, double *v, double *e)
{
	size_t count = p->rows * p->r.len[j];
	for (size_t k = 0; k < count; k++)
		v[k] = from[k];
	memset(e, 0, count * sizeof(double));
}

/* Each non-aliasing layer's output, from its inputs as the model holds them; an output a ReLU
 * then overwrote in place compared after the ReLU (which moves no value by more than its
 * bound). A conv fused with its ReLU and max-pooling keeps no output of its own: the three
 * are compared as one, the pooling's output from the conv's input. */
static void assert_local_forward(struct pair *p)
{
	struct model *m = &p->m;
	struct ref *r = &p->r;
	ck_assert_uint_eq(m->num_layers, r->num);
	for (size_t i = 0; i < r->num; i++) {
		const struct rspec *s = &r->g->spec[i];
		ck_assert_int_eq(kind_of[m->layer[i].kind], s->kind);
		ck_assert_uint_eq(m->layer[i].in, s->in);
		if (aliasing(m, i) || (s->kind == R_MAX && m->layer[i].fused))
			continue;
		load(p, s->in, m->node[s->in].act, r->v[s->in], r->e[s->in]);
		if (s->kind == R_ADD)
			load(p, s->in2, m->node[s->in2].act, r->v[s->in2], r->e[s->in2]);
		ref_layer_forward(r, i, p->theta, p->state, NULL, 0);
		size_t o = i + 1, count = p->rows * r->len[o];
		if (bare(m, o)) {
			ref_layer_forward(r, o, p->theta, p->state, NULL, 0);
			ref_layer_forward(r, o + 1, p->theta, p->state, NULL, 0);
			o += 2;
			count = p->rows * r->len[o];
		}
		int relu = o < r->num && aliasing(m, o) && m->layer[o].kind == MODEL_RELU;
		for (size_t k = 0; relu && k < count; k++)
			r->v[o][k] = fmax(r->v[o][k], 0.0);
		char what[64];
		snprintf(what, sizeof(what), "layer %zu output", i);
		assert_within(m->node[o].act, r->v[o], r->e[o], count, what);
	}
}

/* After a backward with flags (of model_backward_pass) from dlogits: each layer's parameter
 * gradients (PASS_PARAMS) from its output's gradient as the model holds it, and each buffer's
 * gradient against the sum of its readers' contributions, masked by a ReLU in place on it; the
 * input's too with PASS_INPUT. After assert_local_forward, whose statistics and choices (batch
 * norm, max pooling) it uses. */
static void assert_local_backward(struct pair *p, int flags)
{
	struct model *m = &p->m;
	struct ref *r = &p->r;
	char what[64];
	r->stats = (flags & PASS_STATS) != 0;
	memset(r->written, 0, r->num + 1);
	for (size_t i = r->num; i-- > 0;) {
		const struct rspec *s = &r->g->spec[i];
		size_t o = i + 1, count = p->rows * r->len[o];
		if (o < r->num && m->node[o].root == o) {
			snprintf(what, sizeof(what), "node %zu gradient", o);
			assert_within(m->node[o].grad, r->gr[o], r->eg[o], count, what);
		}
		if (m->layer[i].kind == MODEL_FLATTEN) {
			contribute(r, s->in, r->gr[o], r->eg[o], 0);
			continue;
		}
		if (aliasing(m, i) && bare(m, o)) { /* the ReLU's mask, the reference's */
			ref_layer_backward(r, i, p->theta);
			continue;
		}
		if (aliasing(m, i)) { /* the ReLU's mask, from its output */
			for (size_t k = 0; k < count; k++)
				if (!(m->node[o].act[k] > 0.0f))
					r->gr[o][k] = r->eg[o][k] = 0.0;
			contribute(r, s->in, r->gr[o], r->eg[o], 0);
			continue;
		}
		load(p, o, m->node[o].grad, r->gr[o], r->eg[o]);
		if (!bare(m, s->in)) /* else the reference's own, from assert_local_forward */
			load(p, s->in, m->node[s->in].act, r->v[s->in], r->e[s->in]);
		ref_layer_backward(r, i, p->theta);
		size_t first = r->w_off[i], n = r->w_cnt[i] + r->b_cnt[i];
		snprintf(what, sizeof(what), "layer %zu parameter gradients", i);
		if (flags & PASS_PARAMS)
			assert_within(m->grads + first, r->grad + first, r->egrad + first, n, what);
	}
	if (flags & PASS_INPUT)
		assert_within(m->node[0].grad, r->gr[0], r->eg[0], p->rows * r->len[0],
			      "input gradient");
}

/* The coordinates a finite-difference check takes, to keep it fast: six weights and three
 * biases spread over each layer's blocks, and every input of the first and the last sample
 * (batch norm in training mixes the samples); into pick (num_params + inputs bytes). */
static void fd_coordinates(const struct ref *r, uint8_t *pick)
{
	for (size_t i = 0; i < r->num; i++) {
		for (size_t j = 0; r->w_cnt[i] && j < 6; j++)
			pick[r->w_off[i] + j * (r->w_cnt[i] - 1) / 5] = 1;
		for (size_t j = 0; r->b_cnt[i] && j < 3; j++)
			pick[r->b_off[i] + j * (r->b_cnt[i] - 1) / 2] = 1;
	}
	size_t len = r->len[0];
	memset(pick + r->num_params, 1, len);
	memset(pick + r->num_params + (r->rows - 1) * len, 1, len);
}

/* The reference's gradients against central differences of its loss, decisions kept from its
 * base pass (and batch norm's statistics too when stats). */
static void assert_reference(struct pair *p, const double *dl, int stats)
{
	struct ref probe;
	ref_init(&probe, &p->g, p->rows);
	probe.train = p->r.train;
	ref_forward(&p->r, p->theta, p->state, p->xd, NULL, 0);
	ref_backward(&p->r, p->theta, dl, stats);
	size_t np = p->r.num_params, nx = p->rows * p->r.len[0];
	uint8_t *pick = alloc(np + nx, 1);
	fd_coordinates(&p->r, pick);
	for (size_t k = 0; k < np + nx; k++) {
		if (!pick[k])
			continue;
		int input = k >= np;
		double *v = input ? p->xd + (k - np) : p->theta + k, keep = *v;
		double want = input ? p->r.gr[0][k - np] : p->r.grad[k];
		*v = keep + FD_H;
		double up = ref_loss(&probe, p->theta, p->state, p->xd, &p->r, stats, dl);
		*v = keep - FD_H;
		double down = ref_loss(&probe, p->theta, p->state, p->xd, &p->r, stats, dl);
		*v = keep;
		double fd = (up - down) / (2.0 * FD_H);
		ck_assert_msg(fabs(fd - want) <= FD_TOL * (1.0 + fabs(want)),
			      "%s[%zu]%s: analytic %.12g, finite difference %.12g",
			      input ? "dx" : "dtheta", input ? k - np : k,
			      stats ? " (per sample)" : "", want, fd);
	}
	free(pick);
	ref_free(&probe);
}

/* The graphs, in both modes where there is batch norm. */
static void (*const graphs[])(struct graph *) = {graph_cnn, graph_res, graph_block, graph_misc,
						   graph_fused};
#define NUM_GRAPHS (sizeof(graphs) / sizeof(graphs[0]))

START_TEST(test_reference_gradients)
{
	for (size_t gi = 0; gi < NUM_GRAPHS; gi++)
		for (int train = 0; train < 2; train++) {
			struct pair p;
			pair_init(&p, graphs[gi], BATCH, train, 1, 10 + gi);
			assert_reference(&p, p.dld, 0);
			/* One sample's own gradient, batch norm's statistics taken as constants
			 * (in evaluation they are). */
			double *one = alloc(BATCH * p.g.classes, sizeof(double));
			memcpy(one, p.dld, p.g.classes * sizeof(double));
			if (train && gi > 0)
				assert_reference(&p, one, 1);
			free(one);
			pair_free(&p);
		}
}
END_TEST

static const size_t thread_counts[] = {1, 2, 3};
#define NUM_THREAD_COUNTS (sizeof(thread_counts) / sizeof(thread_counts[0]))

/* The model's forward and every backward against the reference, on each graph, in both modes,
 * on one to three threads: the bounds hold for any order of the sums. */
START_TEST(test_graph_gradients)
{
	for (size_t gi = 0; gi < NUM_GRAPHS; gi++)
		for (int train = 0; train < 2; train++)
			for (size_t ti = 0; ti < NUM_THREAD_COUNTS; ti++) {
				struct pair p;
				pair_init(&p, graphs[gi], BATCH, train, thread_counts[ti], 20 + gi);
				struct model *m = &p.m;
				struct ref *r = &p.r;
				struct error e;
				size_t np = m->num_params, nx = BATCH * model_inputs(m);
				size_t last = r->num;
				assert_within(p.logits, r->v[last], r->e[last], BATCH * p.g.classes,
					      "logits");
				assert_views(&p, 0);
				ref_backward(r, p.theta, p.dld, 0);

				model_backward(m, p.dl);
				assert_within(m->grads, r->grad, r->egrad, np, "grads");
				assert_views(&p, 1);
				/* Layer by layer, then the whole graph again for what follows. */
				assert_local_forward(&p);
				assert_local_backward(&p, PASS_PARAMS);
				float *dx0 = alloc(nx, sizeof(float));
				model_backward_input(m, p.dl, dx0);
				free(dx0);
				assert_local_backward(&p, PASS_INPUT);
				ck_assert_int_eq(model_grad_stats(m, p.dl, BATCH, 1, 2, 1.0f, m->grads,
								  NULL, &e),
						 0);
				assert_local_backward(&p, PASS_STATS);
				ref_forward(r, p.theta, p.state, p.xd, NULL, 0);
				ref_backward(r, p.theta, p.dld, 0);

				/* dL/dx, and the gradients left alone. */
				float *keep = alloc(np, sizeof(float)), *dx = alloc(nx, sizeof(float));
				for (size_t k = 0; k < np; k++)
					m->grads[k] = keep[k] = (float)k;
				model_backward_input(m, p.dl, dx);
				assert_within(dx, r->gr[0], r->eg[0], nx, "dx");
				assert_views(&p, 1);
				ck_assert_mem_eq(keep, m->grads, np * sizeof(float));
				model_backward_deltas(m, p.dl);
				assert_views(&p, 1);
				ck_assert_mem_eq(keep, m->grads, np * sizeof(float));

				/* The head alone: its gradients, the trunk's zero. */
				model_backward_head(m, p.dl);
				size_t head = model_head_offset(m);
				ck_assert_uint_eq(head, r->w_off[r->num - 1]);
				for (size_t k = 0; k < head; k++)
					ck_assert_float_eq(m->grads[k], 0.0f);
				assert_within(m->grads + head, r->grad + head, r->egrad + head,
					      np - head, "head grads");
				free(keep);
				free(dx);
				pair_free(&p);
			}
}
END_TEST

/* model_grad_stats against each sample's own gradient from the reference, with the statistics
 * as constants: acc = acc0 + scale Σ_n |g_n|^p, each |g_n|^p within p |g|^(p-1) e (+ e² for
 * p = 2) of the float one's, the products and the sum over the samples rounding within
 * γ_(n + 6) of their magnitudes, and acc0 within it too; norms within Σ 2 |g| e + e². */
START_TEST(test_grad_stats)
{
	static const float scale = 0.375f;
	for (size_t gi = 0; gi < NUM_GRAPHS; gi++)
		for (int train = 0; train < 2; train++)
			for (size_t ti = 0; ti < NUM_THREAD_COUNTS; ti++)
				for (int power = 1; power <= 2; power++) {
					struct pair p;
					struct error e;
					struct rng rg;
					pair_init(&p, graphs[gi], BATCH, train, thread_counts[ti],
						  30 + gi);
					struct ref *r = &p.r;
					size_t np = p.m.num_params, C = p.g.classes;
					rng_seed(&rg, 31, gi);
					float *acc = uniform(&rg, np, 0.0, 1.0);
					double *want = widen(acc, np), *tol = alloc(np, sizeof(double));
					double *mag = widen(acc, np), norms[BATCH], want_norms[BATCH],
					       tol_norms[BATCH];
					double *one = alloc(BATCH * C, sizeof(double));
					for (size_t n = 0; n < BATCH; n++) {
						memset(one, 0, BATCH * C * sizeof(double));
						memcpy(one + n * C, p.dld + n * C, C * sizeof(double));
						ref_backward(r, p.theta, one, 1);
						want_norms[n] = tol_norms[n] = 0.0;
						for (size_t j = 0; j < np; j++) {
							double g = r->grad[j], eg = r->egrad[j];
							double ag = fabs(g);
							want[j] += scale * (power == 1 ? ag : g * g);
							tol[j] += scale * (power == 1 ? eg
										     : 2.0 * ag * eg + eg * eg);
							mag[j] += scale * (power == 1 ? ag + eg
										      : (ag + eg) * (ag + eg));
							want_norms[n] += g * g;
							tol_norms[n] += 2.0 * ag * eg + eg * eg;
						}
						tol_norms[n] += 1e-12 * want_norms[n];
					}
					for (size_t j = 0; j < np; j++)
						tol[j] += ref_gamma(BATCH + 6) * mag[j];
					ck_assert_int_eq(model_grad_stats(&p.m, p.dl, BATCH, 1, power, scale,
									  acc, norms, &e),
							 0);
					assert_within(acc, want, tol, np, "acc");
					for (size_t n = 0; n < BATCH; n++)
						ck_assert_msg(fabs(norms[n] - want_norms[n]) <=
								      tol_norms[n],
							      "norm[%zu]: got %.12g, want %.12g", n,
							      norms[n], want_norms[n]);
					free(acc);
					free(want);
					free(tol);
					free(mag);
					free(one);
					pair_free(&p);
				}
}
END_TEST

/* Two passes in one call against a call per pass: the same per-sample gradients (each pass's
 * deltas are the same bits), summed in another order. Every term is nonnegative, so each sum,
 * of at most 2 BATCH terms per entry beside the products' roundings, is within γ_(2 BATCH + 8)
 * of the exact one, relatively; norms too. passes = 0 is refused. */
START_TEST(test_grad_stats_passes)
{
	for (size_t gi = 0; gi < NUM_GRAPHS; gi++)
		for (size_t ti = 0; ti < NUM_THREAD_COUNTS; ti++)
			for (int power = 1; power <= 2; power++) {
				struct pair p;
				struct error e;
				pair_init(&p, graphs[gi], BATCH, 0, thread_counts[ti], 50 + gi);
				size_t np = p.m.num_params, C = p.g.classes;
				float *two = alloc(2 * BATCH * C, sizeof(float));
				memcpy(two, p.dl, BATCH * C * sizeof(float));
				for (size_t i = 0; i < BATCH * C; i++)
					two[BATCH * C + i] = -0.5f * p.dl[i] + 0.01f * (float)(i % 7);
				float *once = alloc(np, sizeof(float)), *each = alloc(np, sizeof(float));
				double n_once[BATCH], n_each[BATCH], n_second[BATCH];
				ck_assert_int_eq(model_grad_stats(&p.m, two, BATCH, 2, power, 0.5f, once,
								  n_once, &e), 0);
				ck_assert_int_eq(model_grad_stats(&p.m, two, BATCH, 1, power, 0.5f, each,
								  n_each, &e), 0);
				ck_assert_int_eq(model_grad_stats(&p.m, two + BATCH * C, BATCH, 1, power,
								  0.5f, each, n_second, &e), 0);
				double g = ref_gamma(2 * BATCH + 8);
				for (size_t j = 0; j < np; j++)
					ck_assert_msg(fabs(once[j] - each[j]) <=
							      g * (fabs(once[j]) + fabs(each[j])),
						      "graph %zu, power %d, [%zu]: %.9g in one call, %.9g "
						      "in two", gi, power, j, (double)once[j],
						      (double)each[j]);
				for (size_t n = 0; n < BATCH; n++) {
					double sum = n_each[n] + n_second[n];
					ck_assert_double_le(fabs(n_once[n] - sum), g * (n_once[n] + sum));
				}
				ck_assert_int_eq(model_grad_stats(&p.m, two, BATCH, 0, power, 0.5f, once,
								  NULL, &e), -1);
				ck_assert_has(e.msg, "0 passes");
				free(two);
				free(once);
				free(each);
				pair_free(&p);
			}
}
END_TEST

START_TEST(test_grad_stats_errors)
{
	struct pair p;
	struct error e;
	pair_init(&p, graph_cnn, BATCH, 0, 1, 40);
	float *acc = alloc(p.m.num_params, sizeof(float));
	ck_assert_int_eq(model_grad_stats(&p.m, p.dl, BATCH - 1, 1, 2, 1.0f, acc, NULL, &e), -1);
	ck_assert_has(e.msg, "last forward had 5");
	ck_assert_int_eq(model_grad_stats(&p.m, p.dl, BATCH, 1, 3, 1.0f, acc, NULL, &e), -1);
	ck_assert_has(e.msg, "power 3");
	/* Without norms: acc alone. */
	ck_assert_int_eq(model_grad_stats(&p.m, p.dl, BATCH, 1, 2, 1.0f, acc, NULL, &e), 0);
	free(acc);
	pair_free(&p);
}
END_TEST

/* ---- descriptions ---- */

static void check_preset(const struct model_desc *d, struct model_shape in, size_t classes,
			 size_t params, size_t state)
{
	struct model_summary s;
	struct error e;
	ck_assert_msg(model_desc_check(d, in, classes, &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.num_params, params);
	ck_assert_uint_eq(s.num_state, state);
	size_t sum = 0;
	for (size_t i = 0; i < d->num_items; i++)
		sum += s.params[i];
	ck_assert_uint_eq(sum, params);
	ck_assert_uint_eq(s.out[d->num_items - 1].c, classes);
}

/* Parameter counts as PyTorch counts them (sum of p.numel() over the parameters; state: the
 * running means and variances), checked against torch 1.13 with the same modules. */
START_TEST(test_presets)
{
	struct model_desc d;
	struct error e;
	static const size_t hidden[] = {256, 256};
	ck_assert_int_eq(model_desc_mlp(&d, hidden, 2, &e), 0);
	check_preset(&d, (struct model_shape){1, 28, 28}, 10, 784 * 256 + 256 + 256 * 256 + 256 +
								       256 * 10 + 10, 0);
	model_desc_cnn(&d);
	check_preset(&d, (struct model_shape){1, 28, 28}, 10, 824458, 0);
	ck_assert_int_eq(model_desc_resnet18(&d, 64, &e), 0);
	check_preset(&d, (struct model_shape){3, 32, 32}, 10, 11173962, 9600);
	ck_assert_int_eq(model_desc_resnet18(&d, 20, &e), 0);
	check_preset(&d, (struct model_shape){3, 32, 32}, 10, 1094750, 3000);
	ck_assert_int_eq(model_desc_resnet18(&d, 20, &e), 0);
	check_preset(&d, (struct model_shape){3, 32, 32}, 100, 1094750 + 160 * 90 + 90, 3000);

	char text[1024];
	model_desc_render(&d, text, sizeof(text));
	ck_assert_str_eq(text, "conv 20 k3 p1 nobias, bn, relu, res 20, res 20, res 40 s2, res 40, "
			       "res 80 s2, res 80, res 160 s2, res 160, gap, dense");
	model_desc_cnn(&d);
	model_desc_render(&d, text, sizeof(text));
	ck_assert_str_eq(text, "conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1, relu, maxpool 2, "
			       "flatten, dense 256, relu, dense");
	size_t need = strlen(text);
	ck_assert_uint_eq(model_desc_render(&d, text, 5), need);
	ck_assert_str_eq(text, "conv");

	ck_assert_int_eq(model_desc_resnet18(&d, 0, &e), -1);
	ck_assert_has(e.msg, "width 0");
	size_t zero = 0;
	ck_assert_int_eq(model_desc_mlp(&d, &zero, 1, &e), -1);
	ck_assert_has(e.msg, "hidden size 0");

	/* The CNN's flatten shares its input's buffers; its ReLUs work in place. */
	struct model m;
	model_desc_cnn(&d);
	ck_assert_int_eq(model_build(&m, &d, (struct model_shape){1, 28, 28}, 10, &e), 0);
	ck_assert_int_eq(m.layer[6].kind, MODEL_FLATTEN);
	ck_assert_uint_eq(m.node[7].root, m.node[6].root);
	ck_assert_uint_eq(m.node[2].root, 1);
	ck_assert_uint_eq(m.node[9].root, 8);
	model_free(&m);

	/* The ResNet's graph: 3 stem layers, 7 a block, 9 with a projection, pool and head;
	 * ReLUs in place, gradients added only where two layers read a node. */
	ck_assert_int_eq(model_desc_resnet18(&d, 4, &e), 0);
	ck_assert_int_eq(model_build(&m, &d, (struct model_shape){3, 8, 8}, 10, &e), 0);
	ck_assert_uint_eq(m.num_layers, 3 + 2 * 7 + 3 * (9 + 7) + 2);
	for (size_t i = 0; i < m.num_layers; i++) {
		const struct model_layer *l = &m.layer[i];
		if (l->kind == MODEL_RELU)
			ck_assert_uint_eq(m.node[i + 1].root, l->in);
		/* A block's input, read by its first conv and the add or the shortcut. */
		if (l->acc_in || l->acc_in2)
			ck_assert(l->kind == MODEL_CONV && m.node[l->in].consumers == 2);
	}
	model_free(&m);
}
END_TEST

START_TEST(test_parse)
{
	struct model_desc d, back;
	struct error e;
	static const char *const good[] = {
		("conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1, relu, maxpool 2, flatten, dense "
		 "256, relu, dense"),
		"conv 8 k 5 s 2 p 2 nobias, bn, relu, avgpool 3 s1, res 8, res 16 s2, gap, dense 10",
		"  dense\t",
		"maxpool 2 s2, conv 1 k1, dense",
	};
	static const char *const canonical[] = {
		("conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1, relu, maxpool 2, flatten, dense "
		 "256, relu, dense"),
		"conv 8 k5 s2 p2 nobias, bn, relu, avgpool 3 s1, res 8, res 16 s2, gap, dense 10",
		"dense",
		"maxpool 2, conv 1 k1, dense",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[512];
		ck_assert_msg(model_desc_parse(&d, good[i], &e) == 0, "%s", e.msg);
		ck_assert_str_eq(d.origin, "layers");
		model_desc_render(&d, text, sizeof(text));
		ck_assert_str_eq(text, canonical[i]);
		ck_assert_int_eq(model_desc_parse(&back, text, &e), 0);
		ck_assert_uint_eq(back.num_items, d.num_items);
		for (size_t k = 0; k < d.num_items; k++) {
			const struct model_item *a = &back.item[k], *b = &d.item[k];
			ck_assert(a->kind == b->kind && a->n == b->n && a->k == b->k &&
				  a->stride == b->stride && a->pad == b->pad && a->bias == b->bias);
		}
	}
	ck_assert_int_eq(model_desc_parse(&d, good[1], &e), 0);
	ck_assert_int_eq(d.item[0].k, 5);
	ck_assert_int_eq(d.item[0].stride, 2);
	ck_assert_int_eq(d.item[0].pad, 2);
	ck_assert_int_eq(d.item[0].bias, 0);
	ck_assert_int_eq(d.item[3].stride, 1);
	ck_assert_int_eq(d.item[5].stride, 2);

	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"", "layers: no items"},
		{"dense,", "layers item 2 is empty"},
		{"relu,, dense", "layers item 2 is empty"},
		{"conv 3 k3, pool 2, dense", "layers item 2 'pool 2': unknown layer 'pool' (one of "
					     "conv, dense, relu"},
		{"conv k3, dense", "layers item 1 'conv k3': the output channels 'k3' is not a whole "
				   "number"},
		{"conv, dense", "layers item 1 'conv': the output channels are missing"},
		{"conv 3, dense", "layers item 1 'conv 3': the kernel is missing (conv N k K"},
		{"conv 3 k3 k5, dense", "'conv 3 k3 k5': kernel given twice"},
		{"conv 3 k0, dense", "'conv 3 k0': kernel 0 is out of range [1, 16777216]"},
		{"conv 3 k3 p, dense", "padding has no value"},
		{"conv 3 k3 q1, dense", "unexpected 'q1'"},
		{"conv 3 k3 nobias nobias, dense", "nobias given twice"},
		{"conv 99999999999 k3, dense", "is not a whole number in [1, 16777216]"},
		{"relu 2, dense", "'relu 2': relu takes no arguments"},
		{"maxpool, dense", "the window is missing"},
		{"maxpool 2 p1, dense", "unexpected 'p1'"},
		{"res 8 k3, dense", "unexpected 'k3'"},
		{"dense 3 4", "unexpected '4'"},
		{"dense -1", "'-1' is not a whole number"},
		{"conv 1 k1 k1 k1 k1 k1 k1 k1 k1 k1 k1 k1, dense", "more than 12 words"},
	};
	char many[64 * 6 + 8] = "";
	for (size_t i = 0; i < MODEL_ITEMS_MAX; i++)
		strcat(many, "relu, ");
	strcat(many, "dense");
	ck_assert_int_eq(model_desc_parse(&d, many, &e), -1);
	ck_assert_str_eq(e.msg, "layers: more than 64 items");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(model_desc_parse(&d, bad[i].text, &e) == -1, "'%s' parsed",
			      bad[i].text);
		ck_assert_msg(strstr(e.msg, bad[i].msg), "'%s': '%s' lacks '%s'", bad[i].text,
			      e.msg, bad[i].msg);
	}
}
END_TEST

/* Shapes that do not fit, named with the item and the shape. */
START_TEST(test_shape_errors)
{
	struct model_desc d;
	struct error e;
	struct model_shape mnist = {1, 28, 28};
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"dense 64, relu, flatten, maxpool 2, dense",
		 "layers item 4 'maxpool 2': input 64x1x1 is smaller than the window"},
		{"conv 4 k5 p1, conv 4 k30, dense",
		 "layers item 2 'conv 4 k30': input 4x26x26 is smaller than the kernel 30x30"},
		{"conv 4 k31 p1, dense",
		 "layers item 1 'conv 4 k31 p1': input 1x28x28 (padded by 1) is smaller than the "
		 "kernel 31x31"},
		{"avgpool 29, dense", "layers item 1 'avgpool 29': input 1x28x28 is smaller than the "
				      "window"},
		{"dense, relu, dense", "layers item 1 'dense': a dense layer without a size"},
		{"dense 10, relu", "layers item 2 'relu': the last item must be dense: the head, over "
				   "the 10 classes"},
		{"dense 64, dense 7", "layers item 2 'dense 7': 7 outputs, but the head"},
		{"conv 16777216 k1, dense",
		 "layers item 1 'conv 16777216 k1': conv 1x1 stride 1 pad 0, 1 to 16777216 "
		 "channels, on 1x28x28: too large"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(model_desc_parse(&d, bad[i].text, &e) == 0, "%s", e.msg);
		ck_assert_msg(model_desc_check(&d, mnist, 10, NULL, &e) == -1, "'%s' fits",
			      bad[i].text);
		ck_assert_msg(strstr(e.msg, bad[i].msg), "'%s': '%s' lacks '%s'", bad[i].text,
			      e.msg, bad[i].msg);
	}
	/* A preset names itself. */
	model_desc_cnn(&d);
	ck_assert_int_eq(model_desc_check(&d, (struct model_shape){1, 3, 3}, 10, NULL, &e), -1);
	ck_assert_str_eq(e.msg, "cnn item 6 'maxpool 2': input 64x1x1 is smaller than the window");
	ck_assert_int_eq(model_desc_check(&d, (struct model_shape){0, 3, 3}, 10, NULL, &e), -1);
	ck_assert_has(e.msg, "an input of 0x3x3");
	ck_assert_int_eq(model_desc_check(&d, mnist, 0, NULL, &e), -1);
	ck_assert_has(e.msg, "0 classes");
	struct model m;
	ck_assert_int_eq(model_build(&m, &d, (struct model_shape){1, 3, 3}, 10, &e), -1);
	ck_assert_has(e.msg, "cnn item 6");
}
END_TEST

START_TEST(test_summary)
{
	struct model_desc d;
	struct model_summary s;
	struct error e;
	struct model_shape in = {1, 28, 28};
	model_desc_cnn(&d);
	ck_assert_int_eq(model_desc_check(&d, in, 10, &s, &e), 0);
	ck_assert_uint_eq(s.out[0].c, 32);
	ck_assert_uint_eq(s.out[2].h, 14);
	ck_assert_uint_eq(s.out[5].w, 7);
	ck_assert_uint_eq(s.out[6].c, 64 * 7 * 7);
	ck_assert_uint_eq(s.params[0], 32 * 9 + 32);
	ck_assert_uint_eq(s.params[7], 3136 * 256 + 256);
	ck_assert_uint_eq(s.num_layers, 10);
	/* conv1's and conv2's outputs, fused into their ReLUs and pools, a gradient each; the
	 * pools, dense 256 and the logits, act and gradient each; the input's gradient; the pools'
	 * choices, a byte each; every dense layer's |δ|^p and the widest one's |a|^p; a norm (a
	 * double). */
	ck_assert_uint_eq(s.row_floats, 32 * 784 + 64 * 196 +
						2 * (32 * 196 + 64 * 49 + 256 + 10) + 784 +
						(32 * 196 + 64 * 49) / 4 + 256 + 10 + 3136 + 2);
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	model_summary_print(f, &d, in, &s);
	fclose(f);
	ck_assert_has(text, "1x28x28");
	ck_assert_has(text, "conv 64 k3 p1");
	ck_assert_has(text, "3136x1x1");
	ck_assert_has(text, "824458 parameters");
	free(text);
	size_t count;
	const struct model_item_syntax *g = model_desc_grammar(&count);
	ck_assert_uint_eq(count, 9);
	ck_assert_str_eq(g[MODEL_ITEM_RES].name, "res");
	ck_assert_has(g[MODEL_ITEM_CONV].syntax, "nobias");
}
END_TEST

/* ---- batch norm's modes ---- */

static void build(struct model *m, const char *text, struct model_shape in, size_t classes)
{
	struct model_desc d;
	struct error e;
	ck_assert_msg(model_desc_parse(&d, text, &e) == 0, "%s", e.msg);
	ck_assert_msg(model_build(m, &d, in, classes, &e) == 0, "%s", e.msg);
}

/* Running statistics: 0 and 1 from the start, moved by a training forward alone (momentum 0.1,
 * the unbiased variance), then used in evaluation. The input is exact, so the statistics are
 * within a few double roundings, and their float storage within u. */
START_TEST(test_norm_modes)
{
	enum { n = 6, c = 3 };
	struct model m;
	struct error e;
	struct rng r;
	build(&m, "flatten, bn, dense 2", (struct model_shape){c, 1, 1}, 2);
	ck_assert_uint_eq(m.num_state, 2 * c);
	for (size_t k = 0; k < c; k++) {
		ck_assert_float_eq(m.state[k], 0.0f);
		ck_assert_float_eq(m.state[c + k], 1.0f);
	}
	ck_assert_int_eq(m.training, 0);
	rng_seed(&r, 70, 0);
	model_init_params(&m, MODEL_INIT_TORCH, &r);
	for (size_t k = 0; k < c; k++) {
		ck_assert_float_eq(m.params[k], 1.0f); /* gamma */
		ck_assert_float_eq(m.params[c + k], 0.0f); /* beta */
		m.params[k] = (float)(1.0 + k);
		m.params[c + k] = (float)(0.25 * k);
	}
	float *x = uniform(&r, n * c, 1.0, 3.0), logits[n * 2];
	float state0[2 * c];
	memcpy(state0, m.state, sizeof(state0));
	ck_assert_int_eq(model_forward(&m, x, n, logits, &e), 0);
	ck_assert_mem_eq(state0, m.state, sizeof(state0));

	m.training = 1;
	ck_assert_int_eq(model_forward(&m, x, n, logits, &e), 0);
	struct model_view bn;
	model_view(&m, 1, &bn); /* the head: its input is batch norm's output */
	for (size_t k = 0; k < c; k++) {
		double mu = 0.0, var = 0.0;
		for (size_t i = 0; i < n; i++)
			mu += x[i * c + k] / (double)n;
		for (size_t i = 0; i < n; i++)
			var += (x[i * c + k] - mu) * (x[i * c + k] - mu) / (double)n;
		double rm = 0.1 * mu, rv = 0.9 + 0.1 * var * n / (n - 1.0);
		ck_assert_double_eq_tol(m.state[k], rm, 2.0 * U * fabs(rm));
		ck_assert_double_eq_tol(m.state[c + k], rv, 2.0 * U * rv);
		/* The batch's statistics normalised the output: mean β and variance γ² var /
		 * (var + eps), each value within check_layers' 8 u of its terms (the statistics'
		 * double rounding far below). */
		double a = (1.0 + k) / sqrt(var + 1e-5), ym = 0.0, yv = 0.0, err = 0.0;
		for (size_t i = 0; i < n; i++) {
			ym += bn.input[i * c + k] / (double)n;
			err = fmax(err, 8.0 * U * (a * (x[i * c + k] + 2.0 * mu) + 0.25 * k));
		}
		for (size_t i = 0; i < n; i++)
			yv += (bn.input[i * c + k] - ym) * (bn.input[i * c + k] - ym) / (double)n;
		double want = a * a * var;
		ck_assert_double_eq_tol(ym, 0.25 * k, err);
		ck_assert_double_eq_tol(yv, want, 2.0 * sqrt(want) * 2.0 * err + 4.0 * err * err);
	}

	/* Evaluation: the running statistics, untouched. */
	m.training = 0;
	memcpy(state0, m.state, sizeof(state0));
	ck_assert_int_eq(model_forward(&m, x, n, logits, &e), 0);
	ck_assert_mem_eq(state0, m.state, sizeof(state0));
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < c; k++) {
			double a = (1.0 + k) / sqrt(m.state[c + k] + 1e-5);
			double want = a * (x[i * c + k] - m.state[k]) + 0.25 * k;
			double mag = a * (x[i * c + k] + 2.0 * fabs(m.state[k])) + 0.25 * k;
			ck_assert_double_eq_tol(bn.input[i * c + k], want, 8.0 * U * mag);
		}

	/* The backward follows the mode of the forward it differentiates. */
	float d[n * 2], *g1 = alloc(m.num_params, sizeof(float));
	for (size_t i = 0; i < n * 2; i++)
		d[i] = (float)(0.1 * (double)i - 0.5);
	model_backward(&m, d);
	memcpy(g1, m.grads, m.num_params * sizeof(float));
	m.training = 1;
	model_backward(&m, d);
	ck_assert_mem_eq(g1, m.grads, m.num_params * sizeof(float));
	free(g1);

	/* One sample of one value per channel has no variance to normalise by. */
	ck_assert_int_eq(model_forward(&m, x, 1, logits, &e), -1);
	ck_assert_str_eq(e.msg, "layers item 2 'bn': batch norm in training on a batch of 1 "
				"sample, 1 value per channel: more than one needed");
	model_free(&m);
	/* A plane of values has. */
	build(&m, "bn, dense", (struct model_shape){1, 2, 2}, 2);
	m.training = 1;
	ck_assert_int_eq(model_forward(&m, x, 1, logits, &e), 0);
	model_free(&m);
	free(x);
}
END_TEST

/* ---- clones, copies, initialisation ---- */

START_TEST(test_clone_copy)
{
	struct model m, c, other;
	struct model_desc d;
	struct error e;
	struct rng r;
	struct model_shape in = {3, 8, 8};
	ck_assert_int_eq(model_desc_resnet18(&d, 2, &e), 0);
	ck_assert_int_eq(model_build(&m, &d, in, 4, &e), 0);
	ck_assert_int_eq(model_set_threads(&m, 2, &e), 0);
	rng_seed(&r, 80, 0);
	model_init_params(&m, MODEL_INIT_HE, &r);
	float *x = uniform(&r, 6 * 3 * 64, -1.0, 1.0), z1[6 * 4], z2[6 * 4];
	m.training = 1;
	ck_assert_int_eq(model_forward(&m, x, 6, z1, &e), 0); /* moves the state */
	ck_assert_int_eq(model_clone(&c, &m, &e), 0);
	ck_assert_mem_eq(c.params, m.params, m.num_params * sizeof(float));
	ck_assert_mem_eq(c.state, m.state, m.num_state * sizeof(float));
	ck_assert_uint_eq(c.threads, 2);
	ck_assert_int_eq(c.training, 0);
	ck_assert_uint_eq(c.capacity, 0);
	m.training = 0;
	ck_assert_int_eq(model_forward(&m, x, 6, z1, &e), 0);
	ck_assert_int_eq(model_forward(&c, x, 6, z2, &e), 0);
	ck_assert_mem_eq(z1, z2, sizeof(z1));

	/* A copy between models of one architecture: parameters and state. */
	ck_assert_int_eq(model_build(&other, &d, in, 4, &e), 0);
	ck_assert_int_eq(model_copy(&other, &m, &e), 0);
	ck_assert_mem_eq(other.params, m.params, m.num_params * sizeof(float));
	ck_assert_mem_eq(other.state, m.state, m.num_state * sizeof(float));
	model_free(&other);
	ck_assert_int_eq(model_build(&other, &d, in, 5, &e), 0);
	ck_assert_int_eq(model_copy(&other, &m, &e), -1);
	ck_assert_has(e.msg, "another architecture");
	model_free(&other);
	ck_assert_int_eq(model_desc_resnet18(&d, 3, &e), 0);
	ck_assert_int_eq(model_build(&other, &d, in, 4, &e), 0);
	ck_assert_int_eq(model_copy(&other, &m, &e), -1);
	model_free(&other);
	model_free(&c);
	model_free(&m);
	free(x);
}
END_TEST

/* The documented draws: layer by layer, the weights in their order, then (torch) the biases. */
START_TEST(test_init)
{
	struct model m;
	struct rng r, want;
	enum model_init how;
	build(&m, "conv 2 k3, bn, flatten, dense", (struct model_shape){1, 4, 4}, 3);
	ck_assert_uint_eq(m.num_params, 18 + 2 + 2 + 2 + 8 * 3 + 3);
	for (int k = MODEL_INIT_HE; k <= MODEL_INIT_XAVIER; k++) {
		ck_assert_int_eq(model_init_from_name(model_init_name(k), &how), 0);
		ck_assert_int_eq(how, k);
		rng_seed(&r, 90, 0);
		rng_seed(&want, 90, 0);
		model_init_params(&m, how, &r);
		const float *p = m.params;
		for (size_t i = 0; i < 18; i++) { /* conv: fan_in 9, fan_out 18 */
			double v = how == MODEL_INIT_HE	     ? sqrt(2.0 / 9.0) * rng_normal(&want)
				   : how == MODEL_INIT_TORCH ? 1.0 / sqrt(9.0) *
								       (2.0 * rng_uniform(&want) - 1.0)
							     : sqrt(6.0 / 27.0) *
								       (2.0 * rng_uniform(&want) - 1.0);
			ck_assert_float_eq(p[i], (float)v);
		}
		for (size_t i = 18; i < 20; i++)
			ck_assert_float_eq(p[i], how == MODEL_INIT_TORCH
							 ? (float)(1.0 / sqrt(9.0) *
								   (2.0 * rng_uniform(&want) - 1.0))
							 : 0.0f);
		ck_assert_float_eq(p[20], 1.0f); /* gamma, beta */
		ck_assert_float_eq(p[21], 1.0f);
		ck_assert_float_eq(p[22], 0.0f);
		ck_assert_float_eq(p[23], 0.0f);
		for (size_t i = 24; i < 48; i++) { /* dense: fan_in 8, fan_out 3 */
			double v = how == MODEL_INIT_HE ? 0.5 * rng_normal(&want)
				   : how == MODEL_INIT_TORCH
					   ? 1.0 / sqrt(8.0) * (2.0 * rng_uniform(&want) - 1.0)
					   : sqrt(6.0 / 11.0) * (2.0 * rng_uniform(&want) - 1.0);
			ck_assert_float_eq(p[i], (float)v);
		}
		for (size_t i = 48; i < 51; i++)
			ck_assert_float_eq(p[i], how == MODEL_INIT_TORCH
							 ? (float)(1.0 / sqrt(8.0) *
								   (2.0 * rng_uniform(&want) - 1.0))
							 : 0.0f);
		ck_assert_uint_eq(rng_u64(&r), rng_u64(&want));
	}
	ck_assert_int_eq(model_init_from_name("kaiming", &how), -1);
	model_free(&m);
}
END_TEST

/* ---- threads ---- */

/* Runs forward, backward and the statistics; the results concatenated into out. */
static void run_all(struct model *m, const float *x, const float *dl, size_t n, float *out)
{
	struct error e;
	size_t C = m->classes, np = m->num_params;
	double norms[BATCH];
	ck_assert_int_eq(model_forward(m, x, n, out, &e), 0);
	model_backward(m, dl);
	memcpy(out + n * C, m->grads, np * sizeof(float));
	memset(out + n * C + np, 0, np * sizeof(float));
	ck_assert_int_eq(model_grad_stats(m, dl, n, 1, 2, 1.0f, out + n * C + np, norms, &e), 0);
	memcpy(out + n * C + 2 * np, m->state, m->num_state * sizeof(float));
}

/* The same threads, the same bits, run after run; a batch smaller than the threads. */
START_TEST(test_threads_deterministic)
{
	for (int train = 0; train < 2; train++)
		for (size_t threads = 2; threads <= 3; threads++) {
			struct pair p;
			pair_init(&p, graph_res, BATCH, train, threads, 100);
			size_t size = BATCH * p.g.classes + 2 * p.m.num_params + p.m.num_state;
			float *a = alloc(size, sizeof(float)), *b = alloc(size, sizeof(float));
			float *state = alloc(p.m.num_state, sizeof(float));
			memcpy(state, p.m.state, p.m.num_state * sizeof(float));
			run_all(&p.m, p.x, p.dl, BATCH, a);
			memcpy(p.m.state, state, p.m.num_state * sizeof(float));
			run_all(&p.m, p.x, p.dl, BATCH, b);
			ck_assert_mem_eq(a, b, size * sizeof(float));
			if (!train) {
				/* Fewer samples than threads: some ranges empty. */
				run_all(&p.m, p.x, p.dl, 1, a);
				run_all(&p.m, p.x, p.dl, 1, b);
				ck_assert_mem_eq(a, b, size * sizeof(float));
				run_all(&p.m, p.x, p.dl, 0, a);
			}
			free(state);
			free(a);
			free(b);
			pair_free(&p);
		}
}
END_TEST

START_TEST(test_threads_errors)
{
	struct model m;
	struct error e;
	build(&m, "dense", (struct model_shape){1, 1, 4}, 2);
	ck_assert_int_eq(model_set_threads(&m, 0, &e), -1);
	ck_assert_has(e.msg, "0 threads");
	ck_assert_int_eq(model_set_threads(&m, 4, &e), 0);
	ck_assert_int_eq(model_set_threads(&m, 1, &e), 0);
	ck_assert_ptr_null(m.pool);
	model_free(&m);
}
END_TEST

/* ---- allocation ---- */

#ifndef ALLOC_HOOK_OFF
/* Training steps, the statistics and dL/dx allocate nothing once the workspace has grown, on one
 * thread and on two; a larger batch does. */
START_TEST(test_steady_state_allocates_nothing)
{
	for (size_t threads = 1; threads <= 2; threads++) {
		enum { batch = 8, classes = 4 };
		struct model m;
		struct sgd o;
		struct error e;
		struct rng r;
		build(&m, "conv 4 k3 p1, bn, relu, maxpool 2, res 6 s2, avgpool 2, flatten, dense 8, "
			  "relu, dense",
		      (struct model_shape){2, 8, 8}, classes);
		ck_assert_int_eq(model_set_threads(&m, threads, &e), 0);
		rng_seed(&r, 110, 0);
		model_init_params(&m, MODEL_INIT_HE, &r);
		float *x = uniform(&r, 2 * batch * 128, -1.0, 1.0), *dx = alloc(batch * 128, 4);
		float logits[2 * batch * classes], d[2 * batch * classes];
		float *acc = alloc(m.num_params, sizeof(float));
		double norms[batch];
		int32_t y[batch];
		for (size_t i = 0; i < batch; i++)
			y[i] = (int32_t)(i % classes);
		ck_assert_int_eq(sgd_init(&o, m.num_params, 0.01, 0.9, 1e-4, &e), 0);
		int failed = 0;
		for (int round = 0; round < 6; round++) {
			alloc_counting = round > 0;
			size_t n = round % 2 ? batch / 2 : batch;
			m.training = 1;
			failed |= model_forward(&m, x, n, logits, &e);
			loss_softmax_ce(logits, n, classes, y, NULL, d);
			model_backward(&m, d);
			sgd_step(&o, m.params, m.grads, m.num_params);
			m.training = 0;
			failed |= model_forward(&m, x, n, logits, &e);
			failed |= model_grad_stats(&m, d, n, 1, 1, 1.0f, acc, norms, &e);
			model_backward_input(&m, d, dx);
			model_backward_head(&m, d);
		}
		alloc_counting = 0;
		ck_assert_int_eq(failed, 0);
		ck_assert_uint_eq(alloc_count, 0);

		alloc_counting = 1;
		int grew = model_forward(&m, x, 2 * batch, logits, &e);
		alloc_counting = 0;
		ck_assert_int_eq(grew, 0);
		ck_assert_uint_gt(alloc_count, 0);
		alloc_count = 0;
		sgd_free(&o);
		model_free(&m);
		free(x);
		free(dx);
		free(acc);
	}
}
END_TEST

/* A workspace that cannot grow is refused with a message, and the old one still serves. */
START_TEST(test_allocation_failures)
{
	struct model m;
	struct model_desc d;
	struct error e, build_e;
	struct rng r;
	float logits[16 * 3];
	ck_assert_int_eq(model_desc_parse(&d, "conv 2 k3, relu, flatten, dense", &e), 0);
	alloc_counting = alloc_failing = 1;
	int rc = model_build(&m, &d, (struct model_shape){1, 5, 5}, 3, &build_e);
	alloc_counting = alloc_failing = 0;
	ck_assert_int_eq(rc, -1);
	ck_assert_has(build_e.msg, "allocate");

	ck_assert_int_eq(model_build(&m, &d, (struct model_shape){1, 5, 5}, 3, &e), 0);
	rng_seed(&r, 120, 0);
	float *x = uniform(&r, 16 * 25, -1.0, 1.0);
	ck_assert_int_eq(model_forward(&m, x, 4, logits, &e), 0);
	alloc_counting = alloc_failing = 1;
	int grow = model_forward(&m, x, 16, logits, &e);
	int small = model_forward(&m, x, 4, logits, &build_e);
	alloc_counting = alloc_failing = 0;
	ck_assert_int_eq(grow, -1);
	ck_assert_has(e.msg, "workspace");
	ck_assert_int_eq(small, 0);
	ck_assert_uint_eq(m.capacity, 4);
	ck_assert_int_eq(model_forward(&m, x, 16, logits, &e), 0);
	ck_assert_uint_eq(m.capacity, 16);
	model_free(&m);
	free(x);
}
END_TEST
#endif

static Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("gradients");
	tcase_add_test(tc, test_reference_gradients);
	tcase_add_test(tc, test_graph_gradients);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_add_test(tc, test_grad_stats);
	tcase_add_test(tc, test_grad_stats_passes);
	tcase_add_test(tc, test_grad_stats_errors);
	suite_add_tcase(s, tc);

	suite_add_tcase(s, tc);

	tc = tcase_create("descriptions");
	tcase_add_test(tc, test_presets);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_shape_errors);
	tcase_add_test(tc, test_summary);
	suite_add_tcase(s, tc);

	tc = tcase_create("batchnorm");
	tcase_add_test(tc, test_norm_modes);
	suite_add_tcase(s, tc);

	tc = tcase_create("copies");
	tcase_add_test(tc, test_clone_copy);
	tcase_add_test(tc, test_init);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_test(tc, test_threads_deterministic);
	tcase_add_test(tc, test_threads_errors);
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
	return testutil_run(net_suite());
}
