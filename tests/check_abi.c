/* ABI compatibility: plugins built against released SDK headers (tests/abi/) keep loading and
 * working in this host; plugins from a future it cannot know are refused, naming both versions. */
#define _GNU_SOURCE
#include <check.h>
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

/* The 1.0 build of the hooks plugin runs a whole scenario, every hook included, in this host. */
START_TEST(test_v1_0_plugin_runs)
{
	char path[4200], text[8192];
	snprintf(path, sizeof(path), "%s/hooks_v1_0.so", plugin_dir);
	struct plugin_file pf;
	struct error err;
	ck_assert_msg(plugin_file_open(&pf, path, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(pf.plugin_abi.major, 1);
	ck_assert_uint_eq(pf.plugin_abi.minor, 0);
	ck_assert_uint_le(pf.plugin_abi.minor, LETHE_ABI_MINOR);
	plugin_file_close(&pf);

	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = task-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 50\n"
		 "test_per_class = 10\n[tasks]\nsplit = 2\n[model]\nhidden = 8\n"
		 "[train]\nlr = 0.05\nbatch_size = 25\nepochs = 1\n"
		 "[hooks_v1_0]\nappend = true\npenalty = 0.001\n", path);
	char *ini = testutil_write_text(testutil_dir, "abi.ini", text);
	struct scenario s;
	ck_assert_msg(scenario_load(&s, ini, NULL, 0, &err) == 0, "%s", err.msg);
	struct plugin_path pp;
	plugin_path_init(&pp, NULL);
	struct engine e;
	ck_assert_msg(engine_open(&e, &s, &pp, &err) == 0, "%s", err.msg);
	/* Built against 1.0, its instance table stops before the 1.1 hooks; the host reads them
	 * as absent. */
	ck_assert_uint_lt(e.plugins[0].inst->struct_size, sizeof(lethe_plugin));
	ck_assert_ptr_null(e.plugins[0].hooks.head_epochs);
	struct capture c = { .logs = 0 };
	engine_add_sink(&e, capture, &c);
	ck_assert_msg(engine_run(&e, testutil_dir, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(c.last, "after_task before_task=2 on_batch=8 on_logits=8 on_gradient=8 "
				 "after_batch=8 after_task=2 on_forget=0 forgotten=0");
	engine_close(&e);
	plugin_path_free(&pp);
	scenario_free(&s);
	free(ini);
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
	tcase_add_test(tc, test_future_versions_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(abi_suite());
}
