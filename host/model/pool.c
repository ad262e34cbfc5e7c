#include "model/pool.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "model/elementwise.h"

#define BLOCK ELEMENTWISE_BLOCK
#define QUAD  4 /* SSE's width, for rows shorter than a block (14 and 7 outputs in the CNN) */

int pool_geom_init(struct pool_geom *g, struct error *e)
{
	const size_t sizes[] = {g->c, g->h, g->w, g->k, g->stride};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (sizes[i] == 0 || sizes[i] > INT_MAX)
			return error_set(e,
					 "pool %zux%zu stride %zu on %zux%zux%zu: a size out of "
					 "range [1, INT_MAX]",
					 g->k, g->k, g->stride, g->c, g->h, g->w);
	if (g->k > g->h || g->k > g->w)
		return error_set(e,
				 "pool %zux%zu stride %zu on %zux%zux%zu: the window is larger "
				 "than the input",
				 g->k, g->k, g->stride, g->c, g->h, g->w);
	if (g->h > INT_MAX / g->w || g->h * g->w > INT_MAX / g->c)
		return error_set(e,
				 "pool %zux%zu stride %zu on %zux%zux%zu: too large (more than "
				 "INT_MAX values)",
				 g->k, g->k, g->stride, g->c, g->h, g->w);
	g->hout = (g->h - g->k) / g->stride + 1;
	g->wout = (g->w - g->k) / g->stride + 1;
	g->in_len = g->c * g->h * g->w;
	g->out_len = g->c * g->hout * g->wout;
	return 0;
}

/* v replaces the window's best so far if larger, or NaN: a select rather than a branch, which
 * random data would mispredict half the time. */
static inline void take(float v, uint32_t i, float *best, uint32_t *at)
{
	int t = v > *best || isnan(v);
	*best = t ? v : *best;
	*at = t ? i : *at;
}

/* 2x2 windows at stride 2 (the CNN's), over the two input rows r0 and r1 (r0 at index base of
 * the sample, w apart); GCC vectorises the selects. */
static void max2_span(float *restrict y, uint32_t *restrict arg, const float *restrict r0,
		      const float *restrict r1, uint32_t base, uint32_t w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t at = base + 2 * (uint32_t)i;
		float best = r0[2 * i];
		take(r0[2 * i + 1], at + 1, &best, &at);
		take(r1[2 * i], base + w + 2 * (uint32_t)i, &best, &at);
		take(r1[2 * i + 1], base + w + 2 * (uint32_t)i + 1, &best, &at);
		y[i] = best;
		arg[i] = at;
	}
}

/* One output row: the window's taps in row-major order, each compared against the whole row,
 * so that the first maximum wins. */
static void max_row(const struct pool_geom *g, const float *plane, size_t base, size_t oy, float *y,
		    uint32_t *arg)
{
	size_t s = g->stride, wo = g->wout;
	if (g->k == 2 && s == 2) {
		const float *r0 = plane + 2 * oy * g->w;
		uint32_t b = (uint32_t)(base + 2 * oy * g->w), w = (uint32_t)g->w;
		size_t i = 0;
		for (; i + BLOCK <= wo; i += BLOCK)
			max2_span(y + i, arg + i, r0 + 2 * i, r0 + g->w + 2 * i,
				  b + 2 * (uint32_t)i, w, BLOCK);
		for (; i + QUAD <= wo; i += QUAD)
			max2_span(y + i, arg + i, r0 + 2 * i, r0 + g->w + 2 * i,
				  b + 2 * (uint32_t)i, w, QUAD);
		max2_span(y + i, arg + i, r0 + 2 * i, r0 + g->w + 2 * i, b + 2 * (uint32_t)i, w,
			  wo - i);
		return;
	}
	for (size_t ky = 0; ky < g->k; ky++) {
		size_t iy = oy * s + ky;
		const float *row = plane + iy * g->w;
		uint32_t at = (uint32_t)(base + iy * g->w);
		for (size_t kx = 0; kx < g->k; kx++)
			for (size_t ox = 0; ox < wo; ox++) {
				uint32_t i = at + (uint32_t)(ox * s + kx);
				if (ky == 0 && kx == 0) {
					y[ox] = row[ox * s];
					arg[ox] = i;
				} else {
					take(row[ox * s + kx], i, &y[ox], &arg[ox]);
				}
			}
	}
}

void pool_max_forward(const struct pool_geom *g, const float *x, size_t n, float *y, uint32_t *arg)
{
	size_t plane = g->h * g->w, out = g->hout * g->wout;
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < g->c; c++) {
			size_t o = i * g->out_len + c * out;
			for (size_t oy = 0; oy < g->hout; oy++)
				max_row(g, x + i * g->in_len + c * plane, c * plane, oy,
					y + o + oy * g->wout, arg + o + oy * g->wout);
		}
}

void pool_max_backward(const struct pool_geom *g, const float *dy, const uint32_t *arg, size_t n,
		       float *dx)
{
	memset(dx, 0, n * g->in_len * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		float *dxs = dx + i * g->in_len;
		const float *d = dy + i * g->out_len;
		const uint32_t *a = arg + i * g->out_len;
		for (size_t o = 0; o < g->out_len; o++)
			dxs[a[o]] += d[o];
	}
}

static void scale_span(float *d, float v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] *= v;
}

static void fill_span(float *d, float v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = v;
}

static void scale_run(float *d, float v, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		scale_span(d + i, v, BLOCK);
	scale_span(d + i, v, n - i);
}

static void fill_run(float *d, float v, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		fill_span(d + i, v, BLOCK);
	fill_span(d + i, v, n - i);
}

void pool_avg_forward(const struct pool_geom *g, const float *x, size_t n, float *y)
{
	size_t s = g->stride, plane = g->h * g->w, out = g->hout * g->wout;
	float inv = 1.0f / (float)(g->k * g->k);
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < g->c; c++) {
			const float *xp = x + i * g->in_len + c * plane;
			float *yp = y + i * g->out_len + c * out;
			memset(yp, 0, out * sizeof(float));
			for (size_t oy = 0; oy < g->hout; oy++) {
				float *yr = yp + oy * g->wout;
				for (size_t ky = 0; ky < g->k; ky++) {
					const float *row = xp + (oy * s + ky) * g->w;
					for (size_t kx = 0; kx < g->k; kx++)
						for (size_t ox = 0; ox < g->wout; ox++)
							yr[ox] += row[ox * s + kx];
				}
			}
			scale_run(yp, inv, out);
		}
}

void pool_avg_backward(const struct pool_geom *g, const float *dy, size_t n, float *dx)
{
	size_t s = g->stride, plane = g->h * g->w, out = g->hout * g->wout;
	float inv = 1.0f / (float)(g->k * g->k);
	memset(dx, 0, n * g->in_len * sizeof(float));
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < g->c; c++) {
			float *xp = dx + i * g->in_len + c * plane;
			const float *yp = dy + i * g->out_len + c * out;
			for (size_t oy = 0; oy < g->hout; oy++) {
				const float *yr = yp + oy * g->wout;
				for (size_t ky = 0; ky < g->k; ky++) {
					float *row = xp + (oy * s + ky) * g->w;
					for (size_t kx = 0; kx < g->k; kx++)
						for (size_t ox = 0; ox < g->wout; ox++)
							row[ox * s + kx] += yr[ox] * inv;
				}
			}
		}
}

void pool_global_forward(size_t c, size_t pixels, const float *x, size_t n, float *y)
{
	for (size_t i = 0; i < n * c; i++)
		y[i] = (float)(elementwise_sum(x + i * pixels, pixels) / (double)pixels);
}

void pool_global_backward(size_t c, size_t pixels, const float *dy, size_t n, float *dx)
{
	float inv = 1.0f / (float)pixels;
	for (size_t i = 0; i < n * c; i++)
		fill_run(dx + i * pixels, dy[i] * inv, pixels);
}
