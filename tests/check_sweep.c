/* lethe sweep's parts without child processes: the sweep file and its expansion into runs,
 * labels and folders, the up-front check, the plan, and the summary's statistics against
 * values worked out by hand from fixture metrics.json files. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>
#include <jansson.h>

#include "core/plugin_loader.h"
#include "sweep/sweep_check.h"
#include "sweep/sweep_file.h"
#include "sweep/sweep_plan.h"
#include "sweep/sweep_progress.h"
#include "sweep/sweep_summary.h"
#include "testutil.h"

#define assert_has(text, needle) \
	ck_assert_msg(strstr((text), (needle)) != NULL, "\"%s\" lacks \"%s\"", (text), (needle))
#define assert_near(x, y)                                                                 \
	ck_assert_msg(fabs((double)(x) - (double)(y)) < 1e-12, "%.17g != %.17g", (double)(x),   \
		      (double)(y))

static char *dir;
static char path[4096];

static const char base_ini[] = "[scenario]\nname = t\nprotocol = class-incremental\n"
			       "[data]\nsource = synthetic\nclasses = 4\ndim = 4\n"
			       "train_per_class = 8\ntest_per_class = 4\n"
			       "[tasks]\nsplit = 2\n[model]\nhidden = 8\n"
			       "[train]\nlr = 0.1\nbatch_size = 4\nepochs = 1\n";

static void setup(void)
{
	dir = testutil_tmpdir();
	free(testutil_write_text(dir, "base.ini", base_ini));
}

static void teardown(void)
{
	testutil_rmtree(dir);
	free(dir);
}

static const char *put(const char *name, const char *text)
{
	char *p = testutil_write_text(dir, name, text);
	snprintf(path, sizeof(path), "%s", p);
	free(p);
	return path;
}

static void loads(struct sweep *sw, const char *text)
{
	struct error e = { "" };
	int rc = sweep_load(sw, put("sw.ini", text), &e);
	ck_assert_msg(rc == 0, "sweep_load: %s", e.msg);
}

static const char *fails(const char *text)
{
	static struct error e;
	struct sweep sw;
	ck_assert_int_eq(sweep_load(&sw, put("sw.ini", text), &e), -1);
	return e.msg;
}

/* ---- the sweep file ---- */

START_TEST(test_grid_order)
{
	struct sweep sw;
	loads(&sw, "[sweep]\nname = g\nscenario = base.ini\nseeds = 1, 2\n"
		   "[grid]\ntrain.lr = 0.1, 0.2\nmodel.hidden = 8, \"8,4\", 16\n");
	ck_assert_str_eq(sw.name, "g");
	ck_assert_uint_eq(sw.num_settings, 6);
	ck_assert_uint_eq(sweep_num_runs(&sw), 12);
	/* The first key varies slowest. */
	const char *want[] = { "train.lr=0.1 model.hidden=8", "train.lr=0.1 model.hidden=8,4",
			       "train.lr=0.1 model.hidden=16", "train.lr=0.2 model.hidden=8",
			       "train.lr=0.2 model.hidden=8,4", "train.lr=0.2 model.hidden=16" };
	for (size_t i = 0; i < 6; i++)
		ck_assert_str_eq(sw.settings[i].label, want[i]);
	ck_assert_str_eq(sw.settings[1].values[1].value, "8,4");
	ck_assert_int_eq(sw.settings[1].values[1].line, 7);
	ck_assert_str_eq(sw.settings[1].folder, "train.lr=0.1_model.hidden=8,4");
	/* Run r: setting r / seeds, seed r % seeds. */
	char rel[4096];
	sweep_run_path(&sw, 3, rel, sizeof(rel));
	ck_assert_str_eq(rel, "runs/train.lr=0.1_model.hidden=8,4/seed-2");
	/* The base is found next to the sweep file and made absolute. */
	char want_base[4200];
	snprintf(want_base, sizeof(want_base), "%s/base.ini", dir);
	ck_assert_str_eq(sw.base, want_base);
	sweep_free(&sw);
}
END_TEST

START_TEST(test_list_mode)
{
	struct sweep sw;
	loads(&sw, "[sweep]\nscenario = base.ini\nseeds = 3\nmode = list\n[list]\n"
		   "small = train.lr=0.01 model.hidden=8\n"
		   "big = model.hidden=64,64\n");
	ck_assert_str_eq(sw.name, "sw"); /* the file's name without .ini */
	ck_assert_uint_eq(sw.num_settings, 2);
	ck_assert_str_eq(sw.settings[0].label, "train.lr=0.01 model.hidden=8");
	ck_assert_int_eq(sw.settings[0].line, 6);
	ck_assert_str_eq(sw.settings[1].label, "model.hidden=64,64");
	ck_assert_uint_eq(sw.settings[1].num_values, 1);
	ck_assert_int_eq(sw.settings[1].values[0].line, 7);
	sweep_free(&sw);
}
END_TEST

START_TEST(test_seeds_only)
{
	struct sweep sw;
	loads(&sw, "[sweep]\nscenario = base.ini\nseeds = 1-5\n");
	ck_assert_uint_eq(sw.num_settings, 1);
	ck_assert_str_eq(sw.settings[0].label, "base");
	ck_assert_str_eq(sw.settings[0].folder, "base");
	ck_assert_uint_eq(sw.num_seeds, 5);
	char *ov[SWEEP_KEYS_MAX + 2];
	int n = sweep_overrides(&sw, 4, ov, SWEEP_KEYS_MAX + 2);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(ov[0], "train.threads=1");
	ck_assert_str_eq(ov[1], "train.seed=5");
	sweep_overrides_free(ov, (size_t)n);
	sweep_free(&sw);
}
END_TEST

START_TEST(test_seeds_parse)
{
	uint64_t *s;
	size_t n;
	struct error e;
	ck_assert_int_eq(sweep_parse_seeds("1, 2, 3", &s, &n, &e), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(s[2], 3);
	free(s);
	ck_assert_int_eq(sweep_parse_seeds(" 10-12 , 4 ", &s, &n, &e), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(s[0], 10);
	ck_assert_uint_eq(s[2], 12);
	ck_assert_uint_eq(s[3], 4);
	free(s);
	ck_assert_int_eq(sweep_parse_seeds("0", &s, &n, &e), 0);
	ck_assert_uint_eq(s[0], 0);
	free(s);
	ck_assert_int_eq(sweep_parse_seeds("5-1", &s, &n, &e), -1);
	assert_has(e.msg, "the range 5-1 runs backwards");
	ck_assert_int_eq(sweep_parse_seeds("1, x", &s, &n, &e), -1);
	assert_has(e.msg, "'x' is not a seed");
	ck_assert_int_eq(sweep_parse_seeds("1-3, 2", &s, &n, &e), -1);
	assert_has(e.msg, "seed 2 is listed twice");
	ck_assert_int_eq(sweep_parse_seeds("-1", &s, &n, &e), -1);
	ck_assert_int_eq(sweep_parse_seeds("", &s, &n, &e), -1);
	assert_has(e.msg, "no seeds");
	ck_assert_int_eq(sweep_parse_seeds("1-100000", &s, &n, &e), -1);
	assert_has(e.msg, "more than");
}
END_TEST

START_TEST(test_file_errors)
{
	const char *head = "[sweep]\nscenario = base.ini\nseeds = 1\n";
	char text[1024];
#define WITH(extra) (snprintf(text, sizeof(text), "%s%s", head, (extra)), text)
	assert_has(fails("[sweep]\nscenario = base.ini\nseed = 1\n"),
		   "sw.ini:3: unknown key 'seed' in [sweep]; did you mean 'seeds'?");
	assert_has(fails(WITH("[gird]\na.b = 1\n")),
		   "sw.ini:4: unknown section [gird]; did you mean [grid]?");
	assert_has(fails("[sweep]\nscenario = base.ini\n"), "[sweep] needs seeds");
	assert_has(fails("[sweep]\nseeds = 1\n"), "[sweep] needs scenario");
	assert_has(fails("[sweep]\nscenario = ./none.ini\nseeds = 1\n"),
		   "sw.ini:2: scenario = ./none.ini: not found");
	assert_has(fails("[sweep]\nscenario = base.ini\nseeds = 2-1\n"),
		   "sw.ini:3: seeds = 2-1: the range 2-1 runs backwards");
	assert_has(fails(WITH("[grid]\nlr = 1, 2\n")), "sw.ini:5: [grid] 'lr': expected "
		   "section.key");
	assert_has(fails(WITH("[grid]\ntrain.seed = 1, 2\n")),
		   "sw.ini:5: [grid] train.seed: the seeds come from [sweep] seeds");
	assert_has(fails(WITH("[grid]\ntrain.lr = 0.1,,0.2\n")), "sw.ini:5: [grid] train.lr: an "
		   "empty value");
	assert_has(fails(WITH("[grid]\nmodel.hidden = \"8,4\n")), "sw.ini:5: [grid] "
		   "model.hidden: a quote out of place");
	assert_has(fails(WITH("[grid]\ntrain.lr = 0.1, 0.1\n")),
		   "sw.ini:5: [grid] train.lr: 0.1 is listed twice");
	assert_has(fails(WITH("[grid]\na.b = x/y, x_y\n")), "would share the folder runs/a.b=x_y");
	assert_has(fails(WITH("mode = grid\n[list]\nx = a.b=1\n")),
		   "sw.ini:5: [list] in a sweep whose mode is grid");
	assert_has(fails(WITH("mode = both\n")), "sw.ini:4: mode = both: expected grid or list");
	assert_has(fails(WITH("[list]\nx = train.lr\n")),
		   "sw.ini:5: [list] x: 'train.lr' is not section.key=value");
	assert_has(fails(WITH("[list]\nx = train.lr=1 train.lr=2\n")),
		   "sw.ini:5: [list] x: train.lr is set twice");
	assert_has(fails(WITH("[list]\nx = a.b=1\ny = a.b=1\n")),
		   "sw.ini:6: the setting 'a.b=1' is given twice");
	assert_has(fails("[sweep]\nscenario = base.ini\nseeds = 1\nseeds = 2\n"), "sw.ini:4:");
#undef WITH
}
END_TEST

/* The runs are capped before anything is expanded: 10^5 settings x 10^4 seeds would otherwise
 * be checked one by one for hours. */
START_TEST(test_runs_cap)
{
	const char *ten = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n";
	char text[2048];
	snprintf(text, sizeof(text), "[sweep]\nscenario = base.ini\nseeds = 1-10000\n[grid]\n"
		 "a.a = %sa.b = %sa.c = %sa.d = %sa.e = %s", ten, ten, ten, ten, ten);
	const char *msg = fails(text);
	assert_has(msg, "sw.ini:");
	assert_has(msg, "more than the 100000 runs a sweep may hold");
	/* 11 settings of a list, each over 10^4 seeds. */
	size_t len = (size_t)snprintf(text, sizeof(text),
				      "[sweep]\nscenario = base.ini\nseeds = 1-10000\n[list]\n");
	for (int i = 0; i < 11; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "s%d = a.b=%d\n", i, i);
	msg = fails(text);
	assert_has(msg, "sw.ini:4: [list] makes 11 settings x 10000 seeds = 110000 runs");
	/* At the cap itself, a sweep loads. */
	struct sweep sw;
	loads(&sw, "[sweep]\nscenario = base.ini\nseeds = 1-10000\n[grid]\n"
		   "a.b = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n");
	ck_assert_uint_eq(sweep_num_runs(&sw), 100000);
	sweep_free(&sw);
}
END_TEST

/* ---- names ---- */

START_TEST(test_folder_names)
{
	char out[SWEEP_FOLDER_MAX + 1], other[SWEEP_FOLDER_MAX + 1];
	sweep_folder("ewc.lambda=10 train.lr=0.01", out, sizeof(out));
	ck_assert_str_eq(out, "ewc.lambda=10_train.lr=0.01");
	sweep_folder("a.b=../x y\t\"z\"", out, sizeof(out));
	ck_assert_str_eq(out, "a.b=.._x_y__z_");
	ck_assert_ptr_null(strchr(out, '/'));
	sweep_folder("", out, sizeof(out));
	ck_assert_str_eq(out, "base");
	/* Too long: the start kept, a hash of the whole label appended. */
	char a[600], b[600];
	memset(a, 'x', 500);
	a[500] = '\0';
	memcpy(b, a, 501);
	b[499] = 'y';
	sweep_folder(a, out, sizeof(out));
	sweep_folder(b, other, sizeof(other));
	ck_assert_uint_eq(strlen(out), SWEEP_FOLDER_MAX);
	ck_assert_int_eq(strncmp(out, a, SWEEP_FOLDER_MAX - 9), 0);
	ck_assert_str_ne(out, other);
}
END_TEST

/* ---- the up-front check ---- */

static const char *check_fails(const char *text)
{
	static struct error e;
	struct sweep sw;
	struct plugin_path pp;
	loads(&sw, text);
	plugin_path_init(&pp, NULL);
	ck_assert_int_eq(sweep_check(&sw, &pp, 0, sweep_num_runs(&sw), 1, &e), -1);
	plugin_path_free(&pp);
	sweep_free(&sw);
	return e.msg;
}

START_TEST(test_check)
{
	struct sweep sw;
	struct plugin_path pp;
	struct error e = { "" };
	loads(&sw, "[sweep]\nscenario = base.ini\nseeds = 1, 2\n[grid]\ntrain.lr = 0.1, 0.2\n");
	plugin_path_init(&pp, NULL);
	ck_assert_msg(sweep_check(&sw, &pp, 0, 4, 1, &e) == 0, "%s", e.msg);
	plugin_path_free(&pp);
	sweep_free(&sw);

	const char *head = "[sweep]\nscenario = base.ini\nseeds = 1\n";
	char text[1024];
	snprintf(text, sizeof(text), "%s[grid]\ntrain.lr = 0.1, abc\n", head);
	assert_has(check_fails(text), "sw.ini:5: [train] lr = abc: 'abc' is not a number");
	snprintf(text, sizeof(text), "%s[grid]\nmodel.hidden = 8\ntrain.lrr = 0.1\n", head);
	assert_has(check_fails(text), "sw.ini:6: unknown key 'lrr' in [train]; did you mean "
		   "'lr'?");
	snprintf(text, sizeof(text), "%s[list]\nx = model.hidden=8\ny = ewc.lambda=1\n", head);
	assert_has(check_fails(text), "sw.ini:6: unknown section [ewc]");
	assert_has(check_fails("[sweep]\nscenario = base.ini\nseeds = 1, 99999999999999999\n"),
		   "sw.ini:3: [train] seed = 99999999999999999");
	snprintf(text, sizeof(text), "%s[grid]\nscenario.plugins = nosuch\n", head);
	assert_has(check_fails(text), "sw.ini: setting 'scenario.plugins=nosuch', seed 1: ");
}
END_TEST

/* ---- the plan ---- */

START_TEST(test_plan_round_trip)
{
	struct sweep sw, back;
	struct error e = { "" };
	loads(&sw, "[sweep]\nname = p\nscenario = base.ini\nseeds = 4, 1-2\n[grid]\n"
		   "a.b = 1, \"x,y\"\nc.d = z\n");
	ck_assert_int_eq(sweep_plan_write(&sw, dir, &e), 0);
	ck_assert_msg(sweep_plan_read(&back, dir, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(back.name, "p");
	ck_assert_str_eq(back.base, sw.base);
	ck_assert_uint_eq(back.num_seeds, 3);
	ck_assert_uint_eq(back.seeds[0], 4);
	ck_assert_uint_eq(back.num_settings, 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_str_eq(back.settings[i].label, sw.settings[i].label);
		ck_assert_str_eq(back.settings[i].folder, sw.settings[i].folder);
	}
	ck_assert_str_eq(back.settings[1].values[0].value, "x,y");
	sweep_free(&back);
	sweep_free(&sw);
	put("plan.json", "{\"sweep\": 1}");
	ck_assert_int_eq(sweep_plan_read(&back, dir, &e), -1);
	assert_has(e.msg, "plan.json: not a sweep plan");
}
END_TEST

/* ---- the summary ---- */

START_TEST(test_mean_std)
{
	double m, s;
	double x[] = { 1, 2, 3, 4 };
	sweep_mean_std(x, 4, &m, &s);
	assert_near(m, 2.5);
	assert_near(s, sqrt(5.0 / 3.0)); /* (2.25 + 0.25 + 0.25 + 2.25) / 3 */
	double y[] = { NAN, 7, NAN };
	sweep_mean_std(y, 3, &m, &s);
	assert_near(m, 7);
	ck_assert(isnan(s));
	sweep_mean_std(y, 1, &m, &s);
	ck_assert(isnan(m) && isnan(s));
}
END_TEST

/* runs/FOLDER/seed-S/metrics.json with the figures the summary reads. */
static void run_metrics(const char *folder, int seed, int complete, double acc, double bwt,
			const char *unlearning, double seconds, double rss)
{
	char name[512], text[2048];
	snprintf(name, sizeof(name), "%s/runs", dir);
	mkdir(name, 0777);
	snprintf(name, sizeof(name), "%s/runs/%s", dir, folder);
	mkdir(name, 0777);
	snprintf(name, sizeof(name), "%s/runs/%s/seed-%d", dir, folder, seed);
	mkdir(name, 0777);
	snprintf(text, sizeof(text),
		 "{\"average_accuracy\": %.17g, \"bwt\": %.17g, \"fwt\": null, "
		 "\"forgetting\": 0.25, \"unlearning\": %s, \"seconds\": {\"total\": %.17g}, "
		 "\"peak_rss_bytes\": %.17g, \"complete\": %s}",
		 acc, bwt, unlearning, seconds, rss, complete ? "true" : "false");
	snprintf(name, sizeof(name), "runs/%s/seed-%d/metrics.json", folder, seed);
	free(testutil_write_text(dir, name, text));
}

static void run_failed(const char *folder, int seed, const char *status, const char *log)
{
	char name[512];
	run_metrics(folder, seed, 0, 0.1, 0, "[]", 1, 1);
	snprintf(name, sizeof(name), "runs/%s/seed-%d/exit_status", folder, seed);
	free(testutil_write_text(dir, name, status));
	snprintf(name, sizeof(name), "runs/%s/seed-%d/run.log", folder, seed);
	free(testutil_write_text(dir, name, log));
}

/* Three settings over seeds 1-3: a.b=1 finished everywhere, a.b=2 once (one failure, one run
 * stopped before it ended), a.b=3 never ran. */
static void fixture(struct sweep *sw)
{
	loads(sw, "[sweep]\nname = fx\nscenario = base.ini\nseeds = 1-3\n[grid]\na.b = 1, 2, 3\n");
	const char *u1 = "[{\"ua\": 0.9, \"ra\": 0.5, \"ta\": 0.5, \"mia\": 0.5}, "
			 "{\"ua\": 0.1, \"ra\": 0.8, \"ta\": 0.7, \"mia\": 0.6}]";
	const char *u2 = "[{\"ua\": 0.3, \"ra\": 0.9, \"ta\": 0.8, \"mia\": 0.4}]";
	run_metrics("a.b=1", 1, 1, 0.5, -0.1, u1, 10, 10 * 1048576.0);
	run_metrics("a.b=1", 2, 1, 0.6, -0.2, u2, 20, 20 * 1048576.0);
	run_metrics("a.b=1", 3, 1, 0.7, -0.3, "[]", 30, 30 * 1048576.0);
	run_metrics("a.b=2", 1, 1, 0.9, 0.0, "[]", 5, 1048576.0);
	run_failed("a.b=2", 2, "exit status 1\n", "lethe: step 1: something\nlethe: boom\n\n");
	run_metrics("a.b=2", 3, 0, 0.95, 0.0, "[]", 5, 1048576.0);
}

START_TEST(test_summary_figures)
{
	struct sweep sw;
	struct sweep_summary sum;
	struct error e = { "" };
	fixture(&sw);
	ck_assert_msg(sweep_summary_collect(&sum, &sw, dir, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(sum.runs, 9);
	ck_assert_uint_eq(sum.done, 4);
	ck_assert_uint_eq(sum.failed, 1);
	const struct sweep_stats *a = &sum.stats[0], *b = &sum.stats[1], *c = &sum.stats[2];
	ck_assert_uint_eq(a->done, 3);
	assert_near(a->mean[FIG_AVERAGE_ACCURACY], 0.6);
	assert_near(a->std[FIG_AVERAGE_ACCURACY], 0.1); /* (0.01 + 0 + 0.01) / 2 */
	assert_near(a->mean[FIG_BWT], -0.2);
	assert_near(a->mean[FIG_FORGETTING], 0.25);
	assert_near(a->std[FIG_FORGETTING], 0);
	ck_assert(isnan(a->mean[FIG_FWT]) && isnan(a->std[FIG_FWT]));
	/* The last forget step's figures: 0.1 and 0.3; seed 3 forgot nothing. */
	assert_near(a->mean[FIG_UA], 0.2);
	assert_near(a->std[FIG_UA], sqrt(0.02));
	assert_near(a->mean[FIG_RA], 0.85);
	assert_near(a->mean[FIG_WALL_SECONDS], 20);
	assert_near(a->std[FIG_WALL_SECONDS], 10);
	assert_near(a->mean[FIG_PEAK_RSS_MB], 20);
	/* One complete run: a mean, no deviation; the incomplete seed 3 is not counted. */
	ck_assert_uint_eq(b->done, 1);
	ck_assert_uint_eq(b->failed, 1);
	assert_near(b->mean[FIG_AVERAGE_ACCURACY], 0.9);
	ck_assert(isnan(b->std[FIG_AVERAGE_ACCURACY]));
	ck_assert(isnan(b->mean[FIG_UA]));
	ck_assert_uint_eq(c->done, 0);
	ck_assert(isnan(c->mean[FIG_AVERAGE_ACCURACY]));
	/* Best first, nothing last. */
	ck_assert_uint_eq(sum.order[0], 1);
	ck_assert_uint_eq(sum.order[1], 0);
	ck_assert_uint_eq(sum.order[2], 2);
	ck_assert_uint_eq(sum.num_failures, 1);
	ck_assert_str_eq(sum.failures[0].run, "runs/a.b=2/seed-2");
	ck_assert_str_eq(sum.failures[0].message, "exit status 1: lethe: boom");
	sweep_summary_free(&sum);
	sweep_free(&sw);
}
END_TEST

START_TEST(test_summary_files)
{
	struct sweep sw;
	struct sweep_summary sum;
	struct error e = { "" };
	fixture(&sw);
	ck_assert_int_eq(sweep_summary_collect(&sum, &sw, dir, &e), 0);
	ck_assert_msg(sweep_summary_write(&sum, dir, &e) == 0, "%s", e.msg);
	char p[4200];
	snprintf(p, sizeof(p), "%s/summary.json", dir);
	json_error_t je;
	json_t *root = json_load_file(p, 0, &je);
	ck_assert_msg(root != NULL, "%s", je.text);
	ck_assert_str_eq(json_string_value(json_object_get(root, "sweep")), "fx");
	ck_assert_str_eq(json_string_value(json_object_get(root, "base")), sw.base);
	ck_assert_int_eq(json_integer_value(json_object_get(root, "runs")), 9);
	ck_assert_int_eq(json_integer_value(json_object_get(root, "done")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(root, "failed")), 1);
	json_t *settings = json_object_get(root, "settings");
	ck_assert_uint_eq(json_array_size(settings), 3);
	json_t *first = json_array_get(settings, 0), *second = json_array_get(settings, 1);
	ck_assert_str_eq(json_string_value(json_object_get(first, "label")), "a.b=2");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(first, "values"),
							   "a.b")), "2");
	ck_assert_uint_eq(json_array_size(json_object_get(first, "seeds")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(first, "failed")), 1);
	ck_assert(json_is_null(json_object_get(json_object_get(first, "std"),
					       "average_accuracy")));
	ck_assert(json_is_null(json_object_get(json_object_get(first, "mean"), "ua")));
	assert_near(json_real_value(json_object_get(json_object_get(second, "mean"),
						    "average_accuracy")), 0.6);
	assert_near(json_real_value(json_object_get(json_object_get(second, "mean"),
						    "peak_rss_mb")), 20);
	json_t *failure = json_array_get(json_object_get(root, "failures"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(failure, "run")), "runs/a.b=2/seed-2");
	json_decref(root);

	snprintf(p, sizeof(p), "%s/summary.csv", dir);
	char *csv = testutil_read(p, NULL);
	ck_assert_ptr_nonnull(csv);
	assert_has(csv, "label,a.b,seeds,done,failed,average_accuracy_mean,average_accuracy_std,"
			"bwt_mean,");
	assert_has(csv, "\na.b=2,2,1 2 3,1,1,0.90000000000000002,,");
	assert_has(csv, "\na.b=3,3,1 2 3,0,0,,,");
	free(csv);

	/* The table: best first, columns aligned, the failure listed. */
	snprintf(p, sizeof(p), "%s/table.txt", dir);
	FILE *f = fopen(p, "w");
	sweep_summary_print(&sum, f);
	fclose(f);
	char *table = testutil_read(p, NULL);
	assert_has(table, "fx: 9 runs, 4 done, 1 failed");
	assert_has(table, "0.6000 ± 0.1000");
	assert_has(table, "runs/a.b=2/seed-2: exit status 1: lethe: boom");
	const char *two = strstr(table, "\na.b=2 "), *one = strstr(table, "\na.b=1 ");
	ck_assert(two && one && two < one);
	free(table);
	sweep_summary_free(&sum);
	sweep_free(&sw);
}
END_TEST

START_TEST(test_progress_line)
{
	struct sweep_progress p;
	char line[256];
	FILE *null = fopen("/dev/null", "w");
	sweep_progress_init(&p, null, 0, 1, 12, 3);
	sweep_progress_started(&p);
	sweep_progress_started(&p);
	struct sweep_outcome o = { .run = 0, .ok = 0 };
	sweep_progress_ended(&p, &o, "runs/x/seed-1");
	sweep_progress_format(&p, line, sizeof(line));
	assert_has(line, "3/12 runs done, 1 failed, 1 running, ETA ");
	fclose(null);
}
END_TEST

static Suite *sweep_suite(void)
{
	Suite *s = suite_create("sweep");
	TCase *tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_grid_order);
	tcase_add_test(tc, test_list_mode);
	tcase_add_test(tc, test_seeds_only);
	tcase_add_test(tc, test_seeds_parse);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_runs_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_folder_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("plan");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_plan_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("summary");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mean_std);
	tcase_add_test(tc, test_summary_figures);
	tcase_add_test(tc, test_summary_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("progress");
	tcase_add_test(tc, test_progress_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(sweep_suite());
}
