/* metrics.json read back: strictly into struct results_doc, every key it uses checked
 * (results_load, for a report), or loosely into the few figures a sweep sums up
 * (results_summary). The keys are results.c's. */
#include "results/results.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_io.h"

#define NUMBER (JSON_IO_NUMBER | JSON_IO_NULL)

static const char *const figure_keys[RESULTS_FORGET_FIGURES] = { "ua", "ra", "ta", "mia" };

static int load_figures(struct results_method *m, const json_t *o, const char *path,
			struct error *e)
{
	for (int k = 0; k < RESULTS_FORGET_FIGURES; k++)
		if (json_io_number(o, path, figure_keys[k], &m->figure[k], e) != 0)
			return -1;
	m->figure[RESULTS_MIA_THRESHOLD] = json_io_number_or_nan(o, "mia_threshold");
	m->figure[RESULTS_LOSS_AUC] = json_io_number_or_nan(o, "loss_auc");
	m->figure[RESULTS_JS_FORGET] = json_io_number_or_nan(
		json_object_get(json_object_get(o, "to_retrain"), "js"), "forget");
	return 0;
}

/* What was forgotten, when and how many: section, after, what, forget_samples, and classes,
 * task or fraction where given. */
static int load_request(struct results_forget *f, const json_t *o, const char *path,
			struct error *e)
{
	const json_t *classes, *task, *fraction;
	if (json_io_string(o, path, "section", &f->section, e) != 0 ||
	    json_io_integer(o, path, "after", &f->after, e) != 0 ||
	    json_io_string(o, path, "what", &f->what, e) != 0 ||
	    json_io_integer(o, path, "forget_samples", &f->samples, e) != 0 ||
	    json_io_find(o, path, "classes", JSON_IO_ARRAY, &classes, e) != 0 ||
	    json_io_find(o, path, "task", JSON_IO_INTEGER, &task, e) != 0 ||
	    json_io_find(o, path, "fraction", JSON_IO_NUMBER, &fraction, e) != 0)
		return -1;
	f->has_task = task != NULL;
	f->task = task ? json_integer_value(task) : 0;
	f->has_fraction = fraction != NULL;
	f->fraction = fraction ? json_number_value(fraction) : NAN;
	size_t n = json_array_size(classes);
	f->classes = n ? malloc(n * sizeof(*f->classes)) : NULL;
	if (n && !f->classes)
		return error_set(e, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(classes, i);
		char p[JSON_IO_PATH_MAX], q[JSON_IO_PATH_MAX];
		json_io_key_path(p, path, "classes");
		json_io_index_path(q, p, i);
		if (json_io_check(v, q, JSON_IO_INTEGER, e) != 0)
			return -1;
		f->classes[f->num_classes++] = json_integer_value(v);
	}
	return 0;
}

/* Each method of by (path.key: {NAME: figures}, may be NULL) appended to f's. */
static int load_methods(struct results_forget *f, const json_t *by, const char *path,
			const char *key, struct error *e)
{
	char by_path[JSON_IO_PATH_MAX];
	json_io_key_path(by_path, path, key);
	const char *name;
	const json_t *o;
	json_object_foreach((json_t *)by, name, o) {
		char p[JSON_IO_PATH_MAX];
		json_io_key_path(p, by_path, name);
		struct results_method *m = &f->methods[f->num_methods++];
		m->name = name;
		if (json_io_check(o, p, JSON_IO_OBJECT, e) != 0 || load_figures(m, o, p, e) != 0 ||
		    json_io_optional_string(o, p, "failed", &m->failed, e) != 0)
			return -1;
	}
	return 0;
}

static int load_forget(struct results_forget *f, const json_t *o, const char *path,
		       struct error *e)
{
	const json_t *refs, *compared;
	if (json_io_check(o, path, JSON_IO_OBJECT, e) != 0 ||
	    json_io_optional_string(o, path, "plugin", &f->plugin, e) != 0 ||
	    load_request(f, o, path, e) != 0 ||
	    json_io_number(o, path, "gap_to_retrain", &f->gap_to_retrain, e) != 0 ||
	    json_io_number(o, path, "seconds", &f->seconds, e) != 0 ||
	    json_io_get(o, path, "references", JSON_IO_OBJECT, &refs, e) != 0 ||
	    json_io_find(o, path, "compared", JSON_IO_OBJECT, &compared, e) != 0)
		return -1;

	f->methods = calloc(1 + json_object_size(compared) + json_object_size(refs),
			    sizeof(*f->methods));
	if (!f->methods)
		return error_set(e, "out of memory");
	struct results_method *m = &f->methods[f->num_methods++];
	m->name = f->plugin ? f->plugin : "no procedure";
	if (load_figures(m, o, path, e) != 0)
		return -1;

	/* The compared plugins after the step's own, then the references. */
	return load_methods(f, compared, path, "compared", e) ||
	       load_methods(f, refs, path, "references", e) ? -1 : 0;
}

static int load_unlearning(struct results_doc *d, const json_t *root, struct error *e)
{
	const json_t *a;
	if (json_io_find(root, "", "unlearning", JSON_IO_ARRAY, &a, e) != 0)
		return -1;
	size_t n = json_array_size(a);
	if (n == 0)
		return 0;
	d->forgets = calloc(n, sizeof(*d->forgets));
	if (!d->forgets)
		return error_set(e, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[JSON_IO_PATH_MAX];
		json_io_index_path(p, "unlearning", i);
		/* Counted before it is filled, so results_doc_free frees a half-read one. */
		d->num_forgets++;
		if (load_forget(&d->forgets[i], json_array_get(a, i), p, e) != 0)
			return -1;
	}
	return 0;
}

static int load_plugins(struct results_doc *d, const json_t *root, struct error *e)
{
	const json_t *a;
	if (json_io_find(root, "", "plugins", JSON_IO_ARRAY, &a, e) != 0)
		return -1;
	size_t n = json_array_size(a);
	d->plugins = n ? calloc(n, sizeof(*d->plugins)) : NULL;
	if (n && !d->plugins)
		return error_set(e, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(a, i);
		char p[JSON_IO_PATH_MAX];
		json_io_index_path(p, "plugins", i);
		if (json_io_check(v, p, JSON_IO_STRING, e) != 0)
			return -1;
		d->plugins[d->num_plugins++] = json_string_value(v);
	}
	return 0;
}

/* The matrix rows done, the untrained row and forgetting per task, all into one block. */
static int load_matrix(struct results_doc *d, const json_t *root, struct error *e)
{
	const json_t *tasks, *matrix, *untrained, *per_task;
	const unsigned array = JSON_IO_ARRAY;
	if (json_io_get(root, "", "tasks", array, &tasks, e) != 0 ||
	    json_io_get(root, "", "accuracy_matrix", array, &matrix, e) != 0 ||
	    json_io_get(root, "", "untrained_accuracy", array, &untrained, e) != 0 ||
	    json_io_get(root, "", "forgetting_per_task", array, &per_task, e) != 0)
		return -1;
	size_t T = json_array_size(tasks);
	d->num_tasks = T;
	d->rows_done = json_array_size(matrix);
	d->num_forgetting = json_array_size(per_task);
	if (T == 0)
		return error_set(e, "\"tasks\" is empty");
	if (T > RESULTS_TASKS_MAX)
		return error_set(e, "\"tasks\" has %zu entries; a report draws at most %d", T,
				 RESULTS_TASKS_MAX);
	if (d->rows_done > T)
		return error_set(e, "\"accuracy_matrix\" has %zu rows, more than the %zu tasks",
				 d->rows_done, T);
	if (d->num_forgetting > T)
		return error_set(e, "\"forgetting_per_task\" has %zu entries, more than the %zu "
				 "tasks", d->num_forgetting, T);

	d->b = malloc((T + d->rows_done * T + d->num_forgetting) * sizeof(double));
	if (!d->b)
		return error_set(e, "out of memory");
	d->R = d->b + T;
	d->forgetting_per_task = d->R + d->rows_done * T;
	if (json_io_numbers(untrained, "untrained_accuracy", T, d->b, e) != 0 ||
	    json_io_numbers(per_task, "forgetting_per_task", d->num_forgetting,
			    d->forgetting_per_task, e) != 0)
		return -1;
	for (size_t i = 0; i < d->rows_done; i++) {
		const json_t *row = json_array_get(matrix, i);
		char p[JSON_IO_PATH_MAX];
		json_io_index_path(p, "accuracy_matrix", i);
		if (json_io_check(row, p, JSON_IO_ARRAY, e) != 0 ||
		    json_io_numbers(row, p, T, d->R + i * T, e) != 0)
			return -1;
	}
	return 0;
}

/* One step's matrix, found at path: C rows of C counts, C set by the first. */
static int load_confusion_step(struct results_doc *d, const json_t *m, const char *path,
			       size_t i, struct error *e)
{
	size_t C = d->num_classes;
	double *out = d->confusion + i * C * C;
	if (json_is_null(m)) {
		for (size_t k = 0; k < C * C; k++)
			out[k] = NAN;
		return 0;
	}
	if (json_array_size(m) != C)
		return error_set(e, "\"%s\" has %zu rows, not %zu", path, json_array_size(m), C);
	for (size_t c = 0; c < C; c++) {
		char p[JSON_IO_PATH_MAX];
		const json_t *row = json_array_get(m, c);
		json_io_index_path(p, path, c);
		if (json_io_check(row, p, JSON_IO_ARRAY, e) != 0 ||
		    json_io_numbers(row, p, C, out + c * C, e) != 0)
			return -1;
		for (size_t k = 0; k < C; k++)
			if (!(out[c * C + k] >= 0) || out[c * C + k] != floor(out[c * C + k]))
				return error_set(e, "\"%s\" holds %g, not a count", p,
						 out[c * C + k]);
	}
	return 0;
}

/* "confusion_matrices", absent from files before it: a matrix (or null) per step done, all
 * of one size. */
static int load_confusion(struct results_doc *d, const json_t *root, struct error *e)
{
	const json_t *a;
	if (json_io_find(root, "", "confusion_matrices", JSON_IO_ARRAY, &a, e) != 0)
		return -1;
	size_t n = json_array_size(a);
	if (n == 0)
		return 0;
	if (n != d->rows_done)
		return error_set(e, "\"confusion_matrices\" has %zu entries for %zu steps done", n,
				 d->rows_done);
	for (size_t i = 0; i < n && !d->num_classes; i++) {
		const json_t *m = json_array_get(a, i);
		if (json_is_array(m))
			d->num_classes = json_array_size(m);
	}
	if (!d->num_classes)
		return 0;
	size_t C = d->num_classes;
	if (C > RESULTS_CLASSES_MAX)
		return error_set(e, "\"confusion_matrices\" has %zu classes; a report draws at "
				 "most %d", C, RESULTS_CLASSES_MAX);
	if (!(d->confusion = malloc(n * C * C * sizeof(double))))
		return error_set(e, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char p[JSON_IO_PATH_MAX];
		const json_t *m = json_array_get(a, i);
		json_io_index_path(p, "confusion_matrices", i);
		if (json_io_check(m, p, JSON_IO_ARRAY | JSON_IO_NULL, e) != 0 ||
		    load_confusion_step(d, m, p, i, e) != 0)
			return -1;
	}
	return 0;
}

static int load_doc(struct results_doc *d, const json_t *root, struct error *e)
{
	const json_t *seed, *complete;
	if (!json_is_object(root))
		return error_set(e, "not a JSON object");
	if (json_io_optional_string(root, "", "scenario", &d->scenario, e) != 0 ||
	    json_io_string(root, "", "protocol", &d->protocol, e) != 0 ||
	    json_io_optional_string(root, "", "baseline", &d->baseline, e) != 0 ||
	    json_io_get(root, "", "seed", JSON_IO_INTEGER | JSON_IO_STRING, &seed, e) != 0 ||
	    json_io_get(root, "", "complete", JSON_IO_BOOL, &complete, e) != 0 ||
	    json_io_number(root, "", "average_accuracy", &d->acc, e) != 0 ||
	    json_io_number(root, "", "bwt", &d->bwt, e) != 0 ||
	    json_io_number(root, "", "fwt", &d->fwt, e) != 0 ||
	    json_io_number(root, "", "forgetting", &d->forgetting, e) != 0 ||
	    load_plugins(d, root, e) != 0 || load_matrix(d, root, e) != 0 ||
	    load_unlearning(d, root, e) != 0 || load_confusion(d, root, e) != 0)
		return -1;
	d->complete = json_is_true(complete);
	/* A seed above INT64_MAX comes as its decimal string (results.c). */
	if (json_is_string(seed))
		snprintf(d->seed, sizeof(d->seed), "%s", json_string_value(seed));
	else
		snprintf(d->seed, sizeof(d->seed), "%lld", (long long)json_integer_value(seed));
	return 0;
}

int results_load(struct results_doc *d, const char *path, struct error *e)
{
	*d = (struct results_doc){ 0 };
	if (!(d->root = json_io_read(path, e)))
		return -1;
	if (load_doc(d, d->root, e) != 0) {
		results_doc_free(d);
		return error_prefix(e, "%s", path);
	}
	char curves[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int dir = slash ? (int)(slash - path) + 1 : 0;
	snprintf(curves, sizeof(curves), "%.*s%s", dir, path, CURVES_FILE);
	if (curves_read(curves, &d->curves, e) == 0) {
		d->has_curves = 1;
	} else if (errno != ENOENT) {
		results_doc_free(d);
		return -1;
	}
	return 0;
}

void results_doc_free(struct results_doc *d)
{
	for (size_t i = 0; i < d->num_forgets; i++) {
		free(d->forgets[i].methods);
		free(d->forgets[i].classes);
	}
	free(d->forgets);
	free(d->plugins);
	free(d->b);
	free(d->confusion);
	curves_free(&d->curves);
	json_decref(d->root);
	*d = (struct results_doc){ 0 };
}

int results_summary(const char *dir, struct results_summary *s)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, RESULTS_METRICS);
	json_t *m = json_io_read(path, NULL);
	if (!m)
		return -1;
	s->complete = json_is_true(json_object_get(m, "complete"));
	s->acc = json_io_number_or_nan(m, "average_accuracy");
	s->bwt = json_io_number_or_nan(m, "bwt");
	s->fwt = json_io_number_or_nan(m, "fwt");
	s->forgetting = json_io_number_or_nan(m, "forgetting");
	json_t *u = json_object_get(m, "unlearning");
	json_t *last = json_array_size(u) ? json_array_get(u, json_array_size(u) - 1) : NULL;
	s->ua = json_io_number_or_nan(last, "ua");
	s->ra = json_io_number_or_nan(last, "ra");
	s->ta = json_io_number_or_nan(last, "ta");
	s->mia = json_io_number_or_nan(last, "mia");
	s->total_seconds = json_io_number_or_nan(json_object_get(m, "seconds"), "total");
	s->peak_rss_bytes = json_io_number_or_nan(m, "peak_rss_bytes");
	json_decref(m);
	return 0;
}

int results_complete(const char *dir)
{
	struct results_summary s;
	return results_summary(dir, &s) == 0 && s.complete;
}
