#include "model/norm.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>

#include "model/elementwise.h"

#define BLOCK ELEMENTWISE_BLOCK

int norm_geom_init(struct norm_geom *g, struct error *e)
{
	if (g->channels == 0 || g->pixels == 0 || g->channels > INT_MAX / g->pixels)
		return error_set(e,
				 "batch norm over %zu channels of %zu values: a size out of "
				 "range",
				 g->channels, g->pixels);
	if (!(g->eps > 0.0) || !isfinite(g->eps))
		return error_set(e, "batch norm eps %g: not a positive number", g->eps);
	if (!(g->momentum >= 0.0 && g->momentum <= 1.0))
		return error_set(e, "batch norm momentum %g: not in [0, 1]", g->momentum);
	g->len = g->channels * g->pixels;
	return 0;
}

/* The sums keep one double lane per block position (see elementwise.h): over the pixels of a
 * plane, or, for pixels = 1, straight into the per-channel accumulator across channels. */
static void sums_span(double *restrict s, double *restrict q, const float *restrict x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double v = x[i];
		s[i] += v;
		q[i] += v * v;
	}
}

/* s += Σ dy, q += Σ dy (x - mean), one mean for the span or one per position. */
static void back_sums_span(double *restrict s, double *restrict q, const float *restrict x,
			   const float *restrict dy, double mean, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		s[i] += dy[i];
		q[i] += (double)dy[i] * ((double)x[i] - mean);
	}
}

static void back_sums_chan_span(double *restrict s, double *restrict q, const float *restrict x,
				const float *restrict dy, const double *restrict mean, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		s[i] += dy[i];
		q[i] += (double)dy[i] * ((double)x[i] - mean[i]);
	}
}

/* The lanes added pairwise: short loops rather than a chain of BLOCK additions. */
static double lanes_total(double *lane)
{
	for (size_t w = BLOCK / 2; w > 0; w /= 2)
		for (size_t i = 0; i < w; i++)
			lane[i] += lane[i + w];
	return lane[0];
}

/* The passes below go channel by channel (a channel's coefficients or lanes once, down the
 * samples), over chunks of samples of about CHUNK_FLOATS (in cache: going down a whole batch
 * of large planes would stride through memory). */
#define CHUNK_FLOATS 65536

static size_t chunk_samples(const struct norm_geom *g)
{
	return g->len < CHUNK_FLOATS ? CHUNK_FLOATS / g->len : 1;
}

void norm_sums(const struct norm_geom *g, const float *x, size_t n, double *sums)
{
	size_t nc = g->channels, p = g->pixels;
	double *q = sums + nc;
	if (p == 1) {
		for (size_t i = 0; i < n; i++, x += g->len) {
			size_t c = 0;
			for (; c + BLOCK <= nc; c += BLOCK)
				sums_span(sums + c, q + c, x + c, BLOCK);
			sums_span(sums + c, q + c, x + c, nc - c);
		}
		return;
	}
	for (size_t first = 0; first < n; first += chunk_samples(g)) {
		size_t end = n - first < chunk_samples(g) ? n : first + chunk_samples(g);
		for (size_t c = 0; c < nc; c++) {
			double ls[BLOCK] = {0}, lq[BLOCK] = {0};
			for (size_t i = first; i < end; i++) {
				const float *run = x + i * g->len + c * p;
				size_t j = 0;
				for (; j + BLOCK <= p; j += BLOCK)
					sums_span(ls, lq, run + j, BLOCK);
				sums_span(ls, lq, run + j, p - j);
			}
			sums[c] += lanes_total(ls);
			q[c] += lanes_total(lq);
		}
	}
}

int norm_batch_stats(const struct norm_geom *g, const double *sums, size_t count, double *mean,
		     double *invstd, float *running_mean, float *running_var, struct error *e)
{
	if (count > SIZE_MAX / g->pixels || count * g->pixels < 2)
		return error_set(e,
				 "batch norm in training over %zu sample%s of %zu value%s a "
				 "channel: more than one value per channel needed",
				 count, count == 1 ? "" : "s", g->pixels,
				 g->pixels == 1 ? "" : "s");
	double m = (double)(count * g->pixels);
	for (size_t c = 0; c < g->channels; c++) {
		double mu = sums[c] / m, var = sums[g->channels + c] / m - mu * mu;
		if (var < 0.0) /* rounding, for a constant channel */
			var = 0.0;
		mean[c] = mu;
		invstd[c] = 1.0 / sqrt(var + g->eps);
		if (running_mean && running_var) {
			running_mean[c] =
				(float)((1.0 - g->momentum) * running_mean[c] + g->momentum * mu);
			running_var[c] = (float)((1.0 - g->momentum) * running_var[c] +
						 g->momentum * var * m / (m - 1.0));
		}
	}
	return 0;
}

void norm_running_stats(const struct norm_geom *g, const float *running_mean,
			const float *running_var, double *mean, double *invstd)
{
	for (size_t c = 0; c < g->channels; c++) {
		mean[c] = running_mean[c];
		invstd[c] = 1.0 / sqrt((double)running_var[c] + g->eps);
	}
}

/* Every pass below is y = b (x - m) + t, or y = a d + b (x - m) + t, per channel, in float,
 * with the coefficients worked out in double once per channel; x - m first, so that a large
 * mean cancels exactly. */
struct coef {
	float a, b, m, t;
};

static void affine_span(float *restrict y, const float *restrict x, struct coef k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = k.b * (x[i] - k.m) + k.t;
}

static void affine2_span(float *restrict y, const float *restrict d, const float *restrict x,
			 struct coef k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = k.a * d[i] + k.b * (x[i] - k.m) + k.t;
}

/* The same with one set of coefficients per position (pixels = 1: across channels). */
static void affine_chan_span(float *restrict y, const float *restrict x, const float *restrict b,
			     const float *restrict m, const float *restrict t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = b[i] * (x[i] - m[i]) + t[i];
}

static void affine2_chan_span(float *restrict y, const float *restrict d, const float *restrict x,
			      const float *restrict a, const float *restrict b,
			      const float *restrict m, const float *restrict t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = a[i] * d[i] + b[i] * (x[i] - m[i]) + t[i];
}

/* y = [a d +] b (x - m) + t over n samples (the a d term when d is not NULL), the coefficients
 * of channel c from coef(c, ctx). */
/* One run of a channel: y = [a d +] b (x - m) + t. */
static void affine_run(float *y, const float *d, const float *x, struct coef k, size_t p)
{
	size_t j = 0;
	if (d) {
		for (; j + BLOCK <= p; j += BLOCK)
			affine2_span(y + j, d + j, x + j, k, BLOCK);
		affine2_span(y + j, d + j, x + j, k, p - j);
		return;
	}
	for (; j + BLOCK <= p; j += BLOCK)
		affine_span(y + j, x + j, k, BLOCK);
	affine_span(y + j, x + j, k, p - j);
}

static void affine(const struct norm_geom *g, const float *d, const float *x, size_t n,
		   struct coef (*coef)(size_t c, const void *ctx), const void *ctx, float *y)
{
	size_t nc = g->channels, p = g->pixels, chunk = chunk_samples(g);
	for (size_t first = 0; first < n; first += chunk) {
		size_t end = n - first < chunk ? n : first + chunk;
		if (p > 1) {
			for (size_t c = 0; c < nc; c++) {
				struct coef k = coef(c, ctx);
				for (size_t i = first; i < end; i++) {
					size_t off = i * g->len + c * p;
					affine_run(y + off, d ? d + off : NULL, x + off, k, p);
				}
			}
			continue;
		}
		/* pixels = 1: a block of channels' coefficients at a time, applied down the
		 * samples. */
		for (size_t c0 = 0; c0 < nc; c0 += BLOCK) {
			float a[BLOCK], b[BLOCK], m[BLOCK], t[BLOCK];
			size_t nb = nc - c0 < BLOCK ? nc - c0 : BLOCK;
			for (size_t j = 0; j < nb; j++) {
				struct coef k = coef(c0 + j, ctx);
				a[j] = k.a;
				b[j] = k.b;
				m[j] = k.m;
				t[j] = k.t;
			}
			/* A whole block is a constant count, which GCC vectorises. */
			for (size_t i = first; i < end; i++) {
				size_t off = i * g->len + c0;
				if (d && nb == BLOCK)
					affine2_chan_span(y + off, d + off, x + off, a, b, m, t,
							  BLOCK);
				else if (d)
					affine2_chan_span(y + off, d + off, x + off, a, b, m, t,
							  nb);
				else if (nb == BLOCK)
					affine_chan_span(y + off, x + off, b, m, t, BLOCK);
				else
					affine_chan_span(y + off, x + off, b, m, t, nb);
			}
		}
	}
}

struct forward_ctx {
	const double *mean, *invstd;
	const float *gamma, *beta;
};

static struct coef forward_coef(size_t c, const void *ctx)
{
	const struct forward_ctx *f = ctx;
	return (struct coef){
		.b = (float)(f->gamma[c] * f->invstd[c]), .m = (float)f->mean[c], .t = f->beta[c]};
}

void norm_forward(const struct norm_geom *g, const float *x, size_t n, const double *mean,
		  const double *invstd, const float *gamma, const float *beta, float *y)
{
	struct forward_ctx f = {mean, invstd, gamma, beta};
	affine(g, NULL, x, n, forward_coef, &f, y);
}

void norm_backward_sums(const struct norm_geom *g, const float *x, const float *dy, size_t n,
			const double *mean, const double *invstd, double *sums)
{
	size_t nc = g->channels, p = g->pixels, chunk = chunk_samples(g);
	double *q = sums + nc;
	/* Σ dy (x - mean) down a chunk, times invstd once. */
	for (size_t first = 0; first < n; first += chunk) {
		size_t end = n - first < chunk ? n : first + chunk;
		if (p == 1) {
			for (size_t c = 0; c < nc; c += BLOCK) {
				double part[BLOCK] = {0};
				size_t nb = nc - c < BLOCK ? nc - c : BLOCK;
				for (size_t i = first; i < end; i++) {
					size_t off = i * g->len + c;
					if (nb == BLOCK)
						back_sums_chan_span(sums + c, part, x + off,
								    dy + off, mean + c, BLOCK);
					else
						back_sums_chan_span(sums + c, part, x + off,
								    dy + off, mean + c, nb);
				}
				for (size_t j = 0; j < nb; j++)
					q[c + j] += part[j] * invstd[c + j];
			}
			continue;
		}
		for (size_t c = 0; c < nc; c++) {
			double ls[BLOCK] = {0}, lq[BLOCK] = {0};
			for (size_t i = first; i < end; i++) {
				const float *xr = x + i * g->len + c * p;
				const float *dr = dy + i * g->len + c * p;
				size_t j = 0;
				for (; j + BLOCK <= p; j += BLOCK)
					back_sums_span(ls, lq, xr + j, dr + j, mean[c], BLOCK);
				back_sums_span(ls, lq, xr + j, dr + j, mean[c], p - j);
			}
			sums[c] += lanes_total(ls);
			q[c] += lanes_total(lq) * invstd[c];
		}
	}
}

void norm_param_grads(const struct norm_geom *g, const double *sums, float *dgamma, float *dbeta)
{
	for (size_t c = 0; c < g->channels; c++) {
		dbeta[c] = (float)sums[c];
		dgamma[c] = (float)sums[g->channels + c];
	}
}

struct backward_ctx {
	const double *invstd, *mean, *sums;
	const float *gamma;
	size_t channels;
	double m; /* values per channel in the batch */
};

/* dx = A dy - A invstd (Σ dy x̂ / M) (x - mean) - A Σ dy / M, with A = γ invstd. */
static struct coef train_coef(size_t c, const void *ctx)
{
	const struct backward_ctx *b = ctx;
	double a = b->gamma[c] * b->invstd[c];
	return (struct coef){.a = (float)a,
			     .b = (float)(-a * b->invstd[c] * b->sums[b->channels + c] / b->m),
			     .m = (float)b->mean[c],
			     .t = (float)(-a * b->sums[c] / b->m)};
}

/* dx = A (dy - 0) + 0: the form without a d term, on dy. */
static struct coef eval_coef(size_t c, const void *ctx)
{
	const struct backward_ctx *b = ctx;
	return (struct coef){.b = (float)(b->gamma[c] * b->invstd[c])};
}

void norm_backward_train(const struct norm_geom *g, const float *x, const float *dy, size_t n,
			 size_t count, const double *mean, const double *invstd, const float *gamma,
			 const double *sums, float *dx)
{
	struct backward_ctx b = {invstd, mean,	      sums,
				 gamma,	 g->channels, (double)count * (double)g->pixels};
	affine(g, dy, x, n, train_coef, &b, dx);
}

void norm_backward_eval(const struct norm_geom *g, const float *dy, size_t n, const double *invstd,
			const float *gamma, float *dx)
{
	struct backward_ctx b = {.invstd = invstd, .gamma = gamma};
	affine(g, NULL, dy, n, eval_coef, &b, dx);
}
