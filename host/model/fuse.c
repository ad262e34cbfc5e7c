#include "model/fuse.h"

#include "model/elementwise.h"

#define BLOCK ELEMENTWISE_BLOCK
#define QUAD  4 /* SSE's width, for rows shorter than a block (14 and 7 outputs in the CNN) */

static inline float relu(float v)
{
	return v > 0.0f ? v : 0.0f;
}

static void relu_bias_span(float *restrict y, const float *restrict z, float b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = relu(z[i] + b);
}

/* 2x2 windows over the rows r0 and r1 of the product: y the largest ReLU, k its position as a
 * float. No NaN reaches the comparisons: the ReLU makes 0 of one, as elementwise_relu does.
 * Floats throughout, every value read and written unconditionally, and each call inlined with
 * its constant n: so GCC vectorises the selects (bytes would need 16 lanes). */
static inline void relu_max2_span(float *restrict y, float *restrict k, const float *restrict r0,
				  const float *restrict r1, float b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float best = relu(r0[2 * i] + b), at = 0.0f, v;
		v = relu(r0[2 * i + 1] + b);
		at = v > best ? 1.0f : at;
		best = v > best ? v : best;
		v = relu(r1[2 * i] + b);
		at = v > best ? 2.0f : at;
		best = v > best ? v : best;
		v = relu(r1[2 * i + 1] + b);
		at = v > best ? 3.0f : at;
		best = v > best ? v : best;
		y[i] = best;
		k[i] = at;
	}
}

/* Each window's gradient onto its rows d0 and d1, all four positions written; k its position as
 * a float. */
static inline void unpool_span(float *restrict d0, float *restrict d1, const float *restrict dy,
			       const float *restrict y, const float *restrict k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float g = dy[i], at = k[i], out = y[i];
		float v = out > 0.0f ? g : 0.0f;
		float v0 = at == 0.0f ? v : 0.0f, v1 = at == 1.0f ? v : 0.0f;
		float v2 = at == 2.0f ? v : 0.0f, v3 = at == 3.0f ? v : 0.0f;
		d0[2 * i] = v0;
		d0[2 * i + 1] = v1;
		d1[2 * i] = v2;
		d1[2 * i + 1] = v3;
	}
}

/* The positions, stored a byte each. */
static void positions_put(uint8_t *restrict at, const float *restrict k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		at[i] = (uint8_t)(int)k[i];
}

static void positions_get(float *restrict k, const uint8_t *restrict at, size_t n)
{
	for (size_t i = 0; i < n; i++)
		k[i] = (float)at[i];
}

static void relu_bias_run(float *y, const float *z, float b, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		relu_bias_span(y + i, z + i, b, BLOCK);
	relu_bias_span(y + i, z + i, b, n - i);
}

/* The runs go by BLOCKs, then QUADs, and end with the QUAD that ends the row, overlapping the
 * last one: each output is a function of its window alone, so writing it twice writes the same,
 * where a scalar rest of random comparisons would branch and mispredict (a row of the CNN is 14
 * or 7 outputs). Rows shorter than a QUAD go scalar. */
/* A QUAD's positions go to and from their bytes one by one, which GCC does in registers: as a
 * loop over a float array, the four scalar stores before the vector load of the backward stalled
 * it (store forwarding cannot merge them), a third of the backward's time in perf. */
_Static_assert(QUAD == 4, "the QUADs' positions are written out four by four");

static void relu_max2_quad(float *y, uint8_t *restrict at, const float *r0, const float *r1,
			   float b, size_t i)
{
	float k[QUAD];
	relu_max2_span(y + i, k, r0 + 2 * i, r1 + 2 * i, b, QUAD);
	at[i] = (uint8_t)(int)k[0];
	at[i + 1] = (uint8_t)(int)k[1];
	at[i + 2] = (uint8_t)(int)k[2];
	at[i + 3] = (uint8_t)(int)k[3];
}

static void relu_max2_run(float *y, uint8_t *at, const float *r0, const float *r1, float b,
			  size_t n)
{
	float k[BLOCK];
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK) {
		relu_max2_span(y + i, k, r0 + 2 * i, r1 + 2 * i, b, BLOCK);
		positions_put(at + i, k, BLOCK);
	}
	for (; i + QUAD <= n; i += QUAD)
		relu_max2_quad(y, at, r0, r1, b, i);
	if (i < n && n >= QUAD) {
		relu_max2_quad(y, at, r0, r1, b, n - QUAD);
	} else {
		relu_max2_span(y + i, k, r0 + 2 * i, r1 + 2 * i, b, n - i);
		positions_put(at + i, k, n - i);
	}
}

static void unpool_quad(float *d0, float *d1, const float *dy, const float *y, const uint8_t *at,
			size_t i)
{
	float k[QUAD] = {(float)at[i], (float)at[i + 1], (float)at[i + 2], (float)at[i + 3]};
	unpool_span(d0 + 2 * i, d1 + 2 * i, dy + i, y + i, k, QUAD);
}

static void unpool_run(float *d0, float *d1, const float *dy, const float *y, const uint8_t *at,
		       size_t n)
{
	float k[BLOCK];
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK) {
		positions_get(k, at + i, BLOCK);
		unpool_span(d0 + 2 * i, d1 + 2 * i, dy + i, y + i, k, BLOCK);
	}
	for (; i + QUAD <= n; i += QUAD)
		unpool_quad(d0, d1, dy, y, at, i);
	if (i < n && n >= QUAD) {
		unpool_quad(d0, d1, dy, y, at, n - QUAD);
	} else {
		positions_get(k, at + i, n - i);
		unpool_span(d0 + 2 * i, d1 + 2 * i, dy + i, y + i, k, n - i);
	}
}

struct sink {
	const struct conv_geom *g;
	const struct pool_geom *p;
	const float *b;
	float *y;
	uint8_t *window;
};

static void store_relu(void *ctx, size_t first, size_t count, const float *z, size_t ld)
{
	const struct sink *s = ctx;
	const struct conv_geom *g = s->g;
	for (size_t i = 0; i < count; i++)
		for (size_t c = 0; c < g->cout; c++)
			relu_bias_run(s->y + (first + i) * g->out_len + c * g->pixels,
				      z + c * ld + i * g->pixels, s->b ? s->b[c] : 0.0f, g->pixels);
}

static void store_relu_pool(void *ctx, size_t first, size_t count, const float *z, size_t ld)
{
	const struct sink *s = ctx;
	const struct conv_geom *g = s->g;
	const struct pool_geom *p = s->p;
	size_t plane = p->hout * p->wout;
	for (size_t i = 0; i < count; i++)
		for (size_t c = 0; c < g->cout; c++) {
			const float *zc = z + c * ld + i * g->pixels;
			size_t o = (first + i) * p->out_len + c * plane;
			for (size_t oy = 0; oy < p->hout; oy++) {
				const float *r0 = zc + 2 * oy * p->w;
				relu_max2_run(s->y + o + oy * p->wout, s->window + o + oy * p->wout,
					      r0, r0 + p->w, s->b ? s->b[c] : 0.0f, p->wout);
			}
		}
}

void fuse_conv_relu(const struct conv_geom *g, const float *w, const float *b, const float *x,
		    size_t n, float *y, float *scratch)
{
	struct sink s = {.g = g, .b = b, .y = y};
	conv_forward_each(g, w, x, n, scratch, store_relu, &s);
}

void fuse_conv_relu_pool(const struct conv_geom *g, const struct pool_geom *p, const float *w,
			 const float *b, const float *x, size_t n, float *y, uint8_t *window,
			 float *scratch)
{
	struct sink s = {.g = g, .p = p, .b = b, .y = y, .window = window};
	conv_forward_each(g, w, x, n, scratch, store_relu_pool, &s);
}

static void zero_run(float *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = 0.0f;
}

void fuse_pool_relu_backward(const struct pool_geom *p, const float *dy, const float *y,
			     const uint8_t *window, size_t n, float *dz, float *db)
{
	size_t plane = p->hout * p->wout, w = p->w;
	for (size_t c = 0; db && c < p->c; c++)
		db[c] = 0.0f;
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < p->c; c++) {
			size_t o = i * p->out_len + c * plane;
			float *d = dz + i * p->in_len + c * p->h * w;
			for (size_t oy = 0; oy < p->hout; oy++) {
				float *d0 = d + 2 * oy * w;
				unpool_run(d0, d0 + w, dy + o + oy * p->wout, y + o + oy * p->wout,
					   window + o + oy * p->wout, p->wout);
				/* An odd width's last column is in no window. */
				if (w % 2) {
					d0[w - 1] = 0.0f;
					d0[2 * w - 1] = 0.0f;
				}
			}
			/* An odd height's last row is in no window either. */
			if (p->h % 2)
				zero_run(d + (p->h - 1) * w, w);
			if (db)
				db[c] += (float)elementwise_sum_positive(dy + o, y + o, plane);
		}
}
