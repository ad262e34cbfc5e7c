#define _GNU_SOURCE
#include "core/engine.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/memory.h"
#include "results/results.h"
#include "scenario/params.h"
#include "util/blas.h"

/* Rows per evaluation forward pass: large enough for GEMM efficiency, small in memory. */
#define EVAL_CHUNK 1000

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) * 1e-9;
}

static void emit(struct engine *e, struct event *ev)
{
	ev->engine = e;
	ev->step = e->step;
	ev->batches_done = e->batches_done;
	ev->batches_total = e->batches_total;
	ev->samples_done = e->samples_done;
	ev->elapsed = seconds_since(&e->t0);
	for (size_t i = 0; i < e->num_sinks; i++)
		e->sinks[i].event(e->sinks[i].ctx, ev);
}

void engine_forget_progress(struct engine *e, const char *reference, uint64_t done,
			    uint64_t total)
{
	struct event ev = { .kind = EVENT_FORGET_PROGRESS, .source = reference,
			    .reference_done = done, .reference_total = total };
	emit(e, &ev);
}

void engine_log(struct engine *e, const char *source, lethe_log_level level, const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct event ev = { .kind = EVENT_LOG, .source = source, .level = level, .msg = msg };
	emit(e, &ev);
}

int engine_add_sink(struct engine *e, void (*fn)(void *ctx, const struct event *ev), void *ctx)
{
	if (e->num_sinks == ENGINE_SINKS_MAX)
		return -1;
	e->sinks[e->num_sinks++] = (struct sink){ fn, ctx };
	return 0;
}

void engine_refresh_tasks(struct engine *e)
{
	uint64_t seen = 0, bs = e->s->batch_size;
	for (size_t k = 0; k < e->tasks.count; k++) {
		const struct task *t = &e->tasks.t[k];
		seen += t->num_train;
		uint64_t n = e->s->baseline == BASELINE_JOINT ? seen : t->num_train;
		e->task_info[k] = (lethe_task_info){
			.struct_size = sizeof(lethe_task_info),
			.index = (uint32_t)k,
			.num_classes = t->num_classes,
			.classes = t->classes,
			.num_train = t->num_train,
			.num_test = t->num_test,
			.batches = (uint32_t)((n + bs - 1) / bs),
		};
	}
}

int engine_reserve_batch(struct engine *e, struct error *err)
{
	size_t cap = e->s->batch_size, dim = e->train.dim, c = e->num_classes;
	for (size_t i = 0; i < e->num_plugins; i++) {
		size_t extra = e->plugins[i].svc.reserved;
		if (extra > SIZE_MAX - cap)
			return error_set(err, "the plugins' batch reservations overflow");
		cap += extra;
	}
	if (cap <= e->batch_capacity)
		return 0;
	if (cap > SIZE_MAX / sizeof(float) / (dim > c ? dim : c))
		return error_set(err, "a batch of %zu rows overflows", cap);
	float *x = realloc(e->x, cap * dim * sizeof(float));
	if (x)
		e->x = x;
	float *logits = realloc(e->logits, cap * c * sizeof(float));
	if (logits)
		e->logits = logits;
	float *dlogits = realloc(e->dlogits, cap * c * sizeof(float));
	if (dlogits)
		e->dlogits = dlogits;
	int32_t *y = realloc(e->y, cap * sizeof(int32_t));
	if (y)
		e->y = y;
	uint32_t *rt = realloc(e->row_task, cap * sizeof(uint32_t));
	if (rt)
		e->row_task = rt;
	uint64_t *ids = realloc(e->ids, cap * sizeof(uint64_t));
	if (ids)
		e->ids = ids;
	const uint8_t **masks = realloc(e->masks, cap * sizeof(*masks));
	if (masks)
		e->masks = masks;
	if (!x || !logits || !dlogits || !y || !rt || !ids || !masks)
		return error_set(err, "out of memory for a batch of %zu rows", cap);
	e->batch_capacity = cap;
	e->batch = (lethe_batch){
		.struct_size = sizeof(lethe_batch),
		.capacity = cap,
		.dim = (uint32_t)dim,
		.x = e->x,
		.y = e->y,
		.tasks = e->row_task,
		.ids = e->ids,
	};
	return mlp_reserve(&e->model, cap, err);
}

/* Turns a hook's failure into "plugin NAME: HOOK failed (status N): reason"; a hook that called
 * a service which could not say it refused its arguments fails too. */
static int hook_result(struct engine_plugin *p, const char *hook, int rc,
		       struct error *err)
{
	if (rc == LETHE_OK && !p->svc.misused)
		return 0;
	if (rc == LETHE_OK)
		return error_set(err, "plugin %s: %s: %s", p->file.entry.name, hook, p->svc.error);
	error_set(err, "plugin %s: %s failed (status %d): %s", p->file.entry.name, hook, rc,
		  p->svc.has_error ? p->svc.error : "no reason given");
	return -1;
}

static const char *const hook_names[HOOK_COUNT] = {
	"before_task", "before_epoch", "on_batch", "on_logits", "on_gradient", "after_batch",
	"after_task", "on_forget", "unlearn",
};

static const char *const phase_names[PHASE_COUNT] = {
	"train", "evaluate", "hooks", "forget", "checkpoint",
};

const char *engine_hook_name(enum engine_hook h)
{
	return hook_names[h];
}

const char *engine_phase_name(enum engine_phase p)
{
	return phase_names[p];
}

/* Every hook call is timed: two clock reads are tens of nanoseconds against a batch's
 * milliseconds, and they tell where a plugin's cost lies (the Fisher, the outliers). */
static void hook_timed(struct engine *e, struct engine_plugin *p, enum engine_hook h,
		       const struct timespec *t0)
{
	double dt = seconds_since(t0);
	p->hook_seconds[h] += dt;
	e->phase_seconds[PHASE_HOOKS] += dt;
}

/* What a hook may break, checked after each plugin's call so that a NaN or an infinity is
 * blamed on the plugin that wrote it, not on train.lr a step later. One pass over the vector
 * per call: the model's parameters after the hooks that may change them (after_batch is
 * read-only, but nothing else would notice), the batch's inputs after on_batch, dlogits after
 * on_logits, the gradients after on_gradient. The per-batch ones cost only scenarios whose
 * plugins have those hooks. */
enum guard { GUARD_NONE, GUARD_PARAMS, GUARD_ROWS, GUARD_DLOGITS, GUARD_GRADS };

static const enum guard hook_guards[HOOK_COUNT] = {
	[HOOK_BEFORE_TASK] = GUARD_PARAMS,  [HOOK_BEFORE_EPOCH] = GUARD_PARAMS,
	[HOOK_ON_BATCH] = GUARD_ROWS,       [HOOK_ON_LOGITS] = GUARD_DLOGITS,
	[HOOK_ON_GRADIENT] = GUARD_GRADS,   [HOOK_AFTER_BATCH] = GUARD_PARAMS,
	[HOOK_AFTER_TASK] = GUARD_PARAMS,   [HOOK_ON_FORGET] = GUARD_PARAMS,
	[HOOK_UNLEARN] = GUARD_PARAMS,
};

/* The parameters' state before any plugin's hook: non-finite ones come from the training. */
static int params_finite(const struct engine *e, struct error *err)
{
	size_t bad = mlp_count_nonfinite(e->model.params, e->model.num_params);
	if (bad == 0)
		return 0;
	return error_set(err, "%zu of %zu parameters are NaN or infinite: the training diverged; "
			 "train.lr = %g may be too large", bad, e->model.num_params, e->s->lr);
}

/* Before the first plugin's hook `id`: the parameters it is given are finite. (The batch's
 * rows, dlogits and the gradients the host makes from finite ones.) */
static int guard_before(const struct engine *e, enum engine_hook id, struct error *err)
{
	return hook_guards[id] == GUARD_PARAMS ? params_finite(e, err) : 0;
}

/* After plugin p's hook `id`: what the hook may break is still finite. */
static int guard_after(const struct engine *e, const struct engine_plugin *p,
		       enum engine_hook id, struct error *err)
{
	const float *v = NULL;
	size_t n = 0;
	const char *what = NULL;
	switch (hook_guards[id]) {
	case GUARD_NONE:
		return 0;
	case GUARD_PARAMS:
		v = e->model.params, n = e->model.num_params, what = "parameters";
		break;
	case GUARD_ROWS: /* n beyond capacity is check_batch's to refuse */
		v = e->x, what = "inputs in the batch";
		n = (e->batch.n < e->batch_capacity ? e->batch.n : e->batch_capacity) * e->train.dim;
		break;
	case GUARD_DLOGITS:
		v = e->dlogits, n = e->batch.n * e->num_classes, what = "entries of dlogits";
		break;
	case GUARD_GRADS:
		v = e->model.grads, n = e->model.num_params, what = "gradients";
		break;
	}
	size_t bad = mlp_count_nonfinite(v, n);
	if (bad == 0)
		return 0;
	return error_set(err, "plugin %s: %s left %zu of %zu %s NaN or infinite", p->file.entry.name,
			 hook_names[id], bad, n, what);
}

#define CALL_HOOKS(e, err, id, name, ...)                                                     \
	do {                                                                                  \
		int first_ = 1;                                                               \
		for (size_t i_ = 0; i_ < (e)->num_plugins; i_++) {                            \
			struct engine_plugin *p_ = &(e)->plugins[i_];                         \
			if (!p_->hooks.name)                                                  \
				continue;                                                     \
			if (first_ && guard_before((e), (id), (err)) != 0)                    \
				return -1;                                                    \
			first_ = 0;                                                           \
			services_enter(&p_->svc);                                             \
			struct timespec t_;                                                   \
			clock_gettime(CLOCK_MONOTONIC, &t_);                                  \
			int rc_ = p_->hooks.name(p_->inst, __VA_ARGS__);                      \
			hook_timed((e), p_, (id), &t_);                                       \
			if (hook_result(p_, #name, rc_, (err)) != 0 ||                        \
			    guard_after((e), p_, (id), (err)) != 0)                           \
				return -1;                                                    \
		}                                                                             \
	} while (0)

/* An instance of p from its create, checked to be one this host can call. */
static lethe_plugin *plugin_create(struct engine_plugin *p, struct error *err)
{
	services_enter(&p->svc);
	lethe_plugin *inst = p->file.entry.create(&p->host, p->values);
	if (!inst) {
		error_set(err, "plugin %s: create failed: %s", p->file.entry.name,
			  p->svc.has_error ? p->svc.error : "no reason given");
		return NULL;
	}
	if (inst->struct_size < offsetof(lethe_plugin, load) + sizeof(void *) || !inst->destroy) {
		error_set(err, "plugin %s: create returned a lethe_plugin with struct_size %u and "
			  "%s destroy", p->file.entry.name, inst->struct_size,
			  inst->destroy ? "a" : "no");
		if (inst->destroy)
			inst->destroy(inst);
		return NULL;
	}
	if (p->svc.misused) {
		error_set(err, "plugin %s: create: %s", p->file.entry.name, p->svc.error);
		inst->destroy(inst);
		return NULL;
	}
	return inst;
}

/* Makes inst the instance the hooks go to: a zero-extended copy of its table. */
static void plugin_use(struct engine_plugin *p, lethe_plugin *inst)
{
	p->inst = inst;
	memset(&p->hooks, 0, sizeof(p->hooks));
	memcpy(&p->hooks, inst,
	       inst->struct_size < sizeof(p->hooks) ? inst->struct_size : sizeof(p->hooks));
}

/* The plugins' files and parameter values: what a run's memory estimate reads of them. */
static int open_plugins(struct engine *e, const struct plugin_path *pp, struct error *err)
{
	const struct scenario *s = e->s;
	for (size_t i = 0; i < s->num_plugins; i++) {
		struct engine_plugin *p = &e->plugins[i];
		char file[SCENARIO_PATH_MAX];
		if (plugin_path_find(pp, s->plugins[i], file, sizeof(file), err) != 0)
			return -1;
		if (plugin_file_open(&p->file, file, err) != 0)
			return -1;
		e->num_plugins = i + 1;
		p->section = s->plugin_sections[i];
		if (strcmp(p->file.entry.name, p->section) != 0 && !strchr(s->plugins[i], '/'))
			return error_set(err, "plugin %s: its name is '%s', not '%s'", file,
					 p->file.entry.name, p->section);
		uint32_t n = p->file.entry.num_params;
		p->values = calloc(n ? n : 1, sizeof(*p->values));
		if (!p->values)
			return error_set(err, "out of memory");
		if (params_fill(p->file.params, n, &s->ini, p->section, p->values, err) != 0)
			return -1;
		services_init(&p->host, &p->svc, e, i, p->file.entry.name);
	}
	return 0;
}

static int create_plugins(struct engine *e, struct error *err)
{
	for (size_t i = 0; i < e->num_plugins; i++) {
		struct engine_plugin *p = &e->plugins[i];
		lethe_plugin *inst = plugin_create(p, err);
		if (!inst)
			return -1;
		plugin_use(p, inst);
	}
	return 0;
}

static struct engine_plugin *plugin_named(struct engine *e, const char *section);

/* A forget step's plugin must be an unlearning one: found before training, not after hours. */
static int check_forget_plugins(struct engine *e, struct error *err)
{
	for (size_t i = 0; i < e->s->num_forgets; i++) {
		const struct scenario_forget *f = &e->s->forgets[i];
		struct engine_plugin *p = f->plugin[0] ? plugin_named(e, f->plugin) : NULL;
		if (p && !p->hooks.unlearn)
			return error_set(err, "[%s] plugin %s has no unlearn hook: it is not an "
					 "unlearning plugin", f->section, f->plugin);
	}
	return 0;
}

/* engine_open; with `data` an engine of the same scenario, on its train and test sets instead of
 * a copy of its own (which, for Fashion-MNIST, would take 55 MiB and a tenth of a second more). */
static int open_on(struct engine *e, const struct scenario *s, const struct plugin_path *pp,
		   const struct engine *data, struct error *err)
{
	memset(e, 0, sizeof(*e));
	e->s = s;
	e->pp = pp;
	clock_gettime(CLOCK_MONOTONIC, &e->t0);
	openblas_set_num_threads(s->threads);
	if (data) {
		e->train = data->train;
		e->test = data->test;
		e->borrowed_data = 1;
		if (scenario_build_tasks(s, &e->train, &e->test, &e->tasks, err) != 0)
			return -1;
	} else if (scenario_open_data(s, &e->train, &e->test, &e->tasks, err) != 0) {
		return -1;
	}
	size_t T = e->tasks.count;
	e->num_classes = (size_t)e->train.num_classes;
	if (e->test.num_classes > e->train.num_classes)
		e->num_classes = (size_t)e->test.num_classes;
	engine_refresh_tasks(e);
	/* The run is weighed once the labels, tasks and plugins' values are known, before the
	 * pixels, the model and the plugins' instances take their memory. */
	if (open_plugins(e, pp, err) != 0)
		return -1;
	if (!data && (memory_admit(e, err) != 0 ||
		      scenario_read_data(s, &e->train, &e->test, err) != 0))
		return -1;

	size_t sizes[SCENARIO_HIDDEN_MAX + 2];
	sizes[0] = e->train.dim;
	for (size_t i = 0; i < s->num_hidden; i++)
		sizes[i + 1] = s->hidden[i];
	sizes[s->num_hidden + 1] = e->num_classes;
	if (mlp_init(&e->model, sizes, s->num_hidden + 2, err) != 0)
		return -1;
	struct rng init;
	rng_seed(&init, s->seed, 0);
	mlp_init_he(&e->model, &init);
	if (mlp_clone(&e->initial, &e->model, err) != 0)
		return -1;
	rng_seed(&e->rng, s->seed, 1);
	if (sgd_init(&e->opt, e->model.num_params, s->lr, s->momentum, s->weight_decay, err) != 0)
		return -1;

	e->run_info = (lethe_run_info){
		.struct_size = sizeof(lethe_run_info),
		.protocol = s->protocol,
		.num_tasks = (uint32_t)T,
		.num_classes = (uint32_t)e->num_classes,
		.input_dim = (uint32_t)e->train.dim,
		.batch_size = (uint32_t)s->batch_size,
		.epochs = (uint32_t)s->epochs,
		.seed = s->seed,
		.lr = s->lr,
		.momentum = s->momentum,
		.weight_decay = s->weight_decay,
	};
	e->R = calloc(T * T, sizeof(double));
	e->b = calloc(T, sizeof(double));
	e->step_seconds = calloc(T, sizeof(double));
	e->confusion = calloc(T, sizeof(double));
	if (!e->R || !e->b || !e->step_seconds || !e->confusion)
		return error_set(err, "out of memory");
	if (engine_reserve_batch(e, err) != 0)
		return -1;
	if (create_plugins(e, err) != 0)
		return -1;
	return check_forget_plugins(e, err);
}

int engine_open(struct engine *e, const struct scenario *s, const struct plugin_path *pp,
		struct error *err)
{
	return open_on(e, s, pp, NULL, err);
}

/* The task each class belongs to, -1 for none: class-incremental tasks own disjoint classes. */
static void class_tasks(const struct engine *e, int *owner)
{
	for (size_t c = 0; c < e->num_classes; c++)
		owner[c] = -1;
	for (size_t k = 0; k < e->tasks.count; k++)
		for (uint32_t i = 0; i < e->tasks.t[k].num_classes; i++)
			owner[e->tasks.t[k].classes[i]] = (int)k;
}

int engine_evaluate(struct engine *e, double *acc, double *confusion, struct error *err)
{
	/* A non-finite model's argmax is an accuracy of nothing: never written down. */
	if (params_finite(e, err) != 0)
		return -1;
	size_t dim = e->test.dim, C = e->num_classes;
	float *x = malloc(EVAL_CHUNK * dim * sizeof(float));
	float *logits = malloc(EVAL_CHUNK * C * sizeof(float));
	int32_t *y = malloc(EVAL_CHUNK * sizeof(int32_t));
	int *owner = malloc(C * sizeof(int));
	int rc = x && logits && y && owner ? 0 : error_set(err, "out of memory for evaluation");
	if (rc == 0)
		class_tasks(e, owner);
	size_t errors = 0, across = 0;
	for (size_t j = 0; j < e->tasks.count && rc == 0; j++) {
		const struct task *t = &e->tasks.t[j];
		const uint8_t *mask = e->s->protocol == LETHE_TASK_INCREMENTAL ? t->class_mask : NULL;
		size_t correct = 0;
		for (size_t at = 0; at < t->num_test && rc == 0; at += EVAL_CHUNK) {
			size_t n = t->num_test - at < EVAL_CHUNK ? t->num_test - at : EVAL_CHUNK;
			tasks_gather(t, &e->test, t->test + at, n, x, y);
			rc = mlp_forward(&e->model, x, n, logits, err);
			for (size_t i = 0; i < n && rc == 0; i++) {
				int32_t p = mlp_argmax(logits + i * C, C, mask);
				if (p == y[i]) {
					correct++;
					continue;
				}
				errors++;
				across += p < 0 || owner[p] != owner[y[i]];
			}
		}
		acc[j] = t->num_test ? (double)correct / (double)t->num_test : 0.0;
	}
	if (confusion)
		*confusion = e->s->protocol == LETHE_CLASS_INCREMENTAL && errors
				     ? (double)across / (double)errors
				     : NAN;
	free(x);
	free(logits);
	free(y);
	free(owner);
	return rc;
}

/* Every sample the step trains on: the task's own (naive), or every task's so far (joint). */
static int build_order(struct engine *e, size_t step, size_t *count, struct error *err)
{
	size_t first = e->s->baseline == BASELINE_JOINT ? 0 : step, n = 0;
	for (size_t k = first; k <= step; k++)
		n += e->tasks.t[k].num_train;
	if (n > e->order_cap) {
		uint64_t *o = realloc(e->order, n * sizeof(*o));
		if (!o)
			return error_set(err, "out of memory for %zu training samples", n);
		e->order = o;
		e->order_cap = n;
	}
	n = 0;
	for (size_t k = first; k <= step; k++)
		for (size_t i = 0; i < e->tasks.t[k].num_train; i++)
			e->order[n++] = ((uint64_t)k << 32) | e->tasks.t[k].train[i];
	*count = n;
	return 0;
}

static void fill_batch(struct engine *e, const uint64_t *entries, size_t n)
{
	size_t dim = e->train.dim;
	for (size_t i = 0; i < n; i++) {
		uint32_t k = (uint32_t)(entries[i] >> 32), pos = (uint32_t)entries[i];
		tasks_convert(&e->tasks.t[k], e->train.x + (size_t)pos * dim, 1, dim,
			      e->x + i * dim);
		e->y[i] = e->train.y[pos];
		e->row_task[i] = k;
		e->ids[i] = tasks_sample_id(k, pos);
	}
	e->batch.task = (uint32_t)e->step;
	e->batch.n_host = e->batch.n = n;
}

/* Rows a plugin appended must be valid before they reach the loss. */
static int check_batch(struct engine *e, struct error *err)
{
	lethe_batch *b = &e->batch;
	if (b->n > b->capacity || b->n == 0 || b->x != e->x)
		return error_set(err, "a plugin left the batch with %zu rows (capacity %zu)", b->n,
				 b->capacity);
	for (size_t i = 0; i < b->n; i++) {
		if (b->y[i] < 0 || (size_t)b->y[i] >= e->num_classes || b->tasks[i] >= e->tasks.count)
			return error_set(err, "a plugin put row %zu in the batch with label %d and "
					 "task %u, out of range", i, b->y[i], b->tasks[i]);
		e->masks[i] = e->tasks.t[b->tasks[i]].class_mask;
	}
	return 0;
}

static int train_batch(struct engine *e, double *loss_out, struct error *err)
{
	lethe_batch *b = &e->batch;
	CALL_HOOKS(e, err, HOOK_ON_BATCH, on_batch, b);
	if (check_batch(e, err) != 0)
		return -1;
	size_t C = e->num_classes;
	if (mlp_forward(&e->model, b->x, b->n, e->logits, err) != 0)
		return -1;
	const uint8_t *const *masks = e->s->protocol == LETHE_TASK_INCREMENTAL ? e->masks : NULL;
	double loss = loss_softmax_ce(e->logits, b->n, C, b->y, masks, e->dlogits);
	if (!isfinite(loss))
		return error_set(err, "the loss is %s before any plugin's term; train.lr = %g may "
				 "be too large", isnan(loss) ? "NaN" : "infinite", e->s->lr);
	CALL_HOOKS(e, err, HOOK_ON_LOGITS, on_logits, b, e->logits, e->dlogits, &loss);
	if (b->head_only)
		mlp_backward_head(&e->model, e->dlogits);
	else
		mlp_backward(&e->model, e->dlogits);
	CALL_HOOKS(e, err, HOOK_ON_GRADIENT, on_gradient, b, &loss);
	if (!isfinite(loss))
		return error_set(err, "the loss is %s after the plugins' terms; lower their weights "
				 "or train.lr = %g", isnan(loss) ? "NaN" : "infinite", e->s->lr);
	size_t first = b->head_only ? e->model.layer[e->model.num_layers - 1].w_off : 0;
	sgd_step_range(&e->opt, e->model.params, e->model.grads, first,
		       e->model.num_params - first);
	CALL_HOOKS(e, err, HOOK_AFTER_BATCH, after_batch, b);
	*loss_out = loss;
	return 0;
}

/* The last epochs of the step that train the head alone: the most any plugin asks for. */
static size_t head_epochs(struct engine *e, const lethe_task_info *info)
{
	uint32_t epochs = (uint32_t)e->s->epochs, most = 0;
	for (size_t i = 0; i < e->num_plugins; i++) {
		struct engine_plugin *p = &e->plugins[i];
		if (!p->hooks.head_epochs)
			continue;
		services_enter(&p->svc);
		uint32_t h = p->hooks.head_epochs(p->inst, info, epochs);
		most = h > most ? h : most;
	}
	return most < epochs ? most : epochs;
}

/* Drops from order[0..n) the samples a forget step took from the tasks while the step ran;
 * returns the count kept. present is a scratch map of num_tasks x train.count bytes. */
static size_t order_keep_present(const struct engine *e, const uint8_t *present, uint64_t *order,
				 size_t n)
{
	size_t kept = 0, N = e->train.n;
	for (size_t i = 0; i < n; i++) {
		uint64_t k = order[i] >> 32, pos = (uint32_t)order[i];
		if (present[k * N + pos])
			order[kept++] = order[i];
	}
	return kept;
}

/* After a forget in the middle of a step: the rest of the epoch, and the epochs after it, train
 * only on what is left. *pos (samples done this epoch) and *n shrink by what left. */
static int order_after_forget(struct engine *e, size_t *pos, size_t *n, struct error *err)
{
	size_t N = e->train.n;
	uint8_t *present = calloc(e->tasks.count * N, 1);
	if (!present)
		return error_set(err, "out of memory");
	for (size_t k = 0; k < e->tasks.count; k++)
		for (size_t i = 0; i < e->tasks.t[k].num_train; i++)
			present[k * N + e->tasks.t[k].train[i]] = 1;
	size_t done = order_keep_present(e, present, e->order, *pos);
	size_t rest = order_keep_present(e, present, e->order + *pos, *n - *pos);
	memmove(e->order + done, e->order + *pos, rest * sizeof(*e->order));
	*pos = done;
	*n = done + rest;
	free(present);
	e->order_stale = 0;
	return 0;
}

static int write_results(struct engine *e, const char *out_dir, int complete, struct error *err);

/* Serves the control's requests; 0 to go on, ENGINE_STOPPED to quit, -1 on an error. */
static int serve_requests(struct engine *e, struct error *err)
{
	if (!e->control.poll)
		return 0;
	int in_batch = e->in_batch, rc = 0;
	e->in_batch = 0;
	for (;;) {
		size_t task = 0;
		enum engine_request r = e->control.poll(e->control.ctx, e, &task);
		if (r == ENGINE_REQ_NONE)
			break;
		if (r == ENGINE_REQ_QUIT) {
			rc = ENGINE_STOPPED;
			break;
		}
		if (r == ENGINE_REQ_FORGET && (rc = engine_forget_now(e, task, err)) < 0)
			break;
		rc = 0;
		if (r == ENGINE_REQ_WRITE && e->out_dir) {
			struct error werr;
			if (write_results(e, e->out_dir, 0, &werr) != 0)
				engine_log(e, "lethe", LETHE_LOG_WARN, "%s", werr.msg);
			else
				engine_log(e, "lethe", LETHE_LOG_INFO, "results so far written to %s",
					   e->out_dir);
		}
	}
	e->in_batch = in_batch;
	return rc;
}

/* The non-training phases' total, to take out of the time the training loop spans. */
static double other_phases(const struct engine *e)
{
	double t = 0;
	for (int p = 0; p < PHASE_COUNT; p++)
		t += p == PHASE_TRAIN ? 0 : e->phase_seconds[p];
	return t;
}

/* Writes DIR/checkpoint.lethe unless the run has no directory or wants none; its time is the
 * checkpoint phase's. */
static int checkpoint_timed(struct engine *e, struct error *err)
{
	if (!e->out_dir || e->s->checkpoint_every < 0)
		return 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = checkpoint_write(e, e->out_dir, err);
	e->phase_seconds[PHASE_CHECKPOINT] += seconds_since(&t0);
	e->checkpoint_batches = e->batches_done;
	return rc;
}

/* Whether a checkpoint is due within a step: checkpoint_every batches since the last. */
static int checkpoint_due(const struct engine *e)
{
	int64_t every = e->s->checkpoint_every;
	return every > 0 && e->batches_done - e->checkpoint_batches >= (uint64_t)every;
}

/* Learns step `step` from its start, or, right after engine_resume, from where e->at stands:
 * then before_task, and before_epoch and the shuffle of the epoch under way, already ran.
 * Returns 0, -1 on an error, ENGINE_STOPPED when the control asked to quit. */
static int learn_step(struct engine *e, size_t step, struct error *err)
{
	const lethe_task_info *info = &e->task_info[step];
	struct engine_position *at = &e->at;
	size_t bs = e->s->batch_size;
	e->in_batch = 0;
	if (!e->resume_step) {
		CALL_HOOKS(e, err, HOOK_BEFORE_TASK, before_task, info);
		if (build_order(e, step, &at->n, err) != 0)
			return -1;
		at->head_from = e->s->epochs - head_epochs(e, info);
		at->epoch = 0;
		at->shuffled = 0;
	}
	e->resume_step = 0;
	struct event ev = { .kind = EVENT_BATCH };
	for (; at->epoch < e->s->epochs; at->epoch++, at->shuffled = 0) {
		int head_only = at->epoch >= at->head_from;
		if (!at->shuffled) {
			CALL_HOOKS(e, err, HOOK_BEFORE_EPOCH, before_epoch, info,
				   (uint32_t)at->epoch, head_only);
			rng_shuffle_u64(&e->rng, e->order, at->n);
			at->pos = at->batch = 0;
			at->batches = (at->n + bs - 1) / bs;
			at->shuffled = 1;
		}
		e->batch.head_only = head_only;
		e->in_batch = 1;
		while (at->pos < at->n) {
			struct timespec t0;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			double others = other_phases(e);
			size_t rows = at->n - at->pos < bs ? at->n - at->pos : bs;
			fill_batch(e, e->order + at->pos, rows);
			e->batch.epoch = (uint32_t)at->epoch;
			e->batch.index = (uint32_t)at->batch;
			e->batch.batches = (uint32_t)at->batches;
			double loss = 0;
			if (train_batch(e, &loss, err) != 0)
				return error_prefix(err, "step %zu, epoch %zu, batch %zu", step + 1,
						    at->epoch + 1, at->batch + 1);
			at->pos += rows;
			e->batches_done++;
			e->samples_done += e->batch.n;
			e->phase_seconds[PHASE_TRAIN] += seconds_since(&t0) - (other_phases(e) - others);
			ev.epoch = at->epoch;
			ev.batch = at->batch++;
			ev.batches = at->batches;
			ev.loss = loss;
			emit(e, &ev);
			size_t forgets = e->num_unlearning;
			int rc = serve_requests(e, err);
			if (rc < 0)
				return -1;
			if (e->order_stale) {
				if (order_after_forget(e, &at->pos, &at->n, err) != 0)
					return -1;
				at->batches = at->batch + (at->n - at->pos + bs - 1) / bs;
			}
			/* A checkpoint where the run stops, or after a forget, loses nothing. */
			if ((rc == ENGINE_STOPPED || forgets != e->num_unlearning ||
			     checkpoint_due(e)) && checkpoint_timed(e, err) != 0)
				return -1;
			if (rc == ENGINE_STOPPED)
				return rc;
		}
		e->in_batch = 0;
	}
	CALL_HOOKS(e, err, HOOK_AFTER_TASK, after_task, info);
	return 0;
}

/* The training batches of steps 1..steps. */
static uint64_t count_batches(const struct engine *e, size_t steps)
{
	uint64_t total = 0, seen = 0;
	for (size_t k = 0; k < steps; k++) {
		seen += e->tasks.t[k].num_train;
		uint64_t n = e->s->baseline == BASELINE_JOINT ? seen : e->tasks.t[k].num_train;
		total += e->s->epochs * ((n + e->s->batch_size - 1) / e->s->batch_size);
	}
	return total;
}

static int write_results(struct engine *e, const char *out_dir, int complete, struct error *err)
{
	if (!out_dir)
		return 0;
	struct results_task tasks[TASKS_MAX];
	const char *plugins[SCENARIO_PLUGINS_MAX];
	for (size_t k = 0; k < e->tasks.count; k++)
		tasks[k] = (struct results_task){ e->tasks.t[k].num_classes, e->tasks.t[k].classes };
	struct results_figure figures[SCENARIO_PLUGINS_MAX * SERVICES_METRICS_MAX];
	size_t num_figures = 0;
	struct results_figure hook_times[SCENARIO_PLUGINS_MAX * HOOK_COUNT];
	size_t num_hook_times = 0;
	char library[64];
	for (size_t i = 0; i < e->num_plugins; i++) {
		const struct engine_plugin *p = &e->plugins[i];
		plugins[i] = p->file.entry.name;
		for (size_t m = 0; m < p->svc.num_metrics; m++)
			figures[num_figures++] = (struct results_figure){
				p->file.entry.name, p->svc.metrics[m].key, p->svc.metrics[m].value
			};
		for (int h = 0; h < HOOK_COUNT; h++)
			if (p->hook_seconds[h] > 0)
				hook_times[num_hook_times++] = (struct results_figure){
					p->file.entry.name, hook_names[h], p->hook_seconds[h]
				};
	}
	struct results r = {
		.scenario = e->s->name,
		.scenario_path = e->s->ini.path,
		.protocol = e->s->protocol,
		.baseline = e->s->baseline == BASELINE_JOINT ? "joint" : "naive",
		.seed = e->s->seed,
		.num_tasks = e->tasks.count,
		.tasks = tasks,
		.rows_done = e->rows_done,
		.R = e->R,
		.b = e->b,
		.step_seconds = e->step_seconds,
		.confusion = e->confusion,
		.total_seconds = e->total_seconds,
		.num_phases = PHASE_COUNT,
		.phase_names = phase_names,
		.phase_seconds = e->phase_seconds,
		.num_hook_times = num_hook_times,
		.hook_times = hook_times,
		.peak_rss_bytes = results_peak_rss(),
		.num_plugins = e->num_plugins,
		.plugins = plugins,
		.complete = complete,
		.num_figures = num_figures,
		.figures = figures,
		.num_unlearning = e->num_unlearning,
		.unlearning = e->unlearning,
		.blas_library = blas_library(library, sizeof(library)),
		.blas_kernel = blas_kernel(),
		.blas_threads = e->s->threads,
	};
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = results_write(out_dir, &r, err);
	e->phase_seconds[PHASE_CHECKPOINT] += seconds_since(&t0);
	return rc;
}

void engine_set_control(struct engine *e, const struct engine_control *c)
{
	e->control = *c;
}

/* Writes what finished when a step failed or the control asked to stop; the step's error stays
 * the one reported. */
static int stop_run(struct engine *e, const char *out_dir, int rc)
{
	struct error werr;
	if (write_results(e, out_dir, 0, &werr) != 0)
		engine_log(e, "lethe", LETHE_LOG_WARN, "%s", werr.msg);
	return rc;
}

static int evaluate_timed(struct engine *e, double *acc, double *confusion, struct error *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = engine_evaluate(e, acc, confusion, err);
	e->phase_seconds[PHASE_EVALUATE] += seconds_since(&t0);
	return rc;
}

int engine_run(struct engine *e, const char *out_dir, struct error *err)
{
	size_t T = e->tasks.count;
	int resumed = e->resumed;
	e->resumed = 0;
	e->out_dir = out_dir;
	if (!resumed) {
		clock_gettime(CLOCK_MONOTONIC, &e->t0);
		e->batches_total = count_batches(e, e->tasks.count);
		e->step = 0;
	}
	struct event ev = { .kind = EVENT_RUN_START };
	emit(e, &ev);
	if (!resumed && evaluate_timed(e, e->b, NULL, err) != 0)
		return -1;
	if (resumed && e->rows_done == T) {
		engine_log(e, "lethe", LETHE_LOG_INFO, "the checkpoint holds the whole run: nothing "
			   "is left to train; its results are written again");
		if (write_results(e, out_dir, 1, err) != 0)
			return -1;
	}
	for (; e->step < T; e->step++) {
		if (!e->resume_step)
			clock_gettime(CLOCK_MONOTONIC, &e->step_t0);
		ev = (struct event){ .kind = EVENT_STEP_START };
		emit(e, &ev);
		e->in_step = 1;
		int rc = learn_step(e, e->step, err);
		e->in_step = 0;
		if (rc == ENGINE_STOPPED)
			return stop_run(e, out_dir, ENGINE_STOPPED);
		if (rc != 0 && strncmp(err->msg, "step ", 5) != 0)
			error_prefix(err, "step %zu", e->step + 1);
		if (rc == 0)
			rc = evaluate_timed(e, e->R + e->step * T, e->confusion + e->step, err);
		if (rc != 0)
			return stop_run(e, out_dir, -1);
		e->step_seconds[e->step] = seconds_since(&e->step_t0);
		e->rows_done = e->step + 1;
		e->total_seconds = seconds_since(&e->t0);
		ev = (struct event){ .kind = EVENT_STEP_END };
		emit(e, &ev);
		for (size_t f = 0; rc == 0 && f < e->s->num_forgets; f++) {
			if (e->s->forgets[f].after != e->step + 1)
				continue;
			rc = engine_forget_step(e, &e->s->forgets[f], err);
			if (rc == 0) {
				ev = (struct event){ .kind = EVENT_FORGET_END };
				emit(e, &ev);
			}
			rc = rc > 0 ? 0 : rc;
		}
		if (rc != 0)
			return stop_run(e, out_dir, -1);
		e->total_seconds = seconds_since(&e->t0);
		if (write_results(e, out_dir, e->rows_done == T, err) != 0 ||
		    checkpoint_timed(e, err) != 0)
			return -1;
		size_t forgets = e->num_unlearning;
		rc = serve_requests(e, err);
		if (rc >= 0 && forgets != e->num_unlearning && checkpoint_timed(e, err) != 0)
			rc = -1;
		if (rc != 0)
			return rc == ENGINE_STOPPED ? stop_run(e, out_dir, rc) : -1;
	}
	e->step = T - 1;
	ev = (struct event){ .kind = EVENT_RUN_END };
	emit(e, &ev);
	return 0;
}

static int id_covered(const lethe_forget_request *req, uint64_t id)
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

static void remove_ids(struct engine *e, const lethe_forget_request *req)
{
	for (size_t k = 0; k < e->tasks.count; k++) {
		struct task *t = &e->tasks.t[k];
		size_t kept = 0;
		for (size_t i = 0; i < t->num_train; i++)
			if (!id_covered(req, tasks_sample_id((uint32_t)k, t->train[i])))
				t->train[kept++] = t->train[i];
		t->num_train = kept;
	}
	engine_refresh_tasks(e);
}

int engine_forget(struct engine *e, const lethe_forget_request *req, struct error *err)
{
	for (size_t i = 1; i < req->num_ids; i++)
		if (req->ids[i - 1] >= req->ids[i])
			return error_set(err, "forget request: ids are not sorted ascending");
	CALL_HOOKS(e, err, HOOK_ON_FORGET, on_forget, req);
	remove_ids(e, req);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int has_class(const struct scenario_forget *f, int32_t c)
{
	for (size_t i = 0; i < f->num_classes; i++)
		if (f->classes[i] == c)
			return 1;
	return 0;
}

/* Whether training sample p of task k is covered by f. chosen marks a samples request's draw. */
static int covers(const struct engine *e, const struct scenario_forget *f, size_t k, uint32_t p,
		  const uint8_t *chosen, size_t i)
{
	switch (f->what) {
	case FORGET_WHAT_CLASS:
		return has_class(f, e->train.y[p]);
	case FORGET_WHAT_TASK:
		return k + 1 == f->task;
	case FORGET_WHAT_SAMPLES:
		return k + 1 == f->task && chosen[i];
	}
	return 0;
}

/* For a samples request, a seeded draw of round(fraction x n) of the task's samples. */
static uint8_t *draw_samples(struct engine *e, const struct scenario_forget *f, size_t index,
			     struct error *err)
{
	const struct task *t = &e->tasks.t[f->task - 1];
	uint8_t *chosen = calloc(t->num_train ? t->num_train : 1, 1);
	uint32_t *order = malloc((t->num_train ? t->num_train : 1) * sizeof(*order));
	if (!chosen || !order) {
		free(chosen);
		free(order);
		error_set(err, "out of memory");
		return NULL;
	}
	struct rng r;
	rng_seed(&r, e->s->seed, 300 + index);
	for (size_t i = 0; i < t->num_train; i++)
		order[i] = (uint32_t)i;
	rng_shuffle_u32(&r, order, t->num_train);
	size_t n = (size_t)(f->fraction * (double)t->num_train + 0.5);
	for (size_t i = 0; i < n; i++)
		chosen[order[i]] = 1;
	free(order);
	return chosen;
}

static int push(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 1024;
		uint64_t *grown = realloc(*v, c * sizeof(*grown));
		if (!grown)
			return -1;
		*v = grown;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

/* The request's ids (every task, so later tasks never train on them either) and the sets the
 * figures need (the tasks learned so far). */
static int build_sets(struct engine *e, const struct scenario_forget *f, size_t index,
		      uint64_t **ids, size_t *num_ids, struct forget_sets *fs, struct error *err)
{
	uint8_t *chosen = NULL;
	if (f->what == FORGET_WHAT_SAMPLES && !(chosen = draw_samples(e, f, index, err)))
		return -1;
	size_t cap_ids = 0, cap_f = 0, cap_r = 0, cap_t = 0, cap_ft = 0;
	int rc = 0;
	*ids = NULL;
	*num_ids = 0;
	memset(fs, 0, sizeof(*fs));
	for (size_t k = 0; k < e->tasks.count && rc == 0; k++) {
		const struct task *t = &e->tasks.t[k];
		int learned = k < f->after;
		for (size_t i = 0; i < t->num_train && rc == 0; i++) {
			uint64_t id = tasks_sample_id((uint32_t)k, t->train[i]);
			if (covers(e, f, k, t->train[i], chosen, i))
				rc = push(ids, num_ids, &cap_ids, id) ||
				     (learned && push(&fs->forget, &fs->num_forget, &cap_f, id));
			else if (learned)
				rc = push(&fs->retain, &fs->num_retain, &cap_r, id);
		}
		for (size_t i = 0; i < t->num_test && rc == 0 && learned; i++) {
			uint64_t id = tasks_sample_id((uint32_t)k, t->test[i]);
			if (f->what == FORGET_WHAT_CLASS && has_class(f, e->test.y[t->test[i]]))
				rc = push(&fs->forget_test, &fs->num_forget_test, &cap_ft, id);
			else
				rc = push(&fs->test, &fs->num_test, &cap_t, id);
		}
	}
	free(chosen);
	if (rc != 0)
		return error_set(err, "out of memory for the forget sets");
	if (*num_ids)
		qsort(*ids, *num_ids, sizeof(**ids), cmp_u64);
	if (fs->num_forget == 0 && e->num_asked > 0) {
		/* Not the scenario's fault: the user forgot this data already, at run time. */
		engine_log(e, "lethe", LETHE_LOG_WARN, "[%s] skipped: what it names was already "
			   "forgotten at run time", f->section);
		return 1;
	}
	if (fs->num_forget == 0)
		return error_set(err, "[%s] covers no training sample of the tasks learned by step "
				 "%zu", f->section, f->after);
	return 0;
}

static struct engine_plugin *plugin_named(struct engine *e, const char *section)
{
	for (size_t i = 0; i < e->num_plugins; i++)
		if (!strcmp(e->plugins[i].section, section))
			return &e->plugins[i];
	return NULL;
}

/* The retrain engine's batches, told to the sinks of the engine that asked for it. */
static void relay_retrain(void *ctx, const struct event *ev)
{
	if (ev->kind == EVENT_BATCH)
		engine_forget_progress(ctx, unlearn_reference_name(REFERENCE_RETRAIN),
				       ev->batches_done, ev->batches_total);
}

/* The gold standard as the scenario defines it: a second engine learns steps 1..after from
 * the same initial weights, plugins and seeds, on the data this one still has less the ids. */
static int retrain_sequence(struct engine *e, const struct scenario_forget *f,
			    const uint64_t *ids, size_t num_ids, struct mlp *out, double *seconds,
			    struct error *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct engine *r = calloc(1, sizeof(*r));
	if (!r)
		return error_set(err, "out of memory");
	lethe_forget_request req = { .struct_size = sizeof(req), .ids = ids, .num_ids = num_ids };
	int rc = open_on(r, e->s, e->pp, e, err);
	for (size_t k = 0; rc == 0 && k < e->tasks.count; k++) {
		struct task *t = &r->tasks.t[k];
		memcpy(t->train, e->tasks.t[k].train, e->tasks.t[k].num_train * sizeof(*t->train));
		t->num_train = e->tasks.t[k].num_train;
	}
	if (rc == 0) {
		remove_ids(r, &req);
		r->batches_total = count_batches(r, f->after);
		engine_add_sink(r, relay_retrain, e);
	}
	for (r->step = 0; rc == 0 && r->step < f->after; r->step++)
		rc = learn_step(r, r->step, err);
	if (rc == 0)
		rc = mlp_clone(out, &r->model, err);
	engine_close(r);
	free(r);
	*seconds = seconds_since(&t0);
	return rc;
}

static int forget_references(struct engine *e, const struct scenario_forget *f,
			     const uint64_t *ids, size_t num_ids, const struct forget_sets *fs,
			     const struct unlearn_spec *spec, struct results_unlearning *u,
			     struct error *err)
{
	struct mlp ref;
	for (int r = 0; r < REFERENCE_COUNT; r++) {
		if (!(f->references & (1u << r)))
			continue;
		double seconds = 0;
		int rc = r == REFERENCE_RETRAIN && !f->retrain_joint
				 ? retrain_sequence(e, f, ids, num_ids, &ref, &seconds, err)
				 : unlearn_reference_run(e, (enum unlearn_reference)r, &e->model,
							 &e->initial, fs, spec, &ref, &seconds, err);
		if (rc != 0)
			return error_prefix(err, "[%s] %s", f->section, unlearn_reference_name(r));
		rc = unlearn_measure(e, &ref, fs, spec, &u->reference[r], err);
		mlp_free(&ref);
		if (rc != 0)
			return -1;
		u->reference[r].seconds = seconds;
		u->references |= 1u << r;
	}
	return 0;
}

/* A forget step's own seed stream: the scenario's steps by section order, those asked for at
 * run time after them. */
static size_t forget_index(const struct engine *e, const struct scenario_forget *f)
{
	for (size_t i = 0; i < e->s->num_forgets; i++)
		if (f == &e->s->forgets[i])
			return i;
	for (size_t i = 0; i < e->num_asked; i++)
		if (f == &e->asked[i])
			return SCENARIO_FORGETS_MAX + i;
	return 0;
}

static int forget_step(struct engine *e, const struct scenario_forget *f, struct error *err);

int engine_forget_step(struct engine *e, const struct scenario_forget *f, struct error *err)
{
	if (e->num_unlearning == ENGINE_UNLEARNING_MAX)
		return error_set(err, "[%s]: a run holds at most %d forget steps", f->section,
				 ENGINE_UNLEARNING_MAX);
	/* The whole step is forget time, the hooks it calls included. */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double hooks = e->phase_seconds[PHASE_HOOKS];
	int rc = forget_step(e, f, err);
	e->phase_seconds[PHASE_HOOKS] = hooks;
	e->phase_seconds[PHASE_FORGET] += seconds_since(&t0);
	return rc;
}

/* The plugin a forget asked for at run time uses: the first [forgetN]'s, else the first with an
 * unlearn hook. */
static const struct scenario_forget *forget_template(const struct engine *e, const char **plugin)
{
	for (size_t i = 0; i < e->s->num_forgets; i++)
		if (e->s->forgets[i].plugin[0]) {
			*plugin = e->s->forgets[i].plugin;
			return &e->s->forgets[i];
		}
	*plugin = NULL;
	for (size_t i = 0; i < e->num_plugins; i++)
		if (e->plugins[i].hooks.unlearn) {
			*plugin = e->plugins[i].section;
			break;
		}
	return NULL;
}

/* Whether another task holds one of task k's classes (domain-incremental tasks share all). */
static int classes_shared(const struct engine *e, size_t k)
{
	const struct task *t = &e->tasks.t[k];
	for (size_t j = 0; j < e->tasks.count; j++)
		for (uint32_t c = 0; j != k && c < t->num_classes; c++)
			if (e->tasks.t[j].class_mask[t->classes[c]])
				return 1;
	return 0;
}

int engine_forget_now(struct engine *e, size_t task, struct error *err)
{
	size_t learned = e->in_step ? e->step + 1 : e->rows_done;
	const char *plugin;
	const struct scenario_forget *tpl = forget_template(e, &plugin);
	const char *refusal = NULL;
	if (!plugin)
		refusal = "the scenario has no unlearning plugin";
	else if (task >= learned)
		refusal = "that task is not learned yet";
	else if (e->tasks.t[task].num_train == 0)
		refusal = "that task has no training data left";
	else if (e->num_asked == ENGINE_UNLEARNING_MAX || e->num_unlearning == ENGINE_UNLEARNING_MAX)
		refusal = "the run holds no more forget steps";
	if (refusal) {
		engine_log(e, "lethe", LETHE_LOG_WARN, "forget task %zu: not done: %s", task + 1,
			   refusal);
		return 1;
	}
	struct scenario_forget *f = &e->asked[e->num_asked];
	if (tpl) {
		*f = *tpl;
	} else {
		memset(f, 0, sizeof(*f));
		f->references = 1u << REFERENCE_RETRAIN;
		f->relearn_loss = 0.1;
		f->relearn_max_epochs = 10;
		snprintf(f->plugin, sizeof(f->plugin), "%s", plugin);
	}
	snprintf(f->section, sizeof(f->section), "forget-now-%zu", e->num_asked + 1);
	f->after = learned;
	const struct task *t = &e->tasks.t[task];
	if (classes_shared(e, task)) {
		f->what = FORGET_WHAT_TASK;
		f->task = task + 1;
		f->num_classes = 0;
	} else {
		f->what = FORGET_WHAT_CLASS;
		f->num_classes = t->num_classes;
		memcpy(f->classes, t->classes, t->num_classes * sizeof(*t->classes));
	}
	e->num_asked++;
	engine_log(e, "lethe", LETHE_LOG_INFO, "forgetting task %zu now with %s", task + 1,
		   f->plugin);
	int rc = engine_forget_step(e, f, err);
	if (rc != 0)
		return rc;
	e->order_stale = e->in_step;
	struct event ev = { .kind = EVENT_FORGET_END };
	emit(e, &ev);
	return 0;
}

static int forget_step(struct engine *e, const struct scenario_forget *f, struct error *err)
{
	size_t index = forget_index(e, f);
	struct results_unlearning *u = &e->unlearning[e->num_unlearning];
	memset(u, 0, sizeof(*u));
	u->forget = f;
	struct engine_plugin *p = f->plugin[0] ? plugin_named(e, f->plugin) : NULL;
	if (p && !p->hooks.unlearn)
		return error_set(err, "[%s] plugin %s has no unlearn hook: it is not an unlearning "
				 "plugin", f->section, f->plugin);
	uint64_t *ids = NULL;
	size_t num_ids = 0;
	struct forget_sets fs;
	int built = build_sets(e, f, index, &ids, &num_ids, &fs, err);
	if (built != 0) {
		free(ids);
		forget_sets_free(&fs);
		return built;
	}
	u->num_forget = fs.num_forget;
	struct unlearn_spec spec = {
		.retrain_epochs = f->retrain_epochs ? f->retrain_epochs : e->s->epochs * f->after,
		.finetune_epochs = f->finetune_epochs,
		.ascent_epochs = f->ascent_epochs,
		.lr = e->s->lr,
		.momentum = e->s->momentum,
		.weight_decay = e->s->weight_decay,
		.batch_size = e->s->batch_size,
		.seed = e->s->seed + 1000 * (index + 1),
		.relearn_loss = f->relearn_loss,
		.relearn_max_epochs = f->relearn_max_epochs,
	};
	lethe_forget_request req = {
		.struct_size = sizeof(req),
		.kind = f->what == FORGET_WHAT_CLASS  ? LETHE_FORGET_CLASS
			: f->what == FORGET_WHAT_TASK ? LETHE_FORGET_TASK
						      : LETHE_FORGET_SAMPLES,
		.classes = f->what == FORGET_WHAT_CLASS ? f->classes : NULL,
		.num_classes = f->what == FORGET_WHAT_CLASS ? f->num_classes : 0,
		.task = f->task ? (uint32_t)(f->task - 1) : 0,
		.ids = ids,
		.num_ids = num_ids,
		.tasks_learned = (uint32_t)f->after,
	};
	int rc = forget_references(e, f, ids, num_ids, &fs, &spec, u, err);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (rc == 0 && p)
		rc = guard_before(e, HOOK_UNLEARN, err);
	if (rc == 0 && p) {
		services_enter(&p->svc);
		int hrc = p->hooks.unlearn(p->inst, &req);
		hook_timed(e, p, HOOK_UNLEARN, &t0);
		rc = hook_result(p, "unlearn", hrc, err);
		if (rc == 0)
			rc = guard_after(e, p, HOOK_UNLEARN, err);
		u->plugin = p->file.entry.name;
	}
	double seconds = seconds_since(&t0);
	if (rc == 0)
		rc = engine_forget(e, &req, err);
	if (rc == 0)
		rc = unlearn_measure(e, &e->model, &fs, &spec, &u->figures, err);
	u->figures.seconds = seconds;
	if (rc == 0) {
		e->num_unlearning++;
		engine_log(e, "lethe", LETHE_LOG_INFO, "%s after step %zu: %zu samples forgotten%s%s: "
			   "UA %.3f RA %.3f TA %.3f MIA %.3f in %.2f s", f->section, f->after,
			   fs.num_forget, p ? " by " : "", p ? u->plugin : "", u->figures.ua,
			   u->figures.ra, u->figures.ta, u->figures.mia, seconds);
	}
	free(ids);
	forget_sets_free(&fs);
	return rc == 0 ? 0 : error_prefix(err, "[%s]", f->section);
}

static int stream_write(const lethe_ostream *s, const void *buf, uint64_t size)
{
	return fwrite(buf, 1, size, s->ctx) == size ? LETHE_OK : LETHE_ERR_IO;
}

struct bounded_reader {
	FILE *f;
	uint64_t left;
};

static int stream_read_bounded(const lethe_istream *s, void *buf, uint64_t size)
{
	struct bounded_reader *r = s->ctx;
	if (size > r->left || fread(buf, 1, size, r->f) != size)
		return LETHE_ERR_IO;
	r->left -= size;
	return LETHE_OK;
}

int engine_plugin_save(struct engine *e, size_t i, FILE *f, struct error *err)
{
	struct engine_plugin *p = &e->plugins[i];
	uint32_t version = p->file.entry.state_version;
	long start = ftell(f);
	uint64_t len = 0;
	if (fwrite(&version, sizeof(version), 1, f) != 1 || fwrite(&len, sizeof(len), 1, f) != 1)
		return error_set(err, "plugin %s: cannot write its state", p->file.entry.name);
	if (p->hooks.save) {
		lethe_ostream out = { sizeof(out), f, stream_write };
		services_enter(&p->svc);
		if (hook_result(p, "save", p->hooks.save(p->inst, &out), err) != 0)
			return -1;
	}
	long end = ftell(f);
	len = (uint64_t)(end - start) - sizeof(version) - sizeof(len);
	if (fseek(f, start + (long)sizeof(version), SEEK_SET) != 0 ||
	    fwrite(&len, sizeof(len), 1, f) != 1 || fseek(f, end, SEEK_SET) != 0)
		return error_set(err, "plugin %s: cannot write its state", p->file.entry.name);
	return 0;
}

int engine_plugin_load(struct engine *e, size_t i, FILE *f, struct error *err)
{
	struct engine_plugin *p = &e->plugins[i];
	uint32_t version;
	uint64_t len;
	if (fread(&version, sizeof(version), 1, f) != 1 || fread(&len, sizeof(len), 1, f) != 1)
		return error_set(err, "plugin %s: its saved state is truncated", p->file.entry.name);
	if (version > p->file.entry.state_version)
		return error_set(err, "plugin %s: saved state has encoding version %u, newer than "
				 "the plugin's %u", p->file.entry.name, version,
				 p->file.entry.state_version);
	struct bounded_reader r = { f, len };
	if (p->hooks.load) {
		lethe_istream in = { sizeof(in), &r, stream_read_bounded };
		services_enter(&p->svc);
		if (hook_result(p, "load", p->hooks.load(p->inst, &in, version), err) != 0)
			return -1;
	}
	if (r.left != 0)
		return error_set(err, "plugin %s: load left %llu bytes of its state unread",
				 p->file.entry.name, (unsigned long long)r.left);
	return 0;
}

/* What a plugin's create and load may change of the host's side of it. */
struct services_snapshot {
	struct rng rng;
	size_t reserved;
	struct services_metric metrics[SERVICES_METRICS_MAX];
	size_t num_metrics;
};

int engine_plugins_restore(struct engine *e, const void *const *states, const size_t *sizes,
			   struct error *err)
{
	lethe_plugin *fresh[SCENARIO_PLUGINS_MAX] = { 0 };
	struct services_snapshot was[SCENARIO_PLUGINS_MAX];
	int rc = 0;
	for (size_t i = 0; i < e->num_plugins; i++) {
		struct services_ctx *c = &e->plugins[i].svc;
		was[i].rng = c->rng;
		was[i].reserved = c->reserved;
		memcpy(was[i].metrics, c->metrics, sizeof(c->metrics));
		was[i].num_metrics = c->num_metrics;
	}
	for (size_t i = 0; i < e->num_plugins && rc == 0; i++) {
		struct engine_plugin *p = &e->plugins[i];
		if (!(fresh[i] = plugin_create(p, err))) {
			rc = -1;
			break;
		}
		/* The fresh instance takes the hooks while it loads, then gives them back. */
		lethe_plugin *live = p->inst;
		plugin_use(p, fresh[i]);
		FILE *f = fmemopen((void *)states[i], sizes[i], "rb");
		rc = f ? engine_plugin_load(e, i, f, err)
		       : error_set(err, "plugin %s: %s", p->file.entry.name, strerror(errno));
		if (f)
			fclose(f);
		plugin_use(p, live);
	}
	for (size_t i = 0; i < e->num_plugins; i++) {
		struct engine_plugin *p = &e->plugins[i];
		lethe_plugin *gone = rc == 0 ? p->inst : fresh[i];
		if (gone)
			gone->destroy(gone);
		if (rc == 0) {
			plugin_use(p, fresh[i]);
			continue;
		}
		p->svc.rng = was[i].rng;
		p->svc.reserved = was[i].reserved;
		memcpy(p->svc.metrics, was[i].metrics, sizeof(was[i].metrics));
		p->svc.num_metrics = was[i].num_metrics;
	}
	return rc;
}

void engine_close(struct engine *e)
{
	for (size_t i = e->num_plugins; i-- > 0;) {
		struct engine_plugin *p = &e->plugins[i];
		if (p->inst)
			p->inst->destroy(p->inst);
		services_free(&p->svc);
		free(p->values);
		plugin_file_close(&p->file);
	}
	mlp_free(&e->model);
	mlp_free(&e->initial);
	sgd_free(&e->opt);
	free(e->x);
	free(e->logits);
	free(e->dlogits);
	free(e->y);
	free(e->row_task);
	free(e->ids);
	free(e->masks);
	free(e->order);
	free(e->R);
	free(e->b);
	free(e->step_seconds);
	free(e->confusion);
	tasks_free(&e->tasks);
	if (!e->borrowed_data) {
		dataset_free(&e->train);
		dataset_free(&e->test);
	}
	memset(e, 0, sizeof(*e));
}
