/* lethe SDK: helpers plugins would otherwise each write again.
 *
 * Everything here is a static inline function over the ABI's types: it is compiled into the
 * plugin, adds no symbol and changes nothing of the ABI. Include it beside lethe.h; it works in
 * C (C11) and C++. */
#ifndef LETHE_UTIL_H
#define LETHE_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "host.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- forget requests ---- */

/* Whether req names sample id. Its ids are sorted ascending (the host guarantees it), so this
 * is a binary search. */
static inline int lethe_forget_covers(const lethe_forget_request *req, uint64_t id)
{
	size_t lo = 0, hi = req->num_ids;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (req->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < req->num_ids && req->ids[lo] == id;
}

/* ---- sampling ---- */

/* The class drawn from probabilities p[0..c) at u in [0, 1) (rng_uniform's): the inverse CDF.
 * Should rounding leave u above the total, the last class with p > 0 is drawn, never one the
 * model deems impossible. */
static inline size_t lethe_draw_class(const float *p, size_t c, double u)
{
	double sum = 0.0;
	size_t last = 0;
	for (size_t j = 0; j < c; j++) {
		if (p[j] == 0.0f)
			continue;
		sum += p[j];
		last = j;
		if (u < sum)
			break;
	}
	return last;
}

/* ---- logits ---- */

/* Over the classes mask allows (mask NULL: every one): the largest logit, returned, and into
 * *sum Σ_j exp(z_j - max), so that log Σ_j exp z_j = max + log *sum, without overflow. */
static inline double lethe_logits_max_sum(const float *z, size_t c, const uint8_t *mask,
					  double *sum)
{
	double max = -INFINITY, s = 0.0;
	for (size_t j = 0; j < c; j++)
		if ((!mask || mask[j]) && z[j] > max)
			max = z[j];
	for (size_t j = 0; j < c; j++)
		if (!mask || mask[j])
			s += exp(z[j] - max);
	*sum = s;
	return max;
}

/* p = the softmax of z over the classes mask allows (mask NULL: every one), 0 for the others;
 * returns log Σ_j exp z_j over them (the cross-entropy of class y is that less z_y). */
static inline double lethe_softmax(const float *z, size_t c, const uint8_t *mask, float *p)
{
	double sum, max = lethe_logits_max_sum(z, c, mask, &sum);
	for (size_t j = 0; j < c; j++)
		p[j] = !mask || mask[j] ? (float)(exp(z[j] - max) / sum) : 0.0f;
	return max + log(sum);
}

/* ---- element-wise vectors ----
 * GCC at -O2 vectorises a loop only when it leaves no scalar remainder, so these run on whole
 * spans of LETHE_SPAN (a multiple of every vector width), then once on the rest. Each element
 * is computed alone, so the results are the same bits however the loop is split. */

#define LETHE_SPAN 16

/* Promises the vectoriser that the arrays do not overlap. */
#ifdef __cplusplus
#define LETHE_RESTRICT __restrict
#else
#define LETHE_RESTRICT restrict
#endif

static inline void lethe_axpy_span(float *LETHE_RESTRICT y, const float *LETHE_RESTRICT x, float a,
				    size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

/* y += a x */
static inline void lethe_axpy(float *y, const float *x, float a, size_t n)
{
	size_t i = 0;
	for (; i + LETHE_SPAN <= n; i += LETHE_SPAN)
		lethe_axpy_span(y + i, x + i, a, LETHE_SPAN);
	lethe_axpy_span(y + i, x + i, a, n - i);
}

static inline void lethe_square_span(float *LETHE_RESTRICT dst, const float *LETHE_RESTRICT src,
				      size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] * src[i];
}

/* dst = src ⊙ src */
static inline void lethe_square(float *dst, const float *src, size_t n)
{
	size_t i = 0;
	for (; i + LETHE_SPAN <= n; i += LETHE_SPAN)
		lethe_square_span(dst + i, src + i, LETHE_SPAN);
	lethe_square_span(dst + i, src + i, n - i);
}

static inline void lethe_add_squares_span(float *LETHE_RESTRICT y, const float *LETHE_RESTRICT x,
					  float a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += a * x[i] * x[i];
}

/* y += a x ⊙ x: a diagonal Fisher's sum of squared gradients */
static inline void lethe_add_squares(float *y, const float *x, float a, size_t n)
{
	size_t i = 0;
	for (; i + LETHE_SPAN <= n; i += LETHE_SPAN)
		lethe_add_squares_span(y + i, x + i, a, LETHE_SPAN);
	lethe_add_squares_span(y + i, x + i, a, n - i);
}

/* ---- saved state ---- */

/* A model the plugin keeps (a teacher, the previous task's model) written to out, or read from
 * in into a model of the same architecture (exactly one of out and in non-NULL): its parameters,
 * then its batch-norm statistics (ABI 1.2's model_state; none for an MLP). LETHE_ERR_IO when a
 * write or read fails. */
static inline int lethe_model_io(const lethe_host *h, lethe_model *m, const lethe_ostream *out,
				 const lethe_istream *in)
{
	uint64_t P, S;
	float *theta = h->model_params(h, m, &P), *state = h->model_state(h, m, &S);
	int ok;
	if (out)
		ok = out->write(out, theta, P * sizeof(float)) == LETHE_OK &&
		     (!S || out->write(out, state, S * sizeof(float)) == LETHE_OK);
	else
		ok = in->read(in, theta, P * sizeof(float)) == LETHE_OK &&
		     (!S || in->read(in, state, S * sizeof(float)) == LETHE_OK);
	return ok ? LETHE_OK : LETHE_ERR_IO;
}

/* ---- messages and time ---- */

/* Sets the calling hook's error reason, printf style (at most 511 bytes; host->error), and
 * returns rc: `return lethe_fail(h, LETHE_ERR_INVALID, "k = %u is too large", k);` */
static inline int lethe_fail(const lethe_host *h, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline int lethe_fail(const lethe_host *h, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->error(h, msg);
	return rc;
}

/* A line for the run's log, printf style (at most 511 bytes; host->log). */
static inline void lethe_log(const lethe_host *h, lethe_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void lethe_log(const lethe_host *h, lethe_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->log(h, level, msg);
}

#ifdef CLOCK_MONOTONIC
/* Seconds of CLOCK_MONOTONIC since t0 (clock_gettime's): what a plugin reports of its own
 * costs. POSIX's: there where <time.h> declares it (-std=gnu11, or _POSIX_C_SOURCE >= 199309L
 * defined before any include). */
static inline double lethe_seconds_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) * 1e-9;
}
#endif

#ifdef __cplusplus
}
#endif

#endif
