#include "results/results.h"

#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <jansson.h>

#include "results/metrics.h"
#include "scenario/scenario.h"
#include "util/files.h"
#include "util/json_io.h"

/* Appends v to array a, both stolen; on failure frees a and returns NULL, so loops need no
 * checks of their own. */
static json_t *append(json_t *a, json_t *v)
{
	if (json_array_append_new(a, v) != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *reals(const double *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		a = append(a, json_io_real(v[i]));
	return a;
}

static json_t *tasks_array(const struct results *r)
{
	json_t *a = json_array();
	for (size_t k = 0; k < r->num_tasks; k++) {
		const struct results_task *t = &r->tasks[k];
		json_t *classes = json_array();
		for (size_t c = 0; c < t->num_classes; c++)
			classes = append(classes, json_integer(t->classes[c]));
		a = append(a, json_pack("{s:o}", "classes", classes));
	}
	return a;
}

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		a = append(a, json_string(v[i]));
	return a;
}

static json_t *matrix(const struct results *r)
{
	json_t *a = json_array();
	for (size_t i = 0; i < r->rows_done; i++)
		a = append(a, reals(r->R + i * r->num_tasks, r->num_tasks));
	return a;
}

static json_t *forgetting_per_task(const struct results *r)
{
	double *f = malloc(r->rows_done * sizeof(*f));
	if (!f && r->rows_done > 0)
		return NULL;
	metrics_forgetting_rows(r->R, r->num_tasks, r->rows_done, f);
	json_t *a = reals(f, r->rows_done);
	free(f);
	return a;
}

/* {"PLUGIN": {"KEY": value, ...}, ...} */
static json_t *figures_object(const struct results_figure *figs, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++) {
		const struct results_figure *f = &figs[i];
		json_t *per = json_object_get(o, f->plugin);
		if (!per && json_object_set_new(o, f->plugin, per = json_object()) != 0)
			per = NULL;
		if (!per || json_object_set_new(per, f->key, json_io_real(f->value)) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *phases(const struct results *r)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < r->num_phases; i++) {
		json_t *v = json_io_real(r->phase_seconds[i]);
		if (json_object_set_new(o, r->phase_names[i], v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static const char *const set_names[FORGET_ON_SETS] = { "forget", "retain", "test" };
static const char *const attack_names[FORGET_ATTACKS] = {
	"correctness", "confidence", "entropy", "m_entropy", "combined"
};

/* {"forget": v[0], "retain": v[1], "test": v[2]} */
static json_t *per_set(const double *v)
{
	return json_pack("{s:o, s:o, s:o}", set_names[0], json_io_real(v[0]), set_names[1],
			 json_io_real(v[1]), set_names[2], json_io_real(v[2]));
}

/* The divergences from retrain's model: null when retrain did not run. */
static json_t *to_retrain_json(const struct forget_figures *f, int has_retrain)
{
	if (!has_retrain)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "kl", per_set(f->kl), "js", per_set(f->js),
			 "activation_distance", per_set(f->activation), "parameter_distance",
			 json_io_real(f->param_distance), "parameter_distance_relative",
			 json_io_real(f->param_distance_rel));
}

static json_t *figures_json(const struct forget_figures *f,
			    const struct forget_figures *retrain, int has_retrain)
{
	json_t *svc = json_object();
	for (int a = 0; svc && a < FORGET_ATTACKS; a++)
		if (json_object_set_new(svc, attack_names[a], json_io_real(f->svc_mia[a])) != 0) {
			json_decref(svc);
			svc = NULL;
		}
	if (!svc)
		return NULL;
	json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "ua", json_io_real(f->ua),
			      "ra", json_io_real(f->ra),
			      "ta", json_io_real(f->ta),
			      "forget_test_accuracy", json_io_real(f->forget_test_acc),
			      "mia", json_io_real(metrics_mia(f)),
			      "mia_threshold", json_io_real(f->mia_threshold),
			      "relearn_epochs", json_io_real(f->relearn_epochs),
			      "seconds", json_io_real(f->seconds),
			      "svc_mia", svc,
			      "loss_auc", json_io_real(f->loss_auc),
			      "to_retrain", to_retrain_json(f, has_retrain));
	if (!o)
		return NULL;
	json_t *gap = retrain ? json_io_real(metrics_gap(f, retrain)) : json_null();
	if (json_object_set_new(o, "gap_to_retrain", gap) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* "compared": {PLUGIN: figures} of the compare list's plugins, each with its gap to retrain's
 * and "failed": null, or the reason its unlearn failed (its figures then null). */
static json_t *compared_json(const struct results_unlearning *u,
			     const struct forget_figures *figs, const struct forget_figures *retrain)
{
	json_t *by = json_object();
	for (size_t c = 0; by && c < u->num_compared; c++) {
		json_t *fig = figures_json(&figs[c], retrain, retrain != NULL);
		const char *failed = u->compared_failed[c];
		if (fig && json_object_set_new(fig, "failed", *failed ? json_string(failed)
									: json_null()) != 0) {
			json_decref(fig);
			fig = NULL;
		}
		if (!fig || json_object_set_new(by, u->compared[c], fig) != 0) {
			json_decref(by);
			by = NULL;
		}
	}
	return by;
}

/* The model's figures, "references": {NAME: figures} and "compared", each with its gap to
 * retrain's. */
static json_t *figures_with_references(const struct results_unlearning *u,
				       const struct forget_figures *own,
				       const struct forget_figures *refs,
				       const struct forget_figures *compared)
{
	unsigned ran = u->references;
	int has_retrain = (ran & (1u << REFERENCE_RETRAIN)) != 0;
	const struct forget_figures *retrain = has_retrain ? &refs[REFERENCE_RETRAIN] : NULL;
	json_t *o = figures_json(own, retrain, has_retrain);
	json_t *by = json_object();
	for (int r = 0; o && by && r < REFERENCE_COUNT; r++) {
		if (!(ran & (1u << r)))
			continue;
		json_t *fig = figures_json(&refs[r], r == REFERENCE_RETRAIN ? NULL : retrain,
					   has_retrain);
		if (!fig || json_object_set_new(by, scenario_reference_name(r), fig) != 0) {
			json_decref(by);
			by = NULL;
		}
	}
	if (!o || !by || json_object_set_new(o, "references", by) != 0) {
		json_decref(o);
		json_decref(by);
		return NULL;
	}
	json_t *cmp = compared_json(u, compared, retrain);
	if (!cmp || json_object_set_new(o, "compared", cmp) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static const char *const what_names[] = { "class", "task", "samples" };

json_t *results_unlearning_json(const struct results_unlearning *u)
{
	const struct scenario_forget *f = u->forget;
	json_t *o = figures_with_references(u, &u->figures, u->reference, u->compared_figures);
	json_t *cum = u->has_cumulative ? figures_with_references(u, &u->cumulative,
								  u->cumulative_reference,
								  u->cumulative_compared)
					: json_null();
	if (cum && u->has_cumulative &&
	    json_object_set_new(cum, "forget_samples", json_integer((json_int_t)
								    u->num_forget_cumulative)) != 0) {
		json_decref(cum);
		cum = NULL;
	}
	if (!o || !cum) {
		json_decref(o);
		json_decref(cum);
		return NULL;
	}
	if (json_object_set_new(o, "cumulative", cum) != 0) {
		json_decref(o);
		return NULL;
	}
	json_t *request = json_pack("{s:s, s:I, s:s, s:s?, s:I}", "section", f->section, "after",
				    (json_int_t)f->after, "what", what_names[f->what], "plugin",
				    u->plugin, "forget_samples", (json_int_t)u->num_forget);
	if (request && f->what == FORGET_WHAT_CLASS) {
		json_t *classes = json_array();
		for (size_t c = 0; c < f->num_classes; c++)
			classes = append(classes, json_integer(f->classes[c]));
		json_object_set_new(request, "classes", classes ? classes : json_null());
	} else if (request) {
		json_object_set_new(request, "task", json_integer((json_int_t)f->task));
		if (f->what == FORGET_WHAT_SAMPLES)
			json_object_set_new(request, "fraction", json_real(f->fraction));
	}
	if (!request || json_object_update(request, o) != 0) {
		json_decref(request);
		json_decref(o);
		return NULL;
	}
	json_decref(o);
	return request;
}

static json_t *unlearning(const struct results *r)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < r->num_unlearning; i++)
		a = append(a, results_unlearning_json(&r->unlearning[i]));
	return a;
}

/* A summary figure, or null before the first step has finished: there is nothing to sum up. */
static json_t *figure(const struct results *r, double v)
{
	return r->rows_done > 0 ? json_io_real(v) : json_null();
}

/* jansson's integers are signed 64-bit: a larger seed goes out as its exact decimal string. */
static json_t *seed_value(uint64_t seed)
{
	if (seed <= INT64_MAX)
		return json_integer((json_int_t)seed);
	char s[24];
	snprintf(s, sizeof(s), "%" PRIu64, seed);
	return json_string(s);
}

static json_t *document(const struct results *r, json_error_t *jerr)
{
	struct metrics_summary s = { 0 };
	if (r->rows_done > 0)
		metrics_summarise(r->R, r->b, r->num_tasks, r->rows_done, &s);

	/* Every "o" reference is stolen, even when packing fails. */
	return json_pack_ex(jerr, 0,
		"{s:s, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
		" s:o, s:{s:o, s:o, s:o, s:o}, s:I, s:b, s:o, s:o, s:o, s:{s:s?, s:s?, s:i}}",
		"protocol", scenario_protocol_name(r->protocol),
		"scenario", r->scenario,
		"scenario_path", r->scenario_path,
		"baseline", r->baseline,
		"seed", seed_value(r->seed),
		"plugins", strings(r->plugins, r->num_plugins),
		"tasks", tasks_array(r),
		"accuracy_matrix", matrix(r),
		"untrained_accuracy", reals(r->b, r->num_tasks),
		"average_accuracy", figure(r, s.acc),
		"bwt", figure(r, s.bwt),
		"fwt", figure(r, s.fwt),
		"forgetting", figure(r, s.forgetting),
		"forgetting_per_task", forgetting_per_task(r),
		"forgetting_last_minus_first", figure(r, s.forgetting_last_first),
		"unlearning", unlearning(r),
		"seconds", "steps", reals(r->step_seconds, r->rows_done),
		"total", json_io_real(r->total_seconds),
		"phases", phases(r),
		"hooks", figures_object(r->hook_times, r->num_hook_times),
		"peak_rss_bytes", (json_int_t)r->peak_rss_bytes,
		"complete", r->complete,
		"plugin_metrics", figures_object(r->figures, r->num_figures),
		"inter_task_confusion",
		r->rows_done && r->confusion ? json_io_real(r->confusion[r->rows_done - 1])
					     : json_null(),
		"inter_task_confusion_per_step",
		r->confusion ? reals(r->confusion, r->rows_done) : json_array(),
		"blas", "library", r->blas_library, "kernel", r->blas_kernel,
		"threads", r->blas_threads);
}

/* "confusion_matrices": per step done, its num_classes x num_classes counts, or null when not
 * known (before a resume from an older checkpoint). */
static json_t *confusion_matrices(const struct results *r)
{
	size_t C = r->num_classes;
	json_t *a = json_array();
	for (size_t i = 0; r->class_confusion && i < r->rows_done; i++) {
		if (!r->class_confusion_known[i]) {
			a = append(a, json_null());
			continue;
		}
		json_t *m = json_array();
		for (size_t c = 0; c < C; c++) {
			const uint64_t *row = r->class_confusion + (i * C + c) * C;
			json_t *v = json_array();
			for (size_t p = 0; p < C; p++)
				v = append(v, json_integer((json_int_t)row[p]));
			m = append(m, v);
		}
		a = append(a, m);
	}
	return a;
}

/* One step's summary of the curves: its last and least loss points, and each epoch's row of
 * accuracies (null for an epoch not evaluated). */
static json_t *curves_step(const struct results *r, uint32_t step)
{
	const struct curves *c = r->curves;
	size_t T = r->num_tasks;
	double final = NAN, least = NAN;
	uint32_t epochs = 0;
	for (size_t i = 0; i < c->count; i++) {
		const struct curves_point *p = &c->points[i];
		if (p->step != step)
			continue;
		if (p->name == 0) {
			final = p->value;
			least = isnan(least) || p->value < least ? p->value : least;
		} else if (p->name <= T && p->epoch > epochs) {
			epochs = p->epoch;
		}
	}
	json_t *rows = json_array();
	for (uint32_t ep = 1; rows && ep <= epochs; ep++) {
		double acc[TASKS_MAX];
		size_t found = 0;
		for (size_t i = 0; i < c->count; i++) {
			const struct curves_point *p = &c->points[i];
			if (p->step == step && p->epoch == ep && p->name >= 1 && p->name <= T) {
				acc[p->name - 1] = p->value;
				found++;
			}
		}
		rows = append(rows, found == T ? reals(acc, T) : json_null());
	}
	return json_pack("{s:o, s:o, s:o}", "final_loss", json_io_real(final), "min_loss",
			 json_io_real(least), "epoch_accuracy", rows);
}

/* "curves": {"every": N, "steps": [one per step done]}; the points are curves.csv's. */
static json_t *curves_summary(const struct results *r)
{
	json_t *steps = json_array();
	for (size_t i = 0; i < r->rows_done; i++)
		steps = append(steps, curves_step(r, (uint32_t)i + 1));
	return json_pack("{s:I, s:o}", "every", (json_int_t)r->curve_every, "steps", steps);
}

static void csv_row(FILE *f, const double *v, size_t n)
{
	for (size_t j = 0; j < n; j++)
		fprintf(f, ",%.17g", v[j]);
	fputc('\n', f);
}

static int dump_csv(FILE *f, const void *data, struct error *e)
{
	(void)e;
	const struct results *r = data;
	size_t T = r->num_tasks;

	/* The dashboard runs under the user's locale for ncursesw, whose decimal point may be a
	 * comma: the file must not depend on it. */
	locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!c)
		return -1;
	locale_t old = uselocale(c);

	fputs("step", f);
	for (size_t j = 0; j < T; j++)
		fprintf(f, ",task_%zu", j + 1);
	fputs("\nuntrained", f);
	csv_row(f, r->b, T);
	for (size_t i = 0; i < r->rows_done; i++) {
		fprintf(f, "%zu", i + 1);
		csv_row(f, r->R + i * T, T);
	}

	uselocale(old);
	freelocale(c);
	return ferror(f) ? -1 : 0;
}

int results_write(const char *dir, const struct results *r, struct error *e)
{
	if (files_make_dirs(dir, e) != 0)
		return -1;

	const struct provenance *p = r->provenance;
	if (p && p->scenario && scenario_write(p->scenario, p->plugins, dir, RESULTS_SCENARIO,
						e) != 0)
		return -1;
	json_error_t jerr;
	json_t *root = document(r, &jerr);
	if (!root)
		return error_set(e, "%s/%s: cannot encode the results: %s", dir, RESULTS_METRICS,
				 jerr.text);
	if (json_object_set_new(root, "confusion_matrices", confusion_matrices(r)) != 0 ||
	    (r->curves && json_object_set_new(root, "curves", curves_summary(r)) != 0) ||
	    (p && provenance_add(p, root) != 0)) {
		json_decref(root);
		return error_set(e, "%s/%s: out of memory", dir, RESULTS_METRICS);
	}
	int rc = json_io_write(root, dir, RESULTS_METRICS, e);
	json_decref(root);
	if (rc != 0)
		return rc;
	if (r->curves && files_replace(dir, CURVES_FILE, 0666, curves_dump, r->curves, e) != 0)
		return -1;
	return files_replace(dir, RESULTS_ACCURACY, 0666, dump_csv, r, e);
}

uint64_t results_peak_rss(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	/* Linux counts ru_maxrss in kilobytes. */
	return (uint64_t)ru.ru_maxrss * 1024;
}
