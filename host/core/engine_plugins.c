/* The engine's plugins: opening and creating them, calling their hooks (timed, their results
 * and what they may break checked), and their state for checkpoints. */
#define _GNU_SOURCE
#include "core/engine_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/elementwise.h"
#include "scenario/params.h"

/* Turns a hook's failure into "plugin NAME: HOOK failed (status N): reason"; a hook that called
 * a service which could not say it refused its arguments fails too. */
int engine_hook_result(struct engine_plugin *p, const char *hook, int rc,
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

const char *engine_hook_name(enum engine_hook h)
{
	return hook_names[h];
}

/* Every hook call is timed: two clock reads are tens of nanoseconds against a batch's
 * milliseconds, and they tell where a plugin's cost lies (the Fisher, the outliers). */
void engine_hook_timed(struct engine *e, struct engine_plugin *p, enum engine_hook h,
		       const struct timespec *t0)
{
	double dt = elapsed_since(t0);
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

/* The parameters' state before any plugin's hook: non-finite ones come from the training
 * (batch norm's running statistics follow the batches'). */
int engine_params_finite(const struct engine *e, struct error *err)
{
	size_t bad = elementwise_count_nonfinite(e->model.params, e->model.num_params);
	size_t state = elementwise_count_nonfinite(e->model.state, e->model.num_state);
	if (bad == 0 && state == 0)
		return 0;
	if (bad == 0)
		return error_set(err, "%zu of %zu batch norm running statistics are NaN or "
				 "infinite: the training diverged; train.lr = %g may be too large",
				 state, e->model.num_state, e->s->lr);
	return error_set(err, "%zu of %zu parameters are NaN or infinite: the training diverged; "
			 "train.lr = %g may be too large", bad, e->model.num_params, e->s->lr);
}

/* Before the first plugin's hook `id`: the parameters it is given are finite. (The batch's
 * rows, dlogits and the gradients the host makes from finite ones.) */
int engine_guard_before(const struct engine *e, enum engine_hook id, struct error *err)
{
	return hook_guards[id] == GUARD_PARAMS ? engine_params_finite(e, err) : 0;
}

/* After plugin p's hook `id`: what the hook may break is still finite. */
int engine_guard_after(const struct engine *e, const struct engine_plugin *p,
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
	size_t bad = elementwise_count_nonfinite(v, n);
	/* The hooks that may change the parameters may change batch norm's statistics too. */
	if (bad == 0 && hook_guards[id] == GUARD_PARAMS) {
		v = e->model.state, n = e->model.num_state;
		what = "batch norm running statistics";
		bad = elementwise_count_nonfinite(v, n);
	}
	if (bad == 0)
		return 0;
	return error_set(err, "plugin %s: %s left %zu of %zu %s NaN or infinite", p->file.entry.name,
			 hook_names[id], bad, n, what);
}

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

static void plugin_log(void *ctx, const char *source, lethe_log_level level, const char *msg)
{
	engine_log(ctx, source, level, "%s", msg);
}

/* batch_reserve for plugin `index`: never from a per-batch hook, whose batch is in use. */
static int plugin_reserve(void *ctx, size_t index, size_t rows, struct error *err)
{
	struct engine *e = ctx;
	if (e->in_batch)
		return error_set(err, "called from a per-batch hook");
	/* A forward pass takes at most INT_MAX rows: a larger batch could never train. */
	size_t others = e->s->batch_size;
	for (size_t i = 0; i < e->num_plugins; i++)
		if (i != index)
			others += e->plugins[i].svc.reserved;
	if (others > INT_MAX || rows > INT_MAX - others)
		return error_set(err, "%zu extra rows would make a batch of more than %d rows",
				 rows, INT_MAX);
	struct services_ctx *c = &e->plugins[index].svc;
	size_t was = c->reserved;
	c->reserved = rows;
	if (engine_reserve_batch(e, err) != 0) {
		c->reserved = was;
		return -1;
	}
	return 0;
}

/* The plugins' files and parameter values: what a run's memory estimate reads of them. */
int engine_plugins_open(struct engine *e, const struct plugin_path *pp, struct error *err)
{
	const struct scenario *s = e->s;
	e->services = (struct services_env){
		.run_info = &e->run_info,
		.task_info = e->task_info,
		.tasks = &e->tasks,
		.train = &e->train,
		.test = &e->test,
		.model = &e->model,
		.initial = &e->initial,
		.seed = s->seed,
		.log = plugin_log,
		.reserve = plugin_reserve,
		.ctx = e,
	};
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
		services_init(&p->host, &p->svc, &e->services, i, p->file.entry.name,
			      p->file.plugin_abi.minor);
	}
	return 0;
}

int engine_plugins_create(struct engine *e, struct error *err)
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

int engine_plugins_predict(struct engine *e, uint32_t task, const float *x, size_t n,
			   const uint8_t *mask, float *logits, struct error *err)
{
	lethe_predict pb = {
		.struct_size = sizeof(pb), .task = task, .n = n, .x = x, .mask = mask,
	};
	for (size_t i = 0; i < e->num_plugins; i++) {
		struct engine_plugin *p = &e->plugins[i];
		if (!p->hooks.on_predict)
			continue;
		services_enter(&p->svc);
		int rc = p->hooks.on_predict(p->inst, &pb, logits);
		if (engine_hook_result(p, "on_predict", rc, err) != 0)
			return -1;
		size_t bad = elementwise_count_nonfinite(logits, n * e->num_classes);
		if (bad)
			return error_set(err, "plugin %s: on_predict left %zu of %zu logits NaN or "
					 "infinite", p->file.entry.name, bad, n * e->num_classes);
	}
	return 0;
}

struct engine_plugin *engine_plugin_named(struct engine *e, const char *section)
{
	for (size_t i = 0; i < e->num_plugins; i++)
		if (!strcmp(e->plugins[i].section, section))
			return &e->plugins[i];
	return NULL;
}

/* The last epochs of the step that train the head alone: the most any plugin asks for. */
size_t engine_plugins_head_epochs(struct engine *e, const lethe_task_info *info)
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
		if (engine_hook_result(p, "save", p->hooks.save(p->inst, &out), err) != 0)
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
		if (engine_hook_result(p, "load", p->hooks.load(p->inst, &in, version), err) != 0)
			return -1;
	}
	if (r.left != 0)
		return error_set(err, "plugin %s: load left %llu bytes of its state unread",
				 p->file.entry.name, (unsigned long long)r.left);
	return 0;
}

static void snapshot_take(struct services_snapshot *was, const struct services_ctx *c)
{
	was->rng = c->rng;
	was->reserved = c->reserved;
	memcpy(was->metrics, c->metrics, sizeof(c->metrics));
	was->num_metrics = c->num_metrics;
}

static void snapshot_put(struct services_ctx *c, const struct services_snapshot *was)
{
	c->rng = was->rng;
	c->reserved = was->reserved;
	memcpy(c->metrics, was->metrics, sizeof(c->metrics));
	c->num_metrics = was->num_metrics;
}

int engine_plugin_fork(struct engine *e, size_t i, struct engine_fork *k, struct error *err)
{
	struct engine_plugin *p = &e->plugins[i];
	struct services_ctx *c = &p->svc;
	k->live = p->inst;
	snapshot_take(&k->svc, c);
	k->reports = c->reports;
	memcpy(k->hook_seconds, p->hook_seconds, sizeof(k->hook_seconds));
	FILE *f = tmpfile();
	if (!f)
		return error_set(err, "plugin %s: a copy of its state: %s", p->file.entry.name,
				 strerror(errno));
	int rc = engine_plugin_save(e, i, f, err);
	lethe_plugin *fork = NULL;
	if (rc == 0 && fseek(f, 0, SEEK_SET) != 0)
		rc = error_set(err, "plugin %s: a copy of its state: %s", p->file.entry.name,
			       strerror(errno));
	if (rc == 0 && !(fork = plugin_create(p, err)))
		rc = -1;
	if (fork) {
		plugin_use(p, fork);
		rc = engine_plugin_load(e, i, f, err);
	}
	fclose(f);
	c->rng = k->svc.rng; /* create and load may draw: the hook gets the stream as it stands */
	if (rc != 0)
		engine_plugin_join(e, i, k);
	return rc;
}

void engine_plugin_join(struct engine *e, size_t i, const struct engine_fork *k)
{
	struct engine_plugin *p = &e->plugins[i];
	struct services_ctx *c = &p->svc;
	if (p->inst != k->live)
		p->inst->destroy(p->inst);
	plugin_use(p, k->live);
	snapshot_put(c, &k->svc);
	c->reports = k->reports;
	memcpy(p->hook_seconds, k->hook_seconds, sizeof(p->hook_seconds));
}

int engine_plugins_restore(struct engine *e, const void *const *states, const size_t *sizes,
			   struct error *err)
{
	lethe_plugin *fresh[SCENARIO_PLUGINS_MAX] = { 0 };
	struct services_snapshot was[SCENARIO_PLUGINS_MAX];
	int rc = 0;
	for (size_t i = 0; i < e->num_plugins; i++)
		snapshot_take(&was[i], &e->plugins[i].svc);
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
		snapshot_put(&p->svc, &was[i]);
	}
	return rc;
}
