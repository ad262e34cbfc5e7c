/* The engine's forget steps: a forget request built from a [forgetN] section (or asked for at
 * run time), its reference methods, the unlearning plugin's procedure, the data leaving every
 * later step, and the figures that measure it. */
#define _GNU_SOURCE
#include "core/engine_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/util.h>

/* A forget step's plugin must be an unlearning one: found before training, not after hours. */
/* Tells the sinks that `reference` (scenario_reference_name) trained its done-th batch of total:
 * a reference can take as long as the steps before it, and a front end must not look hung. */
static void forget_progress(void *ctx, const char *reference, uint64_t done, uint64_t total)
{
	struct event ev = { .kind = EVENT_FORGET_PROGRESS, .source = reference,
			    .reference_done = done, .reference_total = total };
	engine_emit(ctx, &ev);
}

static void forget_warn(void *ctx, const char *msg)
{
	engine_log(ctx, "lethe", LETHE_LOG_WARN, "%s", msg);
}

/* The host's model's logits of n rows of task k as the run's evaluation scores them: its
 * forward, then every plugin's on_predict. */
static int forget_predict(void *ctx, uint32_t task, const float *x, size_t n, float *logits,
			  struct error *err)
{
	struct engine *e = ctx;
	const uint8_t *mask = e->s->protocol == LETHE_TASK_INCREMENTAL ? e->tasks.t[task].class_mask
								       : NULL;
	if (model_forward(&e->model, x, n, logits, err) != 0)
		return -1;
	return engine_plugins_predict(e, task, x, n, mask, logits, err);
}

/* The figures of the host's model, through the plugins' on_predict when any has one. */
static int forget_measure(struct engine *e, const struct model *retrain,
			  const struct forget_sets *fs, const struct unlearn_spec *spec,
			  struct forget_figures *out, struct error *err)
{
	e->unlearn.predict = NULL;
	e->unlearn.predict_model = &e->model;
	for (size_t i = 0; i < e->num_plugins; i++)
		if (e->plugins[i].hooks.on_predict)
			e->unlearn.predict = forget_predict;
	return unlearn_measure(&e->unlearn, &e->model, retrain, fs, spec, out, err);
}

int engine_forget_init(struct engine *e, struct error *err)
{
	size_t n = 0;
	for (size_t k = 0; k < e->tasks.count; k++)
		n += e->tasks.t[k].num_train;
	e->original_train = malloc((n + 1) * sizeof(*e->original_train));
	if (!e->original_train)
		return error_set(err, "out of memory for %zu training positions", n);
	n = 0;
	for (size_t k = 0; k < e->tasks.count; k++) {
		const struct task *t = &e->tasks.t[k];
		memcpy(e->original_train + n, t->train, t->num_train * sizeof(*t->train));
		e->original_count[k] = t->num_train;
		n += t->num_train;
	}
	e->unlearn = (struct unlearn_env){
		.train = &e->train,
		.test = &e->test,
		.tasks = &e->tasks,
		.num_classes = e->num_classes,
		.protocol = e->s->protocol,
		.progress = forget_progress,
		.warn = forget_warn,
		.ctx = e,
	};
	return 0;
}

int engine_forget_check(struct engine *e, struct error *err)
{
	for (size_t i = 0; i < e->s->num_forgets; i++) {
		const struct scenario_forget *f = &e->s->forgets[i];
		struct engine_plugin *p = f->plugin[0] ? engine_plugin_named(e, f->plugin) : NULL;
		if (p && !p->hooks.unlearn)
			return error_set(err, "[%s] plugin %s has no unlearn hook: it is not an "
					 "unlearning plugin", f->section, f->plugin);
		for (size_t c = 0; c < f->num_compare; c++) {
			p = engine_plugin_named(e, f->compare[c]);
			if (p && !p->hooks.unlearn)
				return error_set(err, "[%s] compare = %s: plugin %s has no unlearn "
						 "hook: it is not an unlearning plugin", f->section,
						 f->compare[c], f->compare[c]);
		}
	}
	return 0;
}

static void remove_ids(struct engine *e, const lethe_forget_request *req)
{
	for (size_t k = 0; k < e->tasks.count; k++) {
		struct task *t = &e->tasks.t[k];
		size_t kept = 0;
		for (size_t i = 0; i < t->num_train; i++)
			if (!lethe_forget_covers(req, tasks_sample_id((uint32_t)k, t->train[i])))
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
	if (fs->num_forget == 0 && e->num_unlearning > 0) {
		/* Earlier requests took what this one names: each sample is forgotten once. */
		engine_log(e, "lethe", LETHE_LOG_WARN, "[%s] skipped: earlier forget steps removed "
			   "every training sample it names", f->section);
		return 1;
	}
	if (fs->num_forget == 0)
		return error_set(err, "[%s] covers no training sample of the tasks learned by step "
				 "%zu", f->section, f->after);
	return 0;
}

/* Whether an earlier forget step of e named class c. */
static int class_forgotten(const struct engine *e, int32_t c)
{
	for (size_t i = 0; i < e->num_unlearning; i++) {
		const struct scenario_forget *g = e->unlearning[i].forget;
		if (g->what == FORGET_WHAT_CLASS && has_class(g, c))
			return 1;
	}
	return 0;
}

static int has_id(const uint64_t *ids, size_t n, uint64_t id)
{
	return n && bsearch(&id, ids, n, sizeof(*ids), cmp_u64) != NULL;
}

/* The sets of everything forgotten so far, this request (fs, before its data leaves) and the
 * earlier ones (the tasks' training lists as they opened less as they are now), each sample
 * once, against what will be left; the test sets less every forgotten class. */
static int build_cumulative(struct engine *e, const struct scenario_forget *f,
			    const struct forget_sets *fs, struct forget_sets *cum,
			    struct error *err)
{
	size_t cap_f = 0, cap_t = 0, cap_ft = 0, at = 0;
	memset(cum, 0, sizeof(*cum));
	cum->retain = malloc((fs->num_retain + 1) * sizeof(*cum->retain));
	int rc = cum->retain ? 0 : -1;
	if (rc == 0) {
		memcpy(cum->retain, fs->retain, fs->num_retain * sizeof(*fs->retain));
		cum->num_retain = fs->num_retain;
	}
	for (size_t k = 0; k < e->tasks.count && rc == 0; k++) {
		const struct task *t = &e->tasks.t[k];
		const uint32_t *orig = e->original_train + at;
		size_t n = e->original_count[k];
		at += n;
		if (k >= f->after)
			continue;
		for (size_t i = 0; i < n && rc == 0; i++) {
			uint64_t id = tasks_sample_id((uint32_t)k, orig[i]);
			if (!tasks_has_train(t, orig[i]) || has_id(fs->forget, fs->num_forget, id))
				rc = push(&cum->forget, &cum->num_forget, &cap_f, id);
		}
		for (size_t i = 0; i < t->num_test && rc == 0; i++) {
			uint64_t id = tasks_sample_id((uint32_t)k, t->test[i]);
			int32_t c = e->test.y[t->test[i]];
			if (class_forgotten(e, c) || (f->what == FORGET_WHAT_CLASS && has_class(f, c)))
				rc = push(&cum->forget_test, &cum->num_forget_test, &cap_ft, id);
			else
				rc = push(&cum->test, &cum->num_test, &cap_t, id);
		}
	}
	if (rc != 0) {
		unlearn_sets_free(cum);
		return error_set(err, "out of memory for the cumulative forget sets");
	}
	return 0;
}

/* The retrain engine's batches, told to the sinks of the engine that asked for it. */
static void relay_retrain(void *ctx, const struct event *ev)
{
	if (ev->kind == EVENT_BATCH)
		forget_progress(ctx, scenario_reference_name(REFERENCE_RETRAIN),
				       ev->batches_done, ev->batches_total);
}

/* The gold standard as the scenario defines it: a second engine learns steps 1..after from
 * the same initial weights, plugins and seeds, on the data this one still has less the ids. */
static int retrain_sequence(struct engine *e, const struct scenario_forget *f,
			    const uint64_t *ids, size_t num_ids, struct model *out, double *seconds,
			    struct error *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct engine *r = calloc(1, sizeof(*r));
	if (!r)
		return error_set(err, "out of memory");
	lethe_forget_request req = { .struct_size = sizeof(req), .ids = ids, .num_ids = num_ids };
	int rc = engine_open_on(r, e->s, e->pp, e, err);
	for (size_t k = 0; rc == 0 && k < e->tasks.count; k++) {
		struct task *t = &r->tasks.t[k];
		memcpy(t->train, e->tasks.t[k].train, e->tasks.t[k].num_train * sizeof(*t->train));
		t->num_train = e->tasks.t[k].num_train;
	}
	if (rc == 0) {
		remove_ids(r, &req);
		r->batches_total = engine_count_batches(r, f->after);
		engine_add_sink(r, relay_retrain, e);
	}
	for (r->step = 0; rc == 0 && r->step < f->after; r->step++)
		rc = engine_learn_step(r, r->step, err);
	if (rc == 0)
		rc = model_clone(out, &r->model, err);
	engine_close(r);
	free(r);
	*seconds = elapsed_since(&t0);
	return rc;
}

/* Runs the references f asks for and measures each on fs (and cum, when not NULL); retrain's
 * model, when it ran, stays in *retrain for the other measures (retrain->num_layers is 0 when
 * it did not: model_free it either way). */
static int forget_references(struct engine *e, const struct scenario_forget *f,
			     const uint64_t *ids, size_t num_ids, const struct forget_sets *fs,
			     const struct forget_sets *cum, const struct unlearn_spec *spec,
			     struct results_unlearning *u, struct model *retrain,
			     struct error *err)
{
	_Static_assert(REFERENCE_RETRAIN == 0, "retrain runs first: the others measure against it");
	memset(retrain, 0, sizeof(*retrain));
	for (int r = 0; r < REFERENCE_COUNT; r++) {
		if (!(f->references & (1u << r)))
			continue;
		double seconds = 0;
		struct model ref;
		int rc = r == REFERENCE_RETRAIN && !f->retrain_joint
				 ? retrain_sequence(e, f, ids, num_ids, &ref, &seconds, err)
				 : unlearn_reference_run(&e->unlearn, (enum forget_reference)r,
							 &e->model, &e->initial, fs, spec, &ref,
							 &seconds, err);
		if (rc != 0)
			return error_prefix(err, "[%s] %s", f->section, scenario_reference_name(r));
		const struct model *to = r == REFERENCE_RETRAIN ? &ref : retrain;
		to = to->num_layers ? to : NULL;
		rc = unlearn_measure(&e->unlearn, &ref, to, fs, spec, &u->reference[r], err);
		if (rc == 0 && cum)
			rc = unlearn_measure(&e->unlearn, &ref, to, cum, spec,
					     &u->cumulative_reference[r], err);
		if (r == REFERENCE_RETRAIN)
			*retrain = ref;
		else
			model_free(&ref);
		if (rc != 0)
			return -1;
		u->reference[r].seconds = seconds;
		u->cumulative_reference[r].seconds = seconds;
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
	e->phase_seconds[PHASE_FORGET] += elapsed_since(&t0);
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
	f->num_compare = 0; /* one method for a request made at run time: the checkpoint keeps
			     * no list for it */
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
	engine_emit(e, &ev);
	return 0;
}

/* p's unlearn hook on the host's model, guarded and timed as a forget step's; *seconds
 * receives its wall time. */
static int forget_unlearn(struct engine *e, struct engine_plugin *p,
			  const lethe_forget_request *req, double *seconds, struct error *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = engine_guard_before(e, HOOK_UNLEARN, err);
	if (rc == 0) {
		services_enter(&p->svc);
		int hrc = p->hooks.unlearn(p->inst, req);
		engine_hook_timed(e, p, HOOK_UNLEARN, &t0);
		rc = engine_hook_result(p, "unlearn", hrc, err);
		if (rc == 0)
			rc = engine_guard_after(e, p, HOOK_UNLEARN, err);
	}
	*seconds = elapsed_since(&t0);
	return rc;
}

/* Each plugin of f's compare list unlearns the request on a fork of itself (engine_plugin_fork:
 * the same random stream the step's plugin would get) from the model before it, is measured
 * as the step's plugin is, then the model and the plugin are put back as they were. One whose
 * unlearn fails is recorded as failed, with its reason, and the next one runs: a method beside
 * the step's is evidence, not the run's procedure. */
static int forget_compare(struct engine *e, const struct scenario_forget *f,
			  const lethe_forget_request *req, const struct model *retrain,
			  const struct forget_sets *fs, const struct forget_sets *cum,
			  const struct unlearn_spec *spec, struct results_unlearning *u,
			  struct error *err)
{
	if (f->num_compare == 0)
		return 0;
	struct model before;
	if (model_clone(&before, &e->model, err) != 0)
		return error_prefix(err, "the model before the request");
	int rc = 0;
	for (size_t c = 0; rc == 0 && c < f->num_compare; c++) {
		struct engine_plugin *p = engine_plugin_named(e, f->compare[c]);
		size_t i = (size_t)(p - e->plugins);
		struct engine_fork k;
		double seconds = 0;
		struct forget_figures *fig = &u->compared_figures[c];
		struct error why;
		if ((rc = engine_plugin_fork(e, i, &k, err)) != 0)
			break;
		u->compared_failed[c][0] = '\0';
		if (forget_unlearn(e, p, req, &seconds, &why) != 0) {
			snprintf(u->compared_failed[c], sizeof(u->compared_failed[c]), "%.*s",
				 RESULTS_REASON_MAX - 1, why.msg);
			engine_log(e, "lethe", LETHE_LOG_WARN, "[%s] compare %s failed, the run goes "
				   "on: %s", f->section, f->compare[c], why.msg);
			metrics_figures_unknown(fig);
			if (cum)
				metrics_figures_unknown(&u->cumulative_compared[c]);
		} else {
			rc = forget_measure(e, retrain, fs, spec, fig, err);
			if (rc == 0 && cum)
				rc = forget_measure(e, retrain, cum, spec,
						    &u->cumulative_compared[c], err);
		}
		engine_plugin_join(e, i, &k);
		model_copy(&e->model, &before, err); /* its own clone: cannot fail */
		fig->seconds = u->cumulative_compared[c].seconds = seconds;
		u->compared[c] = p->file.entry.name;
		if (rc == 0)
			u->num_compared = c + 1;
		else
			error_prefix(err, "compare %s", f->compare[c]);
	}
	model_free(&before);
	return rc;
}

static int forget_step(struct engine *e, const struct scenario_forget *f, struct error *err)
{
	size_t index = forget_index(e, f);
	struct results_unlearning *u = &e->unlearning[e->num_unlearning];
	memset(u, 0, sizeof(*u));
	u->forget = f;
	struct engine_plugin *p = f->plugin[0] ? engine_plugin_named(e, f->plugin) : NULL;
	if (p && !p->hooks.unlearn)
		return error_set(err, "[%s] plugin %s has no unlearn hook: it is not an unlearning "
				 "plugin", f->section, f->plugin);
	uint64_t *ids = NULL;
	size_t num_ids = 0;
	struct forget_sets fs;
	int built = build_sets(e, f, index, &ids, &num_ids, &fs, err);
	if (built != 0) {
		free(ids);
		unlearn_sets_free(&fs);
		return built;
	}
	u->num_forget = fs.num_forget;
	struct forget_sets cum = { 0 };
	u->has_cumulative = e->num_unlearning > 0;
	if (u->has_cumulative && build_cumulative(e, f, &fs, &cum, err) != 0) {
		free(ids);
		unlearn_sets_free(&fs);
		return error_prefix(err, "[%s]", f->section);
	}
	u->num_forget_cumulative = cum.num_forget;
	struct unlearn_spec spec = {
		.retrain_epochs = f->retrain_epochs ? f->retrain_epochs : e->s->epochs * f->after,
		.finetune_epochs = f->finetune_epochs,
		.ascent_epochs = f->ascent_epochs,
		.lr = e->s->lr,
		.ascent_lr = f->ascent_lr > 0 ? f->ascent_lr : e->s->lr,
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
	struct model retrain;
	int rc = forget_references(e, f, ids, num_ids, &fs, u->has_cumulative ? &cum : NULL, &spec,
				   u, &retrain, err);
	const struct model *to = retrain.num_layers ? &retrain : NULL;
	if (rc == 0)
		rc = forget_compare(e, f, &req, to, &fs, u->has_cumulative ? &cum : NULL, &spec, u,
				    err);
	double seconds = 0;
	if (rc == 0 && p) {
		rc = forget_unlearn(e, p, &req, &seconds, err);
		u->plugin = p->file.entry.name;
	}
	if (rc == 0)
		rc = engine_forget(e, &req, err);
	if (rc == 0)
		rc = forget_measure(e, to, &fs, &spec, &u->figures, err);
	if (rc == 0 && u->has_cumulative)
		rc = forget_measure(e, to, &cum, &spec, &u->cumulative, err);
	u->figures.seconds = seconds;
	u->cumulative.seconds = seconds;
	if (rc == 0) {
		e->num_unlearning++;
		engine_log(e, "lethe", LETHE_LOG_INFO, "%s after step %zu: %zu samples forgotten%s%s: "
			   "UA %.3f RA %.3f TA %.3f MIA %.3f in %.2f s", f->section, f->after,
			   fs.num_forget, p ? " by " : "", p ? u->plugin : "", u->figures.ua,
			   u->figures.ra, u->figures.ta, metrics_mia(&u->figures), seconds);
	}
	model_free(&retrain);
	free(ids);
	unlearn_sets_free(&fs);
	unlearn_sets_free(&cum);
	return rc == 0 ? 0 : error_prefix(err, "[%s]", f->section);
}
