#include "services.h"

#include <cblas.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static struct services_ctx *ctx_of(const lethe_host *h)
{
	return h->host_data;
}

static void svc_log(const lethe_host *h, lethe_log_level level, const char *msg)
{
	struct services_ctx *c = ctx_of(h);
	engine_log(c->engine, h->plugin_name, level, "%s", msg ? msg : "");
}

static void svc_error(const lethe_host *h, const char *msg)
{
	struct services_ctx *c = ctx_of(h);
	snprintf(c->error, sizeof(c->error), "%s", msg ? msg : "");
	c->has_error = 1;
}

static int valid_key(const char *key)
{
	size_t n = 0;
	for (; key && key[n]; n++)
		if (!((key[n] >= 'a' && key[n] <= 'z') || (key[n] >= '0' && key[n] <= '9') ||
		      key[n] == '_'))
			return 0;
	return n > 0 && n < SERVICES_KEY_MAX;
}

static void svc_report(const lethe_host *h, const char *key, double value)
{
	struct services_ctx *c = ctx_of(h);
	if (!valid_key(key)) {
		engine_log(c->engine, h->plugin_name, LETHE_LOG_WARN,
			   "report: key '%s' is not [a-z0-9_]{1,31}; dropped", key ? key : "");
		return;
	}
	for (size_t i = 0; i < c->num_metrics; i++) {
		if (!strcmp(c->metrics[i].key, key)) {
			c->metrics[i].value = value;
			return;
		}
	}
	if (c->num_metrics == SERVICES_METRICS_MAX) {
		engine_log(c->engine, h->plugin_name, LETHE_LOG_WARN,
			   "report: more than %d keys; '%s' dropped", SERVICES_METRICS_MAX, key);
		return;
	}
	snprintf(c->metrics[c->num_metrics].key, SERVICES_KEY_MAX, "%s", key);
	c->metrics[c->num_metrics++].value = value;
}

static const lethe_run_info *svc_run_info(const lethe_host *h)
{
	return &ctx_of(h)->engine->run_info;
}

static const lethe_task_info *svc_task_info(const lethe_host *h, uint32_t k)
{
	struct engine *e = ctx_of(h)->engine;
	return k < e->tasks.count ? &e->task_info[k] : NULL;
}

static uint64_t svc_rng_u64(const lethe_host *h)
{
	return rng_u64(&ctx_of(h)->rng);
}

static double svc_rng_uniform(const lethe_host *h)
{
	return rng_uniform(&ctx_of(h)->rng);
}

static double svc_rng_normal(const lethe_host *h)
{
	return rng_normal(&ctx_of(h)->rng);
}

static int fail(const lethe_host *h, const char *msg)
{
	svc_error(h, msg);
	return LETHE_ERR_INVALID;
}

static int svc_task_load(const lethe_host *h, uint32_t k, lethe_split split,
			 const uint64_t *positions, size_t n, float *x, int32_t *y, uint64_t *ids)
{
	struct engine *e = ctx_of(h)->engine;
	if (k >= e->tasks.count || split > LETHE_SPLIT_TEST)
		return fail(h, "task_load: no such task or split");
	const struct task *t = &e->tasks.t[k];
	const struct dataset *d = split == LETHE_SPLIT_TRAIN ? &e->train : &e->test;
	const uint32_t *list = split == LETHE_SPLIT_TRAIN ? t->train : t->test;
	size_t count = split == LETHE_SPLIT_TRAIN ? t->num_train : t->num_test;
	for (size_t i = 0; i < n; i++) {
		if (positions[i] >= count)
			return fail(h, "task_load: position out of range");
		uint32_t p = list[positions[i]];
		tasks_convert(t, d->x + (size_t)p * d->dim, 1, d->dim, x + i * d->dim);
		if (y)
			y[i] = d->y[p];
		if (ids)
			ids[i] = tasks_sample_id(k, p) | (split == LETHE_SPLIT_TEST ? LETHE_TEST_ID : 0);
	}
	return LETHE_OK;
}

static int svc_task_raw(const lethe_host *h, uint32_t k, uint64_t position, const uint8_t **pixels,
			int32_t *y, uint64_t *id)
{
	struct engine *e = ctx_of(h)->engine;
	if (k >= e->tasks.count || position >= e->tasks.t[k].num_train)
		return fail(h, "task_raw: no such task or position");
	uint32_t p = e->tasks.t[k].train[position];
	if (pixels)
		*pixels = e->train.x + (size_t)p * e->train.dim;
	if (y)
		*y = e->train.y[p];
	if (id)
		*id = tasks_sample_id(k, p);
	return LETHE_OK;
}

static int svc_sample_raw(const lethe_host *h, uint64_t id, const uint8_t **pixels, int32_t *y)
{
	struct engine *e = ctx_of(h)->engine;
	uint64_t task = id >> 32, p = id & 0xffffffffu;
	if (task >= e->tasks.count || !tasks_has_train(&e->tasks.t[task], (uint32_t)p))
		return fail(h, "sample_raw: no training sample has this id");
	if (pixels)
		*pixels = e->train.x + p * e->train.dim;
	if (y)
		*y = e->train.y[p];
	return LETHE_OK;
}

static int svc_task_convert(const lethe_host *h, uint32_t k, const uint8_t *pixels, size_t n,
			    float *x)
{
	struct engine *e = ctx_of(h)->engine;
	if (k >= e->tasks.count)
		return fail(h, "task_convert: no such task");
	tasks_convert(&e->tasks.t[k], pixels, n, e->train.dim, x);
	return LETHE_OK;
}

static int svc_batch_reserve(const lethe_host *h, size_t extra)
{
	struct services_ctx *c = ctx_of(h);
	if (c->engine->in_batch)
		return fail(h, "batch_reserve: called from a per-batch hook");
	c->reserved = extra;
	struct error err;
	if (engine_reserve_batch(c->engine, &err) != 0)
		return fail(h, err.msg);
	return LETHE_OK;
}

static lethe_model *svc_model(const lethe_host *h)
{
	return (lethe_model *)&ctx_of(h)->engine->model;
}

static lethe_model *svc_model_clone(const lethe_host *h, const lethe_model *m)
{
	struct services_ctx *c = ctx_of(h);
	if (c->num_clones == c->clones_cap) {
		size_t cap = c->clones_cap ? c->clones_cap * 2 : 4;
		struct mlp **grown = realloc(c->clones, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		c->clones = grown;
		c->clones_cap = cap;
	}
	struct mlp *copy = calloc(1, sizeof(*copy));
	const struct mlp *src = (const struct mlp *)m;
	struct error err;
	if (!copy || mlp_clone(copy, src, &err) != 0 || mlp_reserve(copy, src->capacity, &err)) {
		if (copy)
			mlp_free(copy);
		free(copy);
		svc_error(h, "model_clone: out of memory");
		return NULL;
	}
	c->clones[c->num_clones++] = copy;
	return (lethe_model *)copy;
}

static void svc_model_free(const lethe_host *h, lethe_model *m)
{
	struct services_ctx *c = ctx_of(h);
	for (size_t i = 0; i < c->num_clones; i++) {
		if (c->clones[i] == (struct mlp *)m) {
			mlp_free(c->clones[i]);
			free(c->clones[i]);
			c->clones[i] = c->clones[--c->num_clones];
			return;
		}
	}
}

static float *svc_model_params(const lethe_host *h, lethe_model *m, uint64_t *count)
{
	(void)h;
	struct mlp *mm = (struct mlp *)m;
	if (count)
		*count = mm->num_params;
	return mm->params;
}

static float *svc_model_grads(const lethe_host *h, lethe_model *m, uint64_t *count)
{
	(void)h;
	struct mlp *mm = (struct mlp *)m;
	if (count)
		*count = mm->num_params;
	return mm->grads;
}

static uint32_t svc_model_num_layers(const lethe_host *h, const lethe_model *m)
{
	(void)h;
	return (uint32_t)((const struct mlp *)m)->num_layers;
}

/* ABI 1.0's lethe_layer ends with delta; a later minor may append fields. */
#define LAYER_MIN_SIZE (offsetof(lethe_layer, delta) + sizeof(void *))

static int svc_model_layer(const lethe_host *h, const lethe_model *m, uint32_t i, lethe_layer *out)
{
	const struct mlp *mm = (const struct mlp *)m;
	if (i >= mm->num_layers || !out || out->struct_size < LAYER_MIN_SIZE)
		return fail(h, "model_layer: no such layer, or out->struct_size not set");
	const struct mlp_layer *l = &mm->layer[i];
	lethe_layer info = {
		.struct_size = out->struct_size,
		.in = (uint32_t)l->in,
		.out = (uint32_t)l->out,
		.weight_offset = l->w_off,
		.bias_offset = l->b_off,
		.is_head = i + 1 == mm->num_layers,
		.input = mm->act[i],
		.delta = mm->delta[i],
	};
	memcpy(out, &info, out->struct_size < sizeof(info) ? out->struct_size : sizeof(info));
	return LETHE_OK;
}

static int svc_model_forward(const lethe_host *h, lethe_model *m, const float *x, size_t n,
			     float *logits)
{
	struct error err;
	if (mlp_forward((struct mlp *)m, x, n, logits, &err) != 0)
		return fail(h, err.msg);
	return LETHE_OK;
}

static int svc_model_backward(const lethe_host *h, lethe_model *m, const float *dlogits, size_t n)
{
	struct mlp *mm = (struct mlp *)m;
	if (n != mm->rows)
		return fail(h, "model_backward: n differs from the last forward");
	mlp_backward(mm, dlogits);
	return LETHE_OK;
}

static int svc_model_backward_deltas(const lethe_host *h, lethe_model *m, const float *dlogits,
				     size_t n)
{
	struct mlp *mm = (struct mlp *)m;
	if (n != mm->rows)
		return fail(h, "model_backward_deltas: n differs from the last forward");
	mlp_backward_deltas(mm, dlogits);
	return LETHE_OK;
}

static void svc_sgemm(const lethe_host *h, int trans_a, int trans_b, size_t m, size_t n, size_t k,
		      float alpha, const float *a, size_t lda, const float *b, size_t ldb,
		      float beta, float *c, size_t ldc)
{
	(void)h;
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda,
		    b, (int)ldb, beta, c, (int)ldc);
}

static void svc_saxpy(const lethe_host *h, size_t n, float alpha, const float *x, float *y)
{
	(void)h;
	cblas_saxpy((int)n, alpha, x, 1, y, 1);
}

static float svc_sdot(const lethe_host *h, size_t n, const float *x, const float *y)
{
	(void)h;
	return cblas_sdot((int)n, x, 1, y, 1);
}

void services_init(lethe_host *h, struct services_ctx *ctx, struct engine *e, size_t index,
		   const char *name)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->engine = e;
	ctx->index = index;
	/* Streams 0-99 are the engine's; each plugin draws from its own. */
	rng_seed(&ctx->rng, e->s->seed, 100 + index);
	*h = (lethe_host){
		.struct_size = sizeof(*h),
		.abi = LETHE_ABI_VERSION_INIT,
		.plugin_name = name,
		.host_data = ctx,
		.log = svc_log,
		.error = svc_error,
		.report = svc_report,
		.run_info = svc_run_info,
		.task_info = svc_task_info,
		.rng_u64 = svc_rng_u64,
		.rng_uniform = svc_rng_uniform,
		.rng_normal = svc_rng_normal,
		.task_load = svc_task_load,
		.task_raw = svc_task_raw,
		.sample_raw = svc_sample_raw,
		.task_convert = svc_task_convert,
		.batch_reserve = svc_batch_reserve,
		.model = svc_model,
		.model_clone = svc_model_clone,
		.model_free = svc_model_free,
		.model_params = svc_model_params,
		.model_grads = svc_model_grads,
		.model_num_layers = svc_model_num_layers,
		.model_layer = svc_model_layer,
		.model_forward = svc_model_forward,
		.model_backward = svc_model_backward,
		.sgemm = svc_sgemm,
		.saxpy = svc_saxpy,
		.sdot = svc_sdot,
		.model_backward_deltas = svc_model_backward_deltas,
	};
}

void services_free(struct services_ctx *ctx)
{
	for (size_t i = 0; i < ctx->num_clones; i++) {
		mlp_free(ctx->clones[i]);
		free(ctx->clones[i]);
	}
	free(ctx->clones);
	ctx->clones = NULL;
	ctx->num_clones = ctx->clones_cap = 0;
}
