#include "model/mlp.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

int mlp_init(struct mlp *m, const size_t *sizes, size_t n, struct error *e)
{
	memset(m, 0, sizeof(*m));
	if (n < 2 || n - 1 > MLP_LAYERS_MAX)
		return error_set(e, "an MLP takes 2 to %d layer sizes, not %zu", MLP_LAYERS_MAX + 1,
				 n);
	for (size_t i = 0; i < n; i++)
		if (sizes[i] == 0 || sizes[i] > INT_MAX) /* BLAS dimensions are ints */
			return error_set(e, "layer size %zu is out of range [1, %d]", sizes[i],
					 INT_MAX);

	size_t off = 0;
	for (size_t l = 0; l + 1 < n; l++) {
		struct mlp_layer *ly = &m->layer[l];
		ly->in = sizes[l];
		ly->out = sizes[l + 1];
		if ((ly->in + 1) * ly->out > SIZE_MAX / sizeof(float) - off)
			return error_set(e, "too many parameters");
		ly->w_off = off;
		ly->b_off = off + ly->in * ly->out;
		off = ly->b_off + ly->out;
	}
	m->num_layers = n - 1;
	m->num_params = off;
	m->params = calloc(off, sizeof(float));
	m->grads = calloc(off, sizeof(float));
	if (!m->params || !m->grads) {
		mlp_free(m);
		return error_set(e, "cannot allocate %zu parameters", off);
	}
	return 0;
}

void mlp_init_he(struct mlp *m, struct rng *r)
{
	for (size_t l = 0; l < m->num_layers; l++) {
		const struct mlp_layer *ly = &m->layer[l];
		double sd = sqrt(2.0 / (double)ly->in);
		float *w = m->params + ly->w_off;
		for (size_t i = 0; i < ly->in * ly->out; i++)
			w[i] = (float)(sd * rng_normal(r));
		memset(m->params + ly->b_off, 0, ly->out * sizeof(float));
	}
}

int mlp_clone(struct mlp *dst, const struct mlp *src, struct error *e)
{
	size_t sizes[MLP_LAYERS_MAX + 1];
	sizes[0] = src->layer[0].in;
	for (size_t l = 0; l < src->num_layers; l++)
		sizes[l + 1] = src->layer[l].out;
	if (mlp_init(dst, sizes, src->num_layers + 1, e) < 0)
		return -1;
	memcpy(dst->params, src->params, src->num_params * sizeof(float));
	return 0;
}

int mlp_reserve(struct mlp *m, size_t rows, struct error *e)
{
	if (rows <= m->capacity)
		return 0;
	if (rows > INT_MAX)
		return error_set(e, "batch of %zu rows is too large", rows);
	/* realloc keeps the last batch's activations, so act[] stays valid; if one buffer
	 * cannot grow, the ones already grown still serve the old capacity. */
	for (size_t l = 0; l < m->num_layers; l++) {
		size_t out = m->layer[l].out;
		if (rows > SIZE_MAX / sizeof(float) / out)
			return error_set(e, "batch of %zu rows is too large", rows);
		float *a = realloc(m->act_buf[l + 1], rows * out * sizeof(float));
		if (!a)
			return error_set(e, "cannot allocate the workspace for %zu rows", rows);
		m->act[l + 1] = m->act_buf[l + 1] = a;
		float *d = realloc(m->delta[l], rows * out * sizeof(float));
		if (!d)
			return error_set(e, "cannot allocate the workspace for %zu rows", rows);
		m->delta[l] = d;
	}
	m->capacity = rows;
	return 0;
}

void mlp_free(struct mlp *m)
{
	free(m->params);
	free(m->grads);
	for (size_t l = 0; l < m->num_layers; l++) {
		free(m->act_buf[l + 1]);
		free(m->delta[l]);
	}
	memset(m, 0, sizeof(*m));
}

size_t mlp_inputs(const struct mlp *m)
{
	return m->layer[0].in;
}

size_t mlp_outputs(const struct mlp *m)
{
	return m->layer[m->num_layers - 1].out;
}

/* GCC at -O2 vectorises a loop only if it leaves no scalar remainder, so each elementwise kernel
 * below is a plain loop over a span, run on whole BLOCKs (a multiple of every vector width) and
 * then once on the rest. */
#define BLOCK 16

static float relu(float v)
{
	return v > 0.0f ? v : 0.0f;
}

static void bias_relu_span(float *restrict z, const float *restrict b, size_t n)
{
	for (size_t j = 0; j < n; j++)
		z[j] = relu(z[j] + b[j]);
}

static void add_span(float *restrict dst, const float *restrict src, size_t n)
{
	for (size_t j = 0; j < n; j++)
		dst[j] += src[j];
}

/* ReLU's derivative: the gradient passes where the activation was positive. */
static void relu_mask_span(float *restrict d, const float *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = a[i] > 0.0f ? d[i] : 0.0f;
}

/* Bias and ReLU in one pass over the GEMM output, which is the costly part to touch. */
static void bias_relu(float *z, const float *b, size_t rows, size_t cols)
{
	for (size_t i = 0; i < rows; i++, z += cols) {
		size_t j = 0;
		for (; j + BLOCK <= cols; j += BLOCK)
			bias_relu_span(z + j, b + j, BLOCK);
		bias_relu_span(z + j, b + j, cols - j);
	}
}

/* Row i of dst += row i of src; a step of 0 stands for one row repeated (bias add, column
 * sums). */
static void add_rows(float *dst, size_t dst_step, const float *src, size_t src_step, size_t rows,
		     size_t cols)
{
	for (size_t i = 0; i < rows; i++, dst += dst_step, src += src_step) {
		size_t j = 0;
		for (; j + BLOCK <= cols; j += BLOCK)
			add_span(dst + j, src + j, BLOCK);
		add_span(dst + j, src + j, cols - j);
	}
}

static void relu_mask(float *d, const float *a, size_t count)
{
	size_t i = 0;
	for (; i + BLOCK <= count; i += BLOCK)
		relu_mask_span(d + i, a + i, BLOCK);
	relu_mask_span(d + i, a + i, count - i);
}

int mlp_forward(struct mlp *m, const float *x, size_t n, float *logits, struct error *e)
{
	if (mlp_reserve(m, n, e) < 0)
		return -1;
	m->rows = n;
	m->act[0] = x;
	if (n == 0)
		return 0;
	for (size_t l = 0; l < m->num_layers; l++) {
		const struct mlp_layer *ly = &m->layer[l];
		float *z = m->act_buf[l + 1];
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)ly->out,
			    (int)ly->in, 1.0f, m->act[l], (int)ly->in, m->params + ly->w_off,
			    (int)ly->in, 0.0f, z, (int)ly->out);
		if (l + 1 < m->num_layers)
			bias_relu(z, m->params + ly->b_off, n, ly->out);
		else
			add_rows(z, ly->out, m->params + ly->b_off, 0, n, ly->out);
		m->act[l + 1] = z;
	}
	memcpy(logits, m->act[m->num_layers], n * mlp_outputs(m) * sizeof(float));
	return 0;
}

/* The deltas of layers stop..last for the last forward, and dL/dθ of those layers into grads
 * when params is set. */
static void backward(struct mlp *m, const float *dlogits, int params, size_t stop)
{
	size_t n = m->rows;
	if (n == 0) {
		if (params)
			memset(m->grads, 0, m->num_params * sizeof(float));
		return;
	}
	size_t last = m->num_layers - 1;
	memcpy(m->delta[last], dlogits, n * m->layer[last].out * sizeof(float));
	for (size_t l = last + 1; l-- > 0;) {
		const struct mlp_layer *ly = &m->layer[l];
		const float *d = m->delta[l];
		if (params) {
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ly->out,
				    (int)ly->in, (int)n, 1.0f, d, (int)ly->out, m->act[l],
				    (int)ly->in, 0.0f, m->grads + ly->w_off, (int)ly->in);
			memset(m->grads + ly->b_off, 0, ly->out * sizeof(float));
			add_rows(m->grads + ly->b_off, 0, d, ly->out, n, ly->out);
		}
		if (l == stop)
			break; /* nobody needs dL/dx, nor deltas below a frozen trunk */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)ly->in,
			    (int)ly->out, 1.0f, d, (int)ly->out, m->params + ly->w_off, (int)ly->in,
			    0.0f, m->delta[l - 1], (int)ly->in);
		relu_mask(m->delta[l - 1], m->act[l], n * ly->in);
	}
}

void mlp_backward(struct mlp *m, const float *dlogits)
{
	backward(m, dlogits, 1, 0);
}

void mlp_backward_head(struct mlp *m, const float *dlogits)
{
	size_t last = m->num_layers - 1;
	memset(m->grads, 0, m->layer[last].w_off * sizeof(float));
	backward(m, dlogits, 1, last);
}

void mlp_backward_deltas(struct mlp *m, const float *dlogits)
{
	backward(m, dlogits, 0, 0);
}

/* GCC at -O2 vectorises a loop only if it leaves no scalar remainder (as in sgd.c): whole
 * blocks, then the rest. */
#define FINITE_BLOCK 256

/* Nonzero if a value of v[0..n) is NaN or infinite: an exponent of all ones, which the +1 in the
 * exponent field carries into the sign bit. Integer operations only, so the loop vectorises
 * without -ffast-math. */
static uint32_t span_nonfinite(const float *v, size_t n)
{
	uint32_t any = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &v[i], sizeof(u));
		any |= (u & 0x7f800000u) + 0x00800000u;
	}
	return any >> 31;
}

static size_t span_count(const float *v, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += !isfinite(v[i]);
	return count;
}

size_t mlp_count_nonfinite(const float *v, size_t n)
{
	size_t count = 0, i = 0;
	for (; i + FINITE_BLOCK <= n; i += FINITE_BLOCK)
		if (span_nonfinite(v + i, FINITE_BLOCK))
			count += span_count(v + i, FINITE_BLOCK);
	return count + span_count(v + i, n - i);
}
