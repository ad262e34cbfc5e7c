/* The plugin loader and the hook contract, through real dlopen of real plugin files. */
#define _GNU_SOURCE
#include <check.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/plugin_loader.h"
#include "model/elementwise.h"
#include "scenario/scenario.h"
#include "testutil.h"

static char plugin_dir[4096];

static void setup(void)
{
	const char *d = getenv("LETHE_TEST_PLUGINS");
	snprintf(plugin_dir, sizeof(plugin_dir), "%s", d && *d ? d : "tests/plugins/.libs");
	testutil_setup();
}

static void plugin_file(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s.so", plugin_dir, name);
}

/* ---- loader ---- */

START_TEST(test_open_valid)
{
	char path[4200];
	plugin_file(path, sizeof(path), "hooks");
	struct plugin_file pf;
	struct error e;
	ck_assert_msg(plugin_file_open(&pf, path, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(pf.entry.name, "hooks");
	ck_assert_uint_eq(pf.entry.num_params, 7);
	ck_assert_str_eq(pf.params[0].key, "fail_hook");
	ck_assert_uint_eq(pf.plugin_abi.major, LETHE_ABI_MAJOR);
	plugin_file_close(&pf);
}
END_TEST

/* A plugin written in C++, built with -fvisibility=hidden and no extern "C" of its own, exports
 * lethe_entry (plugin.h declares it) and runs, util.h's helpers compiled as C++. */
START_TEST(test_cxx_plugin)
{
	char path[4200], text[5000];
	plugin_file(path, sizeof(path), "cxx");
	struct plugin_file pf;
	struct error e;
	ck_assert_msg(plugin_file_open(&pf, path, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(pf.entry.name, "cxx");
	plugin_file_close(&pf);

	snprintf(text, sizeof(text),
		 "[scenario]\nname = cxx\nprotocol = class-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 100\n"
		 "test_per_class = 20\n[tasks]\nsplit = 2\n[model]\nhidden = 16\n"
		 "[train]\nbatch_size = 50\nepochs = 2\n[forget1]\nafter = 2\nwhat = task\n"
		 "task = 1\nreferences = finetune\nfinetune_epochs = 1\n", path);
	char *scenario = testutil_write_text(testutil_dir, "cxx.ini", text);
	struct scenario *s = calloc(1, sizeof(*s));
	struct engine *eng = calloc(1, sizeof(*eng));
	struct plugin_path pp;
	plugin_path_init(&pp, NULL);
	ck_assert_msg(scenario_load(s, scenario, NULL, 0, &e) == 0, "%s", e.msg);
	ck_assert_msg(engine_open(eng, s, &pp, &e) == 0, "%s", e.msg);
	ck_assert_msg(engine_run(eng, NULL, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(eng->plugins[0].svc.num_metrics, 1);
	ck_assert_str_eq(eng->plugins[0].svc.metrics[0].key, "batches");
	ck_assert_double_eq(eng->plugins[0].svc.metrics[0].value, 16);
	engine_close(eng);
	plugin_path_free(&pp);
	scenario_free(s);
	free(eng);
	free(s);
	free(scenario);
}
END_TEST

START_TEST(test_refuse_major)
{
	char path[4200];
	plugin_file(path, sizeof(path), "abi_major");
	struct plugin_file pf;
	struct error e;
	ck_assert_int_eq(plugin_file_open(&pf, path, &e), -1);
	ck_assert_has(e.msg, path);
	char want[64];
	snprintf(want, sizeof(want), "ABI %d.0.0", LETHE_ABI_MAJOR + 1);
	ck_assert_has(e.msg, want);
	snprintf(want, sizeof(want), "%d.%d.%d", LETHE_ABI_MAJOR, LETHE_ABI_MINOR, LETHE_ABI_PATCH);
	ck_assert_has(e.msg, want);
	ck_assert_has(e.msg, "major versions differ");
}
END_TEST

START_TEST(test_refuse_newer_minor)
{
	char path[4200];
	plugin_file(path, sizeof(path), "abi_minor");
	struct plugin_file pf;
	struct error e;
	ck_assert_int_eq(plugin_file_open(&pf, path, &e), -1);
	ck_assert_has(e.msg, path);
	ck_assert_has(e.msg, "minor is newer");
}
END_TEST

START_TEST(test_refuse_no_entry)
{
	char path[4200];
	plugin_file(path, sizeof(path), "no_entry");
	struct plugin_file pf;
	struct error e;
	ck_assert_int_eq(plugin_file_open(&pf, path, &e), -1);
	ck_assert_has(e.msg, path);
	ck_assert_has(e.msg, "no entry symbol 'lethe_entry'");
}
END_TEST

START_TEST(test_refuse_not_shared_object)
{
	char *path = testutil_write_text(testutil_dir, "bogus.so", "this is not an ELF file\n");
	struct plugin_file pf;
	struct error e;
	ck_assert_int_eq(plugin_file_open(&pf, path, &e), -1);
	ck_assert_has(e.msg, path);
	ck_assert_has(e.msg, "cannot load");
	free(path);
}
END_TEST

START_TEST(test_path_find)
{
	struct plugin_path pp;
	plugin_path_init(&pp, plugin_dir);
	char out[4200], want[4200];
	struct error e;
	ck_assert_int_eq(plugin_path_find(&pp, "hooks", out, sizeof(out), &e), 0);
	plugin_file(want, sizeof(want), "hooks");
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(plugin_path_find(&pp, "hoks", out, sizeof(out), &e), -1);
	ck_assert_has(e.msg, "plugin 'hoks' not found");
	ck_assert_has(e.msg, plugin_dir);
	ck_assert_has(e.msg, "did you mean 'hooks'?");
	ck_assert_int_eq(plugin_path_find(&pp, "/no/such/plugin.so", out, sizeof(out), &e), -1);
	ck_assert_has(e.msg, "/no/such/plugin.so: no such file");
	plugin_path_free(&pp);
}
END_TEST

/* ---- engine runs with the hooks plugin ---- */

/* 4 classes in 2 tasks, 100 train and 20 test samples per class: 200 samples a task, so with
 * batch 50 and 2 epochs, 8 batches per task. */
static char *write_scenario(const char *extra_hooks, const char *extra_train)
{
	char text[16384];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = plug\nprotocol = class-incremental\n"
		 "plugins = %s/hooks.so\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 100\n"
		 "test_per_class = 20\nspread = 10\n"
		 "[tasks]\nsplit = 2\n[model]\nhidden = 16\n"
		 "[train]\nlr = 0.05\nbatch_size = 50\nepochs = 2\nseed = 3\n%s"
		 "[hooks]\n%s",
		 plugin_dir, extra_train ? extra_train : "", extra_hooks ? extra_hooks : "");
	return testutil_write_text(testutil_dir, "plug.ini", text);
}

struct log_capture {
	char lines[64][512];
	size_t count;
	double last_loss;
};

static void capture(void *ctx, const struct event *ev)
{
	struct log_capture *c = ctx;
	if (ev->kind == EVENT_BATCH)
		c->last_loss = ev->loss;
	if (ev->kind != EVENT_LOG || c->count == 64)
		return;
	snprintf(c->lines[c->count++], sizeof(c->lines[0]), "%s: %s", ev->source, ev->msg);
}

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct log_capture log;
	struct error err;
	int open_rc, run_rc;
};

static void run_start(struct run *r, const char *hooks, const char *train, int run)
{
	memset(r, 0, sizeof(*r));
	char *path = write_scenario(hooks, train);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &r->err) == 0, "%s", r->err.msg);
	free(path);
	plugin_path_init(&r->pp, NULL);
	r->open_rc = engine_open(&r->e, &r->s, &r->pp, &r->err);
	if (r->open_rc == 0) {
		engine_add_sink(&r->e, capture, &r->log);
		if (run)
			r->run_rc = engine_run(&r->e, testutil_dir, &r->err);
	}
}

static void run_end(struct run *r)
{
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

START_TEST(test_hooks_counts)
{
	struct run r;
	run_start(&r, NULL, NULL, 1);
	ck_assert_msg(r.open_rc == 0 && r.run_rc == 0, "%s", r.err.msg);
	ck_assert_uint_eq(r.log.count, 2);
	ck_assert_str_eq(r.log.lines[0],
			 "hooks: after_task before_task=1 on_batch=8 on_logits=8 on_gradient=8 "
			 "after_batch=8 after_task=1 on_forget=0 forgotten=0");
	ck_assert_str_eq(r.log.lines[1],
			 "hooks: after_task before_task=2 on_batch=16 on_logits=16 "
			 "on_gradient=16 after_batch=16 after_task=2 on_forget=0 forgotten=0");
	char path[4200];
	snprintf(path, sizeof(path), "%s/metrics.json", testutil_dir);
	char *json = testutil_read(path, NULL);
	ck_assert_ptr_nonnull(json);
	ck_assert_has(json, "\"plugin_metrics\": {\n    \"hooks\": {\n      \"batches\": 16.0");
	free(json);
	run_end(&r);
}
END_TEST

static const char *const hook_names[] = { "before_task", "on_batch", "on_logits",
					  "on_gradient", "after_batch", "after_task" };

START_TEST(test_hook_failure_stops_run)
{
	char hooks[128], want[128];
	snprintf(hooks, sizeof(hooks), "fail_hook = %s\n", hook_names[_i]);
	struct run r;
	run_start(&r, hooks, NULL, 1);
	ck_assert_int_eq(r.open_rc, 0);
	ck_assert_int_eq(r.run_rc, -1);
	snprintf(want, sizeof(want), "plugin hooks: %s failed", hook_names[_i]);
	ck_assert_has(r.err.msg, want);
	snprintf(want, sizeof(want), "asked to fail in %s", hook_names[_i]);
	ck_assert_has(r.err.msg, want);
	ck_assert_uint_eq(r.e.rows_done, 0);
	run_end(&r);
}
END_TEST

START_TEST(test_create_failure)
{
	struct run r;
	run_start(&r, "fail_hook = create\n", NULL, 0);
	ck_assert_int_eq(r.open_rc, -1);
	ck_assert_has(r.err.msg, "plugin hooks: create failed: asked to fail in create");
	run_end(&r);
}
END_TEST

START_TEST(test_param_errors)
{
	struct run r;
	run_start(&r, "penalti = 0.1\n", NULL, 0);
	ck_assert_int_eq(r.open_rc, -1);
	ck_assert_has(r.err.msg, "plug.ini:");
	ck_assert_has(r.err.msg, "penalti");
	ck_assert_has(r.err.msg, "did you mean 'penalty'");
	run_end(&r);
	run_start(&r, "penalty = 2\n", NULL, 0);
	ck_assert_int_eq(r.open_rc, -1);
	ck_assert_has(r.err.msg, "plug.ini:");
	ck_assert_has(r.err.msg, "maximum");
	run_end(&r);
	run_start(&r, "fail_hook = sometimes\n", NULL, 0);
	ck_assert_int_eq(r.open_rc, -1);
	ck_assert_has(r.err.msg, "sometimes");
	run_end(&r);
}
END_TEST

START_TEST(test_nan_loss)
{
	struct run r;
	run_start(&r, "nan_at_batch = 11\n", NULL, 1);
	ck_assert_int_eq(r.run_rc, -1);
	/* Batch 11 of the run is the third of task 2's first epoch. */
	ck_assert_has(r.err.msg, "step 2, epoch 1, batch 3");
	ck_assert_has(r.err.msg, "NaN");
	/* The first step finished and its results stay on disk. */
	ck_assert_uint_eq(r.e.rows_done, 1);
	char path[4200];
	snprintf(path, sizeof(path), "%s/metrics.json", testutil_dir);
	char *json = testutil_read(path, NULL);
	ck_assert_ptr_nonnull(json);
	ck_assert_has(json, "\"complete\": false");
	free(json);
	run_end(&r);
}
END_TEST

START_TEST(test_extra_loss_and_append)
{
	struct run r;
	run_start(&r, "extra_loss = 50\nappend = true\n", NULL, 1);
	ck_assert_msg(r.run_rc == 0, "%s", r.err.msg);
	ck_assert(r.log.last_loss > 50.0 && r.log.last_loss < 60.0);
	ck_assert_uint_eq(r.e.batch.capacity, 51);
	run_end(&r);
}
END_TEST

/* A penalty of lambda/2 |theta|^2 added through on_gradient is weight decay by another road. */
START_TEST(test_penalty_matches_weight_decay)
{
	struct run a, b;
	run_start(&a, "penalty = 0.01\n", NULL, 1);
	ck_assert_msg(a.run_rc == 0, "%s", a.err.msg);
	run_start(&b, NULL, "weight_decay = 0.01\n", 1);
	ck_assert_msg(b.run_rc == 0, "%s", b.err.msg);
	ck_assert_uint_eq(a.e.model.num_params, b.e.model.num_params);
	double worst = 0;
	for (size_t i = 0; i < a.e.model.num_params; i++)
		worst = fmax(worst, fabs(a.e.model.params[i] - b.e.model.params[i]));
	ck_assert_msg(worst < 1e-5, "largest difference %g", worst);
	run_end(&a);
	run_end(&b);
}
END_TEST

/* Head-only epochs (ABI 1.1): with every epoch head-only the trunk keeps its initial weights
 * while the head learns; the plugin also checks the trunk after each task. */
START_TEST(test_head_only_epochs)
{
	struct run r;
	run_start(&r, "head_epochs = 2\n", NULL, 0);
	ck_assert_msg(r.open_rc == 0, "%s", r.err.msg);
	size_t P = r.e.model.num_params;
	size_t trunk = model_head_offset(&r.e.model);
	float *before = malloc(P * sizeof(float));
	memcpy(before, r.e.model.params, P * sizeof(float));
	ck_assert_msg(engine_run(&r.e, testutil_dir, &r.err) == 0, "%s", r.err.msg);
	ck_assert_int_eq(memcmp(before, r.e.model.params, trunk * sizeof(float)), 0);
	ck_assert_int_ne(memcmp(before + trunk, r.e.model.params + trunk,
				(P - trunk) * sizeof(float)), 0);
	free(before);
	run_end(&r);

	/* One head-only epoch of two: the trunk trains in the first, the plugin sees both. */
	run_start(&r, "head_epochs = 1\n", NULL, 1);
	ck_assert_msg(r.run_rc == 0, "%s", r.err.msg);
	char path[4200];
	snprintf(path, sizeof(path), "%s/metrics.json", testutil_dir);
	char *json = testutil_read(path, NULL);
	ck_assert_has(json, "\"epochs\": 4.0");
	free(json);
	run_end(&r);
}
END_TEST

START_TEST(test_forget_reaches_plugins)
{
	struct run r;
	run_start(&r, NULL, NULL, 0);
	ck_assert_int_eq(r.open_rc, 0);
	const struct task *t = &r.e.tasks.t[1];
	size_t before = t->num_train;
	uint64_t ids[3] = { tasks_sample_id(1, t->train[0]), tasks_sample_id(1, t->train[5]),
			    tasks_sample_id(1, t->train[9]) };
	lethe_forget_request req = { .struct_size = sizeof(req), .kind = LETHE_FORGET_SAMPLES,
				     .task = 1, .ids = ids, .num_ids = 3 };
	ck_assert_msg(engine_forget(&r.e, &req, &r.err) == 0, "%s", r.err.msg);
	ck_assert_uint_eq(t->num_train, before - 3);
	ck_assert_uint_eq(r.e.task_info[1].num_train, before - 3);
	for (size_t i = 0; i < t->num_train; i++)
		ck_assert(tasks_sample_id(1, t->train[i]) != ids[1]);
	ck_assert_has(r.log.lines[r.log.count - 1], "on_forget=1 forgotten=3");
	uint64_t unsorted[2] = { 5, 4 };
	req.ids = unsorted;
	req.num_ids = 2;
	ck_assert_int_eq(engine_forget(&r.e, &req, &r.err), -1);
	ck_assert_has(r.err.msg, "not sorted");
	run_end(&r);
}
END_TEST

START_TEST(test_forget_failure)
{
	struct run r;
	run_start(&r, "fail_hook = on_forget\n", NULL, 0);
	uint64_t id = 0;
	lethe_forget_request req = { .struct_size = sizeof(req), .kind = LETHE_FORGET_SAMPLES,
				     .ids = &id, .num_ids = 1 };
	ck_assert_int_eq(engine_forget(&r.e, &req, &r.err), -1);
	ck_assert_has(r.err.msg, "plugin hooks: on_forget failed");
	run_end(&r);
}
END_TEST

START_TEST(test_state_round_trip)
{
	struct run a, b;
	run_start(&a, NULL, NULL, 1);
	ck_assert_msg(a.run_rc == 0, "%s", a.err.msg);
	FILE *f = tmpfile();
	ck_assert_msg(engine_plugin_save(&a.e, 0, f, &a.err) == 0, "%s", a.err.msg);
	rewind(f);
	run_start(&b, NULL, NULL, 0);
	ck_assert_msg(engine_plugin_load(&b.e, 0, f, &b.err) == 0, "%s", b.err.msg);
	ck_assert_str_eq(b.log.lines[b.log.count - 1],
			 "hooks: loaded before_task=2 on_batch=16 on_logits=16 on_gradient=16 "
			 "after_batch=16 after_task=2 on_forget=0 forgotten=0");
	/* A state cut short is refused, not half-loaded. */
	rewind(f);
	FILE *cut = tmpfile();
	char buf[20];
	ck_assert_uint_eq(fread(buf, 1, sizeof(buf), f), sizeof(buf));
	fwrite(buf, 1, sizeof(buf), cut);
	rewind(cut);
	ck_assert_int_eq(engine_plugin_load(&b.e, 0, cut, &b.err), -1);
	ck_assert_has(b.err.msg, "plugin hooks: load failed");
	fclose(cut);
	fclose(f);
	run_end(&a);
	run_end(&b);
}
END_TEST

/* ---- what the host checks of its plugins ---- */

/* The vandal plugin on the hooks scenario's data, with a forget step after step 1 that it
 * performs, so that every hook it may spoil runs. */
static void vandal_start(struct run *r, const char *values, int run)
{
	memset(r, 0, sizeof(*r));
	char text[8192];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = vandal\nprotocol = class-incremental\n"
		 "plugins = %s/vandal.so\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 100\n"
		 "test_per_class = 20\nspread = 10\n"
		 "[tasks]\nsplit = 2\n[model]\nhidden = 16\n"
		 "[train]\nlr = 0.05\nbatch_size = 50\nepochs = 2\nseed = 3\n"
		 "[forget1]\nafter = 1\nclasses = 0\nplugin = vandal\nreferences =\n"
		 "[vandal]\n%s",
		 plugin_dir, values);
	char *path = testutil_write_text(testutil_dir, "vandal.ini", text);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &r->err) == 0, "%s", r->err.msg);
	free(path);
	plugin_path_init(&r->pp, NULL);
	r->open_rc = engine_open(&r->e, &r->s, &r->pp, &r->err);
	ck_assert_msg(r->open_rc == 0, "%s", r->err.msg);
	engine_add_sink(&r->e, capture, &r->log);
	if (run)
		r->run_rc = engine_run(&r->e, testutil_dir, &r->err);
}

static const struct {
	const char *hook, *what;
	size_t rows_done; /* steps whose accuracies stand: those before the spoiled one */
} spoiled[] = {
	{ "before_task", "parameters", 0 },	 { "before_epoch", "parameters", 0 },
	{ "on_batch", "inputs in the batch", 0 }, { "on_logits", "entries of dlogits", 0 },
	{ "on_gradient", "gradients", 0 },	 { "after_batch", "parameters", 0 },
	{ "after_task", "parameters", 0 },	 { "unlearn", "parameters", 1 },
	{ "on_forget", "parameters", 1 },
};

/* A NaN a plugin writes stops the run there, naming the plugin, the hook and what it broke,
 * and the accuracy of the broken model is never written. */
START_TEST(test_nan_names_plugin)
{
	char values[64], want[128];
	snprintf(values, sizeof(values), "nan_in = %s\n", spoiled[_i].hook);
	struct run r;
	vandal_start(&r, values, 1);
	ck_assert_int_eq(r.run_rc, -1);
	snprintf(want, sizeof(want), "plugin vandal: %s left 1 of ", spoiled[_i].hook);
	ck_assert_has(r.err.msg, want);
	snprintf(want, sizeof(want), " %s NaN or infinite", spoiled[_i].what);
	ck_assert_has(r.err.msg, want);
	ck_assert_msg(!strstr(r.err.msg, "train.lr"), "%s", r.err.msg);
	ck_assert_uint_eq(r.e.rows_done, spoiled[_i].rows_done);
	char path[4200];
	snprintf(path, sizeof(path), "%s/metrics.json", testutil_dir);
	char *json = testutil_read(path, NULL);
	ck_assert_ptr_nonnull(json);
	if (spoiled[_i].rows_done == 0)
		ck_assert_has(json, "\"accuracy_matrix\": [],");
	ck_assert_has(json, "\"complete\": false");
	free(json);
	run_end(&r);
}
END_TEST

/* The training itself diverging is not a plugin's fault, and its accuracies are not written. */
START_TEST(test_nonfinite_model_not_evaluated)
{
	struct run r;
	vandal_start(&r, "", 0);
	double acc[2] = { -1, -1 };
	r.e.model.params[r.e.model.num_params - 1] = INFINITY;
	ck_assert_int_eq(engine_evaluate(&r.e, acc, NULL, NULL, &r.err), -1);
	ck_assert_has(r.err.msg, "1 of ");
	ck_assert_has(r.err.msg, "parameters are NaN or infinite: the training diverged");
	ck_assert(acc[0] == -1 && acc[1] == -1);
	run_end(&r);
}
END_TEST

START_TEST(test_count_nonfinite)
{
	float v[1000];
	for (size_t i = 0; i < 1000; i++)
		v[i] = (float)i - 500.0f;
	v[3] = FLT_MAX;
	v[4] = -FLT_MAX;
	v[5] = FLT_MIN / 2; /* subnormal */
	ck_assert_uint_eq(elementwise_count_nonfinite(v, 1000), 0);
	v[0] = NAN;
	v[511] = INFINITY; /* in the second block */
	v[999] = -INFINITY; /* in the remainder */
	ck_assert_uint_eq(elementwise_count_nonfinite(v, 1000), 3);
	ck_assert_uint_eq(elementwise_count_nonfinite(v, 999), 2);
	ck_assert_uint_eq(elementwise_count_nonfinite(v + 1, 0), 0);
}
END_TEST

/* Plugin text reaches a terminal: on one line, with no control sequence left to act. */
START_TEST(test_escape)
{
	char out[64];
	services_escape(out, sizeof(out), "\x1b[2J\nevil\a\r\t\x7f end");
	ck_assert_str_eq(out, "\\x1b[2J\\nevil\\x07\\r\\t\\x7f end");
	/* printable UTF-8 passes: é, €, 𝄞, and a backslash as it is */
	services_escape(out, sizeof(out), "\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e a\\b");
	ck_assert_str_eq(out, "\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e a\\b");
	/* C1 controls (U+009B is a CSI), stray, overlong and surrogate bytes do not */
	services_escape(out, sizeof(out), "\xc2\x9b" "2J \xff \xc0\xaf \xed\xa0\x80 \xc3");
	ck_assert_str_eq(out, "\\xc2\\x9b2J \\xff \\xc0\\xaf \\xed\\xa0\\x80 \\xc3");
	/* cut at a whole character or escape, never inside one */
	services_escape(out, 6, "ab\ncd");
	ck_assert_str_eq(out, "ab\\nc");
	services_escape(out, 4, "ab\ncd");
	ck_assert_str_eq(out, "ab");
	services_escape(out, 3, "a\xc3\xa9");
	ck_assert_str_eq(out, "a");
	services_escape(out, sizeof(out), NULL);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_hostile_text_escaped)
{
	struct run r;
	vandal_start(&r, "text = log\n", 1);
	ck_assert_msg(r.run_rc == 0, "%s", r.err.msg);
	ck_assert_str_eq(r.log.lines[0], "vandal: \\x1b[2J\\nevil\\x07\\r\xc3\xa9t\xc3\xa9");
	run_end(&r);
	vandal_start(&r, "text = error\n", 1);
	ck_assert_int_eq(r.run_rc, -1);
	ck_assert_has(r.err.msg, "before_task failed (status -1): \\x1b[2J\\nevil\\x07\\r");
	ck_assert_ptr_null(strpbrk(r.err.msg, "\x1b\n\a\r"));
	run_end(&r);
}
END_TEST

/* Every service refuses arguments it cannot use with LETHE_ERR_INVALID, NULL or 0 and a reason
 * (the hook's error), instead of crashing the host. */
START_TEST(test_services_refuse)
{
	struct run r;
	vandal_start(&r, "", 0);
	const lethe_host *h = &r.e.plugins[0].host;
	struct services_ctx *c = &r.e.plugins[0].svc;
	lethe_model *m = h->model(h);
	float x[64] = { 0 }, y[64];
	int32_t labels[4];
	uint64_t pos[2] = { 0, 1 }, n;
	const uint8_t *pixels;
#define REFUSED(call, reason)                                                                 \
	do {                                                                                  \
		services_enter(c);                                                            \
		ck_assert_int_eq((call), LETHE_ERR_INVALID);                                  \
		ck_assert_has(c->error, reason);                                              \
	} while (0)
	REFUSED(h->task_load(h, 0, LETHE_SPLIT_TRAIN, pos, 2, NULL, labels, NULL),
		"task_load: x is NULL");
	REFUSED(h->task_load(h, 0, LETHE_SPLIT_TRAIN, NULL, 2, x, NULL, NULL),
		"task_load: positions is NULL");
	REFUSED(h->task_load(h, 0, (lethe_split)7, pos, 2, x, NULL, NULL), "no such task or split");
	REFUSED(h->task_load(h, 0, LETHE_SPLIT_TRAIN, pos, SIZE_MAX / 4, x, NULL, NULL),
		"overflow");
	REFUSED(h->task_raw(h, 9, 0, &pixels, NULL, NULL), "no such task");
	REFUSED(h->sample_raw(h, UINT64_MAX, &pixels, NULL), "no training sample");
	REFUSED(h->task_convert(h, 0, NULL, 1, x), "task_convert: pixels is NULL");
	REFUSED(h->task_convert(h, 0, (const uint8_t *)"", SIZE_MAX / 2, x), "overflow");
	size_t capacity = r.e.batch_capacity;
	REFUSED(h->batch_reserve(h, SIZE_MAX), "would make a batch of more than");
	REFUSED(h->batch_reserve(h, (size_t)INT_MAX), "would make a batch of more than");
	ck_assert_uint_eq(r.e.batch_capacity, capacity);
	ck_assert_uint_eq(c->reserved, 0);
	lethe_layer layer = { .struct_size = sizeof(layer) };
	REFUSED(h->model_layer(h, NULL, 0, &layer), "model_layer: m is NULL");
	REFUSED(h->model_layer(h, (lethe_model *)x, 0, &layer), "model_layer: m is neither");
	REFUSED(h->model_forward(h, NULL, x, 1, y), "model_forward: m is NULL");
	REFUSED(h->model_forward(h, m, NULL, 1, y), "model_forward: x is NULL");
	REFUSED(h->model_forward(h, m, x, 1, NULL), "model_forward: logits is NULL");
	services_enter(c);
	ck_assert_int_eq(h->model_forward(h, m, x, 1, y), LETHE_OK);
	REFUSED(h->model_backward(h, m, NULL, 1), "model_backward: dlogits is NULL");
	REFUSED(h->model_backward_deltas(h, (lethe_model *)y, y, 0), "m is neither");
	/* A clone freed is no longer a model. */
	services_enter(c);
	lethe_model *clone = h->model_clone(h, m);
	ck_assert_ptr_nonnull(clone);
	h->model_free(h, clone);
	REFUSED(h->model_forward(h, clone, x, 1, y), "m is neither the host's model nor a live clone");
#undef REFUSED

	/* What returns a pointer or a count returns NULL or 0, and logs why. */
	size_t logged = r.log.count;
	services_enter(c);
	ck_assert_ptr_null(h->model_clone(h, NULL));
	ck_assert_has(c->error, "model_clone: m is NULL");
	n = 7;
	ck_assert_ptr_null(h->model_params(h, NULL, &n));
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(h->model_grads(h, (lethe_model *)x, NULL));
	ck_assert_uint_eq(h->model_num_layers(h, NULL), 0);
	ck_assert_has(c->error, "model_num_layers: m is NULL");
	ck_assert_uint_eq(r.log.count, logged + 4);
	ck_assert_has(r.log.lines[logged], "vandal: model_clone: m is NULL");
	ck_assert_int_eq(c->misused, 0);

	/* A NULL host: the plugin whose hook runs hears of it. */
	services_enter(c);
	ck_assert_ptr_null(h->run_info(NULL));
	ck_assert_has(c->error, "run_info: the host is NULL");
	ck_assert_ptr_null(h->model(NULL));
	ck_assert_ptr_null(h->task_info(NULL, 0));
	services_enter(c);
	ck_assert_int_eq(h->task_load(NULL, 0, LETHE_SPLIT_TRAIN, pos, 1, x, NULL, NULL),
			 LETHE_ERR_INVALID);
	ck_assert_has(c->error, "task_load: the host is NULL");
	ck_assert_int_eq(c->misused, 0);
	h->log(NULL, LETHE_LOG_INFO, "lost");
	ck_assert_int_eq(c->misused, 1);

	/* What returns nothing, or a number, does nothing and fails the hook. */
	static const char *const reasons[] = { "sgemm: m = 2147483648", "leading dimension",
					       "sgemm: m = 1, n = 1, k = 1", "saxpy: n = 4 with a NULL",
					       "sdot: n = 2147483648 is above INT_MAX" };
	for (int i = 0; i < 5; i++) {
		services_enter(c);
		y[0] = 5;
		if (i == 0)
			h->sgemm(h, 0, 0, (size_t)INT_MAX + 1, 1, 1, 1, x, 1, x, 1, 0, y, 1);
		else if (i == 1)
			h->sgemm(h, 0, 0, 2, 2, 3, 1, x, 2, x, 2, 0, y, 2); /* lda 2 < k 3 */
		else if (i == 2)
			h->sgemm(h, 1, 1, 1, 1, 1, 1, NULL, 1, x, 1, 0, y, 1);
		else if (i == 3)
			h->saxpy(h, 4, 1, x, NULL);
		else
			ck_assert(h->sdot(h, (size_t)INT_MAX + 1, x, y) == 0.0f);
		ck_assert_int_eq(c->misused, 1);
		ck_assert_has(c->error, reasons[i]);
		ck_assert(y[0] == 5);
	}
	services_enter(c);
	h->sgemm(h, 0, 1, 2, 2, 3, 1, x, 3, x, 3, 0, y, 2);
	ck_assert_int_eq(c->misused, 0);
	run_end(&r);
}
END_TEST

/* A hook that misused a service fails though it returned LETHE_OK: what it computed is not. */
START_TEST(test_misuse_fails_hook)
{
	struct run r;
	vandal_start(&r, "misuse = true\n", 1);
	ck_assert_int_eq(r.run_rc, -1);
	ck_assert_has(r.err.msg, "plugin vandal: before_task: saxpy: n = 1 with a NULL vector");
	ck_assert_uint_eq(r.e.rows_done, 0);
	run_end(&r);
}
END_TEST

static Suite *plugin_suite(void)
{
	Suite *s = suite_create("plugin");
	TCase *tc = tcase_create("loader");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_add_test(tc, test_open_valid);
	tcase_add_test(tc, test_cxx_plugin);
	tcase_add_test(tc, test_refuse_major);
	tcase_add_test(tc, test_refuse_newer_minor);
	tcase_add_test(tc, test_refuse_no_entry);
	tcase_add_test(tc, test_refuse_not_shared_object);
	tcase_add_test(tc, test_path_find);
	suite_add_tcase(s, tc);

	tc = tcase_create("hooks");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hooks_counts);
	tcase_add_loop_test(tc, test_hook_failure_stops_run, 0,
			    sizeof(hook_names) / sizeof(hook_names[0]));
	tcase_add_test(tc, test_create_failure);
	tcase_add_test(tc, test_param_errors);
	tcase_add_test(tc, test_nan_loss);
	tcase_add_test(tc, test_extra_loss_and_append);
	tcase_add_test(tc, test_penalty_matches_weight_decay);
	tcase_add_test(tc, test_head_only_epochs);
	suite_add_tcase(s, tc);

	tc = tcase_create("forget_state");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_add_test(tc, test_forget_reaches_plugins);
	tcase_add_test(tc, test_forget_failure);
	tcase_add_test(tc, test_state_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("checked");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_nan_names_plugin, 0, sizeof(spoiled) / sizeof(spoiled[0]));
	tcase_add_test(tc, test_nonfinite_model_not_evaluated);
	tcase_add_test(tc, test_count_nonfinite);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_hostile_text_escaped);
	tcase_add_test(tc, test_services_refuse);
	tcase_add_test(tc, test_misuse_fails_hook);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(plugin_suite());
}
