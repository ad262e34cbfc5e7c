/* Checkpoints: the file round-trips through an engine; every truncation, a corrupt byte, another
 * format or byte order, a malformed part and another scenario are refused with the file named
 * and nothing loaded; another BLAS kernel (with a warning) and the older format resume; a
 * failed write leaves the previous file; runs stopped at many places, or rolled back to an
 * earlier checkpoint as a kill would, resume in a fresh engine and end bit for bit as
 * uninterrupted ones, for every shipped plugin; and only the checkpoints allocate. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <libdeflate.h>

#include "core/checkpoint.h"
#include "core/engine.h"
#include "scenario/scenario.h"
#include "util/blas.h"
#include "alloc_hook.h"
#include "testutil.h"

/* ---- scenarios and runs ---- */

/* The plugins and their settings of each scenario; the data is the same for all, but for the
 * augmentation data_keys may add. */
struct kind {
	const char *plugins, *train, *sections, *data_keys;
};

static const struct kind kinds[] = {
	{ "ewc, rehearsal", "epochs = 2\nmomentum = 0.9\n",
	  "[ewc]\nlambda = 5\n[rehearsal]\nschedule = power-law\nmax_stored = 60\n", NULL },
	{ "rehearsal, l2", "epochs = 2\n",
	  "[rehearsal]\nmax_stored = 40\nreplay_batch = 8\n[l2]\n", NULL },
	{ "ovor, l2", "epochs = 3\n", "[ovor]\nhead_fraction = 0.34\nk = 5\nboundary = 8\n"
	  "candidates = 4\nper_class = 6\n[l2]\nlambda = 0.001\n", NULL },
	{ "rehearsal, repulsion", "epochs = 2\n",
	  "[rehearsal]\nmax_stored = 60\n[repulsion]\nunlearn_steps = 12\nadapt_steps = 4\n"
	  "fisher_samples = 40\n[forget1]\nafter = 2\nclasses = 1\nplugin = repulsion\n"
	  "references = retrain, finetune\nrelearn_max_epochs = 2\n", NULL },
	{ "rehearsal, sfd", "epochs = 2\n",
	  "[rehearsal]\nschedule = uniform\nmax_stored = 60\n[sfd]\nsteps = 8\nsynth = 24\n"
	  "synth_steps = 3\n[forget1]\nafter = 2\nclasses = 3\nplugin = sfd\n"
	  "references = finetune\nrelearn_max_epochs = 2\n", NULL },
	/* Herded exemplars whose sets shrink at each task's end (50 over 2, then 4 classes: 48)
	 * while a spread of the task's slots was still held. */
	{ "icarl", "epochs = 2\n", "[icarl]\nmax_stored = 50\n", NULL },
	{ "bic", "epochs = 2\n", "[bic]\nmax_stored = 50\n", NULL },
	/* Each training sample's crop and flip drawn from a stream the checkpoint keeps. */
	{ "rehearsal, l2", "epochs = 2\n", "[rehearsal]\nmax_stored = 40\n[l2]\n",
	  "crop = 2\nflip = true\n" },
};
#define NUM_KINDS (sizeof(kinds) / sizeof(*kinds))

static char *write_scenario(const struct kind *k, const char *name)
{
	char text[4096];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = ckpt\nprotocol = class-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = 6\ndim = 8\ntrain_per_class = 60\n"
		 "test_per_class = 20\nspread = 60\n%s"
		 "[tasks]\nsplit = 3\n[model]\nhidden = 16\n"
		 "[train]\nlr = 0.05\nbatch_size = 10\nseed = 5\n"
		 "checkpoint_every = 4\ncurve_every = 3\nevaluate_epochs = true\n%s%s",
		 k->plugins, k->data_keys ? k->data_keys : "", k->train, k->sections);
	return testutil_write_text(testutil_dir, name, text);
}

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;
};

static void run_open(struct run *r, const char *path, const char *const *overrides, size_t n)
{
	memset(r, 0, sizeof(*r));
	ck_assert_msg(scenario_load(&r->s, path, overrides, n, &r->err) == 0, "%s", r->err.msg);
	plugin_path_init(&r->pp, getenv("LETHE_BUILD_PLUGINS"));
	ck_assert_msg(engine_open(&r->e, &r->s, &r->pp, &r->err) == 0, "%s", r->err.msg);
}

static void run_close(struct run *r)
{
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

static char *path_in(const char *dir, const char *name)
{
	char *p;
	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static char *subdir(const char *name)
{
	char *p = path_in(testutil_dir, name);
	mkdir(p, 0777);
	return p;
}

/* What a finished run must reproduce bit for bit: everything but times and memory. */
struct outcome {
	size_t T;
	double R[TASKS_MAX * TASKS_MAX], b[TASKS_MAX];
	size_t num_unlearning;
	struct results_unlearning unlearning[ENGINE_UNLEARNING_MAX];
	char sections[ENGINE_UNLEARNING_MAX][INI_NAME_MAX]; /* unlearning[i].forget's */
	uint64_t batches_done, samples_done;
	float *params;
	size_t num_params;
	char *csv, *curves;
	uint64_t *confusion; /* T x C x C */
	size_t C;
	struct services_metric metrics[SCENARIO_PLUGINS_MAX][SERVICES_METRICS_MAX];
	size_t num_metrics[SCENARIO_PLUGINS_MAX];
};

static void outcome_take(struct outcome *o, const struct engine *e, const char *dir)
{
	memset(o, 0, sizeof(*o));
	o->T = e->tasks.count;
	memcpy(o->R, e->R, o->T * o->T * sizeof(double));
	memcpy(o->b, e->b, o->T * sizeof(double));
	o->num_unlearning = e->num_unlearning;
	memcpy(o->unlearning, e->unlearning, sizeof(o->unlearning));
	for (size_t i = 0; i < e->num_unlearning; i++)
		snprintf(o->sections[i], INI_NAME_MAX, "%s", e->unlearning[i].forget->section);
	o->batches_done = e->batches_done;
	o->samples_done = e->samples_done;
	o->num_params = e->model.num_params;
	o->params = malloc(o->num_params * sizeof(float));
	memcpy(o->params, e->model.params, o->num_params * sizeof(float));
	char *csv = path_in(dir, "accuracy.csv");
	o->csv = testutil_read(csv, NULL);
	ck_assert_ptr_nonnull(o->csv);
	free(csv);
	char *curves = path_in(dir, CURVES_FILE);
	o->curves = testutil_read(curves, NULL);
	ck_assert_ptr_nonnull(o->curves);
	free(curves);
	o->C = e->num_classes;
	size_t cells = o->T * o->C * o->C;
	o->confusion = malloc(cells * sizeof(uint64_t));
	memcpy(o->confusion, e->class_confusion, cells * sizeof(uint64_t));
	for (size_t i = 0; i < o->T; i++)
		ck_assert_msg(e->class_confusion_known[i], "step %zu's confusion unknown", i + 1);
	for (size_t i = 0; i < e->num_plugins; i++) {
		o->num_metrics[i] = e->plugins[i].svc.num_metrics;
		memcpy(o->metrics[i], e->plugins[i].svc.metrics, sizeof(o->metrics[i]));
	}
}

static void outcome_free(struct outcome *o)
{
	free(o->params);
	free(o->csv);
	free(o->curves);
	free(o->confusion);
}

/* The figures but their time. */
static int figures_same(struct forget_figures a, struct forget_figures b)
{
	a.seconds = b.seconds = 0;
	return !memcmp(&a, &b, sizeof(a));
}

static void outcome_same(const struct outcome *a, const struct outcome *b, const char *what)
{
	ck_assert_msg(!memcmp(a->R, b->R, sizeof(a->R)), "%s: R differs", what);
	ck_assert_msg(!memcmp(a->b, b->b, sizeof(a->b)), "%s: b differs", what);
	ck_assert_msg(!strcmp(a->csv, b->csv), "%s: accuracy.csv differs:\n%s\n%s", what, a->csv,
		      b->csv);
	ck_assert_msg(!strcmp(a->curves, b->curves), "%s: curves.csv differs:\n%s\n%s", what,
		      a->curves, b->curves);
	ck_assert_msg(!memcmp(a->confusion, b->confusion, a->T * a->C * a->C * sizeof(uint64_t)),
		      "%s: the class confusion differs", what);
	ck_assert_msg(!memcmp(a->params, b->params, a->num_params * sizeof(float)),
		      "%s: the weights differ", what);
	ck_assert_uint_eq(a->batches_done, b->batches_done);
	ck_assert_uint_eq(a->samples_done, b->samples_done);
	ck_assert_uint_eq(a->num_unlearning, b->num_unlearning);
	for (size_t i = 0; i < a->num_unlearning; i++) {
		const struct results_unlearning *x = &a->unlearning[i], *y = &b->unlearning[i];
		ck_assert_str_eq(a->sections[i], b->sections[i]);
		ck_assert_uint_eq(x->num_forget, y->num_forget);
		ck_assert_msg(figures_same(x->figures, y->figures), "%s: [%s]'s figures differ",
			      what, a->sections[i]);
		ck_assert_uint_eq(x->references, y->references);
		for (int r = 0; r < REFERENCE_COUNT; r++)
			ck_assert_msg(figures_same(x->reference[r], y->reference[r]),
				      "%s: [%s]'s reference %d differs", what, a->sections[i], r);
	}
	for (size_t i = 0; i < SCENARIO_PLUGINS_MAX; i++) {
		ck_assert_uint_eq(a->num_metrics[i], b->num_metrics[i]);
		for (size_t m = 0; m < a->num_metrics[i]; m++) {
			ck_assert_str_eq(a->metrics[i][m].key, b->metrics[i][m].key);
			if (!strstr(a->metrics[i][m].key, "seconds"))
				ck_assert_msg(a->metrics[i][m].value == b->metrics[i][m].value,
					      "%s: figure %s: %.17g, %.17g", what,
					      a->metrics[i][m].key, a->metrics[i][m].value,
					      b->metrics[i][m].value);
		}
	}
}

/* A control that asks to forget task 1 at batch forget_at (once in the whole run, resumed
 * or not) and to quit at batch quit_at (0: never). */
struct script {
	uint64_t forget_at, quit_at;
};

static enum engine_request scripted(void *ctx, struct engine *e, size_t *task)
{
	struct script *sc = ctx;
	if (sc->forget_at && e->num_asked == 0 && e->batches_done >= sc->forget_at) {
		*task = 0;
		return ENGINE_REQ_FORGET;
	}
	if (sc->quit_at && e->batches_done >= sc->quit_at) {
		sc->quit_at = 0;
		return ENGINE_REQ_QUIT;
	}
	return ENGINE_REQ_NONE;
}

/* Runs path in dir to the end, quitting at each of stops[0..n) batches (ascending) and
 * resuming each time in a fresh engine. */
static void run_stopping(const char *path, const char *dir, const uint64_t *stops, size_t n,
			 uint64_t forget_at, struct outcome *o)
{
	for (size_t i = 0;; i++) {
		struct run r;
		run_open(&r, path, NULL, 0);
		if (i > 0)
			ck_assert_msg(engine_resume(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
		struct script sc = { forget_at, i < n ? stops[i] : 0 };
		engine_set_control(&r.e, &(struct engine_control){ scripted, &sc });
		int rc = engine_run(&r.e, dir, &r.err);
		ck_assert_msg(rc >= 0, "%s", r.err.msg);
		if (rc == 0) {
			outcome_take(o, &r.e, dir);
			run_close(&r);
			return;
		}
		ck_assert_int_eq(rc, ENGINE_STOPPED);
		ck_assert_msg(i < n, "stopped without being asked");
		run_close(&r);
	}
}

/* Batches per epoch of the first step, and in the whole run, of an uninterrupted run. */
static void run_shape(const char *path, uint64_t *per_epoch, uint64_t *total)
{
	struct run r;
	run_open(&r, path, NULL, 0);
	*per_epoch = r.e.task_info[0].batches;
	ck_assert_msg(engine_run(&r.e, NULL, &r.err) == 0, "%s", r.err.msg);
	*total = r.e.batches_done;
	run_close(&r);
}

/* ---- stopped and resumed runs end as uninterrupted ones ---- */

/* Quits at the first batch, at the end of an epoch, at the end of a step, in the middle of
 * later steps (OVOR's head-only phase among them) and at the last batch, each resumed in a
 * fresh engine from the checkpoint the quit wrote. */
START_TEST(test_stops_resume_bit_identical)
{
	const struct kind *k = &kinds[_i];
	char *path = write_scenario(k, "s.ini");
	uint64_t per_epoch, total;
	run_shape(path, &per_epoch, &total);
	char *ref = subdir("ref"), *cut = subdir("cut");
	struct outcome a, b;
	run_stopping(path, ref, NULL, 0, 0, &a);
	const uint64_t stops[] = { 1, per_epoch, 2 * per_epoch, 2 * per_epoch + 3, total / 2,
				   total / 2 + 1, 3 * total / 4, total - 1 };
	run_stopping(path, cut, stops, sizeof(stops) / sizeof(*stops), 0, &b);
	outcome_same(&a, &b, k->plugins);
	ck_assert_uint_eq(a.batches_done, total);
	outcome_free(&a);
	outcome_free(&b);
	free(ref);
	free(cut);
	free(path);
}
END_TEST

/* A forget asked for in the middle of step 2, quits before and after it: the forget step
 * asked for at run time is part of what resumes. */
START_TEST(test_forget_now_resumes)
{
	static const struct kind later = {
		"rehearsal, repulsion", "epochs = 2\n",
		"[rehearsal]\nmax_stored = 60\n[repulsion]\nunlearn_steps = 12\nadapt_steps = 4\n"
		"fisher_samples = 40\n[forget1]\nafter = 3\nclasses = 3\nplugin = repulsion\n"
		"references = finetune\nrelearn_max_epochs = 2\n", NULL
	};
	char *path = write_scenario(&later, "s.ini");
	uint64_t per_epoch, total;
	run_shape(path, &per_epoch, &total);
	uint64_t forget_at = 2 * per_epoch + per_epoch / 2;
	char *ref = subdir("ref"), *cut = subdir("cut");
	struct outcome a, b;
	run_stopping(path, ref, NULL, 0, forget_at, &a);
	ck_assert_uint_eq(a.num_unlearning, 2);
	ck_assert_str_eq(a.sections[0], "forget-now-1");
	const uint64_t stops[] = { forget_at - 1, forget_at, forget_at + 2 };
	run_stopping(path, cut, stops, 3, forget_at, &b);
	outcome_same(&a, &b, "forget now");
	outcome_free(&a);
	outcome_free(&b);
	free(ref);
	free(cut);
	free(path);
}
END_TEST

/* A kill: the run goes on past its last checkpoint, which a fresh engine then resumes. */
struct keep {
	const char *dir;
	uint64_t at[4];
	int kept;
};

static void keep_checkpoints(void *ctx, const struct event *ev)
{
	struct keep *k = ctx;
	if (ev->kind != EVENT_BATCH || k->kept == 4 || ev->batches_done != k->at[k->kept])
		return;
	char *from = path_in(k->dir, RESULTS_CHECKPOINT), name[32];
	snprintf(name, sizeof(name), "kept-%d", k->kept++);
	size_t size;
	char *bytes = testutil_read(from, &size);
	ck_assert_ptr_nonnull(bytes);
	free(testutil_write(testutil_dir, name, bytes, size));
	free(bytes);
	free(from);
}

START_TEST(test_rollback_resumes_bit_identical)
{
	const struct kind *k = &kinds[_i];
	char *path = write_scenario(k, "s.ini");
	char *ref = subdir("ref");
	struct run r;
	run_open(&r, path, NULL, 0);
	struct keep keep = { ref, { 5, 14, 30, 50 }, 0 };
	engine_add_sink(&r.e, keep_checkpoints, &keep);
	ck_assert_msg(engine_run(&r.e, ref, &r.err) == 0, "%s", r.err.msg);
	ck_assert_int_eq(keep.kept, 4);
	struct outcome a;
	outcome_take(&a, &r.e, ref);
	run_close(&r);
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "kept-%d", i);
		char *kept = path_in(testutil_dir, name), *dir = subdir(name + 1);
		size_t size;
		char *bytes = testutil_read(kept, &size);
		free(testutil_write(dir, RESULTS_CHECKPOINT, bytes, size));
		run_open(&r, path, NULL, 0);
		ck_assert_msg(engine_resume(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
		ck_assert_msg(r.e.batches_done < keep.at[i], "a checkpoint of the future");
		ck_assert_msg(engine_run(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
		struct outcome b;
		outcome_take(&b, &r.e, dir);
		run_close(&r);
		outcome_same(&a, &b, name);
		outcome_free(&b);
		free(bytes);
		free(kept);
		free(dir);
	}
	outcome_free(&a);
	free(ref);
	free(path);
}
END_TEST

/* ---- the file ---- */

/* The bytes of the checkpoint in dir of the first scenario (written as testutil_dir/s.ini)
 * stopped in the middle of step 2. */
static char *checkpoint_bytes(const char *dir, size_t *size)
{
	char *scenario = write_scenario(&kinds[0], "s.ini");
	struct run r;
	run_open(&r, scenario, NULL, 0);
	struct script sc = { 0, 30 };
	engine_set_control(&r.e, &(struct engine_control){ scripted, &sc });
	ck_assert_int_eq(engine_run(&r.e, dir, &r.err), ENGINE_STOPPED);
	run_close(&r);
	free(scenario);
	char *file = path_in(dir, RESULTS_CHECKPOINT);
	char *bytes = testutil_read(file, size);
	ck_assert_ptr_nonnull(bytes);
	free(file);
	return bytes;
}

static void span_same(const struct checkpoint_span *a, const struct checkpoint_span *b,
		      size_t size, const char *what)
{
	ck_assert_msg(a->count == b->count, "%s: %llu, %llu", what, (unsigned long long)a->count,
		      (unsigned long long)b->count);
	ck_assert_msg(!a->count || !memcmp(a->data, b->data, a->count * size), "%s differs", what);
}

/* File, engine, file: everything but the clocks comes back. */
START_TEST(test_round_trip)
{
	char *dir = subdir("a"), *again = subdir("b");
	size_t size;
	char *bytes = checkpoint_bytes(dir, &size);
	struct checkpoint_view *v = malloc(sizeof(*v)), *w = malloc(sizeof(*w));
	struct error err;
	ck_assert_msg(checkpoint_parse(bytes, size, v, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(v->num_tasks, 3);
	ck_assert_uint_eq(v->steps_done, 1);
	ck_assert_int_eq(v->in_step, 1);
	ck_assert_uint_eq(v->batches_done, 30);
	ck_assert_uint_eq(v->num_plugins, 2);
	ck_assert_int_eq(v->momentum, 1);
	const char *settings = (const char *)v->settings.data;
	ck_assert(memmem(settings, v->settings.count, "\ntrain.momentum=0.9\n", 20));
	ck_assert_msg(!memmem(settings, v->settings.count, "checkpoint_every", 16),
		      "checkpoint_every is no part of the run's identity");

	char *scenario = path_in(testutil_dir, "s.ini");
	struct run r;
	run_open(&r, scenario, NULL, 0);
	ck_assert_msg(engine_resume(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
	r.e.in_step = 1; /* as engine_run would have it */
	ck_assert_msg(engine_checkpoint(&r.e, again, &r.err) == 0, "%s", r.err.msg);
	run_close(&r);
	size_t size2;
	char *file = path_in(again, RESULTS_CHECKPOINT), *bytes2 = testutil_read(file, &size2);
	ck_assert_msg(checkpoint_parse(bytes2, size2, w, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(size2, size);
	span_same(&v->settings, &w->settings, 1, "settings");
	ck_assert(!memcmp(&v->at, &w->at, sizeof(v->at)));
	ck_assert(!memcmp(&v->rng, &w->rng, sizeof(v->rng)));
	span_same(&v->params, &w->params, sizeof(float), "parameters");
	span_same(&v->velocity, &w->velocity, sizeof(float), "velocity");
	span_same(&v->order, &w->order, sizeof(uint64_t), "order");
	for (size_t k = 0; k < 3; k++)
		span_same(&v->train[k], &w->train[k], sizeof(uint32_t), "a task's samples");
	span_same(&v->R, &w->R, sizeof(double), "R");
	span_same(&v->b, &w->b, sizeof(double), "b");
	for (size_t i = 0; i < 2; i++) {
		span_same(&v->plugins[i].state, &w->plugins[i].state, 1, "a plugin's state");
		ck_assert(!memcmp(&v->plugins[i].rng, &w->plugins[i].rng, sizeof(struct rng)));
		ck_assert_uint_eq(v->plugins[i].reserved, w->plugins[i].reserved);
		ck_assert_uint_eq(v->plugins[i].num_metrics, w->plugins[i].num_metrics);
	}
	free(file);
	free(bytes2);
	free(scenario);
	free(v);
	free(w);
	free(bytes);
	free(dir);
	free(again);
}
END_TEST

/* engine_resume on these bytes fails naming the file and `why`, and leaves the engine as
 * opened: its weights, random streams and plugin states. */
static void refused(const char *bytes, size_t size, const char *why)
{
	char *dir = subdir("bad"), *scenario = path_in(testutil_dir, "s.ini");
	free(testutil_write(dir, RESULTS_CHECKPOINT, bytes, size));
	struct run fresh, r;
	run_open(&fresh, scenario, NULL, 0);
	run_open(&r, scenario, NULL, 0);
	ck_assert_int_eq(engine_resume(&r.e, dir, &r.err), -1);
	ck_assert_has(r.err.msg, RESULTS_CHECKPOINT);
	ck_assert_has(r.err.msg, why);
	ck_assert_msg(!strchr(r.err.msg, '\n'), "more than a line: %s", r.err.msg);
	ck_assert(!memcmp(r.e.model.params, fresh.e.model.params,
			  r.e.model.num_params * sizeof(float)));
	ck_assert(!memcmp(&r.e.rng, &fresh.e.rng, sizeof(r.e.rng)));
	ck_assert(!r.e.resumed && r.e.rows_done == 0 && r.e.batches_done == 0);
	for (size_t i = 0; i < r.e.num_plugins; i++) {
		char *a, *b;
		size_t na, nb;
		FILE *fa = open_memstream(&a, &na), *fb = open_memstream(&b, &nb);
		ck_assert_int_eq(engine_plugin_save(&r.e, i, fa, &r.err), 0);
		ck_assert_int_eq(engine_plugin_save(&fresh.e, i, fb, &r.err), 0);
		fclose(fa);
		fclose(fb);
		ck_assert_msg(na == nb && !memcmp(a, b, na), "plugin %zu half loaded", i);
		ck_assert(!memcmp(&r.e.plugins[i].svc.rng, &fresh.e.plugins[i].svc.rng,
				  sizeof(struct rng)));
		ck_assert_uint_eq(r.e.plugins[i].svc.num_metrics,
				  fresh.e.plugins[i].svc.num_metrics);
		free(a);
		free(b);
	}
	run_close(&r);
	run_close(&fresh);
	free(scenario);
	free(dir);
}

START_TEST(test_every_truncation_refused)
{
	char *dir = subdir("a");
	size_t size;
	char *bytes = checkpoint_bytes(dir, &size);
	struct checkpoint_view *v = malloc(sizeof(*v));
	struct error err;
	for (size_t n = 0; n < size; n++) {
		ck_assert_msg(checkpoint_parse(bytes, n, v, &err) == -1, "%zu bytes", n);
		ck_assert_msg(strstr(err.msg, "truncated"), "%zu bytes: %s", n, err.msg);
	}
	for (size_t n = 0; n < size; n += size / 7)
		refused(bytes, n, "truncated");
	free(v);
	free(bytes);
	free(dir);
}
END_TEST

/* The header's CRC-32 is the standard one (zlib's, gzip's): its check value. Checkpoints
 * written when lethe computed it with zlib load the same. */
START_TEST(test_crc32_check_value)
{
	ck_assert_uint_eq(libdeflate_crc32(0, "123456789", 9), 0xcbf43926);
}
END_TEST

/* Sets the header's CRC to match the payload, as a careful forger would. */
static void fix_crc(char *bytes, size_t size)
{
	uint32_t crc = libdeflate_crc32(0, bytes + 28, size - 28);
	memcpy(bytes + 24, &crc, 4);
}

START_TEST(test_corruption_refused)
{
	char *dir = subdir("a");
	size_t size;
	char *bytes = checkpoint_bytes(dir, &size), *bad = malloc(size + 1);
	/* A flipped byte anywhere in the payload. */
	for (size_t at = 28; at < size; at += 101) {
		memcpy(bad, bytes, size);
		bad[at] ^= 0x10;
		struct checkpoint_view *v = malloc(sizeof(*v));
		struct error err;
		ck_assert_int_eq(checkpoint_parse(bad, size, v, &err), -1);
		ck_assert_has(err.msg, "corrupt");
		free(v);
	}
	memcpy(bad, bytes, size);
	bad[size / 2] ^= 1;
	refused(bad, size, "corrupt: its CRC-32 does not match");
	memcpy(bad, bytes, size);
	bad[0] = 'X';
	refused(bad, size, "not a lethe checkpoint");
	memcpy(bad, bytes, size);
	bad[8] = 9;
	refused(bad, size, "checkpoint format 9; this lethe reads formats 1 to 6");
	memcpy(bad, bytes, size);
	bad[8] = 0;
	refused(bad, size, "checkpoint format 0; this lethe reads formats 1 to 6");
	memcpy(bad, bytes, size);
	bad[12] ^= 0xff;
	refused(bad, size, "another byte order");
	memcpy(bad, bytes, size);
	bad[size] = 0;
	refused(bad, size + 1, "1 bytes past the end");
	/* Well-formed bytes in the wrong place, with a CRC to match. */
	memcpy(bad, bytes, size);
	uint64_t len, kernel;
	memcpy(&len, bad + 28, 8);
	memcpy(&kernel, bad + 28 + 8 + len, 8);
	uint64_t tasks = 0;
	memcpy(bad + 28 + 8 + len + 8 + kernel, &tasks, 8);
	fix_crc(bad, size);
	refused(bad, size, "malformed: its sizes or steps");
	/* A kernel's name too long for any. */
	memcpy(bad, bytes, size);
	uint64_t huge = 1000;
	memcpy(bad + 28 + 8 + len, &huge, 8);
	fix_crc(bad, size);
	refused(bad, size, "malformed: its BLAS kernel's name");
	free(bad);
	free(bytes);
	free(dir);
}
END_TEST

/* Format 2 checkpoint bytes (as_format2) with the BLAS kernel's name replaced by kernel (of any
 * length), or dropped as format 1 had it (kernel NULL); *size updated, header and CRC to
 * match. */
static char *with_kernel(const char *bytes, size_t *size, const char *kernel)
{
	uint64_t len, old;
	memcpy(&len, bytes + 28, 8);
	size_t at = 28 + 8 + len;
	memcpy(&old, bytes + at, 8);
	size_t rest = at + 8 + old, added = kernel ? 8 + strlen(kernel) : 0;
	size_t n = at + added + (*size - rest);
	char *out = malloc(n);
	memcpy(out, bytes, at);
	if (kernel) {
		uint64_t k = strlen(kernel);
		memcpy(out + at, &k, 8);
		memcpy(out + at + 8, kernel, k);
	}
	memcpy(out + at + added, bytes + rest, *size - rest);
	uint32_t version = kernel ? 2 : 1;
	uint64_t length = n - 28;
	memcpy(out + 8, &version, 4);
	memcpy(out + 16, &length, 8);
	fix_crc(out, n);
	*size = n;
	return out;
}

/* The checkpoint's bytes as format 3 wrote them: without the curves and the class confusion
 * at the end; *size updated, header and CRC to match. */
static char *as_format3(const char *bytes, size_t *size)
{
	struct checkpoint_view *v = malloc(sizeof(*v));
	struct error err;
	ck_assert_msg(checkpoint_parse(bytes, *size, v, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(v->version, CHECKPOINT_VERSION);
	size_t n = (size_t)((const char *)v->curve_names.data - bytes) - 8;
	char *out = malloc(n);
	memcpy(out, bytes, n);
	uint32_t version = 3;
	uint64_t length = n - 28;
	memcpy(out + 8, &version, 4);
	memcpy(out + 16, &length, 8);
	fix_crc(out, n);
	*size = n;
	free(v);
	return out;
}

/* The checkpoint's bytes as format 2 wrote them: as format 3's, without the augmentation's
 * stream (the 32 bytes before the parameters) and without the model's state (its count and
 * floats after them); *size updated, header and CRC to match. */
static char *as_format2(const char *current, size_t *size)
{
	char *bytes = as_format3(current, size);
	struct checkpoint_view *v = malloc(sizeof(*v));
	struct error err;
	ck_assert_msg(checkpoint_parse(bytes, *size, v, &err) == 0, "%s", err.msg);
	size_t params = (size_t)((const char *)v->params.data - bytes);
	size_t state = params + v->params.count * sizeof(float);
	size_t state_size = 8 + v->state.count * sizeof(float);
	size_t n = *size - 32 - state_size;
	char *out = malloc(n);
	memcpy(out, bytes, params - 32);
	memcpy(out + params - 32, bytes + params, state - params);
	memcpy(out + state - 32, bytes + state + state_size, *size - state - state_size);
	uint32_t version = 2;
	uint64_t length = n - 28;
	memcpy(out + 8, &version, 4);
	memcpy(out + 16, &length, 8);
	fix_crc(out, n);
	*size = n;
	free(v);
	free(bytes);
	return out;
}

/* Resumes the checkpoint bytes in a fresh engine of s.ini; into line the kernel warning, if
 * any (1). */
static int resume_warns(const char *bytes, size_t size, char *line, size_t line_size)
{
	char *dir = subdir("k"), *scenario = path_in(testutil_dir, "s.ini");
	free(testutil_write(dir, RESULTS_CHECKPOINT, bytes, size));
	struct run r;
	run_open(&r, scenario, NULL, 0);
	ck_assert_msg(engine_resume(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
	int warned = engine_kernel_warning(&r.e, blas_kernel(), line, line_size);
	run_close(&r);
	testutil_rmtree(dir);
	free(dir);
	free(scenario);
	return warned;
}

/* The checkpoint records the BLAS kernel that wrote it. Under another the run resumes, with
 * one line that names both and says the results will differ; under the same one, or from a
 * format 1 checkpoint that did not record it, silently. */
START_TEST(test_blas_kernel_recorded)
{
	char *dir = subdir("a");
	size_t size;
	char *current = checkpoint_bytes(dir, &size);
	struct checkpoint_view *v = malloc(sizeof(*v));
	struct error err;
	ck_assert_msg(checkpoint_parse(current, size, v, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(v->version, CHECKPOINT_VERSION);
	char *bytes = as_format2(current, &size);
	ck_assert_msg(checkpoint_parse(bytes, size, v, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(v->version, 2);
	ck_assert_uint_eq(v->kernel.count, strlen(blas_kernel()));
	ck_assert(!memcmp(v->kernel.data, blas_kernel(), v->kernel.count));

	char line[512] = "";
	ck_assert_int_eq(resume_warns(bytes, size, line, sizeof(line)), 0);
	size_t other_size = size;
	char *other = with_kernel(bytes, &other_size, "NotARealKernel");
	ck_assert_int_eq(resume_warns(other, other_size, line, sizeof(line)), 1);
	ck_assert_has(line, "the checkpoint was written under OpenBLAS");
	ck_assert_has(line, "NotARealKernel kernel and resumes under ");
	ck_assert_has(line, blas_kernel());
	ck_assert_has(line, "will differ in their last bits from an uninterrupted run's");
	ck_assert_ptr_null(strchr(line, '\n'));

	size_t old_size = size;
	char *old = with_kernel(bytes, &old_size, NULL);
	ck_assert_msg(checkpoint_parse(old, old_size, v, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(v->version, 1);
	ck_assert_uint_eq(v->kernel.count, 0);
	ck_assert_int_eq(resume_warns(old, old_size, line, sizeof(line)), 0);
	free(other);
	free(old);
	free(v);
	free(bytes);
	free(current);
	free(dir);
}
END_TEST

/* Format 3 keeps the augmentation's stream where the run left it; a format 2 checkpoint,
 * written before runs augmented, resumes with the stream at its start. */
START_TEST(test_augmentation_stream_kept)
{
	const char *crop[] = { "data.crop=1" };
	char *dir = subdir("aug"), *scenario = write_scenario(&kinds[0], "s.ini");
	struct run r, fresh;
	run_open(&r, scenario, crop, 1);
	struct script sc = { 0, 3 };
	engine_set_control(&r.e, &(struct engine_control){ scripted, &sc });
	ck_assert_int_eq(engine_run(&r.e, dir, &r.err), ENGINE_STOPPED);
	struct rng drawn = r.e.aug;
	run_close(&r);
	run_open(&fresh, scenario, crop, 1);
	ck_assert(memcmp(&drawn, &fresh.e.aug, sizeof(drawn)) != 0);

	run_open(&r, scenario, crop, 1);
	ck_assert_msg(engine_resume(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
	ck_assert(!memcmp(&drawn, &r.e.aug, sizeof(drawn)));
	run_close(&r);

	char *file = path_in(dir, RESULTS_CHECKPOINT);
	size_t size;
	char *bytes = testutil_read(file, &size), *old = as_format2(bytes, &size);
	free(testutil_write(dir, RESULTS_CHECKPOINT, old, size));
	run_open(&r, scenario, crop, 1);
	ck_assert_msg(engine_resume(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
	ck_assert(!memcmp(&fresh.e.aug, &r.e.aug, sizeof(drawn)));
	run_close(&r);
	run_close(&fresh);
	free(old);
	free(bytes);
	free(file);
	free(scenario);
	free(dir);
}
END_TEST

/* A format 3 checkpoint (before curves and class confusion) resumes: the run ends with the same
 * accuracy.csv, its curves.csv holds the points after the resume, as the uninterrupted run's
 * ends, and the steps done before it have no confusion matrix (null in metrics.json). */
START_TEST(test_format3_resumes_without_early_curves)
{
	char *path = write_scenario(&kinds[0], "s.ini"), *ref = subdir("ref"), *dir = subdir("f3");
	uint64_t per_epoch, total;
	run_shape(path, &per_epoch, &total);
	struct outcome a;
	run_stopping(path, ref, NULL, 0, 0, &a);
	struct run r;
	run_open(&r, path, NULL, 0);
	struct script sc = { 0, 2 * per_epoch + 1 }; /* within step 2 */
	engine_set_control(&r.e, &(struct engine_control){ scripted, &sc });
	ck_assert_int_eq(engine_run(&r.e, dir, &r.err), ENGINE_STOPPED);
	run_close(&r);
	char *file = path_in(dir, RESULTS_CHECKPOINT);
	size_t size;
	char *bytes = testutil_read(file, &size), *old = as_format3(bytes, &size);
	free(testutil_write(dir, RESULTS_CHECKPOINT, old, size));
	run_open(&r, path, NULL, 0);
	ck_assert_msg(engine_resume(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
	ck_assert_msg(engine_run(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
	ck_assert(!r.e.class_confusion_known[0] && r.e.class_confusion_known[1]);
	run_close(&r);

	char *csv = path_in(dir, "accuracy.csv"), *curves = path_in(dir, CURVES_FILE);
	char *got = testutil_read(csv, NULL), *tail = testutil_read(curves, NULL);
	ck_assert_str_eq(got, a.csv);
	const char *body = strchr(tail, '\n') + 1;
	size_t n = strlen(body), m = strlen(a.curves);
	ck_assert_msg(n > 0 && n < m && !strcmp(a.curves + m - n, body),
		      "curves.csv is not the uninterrupted run's end:\n%s", tail);
	char *metrics = path_in(dir, RESULTS_METRICS);
	json_t *root = json_load_file(metrics, 0, NULL);
	json_t *cm = json_object_get(root, "confusion_matrices");
	ck_assert(json_is_null(json_array_get(cm, 0)) && json_is_array(json_array_get(cm, 1)));
	json_decref(root);
	outcome_free(&a);
	free(metrics);
	free(got);
	free(tail);
	free(csv);
	free(curves);
	free(old);
	free(bytes);
	free(file);
	free(dir);
	free(ref);
	free(path);
}
END_TEST

START_TEST(test_plugin_refusal_loads_nothing)
{
	char *dir = subdir("a");
	size_t size;
	char *bytes = checkpoint_bytes(dir, &size);
	struct checkpoint_view *v = malloc(sizeof(*v));
	struct error err;
	ck_assert_int_eq(checkpoint_parse(bytes, size, v, &err), 0);
	/* rehearsal, the second plugin: a stored label of 99. */
	size_t at = (size_t)(v->plugins[1].state.data - (const unsigned char *)bytes);
	uint64_t stored;
	memcpy(&stored, bytes + at + 12 + 4, 8);
	ck_assert_uint_gt(stored, 0);
	int32_t label = 99;
	memcpy(bytes + at + 12 + 20 + stored * 8, &label, 4);
	fix_crc(bytes, size);
	refused(bytes, size, "plugin rehearsal: load failed");
	free(v);
	free(bytes);
	free(dir);
}
END_TEST

START_TEST(test_other_scenario_refused)
{
	char *dir = subdir("a");
	size_t size;
	char *bytes = checkpoint_bytes(dir, &size), *scenario = path_in(testutil_dir, "s.ini");
	const char *lr[] = { "train.lr=0.07" }, *lambda[] = { "ewc.lambda=6" },
		   *added[] = { "rehearsal.n0=3" }, *every[] = { "train.checkpoint_every=0" };
	struct run r;
	run_open(&r, scenario, lr, 1);
	ck_assert_int_eq(engine_resume(&r.e, dir, &r.err), -1);
	ck_assert_has(r.err.msg, "another scenario: the checkpoint's run has train.lr = 0.05, "
		      "this one 0.07");
	run_close(&r);
	run_open(&r, scenario, lambda, 1);
	ck_assert_int_eq(engine_resume(&r.e, dir, &r.err), -1);
	ck_assert_has(r.err.msg, "ewc.lambda = 5, this one 6");
	run_close(&r);
	run_open(&r, scenario, added, 1);
	ck_assert_int_eq(engine_resume(&r.e, dir, &r.err), -1);
	ck_assert_has(r.err.msg, "this run sets rehearsal.n0 = 3, the checkpoint's did not");
	run_close(&r);
	/* How often checkpoints are written is no part of what the run computes. */
	run_open(&r, scenario, every, 1);
	ck_assert_msg(engine_resume(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
	run_close(&r);
	/* A checkpoint missing altogether. */
	char *none = subdir("none");
	run_open(&r, scenario, NULL, 0);
	ck_assert_int_eq(engine_resume(&r.e, none, &r.err), -1);
	ck_assert_has(r.err.msg, "checkpoint.lethe: no checkpoint to resume from");
	run_close(&r);
	free(none);
	free(scenario);
	free(bytes);
	free(dir);
}
END_TEST

/* Files in dir other than the checkpoint and the results: a temporary one left behind. */
static int strays(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *en; (en = readdir(d));)
		n += en->d_name[0] == '.' && strcmp(en->d_name, ".") && strcmp(en->d_name, "..");
	closedir(d);
	return n;
}

/* A write that fails (a file size limit stands in for a full disk: it fails the same way for
 * root) keeps the previous checkpoint whole, and leaves no temporary file. */
START_TEST(test_failed_write_keeps_previous)
{
	char *dir = subdir("a");
	size_t size;
	char *bytes = checkpoint_bytes(dir, &size), *scenario = path_in(testutil_dir, "s.ini");
	struct run r;
	run_open(&r, scenario, NULL, 0);
	ck_assert_msg(engine_resume(&r.e, dir, &r.err) == 0, "%s", r.err.msg);
	r.e.in_step = 1; /* as engine_run would have it */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit was, small = { 1000, 0 };
	getrlimit(RLIMIT_FSIZE, &was);
	small.rlim_max = was.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = engine_checkpoint(&r.e, dir, &r.err);
	setrlimit(RLIMIT_FSIZE, &was);
	ck_assert_int_eq(rc, -1);
	ck_assert_has(r.err.msg, "cannot write the checkpoint: File too large; the previous one, "
		      "if any, is intact");
	char *file = path_in(dir, RESULTS_CHECKPOINT);
	size_t now_size;
	char *now = testutil_read(file, &now_size);
	ck_assert(now_size == size && !memcmp(now, bytes, size));
	ck_assert_int_eq(strays(dir), 0);
	/* A directory it may not write in, unless root, whom permissions do not stop. */
	if (geteuid() != 0) {
		chmod(dir, 0555);
		ck_assert_int_eq(engine_checkpoint(&r.e, dir, &r.err), -1);
		chmod(dir, 0755);
		ck_assert_has(r.err.msg, "Permission denied");
		free(now);
		now = testutil_read(file, &now_size);
		ck_assert(now_size == size && !memcmp(now, bytes, size));
	}
	run_close(&r);
	free(now);
	free(file);
	free(scenario);
	free(bytes);
	free(dir);
}
END_TEST

/* ---- allocation: only the checkpoints themselves allocate ---- */

#ifndef ALLOC_HOOK_OFF
struct alloc_watch {
	size_t step, at_last;
	uint64_t last_done;
	int seen;
	unsigned long checked, offending, after_checkpoints;
};

/* Between two batches of a step, allocations are allowed only when a checkpoint came between. */
static void watch(void *ctx, const struct event *ev)
{
	struct alloc_watch *w = ctx;
	if (ev->kind != EVENT_BATCH)
		return;
	if (w->seen && w->step == ev->step && ev->engine->checkpoint_batches == w->last_done) {
		w->after_checkpoints++;
	} else if (w->seen && w->step == ev->step) {
		w->checked++;
		w->offending += alloc_count != w->at_last;
	}
	w->seen = 1;
	w->step = ev->step;
	w->at_last = alloc_count;
	w->last_done = ev->batches_done;
}

START_TEST(test_batches_between_checkpoints_allocate_nothing)
{
	char *path = write_scenario(&kinds[0], "s.ini"), *dir = subdir("run");
	struct run r;
	run_open(&r, path, NULL, 0);
	struct alloc_watch w = { 0 };
	engine_add_sink(&r.e, watch, &w);
	alloc_counting = 1;
	int rc = engine_run(&r.e, dir, &r.err);
	alloc_counting = 0;
	ck_assert_msg(rc == 0, "%s", r.err.msg);
	ck_assert_uint_gt(w.checked, 40);
	ck_assert_uint_gt(w.after_checkpoints, 10);
	ck_assert_msg(w.offending == 0, "%lu of %lu batches allocated", w.offending, w.checked);
	run_close(&r);
	free(dir);
	free(path);
}
END_TEST
#endif

static Suite *checkpoint_suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc = tcase_create("file");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_crc32_check_value);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_every_truncation_refused);
	tcase_add_test(tc, test_corruption_refused);
	tcase_add_test(tc, test_plugin_refusal_loads_nothing);
	tcase_add_test(tc, test_blas_kernel_recorded);
	tcase_add_test(tc, test_augmentation_stream_kept);
	tcase_add_test(tc, test_format3_resumes_without_early_curves);
	tcase_add_test(tc, test_other_scenario_refused);
	tcase_add_test(tc, test_failed_write_keeps_previous);
	suite_add_tcase(s, tc);

	tc = tcase_create("resume");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_stops_resume_bit_identical, 0, NUM_KINDS);
	tcase_add_loop_test(tc, test_rollback_resumes_bit_identical, 0, NUM_KINDS);
	tcase_add_test(tc, test_forget_now_resumes);
	suite_add_tcase(s, tc);

#ifndef ALLOC_HOOK_OFF
	tc = tcase_create("allocation");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_batches_between_checkpoints_allocate_nothing);
	suite_add_tcase(s, tc);
#endif
	return s;
}

int main(void)
{
	return testutil_run(checkpoint_suite());
}
