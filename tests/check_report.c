#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "report/report.h"
#include "report/svg.h"
#include "testutil.h"

/* ---- svg ---- */

/* What the calls in draw wrote, as a malloc'd string. */
static char *svg_output(void (*draw)(struct svg *s))
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	ck_assert_ptr_nonnull(f);
	struct svg s;
	svg_begin(&s, f, 100, 50, "doc <title> & \"more\"");
	draw(&s);
	ck_assert_int_eq(svg_end(&s), 0);
	fclose(f);
	return text;
}

static size_t count(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void contains(const char *text, const char *needle)
{
	ck_assert_msg(strstr(text, needle) != NULL, "'%s' not found in:\n%s", needle, text);
}

static void draw_escapes(struct svg *s)
{
	svg_text(s, 1, 2, &(struct svg_font){ .size = 10 }, "x & y < z > \"q\" 'a'");
	/* XML 1.0 holds neither: U+FFFD instead. */
	svg_text(s, 1, 2, &(struct svg_font){ .size = 10 }, "bell\a nonchar\xef\xbf\xbf end");
	svg_rect(s, 0, 0, 1, 1,
		 &(struct svg_paint){ .fill = "red", .cls = "a\"b", .title = "<t>" });
}

START_TEST(test_svg_escape)
{
	char *text = svg_output(draw_escapes);
	contains(text, "<title>doc &lt;title&gt; &amp; &quot;more&quot;</title>");
	contains(text, ">x &amp; y &lt; z &gt; &quot;q&quot; &apos;a&apos;</text>");
	contains(text, ">bell\xef\xbf\xbd nonchar\xef\xbf\xbd end</text>");
	contains(text, "<rect class=\"a&quot;b\"");
	contains(text, "><title>&lt;t&gt;</title></rect>");
	free(text);
}
END_TEST

static void draw_numbers(struct svg *s)
{
	svg_rect(s, 1.25, 2.5, 10, 0.004, &(struct svg_paint){ .fill = "#000000" });
	svg_line(s, -3.125, 1e-9, 1.999, 2.005,
		 &(struct svg_paint){ .stroke = "blue", .stroke_width = 0.5 });
	svg_polyline(s, (const double[]){ 0, 1.5 }, (const double[]){ 2, -0.001 }, 2,
		     &(struct svg_paint){ .stroke = "red", .stroke_width = 2 });
}

START_TEST(test_svg_numbers)
{
	struct {
		double v;
		int decimals;
		const char *want;
	} cases[] = {
		{ 0.5, 2, "0.50" },   { 0.125, 2, "0.13" }, { -0.001, 2, "0.00" },
		{ -1.5, 1, "-1.5" },  { 2, 0, "2" },	    { 0.1, 3, "0.100" },
		{ NAN, 2, "0.00" },   { 12345.678, 1, "12345.7" }, { 0.999, 2, "1.00" },
	};
	/* A locale whose decimal point is a comma must change nothing. */
	const char *locales[] = { "C", "de_DE.UTF-8", "fr_FR.UTF-8" };
	for (size_t l = 0; l < sizeof(locales) / sizeof(*locales); l++) {
		if (!setlocale(LC_NUMERIC, locales[l]))
			continue;
		for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
			char buf[32];
			svg_fixed(buf, sizeof(buf), cases[i].v, cases[i].decimals);
			ck_assert_str_eq(buf, cases[i].want);
		}
		char *text = svg_output(draw_numbers);
		contains(text, "width=\"100\" height=\"50\" viewBox=\"0 0 100 50\"");
		contains(text, "<rect x=\"1.25\" y=\"2.5\" width=\"10\" height=\"0\" "
			       "fill=\"#000000\"/>");
		contains(text, "<line x1=\"-3.13\" y1=\"0\" x2=\"2\" y2=\"2.01\" fill=\"none\" "
			       "stroke=\"blue\" stroke-width=\"0.5\"/>");
		contains(text, "points=\"0,2 1.5,0\"");
		free(text);
	}
	setlocale(LC_NUMERIC, "C");
}
END_TEST

static void draw_open_groups(struct svg *s)
{
	svg_group_begin(s, "outer", "the outer group");
	svg_group_begin(s, NULL, NULL);
	svg_circle(s, 5, 5, 2, &(struct svg_paint){ .fill = "green" });
	svg_group_end(s);
	svg_group_begin(s, "left open", NULL);
}

START_TEST(test_svg_document)
{
	char *text = svg_output(draw_open_groups);
	ck_assert_msg(strncmp(text, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44) == 0,
		      "%s", text);
	contains(text, "xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"");
	contains(text, "<g class=\"outer\">\n<title>the outer group</title>");
	/* svg_end closes what is still open. */
	ck_assert_uint_eq(count(text, "<g"), 3);
	ck_assert_uint_eq(count(text, "</g>"), 3);
	size_t len = strlen(text);
	ck_assert_str_eq(text + len - 7, "</svg>\n");
	free(text);
}
END_TEST

START_TEST(test_svg_write_error)
{
	/* /dev/full fails every write as a full disk does. */
	FILE *f = fopen("/dev/full", "w");
	if (!f)
		return;
	struct svg s;
	svg_begin(&s, f, 10, 10, "full");
	for (int i = 0; i < 1000; i++)
		svg_text(&s, 1, 1, &(struct svg_font){ .size = 10 }, "some text to fill a buffer");
	ck_assert_int_eq(svg_end(&s), -1);
	ck_assert_int_eq(errno, ENOSPC);
	fclose(f);
}
END_TEST

/* ---- report ---- */

/* A complete run of three tasks with one forget step; the tests change what they need. */
static const char metrics_fixture[] =
	"{\"protocol\": \"class-incremental\", \"scenario\": \"fixture <run>\","
	" \"scenario_path\": \"fixture.ini\", \"baseline\": \"naive\", \"seed\": 7,"
	" \"plugins\": [\"rehearsal\", \"repulsion\"],"
	" \"tasks\": [{\"classes\": [0, 1]}, {\"classes\": [2, 3]}, {\"classes\": [4, 5]}],"
	" \"accuracy_matrix\": [[0.9, 0.25, 0.5], [0.75, 0.8, null], [0.5, 0.7, 0.95]],"
	" \"untrained_accuracy\": [0.1, 0.0, 0.05],"
	" \"average_accuracy\": 0.7, \"bwt\": -0.225, \"fwt\": null, \"forgetting\": 0.25,"
	" \"forgetting_per_task\": [0.4, 0.1, 0.0], \"forgetting_last_minus_first\": 0.25,"
	" \"unlearning\": [{\"section\": \"forget1\", \"after\": 3, \"what\": \"class\","
	"   \"plugin\": \"repulsion\", \"forget_samples\": 60, \"classes\": [1],"
	"   \"ua\": 1.0, \"ra\": 0.97, \"ta\": 0.95, \"forget_test_accuracy\": 0.0, \"mia\": 0.5,"
	"   \"relearn_epochs\": 2, \"seconds\": 0.02, \"gap_to_retrain\": 0.1,"
	"   \"references\": {"
	"     \"retrain\": {\"ua\": 1.0, \"ra\": 0.9, \"ta\": 0.9, \"mia\": 1.0, \"seconds\": 0.5,"
	"                  \"gap_to_retrain\": null},"
	"     \"finetune\": {\"ua\": 0.2, \"ra\": 0.95, \"ta\": 0.93, \"mia\": null,"
	"                   \"seconds\": 0.1, \"gap_to_retrain\": 0.4}}}],"
	" \"seconds\": {\"steps\": [1, 1, 1], \"total\": 3, \"phases\": {}, \"hooks\": {}},"
	" \"peak_rss_bytes\": 1000, \"complete\": true}";

/* The matrix cells' texts, untrained row first: two decimals, null as n/a. */
static const char *const fixture_cells[] = {
	"0.10", "0.00", "0.05", "0.90", "0.25", "0.50", "0.75", "0.80", "n/a",
	"0.50", "0.70", "0.95",
};

static const char summary_fixture[] =
	"{\"sweep\": \"lr\", \"base\": \"base.ini\", \"runs\": 9, \"done\": 8, \"failed\": 1,"
	" \"settings\": ["
	"  {\"label\": \"train.lr=0.05\", \"values\": {\"train.lr\": \"0.05\"},"
	"   \"seeds\": [1, 2, 3], \"done\": 3, \"failed\": 0,"
	"   \"mean\": {\"average_accuracy\": 0.8, \"forgetting\": 0.1},"
	"   \"std\": {\"average_accuracy\": 0.02, \"forgetting\": 0.01}},"
	"  {\"label\": \"train.lr=0.5 <big>\", \"values\": {\"train.lr\": \"0.5\"},"
	"   \"seeds\": [1, 2, 3], \"done\": 3, \"failed\": 0,"
	"   \"mean\": {\"average_accuracy\": 0.6, \"forgetting\": -0.05},"
	"   \"std\": {\"average_accuracy\": 0.1, \"forgetting\": null}},"
	"  {\"label\": \"train.lr=0.001\", \"values\": {\"train.lr\": \"0.001\"},"
	"   \"seeds\": [1, 2, 3], \"done\": 2, \"failed\": 1,"
	"   \"mean\": {\"average_accuracy\": 0.3, \"forgetting\": null},"
	"   \"std\": {\"average_accuracy\": null, \"forgetting\": null}}],"
	" \"failures\": [{\"run\": \"train.lr=0.001-seed3\", \"message\": \"NaN loss & more\"}]}";

static json_t *fixture(const char *text)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	ck_assert_msg(root != NULL, "fixture:%d:%d: %s", jerr.line, jerr.column, jerr.text);
	return root;
}

static char *join(const char *dir, const char *name)
{
	char *path;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	return path;
}

static void save(const char *dir, const char *name, json_t *root)
{
	char *path = join(dir, name);
	ck_assert_int_eq(json_dump_file(root, path, JSON_INDENT(1)), 0);
	free(path);
	json_decref(root);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Writes the report of dir, which must succeed, and returns report.svg's text. */
static char *report(const char *dir)
{
	struct error e = { "" };
	ck_assert_msg(report_write(dir, &e) == REPORT_OK, "%s", e.msg);
	char *path = join(dir, "report.svg");
	char *text = testutil_read(path, NULL);
	ck_assert_ptr_nonnull(text);
	free(path);
	return text;
}

/* The texts of the <text class="cls"> elements, in document order, checked against want. */
static void check_texts(const char *svg, const char *cls, const char *const *want, size_t n)
{
	char *open;
	if (asprintf(&open, "<text class=\"%s\"", cls) < 0)
		abort();
	size_t i = 0;
	for (const char *p = svg; (p = strstr(p, open)); i++) {
		p = strchr(p, '>') + 1;
		size_t len = strcspn(p, "<");
		ck_assert_msg(i < n, "more than %zu texts of class %s", n, cls);
		ck_assert_msg(strlen(want[i]) == len && strncmp(p, want[i], len) == 0,
			      "%s text %zu: '%.*s', not '%s'", cls, i, (int)len, p, want[i]);
	}
	ck_assert_uint_eq(i, n);
	free(open);
}

START_TEST(test_run_report)
{
	char *dir = testutil_tmpdir();
	save(dir, "metrics.json", fixture(metrics_fixture));
	char *svg = report(dir);

	/* One cell per matrix entry, the untrained row apart. */
	ck_assert_uint_eq(count(svg, "<rect class=\"cell\""), 3 * 3);
	ck_assert_uint_eq(count(svg, "<rect class=\"cell untrained\""), 3);
	ck_assert_uint_eq(count(svg, "class=\"pending\""), 0);
	check_texts(svg, "matrix-value", fixture_cells, 12);
	/* A line per task, but task 3's null cuts its last point off its line; a legend entry per
	 * task. */
	ck_assert_uint_eq(count(svg, "<polyline class=\"accuracy-line\""), 3);
	ck_assert_uint_eq(count(svg, "<line class=\"legend\""), 3);
	ck_assert_uint_eq(count(svg, "<rect class=\"forgetting-bar\""), 3);
	static const char *const forgetting[] = { "0.40", "0.10", "0.00" };
	check_texts(svg, "bar-value", forgetting, 3);
	static const char *const headline[] = { "0.700", "-0.225", "n/a", "0.250" };
	check_texts(svg, "figure", headline, 4);
	/* The procedure and two references over UA, RA, TA, MIA; finetune's MIA is null. */
	ck_assert_uint_eq(count(svg, "<g class=\"unlearning\""), 1);
	ck_assert_uint_eq(count(svg, "<rect class=\"unlearning-bar\""), 3 * 4 - 1);
	contains(svg, ">forget1 after step 3: class 1, 60 samples, by repulsion</text>");
	contains(svg, "fixture &lt;run&gt;: class-incremental, seed 7, complete</text>");
	contains(svg, "plugins: rehearsal, repulsion");
	/* Written through a temporary file that is gone. */
	ck_assert_uint_eq(count_entries(dir), 2);

	free(svg);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

/* A compared plugin that failed: named so in the legend, its reason on the panel, no bar
 * drawn for its null figures. */
START_TEST(test_compared_failed)
{
	char *dir = testutil_tmpdir();
	json_t *root = fixture(metrics_fixture);
	json_t *scrub = json_pack("{s:n, s:n, s:n, s:n, s:f, s:n, s:s}", "ua", "ra", "ta", "mia",
				  "seconds", 0.01, "gap_to_retrain", "failed",
				  "plugin scrub: unlearn failed (status -5): epoch 1 ran off");
	json_object_set_new(json_array_get(json_object_get(root, "unlearning"), 0), "compared",
			    json_pack("{s:o}", "scrub", scrub));
	save(dir, "metrics.json", root);
	char *svg = report(dir);
	contains(svg, ">scrub (failed)</text>");
	contains(svg, "; scrub failed: plugin scrub: unlearn failed (status -5): epoch 1 ran off"
		      "</text>");
	ck_assert_uint_eq(count(svg, "<rect class=\"unlearning-bar\""), 3 * 4 - 1);
	free(svg);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_run_without_unlearning)
{
	char *dir = testutil_tmpdir();
	json_t *root = fixture(metrics_fixture);
	json_object_set_new(root, "unlearning", json_array());
	save(dir, "metrics.json", root);
	char *svg = report(dir);
	ck_assert_uint_eq(count(svg, "<g class=\"unlearning\""), 0);
	ck_assert_uint_eq(count(svg, "unlearning-bar"), 0);
	free(svg);

	/* An older file without the key at all: the same. */
	root = fixture(metrics_fixture);
	json_object_del(root, "unlearning");
	save(dir, "metrics.json", root);
	svg = report(dir);
	ck_assert_uint_eq(count(svg, "<g class=\"unlearning\""), 0);
	free(svg);

	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_partial_run)
{
	char *dir = testutil_tmpdir();
	for (size_t rows = 0; rows < 3; rows++) {
		json_t *root = fixture(metrics_fixture);
		json_t *matrix = json_object_get(root, "accuracy_matrix");
		json_t *per_task = json_object_get(root, "forgetting_per_task");
		while (json_array_size(matrix) > rows) {
			json_array_remove(matrix, rows);
			json_array_remove(per_task, rows);
		}
		json_object_set_new(root, "complete", json_false());
		json_object_set_new(root, "unlearning", json_array());
		if (rows == 0)
			json_object_set_new(root, "average_accuracy", json_null());
		save(dir, "metrics.json", root);
		char *svg = report(dir);

		ck_assert_uint_eq(count(svg, "<rect class=\"cell\""), rows * 3);
		ck_assert_uint_eq(count(svg, "<rect class=\"cell untrained\""), 3);
		ck_assert_uint_eq(count(svg, "<rect class=\"pending\""), 3 - rows);
		check_texts(svg, "matrix-value", fixture_cells, (rows + 1) * 3);
		ck_assert_uint_eq(count(svg, "<rect class=\"forgetting-bar\""), rows);
		char want[64];
		snprintf(want, sizeof(want), "seed 7, partial, %zu of 3 steps</text>", rows);
		contains(svg, want);
		if (rows == 0) {
			static const char *const headline[] = { "n/a", "-0.225", "n/a", "0.250" };
			check_texts(svg, "figure", headline, 4);
			contains(svg, ">no step has finished yet</text>");
		}
		free(svg);
	}
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_sweep_report)
{
	char *dir = testutil_tmpdir();
	save(dir, "summary.json", fixture(summary_fixture));
	char *svg = report(dir);

	/* A bar per setting with a mean, accuracy then forgetting, in the file's order. */
	ck_assert_uint_eq(count(svg, "<g class=\"sweep-accuracy\""), 1);
	ck_assert_uint_eq(count(svg, "<g class=\"sweep-forgetting\""), 1);
	ck_assert_uint_eq(count(svg, "<rect class=\"sweep-bar\""), 3 + 2);
	static const char *const labels[] = { "train.lr=0.05", "train.lr=0.5 &lt;big&gt;",
					      "train.lr=0.001", "train.lr=0.05",
					      "train.lr=0.5 &lt;big&gt;", "train.lr=0.001" };
	check_texts(svg, "setting", labels, 6);
	/* Error bars (a line and two caps) where the std is known. */
	ck_assert_uint_eq(count(svg, "<line class=\"error-bar\""), 3 * 3);
	contains(svg, ">0.800 \xc2\xb1 0.020  (3 of 3 seeds)</text>");
	contains(svg, ">0.300 \xc2\xb1 n/a  (2 of 3 seeds)</text>");
	contains(svg, ">sweep lr: 8 of 9 runs done, 1 failed</text>");
	contains(svg, ">train.lr=0.001-seed3: NaN loss &amp; more</text>");
	ck_assert_uint_eq(count_entries(dir), 2);
	free(svg);

	/* A run's metrics.json wins over a summary.json beside it. */
	save(dir, "metrics.json", fixture(metrics_fixture));
	svg = report(dir);
	ck_assert_uint_eq(count(svg, "sweep-bar"), 0);
	ck_assert_uint_eq(count(svg, "<rect class=\"cell\""), 9);
	free(svg);

	testutil_rmtree(dir);
	free(dir);
}
END_TEST

/* The report of dir must fail with status and the message prefix + rest. */
static void expect_error(const char *dir, enum report_status status, const char *prefix,
			 const char *rest)
{
	struct error e = { "" };
	ck_assert_int_eq(report_write(dir, &e), status);
	char *want;
	if (asprintf(&want, "%s%s", prefix, rest) < 0)
		abort();
	ck_assert_str_eq(e.msg, want);
	free(want);
}

/* metrics.json after change: the report is refused with the message rest, and nothing is
 * written. */
static void expect_bad_metrics(void (*change)(json_t *root), const char *rest)
{
	char *dir = testutil_tmpdir();
	json_t *root = fixture(metrics_fixture);
	change(root);
	save(dir, "metrics.json", root);
	char *prefix = join(dir, "metrics.json: ");
	expect_error(dir, REPORT_BAD_INPUT, prefix, rest);
	ck_assert_uint_eq(count_entries(dir), 1);
	free(prefix);
	testutil_rmtree(dir);
	free(dir);
}

static void drop_matrix(json_t *root) { json_object_del(root, "accuracy_matrix"); }
static void string_bwt(json_t *root) { json_object_set_new(root, "bwt", json_string("high")); }
static void short_row(json_t *root)
{
	json_array_remove(json_array_get(json_object_get(root, "accuracy_matrix"), 1), 2);
}
static void boolean_seed(json_t *root) { json_object_set_new(root, "seed", json_true()); }
static void nested_figure(json_t *root)
{
	json_t *u = json_array_get(json_object_get(root, "unlearning"), 0);
	json_t *retrain = json_object_get(json_object_get(u, "references"), "retrain");
	json_object_set_new(retrain, "ua", json_string("1"));
}
static void drop_complete(json_t *root) { json_object_del(root, "complete"); }
static void extra_rows(json_t *root)
{
	json_t *matrix = json_object_get(root, "accuracy_matrix");
	json_array_append(matrix, json_array_get(matrix, 0));
}
static void no_tasks(json_t *root) { json_object_set_new(root, "tasks", json_array()); }

START_TEST(test_bad_metrics)
{
	expect_bad_metrics(drop_matrix, "missing key \"accuracy_matrix\"");
	expect_bad_metrics(string_bwt, "\"bwt\" is a string, not a number or null");
	expect_bad_metrics(short_row, "\"accuracy_matrix[1]\" has 2 entries, not 3");
	expect_bad_metrics(boolean_seed, "\"seed\" is a boolean, not an integer or a string");
	expect_bad_metrics(nested_figure, "\"unlearning[0].references.retrain.ua\" is a string, "
					  "not a number or null");
	expect_bad_metrics(drop_complete, "missing key \"complete\"");
	expect_bad_metrics(extra_rows, "\"accuracy_matrix\" has 4 rows, more than the 3 tasks");
	expect_bad_metrics(no_tasks, "\"tasks\" is empty");
}
END_TEST

START_TEST(test_bad_files)
{
	char *top = testutil_tmpdir();
	char *none = join(top, "none");
	char *file = testutil_write_text(top, "file", "x\n");
	char *rest;

	if (asprintf(&rest, ": %s", strerror(ENOENT)) < 0)
		abort();
	expect_error(none, REPORT_BAD_INPUT, none, rest);
	free(rest);
	if (asprintf(&rest, ": %s", strerror(ENOTDIR)) < 0)
		abort();
	expect_error(file, REPORT_BAD_INPUT, file, rest);
	free(rest);
	expect_error(top, REPORT_BAD_INPUT, top,
		     ": no metrics.json (a run's results) nor summary.json (a sweep's) in it");

	/* Syntax errors: jansson's line and column. */
	char *path = testutil_write_text(top, "metrics.json", "{\n  \"protocol\": ,\n}\n");
	struct error e = { "" };
	ck_assert_int_eq(report_write(top, &e), REPORT_BAD_INPUT);
	char *want = join(top, "metrics.json:2:15: unexpected token near ','");
	ck_assert_str_eq(e.msg, want);
	free(want);
	free(path);
	path = testutil_write_text(top, "metrics.json", "[1, 2]");
	want = join(top, "metrics.json");
	expect_error(top, REPORT_BAD_INPUT, want, ": not a JSON object");
	free(want);
	unlink(path);
	free(path);

	/* A sweep's summary with a setting lacking its label. */
	json_t *root = fixture(summary_fixture);
	json_object_del(json_array_get(json_object_get(root, "settings"), 1), "label");
	save(top, "summary.json", root);
	want = join(top, "summary.json: ");
	expect_error(top, REPORT_BAD_INPUT, want, "missing key \"settings[1].label\"");
	free(want);
	root = fixture(summary_fixture);
	json_object_set_new(json_object_get(json_array_get(json_object_get(root, "settings"), 0),
					    "mean"), "forgetting", json_string("low"));
	save(top, "summary.json", root);
	want = join(top, "summary.json: ");
	expect_error(top, REPORT_BAD_INPUT, want,
		     "\"settings[0].mean.forgetting\" is a string, not a number or null");
	free(want);
	ck_assert_uint_eq(count_entries(top), 2);

	free(file);
	free(none);
	testutil_rmtree(top);
	free(top);
}
END_TEST

START_TEST(test_write_failures)
{
	char *dir = testutil_tmpdir();
	save(dir, "metrics.json", fixture(metrics_fixture));
	char *target = join(dir, "report.svg");
	char *tmp;
	if (asprintf(&tmp, "%s/.report.svg.%ld.tmp", dir, (long)getpid()) < 0)
		abort();
	char *rest;

	/* report.svg a directory: the rename fails, even for root; the temporary file goes. */
	ck_assert_int_eq(mkdir(target, 0777), 0);
	if (asprintf(&rest, ": %s", strerror(EISDIR)) < 0)
		abort();
	expect_error(dir, REPORT_WRITE_FAILED, target, rest);
	free(rest);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(rmdir(target), 0);

	/* A full disk: the old report stays whole. */
	char *before = report(dir);
	if (access("/dev/full", W_OK) == 0) {
		ck_assert_int_eq(symlink("/dev/full", tmp), 0);
		if (asprintf(&rest, ": %s", strerror(ENOSPC)) < 0)
			abort();
		expect_error(dir, REPORT_WRITE_FAILED, target, rest);
		free(rest);
		char *after = testutil_read(target, NULL);
		ck_assert_str_eq(after, before);
		free(after);
		struct stat st;
		ck_assert_int_eq(lstat(tmp, &st), -1);
	}
	ck_assert_uint_eq(count_entries(dir), 2);

	free(before);
	free(tmp);
	free(target);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *report_suite(void)
{
	Suite *s = suite_create("report");

	TCase *tc = tcase_create("svg");
	tcase_add_test(tc, test_svg_escape);
	tcase_add_test(tc, test_svg_numbers);
	tcase_add_test(tc, test_svg_document);
	tcase_add_test(tc, test_svg_write_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("report");
	tcase_add_test(tc, test_run_report);
	tcase_add_test(tc, test_run_without_unlearning);
	tcase_add_test(tc, test_compared_failed);
	tcase_add_test(tc, test_partial_run);
	tcase_add_test(tc, test_sweep_report);
	tcase_add_test(tc, test_bad_metrics);
	tcase_add_test(tc, test_bad_files);
	tcase_add_test(tc, test_write_failures);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(report_suite());
}
