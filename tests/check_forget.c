/* Forgetting end to end: after a scenario's forget step, no stored sample of the forgotten data
 * remains in any plugin's state or in any file the run writes afterwards. The scan looks for
 * each forgotten sample's raw bytes, so it holds whatever encoding a plugin chooses. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "scenario/scenario.h"
#include "testutil.h"

#define DIM 64

/* Whether any forgotten sample's DIM raw bytes occur in buf. */
static int holds_forgotten(const struct engine *e, int32_t cls, const unsigned char *buf,
			   size_t size)
{
	for (size_t p = 0; p < e->train.n; p++) {
		if (e->train.y[p] != cls)
			continue;
		if (memmem(buf, size, e->train.x + p * DIM, DIM))
			return 1;
	}
	return 0;
}

static int state_holds(struct engine *e, size_t i, int32_t cls)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	struct error err;
	ck_assert_msg(engine_plugin_save(e, i, f, &err) == 0, "%s", err.msg);
	fclose(f);
	int found = holds_forgotten(e, cls, (unsigned char *)buf, size);
	free(buf);
	return found;
}

/* Whether lwf's teacher (its state: uint32 task, uint64 P, P floats) has the model's weights:
 * the unlearned ones, after a forget. */
static int teacher_is_model(struct engine *e, size_t i)
{
	char *buf = NULL;
	size_t size = 0, P = e->model.num_params;
	FILE *f = open_memstream(&buf, &size);
	struct error err;
	ck_assert_msg(engine_plugin_save(e, i, f, &err) == 0, "%s", err.msg);
	fclose(f);
	/* The engine's framing (uint32 version, uint64 length), then the plugin's. */
	int same = size >= 24 + P * sizeof(float) &&
		   !memcmp(buf + 24, e->model.params, P * sizeof(float));
	free(buf);
	return same;
}

/* The first plugin of each set keeps samples; the others ride along. lwf, si and mas keep none,
 * but lwf's teacher and si's and mas's statistics are in the states scanned too. */
static const struct {
	const char *plugins, *sections;
} plugin_sets[] = {
	{ "rehearsal, ewc, l2, repulsion",
	  "[rehearsal]\nmax_stored = 400\n[ewc]\nlambda = 1\n[l2]\nlambda = 0.01\n" },
	{ "er_ace, si, lwf, repulsion", "[er_ace]\nmax_stored = 400\n" },
	{ "der, mas, repulsion", "[der]\nmax_stored = 400\n" },
	{ "derpp, repulsion", "[derpp]\nmax_stored = 400\n" },
	{ "gem, repulsion", "[gem]\nmemory_per_task = 200\n" },
	{ "agem, repulsion", "[agem]\nmax_stored = 400\n" },
	{ "gdumb, repulsion", "[gdumb]\nmax_stored = 400\nepochs = 1\n" },
	{ "icarl, repulsion", "[icarl]\nmax_stored = 400\n" },
	{ "bic, repulsion", "[bic]\nmax_stored = 400\nbias_epochs = 2\n" },
};

START_TEST(test_no_trace_left)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = class-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = %d\ntrain_per_class = 80\n"
		 "test_per_class = 20\nspread = 40\n"
		 "[tasks]\nsplit = 2\n[model]\nhidden = 16\n"
		 "[train]\nlr = 0.05\nbatch_size = 20\nepochs = 1\n"
		 "%s[forget1]\nafter = 2\nclasses = 1\nplugin = repulsion\nreferences = finetune\n",
		 plugin_sets[_i].plugins, DIM, plugin_sets[_i].sections);
	char *path = testutil_write_text(testutil_dir, "f.ini", text);
	struct scenario s;
	struct error err;
	ck_assert_msg(scenario_load(&s, path, NULL, 0, &err) == 0, "%s", err.msg);
	struct plugin_path pp;
	plugin_path_init(&pp, getenv("LETHE_BUILD_PLUGINS"));
	struct engine e;
	ck_assert_msg(engine_open(&e, &s, &pp, &err) == 0, "%s", err.msg);

	/* Without the forget step the buffer does hold the class: the scan can see it. */
	struct scenario_forget *f = &s.forgets[0];
	size_t num_forgets = s.num_forgets;
	s.num_forgets = 0;
	struct engine control;
	ck_assert_msg(engine_open(&control, &s, &pp, &err) == 0, "%s", err.msg);
	ck_assert_msg(engine_run(&control, NULL, &err) == 0, "%s", err.msg);
	ck_assert(state_holds(&control, 0, 1));
	engine_close(&control);
	s.num_forgets = num_forgets;

	char out[4200];
	snprintf(out, sizeof(out), "%s/out", testutil_dir);
	ck_assert_msg(engine_run(&e, out, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(e.num_unlearning, 1);
	ck_assert_ptr_eq(e.unlearning[0].forget, f);
	for (size_t i = 0; i < e.num_plugins; i++)
		ck_assert_msg(!state_holds(&e, i, 1), "plugin %s keeps a forgotten sample",
			      e.plugins[i].file.entry.name);
	for (size_t i = 0; i < e.num_plugins; i++)
		if (!strcmp(e.plugins[i].file.entry.name, "lwf"))
			ck_assert_msg(teacher_is_model(&e, i), "lwf's teacher outlived the forget");

	DIR *d = opendir(out);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	size_t files = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char file[4500];
		snprintf(file, sizeof(file), "%s/%s", out, de->d_name);
		size_t size;
		char *buf = testutil_read(file, &size);
		ck_assert_ptr_nonnull(buf);
		ck_assert_msg(!holds_forgotten(&e, 1, (unsigned char *)buf, size), "%s holds a "
			      "forgotten sample", file);
		free(buf);
		files++;
	}
	closedir(d);
	ck_assert_uint_ge(files, 2);
	engine_close(&e);
	plugin_path_free(&pp);
	scenario_free(&s);
	free(path);
}
END_TEST

static Suite *forget_suite(void)
{
	Suite *s = suite_create("forget");
	TCase *tc = tcase_create("traces");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_no_trace_left, 0,
			    (int)(sizeof(plugin_sets) / sizeof(*plugin_sets)));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(forget_suite());
}
