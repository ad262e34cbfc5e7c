/* ABI compatibility: plugins built against released SDK headers (tests/abi/) keep loading and
 * working in this host; plugins from a future it cannot know are refused, naming both versions. */
#define _GNU_SOURCE
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/plugin_loader.h"
#include "scenario/scenario.h"
#include "testutil.h"

static char plugin_dir[4096];

static void setup(void)
{
	const char *d = getenv("LETHE_TEST_PLUGINS");
	snprintf(plugin_dir, sizeof(plugin_dir), "%s", d && *d ? d : "tests/plugins/.libs");
	testutil_setup();
}

struct capture {
	char last[512];
	size_t logs;
};

static void capture(void *ctx, const struct event *ev)
{
	struct capture *c = ctx;
	if (ev->kind == EVENT_LOG) {
		snprintf(c->last, sizeof(c->last), "%s", ev->msg);
		c->logs++;
	}
}

/* The hooks plugin built against released headers 1.minor runs a whole scenario, every hook
 * included, in this host, on the model `model` describes; the engine is left open in e. */
static void run_old_plugin(struct engine *e, struct scenario *s, struct plugin_path *pp,
			   unsigned minor, const char *model)
{
	char path[4200], text[8192];
	snprintf(path, sizeof(path), "%s/hooks_v1_%u.so", plugin_dir, minor);
	struct plugin_file pf;
	struct error err;
	ck_assert_msg(plugin_file_open(&pf, path, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(pf.plugin_abi.major, 1);
	ck_assert_uint_eq(pf.plugin_abi.minor, minor);
	ck_assert_uint_le(pf.plugin_abi.minor, LETHE_ABI_MINOR);
	plugin_file_close(&pf);

	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = task-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 50\n"
		 "test_per_class = 10\n[tasks]\nsplit = 2\n[model]\n%s\n"
		 "[train]\nlr = 0.05\nbatch_size = 25\nepochs = 1\n"
		 "[hooks_v1_%u]\nappend = true\npenalty = 0.001\n", path, model, minor);
	char *ini = testutil_write_text(testutil_dir, "abi.ini", text);
	ck_assert_msg(scenario_load(s, ini, NULL, 0, &err) == 0, "%s", err.msg);
	plugin_path_init(pp, NULL);
	ck_assert_msg(engine_open(e, s, pp, &err) == 0, "%s", err.msg);
	struct capture c = { .logs = 0 };
	engine_add_sink(e, capture, &c);
	ck_assert_msg(engine_run(e, testutil_dir, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(c.last, "after_task before_task=2 on_batch=8 on_logits=8 on_gradient=8 "
				 "after_batch=8 after_task=2 on_forget=0 forgotten=0");
	free(ini);
}

static void close_run(struct engine *e, struct scenario *s, struct plugin_path *pp)
{
	engine_close(e);
	plugin_path_free(pp);
	scenario_free(s);
}

START_TEST(test_v1_0_plugin_runs)
{
	struct engine e;
	struct scenario s;
	struct plugin_path pp;
	run_old_plugin(&e, &s, &pp, 0, "hidden = 8");
	/* Built against 1.0, its instance table stops before the 1.1 hooks; the host reads them
	 * as absent. */
	ck_assert_uint_lt(e.plugins[0].inst->struct_size, sizeof(lethe_plugin));
	ck_assert_ptr_null(e.plugins[0].hooks.head_epochs);
	close_run(&e, &s, &pp);
}
END_TEST

/* A 1.1 plugin runs on an MLP and, reading only its head, on a convolutional net with batch
 * norm; asked for a layer that is not dense, the host refuses with the reason. */
START_TEST(test_v1_1_plugin_runs)
{
	struct engine e;
	struct scenario s;
	struct plugin_path pp;
	run_old_plugin(&e, &s, &pp, 1, "hidden = 8");
	close_run(&e, &s, &pp);

	run_old_plugin(&e, &s, &pp, 1, "layers = conv 4 k3 p1, bn, relu, flatten, dense");
	const lethe_host *h = &e.plugins[0].host;
	lethe_model *m = h->model(h);
	ck_assert_uint_eq(h->model_num_layers(h, m), 3);
	/* The 1.1 layer: the fields up to delta. */
	lethe_layer layer = { .struct_size = offsetof(lethe_layer, delta) + sizeof(void *) };
	services_enter(&e.plugins[0].svc);
	ck_assert_int_eq(h->model_layer(h, m, 0, &layer), LETHE_ERR_INVALID);
	ck_assert_has(e.plugins[0].svc.error, "layer 0 is a convolution; the plugin was built "
					      "against ABI 1.1, which knows dense layers only");
	ck_assert_int_eq(h->model_layer(h, m, 1, &layer), LETHE_ERR_INVALID);
	ck_assert_has(e.plugins[0].svc.error, "layer 1 is a batch norm");
	ck_assert_int_eq(h->model_layer(h, m, 2, &layer), LETHE_OK);
	ck_assert_int_eq(layer.is_head, 1);
	ck_assert_uint_eq(layer.in, 4 * 8);
	ck_assert_uint_eq(layer.out, 4);
	close_run(&e, &s, &pp);
}
END_TEST

/* A 1.2 plugin runs on an MLP and on a convolutional net with batch norm, and sees every
 * layer's kind and shape. */
START_TEST(test_v1_2_plugin_runs)
{
	struct engine e;
	struct scenario s;
	struct plugin_path pp;
	run_old_plugin(&e, &s, &pp, 2, "hidden = 8");
	close_run(&e, &s, &pp);

	run_old_plugin(&e, &s, &pp, 2, "layers = conv 4 k3 p1, bn, relu, flatten, dense");
	const lethe_host *h = &e.plugins[0].host;
	lethe_model *m = h->model(h);
	/* The 1.2 layer: the fields up to bias_count. */
	lethe_layer layer = { .struct_size = offsetof(lethe_layer, bias_count) + sizeof(uint64_t) };
	services_enter(&e.plugins[0].svc);
	ck_assert_int_eq(h->model_layer(h, m, 0, &layer), LETHE_OK);
	ck_assert_int_eq(layer.kind, LETHE_LAYER_CONV2D);
	ck_assert_uint_eq(layer.kernel, 3);
	ck_assert_int_eq(h->model_layer(h, m, 1, &layer), LETHE_OK);
	ck_assert_int_eq(layer.kind, LETHE_LAYER_BATCHNORM);
	ck_assert_uint_eq(layer.weight_count, 4);
	close_run(&e, &s, &pp);
}
END_TEST

START_TEST(test_future_versions_refused)
{
	const char *names[] = { "abi_major", "abi_minor" };
	const char *why[] = { "major versions differ", "the plugin's minor is newer" };
	for (int i = 0; i < 2; i++) {
		char path[4200], host[64];
		snprintf(path, sizeof(path), "%s/%s.so", plugin_dir, names[i]);
		struct plugin_file pf;
		struct error err;
		ck_assert_int_eq(plugin_file_open(&pf, path, &err), -1);
		ck_assert_has(err.msg, path);
		ck_assert_has(err.msg, why[i]);
		snprintf(host, sizeof(host), "this host speaks %d.%d.%d", LETHE_ABI_MAJOR,
			 LETHE_ABI_MINOR, LETHE_ABI_PATCH);
		ck_assert_has(err.msg, host);
	}
}
END_TEST

static Suite *abi_suite(void)
{
	Suite *s = suite_create("abi");
	TCase *tc = tcase_create("versions");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_add_test(tc, test_v1_0_plugin_runs);
	tcase_add_test(tc, test_v1_1_plugin_runs);
	tcase_add_test(tc, test_v1_2_plugin_runs);
	tcase_add_test(tc, test_future_versions_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(abi_suite());
}
