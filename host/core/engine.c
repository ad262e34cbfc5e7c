/* The engine's run: its learning steps (batches, hooks, evaluation), the sinks and the control
 * that watch and steer it, and its results after every step. Forget steps are in
 * engine_forget.c, the plugins and their hooks in engine_plugins.c, checkpoints in
 * engine_checkpoint.c. */
#define _GNU_SOURCE
#include "core/engine_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "model/loss.h"
#include "results/results.h"
#include "util/blas.h"

/* Rows per evaluation forward pass: large enough for GEMM efficiency, small in memory. */
#define EVAL_CHUNK 1000

void engine_emit(struct engine *e, struct event *ev)
{
	ev->engine = e;
	ev->step = e->step;
	ev->batches_done = e->batches_done;
	ev->batches_total = e->batches_total;
	ev->samples_done = e->samples_done;
	ev->elapsed = elapsed_since(&e->t0);
	for (size_t i = 0; i < e->num_sinks; i++)
		e->sinks[i].event(e->sinks[i].ctx, ev);
}

void engine_log(struct engine *e, const char *source, lethe_log_level level, const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct event ev = { .kind = EVENT_LOG, .source = source, .level = level, .msg = msg };
	engine_emit(e, &ev);
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
	return model_reserve(&e->model, cap, err);
}

static const char *const phase_names[PHASE_COUNT] = {
	"train", "evaluate", "hooks", "forget", "checkpoint",
};

/* What the memory estimate reads of e: known once its data's labels, its tasks and its plugins'
 * values are. */
static void memory_run_of(const struct engine *e, struct memory_run *r)
{
	*r = (struct memory_run){
		.s = e->s,
		.train = &e->train,
		.test = &e->test,
		.tasks = &e->tasks,
		.num_classes = e->num_classes,
		.num_plugins = e->num_plugins,
	};
	for (size_t i = 0; i < e->num_plugins; i++) {
		const struct engine_plugin *p = &e->plugins[i];
		r->plugins[i] = (struct memory_plugin){ p->file.entry.name, p->file.params,
							p->file.entry.num_params, p->values };
	}
}

void engine_estimate_memory(const struct engine *e, struct memory_estimate *m)
{
	struct memory_run r;
	memory_run_of(e, &r);
	memory_estimate(&r, m);
}

static int memory_admit_run(const struct engine *e, struct error *err)
{
	struct memory_run r;
	memory_run_of(e, &r);
	return memory_admit(&r, err);
}

/* engine_open; with `data` an engine of the same scenario, on its train and test sets instead of
 * a copy of its own (which, for Fashion-MNIST, would take 55 MiB and a tenth of a second more). */
int engine_open_on(struct engine *e, const struct scenario *s, const struct plugin_path *pp,
		   const struct engine *data, struct error *err)
{
	memset(e, 0, sizeof(*e));
	e->s = s;
	e->pp = pp;
	clock_gettime(CLOCK_MONOTONIC, &e->t0);
	/* The model's threads split every pass themselves: OpenBLAS runs one inside each. */
	blas_set_threads(1);
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
	if (engine_forget_init(e, err) != 0)
		return -1;
	struct model_shape in = { e->train.channels, e->train.rows, e->train.cols };
	if (scenario_check_model(s, in, e->num_classes, err) != 0)
		return -1;
	/* The run is weighed once the labels, tasks, model and plugins' values are known, before
	 * the pixels, the model and the plugins' instances take their memory. */
	if (engine_plugins_open(e, pp, err) != 0)
		return -1;
	if (!data && (memory_admit_run(e, err) != 0 ||
		      scenario_read_data(s, &e->train, &e->test, err) != 0))
		return -1;

	if (model_build(&e->model, &s->model, in, e->num_classes, err) != 0)
		return -1;
	struct rng init;
	rng_seed(&init, s->seed, 0);
	if (!s->init_file[0])
		model_init_params(&e->model, s->init, &init);
	else if (scenario_init_model(s, &e->model, err) != 0)
		return -1;
	if (model_set_threads(&e->model, (size_t)s->threads, err) != 0 ||
	    model_clone(&e->initial, &e->model, err) != 0)
		return -1;
	rng_seed(&e->rng, s->seed, 1);
	rng_seed(&e->aug, s->seed, 2);
	if (sgd_init(&e->opt, e->model.num_params, s->lr, s->momentum, s->weight_decay, err) != 0)
		return -1;

	e->run_info = (lethe_run_info){
		.struct_size = sizeof(lethe_run_info),
		.protocol = s->protocol,
		.num_tasks = (uint32_t)T,
		.num_classes = (uint32_t)e->num_classes,
		.input_dim = (uint32_t)e->train.dim,
		.input_channels = e->train.channels,
		.input_height = e->train.rows,
		.input_width = e->train.cols,
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
	size_t C = e->num_classes;
	e->class_confusion = calloc(T * C * C, sizeof(uint64_t));
	e->class_confusion_known = calloc(T, 1);
	if (!e->R || !e->b || !e->step_seconds || !e->confusion || !e->class_confusion ||
	    !e->class_confusion_known)
		return error_set(err, "out of memory");
	if (engine_curves_names(e, err) != 0)
		return -1;
	if (engine_reserve_batch(e, err) != 0)
		return -1;
	if (engine_plugins_create(e, err) != 0)
		return -1;
	return engine_forget_check(e, err);
}

int engine_open(struct engine *e, const struct scenario *s, const struct plugin_path *pp,
		struct error *err)
{
	return engine_open_on(e, s, pp, NULL, err);
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

static void free_eval_buffers(struct engine *e)
{
	free(e->eval_x);
	free(e->eval_logits);
	free(e->eval_y);
	free(e->eval_owner);
	e->eval_x = e->eval_logits = NULL;
	e->eval_y = NULL;
	e->eval_owner = NULL;
}

int engine_evaluate(struct engine *e, double *acc, double *confusion, uint64_t *counts,
		    struct error *err)
{
	/* A non-finite model's argmax is an accuracy of nothing: never written down. */
	if (engine_params_finite(e, err) != 0)
		return -1;
	size_t dim = e->test.dim, C = e->num_classes;
	/* Kept from the first evaluation on: one after every epoch allocates nothing. */
	if (!e->eval_x) {
		e->eval_x = malloc(EVAL_CHUNK * dim * sizeof(float));
		e->eval_logits = malloc(EVAL_CHUNK * C * sizeof(float));
		e->eval_y = malloc(EVAL_CHUNK * sizeof(int32_t));
		e->eval_owner = malloc(C * sizeof(int));
		if (!e->eval_x || !e->eval_logits || !e->eval_y || !e->eval_owner) {
			free_eval_buffers(e);
			return error_set(err, "out of memory for evaluation");
		}
	}
	float *x = e->eval_x, *logits = e->eval_logits;
	int32_t *y = e->eval_y;
	int *owner = e->eval_owner, rc = 0;
	class_tasks(e, owner);
	if (counts)
		memset(counts, 0, C * C * sizeof(*counts));
	size_t errors = 0, across = 0;
	for (size_t j = 0; j < e->tasks.count && rc == 0; j++) {
		const struct task *t = &e->tasks.t[j];
		const uint8_t *mask = e->s->protocol == LETHE_TASK_INCREMENTAL ? t->class_mask : NULL;
		size_t correct = 0;
		for (size_t at = 0; at < t->num_test && rc == 0; at += EVAL_CHUNK) {
			size_t n = t->num_test - at < EVAL_CHUNK ? t->num_test - at : EVAL_CHUNK;
			tasks_gather(t, &e->test, t->test + at, n, x, y);
			rc = model_forward(&e->model, x, n, logits, err);
			if (rc == 0)
				rc = engine_plugins_predict(e, (uint32_t)j, x, n, mask, logits, err);
			for (size_t i = 0; i < n && rc == 0; i++) {
				int32_t p = loss_argmax(logits + i * C, C, mask);
				if (counts && p >= 0)
					counts[(size_t)y[i] * C + (size_t)p]++;
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
	return rc;
}

static int evaluate_timed(struct engine *e, double *acc, double *confusion, uint64_t *counts,
			  struct error *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = engine_evaluate(e, acc, confusion, counts, err);
	e->phase_seconds[PHASE_EVALUATE] += elapsed_since(&t0);
	return rc;
}

/* The curves' own names, in a fixed order: "loss", then each task's accuracy. */
int engine_curves_names(struct engine *e, struct error *err)
{
	uint32_t id;
	if (curves_name(&e->curves, CURVES_LOSS, &id, err) != 0)
		return -1;
	for (size_t j = 0; j < e->tasks.count; j++) {
		char name[CURVES_NAME_MAX];
		snprintf(name, sizeof(name), CURVES_ACCURACY "%zu", j + 1);
		if (curves_name(&e->curves, name, &id, err) != 0)
			return -1;
	}
	return 0;
}

/* Every task's accuracy acc[] after epoch `epoch` (0-based) of the step under way, whose last
 * batch was `batches`. */
static int curve_accuracy(struct engine *e, size_t epoch, size_t batches, const double *acc,
			  struct error *err)
{
	for (size_t j = 0; j < e->tasks.count; j++)
		if (curves_add(&e->curves, (uint32_t)e->step + 1, (uint32_t)epoch + 1,
			       (uint32_t)batches, (uint32_t)(1 + j), acc[j], err) != 0)
			return -1;
	return 0;
}

/* Whether the batch about to train, the epoch's batch-th (0-based), ending at sample end of n,
 * is a point of the loss curve: every curve_every batches, and the epoch's last. */
static int curve_due(const struct engine *e, size_t batch, size_t end, size_t n)
{
	uint64_t every = e->s->curve_every;
	return every && ((batch + 1) % every == 0 || end >= n);
}

/* The loss of the batch just trained, and each figure a plugin reported while it trained (its
 * reports' count was marks[i] before): points of the curve at the batch-th (0-based). */
static int curve_batch(struct engine *e, size_t batch, double loss, const uint64_t *marks,
		       struct error *err)
{
	uint32_t step = (uint32_t)e->step + 1, epoch = (uint32_t)e->at.epoch + 1;
	if (curves_add(&e->curves, step, epoch, (uint32_t)batch + 1, 0, loss, err) != 0)
		return -1;
	for (size_t i = 0; i < e->num_plugins; i++) {
		const struct services_ctx *c = &e->plugins[i].svc;
		for (size_t m = 0; m < c->num_metrics; m++) {
			if (c->metrics[m].serial <= marks[i])
				continue;
			char name[CURVES_NAME_MAX];
			uint32_t id;
			snprintf(name, sizeof(name), "%s.%s", e->plugins[i].file.entry.name,
				 c->metrics[m].key);
			if (curves_name(&e->curves, name, &id, err) != 0 ||
			    curves_add(&e->curves, step, epoch, (uint32_t)batch + 1, id,
				       c->metrics[m].value, err) != 0)
				return -1;
		}
	}
	return 0;
}

/* Room for every point the step under way can add, so that its batches allocate nothing (but
 * for the name of a term a plugin reports for the first time): at most every curve_every
 * batches and at every epoch's end, the loss and each plugin's every figure, then each task's
 * accuracy after every epoch. */
static int curves_reserve_step(struct engine *e, struct error *err)
{
	const struct engine_position *at = &e->at;
	size_t epochs = e->s->epochs, batches = (at->n + e->s->batch_size - 1) / e->s->batch_size;
	size_t every = e->s->curve_every ? (size_t)e->s->curve_every : SIZE_MAX;
	size_t batch_points = e->s->curve_every ? batches / every + 1 : 0;
	size_t per_point = 1 + e->num_plugins * SERVICES_METRICS_MAX;
	return curves_reserve(&e->curves, epochs * (batch_points * per_point + e->tasks.count),
			      err);
}

/* Every task's accuracy after an epoch of the step under way, but its last: the step's own
 * evaluation, after after_task, stands for that one. */
static int evaluate_epoch(struct engine *e, struct error *err)
{
	const struct engine_position *at = &e->at;
	if (!e->s->evaluate_epochs || at->epoch + 1 >= e->s->epochs)
		return 0;
	double acc[TASKS_MAX];
	if (evaluate_timed(e, acc, NULL, NULL, err) != 0 ||
	    curve_accuracy(e, at->epoch, at->batches, acc, err) != 0)
		return -1;
	struct event ev = { .kind = EVENT_EPOCH_EVALUATED, .epoch = at->epoch,
			    .batches = at->batches, .accuracy = acc };
	engine_emit(e, &ev);
	return 0;
}

int engine_reserve_order(struct engine *e, size_t n, struct error *err)
{
	if (n <= e->order_cap)
		return 0;
	uint64_t *o = realloc(e->order, n * sizeof(*o));
	if (!o)
		return error_set(err, "out of memory for %zu training samples", n);
	e->order = o;
	e->order_cap = n;
	return 0;
}

/* Every sample the step trains on: the task's own (naive), or every task's so far (joint). */
static int build_order(struct engine *e, size_t step, size_t *count, struct error *err)
{
	size_t first = e->s->baseline == BASELINE_JOINT ? 0 : step, n = 0;
	for (size_t k = first; k <= step; k++)
		n += e->tasks.t[k].num_train;
	if (engine_reserve_order(e, n, err) != 0)
		return -1;
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
		tasks_convert_train(&e->tasks, k, e->train.x + (size_t)pos * dim, &e->aug,
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
	/* Batch norm learns from training batches; a head-only epoch's trunk is frozen, its
	 * statistics too. */
	e->model.training = !b->head_only;
	int rc = model_forward(&e->model, b->x, b->n, e->logits, err);
	e->model.training = 0;
	if (rc != 0)
		return -1;
	const uint8_t *const *masks = e->s->protocol == LETHE_TASK_INCREMENTAL ? e->masks : NULL;
	double loss = loss_softmax_ce(e->logits, b->n, C, b->y, masks, e->dlogits);
	if (!isfinite(loss))
		return error_set(err, "the loss is %s before any plugin's term; train.lr = %g may "
				 "be too large", isnan(loss) ? "NaN" : "infinite", e->s->lr);
	CALL_HOOKS(e, err, HOOK_ON_LOGITS, on_logits, b, e->logits, e->dlogits, &loss);
	if (b->head_only)
		model_backward_head(&e->model, e->dlogits);
	else
		model_backward(&e->model, e->dlogits);
	CALL_HOOKS(e, err, HOOK_ON_GRADIENT, on_gradient, b, &loss);
	if (!isfinite(loss))
		return error_set(err, "the loss is %s after the plugins' terms; lower their weights "
				 "or train.lr = %g", isnan(loss) ? "NaN" : "infinite", e->s->lr);
	size_t first = b->head_only ? model_head_offset(&e->model) : 0;
	sgd_step_threads(&e->opt, e->model.pool, e->model.params, e->model.grads, first,
			 e->model.num_params - first);
	CALL_HOOKS(e, err, HOOK_AFTER_BATCH, after_batch, b);
	*loss_out = loss;
	return 0;
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
	int rc = engine_checkpoint(e, e->out_dir, err);
	e->phase_seconds[PHASE_CHECKPOINT] += elapsed_since(&t0);
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
int engine_learn_step(struct engine *e, size_t step, struct error *err)
{
	const lethe_task_info *info = &e->task_info[step];
	struct engine_position *at = &e->at;
	size_t bs = e->s->batch_size;
	e->in_batch = 0;
	if (!e->resume_step) {
		CALL_HOOKS(e, err, HOOK_BEFORE_TASK, before_task, info);
		if (build_order(e, step, &at->n, err) != 0)
			return -1;
		at->head_from = e->s->epochs - engine_plugins_head_epochs(e, info);
		at->epoch = 0;
		at->shuffled = 0;
	}
	e->resume_step = 0;
	if (curves_reserve_step(e, err) != 0)
		return -1;
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
			int point = curve_due(e, at->batch, at->pos + rows, at->n);
			uint64_t marks[SCENARIO_PLUGINS_MAX];
			for (size_t i = 0; point && i < e->num_plugins; i++)
				marks[i] = e->plugins[i].svc.reports;
			fill_batch(e, e->order + at->pos, rows);
			e->batch.epoch = (uint32_t)at->epoch;
			e->batch.index = (uint32_t)at->batch;
			e->batch.batches = (uint32_t)at->batches;
			double loss = 0;
			if (train_batch(e, &loss, err) != 0)
				return error_prefix(err, "step %zu, epoch %zu, batch %zu", step + 1,
						    at->epoch + 1, at->batch + 1);
			if (point && curve_batch(e, at->batch, loss, marks, err) != 0)
				return -1;
			at->pos += rows;
			e->batches_done++;
			e->samples_done += e->batch.n;
			e->phase_seconds[PHASE_TRAIN] += elapsed_since(&t0) - (other_phases(e) - others);
			ev.epoch = at->epoch;
			ev.batch = at->batch++;
			ev.batches = at->batches;
			ev.loss = loss;
			engine_emit(e, &ev);
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
		if (evaluate_epoch(e, err) != 0)
			return error_prefix(err, "step %zu, after epoch %zu", step + 1,
					    at->epoch + 1);
	}
	CALL_HOOKS(e, err, HOOK_AFTER_TASK, after_task, info);
	return 0;
}

/* The training batches of steps 1..steps. */
uint64_t engine_count_batches(const struct engine *e, size_t steps)
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
					p->file.entry.name, engine_hook_name(h), p->hook_seconds[h]
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
		.blas_threads = blas_threads(),
		.provenance = e->provenance,
		.num_classes = e->num_classes,
		.class_confusion = e->class_confusion,
		.class_confusion_known = e->class_confusion_known,
		.curves = &e->curves,
		.curve_every = e->s->curve_every,
	};
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = results_write(out_dir, &r, err);
	e->phase_seconds[PHASE_CHECKPOINT] += elapsed_since(&t0);
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

int engine_run(struct engine *e, const char *out_dir, struct error *err)
{
	size_t T = e->tasks.count;
	int resumed = e->resumed;
	e->resumed = 0;
	e->out_dir = out_dir;
	if (!resumed) {
		clock_gettime(CLOCK_MONOTONIC, &e->t0);
		e->batches_total = engine_count_batches(e, e->tasks.count);
		e->step = 0;
	}
	struct event ev = { .kind = EVENT_RUN_START };
	engine_emit(e, &ev);
	if (!resumed && evaluate_timed(e, e->b, NULL, NULL, err) != 0)
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
		engine_emit(e, &ev);
		e->in_step = 1;
		int rc = engine_learn_step(e, e->step, err);
		e->in_step = 0;
		if (rc == ENGINE_STOPPED)
			return stop_run(e, out_dir, ENGINE_STOPPED);
		if (rc != 0 && strncmp(err->msg, "step ", 5) != 0)
			error_prefix(err, "step %zu", e->step + 1);
		size_t C = e->num_classes;
		if (rc == 0)
			rc = evaluate_timed(e, e->R + e->step * T, e->confusion + e->step,
					    e->class_confusion + e->step * C * C, err);
		if (rc == 0)
			rc = curve_accuracy(e, e->s->epochs - 1, e->at.batches, e->R + e->step * T,
					    err);
		if (rc != 0)
			return stop_run(e, out_dir, -1);
		e->class_confusion_known[e->step] = 1;
		e->step_seconds[e->step] = elapsed_since(&e->step_t0);
		e->rows_done = e->step + 1;
		e->total_seconds = elapsed_since(&e->t0);
		ev = (struct event){ .kind = EVENT_STEP_END };
		engine_emit(e, &ev);
		for (size_t f = 0; rc == 0 && f < e->s->num_forgets; f++) {
			if (e->s->forgets[f].after != e->step + 1)
				continue;
			rc = engine_forget_step(e, &e->s->forgets[f], err);
			if (rc == 0) {
				ev = (struct event){ .kind = EVENT_FORGET_END };
				engine_emit(e, &ev);
			}
			rc = rc > 0 ? 0 : rc;
		}
		if (rc != 0)
			return stop_run(e, out_dir, -1);
		e->total_seconds = elapsed_since(&e->t0);
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
	engine_emit(e, &ev);
	return 0;
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
	model_free(&e->model);
	model_free(&e->initial);
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
	free(e->class_confusion);
	free(e->class_confusion_known);
	curves_free(&e->curves);
	free_eval_buffers(e);
	free(e->original_train);
	tasks_free(&e->tasks);
	if (!e->borrowed_data) {
		dataset_free(&e->train);
		dataset_free(&e->test);
	}
	memset(e, 0, sizeof(*e));
}
