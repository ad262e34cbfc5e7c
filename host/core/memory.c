#define _GNU_SOURCE
#include "core/memory.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "core/unlearn.h"


/* engine.c's and unlearn.c's EVAL_CHUNK: rows per evaluation pass. */
#define EVAL_ROWS 1000
#define FLOAT ((uint64_t)sizeof(float))

/* What the estimate counts, in bytes, for P parameters, A activations a row (every layer's
 * outputs but those computed in place), D values a sample and C classes:
 * - data: the pixels and labels of both splits, (D + 1) a sample; the tasks' lists of sample
 *   positions, 4 bytes a sample (every task lists every sample when permuted, and its
 *   permutation);
 * - model: the model and its initial copy, parameters and gradients, 4 P floats; SGD's velocity,
 *   P more with momentum;
 * - workspace: the model's activations and deltas, 2 A floats for each of the most rows it
 *   takes at once (the training batch with the rows plugins append, an evaluation pass of up to
 *   1000 test samples, a plugin's pass); the batch's inputs, logits and their gradients; the
 *   step's order (8 bytes a sample); the evaluation pass's inputs and logits;
 * - plugins: each known plugin's own account of its memory (the header comment of its file,
 *   METHODS.md): what it keeps between hooks, plus the largest peak one hook adds; a plugin
 *   this file does not know, one copy of the model as model_clone makes it;
 * - forget steps, when the scenario has some or lists an unlearning plugin (the dashboard can
 *   forget), the most one of their parts adds: the forget sets, then in turn each reference
 *   method (a copy of the model trained on them, or, for retrain = sequence, a second engine
 *   with its own plugins), the unlearning plugin's own peak, and the measurement of a model
 *   (a copy, relearning's snapshots, every sample's loss);
 * - reading the pixels, before the model exists: the labels, lists and pixels so far and a .gz
 *   image file's compressed bytes while it inflates, which for Fashion-MNIST is the run's peak.
 * It counts what a run touches, which is what becomes resident: a buffer allocated for more
 * rows than ever pass through it counts at the rows that do. Left out, as small beside these: the accuracy matrix and other bookkeeping, the plugins'
 * tables, per-class scratch, the program itself; as passing: on --resume, the checkpoint file
 * and the plugins' fresh instances while it loads. */

struct shape {
	uint64_t P, acts;
	uint64_t widest;  /* the most inputs of a layer */
	uint64_t head_in; /* the last layer's inputs: OVOR's features */
	uint64_t dim, classes, tasks;
	uint64_t batch;	  /* train.batch_size */
	uint64_t rows;	  /* the training batch: batch_size and the rows plugins append */
	uint64_t ws_rows; /* the model's workspace: the most rows through it at once */
	uint64_t eval_rows;
	uint64_t n_train, n_test;
	uint64_t largest;	/* the largest task's training samples */
	uint64_t task_classes;	/* the most classes of a task */
	uint64_t order;		/* samples in the largest step's order */
	uint64_t lists;		/* the tasks' position lists, in bytes */
	int momentum;
};

/* What a plugin holds between hooks, the peak one of its learning hooks adds on top, the peak
 * its unlearn adds, the rows it appends to every training batch and the most it passes through
 * a model at once. */
struct plugin_memory {
	uint64_t held, transient, unlearning, batch_rows, pass_rows;
};

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* A copy of the model as model_clone makes it: parameters, gradients, and a
 * workspace of rows. */
static uint64_t clone_bytes(const struct shape *sh, uint64_t rows)
{
	return 2 * sh->P * FLOAT + 2 * rows * sh->acts * FLOAT;
}

/* Plugin p's value of key as the scenario sets it or the plugin declares it, NULL for a key it
 * does not declare (another plugin under a shipped one's name). */
static const lethe_param_value *param(const struct memory_plugin *p, const char *key)
{
	for (uint32_t i = 0; i < p->num_params; i++)
		if (!strcmp(p->params[i].key, key))
			return &p->values[i];
	return NULL;
}

static uint64_t param_int(const struct memory_plugin *p, const char *key, uint64_t fallback)
{
	const lethe_param_value *v = param(p, key);
	return v && v->i >= 0 ? (uint64_t)v->i : fallback;
}

static int param_is(const struct memory_plugin *p, const char *key, const char *choice)
{
	const lethe_param_value *v = param(p, key);
	return v && v->s && !strcmp(v->s, choice);
}

/* ewc.c: S, Ā and (separate) C, P floats each; after_task adds the task's Fisher and fisher.c's
 * scratch rows, chunk at a time through the model. */
static void ewc_memory(const struct memory_plugin *p, const struct shape *sh,
		       struct plugin_memory *m)
{
	uint64_t chunk = param_int(p, "chunk", 256);
	m->held = (param_is(p, "mode", "online") ? 2 : 3) * sh->P * FLOAT;
	m->transient = sh->P * FLOAT +
		       chunk * (sh->dim + sh->widest + sh->acts + 4 * sh->classes + 3) * FLOAT;
	m->pass_rows = chunk;
}

/* l2.c: the anchor, P floats. */
static void l2_memory(const struct memory_plugin *p, const struct shape *sh,
		      struct plugin_memory *m)
{
	(void)p;
	m->held = sh->P * FLOAT;
}

/* rehearsal.c: max_stored samples as the host keeps them (pixels, an int32 label, a uint64 id,
 * a uint32 task) and a slot index each. Rows appended: the reservoir's replay_batch (0: the
 * batch size); a schedule's share of every earlier task, at most a task's worth an epoch each,
 * spread over the batches, so at most (tasks - 1) x batch_size, and the epoch's draw. */
static void rehearsal_memory(const struct memory_plugin *p, const struct shape *sh,
			     struct plugin_memory *m)
{
	m->held = param_int(p, "max_stored", 500) * (sh->dim + 24);
	if (param_is(p, "schedule", "reservoir")) {
		m->batch_rows = param_int(p, "replay_batch", 0);
		m->batch_rows = m->batch_rows ? m->batch_rows : sh->batch;
	} else {
		m->batch_rows = (sh->tasks - 1) * sh->batch;
		m->held += (sh->tasks - 1) * sh->largest * 8;
	}
}

/* ovor.c and outliers.c: the task's features (the head's inputs) with three figures a row, the
 * distances' block (OUTLIERS_BLOCK floats, or a row a sample), the outliers kept and their
 * candidates, the outliers' logits and gradients; 256 rows a forward pass while the features
 * are computed, and the calibration's order, labels and energies. */
static void ovor_memory(const struct memory_plugin *p, const struct shape *sh,
			struct plugin_memory *m)
{
	uint64_t kept = param_int(p, "per_class", 40) * sh->task_classes;
	uint64_t cands = param_int(p, "boundary", 50) * param_int(p, "candidates", 10);
	m->held = (sh->largest * (sh->head_in + 3) + max64(sh->largest, 1u << 20) +
		   2 * kept * sh->head_in + cands * (sh->head_in + 3) + 2 * kept * sh->classes) *
		  FLOAT;
	m->transient = 256 * (sh->dim + sh->classes) * FLOAT + 16 * sh->largest;
	m->pass_rows = 256;
}

/* sfd.c: nothing between requests; inside unlearn the teacher (a model_clone, through which
 * the synth inputs pass at once), the inputs with their logits and the inversion's gradients,
 * a step's buffers of batch rows, and (data_free = false) the retained samples' ids. */
static void sfd_memory(const struct memory_plugin *p, const struct shape *sh,
		       struct plugin_memory *m)
{
	uint64_t synth = param_int(p, "synth", 256), batch = param_int(p, "batch", 128);
	m->unlearning = clone_bytes(sh, max64(sh->ws_rows, synth)) +
		       synth * (2 * sh->dim + 3 * sh->classes) * FLOAT +
		       batch * (sh->dim + 4 * sh->classes) * FLOAT +
		       (param_int(p, "data_free", 1) ? 0 : 8 * sh->n_train);
	m->pass_rows = batch;
}

/* repulsion.c: nothing between requests; inside unlearn one model_clone adapted K times in
 * turn, the adapted models' mean and the anchor's Fisher (4 P floats with the clone's two),
 * and buffers of batch_size rows (0: the training batch size). */
static void repulsion_memory(const struct memory_plugin *p, const struct shape *sh,
			     struct plugin_memory *m)
{
	uint64_t batch = param_int(p, "batch_size", 128);
	batch = batch ? batch : sh->batch;
	m->unlearning = clone_bytes(sh, max64(sh->ws_rows, batch)) + 2 * sh->P * FLOAT +
		       batch * (sh->dim + 2 * sh->classes) * FLOAT;
	m->pass_rows = batch;
}

static const struct {
	const char *name;
	void (*fn)(const struct memory_plugin *p, const struct shape *sh,
		   struct plugin_memory *m);
} known[] = {
	{ "ewc", ewc_memory },
	{ "l2", l2_memory },
	{ "rehearsal", rehearsal_memory },
	{ "ovor", ovor_memory },
	{ "sfd", sfd_memory },
	{ "repulsion", repulsion_memory },
};

static void plugin_memory(const struct memory_plugin *p, const struct shape *sh,
			  struct plugin_memory *m)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++) {
		if (!strcmp(p->name, known[i].name)) {
			known[i].fn(p, sh, m);
			return;
		}
	}
	m->held = clone_bytes(sh, sh->ws_rows);
}

static void shape_of(const struct memory_run *r, struct shape *sh)
{
	const struct scenario *s = r->s;
	const struct task_list *tl = r->tasks;
	uint64_t in = r->train->dim, seen = 0;

	memset(sh, 0, sizeof(*sh));
	sh->dim = r->train->dim;
	sh->classes = r->num_classes;
	sh->tasks = tl->count;
	sh->batch = s->batch_size;
	sh->n_train = r->train->n;
	sh->n_test = r->test->n;
	sh->momentum = s->momentum > 0;
	/* The scenario's model on this data (checked before the estimate, or a summary of zero
	 * parameters for the estimate to weigh nothing of it). */
	struct model_summary ms;
	struct model_shape shape = { r->train->channels, r->train->rows, r->train->cols };
	struct error err;
	if (model_desc_check(&s->model, shape, sh->classes, &ms, &err) != 0)
		memset(&ms, 0, sizeof(ms));
	sh->P = ms.num_params;
	for (size_t i = 0; i < s->model.num_items && ms.num_params; i++) {
		const struct model_item *it = &s->model.item[i];
		struct model_shape out = ms.out[i];
		uint64_t len = (uint64_t)out.c * out.h * out.w;
		/* ReLU and flatten work in place; a BasicBlock holds about five outputs' worth. */
		if (it->kind != MODEL_ITEM_RELU && it->kind != MODEL_ITEM_FLATTEN)
			sh->acts += it->kind == MODEL_ITEM_RES ? 5 * len : len;
		if (it->kind == MODEL_ITEM_DENSE) {
			sh->widest = max64(sh->widest, in);
			sh->head_in = in;
		}
		in = len;
	}
	for (size_t k = 0; k < tl->count; k++) {
		const struct task *t = &tl->t[k];
		seen += t->num_train;
		sh->largest = max64(sh->largest, t->num_train);
		sh->order = max64(sh->order, s->baseline == BASELINE_JOINT ? seen : t->num_train);
		sh->eval_rows = max64(sh->eval_rows, t->num_test < EVAL_ROWS ? t->num_test : EVAL_ROWS);
		sh->task_classes = max64(sh->task_classes, t->num_classes);
	}
	int permuted = s->tasks_kind == TASKS_PERMUTED;
	sh->lists = (permuted ? sh->tasks : 1) * 4 * (sh->n_train + sh->n_test) +
		    (permuted ? sh->tasks * 4 * sh->dim : 0);
}

/* Activations and deltas of the rows through the model at once, the batch and its per-row
 * arrays (label, task, id, mask), the step's order, and an evaluation pass when it evaluates
 * (the retraining engine does not). */
static uint64_t workspace_bytes(const struct shape *sh, uint64_t ws_rows, uint64_t eval_rows)
{
	return 2 * ws_rows * sh->acts * FLOAT +
	       sh->rows * ((sh->dim + 2 * sh->classes) * FLOAT + 24) + 8 * sh->order +
	       eval_rows * ((sh->dim + sh->classes) * FLOAT + 4);
}

/* The most a forget step holds beyond the engine: its sets (the ids, D_f, D_r and the test
 * sets, 8 bytes a sample), then the largest of its parts, one at a time (engine.c's
 * forget_step, unlearn.c): a reference method's model, trained a batch at a time, then
 * measured beside it; the unlearning plugin's own peak; the measurement of the unlearned
 * model. engine2 is the retraining engine of retrain = sequence. */
static uint64_t forget_bytes(const struct memory_run *r, const struct shape *sh,
			     uint64_t engine2, uint64_t unlearning)
{
	const struct scenario *s = r->s;
	if (!s->num_forgets && !unlearning)
		return 0;
	uint64_t cap = max64(sh->batch, EVAL_ROWS), P = sh->P * FLOAT;
	uint64_t row = (sh->dim + 2 * sh->classes) * FLOAT + 12;
	/* A copy evaluated cap rows at a time, relearning's snapshot of the parameters (and with
	 * momentum, of the velocity, and the velocity), every sample's loss. */
	uint64_t measure = clone_bytes(sh, cap) + cap * row + P * (sh->momentum ? 3 : 1) +
			   8 * (sh->n_train + sh->n_test);
	uint64_t trained = clone_bytes(sh, sh->batch);
	uint64_t peak = max64(measure, unlearning);
	/* With no [forgetN], the dashboard's forget asks for retrain = sequence. */
	for (size_t i = 0; i < s->num_forgets || i == 0; i++) {
		unsigned refs = s->num_forgets ? s->forgets[i].references : 1u << REFERENCE_RETRAIN;
		int joint = s->num_forgets && s->forgets[i].retrain_joint;
		for (int ref = 0; ref < REFERENCE_COUNT; ref++) {
			if (!(refs & (1u << ref)))
				continue;
			if (ref == REFERENCE_RETRAIN && !joint) {
				/* The engine and the copy it hands back (no workspace). */
				peak = max64(peak, max64(engine2 + 2 * P, 2 * P + measure));
				continue;
			}
			uint64_t train = trained + sh->batch * row + (sh->momentum ? P : 0) +
					 (ref == REFERENCE_GRADIENT_ASCENT ? P : 0) +
					 16 * sh->n_train;
			peak = max64(peak, max64(train, trained + measure));
		}
	}
	return 16 * sh->n_train + 8 * sh->n_test + peak;
}

void memory_estimate(const struct memory_run *r, struct memory_estimate *m)
{
	struct plugin_memory pm;
	struct shape sh;
	uint64_t pass = 0, held = 0, transient = 0, unlearning = 0;

	shape_of(r, &sh);
	sh.rows = sh.batch;
	for (size_t i = 0; i < r->num_plugins; i++) {
		plugin_memory(&r->plugins[i], &sh, &pm);
		sh.rows += pm.batch_rows;
		pass = max64(pass, pm.pass_rows);
	}
	sh.ws_rows = max64(max64(sh.rows, sh.eval_rows), pass);
	for (size_t i = 0; i < r->num_plugins; i++) {
		plugin_memory(&r->plugins[i], &sh, &pm);
		held += pm.held;
		transient = max64(transient, pm.transient);
		unlearning = max64(unlearning, pm.unlearning);
	}
	memset(m, 0, sizeof(*m));
	m->data = (sh.n_train + sh.n_test) * (sh.dim + 1) + sh.lists;
	m->model = (sh.momentum ? 5 : 4) * sh.P * FLOAT;
	m->workspace = workspace_bytes(&sh, sh.ws_rows, sh.eval_rows);
	m->plugins = held + transient;
	uint64_t engine2 = sh.lists + m->model + workspace_bytes(&sh, max64(sh.rows, pass), 0) +
			   held + transient;
	uint64_t forget = forget_bytes(r, &sh, engine2, unlearning);
	m->forget = forget > transient ? forget - transient : 0;
	m->total = m->data + m->model + m->workspace + m->plugins + m->forget;
	/* The pixels are read train first, each split's .gz (or read buffer) beside what is in by
	 * then. */
	uint64_t train = sh.n_train * sh.dim, test = sh.n_test * sh.dim;
	uint64_t reading = sh.n_train + sh.n_test + sh.lists +
			   max64(train + r->train->reading, train + test + r->test->reading);
	m->reading = reading > m->total ? reading - m->total : 0;
	m->total += m->reading;
}

/* The figure of key ("MemAvailable:   123 kB") in a /proc file, in bytes. */
static int proc_kib(const char *path, const char *key, uint64_t *bytes)
{
	FILE *f = fopen(path, "re");
	char line[256];
	size_t len = strlen(key);
	int rc = -1;

	if (!f)
		return -1;
	while (rc < 0 && fgets(line, sizeof(line), f)) {
		unsigned long long kib;
		if (!strncmp(line, key, len) && line[len] == ':' &&
		    sscanf(line + len + 1, "%llu", &kib) == 1) {
			*bytes = (uint64_t)kib * 1024;
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

int memory_available(struct memory_available *a)
{
	static const struct {
		int resource;
		const char *used; /* what /proc/self/status says the process holds of it */
		const char *source;
	} limits[] = {
		{ RLIMIT_AS, "VmSize", "RLIMIT_AS, less what the process maps" },
		{ RLIMIT_DATA, "VmData", "RLIMIT_DATA, less what the process holds" },
	};
	int found = proc_kib("/proc/meminfo", "MemAvailable", &a->bytes) == 0;

	if (found)
		a->source = "MemAvailable";
	for (size_t i = 0; i < sizeof(limits) / sizeof(*limits); i++) {
		struct rlimit lim;
		uint64_t used = 0;
		if (getrlimit(limits[i].resource, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
			continue;
		proc_kib("/proc/self/status", limits[i].used, &used);
		uint64_t left = lim.rlim_cur > used ? lim.rlim_cur - used : 0;
		if (!found || left < a->bytes) {
			a->bytes = left;
			a->source = limits[i].source;
			found = 1;
		}
	}
	return found ? 0 : -1;
}

void memory_format(uint64_t bytes, char *out, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, size, "%llu B", (unsigned long long)bytes);
		return;
	}
	for (v /= 1024; v >= 1024 && u + 1 < sizeof(units) / sizeof(*units); v /= 1024)
		u++;
	/* Whole KiB and MiB; a GiB and more with a decimal, where it still matters. */
	if (u < 2)
		snprintf(out, size, "%.0f %s", v, units[u]);
	else
		snprintf(out, size, "%.1f %s", v, units[u]);
}

int memory_check(const struct memory_estimate *m, const struct memory_available *a,
		 const char *path, struct error *e)
{
	const struct {
		const char *name;
		uint64_t bytes;
	} parts[] = {
		{ "model", m->model },	   { "workspace", m->workspace },
		{ "plugins", m->plugins }, { "forget steps", m->forget },
		{ "data", m->data },	   { "reading the data", m->reading },
	};
	char need[32], have[32], figure[32], list[256] = "";
	size_t len = 0;

	if (m->total <= a->bytes)
		return 0;
	memory_format(m->total, need, sizeof(need));
	memory_format(a->bytes, have, sizeof(have));
	for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++) {
		if (!parts[i].bytes)
			continue;
		memory_format(parts[i].bytes, figure, sizeof(figure));
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s %s", len ? ", " : "",
					parts[i].name, figure);
	}
	return error_set(e, "%s%sthe run needs about %s at its peak (%s), more than the %s "
			 "available (%s)", path ? path : "", path ? ": " : "", need, list, have,
			 a->source);
}

int memory_admit(const struct memory_run *r, struct error *err)
{
	struct memory_estimate m;
	struct memory_available a;

	if (memory_available(&a) != 0)
		return 0;
	memory_estimate(r, &m);
	return memory_check(&m, &a, r->s->ini.path, err);
}
