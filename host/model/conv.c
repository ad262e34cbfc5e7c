#include "model/conv.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "model/elementwise.h"

#define BLOCK ELEMENTWISE_BLOCK
/* The rows of the small images (8 and 4 outputs wide) are shorter than a block: after the
 * blocks, the runs below go by QUADs (SSE's width) before the scalar rest. */
#define QUAD 4

/* conv_geom_init's choice of group: as many samples as fit in a product of GROUP_COLUMNS
 * columns, at least one, at most GROUP_MAX. Measured with bench/bench_conv at batch 64 on the
 * CNN's and the ResNet-18's shapes: the 4x4 and 8x8 planes need their groups; the CNN's 14x14
 * ones (196 columns) ran 1-2% faster one sample a product than two, which also spares the
 * backward a copy of the output gradient side by side. */
#define GROUP_COLUMNS 256
#define GROUP_MAX     64

static int refuse(struct error *e, const struct conv_geom *g, const char *why)
{
	return error_set(e,
			 "conv %zux%zu stride %zu pad %zu, %zu to %zu channels, on %zux%zux%zu: %s",
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
	size_t group = g->pixels < GROUP_COLUMNS ? GROUP_COLUMNS / g->pixels : 1;
	if (group > GROUP_MAX)
		group = GROUP_MAX;
	while (group > 1 && !product(product(g->kdim, g->pixels), group))
		group--;
	g->group = group;
	return 0;
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

/* The runs of the lowering, of stride 1, go through spans GCC vectorises (a stride above 2
 * gathers or scatters element by element). Copies go by memcpy of a constant size, which GCC
 * inlines as vector moves: a copy loop it turns into a call to memmove, dearer than the 14
 * floats of a CNN row. A run of a QUAD or more ends with the QUAD that ends it, rewriting what
 * the last one wrote with the same values. */
static void copy_run(float *d, const float *s, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		memcpy(d + i, s + i, BLOCK * sizeof(float));
	for (; i + QUAD <= n; i += QUAD)
		memcpy(d + i, s + i, QUAD * sizeof(float));
	if (i < n && n >= QUAD) {
		memcpy(d + n - QUAD, s + n - QUAD, QUAD * sizeof(float));
	} else {
		if (i < n)
			d[i] = s[i];
		if (i + 1 < n)
			d[i + 1] = s[i + 1];
		if (i + 2 < n)
			d[i + 2] = s[i + 2];
	}
}

static void add_run(float *d, const float *s, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		add_span(d + i, s + i, BLOCK);
	for (; i + QUAD <= n; i += QUAD)
		add_span(d + i, s + i, QUAD);
	add_span(d + i, s + i, n - i);
}

static void fill_run(float *d, float v, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		fill_span(d + i, v, BLOCK);
	for (; i + QUAD <= n; i += QUAD)
		fill_span(d + i, v, QUAD);
	fill_span(d + i, v, n - i);
}

static void copy_add_run(float *d, const float *s, float v, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		copy_add_span(d + i, s + i, v, BLOCK);
	for (; i + QUAD <= n; i += QUAD)
		copy_add_span(d + i, s + i, v, QUAD);
	copy_add_span(d + i, s + i, v, n - i);
}

/* im2col reads, and col2im writes, a copy of the sample with its padding in memory, so that
 * every run of the lowering is whole, with neither bounds to clip nor zeros to write row by
 * row. At stride 2 each padded row is stored deinterleaved, its even columns then its odd
 * ones, so that the taps' runs are contiguous there too. A copy is made when there is padding,
 * or a stride of 2 with taps enough to repay it: a 1x1 kernel gathers its quarter of the
 * input straight from it. */
static int copied(const struct conv_geom *g)
{
	return g->pad || (g->stride == 2 && g->k > 1);
}

static size_t padded_len(const struct conv_geom *g)
{
	return copied(g) ? g->cin * (g->h + 2 * g->pad) * (g->w + 2 * g->pad) : 0;
}

static void deinterleave_span(float *restrict a, float *restrict b, const float *restrict x,
			      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		a[i] = x[2 * i];
		b[i] = x[2 * i + 1];
	}
}

static void interleave_span(float *restrict d, const float *restrict a, const float *restrict b,
			    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		d[2 * i] = a[i];
		d[2 * i + 1] = b[i];
	}
}

static void interleave_add_span(float *restrict d, const float *restrict a, const float *restrict b,
				size_t n)
{
	for (size_t i = 0; i < n; i++) {
		d[2 * i] += a[i];
		d[2 * i + 1] += b[i];
	}
}

/* The gradient of taking the even positions: d gets a's values there and 0 between; when
 * accumulating, 0 is added between rather than skipped, which keeps the pattern one GCC
 * vectorises. */
static void spread_span(float *restrict d, const float *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		d[2 * i] = a[i];
		d[2 * i + 1] = 0.0f;
	}
}

static void spread_add_span(float *restrict d, const float *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		d[2 * i] += a[i];
		d[2 * i + 1] += 0.0f;
	}
}

/* Where the w values of an image row go in its deinterleaved padded row: x[2t] to a[t] and
 * x[2t + 1] to b[t], a and b being the row's even and odd halves, shifted by the padding. */
static void halves(const struct conv_geom *g, float *row, float **a, float **b)
{
	size_t p = g->pad, even = (g->w + 2 * p + 1) / 2;
	*a = p % 2 ? row + even + p / 2 : row + p / 2;
	*b = p % 2 ? row + (p + 1) / 2 : row + even + p / 2;
}

static void deinterleave_row(const struct conv_geom *g, float *row, const float *x)
{
	float *a, *b;
	halves(g, row, &a, &b);
	size_t n = g->w / 2, i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		deinterleave_span(a + i, b + i, x + 2 * i, BLOCK);
	for (; i + QUAD <= n; i += QUAD)
		deinterleave_span(a + i, b + i, x + 2 * i, QUAD);
	deinterleave_span(a + i, b + i, x + 2 * i, n - i);
	if (g->w % 2)
		a[n] = x[g->w - 1];
}

static void interleave_row(const struct conv_geom *g, float *d, float *row, int accumulate)
{
	float *a, *b;
	halves(g, row, &a, &b);
	size_t n = g->w / 2, i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		if (accumulate)
			interleave_add_span(d + 2 * i, a + i, b + i, BLOCK);
		else
			interleave_span(d + 2 * i, a + i, b + i, BLOCK);
	for (; i + QUAD <= n; i += QUAD)
		if (accumulate)
			interleave_add_span(d + 2 * i, a + i, b + i, QUAD);
		else
			interleave_span(d + 2 * i, a + i, b + i, QUAD);
	if (accumulate)
		interleave_add_span(d + 2 * i, a + i, b + i, n - i);
	else
		interleave_span(d + 2 * i, a + i, b + i, n - i);
	if (g->w % 2)
		d[g->w - 1] = accumulate ? d[g->w - 1] + a[n] : a[n];
}

/* The n even positions of a row of w values (2 n - 1 <= w): pairs deinterleaved while both
 * lie in the row, the odd halves dropped. */
static void gather_even(float *d, const float *x, size_t n, size_t w)
{
	float odd[BLOCK];
	size_t i = 0;
	for (; 2 * (i + BLOCK) <= w; i += BLOCK)
		deinterleave_span(d + i, odd, x + 2 * i, BLOCK);
	for (; 2 * (i + QUAD) <= w; i += QUAD)
		deinterleave_span(d + i, odd, x + 2 * i, QUAD);
	for (; i < n; i++)
		d[i] = x[2 * i];
}

/* Its gradient onto the whole row: the even positions from a, the odd ones 0. */
static void spread_even(float *d, const float *a, size_t w, int accumulate)
{
	size_t n = w / 2, i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		if (accumulate)
			spread_add_span(d + 2 * i, a + i, BLOCK);
		else
			spread_span(d + 2 * i, a + i, BLOCK);
	for (; i + QUAD <= n; i += QUAD)
		if (accumulate)
			spread_add_span(d + 2 * i, a + i, QUAD);
		else
			spread_span(d + 2 * i, a + i, QUAD);
	if (accumulate)
		spread_add_span(d + 2 * i, a + i, n - i);
	else
		spread_span(d + 2 * i, a + i, n - i);
	if (w % 2)
		d[w - 1] = accumulate ? d[w - 1] + a[n] : a[n];
}

/* x, or its copy into buf, whose padding the caller has zeroed: the copy writes the same
 * places for every sample, so the padding stays zero. */
static const float *pad_input(const struct conv_geom *g, const float *x, float *buf)
{
	if (!copied(g))
		return x;
	size_t pw = g->w + 2 * g->pad, plane = (g->h + 2 * g->pad) * pw;
	for (size_t c = 0; c < g->cin; c++)
		for (size_t y = 0; y < g->h; y++) {
			float *row = buf + c * plane + (y + g->pad) * pw;
			const float *src = x + (c * g->h + y) * g->w;
			if (g->stride == 2)
				deinterleave_row(g, row, src);
			else
				copy_run(row + g->pad, src, g->w);
		}
	return buf;
}

/* Whether im2col's runs are contiguous: stride 1, or stride 2 on deinterleaved rows. */
static int contiguous(const struct conv_geom *g)
{
	return g->stride == 1 || (g->stride == 2 && copied(g));
}

/* The start of tap kx's run in a row as im2col reads it. */
static size_t tap_offset(const struct conv_geom *g, size_t kx)
{
	size_t pw = g->w + 2 * g->pad;
	if (g->stride == 2 && copied(g))
		return kx % 2 ? (pw + 1) / 2 + kx / 2 : kx / 2;
	return kx;
}

/* A run rounded up to whole BLOCKs: the CNN's 14 and 28 outputs wide rows in one or two
 * vector copies rather than QUADs and a scalar rest. Up to BLOCK - 1 values past the run are
 * read and written. */
static void copy_over(float *d, const float *s, size_t n)
{
	for (size_t i = 0; i < n; i += BLOCK)
		memcpy(d + i, s + i, BLOCK * sizeof(float));
}

/* Whether im2col may copy_over: at stride 1 from the padded copy in the scratch (where what it
 * reads past a run is scratch too, see conv_scratch_floats) into one sample's columns (ld =
 * pixels), which it writes in address order, so that what a run writes past its end is the next
 * run's, written after; past the last run's lies scratch that nothing reads. */
static int overrun(const struct conv_geom *g, size_t ld)
{
	return g->stride == 1 && copied(g) && ld == g->pixels;
}

/* One sample xp (as pad_input returns it) into its columns of the lowered input: row
 * (c, ky, kx) of col (leading dimension ld) gets, for every output position, the value the
 * kernel's tap (ky, kx) sees there. */
static void im2col(const struct conv_geom *g, const float *xp, float *col, size_t ld)
{
	size_t k = g->k, s = g->stride, wo = g->wout, pw = g->w + 2 * g->pad;
	size_t plane = (g->h + 2 * g->pad) * pw;
	int over = overrun(g, ld);
	for (size_t c = 0; c < g->cin; c++)
		for (size_t ky = 0; ky < k; ky++)
			for (size_t kx = 0; kx < k; kx++) {
				float *row = col + ((c * k + ky) * k + kx) * ld;
				const float *src = xp + c * plane + ky * pw + tap_offset(g, kx);
				for (size_t oy = 0; oy < g->hout; oy++, row += wo, src += s * pw)
					if (over)
						copy_over(row, src, wo);
					else if (contiguous(g))
						copy_run(row, src, wo);
					else if (s == 2)
						gather_even(row, src, wo, g->w);
					else
						for (size_t i = 0; i < wo; i++)
							row[i] = src[i * s];
			}
}

/* The transpose of im2col: every column entry added onto the input position it came from, in
 * dxp (laid out as pad_input's copy, or the sample itself when there is none). */
static void col2im(const struct conv_geom *g, const float *col, size_t ld, float *dxp)
{
	size_t k = g->k, s = g->stride, wo = g->wout, pw = g->w + 2 * g->pad;
	size_t plane = (g->h + 2 * g->pad) * pw;
	for (size_t c = 0; c < g->cin; c++)
		for (size_t ky = 0; ky < k; ky++)
			for (size_t kx = 0; kx < k; kx++) {
				const float *row = col + ((c * k + ky) * k + kx) * ld;
				float *d = dxp + c * plane + ky * pw + tap_offset(g, kx);
				for (size_t oy = 0; oy < g->hout; oy++, row += wo, d += s * pw)
					if (contiguous(g))
						add_run(d, row, wo);
					else
						for (size_t i = 0; i < wo; i++)
							d[i * s] += row[i];
			}
}

/* One sample's input gradient from its columns: through buf, laid out as pad_input's copy,
 * when there is one (the padding's share dropped). */
static void input_grad(const struct conv_geom *g, const float *col, size_t ld, float *dx,
		       int accumulate, float *buf)
{
	if (g->stride == 2 && !copied(g)) {
		/* A 1x1 kernel: every input row written once, even rows from their column
		 * row, odd ones (and one past the last output row) 0. */
		for (size_t c = 0; c < g->cin; c++)
			for (size_t y = 0; y < g->h; y++) {
				float *d = dx + (c * g->h + y) * g->w;
				if (y % 2 == 0 && y / 2 < g->hout)
					spread_even(d, col + c * ld + y / 2 * g->wout, g->w,
						    accumulate);
				else if (!accumulate)
					memset(d, 0, g->w * sizeof(float));
			}
		return;
	}
	if (!copied(g)) {
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
			float *row = buf + c * plane + (y + g->pad) * pw;
			float *d = dx + (c * g->h + y) * g->w;
			if (g->stride == 2 && copied(g))
				interleave_row(g, d, row, accumulate);
			else if (accumulate)
				add_run(d, row + g->pad, g->w);
			else
				copy_run(d, row + g->pad, g->w);
		}
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* The group, 1 if a caller set 0. */
static size_t group_of(const struct conv_geom *g)
{
	return g->group ? g->group : 1;
}

/* The scratch: the padded sample and its gradient, then the lowered input of a group
 * (kdim x cols) and their output (gradient) side by side (cout x cols); or, for
 * conv_grad_sq, one sample's lowered input and weight gradient. */
size_t conv_scratch_floats(const struct conv_geom *g)
{
	size_t group = group_of(g);
	size_t lowered = (g->kdim * g->pixels + g->out_len) * group;
	size_t per_sample = g->kdim * g->pixels + g->num_weights;
	/* A BLOCK past the end for im2col's copy_over to write, and to read past the padded
	 * copy (which other scratch always follows). */
	return 2 * padded_len(g) + (lowered > per_sample ? lowered : per_sample) + BLOCK;
}

/* The m samples from xs lowered side by side into col (kdim x m pixels), through buf. */
static void lower(const struct conv_geom *g, const float *xs, size_t m, float *col, float *buf)
{
	for (size_t i = 0; i < m; i++)
		im2col(g, pad_input(g, xs + i * g->in_len, buf), col + i * g->pixels,
		       m * g->pixels);
}

void conv_forward_each(const struct conv_geom *g, const float *w, const float *x, size_t n,
		       float *scratch, conv_sink *sink, void *ctx)
{
	float *buf = scratch, *col = scratch + padded_len(g);
	memset(buf, 0, padded_len(g) * sizeof(float));
	for (size_t first = 0; first < n; first += group_of(g)) {
		size_t m = min_size(group_of(g), n - first), cols = m * g->pixels;
		float *z = col + g->kdim * cols;
		lower(g, x + first * g->in_len, m, col, buf);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->cout, (int)cols,
			    (int)g->kdim, 1.0f, w, (int)g->kdim, col, (int)cols, 0.0f, z,
			    (int)cols);
		sink(ctx, first, m, z, cols);
	}
}

void conv_forward(const struct conv_geom *g, const float *w, const float *b, const float *x,
		  size_t n, float *y, float *scratch)
{
	size_t pix = g->pixels;
	float *buf = scratch, *col = scratch + padded_len(g);
	memset(buf, 0, padded_len(g) * sizeof(float));
	for (size_t first = 0; first < n; first += group_of(g)) {
		size_t m = min_size(group_of(g), n - first), cols = m * pix;
		float *ys = y + first * g->out_len;
		lower(g, x + first * g->in_len, m, col, buf);
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
	for (size_t first = 0; first < n; first += group_of(g)) {
		size_t m = min_size(group_of(g), n - first), cols = m * pix;
		const float *dys = dy + first * g->out_len;
		/* The group's output gradient as one Cout x cols matrix, copied side by side
		 * unless it is one sample's (or no product needs it). */
		const float *d = dys;
		int matrix = m == 1 || dw || dx;
		if (m > 1 && matrix) {
			float *side = col + g->kdim * cols;
			for (size_t i = 0; i < m; i++)
				for (size_t c = 0; c < g->cout; c++)
					copy_run(side + c * cols + i * pix,
						 dys + i * g->out_len + c * pix, pix);
			d = side;
		}
		/* The bias gradient: the matrix's row sums, in double within a row and in float
		 * across groups, as the GEMM sums dw. */
		for (size_t c = 0; db && c < g->cout; c++)
			if (matrix)
				db[c] += (float)elementwise_sum(d + c * cols, cols);
			else
				for (size_t i = 0; i < m; i++)
					db[c] += (float)elementwise_sum(
						dys + i * g->out_len + c * pix, pix);
		if (dw) {
			lower(g, x + first * g->in_len, m, col, buf);
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

static void square_add_span(float *restrict acc, double *restrict lane, const float *restrict gr,
			    float scale, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		acc[i] += scale * gr[i] * gr[i];
		lane[i] += (double)gr[i] * (double)gr[i];
	}
}

static void abs_add_span(float *restrict acc, double *restrict lane, const float *restrict gr,
			 float scale, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		acc[i] += scale * fabsf(gr[i]);
		lane[i] += (double)gr[i] * (double)gr[i];
	}
}

/* acc += scale |g|^power, element-wise; returns Σ g² in double (one lane per block position). */
static double power_add(float *acc, const float *gr, int power, float scale, size_t count)
{
	double lane[BLOCK] = {0}, total = 0.0;
	size_t i = 0;
	for (; i + BLOCK <= count; i += BLOCK)
		if (power == 1)
			abs_add_span(acc + i, lane, gr + i, scale, BLOCK);
		else
			square_add_span(acc + i, lane, gr + i, scale, BLOCK);
	if (power == 1)
		abs_add_span(acc + i, lane, gr + i, scale, count - i);
	else
		square_add_span(acc + i, lane, gr + i, scale, count - i);
	for (size_t j = 0; j < BLOCK; j++)
		total += lane[j];
	return total;
}

void conv_grad_stats(const struct conv_geom *g, const float *x, const float *dy, size_t n,
		     int power, int bias, float scale, float *acc, double *norms, float *scratch)
{
	size_t pix = g->pixels;
	float *buf = scratch, *col = scratch + padded_len(g), *gw = col + g->kdim * pix;
	memset(buf, 0, padded_len(g) * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		const float *dyi = dy + i * g->out_len;
		im2col(g, pad_input(g, x + i * g->in_len, buf), col, pix);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->cout, (int)g->kdim,
			    (int)pix, 1.0f, dyi, (int)pix, col, (int)pix, 0.0f, gw, (int)g->kdim);
		double norm = power_add(acc, gw, power, scale, g->num_weights);
		for (size_t c = 0; bias && c < g->cout; c++) {
			float gb = (float)elementwise_sum(dyi + c * pix, pix);
			acc[g->num_weights + c] += scale * (power == 1 ? fabsf(gb) : gb * gb);
			norm += (double)gb * gb;
		}
		if (norms)
			norms[i] = norm;
	}
}

void conv_grad_sq(const struct conv_geom *g, const float *x, const float *dy, size_t n, float scale,
		  float *sq, double *norms, float *scratch)
{
	conv_grad_stats(g, x, dy, n, 2, 1, scale, sq, norms, scratch);
}
