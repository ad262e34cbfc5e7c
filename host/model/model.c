/* The built model: its memory, and the forward and backward passes over the graph, each thread
 * taking its range of the batch's samples through every layer. */
#include "model/model_impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "model/elementwise.h"
#include "model/fuse.h"
#include "model/loss.h"
#include "model/parallel.h"

/* ---- memory ---- */

static void threads_free(struct model_thread *th, size_t threads)
{
	for (size_t t = 0; th && t < threads; t++) {
		free(th[t].scratch);
		free(th[t].partial);
		free(th[t].sums);
	}
	free(th);
}

/* The threads' own buffers, which do not grow with the batch. */
static struct model_thread *threads_alloc(const struct model *m, size_t threads)
{
	size_t scratch = 1, channels = 1;
	for (size_t i = 0; i < m->num_layers; i++) {
		const struct model_layer *l = &m->layer[i];
		if (l->kind == MODEL_CONV && conv_scratch_floats(&l->conv) > scratch)
			scratch = conv_scratch_floats(&l->conv);
		if (l->kind == MODEL_BATCHNORM && l->norm.channels > channels)
			channels = l->norm.channels;
	}
	struct model_thread *th = calloc(threads, sizeof(*th));
	int ok = th != NULL;
	for (size_t t = 0; ok && t < threads; t++) {
		th[t].scratch = malloc(scratch * sizeof(float));
		th[t].sums = malloc(NORM_SUMS(channels) * sizeof(double));
		th[t].partial = t ? malloc((m->num_params ? m->num_params : 1) * sizeof(float)) : NULL;
		ok = th[t].scratch && th[t].sums && (!t || th[t].partial);
	}
	if (!ok) {
		threads_free(th, threads);
		return NULL;
	}
	return th;
}

void model_free(struct model *m)
{
	for (size_t j = 0; m->node && j <= m->num_layers; j++)
		if (m->node[j].root == j) {
			if (j)
				free(m->node[j].act);
			free(m->node[j].grad);
		}
	for (size_t i = 0; m->layer && i < m->num_layers; i++) {
		free(m->layer[i].mean);
		free(m->layer[i].invstd);
		free(m->layer[i].arg);
		free(m->layer[i].window);
	}
	threads_free(m->thread, m->threads);
	parallel_free(m->pool);
	free(m->layer);
	free(m->node);
	free(m->params);
	free(m->grads);
	free(m->state);
	free(m->bn_sums);
	free(m->sq_out);
	free(m->sq_in);
	free(m->sample_norms);
	memset(m, 0, sizeof(*m));
}

int model_build(struct model *m, const struct model_desc *d, struct model_shape in,
		size_t classes, struct error *e)
{
	memset(m, 0, sizeof(*m));
	if (graph_expand(d, in, classes, &m->layer, &m->num_layers, &m->node, &m->num_params,
			 &m->num_state, NULL, e) < 0)
		return -1;
	graph_plan(m->layer, m->num_layers, m->node);
	m->desc = *d;
	m->input = in;
	m->classes = classes;
	m->head = m->num_layers - 1;
	m->threads = 1;
	size_t channels = 1;
	int ok = 1;
	for (size_t i = 0; i < m->num_layers; i++) {
		struct model_layer *l = &m->layer[i];
		if (l->kind == MODEL_DENSE) {
			m->max_in = l->in_len > m->max_in ? l->in_len : m->max_in;
			m->dense_out += l->out_len;
		}
		if (l->kind != MODEL_BATCHNORM)
			continue;
		channels = l->norm.channels > channels ? l->norm.channels : channels;
		l->mean = malloc(l->norm.channels * sizeof(double));
		l->invstd = malloc(l->norm.channels * sizeof(double));
		ok &= l->mean && l->invstd;
	}
	/* calloc(0) may return NULL: at least one of each. */
	m->params = calloc(m->num_params ? m->num_params : 1, sizeof(float));
	m->grads = calloc(m->num_params ? m->num_params : 1, sizeof(float));
	m->state = calloc(m->num_state ? m->num_state : 1, sizeof(float));
	m->bn_sums = malloc(NORM_SUMS(channels) * sizeof(double));
	m->thread = threads_alloc(m, 1);
	if (!ok || !m->params || !m->grads || !m->state || !m->bn_sums || !m->thread) {
		size_t params = m->num_params;
		model_free(m);
		return error_set(e, "cannot allocate a model of %zu parameters", params);
	}
	/* Running statistics start as PyTorch's: mean 0, variance 1. */
	for (size_t i = 0; i < m->num_layers; i++) {
		const struct model_layer *l = &m->layer[i];
		for (size_t c = 0; l->kind == MODEL_BATCHNORM && c < l->norm.channels; c++)
			m->state[l->s_off + l->norm.channels + c] = 1.0f;
	}
	return 0;
}

/* Another model of d on the same input and classes as src. */
static int same_architecture(const struct model *a, const struct model *b)
{
	if (a->desc.num_items != b->desc.num_items || a->classes != b->classes ||
	    memcmp(&a->input, &b->input, sizeof(a->input)) != 0)
		return 0;
	for (size_t i = 0; i < a->desc.num_items; i++) {
		const struct model_item *x = &a->desc.item[i], *y = &b->desc.item[i];
		if (x->kind != y->kind || x->n != y->n || x->k != y->k || x->stride != y->stride ||
		    x->pad != y->pad || x->bias != y->bias)
			return 0;
	}
	return 1;
}

int model_copy(struct model *dst, const struct model *src, struct error *e)
{
	if (!same_architecture(dst, src))
		return error_set(e, "cannot copy a model into one of another architecture");
	memcpy(dst->params, src->params, src->num_params * sizeof(float));
	memcpy(dst->state, src->state, src->num_state * sizeof(float));
	return 0;
}

int model_clone(struct model *dst, const struct model *src, struct error *e)
{
	if (model_build(dst, &src->desc, src->input, src->classes, e) < 0)
		return -1;
	if (model_copy(dst, src, e) < 0 || model_set_threads(dst, src->threads, e) < 0) {
		model_free(dst);
		return -1;
	}
	return 0;
}

int model_set_threads(struct model *m, size_t threads, struct error *e)
{
	if (threads == 0 || threads > 1024)
		return error_set(e, "%zu threads: out of range [1, 1024]", threads);
	if (threads == m->threads)
		return 0;
	struct parallel *pool = NULL;
	if (threads > 1 && !(pool = parallel_create(threads, e)))
		return -1;
	struct model_thread *th = threads_alloc(m, threads);
	if (!th) {
		parallel_free(pool);
		return error_set(e, "cannot allocate the buffers of %zu threads", threads);
	}
	threads_free(m->thread, m->threads);
	parallel_free(m->pool);
	m->thread = th;
	m->pool = pool;
	m->threads = threads;
	return 0;
}

/* p grown to rows * per elements of size, or NULL (p left as it was). */
static void *grown(void *p, size_t rows, size_t per, size_t size)
{
	if (per && rows > SIZE_MAX / size / per)
		return NULL;
	return realloc(p, (rows && per ? rows * per : 1) * size);
}

int model_reserve(struct model *m, size_t rows, struct error *e)
{
	if (rows <= m->capacity)
		return 0;
	if (rows > INT_MAX)
		return error_set(e, "batch of %zu rows is too large", rows);
	/* realloc keeps the last batch's values; a buffer that cannot grow still serves the old
	 * capacity, which is kept. */
	int ok = 1;
	for (size_t j = 0; j <= m->num_layers && ok; j++) {
		struct model_node *nd = &m->node[j];
		if (nd->root != j)
			continue;
		float *a = j && !nd->bare ? grown(nd->act, rows, nd->len, sizeof(float)) : NULL;
		if (a)
			nd->act = a;
		float *g = (a || !j || nd->bare) ? grown(nd->grad, rows, nd->len, sizeof(float))
						 : NULL;
		if (g)
			nd->grad = g;
		ok = g != NULL;
	}
	for (size_t i = 0; i < m->num_layers && ok; i++) {
		struct model_layer *l = &m->layer[i];
		if (l->kind != MODEL_MAXPOOL)
			continue;
		if (l->fused) {
			uint8_t *window = grown(l->window, rows, l->out_len, sizeof(uint8_t));
			if (window)
				l->window = window;
			ok = window != NULL;
		} else {
			uint32_t *arg = grown(l->arg, rows, l->out_len, sizeof(uint32_t));
			if (arg)
				l->arg = arg;
			ok = arg != NULL;
		}
	}
	float *sq = ok ? grown(m->sq_out, rows, m->dense_out, sizeof(float)) : NULL;
	if (sq)
		m->sq_out = sq;
	sq = sq ? grown(m->sq_in, rows, m->max_in, sizeof(float)) : NULL;
	if (sq)
		m->sq_in = sq;
	double *norms = sq ? grown(m->sample_norms, rows, 1, sizeof(double)) : NULL;
	if (norms)
		m->sample_norms = norms;
	for (size_t j = 0; j <= m->num_layers; j++) {
		struct model_node *nd = &m->node[j];
		nd->act = m->node[nd->root].act;
		nd->grad = m->node[nd->root].grad;
	}
	if (!norms)
		return error_set(e, "cannot allocate the workspace for %zu rows", rows);
	m->capacity = rows;
	return 0;
}

size_t model_inputs(const struct model *m)
{
	return m->node[0].len;
}

size_t model_outputs(const struct model *m)
{
	return m->classes;
}

size_t model_head_offset(const struct model *m)
{
	return m->layer[m->head].w_off;
}

float *model_act(const struct model *m, size_t j, size_t row)
{
	return m->node[j].act ? m->node[j].act + row * m->node[j].len : NULL;
}

float *model_grad(const struct model *m, size_t j, size_t row)
{
	return m->node[j].grad + row * m->node[j].len;
}

int model_layer_has_params(const struct model_layer *l)
{
	return l->kind == MODEL_DENSE || l->kind == MODEL_CONV || l->kind == MODEL_BATCHNORM;
}

/* ---- element-wise helpers, as the MLP always computed them (the same bits) ---- */

#define BLOCK ELEMENTWISE_BLOCK

static void add_span(float *restrict dst, const float *restrict src, size_t n)
{
	for (size_t j = 0; j < n; j++)
		dst[j] += src[j];
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

/* ---- forward ---- */

struct pass {
	struct model *m;
	float *logits;		/* forward */
	const float *dlogits;	/* backward */
	int flags;
};

/* The sums of the threads' accumulators, in thread order, into m->bn_sums. */
static void combine_sums(struct model *m, size_t channels)
{
	size_t count = NORM_SUMS(channels);
	memcpy(m->bn_sums, m->thread[0].sums, count * sizeof(double));
	for (size_t t = 1; t < m->threads; t++)
		for (size_t i = 0; i < count; i++)
			m->bn_sums[i] += m->thread[t].sums[i];
}

static void forward_layer(struct model *m, size_t i, size_t t)
{
	const struct model_layer *l = &m->layer[i];
	struct model_thread *th = &m->thread[t];
	size_t lo = th->lo, rows = th->hi - th->lo;
	const float *x = model_act(m, l->in, lo);
	float *y = model_act(m, i + 1, lo);
	const float *w = m->params + l->w_off, *b = m->params + l->b_off;
	switch (l->kind) {
	case MODEL_DENSE:
		if (!rows)
			break;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)l->out_len,
			    (int)l->in_len, 1.0f, x, (int)l->in_len, w, (int)l->in_len, 0.0f, y,
			    (int)l->out_len);
		add_rows(y, l->out_len, b, 0, rows, l->out_len);
		break;
	case MODEL_CONV:
		if (l->fuse == MODEL_FUSE_POOL) {
			const struct model_layer *p = &m->layer[i + 2];
			fuse_conv_relu_pool(&l->conv, &p->pool, w, l->b_count ? b : NULL, x, rows,
					    model_act(m, i + 3, lo), p->window + lo * p->out_len,
					    th->scratch);
		} else if (l->fuse == MODEL_FUSE_RELU) {
			fuse_conv_relu(&l->conv, w, l->b_count ? b : NULL, x, rows, y, th->scratch);
		} else {
			conv_forward(&l->conv, w, l->b_count ? b : NULL, x, rows, y, th->scratch);
		}
		break;
	case MODEL_BATCHNORM:
		if (m->forward_training) {
			memset(th->sums, 0, NORM_SUMS(l->norm.channels) * sizeof(double));
			norm_sums(&l->norm, x, rows, th->sums);
			parallel_barrier(m->pool);
			if (t == 0) {
				float *running = m->state + l->s_off;
				combine_sums(m, l->norm.channels);
				/* model_forward checked that the batch has a variance. */
				norm_batch_stats(&l->norm, m->bn_sums, m->rows, l->mean, l->invstd,
						 running, running + l->norm.channels, NULL);
			}
			parallel_barrier(m->pool);
		}
		norm_forward(&l->norm, x, rows, l->mean, l->invstd, w, b, y);
		break;
	case MODEL_RELU:
		if (l->fused)
			break;
		if (y != x)
			memcpy(y, x, rows * l->out_len * sizeof(float));
		elementwise_relu(y, rows * l->out_len);
		break;
	case MODEL_MAXPOOL:
		if (!l->fused)
			pool_max_forward(&l->pool, x, rows, y, l->arg + lo * l->out_len);
		break;
	case MODEL_AVGPOOL:
		pool_avg_forward(&l->pool, x, rows, y);
		break;
	case MODEL_GLOBALPOOL:
		pool_global_forward(l->in_shape.c, l->in_shape.h * l->in_shape.w, x, rows, y);
		break;
	case MODEL_ADD:
		memcpy(y, x, rows * l->out_len * sizeof(float));
		elementwise_add(y, model_act(m, l->in2, lo), rows * l->out_len);
		break;
	case MODEL_FLATTEN:
		break;
	}
}

static void set_range(struct model *m, size_t t)
{
	parallel_range(m->rows, t, m->threads, &m->thread[t].lo, &m->thread[t].hi);
}

static void forward_thread(void *ctx, size_t t)
{
	struct pass *p = ctx;
	struct model *m = p->m;
	set_range(m, t);
	for (size_t i = 0; i < m->num_layers; i++)
		forward_layer(m, i, t);
	size_t lo = m->thread[t].lo, C = m->classes;
	memcpy(p->logits + lo * C, model_act(m, m->num_layers, lo),
	       (m->thread[t].hi - lo) * C * sizeof(float));
}

int model_forward(struct model *m, const float *x, size_t n, float *logits, struct error *e)
{
	if (model_reserve(m, n, e) < 0)
		return -1;
	for (size_t i = 0; m->training && n == 1 && i < m->num_layers; i++) {
		const struct model_layer *l = &m->layer[i];
		if (l->kind == MODEL_BATCHNORM && l->norm.pixels == 1) {
			char text[128];
			model_item_render(&m->desc.item[l->item], text, sizeof(text));
			return error_set(e,
					 "%s item %zu '%s': batch norm in training on a batch of 1 "
					 "sample, 1 value per channel: more than one needed",
					 m->desc.origin, l->item + 1, text);
		}
	}
	m->rows = n;
	m->forward_training = m->training;
	/* The input is read, never written: no layer works in place on root 0. */
	for (size_t j = 0; j <= m->num_layers; j++)
		if (m->node[j].root == 0)
			m->node[j].act = (float *)x;
	if (n == 0)
		return 0;
	for (size_t i = 0; !m->training && i < m->num_layers; i++) {
		const struct model_layer *l = &m->layer[i];
		if (l->kind == MODEL_BATCHNORM)
			norm_running_stats(&l->norm, m->state + l->s_off,
					   m->state + l->s_off + l->norm.channels, l->mean,
					   l->invstd);
	}
	struct pass p = {.m = m, .logits = logits};
	parallel_run(m->pool, forward_thread, &p);
	return 0;
}

/* ---- backward ---- */

/* Whether a pass computes the gradient of node j. */
static int wanted(const struct model *m, size_t j, int flags)
{
	return !(flags & PASS_HEAD) && (m->node[j].root != 0 || (flags & PASS_INPUT));
}

/* dst (overwritten) or dst + src. */
static void put(float *dst, const float *src, size_t count, int acc)
{
	if (acc)
		elementwise_add(dst, src, count);
	else
		memcpy(dst, src, count * sizeof(float));
}

static void backward_layer(struct model *m, size_t i, size_t t, int flags)
{
	const struct model_layer *l = &m->layer[i];
	struct model_thread *th = &m->thread[t];
	size_t lo = th->lo, rows = th->hi - th->lo;
	const float *x = model_act(m, l->in, lo), *y = model_act(m, i + 1, lo);
	const float *dy = model_grad(m, i + 1, lo), *w = m->params + l->w_off;
	float *dx = wanted(m, l->in, flags) ? model_grad(m, l->in, lo) : NULL;
	/* Thread 0's parameter gradients go to grads, the others' to their partial sums. */
	float *g = (flags & PASS_PARAMS) ? (t ? th->partial : m->grads) : NULL;
	switch (l->kind) {
	case MODEL_DENSE:
		if (g && rows)
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)l->out_len,
				    (int)l->in_len, (int)rows, 1.0f, dy, (int)l->out_len, x,
				    (int)l->in_len, 0.0f, g + l->w_off, (int)l->in_len);
		else if (g)
			memset(g + l->w_off, 0, l->w_count * sizeof(float));
		if (g) {
			memset(g + l->b_off, 0, l->b_count * sizeof(float));
			add_rows(g + l->b_off, 0, dy, l->out_len, rows, l->out_len);
		}
		if (dx && rows)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows,
				    (int)l->in_len, (int)l->out_len, 1.0f, dy, (int)l->out_len, w,
				    (int)l->in_len, l->acc_in ? 1.0f : 0.0f, dx, (int)l->in_len);
		break;
	case MODEL_CONV: {
		float *db = g && l->b_count ? g + l->b_off : NULL;
		/* The pooling's and the ReLU's backward, skipped as layers, make dy. */
		if (l->fuse == MODEL_FUSE_POOL && wanted(m, i + 1, flags)) {
			const struct model_layer *p = &m->layer[i + 2];
			fuse_pool_relu_backward(&p->pool, model_grad(m, i + 3, lo),
						model_act(m, i + 3, lo), p->window + lo * p->out_len,
						rows, model_grad(m, i + 1, lo), db);
			db = NULL;
		}
		if (g || dx)
			conv_backward(&l->conv, w, x, dy, rows, g ? g + l->w_off : NULL, db, dx,
				      l->acc_in ? CONV_ACCUMULATE_INPUT : 0, th->scratch);
		break;
	}
	case MODEL_BATCHNORM: {
		/* Through the batch's statistics in training, unless taken as constants. */
		int train = m->forward_training && !(flags & PASS_STATS);
		if (g || (dx && train)) {
			memset(th->sums, 0, NORM_SUMS(l->norm.channels) * sizeof(double));
			norm_backward_sums(&l->norm, x, dy, rows, l->mean, l->invstd, th->sums);
			parallel_barrier(m->pool);
			if (t == 0) {
				combine_sums(m, l->norm.channels);
				if (g)
					norm_param_grads(&l->norm, m->bn_sums, m->grads + l->w_off,
							 m->grads + l->b_off);
			}
			parallel_barrier(m->pool);
		}
		if (dx && train)
			norm_backward_train(&l->norm, x, dy, rows, m->rows, l->mean, l->invstd, w,
					    m->bn_sums, dx);
		else if (dx)
			norm_backward_eval(&l->norm, dy, rows, l->invstd, w, dx);
		break;
	}
	case MODEL_RELU:
		if (l->fused == MODEL_FUSE_POOL)
			break;
		/* In place, dx is dy: the mask applies to the shared gradient. */
		if (dx && dx != dy)
			memcpy(dx, dy, rows * l->out_len * sizeof(float));
		if (dx)
			elementwise_relu_backward(dx, y, rows * l->out_len);
		break;
	case MODEL_MAXPOOL:
		if (dx && !l->fused)
			pool_max_backward(&l->pool, dy, l->arg + lo * l->out_len, rows, dx);
		break;
	case MODEL_AVGPOOL:
		if (dx)
			pool_avg_backward(&l->pool, dy, rows, dx);
		break;
	case MODEL_GLOBALPOOL:
		if (dx)
			pool_global_backward(l->in_shape.c, l->in_shape.h * l->in_shape.w, dy, rows,
					     dx);
		break;
	case MODEL_ADD:
		if (dx)
			put(dx, dy, rows * l->out_len, l->acc_in);
		if (wanted(m, l->in2, flags))
			put(model_grad(m, l->in2, lo), dy, rows * l->out_len, l->acc_in2);
		break;
	case MODEL_FLATTEN:
		break;
	}
}

/* Dense and conv layers: their gradients are summed from the threads' parts. */
static int split_params(const struct model_layer *l)
{
	return l->kind == MODEL_DENSE || l->kind == MODEL_CONV;
}

void model_reduce(struct model *m, size_t t, float *dst, size_t first, size_t last,
		  int (*has_params)(const struct model_layer *l))
{
	size_t lo, hi;
	parallel_range(m->num_params, t, m->threads, &lo, &hi);
	for (size_t i = first; i <= last; i++) {
		const struct model_layer *l = &m->layer[i];
		if (!has_params(l))
			continue;
		/* The layer's block, weights and biases, within this thread's share. */
		size_t a = l->w_off > lo ? l->w_off : lo;
		size_t b = l->b_off + l->b_count < hi ? l->b_off + l->b_count : hi;
		for (size_t u = 1; u < m->threads && a < b; u++)
			elementwise_add(dst + a, m->thread[u].partial + a, b - a);
	}
}

static void backward_thread(void *ctx, size_t t)
{
	struct pass *p = ctx;
	struct model *m = p->m;
	set_range(m, t);
	size_t lo = m->thread[t].lo, C = m->classes, last = m->num_layers - 1;
	memcpy(model_grad(m, m->num_layers, lo), p->dlogits + lo * C,
	       (m->thread[t].hi - lo) * C * sizeof(float));
	size_t first = p->flags & PASS_HEAD ? m->head : 0;
	for (size_t i = last + 1; i-- > first;)
		backward_layer(m, i, t, p->flags);
	if ((p->flags & PASS_PARAMS) && m->threads > 1) {
		parallel_barrier(m->pool);
		model_reduce(m, t, m->grads, first, last, split_params);
	}
}

void model_backward_pass(struct model *m, const float *dlogits, int flags)
{
	if (flags & PASS_HEAD)
		memset(m->grads, 0, model_head_offset(m) * sizeof(float));
	if (m->rows == 0) {
		if (flags & PASS_PARAMS)
			memset(m->grads, 0, m->num_params * sizeof(float));
		return;
	}
	struct pass p = {.m = m, .dlogits = dlogits, .flags = flags};
	parallel_run(m->pool, backward_thread, &p);
}

void model_backward(struct model *m, const float *dlogits)
{
	model_backward_pass(m, dlogits, PASS_PARAMS);
}

void model_backward_head(struct model *m, const float *dlogits)
{
	model_backward_pass(m, dlogits, PASS_PARAMS | PASS_HEAD);
}

void model_backward_deltas(struct model *m, const float *dlogits)
{
	model_backward_pass(m, dlogits, 0);
}

int model_rows_gradient(struct model *work, const struct model *m, const float *x, size_t n,
			const int32_t *y, const uint8_t *const *masks, float *logits,
			float *dlogits, float *grad, double *loss, struct error *e)
{
	if (!same_architecture(work, m))
		return error_set(e, "the workspace is a model of another architecture");
	float *params = work->params, *grads = work->grads;
	int training = work->training;
	/* m's parameters are only read: passes take them from work->params at each layer. */
	work->params = (float *)m->params;
	work->grads = grad;
	work->training = 1;
	int rc = model_forward(work, x, n, logits, e);
	if (rc == 0) {
		*loss = loss_softmax_ce(logits, n, work->classes, y, masks, dlogits);
		model_backward(work, dlogits);
	}
	work->params = params;
	work->grads = grads;
	work->training = training;
	return rc;
}

void model_backward_input(struct model *m, const float *dlogits, float *dx)
{
	model_backward_pass(m, dlogits, PASS_INPUT);
	if (m->rows)
		memcpy(dx, m->node[0].grad, m->rows * m->node[0].len * sizeof(float));
}

/* ---- views ---- */

size_t model_num_views(const struct model *m)
{
	size_t count = 0;
	for (size_t i = 0; i < m->num_layers; i++)
		count += model_layer_has_params(&m->layer[i]);
	return count;
}

void model_view(const struct model *m, size_t i, struct model_view *v)
{
	size_t k = 0;
	for (;; k++)
		if (model_layer_has_params(&m->layer[k]) && i-- == 0)
			break;
	const struct model_layer *l = &m->layer[k];
	*v = (struct model_view){
		.kind = l->kind == MODEL_DENSE	 ? MODEL_VIEW_DENSE
			: l->kind == MODEL_CONV ? MODEL_VIEW_CONV2D
						: MODEL_VIEW_BATCHNORM,
		.in_shape = l->in_shape,
		.out_shape = l->out_shape,
		.in = l->in_len,
		.out = l->out_len,
		.weight_offset = l->w_off,
		.weight_count = l->w_count,
		.bias_offset = l->b_off,
		.bias_count = l->b_count,
		.is_head = k == m->head,
		.input = m->node[l->in].act,
		.delta = m->node[k + 1].grad,
	};
	if (l->kind == MODEL_CONV) {
		v->kernel = l->conv.k;
		v->stride = l->conv.stride;
		v->padding = l->conv.pad;
	}
}
