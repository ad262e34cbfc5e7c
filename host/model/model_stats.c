/* Per-sample gradient statistics: Σ_i |g_i|^p over a batch's samples, and each |g_i|², without
 * forming a sample's whole gradient where a layer's structure gives it cheaper. */
#include "model/model_impl.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "model/elementwise.h"
#include "model/parallel.h"

#define BLOCK ELEMENTWISE_BLOCK

struct stats {
	struct model *m;
	int power;
	float scale;
	float *acc;
	double *norms;
	size_t pass, passes;
};

static void square_span(float *restrict d, const float *restrict s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = s[i] * s[i];
}

static void abs_span(float *restrict d, const float *restrict s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = fabsf(s[i]);
}

/* d = |s|^power, element-wise. */
static void power_of(float *d, const float *s, size_t count, int power)
{
	size_t i = 0;
	for (; i + BLOCK <= count; i += BLOCK)
		if (power == 1)
			abs_span(d + i, s + i, BLOCK);
		else
			square_span(d + i, s + i, BLOCK);
	if (power == 1)
		abs_span(d + i, s + i, count - i);
	else
		square_span(d + i, s + i, count - i);
}

static void add_squares_span(float *restrict d, const float *restrict s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] += s[i] * s[i];
}

static void add_abs_span(float *restrict d, const float *restrict s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] += fabsf(s[i]);
}

/* d += |s|^power, element-wise. */
static void add_power_of(float *d, const float *s, size_t count, int power)
{
	size_t i = 0;
	for (; i + BLOCK <= count; i += BLOCK)
		if (power == 1)
			add_abs_span(d + i, s + i, BLOCK);
		else
			add_squares_span(d + i, s + i, BLOCK);
	if (power == 1)
		add_abs_span(d + i, s + i, count - i);
	else
		add_squares_span(d + i, s + i, count - i);
}

static void axpy_span(float *restrict y, const float *restrict x, float a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

static double sum_squares(const float *v, size_t n)
{
	double s = 0.0;
	for (size_t i = 0; i < n; i++)
		s += (double)v[i] * v[i];
	return s;
}

/* A sample's gradient of W is δ aᵀ and of b is δ, so Σ_p Σ_i |g_ip|^p is
 * (Σ_p |δ_p|^p)ᵀ |a|^p, the passes' |δ|^p summed in the layer's block of sq_out (dense_off
 * floats of each row before it), then one product over the rows; |g_ip|² = |δ_ip|² (|a_i|² + 1). */
static void dense_stats(const struct stats *s, size_t i, size_t dense_off, size_t lo,
			size_t rows, float *acc)
{
	struct model *m = s->m;
	const struct model_layer *l = &m->layer[i];
	const float *d = model_grad(m, i + 1, lo), *a = model_act(m, l->in, lo);
	size_t in = l->in_len, out = l->out_len;
	float *pd = m->sq_out + dense_off * m->capacity + lo * out;
	if (s->pass == 0)
		power_of(pd, d, rows * out, s->power);
	else
		add_power_of(pd, d, rows * out, s->power);
	for (size_t r = 0; s->norms && r < rows; r++)
		s->norms[lo + r] +=
			sum_squares(d + r * out, out) * (sum_squares(a + r * in, in) + 1.0);
	if (s->pass + 1 < s->passes)
		return;
	float *pa = m->sq_in + lo * m->max_in;
	power_of(pa, a, rows * in, s->power);
	if (rows)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)rows,
			    s->scale, pd, (int)out, pa, (int)in, 1.0f, acc + l->w_off, (int)in);
	for (size_t r = 0; r < rows; r++) {
		size_t j = 0;
		for (; j + BLOCK <= out; j += BLOCK)
			axpy_span(acc + l->b_off + j, pd + r * out + j, s->scale, BLOCK);
		axpy_span(acc + l->b_off + j, pd + r * out + j, s->scale, out - j);
	}
}

static void conv_stats(const struct stats *s, size_t i, size_t lo, size_t rows, float *acc,
		       float *scratch)
{
	struct model *m = s->m;
	const struct model_layer *l = &m->layer[i];
	double *norms = s->norms ? m->sample_norms + lo : NULL;
	conv_grad_stats(&l->conv, model_act(m, l->in, lo), model_grad(m, i + 1, lo),
			rows, s->power, l->b_count != 0, s->scale, acc + l->w_off, norms, scratch);
	for (size_t r = 0; norms && r < rows; r++)
		s->norms[lo + r] += norms[r];
}

/* A sample's dγ = Σ dy x̂ and dβ = Σ dy over its pixels, with the statistics of the forward. */
static void norm_stats(const struct stats *s, size_t i, size_t lo, size_t rows, float *acc,
		       double *sums)
{
	struct model *m = s->m;
	const struct model_layer *l = &m->layer[i];
	const float *x = model_act(m, l->in, lo), *dy = model_grad(m, i + 1, lo);
	size_t channels = l->norm.channels;
	for (size_t r = 0; r < rows; r++) {
		memset(sums, 0, NORM_SUMS(channels) * sizeof(double));
		norm_backward_sums(&l->norm, x + r * l->in_len, dy + r * l->in_len, 1, l->mean,
				   l->invstd, sums);
		double norm = 0.0;
		for (size_t c = 0; c < channels; c++) {
			float gb = (float)sums[c], gg = (float)sums[channels + c];
			acc[l->w_off + c] += s->scale * (s->power == 1 ? fabsf(gg) : gg * gg);
			acc[l->b_off + c] += s->scale * (s->power == 1 ? fabsf(gb) : gb * gb);
			norm += (double)gg * gg + (double)gb * gb;
		}
		if (s->norms)
			s->norms[lo + r] += norm;
	}
}

static void stats_thread(void *ctx, size_t t)
{
	struct stats *s = ctx;
	struct model *m = s->m;
	struct model_thread *th = &m->thread[t];
	size_t lo, hi;
	parallel_range(m->rows, t, m->threads, &lo, &hi);
	size_t rows = hi - lo, dense_off = 0;
	/* Thread 0 adds onto the caller's acc, the others into their zeroed partial sums. */
	float *acc = t ? th->partial : s->acc;
	if (t && s->pass == 0)
		memset(acc, 0, m->num_params * sizeof(float));
	if (s->norms && s->pass == 0)
		memset(s->norms + lo, 0, rows * sizeof(double));
	for (size_t i = 0; i < m->num_layers; i++) {
		enum model_kind kind = m->layer[i].kind;
		if (kind == MODEL_DENSE) {
			dense_stats(s, i, dense_off, lo, rows, acc);
			dense_off += m->layer[i].out_len;
		} else if (kind == MODEL_CONV) {
			conv_stats(s, i, lo, rows, acc, th->scratch);
		} else if (kind == MODEL_BATCHNORM) {
			norm_stats(s, i, lo, rows, acc, th->sums);
		}
	}
	if (m->threads > 1 && s->pass + 1 == s->passes) {
		parallel_barrier(m->pool);
		model_reduce(m, t, s->acc, 0, m->num_layers - 1, model_layer_has_params);
	}
}

int model_grad_stats(struct model *m, const float *dlogits, size_t n, size_t passes, int power,
		     float scale, float *acc, double *norms, struct error *e)
{
	if (n != m->rows)
		return error_set(e, "gradient statistics of %zu rows, but the last forward had %zu",
				 n, m->rows);
	if (power != 1 && power != 2)
		return error_set(e, "gradient statistics: power %d is neither 1 nor 2", power);
	if (passes == 0)
		return error_set(e, "gradient statistics of 0 passes");
	if (n == 0)
		return 0;
	struct stats s = {m, power, scale, acc, norms, 0, passes};
	for (s.pass = 0; s.pass < passes; s.pass++) {
		/* The deltas, each row's own: batch norm's statistics as constants. */
		model_backward_pass(m, dlogits + s.pass * n * m->classes, PASS_STATS);
		parallel_run(m->pool, stats_thread, &s);
	}
	return 0;
}
