/* metrics.json (results.h) into struct report_run, every key it uses checked. */
#include "report/report_run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_json.h"

#define NUMBER (REPORT_JSON_NUMBER | REPORT_JSON_NULL)

static const char *const figure_keys[REPORT_UNLEARN_FIGURES] = { "ua", "ra", "ta", "mia" };

/* Appends to a caption, cutting it short when full. */
static void add(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

static int load_figures(struct report_method *m, const json_t *o, const char *path,
			struct error *e)
{
	for (int k = 0; k < REPORT_UNLEARN_FIGURES; k++)
		if (report_json_number(o, path, figure_keys[k], &m->figure[k], e) != 0)
			return -1;
	return 0;
}

/* "forget1 after step 2: class 1,3, 60 samples, by repulsion" */
static int load_caption(struct report_forget *f, const json_t *o, const char *path,
			const char *plugin, struct error *e)
{
	const char *section, *what;
	long long after, samples;
	const json_t *classes, *task, *fraction;
	if (report_json_string(o, path, "section", &section, e) != 0 ||
	    report_json_integer(o, path, "after", &after, e) != 0 ||
	    report_json_string(o, path, "what", &what, e) != 0 ||
	    report_json_integer(o, path, "forget_samples", &samples, e) != 0 ||
	    report_json_find(o, path, "classes", REPORT_JSON_ARRAY, &classes, e) != 0 ||
	    report_json_find(o, path, "task", REPORT_JSON_INTEGER, &task, e) != 0 ||
	    report_json_find(o, path, "fraction", REPORT_JSON_NUMBER, &fraction, e) != 0)
		return -1;

	char *c = f->caption;
	size_t size = sizeof(f->caption);
	snprintf(c, size, "%s after step %lld: ", section, after);
	if (fraction)
		add(c, size, "%.0f%% of ", json_number_value(fraction) * 100);
	add(c, size, "%s", what);
	if (task)
		add(c, size, " %lld", (long long)json_integer_value(task));
	for (size_t i = 0; i < json_array_size(classes); i++) {
		const json_t *v = json_array_get(classes, i);
		char p[REPORT_PATH_MAX], q[REPORT_PATH_MAX];
		report_json_key_path(p, path, "classes");
		report_json_index_path(q, p, i);
		if (report_json_check(v, q, REPORT_JSON_INTEGER, e) != 0)
			return -1;
		add(c, size, "%s%lld", i ? "," : " ", (long long)json_integer_value(v));
	}
	add(c, size, ", %lld samples, %s%s", samples, plugin ? "by " : "",
	    plugin ? plugin : "data removed, no procedure run");
	return 0;
}

static int load_forget(struct report_forget *f, const json_t *o, const char *path,
		       struct error *e)
{
	const char *plugin;
	const json_t *refs;
	if (report_json_check(o, path, REPORT_JSON_OBJECT, e) != 0 ||
	    report_json_optional_string(o, path, "plugin", &plugin, e) != 0 ||
	    load_caption(f, o, path, plugin, e) != 0 ||
	    report_json_number(o, path, "gap_to_retrain", &f->gap_to_retrain, e) != 0 ||
	    report_json_number(o, path, "seconds", &f->seconds, e) != 0 ||
	    report_json_get(o, path, "references", REPORT_JSON_OBJECT, &refs, e) != 0)
		return -1;

	f->methods = calloc(1 + json_object_size(refs), sizeof(*f->methods));
	if (!f->methods)
		return error_set(e, "out of memory");
	struct report_method *m = &f->methods[f->num_methods++];
	m->name = plugin ? plugin : "no procedure";
	if (load_figures(m, o, path, e) != 0)
		return -1;

	char refs_path[REPORT_PATH_MAX];
	report_json_key_path(refs_path, path, "references");
	const char *name;
	const json_t *ref;
	json_object_foreach((json_t *)refs, name, ref) {
		char p[REPORT_PATH_MAX];
		report_json_key_path(p, refs_path, name);
		m = &f->methods[f->num_methods++];
		m->name = name;
		if (report_json_check(ref, p, REPORT_JSON_OBJECT, e) != 0 ||
		    load_figures(m, ref, p, e) != 0)
			return -1;
	}
	return 0;
}

static int load_unlearning(struct report_run *r, const json_t *root, struct error *e)
{
	const json_t *a;
	if (report_json_find(root, "", "unlearning", REPORT_JSON_ARRAY, &a, e) != 0)
		return -1;
	size_t n = json_array_size(a);
	if (n == 0)
		return 0;
	r->forgets = calloc(n, sizeof(*r->forgets));
	if (!r->forgets)
		return error_set(e, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[REPORT_PATH_MAX];
		report_json_index_path(p, "unlearning", i);
		/* Counted before it is filled, so report_run_free frees a half-read one. */
		r->num_forgets++;
		if (load_forget(&r->forgets[i], json_array_get(a, i), p, e) != 0)
			return -1;
	}
	return 0;
}

static int load_plugins(struct report_run *r, const json_t *root, struct error *e)
{
	const json_t *a;
	if (report_json_find(root, "", "plugins", REPORT_JSON_ARRAY, &a, e) != 0)
		return -1;
	for (size_t i = 0; i < json_array_size(a); i++) {
		const json_t *v = json_array_get(a, i);
		char p[REPORT_PATH_MAX];
		report_json_index_path(p, "plugins", i);
		if (report_json_check(v, p, REPORT_JSON_STRING, e) != 0)
			return -1;
		add(r->plugins, sizeof(r->plugins), "%s%s", i ? ", " : "", json_string_value(v));
	}
	return 0;
}

/* The matrix rows done, the untrained row and forgetting per task, all into one block. */
static int load_matrix(struct report_run *r, const json_t *root, struct error *e)
{
	const json_t *tasks, *matrix, *untrained, *per_task;
	const unsigned array = REPORT_JSON_ARRAY;
	if (report_json_get(root, "", "tasks", array, &tasks, e) != 0 ||
	    report_json_get(root, "", "accuracy_matrix", array, &matrix, e) != 0 ||
	    report_json_get(root, "", "untrained_accuracy", array, &untrained, e) != 0 ||
	    report_json_get(root, "", "forgetting_per_task", array, &per_task, e) != 0)
		return -1;
	size_t T = json_array_size(tasks);
	r->num_tasks = T;
	r->rows_done = json_array_size(matrix);
	r->num_forgetting = json_array_size(per_task);
	if (T == 0)
		return error_set(e, "\"tasks\" is empty");
	if (T > REPORT_TASKS_MAX)
		return error_set(e, "\"tasks\" has %zu entries; a report draws at most %d", T,
				 REPORT_TASKS_MAX);
	if (r->rows_done > T)
		return error_set(e, "\"accuracy_matrix\" has %zu rows, more than the %zu tasks",
				 r->rows_done, T);
	if (r->num_forgetting > T)
		return error_set(e, "\"forgetting_per_task\" has %zu entries, more than the %zu "
				 "tasks", r->num_forgetting, T);

	r->b = malloc((T + r->rows_done * T + r->num_forgetting) * sizeof(double));
	if (!r->b)
		return error_set(e, "out of memory");
	r->R = r->b + T;
	r->forgetting_per_task = r->R + r->rows_done * T;
	if (report_json_numbers(untrained, "untrained_accuracy", T, r->b, e) != 0 ||
	    report_json_numbers(per_task, "forgetting_per_task", r->num_forgetting,
				r->forgetting_per_task, e) != 0)
		return -1;
	for (size_t i = 0; i < r->rows_done; i++) {
		const json_t *row = json_array_get(matrix, i);
		char p[REPORT_PATH_MAX];
		report_json_index_path(p, "accuracy_matrix", i);
		if (report_json_check(row, p, REPORT_JSON_ARRAY, e) != 0 ||
		    report_json_numbers(row, p, T, r->R + i * T, e) != 0)
			return -1;
	}
	return 0;
}

int report_run_load(struct report_run *r, const json_t *root, struct error *e)
{
	*r = (struct report_run){ 0 };
	const json_t *seed, *complete;
	if (report_json_optional_string(root, "", "scenario", &r->scenario, e) != 0 ||
	    report_json_string(root, "", "protocol", &r->protocol, e) != 0 ||
	    report_json_optional_string(root, "", "baseline", &r->baseline, e) != 0 ||
	    report_json_get(root, "", "seed", REPORT_JSON_INTEGER | REPORT_JSON_STRING, &seed,
			    e) != 0 ||
	    report_json_get(root, "", "complete", REPORT_JSON_BOOL, &complete, e) != 0 ||
	    report_json_number(root, "", "average_accuracy", &r->acc, e) != 0 ||
	    report_json_number(root, "", "bwt", &r->bwt, e) != 0 ||
	    report_json_number(root, "", "fwt", &r->fwt, e) != 0 ||
	    report_json_number(root, "", "forgetting", &r->forgetting, e) != 0 ||
	    load_plugins(r, root, e) != 0 || load_matrix(r, root, e) != 0 ||
	    load_unlearning(r, root, e) != 0) {
		report_run_free(r);
		return -1;
	}
	r->complete = json_is_true(complete);
	/* A seed above INT64_MAX comes as its decimal string (results.c). */
	if (json_is_string(seed))
		snprintf(r->seed, sizeof(r->seed), "%s", json_string_value(seed));
	else
		snprintf(r->seed, sizeof(r->seed), "%lld", (long long)json_integer_value(seed));
	return 0;
}

void report_run_free(struct report_run *r)
{
	for (size_t i = 0; i < r->num_forgets; i++)
		free(r->forgets[i].methods);
	free(r->forgets);
	free(r->b);
	*r = (struct report_run){ 0 };
}
