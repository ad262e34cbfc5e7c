#include "model/conv.h"

#include <limits.h>
#include <string.h>

#include <cblas.h>

#include "model/elementwise.h"

#define BLOCK ELEMENTWISE_BLOCK

/* conv_geom_init's choice of group: enough samples for a product of about GROUP_COLUMNS columns,
 * at most GROUP_MAX of them. Measured with bench/bench_conv at batch 64 on the CNN's and the
 * ResNet-18's shapes. */
#define GROUP_COLUMNS 256
#define GROUP_MAX 64

static int refuse(struct error *e, const struct conv_geom *g, const char *why)
{
	return error_set(e, "conv %zux%zu stride %zu pad %zu, %zu to %zu channels, on %zux%zux%zu: %s",
			 g->k, g->k, g->stride, g->pad, g->cin, g->cout, g->cin, g->h, g->w, why);
}

/* a b, or 0 when it exceeds INT_MAX (BLAS dimensions and leading dimensions are ints). */
static size_t product(size_t a, size_t b)
{
	return a != 0 && b > (size_t)INT_MAX / a ? 0 : a * b;
}

int conv_geom_init(struct conv_geom *g, struct error *e)
{
	const size_t sizes[] = {g->cin, g->h, g->w, g->cout, g->k, g->stride};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (sizes[i] == 0 || sizes[i] > INT_MAX)
			return refuse(e, g, "a size out of range [1, INT_MAX]");
	if (g->pad > INT_MAX)
		return refuse(e, g, "padding out of range");
	size_t ph = g->h + 2 * g->pad, pw = g->w + 2 * g->pad;
	if (g->k > ph || g->k > pw)
		return refuse(e, g, "the kernel is larger than the padded input");
	g->hout = (ph - g->k) / g->stride + 1;
	g->wout = (pw - g->k) / g->stride + 1;
	g->pixels = product(g->hout, g->wout);
	g->kdim = product(g->cin, product(g->k, g->k));
	g->in_len = product(g->cin, product(g->h, g->w));
	g->out_len = product(g->cout, g->pixels);
	g->num_weights = product(g->cout, g->kdim);
	/* The scratch's lowered input, kdim x pixels, and one sample's weight gradient next to
	 * it, are indexed with ints by BLAS too. */
	if (!g->pixels || !g->kdim || !g->in_len || !g->out_len || !g->num_weights ||
	    !product(g->kdim, g->pixels) || g->num_weights + g->cout > INT_MAX ||
	    !product(g->cin, product(ph, pw)))
		return refuse(e, g, "too large (a product exceeds INT_MAX)");
	size_t group = (GROUP_COLUMNS + g->pixels - 1) / g->pixels;
	if (group > GROUP_MAX)
		group = GROUP_MAX;
	while (group > 1 && !product(product(g->kdim, g->pixels), group))
		group--;
	g->group = group;
	return 0;
}

static void copy_span(float *restrict d, const float *restrict s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = s[i];
}

static void add_span(float *restrict d, const float *restrict s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] += s[i];
}

static void fill_span(float *d, float v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = v;
}

static void copy_add_span(float *restrict d, const float *restrict s, float v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = s[i] + v;
}

static void gather2_span(float *restrict d, const float *restrict s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = s[2 * i];
}

/* The runs of the lowering, of stride 1, go through spans GCC vectorises (a stride above 1
 * gathers or scatters element by element). */
static void copy_run(float *d, const float *s, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		copy_span(d + i, s + i, BLOCK);
	copy_span(d + i, s + i, n - i);
}

/* Stride 2 (ResNet's downsampling) with the stride known to the compiler. */
static void gather2_run(float *d, const float *s, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		gather2_span(d + i, s + 2 * i, BLOCK);
	gather2_span(d + i, s + 2 * i, n - i);
}

static void add_run(float *d, const float *s, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		add_span(d + i, s + i, BLOCK);
	add_span(d + i, s + i, n - i);
}

static void fill_run(float *d, float v, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		fill_span(d + i, v, BLOCK);
	fill_span(d + i, v, n - i);
}

static void copy_add_run(float *d, const float *s, float v, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		copy_add_span(d + i, s + i, v, BLOCK);
	copy_add_span(d + i, s + i, v, n - i);
}

/* The floats of the zero-padded copy of one sample that im2col reads and col2im writes: the
 * padding is in memory, so that every run of the lowering is whole, with neither bounds to
 * clip nor zeros to write row by row. None without padding. */
static size_t padded_len(const struct conv_geom *g)
{
	return g->pad ? g->cin * (g->h + 2 * g->pad) * (g->w + 2 * g->pad) : 0;
}

/* x, or its copy into the interior of buf, whose border the caller has zeroed. */
static const float *pad_input(const struct conv_geom *g, const float *x, float *buf)
{
	if (!g->pad)
		return x;
	size_t pw = g->w + 2 * g->pad, plane = (g->h + 2 * g->pad) * pw;
	for (size_t c = 0; c < g->cin; c++)
		for (size_t y = 0; y < g->h; y++)
			copy_run(buf + c * plane + (y + g->pad) * pw + g->pad,
				 x + (c * g->h + y) * g->w, g->w);
	return buf;
}

/* One (padded) sample xp into its columns of the lowered input: row (c, ky, kx) of col (leading
 * dimension ld) gets, for every output position, the value the kernel's tap (ky, kx) sees
 * there. */
static void im2col(const struct conv_geom *g, const float *xp, float *col, size_t ld)
{
	size_t k = g->k, s = g->stride, wo = g->wout, pw = g->w + 2 * g->pad;
	size_t plane = (g->h + 2 * g->pad) * pw;
	for (size_t c = 0; c < g->cin; c++)
		for (size_t ky = 0; ky < k; ky++)
			for (size_t kx = 0; kx < k; kx++) {
				float *row = col + ((c * k + ky) * k + kx) * ld;
				const float *src = xp + c * plane + ky * pw + kx;
				for (size_t oy = 0; oy < g->hout; oy++, row += wo, src += s * pw)
					if (s == 1)
						copy_run(row, src, wo);
					else if (s == 2)
						gather2_run(row, src, wo);
					else
						for (size_t i = 0; i < wo; i++)
							row[i] = src[i * s];
			}
}

/* The transpose of im2col: every column entry added onto the (padded) input position it came
 * from, in dxp. */
static void col2im(const struct conv_geom *g, const float *col, size_t ld, float *dxp)
{
	size_t k = g->k, s = g->stride, wo = g->wout, pw = g->w + 2 * g->pad;
	size_t plane = (g->h + 2 * g->pad) * pw;
	for (size_t c = 0; c < g->cin; c++)
		for (size_t ky = 0; ky < k; ky++)
			for (size_t kx = 0; kx < k; kx++) {
				const float *row = col + ((c * k + ky) * k + kx) * ld;
				float *d = dxp + c * plane + ky * pw + kx;
				for (size_t oy = 0; oy < g->hout; oy++, row += wo, d += s * pw)
					if (s == 1)
						add_run(d, row, wo);
					else
						for (size_t i = 0; i < wo; i++)
							d[i * s] += row[i];
			}
}

/* One sample's input gradient from its columns: through the padded buffer buf when there is
 * padding, whose border is dropped. */
static void input_grad(const struct conv_geom *g, const float *col, size_t ld, float *dx,
		       int accumulate, float *buf)
{
	if (!g->pad) {
		if (!accumulate)
			memset(dx, 0, g->in_len * sizeof(float));
		col2im(g, col, ld, dx);
		return;
	}
	memset(buf, 0, padded_len(g) * sizeof(float));
	col2im(g, col, ld, buf);
	size_t pw = g->w + 2 * g->pad, plane = (g->h + 2 * g->pad) * pw;
	for (size_t c = 0; c < g->cin; c++)
		for (size_t y = 0; y < g->h; y++) {
			const float *src = buf + c * plane + (y + g->pad) * pw + g->pad;
			float *d = dx + (c * g->h + y) * g->w;
			if (accumulate)
				add_run(d, src, g->w);
			else
				copy_run(d, src, g->w);
		}
}

/* The scratch: the padded sample and its gradient, then the lowered input of a group (kdim x cols) and, for a
 * group of several samples, their output (gradient) side by side (cout x cols); or, for
 * conv_grad_sq, one sample's lowered input and weight gradient. */
size_t conv_scratch_floats(const struct conv_geom *g)
{
	size_t group = g->group ? g->group : 1;
	size_t lowered = g->kdim * g->pixels * group + (group > 1 ? g->out_len * group : 0);
	size_t per_sample = g->kdim * g->pixels + g->num_weights;
	return 2 * padded_len(g) + (lowered > per_sample ? lowered : per_sample);
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

void conv_forward(const struct conv_geom *g, const float *w, const float *b, const float *x,
		  size_t n, float *y, float *scratch)
{
	size_t pix = g->pixels;
	float *buf = scratch, *col = scratch + padded_len(g);
	memset(buf, 0, padded_len(g) * sizeof(float));
	for (size_t first = 0; first < n; first += g->group) {
		size_t m = min_size(g->group, n - first), cols = m * pix;
		const float *xs = x + first * g->in_len;
		float *ys = y + first * g->out_len;
		for (size_t i = 0; i < m; i++)
			im2col(g, pad_input(g, xs + i * g->in_len, buf), col + i * pix, cols);
		/* One sample's product lands in its output, on top of the bias (beta 1 also spares
		 * OpenBLAS its pass clearing C); a group's in scratch, then copied to its samples
		 * with the bias on the way. */
		float *z = m == 1 ? ys : col + g->kdim * cols, beta = 0.0f;
		if (m == 1 && b) {
			for (size_t c = 0; c < g->cout; c++)
				fill_run(ys + c * pix, b[c], pix);
			beta = 1.0f;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->cout, (int)cols,
			    (int)g->kdim, 1.0f, w, (int)g->kdim, col, (int)cols, beta, z,
			    (int)cols);
		if (m > 1)
			for (size_t i = 0; i < m; i++)
				for (size_t c = 0; c < g->cout; c++)
					copy_add_run(ys + i * g->out_len + c * pix,
						     z + c * cols + i * pix, b ? b[c] : 0.0f, pix);
	}
}

void conv_backward(const struct conv_geom *g, const float *w, const float *x, const float *dy,
		   size_t n, float *dw, float *db, float *dx, int flags, float *scratch)
{
	size_t pix = g->pixels;
	int acc = flags & CONV_ACCUMULATE_PARAMS;
	if (db && !acc)
		memset(db, 0, g->cout * sizeof(float));
	if (dw && !acc && n == 0)
		memset(dw, 0, g->num_weights * sizeof(float));
	/* Two padded buffers: col2im's would leave its border dirty for im2col. */
	float *buf = scratch, *dbuf = buf + padded_len(g), *col = dbuf + padded_len(g);
	memset(buf, 0, padded_len(g) * sizeof(float));
	float beta = acc ? 1.0f : 0.0f;
	for (size_t first = 0; first < n; first += g->group) {
		size_t m = min_size(g->group, n - first), cols = m * pix;
		const float *dys = dy + first * g->out_len;
		/* The group's output gradient as one Cout x cols matrix, copied side by side
		 * unless it is one sample's; the bias gradient sums each run on the way, while
		 * it is in cache (in double within a run, in float across them, as the GEMM
		 * sums dw). */
		const float *d = dys;
		float *side = col + g->kdim * cols;
		for (size_t i = 0; i < m; i++)
			for (size_t c = 0; c < g->cout; c++) {
				const float *run = dys + i * g->out_len + c * pix;
				if (m > 1 && (dw || dx)) {
					copy_run(side + c * cols + i * pix, run, pix);
					run = side + c * cols + i * pix;
				}
				if (db)
					db[c] += (float)elementwise_sum(run, pix);
			}
		if (m > 1 && (dw || dx))
			d = side;
		if (dw) {
			for (size_t i = 0; i < m; i++)
				im2col(g, pad_input(g, x + (first + i) * g->in_len, buf),
				       col + i * pix, cols);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->cout,
				    (int)g->kdim, (int)cols, 1.0f, d, (int)cols, col, (int)cols,
				    beta, dw, (int)g->kdim);
			beta = 1.0f;
		}
		if (dx) {
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g->kdim,
				    (int)cols, (int)g->cout, 1.0f, w, (int)g->kdim, d, (int)cols,
				    0.0f, col, (int)cols);
			for (size_t i = 0; i < m; i++)
				input_grad(g, col + i * pix, cols, dx + (first + i) * g->in_len,
					   flags & CONV_ACCUMULATE_INPUT, dbuf);
		}
	}
}

static void square_add_span(float *restrict sq, double *restrict lane,
			      const float *restrict gr, float scale, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sq[i] += scale * gr[i] * gr[i];
		lane[i] += (double)gr[i] * (double)gr[i];
	}
}

/* sq += scale g², element-wise; returns Σ g² in double (one lane per block position). */
static double square_add(float *sq, const float *gr, float scale, size_t count)
{
	double lane[BLOCK] = {0}, total = 0.0;
	size_t i = 0;
	for (; i + BLOCK <= count; i += BLOCK)
		square_add_span(sq + i, lane, gr + i, scale, BLOCK);
	square_add_span(sq + i, lane, gr + i, scale, count - i);
	for (size_t j = 0; j < BLOCK; j++)
		total += lane[j];
	return total;
}

void conv_grad_sq(const struct conv_geom *g, const float *x, const float *dy, size_t n,
		  float scale, float *sq, double *norms, float *scratch)
{
	size_t pix = g->pixels;
	float *buf = scratch, *col = scratch + padded_len(g), *gw = col + g->kdim * pix;
	memset(buf, 0, padded_len(g) * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		const float *dyi = dy + i * g->out_len;
		im2col(g, pad_input(g, x + i * g->in_len, buf), col, pix);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->cout, (int)g->kdim,
			    (int)pix, 1.0f, dyi, (int)pix, col, (int)pix, 0.0f, gw,
			    (int)g->kdim);
		double norm = square_add(sq, gw, scale, g->num_weights);
		for (size_t c = 0; c < g->cout; c++) {
			float gb = (float)elementwise_sum(dyi + c * pix, pix);
			sq[g->num_weights + c] += scale * gb * gb;
			norm += (double)gb * gb;
		}
		if (norms)
			norms[i] = norm;
	}
}
