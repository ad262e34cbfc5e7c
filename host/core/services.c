#include "core/services.h"

#include <cblas.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* A printable character's UTF-8 sequence at s: its length, or 0 for a control character (C0,
 * DEL, C1) or a byte that does not start a well-formed sequence. */
static size_t utf8_printable(const unsigned char *s)
{
	static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t cp;
	size_t len;
	if (s[0] < 0x80)
		return s[0] >= 0x20 && s[0] != 0x7f;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < least[len] || cp < 0xa0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void services_escape(char *out, size_t size, const char *in)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t n = 0;
	while (*s) {
		char esc[8];
		const char *piece = (const char *)s;
		size_t len = utf8_printable(s), width = len;
		if (!len) {
			len = 1;
			piece = esc;
			width = (size_t)(*s == '\n'   ? snprintf(esc, sizeof(esc), "\\n")
					 : *s == '\r' ? snprintf(esc, sizeof(esc), "\\r")
					 : *s == '\t' ? snprintf(esc, sizeof(esc), "\\t")
						      : snprintf(esc, sizeof(esc), "\\x%02x", *s));
		}
		if (n + width >= size)
			break;
		memcpy(out + n, piece, width);
		n += width;
		s += len;
	}
	out[n] = '\0';
}

/* A line for the run's log from c's plugin. */
static void say(struct services_ctx *c, lethe_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct services_ctx *c, lethe_log_level level, const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->env->log(c->env->ctx, c->name, level, msg);
}

/* The plugin whose hook (or create) is running: a service called with a NULL host still has
 * someone to tell. Hooks run one at a time, on the engine's thread. */
static _Thread_local struct services_ctx *current;

void services_enter(struct services_ctx *ctx)
{
	ctx->has_error = 0;
	ctx->misused = 0;
	current = ctx;
}

/* How a service whose arguments are not valid tells the plugin: */
enum refusal {
	BY_STATUS,  /* it returns LETHE_ERR_INVALID */
	BY_POINTER, /* it returns NULL or 0, which may be all a plugin checks: the reason is logged */
	BY_FAILING  /* it returns nothing that can say so: the hook fails even if it returns OK */
};

/* Sets the reason (the hook's error, which a plugin may replace with its own) and returns
 * LETHE_ERR_INVALID. */
__attribute__((format(printf, 3, 4))) static int refuse(struct services_ctx *c, enum refusal how,
							 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->has_error = 1;
	if (how == BY_POINTER)
		say(c, LETHE_LOG_WARN, "%s", c->error);
	else if (how == BY_FAILING)
		c->misused = 1;
	return LETHE_ERR_INVALID;
}

/* The calling plugin's context, or NULL for a NULL host (refused through the running hook's
 * plugin, if any). */
static struct services_ctx *caller(const lethe_host *h, const char *service, enum refusal how)
{
	if (h)
		return h->host_data;
	if (current)
		refuse(current, how, "%s: the host is NULL; pass the lethe_host that create received",
		       service);
	return NULL;
}

static void svc_log(const lethe_host *h, lethe_log_level level, const char *msg)
{
	struct services_ctx *c = caller(h, "log", BY_FAILING);
	if (!c)
		return;
	char line[ERROR_MSG_MAX];
	services_escape(line, sizeof(line), msg);
	if ((unsigned)level > LETHE_LOG_WARN)
		level = LETHE_LOG_WARN;
	say(c, level, "%s", line);
}

static void svc_error(const lethe_host *h, const char *msg)
{
	struct services_ctx *c = caller(h, "error", BY_FAILING);
	if (!c)
		return;
	services_escape(c->error, sizeof(c->error), msg);
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
	struct services_ctx *c = caller(h, "report", BY_FAILING);
	if (!c)
		return;
	if (!valid_key(key)) {
		char shown[SERVICES_KEY_MAX * 4];
		services_escape(shown, sizeof(shown), key);
		say(c, LETHE_LOG_WARN, "report: key '%s' is not [a-z0-9_]{1,31}; dropped", shown);
		return;
	}
	for (size_t i = 0; i < c->num_metrics; i++) {
		if (!strcmp(c->metrics[i].key, key)) {
			c->metrics[i].value = value;
			c->metrics[i].serial = ++c->reports;
			return;
		}
	}
	if (c->num_metrics == SERVICES_METRICS_MAX) {
		say(c, LETHE_LOG_WARN, "report: more than %d keys; '%s' dropped",
		    SERVICES_METRICS_MAX, key);
		return;
	}
	snprintf(c->metrics[c->num_metrics].key, SERVICES_KEY_MAX, "%s", key);
	c->metrics[c->num_metrics].serial = ++c->reports;
	c->metrics[c->num_metrics++].value = value;
}

static const lethe_run_info *svc_run_info(const lethe_host *h)
{
	struct services_ctx *c = caller(h, "run_info", BY_POINTER);
	return c ? c->env->run_info : NULL;
}

static const lethe_task_info *svc_task_info(const lethe_host *h, uint32_t k)
{
	struct services_ctx *c = caller(h, "task_info", BY_POINTER);
	if (!c)
		return NULL;
	return k < c->env->tasks->count ? &c->env->task_info[k] : NULL;
}

static uint64_t svc_rng_u64(const lethe_host *h)
{
	struct services_ctx *c = caller(h, "rng_u64", BY_FAILING);
	return c ? rng_u64(&c->rng) : 0;
}

static double svc_rng_uniform(const lethe_host *h)
{
	struct services_ctx *c = caller(h, "rng_uniform", BY_FAILING);
	return c ? rng_uniform(&c->rng) : 0.0;
}

static double svc_rng_normal(const lethe_host *h)
{
	struct services_ctx *c = caller(h, "rng_normal", BY_FAILING);
	return c ? rng_normal(&c->rng) : 0.0;
}

/* n rows of dim floats fit in memory's address range. */
static int rows_fit(size_t n, size_t dim)
{
	return dim == 0 || n <= SIZE_MAX / sizeof(float) / dim;
}

static int svc_task_load(const lethe_host *h, uint32_t k, lethe_split split,
			 const uint64_t *positions, size_t n, float *x, int32_t *y, uint64_t *ids)
{
	struct services_ctx *c = caller(h, "task_load", BY_STATUS);
	if (!c)
		return LETHE_ERR_INVALID;
	const struct services_env *env = c->env;
	if (k >= env->tasks->count || (unsigned)split > LETHE_SPLIT_TEST)
		return refuse(c, BY_STATUS, "task_load: no such task or split");
	const struct task *t = &env->tasks->t[k];
	const struct dataset *d = split == LETHE_SPLIT_TRAIN ? env->train : env->test;
	if (n > 0 && (!positions || !x))
		return refuse(c, BY_STATUS, "task_load: %s is NULL", positions ? "x" : "positions");
	if (!rows_fit(n, d->dim))
		return refuse(c, BY_STATUS, "task_load: n = %zu rows of %zu floats overflow", n,
			      d->dim);
	const uint32_t *list = split == LETHE_SPLIT_TRAIN ? t->train : t->test;
	size_t count = split == LETHE_SPLIT_TRAIN ? t->num_train : t->num_test;
	for (size_t i = 0; i < n; i++) {
		if (positions[i] >= count)
			return refuse(c, BY_STATUS, "task_load: position out of range");
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
	struct services_ctx *c = caller(h, "task_raw", BY_STATUS);
	if (!c)
		return LETHE_ERR_INVALID;
	const struct task_list *tl = c->env->tasks;
	const struct dataset *train = c->env->train;
	if (k >= tl->count || position >= tl->t[k].num_train)
		return refuse(c, BY_STATUS, "task_raw: no such task or position");
	uint32_t p = tl->t[k].train[position];
	if (pixels)
		*pixels = train->x + (size_t)p * train->dim;
	if (y)
		*y = train->y[p];
	if (id)
		*id = tasks_sample_id(k, p);
	return LETHE_OK;
}

static int svc_sample_raw(const lethe_host *h, uint64_t id, const uint8_t **pixels, int32_t *y)
{
	struct services_ctx *c = caller(h, "sample_raw", BY_STATUS);
	if (!c)
		return LETHE_ERR_INVALID;
	const struct task_list *tl = c->env->tasks;
	const struct dataset *train = c->env->train;
	uint64_t task = id >> 32, p = id & 0xffffffffu;
	if (task >= tl->count || !tasks_has_train(&tl->t[task], (uint32_t)p))
		return refuse(c, BY_STATUS, "sample_raw: no training sample has this id");
	if (pixels)
		*pixels = train->x + p * train->dim;
	if (y)
		*y = train->y[p];
	return LETHE_OK;
}

static int svc_task_convert(const lethe_host *h, uint32_t k, const uint8_t *pixels, size_t n,
			    float *x)
{
	struct services_ctx *c = caller(h, "task_convert", BY_STATUS);
	if (!c)
		return LETHE_ERR_INVALID;
	const struct task_list *tl = c->env->tasks;
	size_t dim = c->env->train->dim;
	if (k >= tl->count)
		return refuse(c, BY_STATUS, "task_convert: no such task");
	if (n > 0 && (!pixels || !x))
		return refuse(c, BY_STATUS, "task_convert: %s is NULL", pixels ? "x" : "pixels");
	if (!rows_fit(n, dim))
		return refuse(c, BY_STATUS, "task_convert: n = %zu rows of %zu floats overflow", n,
			      dim);
	tasks_convert(&tl->t[k], pixels, n, dim, x);
	return LETHE_OK;
}

static int svc_batch_reserve(const lethe_host *h, size_t extra)
{
	struct services_ctx *c = caller(h, "batch_reserve", BY_STATUS);
	if (!c)
		return LETHE_ERR_INVALID;
	struct error err;
	if (c->env->reserve(c->env->ctx, c->index, extra, &err) != 0)
		return refuse(c, BY_STATUS, "batch_reserve: %s", err.msg);
	return LETHE_OK;
}

static lethe_model *svc_model(const lethe_host *h)
{
	struct services_ctx *c = caller(h, "model", BY_POINTER);
	return c ? (lethe_model *)c->env->model : NULL;
}

/* m as the host's model or one of this plugin's live clones; NULL for anything else (NULL, a
 * clone already freed, another plugin's, the read-only initial model), refused as `how` says. */
static struct model *model_of(struct services_ctx *c, const lethe_model *m, const char *service,
			    enum refusal how)
{
	if (m && m == (const lethe_model *)c->env->model)
		return c->env->model;
	for (size_t i = 0; m && i < c->num_clones; i++)
		if (m == (const lethe_model *)c->clones[i])
			return c->clones[i];
	if (m && m == (const lethe_model *)c->env->initial)
		refuse(c, how, "%s: m is the initial model, which is read-only; model_clone it",
		       service);
	else
		refuse(c, how, "%s: m is %s", service,
		       m ? "neither the host's model nor a live clone of this plugin's" : "NULL");
	return NULL;
}

/* As model_of, for a service that only reads m: the initial model is one too. */
static const struct model *model_read(struct services_ctx *c, const lethe_model *m,
				      const char *service, enum refusal how)
{
	if (m && m == (const lethe_model *)c->env->initial)
		return c->env->initial;
	return model_of(c, m, service, how);
}

static const lethe_model *svc_model_initial(const lethe_host *h)
{
	struct services_ctx *c = caller(h, "model_initial", BY_POINTER);
	return c ? (const lethe_model *)c->env->initial : NULL;
}

static lethe_model *svc_model_clone(const lethe_host *h, const lethe_model *m)
{
	struct services_ctx *c = caller(h, "model_clone", BY_POINTER);
	const struct model *src = c ? model_read(c, m, "model_clone", BY_POINTER) : NULL;
	if (!src)
		return NULL;
	if (c->num_clones == c->clones_cap) {
		size_t cap = c->clones_cap ? c->clones_cap * 2 : 4;
		struct model **grown = realloc(c->clones, cap * sizeof(*grown));
		if (!grown) {
			refuse(c, BY_POINTER, "model_clone: out of memory");
			return NULL;
		}
		c->clones = grown;
		c->clones_cap = cap;
	}
	struct model *copy = calloc(1, sizeof(*copy));
	struct error err;
	if (!copy || model_clone(copy, src, &err) != 0 || model_reserve(copy, src->capacity, &err)) {
		if (copy)
			model_free(copy);
		free(copy);
		refuse(c, BY_POINTER, "model_clone: out of memory");
		return NULL;
	}
	c->clones[c->num_clones++] = copy;
	return (lethe_model *)copy;
}

static void svc_model_free(const lethe_host *h, lethe_model *m)
{
	struct services_ctx *c = caller(h, "model_free", BY_FAILING);
	if (!c || !m)
		return;
	for (size_t i = 0; i < c->num_clones; i++) {
		if (c->clones[i] == (struct model *)m) {
			model_free(c->clones[i]);
			free(c->clones[i]);
			c->clones[i] = c->clones[--c->num_clones];
			return;
		}
	}
	say(c, LETHE_LOG_WARN, "model_free: m is not a live clone of this plugin's; ignored");
}

static float *svc_model_params(const lethe_host *h, lethe_model *m, uint64_t *count)
{
	struct services_ctx *c = caller(h, "model_params", BY_POINTER);
	struct model *mm = c ? model_of(c, m, "model_params", BY_POINTER) : NULL;
	if (count)
		*count = mm ? mm->num_params : 0;
	return mm ? mm->params : NULL;
}

static float *svc_model_grads(const lethe_host *h, lethe_model *m, uint64_t *count)
{
	struct services_ctx *c = caller(h, "model_grads", BY_POINTER);
	struct model *mm = c ? model_of(c, m, "model_grads", BY_POINTER) : NULL;
	if (count)
		*count = mm ? mm->num_params : 0;
	return mm ? mm->grads : NULL;
}

static uint32_t svc_model_num_layers(const lethe_host *h, const lethe_model *m)
{
	struct services_ctx *c = caller(h, "model_num_layers", BY_POINTER);
	const struct model *mm = c ? model_read(c, m, "model_num_layers", BY_POINTER) : NULL;
	return mm ? (uint32_t)model_num_views(mm) : 0;
}

/* ABI 1.0's lethe_layer ends with delta; a later minor may append fields. */
#define LAYER_MIN_SIZE (offsetof(lethe_layer, delta) + sizeof(void *))

static uint32_t u32(size_t v)
{
	return (uint32_t)v;
}

static lethe_shape shape_of(struct model_shape s)
{
	return (lethe_shape){ u32(s.c), u32(s.h), u32(s.w) };
}

static int svc_model_layer(const lethe_host *h, const lethe_model *m, uint32_t i, lethe_layer *out)
{
	struct services_ctx *c = caller(h, "model_layer", BY_STATUS);
	const struct model *mm = c ? model_read(c, m, "model_layer", BY_STATUS) : NULL;
	if (!mm)
		return LETHE_ERR_INVALID;
	if (i >= model_num_views(mm) || !out || out->struct_size < LAYER_MIN_SIZE)
		return refuse(c, BY_STATUS,
			      "model_layer: no such layer, or out->struct_size not set");
	struct model_view v;
	model_view(mm, i, &v);
	if (v.kind != MODEL_VIEW_DENSE && c->abi_minor < 2)
		return refuse(c, BY_STATUS, "model_layer: layer %u is a %s; the plugin was built "
			      "against ABI 1.%u, which knows dense layers only", i,
			      v.kind == MODEL_VIEW_CONV2D ? "convolution" : "batch norm",
			      c->abi_minor);
	lethe_layer info = {
		.struct_size = out->struct_size,
		.in = u32(v.in),
		.out = u32(v.out),
		.weight_offset = v.weight_offset,
		.bias_offset = v.bias_offset,
		.is_head = v.is_head,
		.input = v.input,
		.delta = v.delta,
		.kind = (lethe_layer_kind)v.kind,
		.in_shape = shape_of(v.in_shape),
		.out_shape = shape_of(v.out_shape),
		.kernel = u32(v.kernel),
		.stride = u32(v.stride),
		.padding = u32(v.padding),
		.weight_count = v.weight_count,
		.bias_count = v.bias_count,
	};
	memcpy(out, &info, out->struct_size < sizeof(info) ? out->struct_size : sizeof(info));
	return LETHE_OK;
}

static int svc_model_forward(const lethe_host *h, lethe_model *m, const float *x, size_t n,
			     float *logits)
{
	struct services_ctx *c = caller(h, "model_forward", BY_STATUS);
	struct model *mm = c ? model_of(c, m, "model_forward", BY_STATUS) : NULL;
	if (!mm)
		return LETHE_ERR_INVALID;
	if (n > 0 && (!x || !logits))
		return refuse(c, BY_STATUS, "model_forward: %s is NULL", x ? "logits" : "x");
	struct error err;
	if (model_forward(mm, x, n, logits, &err) != 0)
		return refuse(c, BY_STATUS, "model_forward: %s", err.msg);
	return LETHE_OK;
}

/* model_backward and model_backward_deltas: the same checks. */
static struct model *backward_target(const lethe_host *h, lethe_model *m, const float *dlogits,
				   size_t n, const char *service)
{
	struct services_ctx *c = caller(h, service, BY_STATUS);
	struct model *mm = c ? model_of(c, m, service, BY_STATUS) : NULL;
	if (!mm)
		return NULL;
	if (n != mm->rows) {
		refuse(c, BY_STATUS, "%s: n differs from the last forward", service);
		return NULL;
	}
	if (n > 0 && !dlogits) {
		refuse(c, BY_STATUS, "%s: dlogits is NULL", service);
		return NULL;
	}
	return mm;
}

static int svc_model_backward(const lethe_host *h, lethe_model *m, const float *dlogits, size_t n)
{
	struct model *mm = backward_target(h, m, dlogits, n, "model_backward");
	if (!mm)
		return LETHE_ERR_INVALID;
	model_backward(mm, dlogits);
	return LETHE_OK;
}

static int svc_model_backward_deltas(const lethe_host *h, lethe_model *m, const float *dlogits,
				     size_t n)
{
	struct model *mm = backward_target(h, m, dlogits, n, "model_backward_deltas");
	if (!mm)
		return LETHE_ERR_INVALID;
	model_backward_deltas(mm, dlogits);
	return LETHE_OK;
}

static int svc_model_grad_stats(const lethe_host *h, lethe_model *m, const float *dlogits,
				size_t n, size_t passes, int power, float scale, float *acc,
				double *norms)
{
	struct model *mm = backward_target(h, m, dlogits, n, "model_grad_stats");
	if (!mm)
		return LETHE_ERR_INVALID;
	struct services_ctx *c = h->host_data;
	if (n > 0 && !acc)
		return refuse(c, BY_STATUS, "model_grad_stats: acc is NULL");
	if (passes > 0 && n > SIZE_MAX / passes / mm->classes)
		return refuse(c, BY_STATUS, "model_grad_stats: %zu passes of n = %zu rows overflow",
			      passes, n);
	struct error err;
	if (model_grad_stats(mm, dlogits, n, passes, power, scale, acc, norms, &err) != 0)
		return refuse(c, BY_STATUS, "model_grad_stats: %s", err.msg);
	return LETHE_OK;
}

static int svc_model_set_training(const lethe_host *h, lethe_model *m, int on)
{
	struct services_ctx *c = caller(h, "model_set_training", BY_STATUS);
	struct model *mm = c ? model_of(c, m, "model_set_training", BY_STATUS) : NULL;
	if (!mm)
		return LETHE_ERR_INVALID;
	/* The engine's batches set its model's mode; a hook's forward on it evaluates. */
	if (mm == c->env->model)
		return refuse(c, BY_STATUS, "model_set_training: the host sets its own model's "
			      "mode; set a clone's");
	mm->training = on != 0;
	return LETHE_OK;
}

static int svc_model_is_training(const lethe_host *h, const lethe_model *m)
{
	struct services_ctx *c = caller(h, "model_is_training", BY_POINTER);
	const struct model *mm = c ? model_read(c, m, "model_is_training", BY_POINTER) : NULL;
	return mm ? mm->training : 0;
}

static float *svc_model_state(const lethe_host *h, lethe_model *m, uint64_t *count)
{
	struct services_ctx *c = caller(h, "model_state", BY_POINTER);
	struct model *mm = c ? model_of(c, m, "model_state", BY_POINTER) : NULL;
	if (count)
		*count = mm ? mm->num_state : 0;
	return mm ? mm->state : NULL;
}

static int svc_model_copy(const lethe_host *h, lethe_model *dst, const lethe_model *src)
{
	struct services_ctx *c = caller(h, "model_copy", BY_STATUS);
	struct model *d = c ? model_of(c, dst, "model_copy", BY_STATUS) : NULL;
	const struct model *s = d ? model_read(c, src, "model_copy", BY_STATUS) : NULL;
	if (!s)
		return LETHE_ERR_INVALID;
	struct error err;
	if (model_copy(d, s, &err) != 0)
		return refuse(c, BY_STATUS, "model_copy: %s", err.msg);
	return LETHE_OK;
}

static int svc_model_backward_input(const lethe_host *h, lethe_model *m, const float *dlogits,
				    size_t n, float *dx)
{
	struct model *mm = backward_target(h, m, dlogits, n, "model_backward_input");
	if (!mm)
		return LETHE_ERR_INVALID;
	if (n > 0 && !dx)
		return refuse(h->host_data, BY_STATUS, "model_backward_input: dx is NULL");
	model_backward_input(mm, dlogits, dx);
	return LETHE_OK;
}

/* model_rows_gradient's workspace for n rows: built on first use, grown, never shrunk. */
static int rows_workspace(struct services_ctx *c, const struct model *m, size_t n,
			  struct error *err)
{
	if (!c->rows_work) {
		struct model *w = calloc(1, sizeof(*w));
		if (!w)
			return error_set(err, "out of memory");
		if (model_clone(w, m, err) != 0) {
			free(w);
			return -1;
		}
		c->rows_work = w;
	}
	if (n <= c->rows_cap)
		return model_reserve(c->rows_work, n, err);
	size_t C = m->classes;
	if (n > SIZE_MAX / sizeof(float) / C)
		return error_set(err, "n = %zu rows overflow", n);
	float *logits = realloc(c->rows_logits, n * C * sizeof(float));
	if (logits)
		c->rows_logits = logits;
	float *dlogits = realloc(c->rows_dlogits, n * C * sizeof(float));
	if (dlogits)
		c->rows_dlogits = dlogits;
	const uint8_t **masks = realloc(c->rows_masks, n * sizeof(*masks));
	if (masks)
		c->rows_masks = masks;
	if (!logits || !dlogits || !masks)
		return error_set(err, "out of memory for %zu rows", n);
	c->rows_cap = n;
	return model_reserve(c->rows_work, n, err);
}

static int svc_model_rows_gradient(const lethe_host *h, lethe_model *m, const float *x,
				   const int32_t *y, const uint32_t *tasks, size_t n, float *grad,
				   double *loss)
{
	struct services_ctx *c = caller(h, "model_rows_gradient", BY_STATUS);
	const struct model *mm = c ? model_of(c, m, "model_rows_gradient", BY_STATUS) : NULL;
	if (!mm)
		return LETHE_ERR_INVALID;
	if (n == 0 || !x || !y || !grad)
		return refuse(c, BY_STATUS, "model_rows_gradient: %s", n == 0 ? "n is 0"
			      : !x ? "x is NULL" : !y ? "y is NULL" : "grad is NULL");
	if (!rows_fit(n, model_inputs(mm)))
		return refuse(c, BY_STATUS, "model_rows_gradient: n = %zu rows overflow", n);
	const struct task_list *tl = c->env->tasks;
	int masked = c->env->run_info->protocol == LETHE_TASK_INCREMENTAL && tasks;
	for (size_t i = 0; i < n; i++) {
		if (y[i] < 0 || (size_t)y[i] >= mm->classes)
			return refuse(c, BY_STATUS, "model_rows_gradient: row %zu's label %d is not "
				      "a class", i, y[i]);
		if (tasks && tasks[i] >= tl->count)
			return refuse(c, BY_STATUS, "model_rows_gradient: row %zu's task %u is not "
				      "a task", i, tasks[i]);
	}
	struct error err;
	if (rows_workspace(c, mm, n, &err) != 0)
		return refuse(c, BY_STATUS, "model_rows_gradient: %s", err.msg);
	for (size_t i = 0; masked && i < n; i++)
		c->rows_masks[i] = tl->t[tasks[i]].class_mask;
	double l;
	if (model_rows_gradient(c->rows_work, mm, x, n, y, masked ? c->rows_masks : NULL,
				c->rows_logits, c->rows_dlogits, grad, &l, &err) != 0)
		return refuse(c, BY_STATUS, "model_rows_gradient: %s", err.msg);
	if (loss)
		*loss = l;
	return LETHE_OK;
}

/* BLAS takes int sizes; a matrix of r > 0 rows needs a leading dimension of at least its cols. */
static int blas_size_ok(size_t v)
{
	return v <= INT_MAX;
}

static int matrix_ok(const float *p, size_t rows, size_t cols, size_t ld)
{
	return blas_size_ok(ld) && ld >= (cols ? cols : 1) && (rows == 0 || cols == 0 || p);
}

static void svc_sgemm(const lethe_host *h, int trans_a, int trans_b, size_t m, size_t n, size_t k,
		      float alpha, const float *a, size_t lda, const float *b, size_t ldb,
		      float beta, float *c, size_t ldc)
{
	struct services_ctx *ctx = caller(h, "sgemm", BY_FAILING);
	if (!ctx)
		return;
	/* Row-major: A is stored m x k (k x m transposed), B k x n (n x k), C m x n. */
	if (!blas_size_ok(m) || !blas_size_ok(n) || !blas_size_ok(k)) {
		refuse(ctx, BY_FAILING, "sgemm: m = %zu, n = %zu, k = %zu: a size is above %d", m,
		       n, k, INT_MAX);
		return;
	}
	if (!matrix_ok(a, trans_a ? k : m, trans_a ? m : k, lda) ||
	    !matrix_ok(b, trans_b ? n : k, trans_b ? k : n, ldb) || !matrix_ok(c, m, n, ldc)) {
		refuse(ctx, BY_FAILING, "sgemm: m = %zu, n = %zu, k = %zu, lda = %zu, ldb = %zu, "
		       "ldc = %zu: a matrix is NULL or a leading dimension is below its row "
		       "length", m, n, k, lda, ldb, ldc);
		return;
	}
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda,
		    b, (int)ldb, beta, c, (int)ldc);
}

/* saxpy and sdot: n fits BLAS's int and both vectors are there. */
static struct services_ctx *vectors_ok(const lethe_host *h, size_t n, const float *x,
				       const float *y, const char *service)
{
	struct services_ctx *c = caller(h, service, BY_FAILING);
	if (c && (!blas_size_ok(n) || (n > 0 && (!x || !y)))) {
		refuse(c, BY_FAILING, "%s: n = %zu%s", service, n,
		       blas_size_ok(n) ? " with a NULL vector" : " is above INT_MAX");
		return NULL;
	}
	return c;
}

static void svc_saxpy(const lethe_host *h, size_t n, float alpha, const float *x, float *y)
{
	if (vectors_ok(h, n, x, y, "saxpy"))
		cblas_saxpy((int)n, alpha, x, 1, y, 1);
}

static float svc_sdot(const lethe_host *h, size_t n, const float *x, const float *y)
{
	return vectors_ok(h, n, x, y, "sdot") ? cblas_sdot((int)n, x, 1, y, 1) : 0.0f;
}

void services_init(lethe_host *h, struct services_ctx *ctx, const struct services_env *env,
		   size_t index, const char *name, uint32_t abi_minor)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->abi_minor = abi_minor;
	ctx->env = env;
	ctx->index = index;
	ctx->name = name;
	/* Streams 0-99 are the engine's; each plugin draws from its own. */
	rng_seed(&ctx->rng, env->seed, 100 + index);
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
		.model_grad_stats = svc_model_grad_stats,
		.model_set_training = svc_model_set_training,
		.model_is_training = svc_model_is_training,
		.model_state = svc_model_state,
		.model_copy = svc_model_copy,
		.model_backward_input = svc_model_backward_input,
		.model_rows_gradient = svc_model_rows_gradient,
		.model_initial = svc_model_initial,
	};
}

void services_free(struct services_ctx *ctx)
{
	if (current == ctx)
		current = NULL;
	for (size_t i = 0; i < ctx->num_clones; i++) {
		model_free(ctx->clones[i]);
		free(ctx->clones[i]);
	}
	free(ctx->clones);
	ctx->clones = NULL;
	ctx->num_clones = ctx->clones_cap = 0;
	if (ctx->rows_work)
		model_free(ctx->rows_work);
	free(ctx->rows_work);
	free(ctx->rows_logits);
	free(ctx->rows_dlogits);
	free(ctx->rows_masks);
	ctx->rows_work = NULL;
	ctx->rows_logits = ctx->rows_dlogits = NULL;
	ctx->rows_masks = NULL;
	ctx->rows_cap = 0;
}
