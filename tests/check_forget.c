/* Forgetting end to end: after a scenario's forget step, no stored sample of the forgotten data
 * remains in any plugin's state or in any file the run writes afterwards. The scan looks for
 * each forgotten sample's raw bytes, so it holds whatever encoding a plugin chooses. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/engine.h"
#include "results/results.h"
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

/* The learning part of the forget scenarios below: synthetic data in 3 tasks, rehearsal. */
#define LEARNING                                                                              \
	"[data]\nsource = synthetic\nclasses = 6\ndim = %d\ntrain_per_class = 60\n"             \
	"test_per_class = 20\nspread = 40\n"                                                    \
	"[tasks]\nsplit = 3\n[model]\nhidden = 16\n"                                            \
	"[train]\nlr = 0.05\nbatch_size = 20\nepochs = 1\n[rehearsal]\nmax_stored = 100\n"

/* Writes the scenario text, runs it to the end in e and checks it made `forgets` forget
 * steps; returns the scenario's path. */
static char *forget_run(const char *text, size_t forgets, struct engine *e, struct scenario *s,
			const struct plugin_path *pp)
{
	char name[64];
	static int runs;
	snprintf(name, sizeof(name), "c%d.ini", runs++);
	char *path = testutil_write_text(testutil_dir, name, text);
	struct error err;
	ck_assert_msg(scenario_load(s, path, NULL, 0, &err) == 0, "%s", err.msg);
	ck_assert_msg(engine_open(e, s, pp, &err) == 0, "%s", err.msg);
	ck_assert_msg(engine_run(e, NULL, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(e->num_unlearning, forgets);
	return path;
}

/* A forget scenario on synthetic data: two requests (the second has cumulative figures), the
 * step's plugin and compare list as given. */
static void compare_run(const char *plugin, const char *compare, struct engine *e,
			struct scenario *s, struct plugin_path *pp)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = class-incremental\nplugins = rehearsal, repulsion, neggrad, "
		 "l1sparse\n" LEARNING
		 "[forget1]\nafter = 2\nclasses = 1\nplugin = %s\ncompare = %s\n"
		 "references = retrain\nrelearn_max_epochs = 1\n"
		 "[forget2]\nafter = 3\nwhat = samples\ntask = 3\nfraction = 0.2\nplugin = %s\n"
		 "compare = %s\nreferences = retrain\nrelearn_max_epochs = 1\n",
		 DIM, plugin, compare, plugin, compare);
	free(forget_run(text, 2, e, s, pp));
}

/* a and b, their wall times aside, hold the same bits. */
static int same_figures(struct forget_figures a, struct forget_figures b)
{
	a.seconds = b.seconds = 0;
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static const struct forget_figures *compared_of(const struct results_unlearning *u,
						const char *plugin, int cumulative)
{
	for (size_t c = 0; c < u->num_compared; c++)
		if (!strcmp(u->compared[c], plugin))
			return cumulative ? &u->cumulative_compared[c] : &u->compared_figures[c];
	ck_abort_msg("%s not compared", plugin);
	return NULL;
}

/* A compared plugin's figures are those of a run with it as the step's plugin, whatever the
 * list's order, and the run continues as it would without the list. */
START_TEST(test_compare_is_a_separate_run)
{
	struct plugin_path pp;
	plugin_path_init(&pp, getenv("LETHE_BUILD_PLUGINS"));
	struct scenario s[4];
	struct engine e[4]; /* with the list, its reverse, neggrad alone, repulsion alone */
	compare_run("repulsion", "l1sparse, neggrad", &e[0], &s[0], &pp);
	compare_run("repulsion", "neggrad, l1sparse", &e[1], &s[1], &pp);
	compare_run("neggrad", "", &e[2], &s[2], &pp);
	compare_run("repulsion", "", &e[3], &s[3], &pp);
	/* The first request starts from the same model in every run; the second from the one
	 * the step's own plugin left, so only the list's order and the run's own figures can be
	 * compared there. */
	for (size_t k = 0; k < 2; k++) {
		const struct results_unlearning *u = &e[0].unlearning[k], *v = &e[1].unlearning[k];
		const struct results_unlearning *own = &e[3].unlearning[k];
		ck_assert_uint_eq(u->num_compared, 2);
		if (k == 0)
			ck_assert(same_figures(*compared_of(u, "neggrad", 0),
					       e[2].unlearning[0].figures));
		for (int cum = 0; cum <= (int)k; cum++) {
			ck_assert(same_figures(*compared_of(u, "neggrad", cum),
					       *compared_of(v, "neggrad", cum)));
			ck_assert(same_figures(*compared_of(u, "l1sparse", cum),
					       *compared_of(v, "l1sparse", cum)));
		}
		ck_assert(same_figures(u->figures, own->figures));
		ck_assert_int_eq(u->has_cumulative, (int)k);
		if (k)
			ck_assert(same_figures(u->cumulative, own->cumulative));
	}
	ck_assert_int_eq(memcmp(e[0].model.params, e[3].model.params,
				e[0].model.num_params * sizeof(float)), 0);
	ck_assert_int_eq(memcmp(e[0].R, e[3].R, e[0].tasks.count * e[0].tasks.count *
						       sizeof(*e[0].R)), 0);
	for (size_t i = 0; i < 4; i++) {
		engine_close(&e[i]);
		scenario_free(&s[i]);
	}
	plugin_path_free(&pp);
}
END_TEST

/* compare_run's learning, one forget step with repulsion's unlearn and `compare`, the vandal
 * test plugin (its unlearn leaves a NaN in the model) and neggrad among the plugins. Returns
 * the scenario's path. */
static char *vandal_run(const char *compare, struct engine *e, struct scenario *s,
			const struct plugin_path *pp)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = class-incremental\nplugins = rehearsal, repulsion, neggrad, "
		 "%s/vandal.so\n" LEARNING "[vandal]\nnan_in = unlearn\n"
		 "[forget1]\nafter = 2\nclasses = 1\nplugin = repulsion\ncompare = %s\n"
		 "references = retrain\nrelearn_max_epochs = 1\n",
		 getenv("LETHE_TEST_PLUGINS"), DIM, compare);
	return forget_run(text, 1, e, s, pp);
}

/* A compared plugin that fails (vandal's NaN) is recorded as failed, with its reason and no
 * figures, in the results, metrics.json's entry and the checkpoint; the next one and the run go
 * on as in a run without it. */
START_TEST(test_compare_failure_recorded)
{
	struct plugin_path pp;
	plugin_path_init(&pp, getenv("LETHE_BUILD_PLUGINS"));
	struct scenario s[3];
	struct engine e[3]; /* vandal failing before neggrad, neggrad alone, resumed */
	char *path = vandal_run("vandal, neggrad", &e[0], &s[0], &pp);
	free(vandal_run("neggrad", &e[1], &s[1], &pp));
	const struct results_unlearning *u = &e[0].unlearning[0], *v = &e[1].unlearning[0];
	ck_assert_uint_eq(u->num_compared, 2);
	ck_assert_str_eq(u->compared[0], "vandal");
	ck_assert_has(u->compared_failed[0], "plugin vandal: unlearn left");
	ck_assert_ptr_null(strchr(u->compared_failed[0], '\n'));
	ck_assert(isnan(u->compared_figures[0].ua) && isnan(u->compared_figures[0].svc_mia[1]));
	ck_assert_str_eq(u->compared_failed[1], "");
	ck_assert(same_figures(*compared_of(u, "neggrad", 0), *compared_of(v, "neggrad", 0)));
	ck_assert(same_figures(u->figures, v->figures));
	ck_assert_int_eq(memcmp(e[0].model.params, e[1].model.params,
				e[0].model.num_params * sizeof(float)), 0);

	json_t *o = results_unlearning_json(u);
	json_t *vandal = json_object_get(json_object_get(o, "compared"), "vandal");
	ck_assert_str_eq(json_string_value(json_object_get(vandal, "failed")),
			 u->compared_failed[0]);
	ck_assert(json_is_null(json_object_get(vandal, "ua")));
	ck_assert(json_is_null(json_object_get(json_object_get(json_object_get(o, "compared"),
							       "neggrad"), "failed")));
	json_decref(o);

	struct error err;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/resumed", testutil_dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_msg(engine_checkpoint(&e[0], dir, &err) == 0, "%s", err.msg);
	ck_assert_msg(scenario_load(&s[2], path, NULL, 0, &err) == 0, "%s", err.msg);
	ck_assert_msg(engine_open(&e[2], &s[2], &pp, &err) == 0, "%s", err.msg);
	ck_assert_msg(engine_resume(&e[2], dir, &err) == 0, "%s", err.msg);
	const struct results_unlearning *w = &e[2].unlearning[0];
	ck_assert_uint_eq(w->num_compared, 2);
	ck_assert_str_eq(w->compared_failed[0], u->compared_failed[0]);
	ck_assert_str_eq(w->compared_failed[1], "");
	ck_assert(isnan(w->compared_figures[0].ua));
	ck_assert(same_figures(w->compared_figures[1], u->compared_figures[1]));
	free(path);
	for (size_t i = 0; i < 3; i++) {
		engine_close(&e[i]);
		scenario_free(&s[i]);
	}
	plugin_path_free(&pp);
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
	tcase_add_test(tc, test_compare_is_a_separate_run);
	tcase_add_test(tc, test_compare_failure_recorded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(forget_suite());
}
