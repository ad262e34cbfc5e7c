/* The plugin loader and the hook contract, through real dlopen of real plugin files. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "plugin_loader.h"
#include "scenario.h"
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
	ck_assert_uint_eq(pf.entry.num_params, 6);
	ck_assert_str_eq(pf.params[0].key, "fail_hook");
	ck_assert_uint_eq(pf.plugin_abi.major, LETHE_ABI_MAJOR);
	plugin_file_close(&pf);
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
	size_t trunk = r.e.model.layer[r.e.model.num_layers - 1].w_off;
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

static Suite *plugin_suite(void)
{
	Suite *s = suite_create("plugin");
	TCase *tc = tcase_create("loader");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_add_test(tc, test_open_valid);
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
	return s;
}

int main(void)
{
	return testutil_run(plugin_suite());
}
