#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "results/metrics.h"
#include "results/results.h"
#include "testutil.h"

#define EPS 1e-12

/* Three tasks whose best earlier accuracy sits on the diagonal: the max form of forgetting and
 * last-minus-first agree here. */
static const double R3[] = {
	0.9, 0.1, 0.2,
	0.6, 0.8, 0.1,
	0.5, 0.7, 0.95,
};
static const double b3[] = { 0.1, 0.02, 0.05 };

/* Four tasks where the best earlier accuracy of task 1 comes after it was learnt (row 2) and
 * that of task 2 before it was learnt (row 1): the max form and last-minus-first differ. */
static const double R4[] = {
	0.6, 0.75, 0.1, 0.2,
	0.9, 0.7,  0.2, 0.1,
	0.7, 0.4,  0.8, 0.3,
	0.5, 0.6,  0.6, 0.9,
};
static const double b4[] = { 0.1, 0.2, 0.15, 0.25 };

START_TEST(test_three_tasks)
{
	struct metrics_summary s;
	metrics_summarise(R3, b3, 3, 3, &s);
	/* ACC = (0.5 + 0.7 + 0.95) / 3 = 2.15 / 3 */
	ck_assert_double_eq_tol(s.acc, 2.15 / 3, EPS);
	/* BWT = ((0.5 - 0.9) + (0.7 - 0.8)) / 2 = -0.25 */
	ck_assert_double_eq_tol(s.bwt, -0.25, EPS);
	/* FWT = ((R[1][2] - b2) + (R[2][3] - b3)) / 2 = ((0.1 - 0.02) + (0.1 - 0.05)) / 2 = 0.065 */
	ck_assert_double_eq_tol(s.fwt, 0.065, EPS);
	/* F: task 1 max(0.9, 0.6) - 0.5 = 0.4; task 2 max(0.1, 0.8) - 0.7 = 0.1; mean 0.25 */
	ck_assert_double_eq_tol(s.forgetting, 0.25, EPS);
	double per_task[3] = { -1, -1, -1 };
	ck_assert_double_eq_tol(metrics_forgetting_rows(R3, 3, 3, per_task), 0.25, EPS);
	ck_assert_double_eq_tol(per_task[0], 0.4, EPS);
	ck_assert_double_eq_tol(per_task[1], 0.1, EPS);
	ck_assert_double_eq(per_task[2], 0);
	ck_assert_double_eq_tol(metrics_forgetting_rows(R3, 3, 3, NULL), 0.25, EPS);
	/* last minus first: ((0.9 - 0.5) + (0.8 - 0.7)) / 2 = 0.25 */
	ck_assert_double_eq_tol(s.forgetting_last_first, 0.25, EPS);
}
END_TEST

START_TEST(test_max_off_diagonal)
{
	struct metrics_summary s;
	metrics_summarise(R4, b4, 4, 4, &s);
	/* ACC = (0.5 + 0.6 + 0.6 + 0.9) / 4 = 0.65 */
	ck_assert_double_eq_tol(s.acc, 0.65, EPS);
	/* BWT = ((0.5 - 0.6) + (0.6 - 0.7) + (0.6 - 0.8)) / 3 = -0.4 / 3 */
	ck_assert_double_eq_tol(s.bwt, -0.4 / 3, EPS);
	/* FWT = ((0.75 - 0.2) + (0.2 - 0.15) + (0.3 - 0.25)) / 3 = 0.65 / 3 */
	ck_assert_double_eq_tol(s.fwt, 0.65 / 3, EPS);
	/* F: task 1 max(0.6, 0.9, 0.7) - 0.5 = 0.4; task 2 max(0.75, 0.7, 0.4) - 0.6 = 0.15;
	 * task 3 max(0.1, 0.2, 0.8) - 0.6 = 0.2; mean 0.75 / 3 = 0.25 */
	ck_assert_double_eq_tol(s.forgetting, 0.25, EPS);
	double per_task[4];
	ck_assert_double_eq_tol(metrics_forgetting_rows(R4, 4, 4, per_task), 0.25, EPS);
	ck_assert_double_eq_tol(per_task[0], 0.4, EPS);
	ck_assert_double_eq_tol(per_task[1], 0.15, EPS);
	ck_assert_double_eq_tol(per_task[2], 0.2, EPS);
	ck_assert_double_eq(per_task[3], 0);
	/* last minus first: ((0.6 - 0.5) + (0.7 - 0.6) + (0.8 - 0.6)) / 3 = 0.4 / 3 */
	ck_assert_double_eq_tol(s.forgetting_last_first, 0.4 / 3, EPS);
}
END_TEST

START_TEST(test_one_task)
{
	const double R[] = { 0.8 }, b[] = { 0.1 };
	double per_task[1] = { -1 };
	struct metrics_summary s;
	metrics_summarise(R, b, 1, 1, &s);
	ck_assert_double_eq(s.acc, 0.8);
	ck_assert_double_eq(s.bwt, 0);
	ck_assert_double_eq(s.fwt, 0);
	ck_assert_double_eq(s.forgetting, 0);
	ck_assert_double_eq(metrics_forgetting_rows(R, 1, 1, per_task), 0);
	ck_assert_double_eq(per_task[0], 0);
	ck_assert_double_eq(s.forgetting_last_first, 0);
}
END_TEST

START_TEST(test_summarise_rows)
{
	struct metrics_summary s;

	metrics_summarise(R4, b4, 4, 1, &s);
	ck_assert_double_eq(s.acc, 0.6);
	ck_assert_double_eq(s.bwt, 0);
	ck_assert_double_eq(s.fwt, 0);
	ck_assert_double_eq(s.forgetting, 0);
	ck_assert_double_eq(s.forgetting_last_first, 0);

	/* Block [[0.6, 0.75], [0.9, 0.7]]: ACC (0.9 + 0.7) / 2 = 0.8; BWT 0.9 - 0.6 = 0.3;
	 * FWT 0.75 - 0.2 = 0.55; F max(0.6) - 0.9 = -0.3; last minus first 0.6 - 0.9 = -0.3 */
	metrics_summarise(R4, b4, 4, 2, &s);
	ck_assert_double_eq_tol(s.acc, 0.8, EPS);
	ck_assert_double_eq_tol(s.bwt, 0.3, EPS);
	ck_assert_double_eq_tol(s.fwt, 0.55, EPS);
	ck_assert_double_eq_tol(s.forgetting, -0.3, EPS);
	ck_assert_double_eq_tol(s.forgetting_last_first, -0.3, EPS);

	/* Leading 3 x 3 block: ACC (0.7 + 0.4 + 0.8) / 3 = 1.9 / 3;
	 * BWT ((0.7 - 0.6) + (0.4 - 0.7)) / 2 = -0.1; FWT ((0.75 - 0.2) + (0.2 - 0.15)) / 2 = 0.3;
	 * F task 1 max(0.6, 0.9) - 0.7 = 0.2, task 2 max(0.75, 0.7) - 0.4 = 0.35, mean 0.275;
	 * last minus first ((0.6 - 0.7) + (0.7 - 0.4)) / 2 = 0.1 */
	metrics_summarise(R4, b4, 4, 3, &s);
	ck_assert_double_eq_tol(s.acc, 1.9 / 3, EPS);
	ck_assert_double_eq_tol(s.bwt, -0.1, EPS);
	ck_assert_double_eq_tol(s.fwt, 0.3, EPS);
	ck_assert_double_eq_tol(s.forgetting, 0.275, EPS);
	ck_assert_double_eq_tol(s.forgetting_last_first, 0.1, EPS);
	double per_task[3];
	ck_assert_double_eq_tol(metrics_forgetting_rows(R4, 4, 3, per_task), 0.275, EPS);
	ck_assert_double_eq_tol(per_task[0], 0.2, EPS);
	ck_assert_double_eq_tol(per_task[1], 0.35, EPS);
	ck_assert_double_eq(per_task[2], 0);
}
END_TEST

/* ---- results files ---- */

static const int32_t task_classes[3][2] = { { 0, 1 }, { 2, 3 }, { 4, 5 } };
static const struct results_task tasks3[] = {
	{ 2, task_classes[0] }, { 2, task_classes[1] }, { 2, task_classes[2] },
};
static const double steps3[] = { 1.5, 2.25, 0.1 };
static const char *const plugin_names[] = { "ewc", "rehearsal" };

static struct results sample(size_t rows_done)
{
	return (struct results){
		.scenario = "split-test",
		.scenario_path = "scenarios/split-test.ini",
		.protocol = LETHE_CLASS_INCREMENTAL,
		.baseline = "naive",
		.seed = 42,
		.num_tasks = 3,
		.tasks = tasks3,
		.rows_done = rows_done,
		.R = R3,
		.b = b3,
		.step_seconds = steps3,
		.total_seconds = 1.0 / 3,
		.peak_rss_bytes = 123456789,
		.num_plugins = 2,
		.plugins = plugin_names,
		.complete = rows_done == 3,
		.blas_library = "OpenBLAS 0.3.21",
		.blas_kernel = "Haswell",
		.blas_threads = 2,
	};
}

static char *join(const char *dir, const char *name)
{
	char *path;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	return path;
}

static json_t *load_metrics(const char *dir)
{
	char *path = join(dir, "metrics.json");
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(root != NULL, "%s: %s", path, jerr.text);
	ck_assert(json_is_object(root));
	free(path);
	return root;
}

static char *read_file(const char *dir, const char *name)
{
	char *path = join(dir, name);
	char *text = testutil_read(path, NULL);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	free(path);
	return text;
}

/* Entries in dir besides . and ..: a stray temporary file shows up here. */
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

static void check_reals(const json_t *a, const double *v, size_t n)
{
	ck_assert(json_is_array(a));
	ck_assert_uint_eq(json_array_size(a), n);
	for (size_t i = 0; i < n; i++) {
		const json_t *x = json_array_get(a, i);
		ck_assert(json_is_real(x));
		ck_assert_msg(json_real_value(x) == v[i], "element %zu: %.17g != %.17g", i,
			      json_real_value(x), v[i]);
	}
}

static void check_figure(const json_t *root, const char *key, double want)
{
	const json_t *x = json_object_get(root, key);
	ck_assert_msg(json_is_real(x), "%s is not a number", key);
	ck_assert_msg(json_real_value(x) == want, "%s: %.17g != %.17g", key, json_real_value(x),
		      want);
}

static void check_string(const json_t *root, const char *key, const char *want)
{
	const json_t *x = json_object_get(root, key);
	ck_assert_msg(json_is_string(x), "%s is not a string", key);
	ck_assert_str_eq(json_string_value(x), want);
}

/* The keys that hold whatever the rows done give. */
static void check_rows(const json_t *root, const struct results *r)
{
	const json_t *matrix = json_object_get(root, "accuracy_matrix");
	ck_assert(json_is_array(matrix));
	ck_assert_uint_eq(json_array_size(matrix), r->rows_done);
	for (size_t i = 0; i < r->rows_done; i++)
		check_reals(json_array_get(matrix, i), r->R + i * r->num_tasks, r->num_tasks);
	check_reals(json_object_get(root, "untrained_accuracy"), r->b, r->num_tasks);

	const json_t *seconds = json_object_get(root, "seconds");
	ck_assert(json_is_object(seconds));
	check_reals(json_object_get(seconds, "steps"), r->step_seconds, r->rows_done);
	check_figure(seconds, "total", r->total_seconds);

	ck_assert(json_is_boolean(json_object_get(root, "complete")));
	ck_assert_int_eq(json_is_true(json_object_get(root, "complete")), r->complete);

	static const char *const summary[] = { "average_accuracy", "bwt", "fwt", "forgetting",
					       "forgetting_last_minus_first" };
	if (r->rows_done == 0) {
		for (size_t k = 0; k < sizeof(summary) / sizeof(*summary); k++)
			ck_assert_msg(json_is_null(json_object_get(root, summary[k])),
				      "%s is not null", summary[k]);
		ck_assert_uint_eq(json_array_size(json_object_get(root, "forgetting_per_task")), 0);
		return;
	}
	struct metrics_summary s;
	metrics_summarise(r->R, r->b, r->num_tasks, r->rows_done, &s);
	check_figure(root, "average_accuracy", s.acc);
	check_figure(root, "bwt", s.bwt);
	check_figure(root, "fwt", s.fwt);
	check_figure(root, "forgetting", s.forgetting);
	check_figure(root, "forgetting_last_minus_first", s.forgetting_last_first);
	double per_task[3];
	metrics_forgetting_rows(r->R, r->num_tasks, r->rows_done, per_task);
	check_reals(json_object_get(root, "forgetting_per_task"), per_task, r->rows_done);
}

START_TEST(test_metrics_json)
{
	char *dir = testutil_tmpdir();
	struct results r = sample(3);
	struct error e = { "" };
	ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(count_entries(dir), 2);

	json_t *root = load_metrics(dir);
	check_string(root, "protocol", "class-incremental");
	check_string(root, "scenario", "split-test");
	check_string(root, "scenario_path", "scenarios/split-test.ini");
	check_string(root, "baseline", "naive");
	ck_assert(json_is_integer(json_object_get(root, "seed")));
	ck_assert_int_eq(json_integer_value(json_object_get(root, "seed")), 42);

	const json_t *plugins = json_object_get(root, "plugins");
	ck_assert_uint_eq(json_array_size(plugins), 2);
	ck_assert_str_eq(json_string_value(json_array_get(plugins, 0)), "ewc");
	ck_assert_str_eq(json_string_value(json_array_get(plugins, 1)), "rehearsal");

	const json_t *tasks = json_object_get(root, "tasks");
	ck_assert(json_is_array(tasks));
	ck_assert_uint_eq(json_array_size(tasks), 3);
	for (size_t k = 0; k < 3; k++) {
		const json_t *classes = json_object_get(json_array_get(tasks, k), "classes");
		ck_assert_uint_eq(json_array_size(classes), 2);
		for (size_t c = 0; c < 2; c++)
			ck_assert_int_eq(json_integer_value(json_array_get(classes, c)),
					 task_classes[k][c]);
	}

	check_rows(root, &r);
	/* The hand-computed figures of test_three_tasks, through the file. */
	const json_t *v = json_object_get(root, "average_accuracy");
	ck_assert_double_eq_tol(json_real_value(v), 2.15 / 3, EPS);
	ck_assert_double_eq_tol(json_real_value(json_object_get(root, "bwt")), -0.25, EPS);
	ck_assert_double_eq_tol(json_real_value(json_object_get(root, "fwt")), 0.065, EPS);
	ck_assert_double_eq_tol(json_real_value(json_object_get(root, "forgetting")), 0.25, EPS);

	const json_t *unlearning = json_object_get(root, "unlearning");
	ck_assert(json_is_array(unlearning));
	ck_assert_uint_eq(json_array_size(unlearning), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(root, "peak_rss_bytes")), 123456789);
	ck_assert(json_is_true(json_object_get(root, "complete")));
	/* The BLAS that made the results' last bits. */
	const json_t *blas = json_object_get(root, "blas");
	check_string(blas, "library", "OpenBLAS 0.3.21");
	check_string(blas, "kernel", "Haswell");
	ck_assert_int_eq(json_integer_value(json_object_get(blas, "threads")), 2);

	json_decref(root);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_protocol_names)
{
	static const char *const names[] = { "class-incremental", "task-incremental",
					     "domain-incremental" };
	static const lethe_protocol protocols[] = { LETHE_CLASS_INCREMENTAL,
						    LETHE_TASK_INCREMENTAL,
						    LETHE_DOMAIN_INCREMENTAL };
	char *dir = testutil_tmpdir();
	for (size_t i = 0; i < 3; i++) {
		struct results r = sample(3);
		r.protocol = protocols[i];
		struct error e = { "" };
		ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);
		json_t *root = load_metrics(dir);
		check_string(root, "protocol", names[i]);
		json_decref(root);
	}
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_accuracy_csv)
{
	/* Binary fractions print short under %.17g; 0.1 shows all 17 digits. */
	const double R[] = { 0.5, 0.25, 0.75, 0.1 }, b[] = { 0.0625, 1 };
	const double steps[] = { 1, 2 };
	const struct results_task tasks[] = { { 2, task_classes[0] }, { 2, task_classes[1] } };
	struct results r = sample(2);
	r.num_tasks = 2;
	r.tasks = tasks;
	r.R = R;
	r.b = b;
	r.step_seconds = steps;
	char *dir = testutil_tmpdir();
	struct error e = { "" };

	ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);
	char *csv = read_file(dir, "accuracy.csv");
	ck_assert_str_eq(csv, "step,task_1,task_2\n"
			      "untrained,0.0625,1\n"
			      "1,0.5,0.25\n"
			      "2,0.75,0.10000000000000001\n");
	free(csv);

	r.rows_done = 1;
	ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);
	csv = read_file(dir, "accuracy.csv");
	ck_assert_str_eq(csv, "step,task_1,task_2\n"
			      "untrained,0.0625,1\n"
			      "1,0.5,0.25\n");
	free(csv);

	r.rows_done = 0;
	ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);
	csv = read_file(dir, "accuracy.csv");
	ck_assert_str_eq(csv, "step,task_1,task_2\n"
			      "untrained,0.0625,1\n");
	free(csv);

	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_partial_run)
{
	char *dir = testutil_tmpdir();
	for (size_t rows = 0; rows < 3; rows++) {
		struct results r = sample(rows);
		struct error e = { "" };
		ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);
		json_t *root = load_metrics(dir);
		check_rows(root, &r);
		ck_assert(json_is_false(json_object_get(root, "complete")));
		json_decref(root);
	}

	/* After two steps of R3: ACC (0.6 + 0.8) / 2 = 0.7; BWT 0.6 - 0.9 = -0.3;
	 * FWT 0.1 - 0.02 = 0.08; F max(0.9) - 0.6 = 0.3. */
	json_t *root = load_metrics(dir);
	ck_assert_double_eq_tol(json_real_value(json_object_get(root, "average_accuracy")), 0.7,
				EPS);
	ck_assert_double_eq_tol(json_real_value(json_object_get(root, "bwt")), -0.3, EPS);
	ck_assert_double_eq_tol(json_real_value(json_object_get(root, "fwt")), 0.08, EPS);
	ck_assert_double_eq_tol(json_real_value(json_object_get(root, "forgetting")), 0.3, EPS);
	json_decref(root);

	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_creates_dir)
{
	char *top = testutil_tmpdir();
	char *dir = join(top, "a/b/c/");
	struct results r = sample(1);
	struct error e = { "" };
	ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(count_entries(dir), 2);
	testutil_rmtree(top);
	free(dir);
	free(top);
}
END_TEST

START_TEST(test_unwritable_dir)
{
	/* A path below a regular file: unwritable even for root, unlike a chmod. */
	char *top = testutil_tmpdir();
	char *file = testutil_write_text(top, "file", "not a directory\n");
	struct results r = sample(3);

	char *below = join(file, "out");
	const char *const targets[] = { file, below };
	for (size_t i = 0; i < 2; i++) {
		struct error e = { "" };
		char *want;
		if (asprintf(&want, "%s: %s", targets[i], strerror(ENOTDIR)) < 0)
			abort();
		ck_assert_int_eq(results_write(targets[i], &r, &e), -1);
		ck_assert_str_eq(e.msg, want);
		free(want);
	}
	ck_assert_uint_eq(count_entries(top), 1);

	free(below);
	free(file);
	testutil_rmtree(top);
	free(top);
}
END_TEST

START_TEST(test_disk_full)
{
	/* The temporary file (this process's) leads to /dev/full: the write fails as on a full
	 * disk. */
	if (access("/dev/full", W_OK) != 0)
		return;
	char *dir = testutil_tmpdir();
	struct results r = sample(1);
	struct error e = { "" };
	ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);
	char *before = read_file(dir, "metrics.json");

	char *tmp;
	if (asprintf(&tmp, "%s/.metrics.json.%ld.tmp", dir, (long)getpid()) < 0)
		abort();
	ck_assert_int_eq(symlink("/dev/full", tmp), 0);
	r = sample(2);
	char *want;
	if (asprintf(&want, "%s/metrics.json: %s", dir, strerror(ENOSPC)) < 0)
		abort();
	ck_assert_int_eq(results_write(dir, &r, &e), -1);
	ck_assert_str_eq(e.msg, want);

	struct stat st;
	ck_assert_int_eq(lstat(tmp, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	char *after = read_file(dir, "metrics.json");
	ck_assert_str_eq(after, before);
	ck_assert_uint_eq(count_entries(dir), 2);

	free(after);
	free(want);
	free(tmp);
	free(before);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_replace_atomically)
{
	char *dir = testutil_tmpdir();
	struct results r = sample(1);
	struct error e = { "" };
	ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);

	/* A reader that opened the old file keeps the old file whole. */
	char *path = join(dir, "metrics.json");
	FILE *old = fopen(path, "r");
	ck_assert_ptr_nonnull(old);
	r = sample(2);
	ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);

	json_error_t jerr;
	json_t *root = json_loadf(old, 0, &jerr);
	ck_assert_msg(root != NULL, "old file: %s", jerr.text);
	ck_assert_uint_eq(json_array_size(json_object_get(root, "accuracy_matrix")), 1);
	json_decref(root);
	fclose(old);

	root = load_metrics(dir);
	check_rows(root, &r);
	json_decref(root);
	ck_assert_uint_eq(count_entries(dir), 2);

	free(path);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_not_a_number)
{
	/* JSON has no NaN: it goes out as null, and the rest of the run still reaches the disk. */
	const double R[] = { 0.5, NAN, 0.75, 0.25 }, b[] = { 0.0625, 1 };
	const double steps[] = { 1, 2 };
	const struct results_task tasks[] = { { 2, task_classes[0] }, { 2, task_classes[1] } };
	struct results r = sample(2);
	r.num_tasks = 2;
	r.tasks = tasks;
	r.R = R;
	r.b = b;
	r.step_seconds = steps;
	r.total_seconds = INFINITY;
	char *dir = testutil_tmpdir();
	struct error e = { "" };
	ck_assert_msg(results_write(dir, &r, &e) == 0, "%s", e.msg);

	json_t *root = load_metrics(dir);
	const json_t *row = json_array_get(json_object_get(root, "accuracy_matrix"), 0);
	ck_assert(json_is_null(json_array_get(row, 1)));
	ck_assert(json_is_null(json_object_get(json_object_get(root, "seconds"), "total")));
	/* FWT = R[1][2] - b2 = NaN */
	ck_assert(json_is_null(json_object_get(root, "fwt")));
	ck_assert_double_eq_tol(json_real_value(json_object_get(root, "bwt")), 0.25, EPS);
	json_decref(root);
	char *csv = read_file(dir, "accuracy.csv");
	ck_assert_str_eq(csv, "step,task_1,task_2\n"
			      "untrained,0.0625,1\n"
			      "1,0.5,nan\n"
			      "2,0.75,0.25\n");
	free(csv);

	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_not_utf8)
{
	/* A name JSON cannot hold: an error naming the file, and nothing written. */
	struct results r = sample(1);
	r.scenario = "bad\xff";
	char *dir = testutil_tmpdir();
	struct error e = { "" };
	ck_assert_int_eq(results_write(dir, &r, &e), -1);
	char *want = join(dir, "metrics.json: ");
	ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0, "%s", e.msg);
	ck_assert_uint_eq(count_entries(dir), 0);
	free(want);
	testutil_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_peak_rss)
{
	uint64_t rss = results_peak_rss();
	ck_assert_uint_gt(rss, 0);
	ck_assert_uint_eq(rss % 1024, 0);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");

	TCase *tc = tcase_create("metrics");
	tcase_add_test(tc, test_three_tasks);
	tcase_add_test(tc, test_max_off_diagonal);
	tcase_add_test(tc, test_one_task);
	tcase_add_test(tc, test_summarise_rows);
	suite_add_tcase(s, tc);

	tc = tcase_create("results");
	tcase_add_test(tc, test_metrics_json);
	tcase_add_test(tc, test_protocol_names);
	tcase_add_test(tc, test_accuracy_csv);
	tcase_add_test(tc, test_partial_run);
	tcase_add_test(tc, test_creates_dir);
	tcase_add_test(tc, test_unwritable_dir);
	tcase_add_test(tc, test_disk_full);
	tcase_add_test(tc, test_replace_atomically);
	tcase_add_test(tc, test_not_a_number);
	tcase_add_test(tc, test_not_utf8);
	tcase_add_test(tc, test_peak_rss);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return testutil_run(metrics_suite());
}
