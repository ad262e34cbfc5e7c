/* The engine's state to a checkpoint and back: what a checkpoint view holds of a run (the
 * format itself is checkpoint.c's). A resume reads the whole file, parses and checks it, checks
 * it against the run it is to continue, and only then changes the engine: a refused checkpoint
 * leaves nothing half loaded. */
#define _GNU_SOURCE
#include "core/engine_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "util/blas.h"

_Static_assert(PHASE_COUNT == CHECKPOINT_PHASES && HOOK_COUNT == CHECKPOINT_HOOKS,
	       "another phase or hook needs another checkpoint format");
_Static_assert(ENGINE_UNLEARNING_MAX == CHECKPOINT_FORGETS_MAX &&
		       sizeof(((struct engine *)0)->resumed_kernel) == CHECKPOINT_KERNEL_MAX,
	       "a checkpoint holds what an engine does");

static struct checkpoint_span span(const void *data, uint64_t count)
{
	return (struct checkpoint_span){ data, count };
}

/* The number of a forget step in the file: the scenario's by index, those asked after. */
static uint64_t forget_which(const struct engine *e, const struct scenario_forget *g)
{
	if (g >= e->s->forgets && g < e->s->forgets + SCENARIO_FORGETS_MAX)
		return (uint64_t)(g - e->s->forgets);
	return SCENARIO_FORGETS_MAX + (uint64_t)(g - e->asked);
}

static void view_done(const struct engine *e, const struct results_unlearning *u,
		      struct checkpoint_forget_done *d)
{
	int64_t plugin = -1;
	for (size_t i = 0; u->plugin && i < e->num_plugins; i++)
		if (u->plugin == e->plugins[i].file.entry.name)
			plugin = (int64_t)i;
	*d = (struct checkpoint_forget_done){ .which = forget_which(e, u->forget),
					      .num_forget = u->num_forget,
					      .plugin = plugin,
					      .references = u->references,
					      .figures = u->figures };
	memcpy(d->reference, u->reference, sizeof(d->reference));
	d->has_cumulative = u->has_cumulative;
	d->num_forget_cumulative = u->num_forget_cumulative;
	d->cumulative = u->cumulative;
	memcpy(d->cumulative_reference, u->cumulative_reference, sizeof(d->cumulative_reference));
	d->num_compared = u->num_compared;
	for (size_t c = 0; c < u->num_compared; c++)
		for (size_t i = 0; i < e->num_plugins; i++)
			if (u->compared[c] == e->plugins[i].file.entry.name)
				d->compared[c] = (int64_t)i;
	memcpy(d->compared_failed, u->compared_failed, sizeof(d->compared_failed));
	memcpy(d->compared_figures, u->compared_figures, sizeof(d->compared_figures));
	memcpy(d->cumulative_compared, u->cumulative_compared, sizeof(d->cumulative_compared));
}

/* e's state as a view to write: it points into e, settings into a string of its own. */
static void view_of(const struct engine *e, const char *settings, size_t len,
		    struct checkpoint_view *v)
{
	size_t T = e->tasks.count;
	const char *kernel = blas_kernel();
	/* Between steps the position is the last step's: nothing to keep. */
	const struct engine_position *at = &e->at;
	memset(v, 0, sizeof(*v));
	v->version = CHECKPOINT_VERSION;
	v->settings = span(settings, len);
	v->kernel = span(kernel, strlen(kernel));
	v->num_tasks = T;
	v->num_params = e->model.num_params;
	v->num_samples = e->train.n;
	v->num_plugins = e->num_plugins;
	v->steps_done = e->rows_done;
	v->in_step = e->in_step;
	if (e->in_step)
		v->at = (struct checkpoint_position){ at->epoch, at->pos, at->batch, at->batches,
						      at->n, at->head_from, at->shuffled };
	v->step_seconds_so_far = e->in_step ? elapsed_since(&e->step_t0) : 0.0;
	v->batches_done = e->batches_done;
	v->batches_total = e->batches_total;
	v->samples_done = e->samples_done;
	v->elapsed = elapsed_since(&e->t0);
	v->total_seconds = e->total_seconds;
	memcpy(v->phase_seconds, e->phase_seconds, sizeof(v->phase_seconds));
	v->rng = e->rng;
	v->aug = e->aug;
	v->params = span(e->model.params, e->model.num_params);
	v->state = span(e->model.state, e->model.num_state);
	v->momentum = e->opt.velocity != NULL;
	v->sgd_started = e->opt.started;
	v->velocity = span(e->opt.velocity, e->opt.velocity ? e->model.num_params : 0);
	v->order = span(e->order, v->at.n);
	for (size_t k = 0; k < T; k++)
		v->train[k] = span(e->tasks.t[k].train, e->tasks.t[k].num_train);
	v->R = span(e->R, T * T);
	v->b = span(e->b, T);
	v->step_seconds = span(e->step_seconds, T);
	v->confusion = span(e->confusion, T);
	v->num_asked = e->num_asked;
	memcpy(v->asked, e->asked, e->num_asked * sizeof(*e->asked));
	v->num_done = e->num_unlearning;
	for (size_t i = 0; i < e->num_unlearning; i++)
		view_done(e, &e->unlearning[i], &v->done[i]);
	for (size_t i = 0; i < e->num_plugins; i++) {
		const struct engine_plugin *p = &e->plugins[i];
		struct checkpoint_plugin *c = &v->plugins[i];
		c->name = span(p->file.entry.name, strlen(p->file.entry.name));
		c->rng = p->svc.rng;
		c->reserved = p->svc.reserved;
		c->num_metrics = p->svc.num_metrics;
		memcpy(c->metrics, p->svc.metrics, sizeof(c->metrics));
		memcpy(c->hook_seconds, p->hook_seconds, sizeof(c->hook_seconds));
	}
	v->curves = &e->curves;
	v->num_classes = e->num_classes;
	v->class_known = span(e->class_confusion_known, T);
	v->class_confusion = span(e->class_confusion, T * e->num_classes * e->num_classes);
}

static int save_plugin(void *ctx, size_t i, FILE *f, struct error *err)
{
	return engine_plugin_save(ctx, i, f, err);
}

int engine_checkpoint(struct engine *e, const char *dir, struct error *err)
{
	size_t len;
	char *settings = checkpoint_settings(&e->s->ini, &len);
	struct checkpoint_view *v = malloc(sizeof(*v));
	int rc = settings && v ? 0 : error_set(err, "%s/%s: cannot write the checkpoint: out of "
					       "memory", dir, RESULTS_CHECKPOINT);
	if (rc == 0) {
		view_of(e, settings, len, v);
		rc = checkpoint_write(dir, v, save_plugin, e, err);
	}
	free(v);
	free(settings);
	return rc;
}

/* The checkpoint belongs to this run: the same settings, and the same shapes. */
static int check_view(const struct engine *e, const struct checkpoint_view *v,
		      struct error *err)
{
	if (checkpoint_same_settings(v, &e->s->ini, err) != 0)
		return -1;
	if (v->num_tasks != e->tasks.count || v->num_params != e->model.num_params ||
	    v->num_samples != e->train.n || v->num_plugins != e->num_plugins ||
	    v->momentum != (e->opt.velocity != NULL))
		return error_set(err, "made for %llu tasks, %llu parameters, %llu training samples "
				 "and %zu plugins; this run has %zu, %zu, %zu and %zu",
				 (unsigned long long)v->num_tasks,
				 (unsigned long long)v->num_params,
				 (unsigned long long)v->num_samples, v->num_plugins, e->tasks.count,
				 e->model.num_params, e->train.n, e->num_plugins);
	if (v->version >= 4 && v->num_classes != e->num_classes)
		return error_set(err, "made for %llu classes; this run has %zu",
				 (unsigned long long)v->num_classes, e->num_classes);
	if (v->state.count != e->model.num_state)
		return error_set(err, "it holds %llu values of batch norm's running statistics; "
				 "this run's model has %zu%s", (unsigned long long)v->state.count,
				 e->model.num_state, v->version < 3 ? " (checkpoint formats before "
				 "3 hold none: only an MLP resumes from them)" : "");
	for (size_t i = 0; i < v->num_plugins; i++) {
		const char *name = e->plugins[i].file.entry.name;
		const struct checkpoint_span *saved = &v->plugins[i].name;
		if (saved->count != strlen(name) || memcmp(saved->data, name, saved->count))
			return error_set(err, "its plugin %zu is not this run's %s", i + 1, name);
	}
	/* Forgets only ever take samples away. */
	for (size_t k = 0; k < v->num_tasks; k++) {
		const struct checkpoint_span *saved = &v->train[k];
		for (uint64_t i = 0; i < saved->count; i++) {
			uint32_t p;
			memcpy(&p, saved->data + i * sizeof(p), sizeof(p));
			if (!tasks_has_train(&e->tasks.t[k], p))
				return error_set(err, "its task %zu trains on sample %u, which "
						 "this run's does not have", k + 1, p);
		}
	}
	for (size_t i = 0; i < v->num_done; i++)
		if (v->done[i].which < SCENARIO_FORGETS_MAX &&
		    v->done[i].which >= e->s->num_forgets)
			return error_set(err, "it has done [forget%llu], which the scenario lacks",
					 (unsigned long long)v->done[i].which + 1);
	if (!v->in_step)
		return 0;
	size_t step = v->steps_done, n = 0;
	for (size_t k = e->s->baseline == BASELINE_JOINT ? 0 : step; k <= step; k++)
		n += v->train[k].count;
	if (v->at.n != n || v->at.epoch > e->s->epochs || v->at.head_from > e->s->epochs)
		return error_set(err, "malformed: its position within step %zu", step + 1);
	return 0;
}

/* Everything the checkpoint needs allocated, so that applying it cannot fail: the step's
 * order and the batch rows the plugins had reserved. */
static int prepare(struct engine *e, const struct checkpoint_view *v, struct error *err)
{
	if (engine_reserve_order(e, v->order.count, err) != 0)
		return -1;
	size_t reserved[SCENARIO_PLUGINS_MAX];
	for (size_t i = 0; i < e->num_plugins; i++) {
		reserved[i] = e->plugins[i].svc.reserved;
		e->plugins[i].svc.reserved = v->plugins[i].reserved;
	}
	int rc = engine_reserve_batch(e, err);
	for (size_t i = 0; i < e->num_plugins; i++)
		e->plugins[i].svc.reserved = reserved[i];
	return rc;
}

static void copy_span(void *dst, const struct checkpoint_span *s, size_t size)
{
	if (s->count)
		memcpy(dst, s->data, s->count * size);
}

/* Copies a checked view into the engine, and curves, read from it, into e->curves; nothing
 * here can fail. */
static void apply(struct engine *e, const struct checkpoint_view *v, struct curves *curves)
{
	if (v->version >= 4) {
		curves_free(&e->curves);
		e->curves = *curves;
		copy_span(e->class_confusion_known, &v->class_known, 1);
		copy_span(e->class_confusion, &v->class_confusion, sizeof(uint64_t));
	}
	size_t T = e->tasks.count;
	for (size_t k = 0; k < T; k++) {
		copy_span(e->tasks.t[k].train, &v->train[k], sizeof(uint32_t));
		e->tasks.t[k].num_train = v->train[k].count;
	}
	engine_refresh_tasks(e);
	copy_span(e->model.params, &v->params, sizeof(float));
	copy_span(e->model.state, &v->state, sizeof(float));
	copy_span(e->opt.velocity, &v->velocity, sizeof(float));
	e->opt.started = v->sgd_started;
	e->rng = v->rng;
	if (v->version >= 3)
		e->aug = v->aug;
	copy_span(e->order, &v->order, sizeof(uint64_t));
	e->at = (struct engine_position){ v->at.epoch, v->at.pos, v->at.batch, v->at.batches,
					  v->at.n, v->at.head_from, v->at.shuffled };
	e->step = e->rows_done = v->steps_done;
	e->resumed = 1;
	e->resume_step = v->in_step;
	snprintf(e->resumed_kernel, sizeof(e->resumed_kernel), "%.*s", (int)v->kernel.count,
		 (const char *)v->kernel.data);
	copy_span(e->R, &v->R, sizeof(double));
	copy_span(e->b, &v->b, sizeof(double));
	copy_span(e->step_seconds, &v->step_seconds, sizeof(double));
	copy_span(e->confusion, &v->confusion, sizeof(double));
	e->batches_done = e->checkpoint_batches = v->batches_done;
	e->batches_total = v->batches_total;
	e->samples_done = v->samples_done;
	e->total_seconds = v->total_seconds;
	memcpy(e->phase_seconds, v->phase_seconds, sizeof(e->phase_seconds));
	e->t0 = elapsed_ago(v->elapsed);
	e->step_t0 = elapsed_ago(v->step_seconds_so_far);

	e->num_asked = v->num_asked;
	memcpy(e->asked, v->asked, v->num_asked * sizeof(*e->asked));
	e->num_unlearning = v->num_done;
	for (size_t i = 0; i < v->num_done; i++) {
		const struct checkpoint_forget_done *d = &v->done[i];
		struct results_unlearning *u = &e->unlearning[i];
		u->forget = d->which < SCENARIO_FORGETS_MAX
				    ? &e->s->forgets[d->which]
				    : &e->asked[d->which - SCENARIO_FORGETS_MAX];
		u->num_forget = d->num_forget;
		u->plugin = d->plugin < 0 ? NULL : e->plugins[d->plugin].file.entry.name;
		u->figures = d->figures;
		u->references = d->references;
		memcpy(u->reference, d->reference, sizeof(u->reference));
		u->has_cumulative = d->has_cumulative;
		u->num_forget_cumulative = d->num_forget_cumulative;
		u->cumulative = d->cumulative;
		memcpy(u->cumulative_reference, d->cumulative_reference,
		       sizeof(u->cumulative_reference));
		u->num_compared = d->num_compared;
		for (size_t c = 0; c < d->num_compared; c++)
			u->compared[c] = e->plugins[d->compared[c]].file.entry.name;
		memcpy(u->compared_failed, d->compared_failed, sizeof(u->compared_failed));
		memcpy(u->compared_figures, d->compared_figures, sizeof(u->compared_figures));
		memcpy(u->cumulative_compared, d->cumulative_compared,
		       sizeof(u->cumulative_compared));
	}
	for (size_t i = 0; i < e->num_plugins; i++) {
		struct engine_plugin *p = &e->plugins[i];
		const struct checkpoint_plugin *c = &v->plugins[i];
		p->svc.rng = c->rng;
		p->svc.reserved = c->reserved;
		memcpy(p->svc.metrics, c->metrics, sizeof(c->metrics));
		p->svc.num_metrics = c->num_metrics;
		memcpy(p->hook_seconds, c->hook_seconds, sizeof(p->hook_seconds));
	}
	/* prepare made the room: this allocates nothing. */
	engine_reserve_batch(e, NULL);
}

int engine_resume(struct engine *e, const char *dir, struct error *err)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, RESULTS_CHECKPOINT) >= sizeof(path))
		return error_set(err, "%s/%s: %s", dir, RESULTS_CHECKPOINT, strerror(ENAMETOOLONG));
	size_t size;
	unsigned char *data = checkpoint_read(path, &size, err);
	if (!data)
		return -1; /* the error names the file */
	struct checkpoint_view *v = malloc(sizeof(*v));
	struct curves curves = { 0 };
	int rc = -1;
	if (!v)
		error_set(err, "out of memory");
	else if (checkpoint_parse(data, size, v, err) == 0 && check_view(e, v, err) == 0 &&
		 prepare(e, v, err) == 0 &&
		 (v->version < 4 || checkpoint_curves(v, &curves, err) == 0)) {
		const void *states[SCENARIO_PLUGINS_MAX];
		size_t sizes[SCENARIO_PLUGINS_MAX];
		for (size_t i = 0; i < v->num_plugins; i++) {
			states[i] = v->plugins[i].state.data;
			sizes[i] = v->plugins[i].state.count;
		}
		rc = engine_plugins_restore(e, states, sizes, err);
	}
	if (rc == 0)
		apply(e, v, &curves);
	else
		curves_free(&curves);
	free(v);
	free(data);
	return rc == 0 ? 0 : error_prefix(err, "%s", path);
}

int engine_kernel_warning(const struct engine *e, const char *now, char *buf, size_t size)
{
	if (!e->resumed_kernel[0] || !strcmp(e->resumed_kernel, now))
		return 0;
	snprintf(buf, size, "the checkpoint was written under OpenBLAS's %s "
		 "kernel and resumes under %s, whose products round differently: the results "
		 "will differ in their last bits from an uninterrupted run's", e->resumed_kernel,
		 now);
	return 1;
}

void engine_resume_note(const struct engine *e, const char *dir, char *buf, size_t size)
{
	size_t T = e->tasks.count;
	const struct engine_position *at = &e->at;
	if (e->resume_step)
		snprintf(buf, size, "resuming %s from step %zu/%zu, epoch %zu/%zu, after batch "
			 "%zu/%zu", dir, e->step + 1, T, at->epoch + 1, e->s->epochs, at->batch,
			 at->batches);
	else
		snprintf(buf, size, "resuming %s after step %zu/%zu", dir, e->rows_done, T);
}
