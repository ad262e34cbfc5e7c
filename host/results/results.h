/* The results files of a run, DIR/metrics.json (the keys DESIGN.md promises) and
 * DIR/accuracy.csv: the one module that writes them and reads them back, strictly for a report
 * (results_load), loosely for a sweep (results_summary). Both files are replaced durably
 * (files_replace), so a reader never sees a half-written one, and rewritten after every step
 * so a stopped run keeps what finished. */
#ifndef LETHE_RESULTS_H
#define LETHE_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lethe/host.h>

#include "results/curves.h"
#include "results/metrics.h"
#include "results/provenance.h"
#include "scenario/scenario.h"
#include "util/error.h"

/* The files of a run's directory (run_dir.h makes and locks it), besides its lock. */
#define RESULTS_METRICS "metrics.json"
#define RESULTS_ACCURACY "accuracy.csv"
#define RESULTS_CHECKPOINT "checkpoint.lethe" /* core/checkpoint.h */
#define RESULTS_REPORT "report.svg"	       /* report/report.h */
#define RESULTS_SCENARIO "scenario.ini"	       /* the scenario as it ran */

#define RESULTS_REASON_MAX 256 /* bytes of a compared plugin's failure, NUL included */

struct results_task {
	size_t num_classes;
	const int32_t *classes;
};

/* One forget step's figures: the model after it, and each reference method that ran. */
struct results_unlearning {
	const struct scenario_forget *forget;
	size_t num_forget;		 /* |D_f| */
	const char *plugin;		 /* NULL: the data left, no procedure ran */
	struct forget_figures figures;
	unsigned references;		 /* bit r: reference r ran */
	struct forget_figures reference[REFERENCE_COUNT];
	/* From the second forget step on: the same models measured on everything forgotten so
	 * far (each sample once) against what is left. */
	int has_cumulative;
	size_t num_forget_cumulative;
	struct forget_figures cumulative, cumulative_reference[REFERENCE_COUNT];
	/* The plugins of the step's compare list, each from the model before the request; one
	 * whose unlearn failed has its one-line reason in compared_failed (else "") and NaN
	 * figures. */
	size_t num_compared;
	const char *compared[SCENARIO_PLUGINS_MAX];
	char compared_failed[SCENARIO_PLUGINS_MAX][RESULTS_REASON_MAX];
	struct forget_figures compared_figures[SCENARIO_PLUGINS_MAX];
	struct forget_figures cumulative_compared[SCENARIO_PLUGINS_MAX];
};

/* A figure a plugin reported (lethe_host.report). */
struct results_figure {
	const char *plugin;
	const char *key;
	double value;
};

struct results {
	const char *scenario;	    /* name */
	const char *scenario_path;
	lethe_protocol protocol;
	const char *baseline;	    /* "naive" | "joint" */
	uint64_t seed;
	size_t num_tasks;
	const struct results_task *tasks;
	size_t rows_done;	    /* rows of R filled so far */
	const double *R;	    /* num_tasks x num_tasks */
	const double *b;	    /* num_tasks */
	const double *step_seconds; /* rows_done */
	const double *confusion;    /* rows_done: inter-task confusion, NaN where none */
	double total_seconds;
	size_t num_phases;	    /* where the time went: "seconds"."phases" */
	const char *const *phase_names;
	const double *phase_seconds;
	size_t num_hook_times;	    /* seconds per plugin and hook: "seconds"."hooks" */
	const struct results_figure *hook_times;
	uint64_t peak_rss_bytes;
	size_t num_plugins;
	const char *const *plugins; /* names */
	int complete;		    /* all steps finished */
	size_t num_figures;
	const struct results_figure *figures;
	size_t num_unlearning;
	const struct results_unlearning *unlearning;
	/* The BLAS that computed the results: its last bits depend on all three. */
	const char *blas_library;   /* "OpenBLAS 0.3.21" */
	const char *blas_kernel;    /* openblas_get_corename's */
	int blas_threads;
	const struct provenance *provenance; /* NULL: none recorded (tests) */
	size_t num_classes;
	const uint64_t *class_confusion;    /* rows_done x num_classes^2 (row: the true class),
					     * NULL: none */
	const uint8_t *class_confusion_known; /* rows_done: the step's matrix is known */
	const struct curves *curves;	    /* NULL: no curves.csv */
	uint64_t curve_every;
};

/* Writes DIR/metrics.json and DIR/accuracy.csv, creating DIR if needed. metrics.json holds:
 * "protocol", "scenario", "scenario_path", "baseline", "seed", "plugins", "tasks" (a list of
 * {"classes": [...]}), "accuracy_matrix" (rows_done rows of fractions), "untrained_accuracy",
 * "average_accuracy", "bwt", "fwt", "forgetting", "forgetting_per_task" (rows_done terms),
 * "forgetting_last_minus_first", "unlearning" (one object per forget step done: "section",
 * "after", "what", "classes" or "task" and "fraction", "plugin", "forget_samples", "ua",
 * "ra", "ta", "forget_test_accuracy", "mia", "relearn_epochs", "seconds", "gap_to_retrain",
 * and "references": {NAME: the same figures}), "seconds"
 * ({"steps": [...], "total": s, "phases": {PHASE: s, ...}, "hooks": {PLUGIN: {HOOK: s}}}), "peak_rss_bytes", "complete",
 * "inter_task_confusion" (after the last step done; null but for class-incremental runs) and
 * "inter_task_confusion_per_step",
 * "plugin_metrics" ({"PLUGIN": {"KEY": value, ...}, ...}), "confusion_matrices" (per step
 * done, its class confusion counts, or null where not known), "curves" ({"every": N, "steps":
 * [{"final_loss", "min_loss", "epoch_accuracy"}, ...]}, with r->curves), "blas" ({"library": ...,
 * "kernel": ..., "threads": N}), and with a provenance its keys (provenance_add), after
 * DIR/scenario.ini (scenario_write) when it holds the scenario. The summary figures are those
 * of the rows done, null while rows_done is 0. Numbers carry 17 significant digits, so they
 * read back exactly; NaN and infinities, which JSON lacks, are written as null. accuracy.csv:
 * a header "step,task_1,...", then a row "untrained,..." and one row per step (%.17g). With
 * r->curves, DIR/curves.csv too (curves_dump). Errors name the file and the cause. */
int results_write(const char *dir, const struct results *r, struct error *e);

/* One forget step as metrics.json's "unlearning" lists it (a new reference), or NULL out of
 * memory: the event stream sends the same object. */
json_t *results_unlearning_json(const struct results_unlearning *u);

/* Peak resident set size of this process in bytes (getrusage). */
uint64_t results_peak_rss(void);

/* ---- reading metrics.json back ---- */

/* The figures of a forget step a reader gets, in this order ("ua", "ra", "ta", "mia"), then
 * the evidence of forgetting, read loosely (NaN where a file predates it or lacks retrain):
 * "mia_threshold", "loss_auc", "to_retrain"."js"."forget". */
enum {
	RESULTS_UA, RESULTS_RA, RESULTS_TA, RESULTS_MIA, RESULTS_FORGET_FIGURES,
	RESULTS_MIA_THRESHOLD = RESULTS_FORGET_FIGURES, RESULTS_LOSS_AUC, RESULTS_JS_FORGET,
	RESULTS_METHOD_FIGURES
};

/* The forget step's own procedure, or a reference method. */
struct results_method {
	const char *name;
	const char *failed;	/* a compared plugin that failed: why (its figures NaN); else NULL */
	double figure[RESULTS_METHOD_FIGURES];
};

struct results_forget {
	const char *section, *what;
	const char *plugin;	/* NULL: the data left, no procedure ran */
	long long after, samples;
	size_t num_classes;
	long long *classes;
	int has_task, has_fraction;
	long long task;
	double fraction;
	double gap_to_retrain;	/* NaN: no retrain reference */
	double seconds;
	size_t num_methods;	/* the procedure first, then the references */
	struct results_method *methods;
};

/* A run's metrics.json as results_load read it. Strings point into the document, which it
 * holds; NaN stands for null. */
struct results_doc {
	json_t *root;
	const char *scenario;	/* NULL: unnamed */
	const char *protocol;
	const char *baseline;	/* NULL: not recorded */
	char seed[32];
	size_t num_plugins;
	const char **plugins;
	size_t num_tasks;	/* T, at most RESULTS_TASKS_MAX */
	size_t rows_done;
	double *R;		/* rows_done x T */
	double *b;		/* T */
	double acc, bwt, fwt, forgetting;
	size_t num_forgetting;
	double *forgetting_per_task;
	int complete;
	size_t num_forgets;
	struct results_forget *forgets;
	/* "confusion_matrices": rows_done matrices of num_classes^2 counts (row: the true class),
	 * all NaN for a step's null; num_classes 0 when there are none (older files). */
	size_t num_classes;
	double *confusion;
	/* DIR/curves.csv beside metrics.json, when there is one (has_curves). */
	int has_curves;
	struct curves curves;
};

/* More tasks than this no reader draws; such files are refused. */
#define RESULTS_TASKS_MAX 200

/* More classes than this no reader draws. */
#define RESULTS_CLASSES_MAX 1000

/* Reads the metrics.json at path strictly: every key it fills must be there with its type, and
 * an error names the file and the key at fault (or the line and column of a syntax error). The
 * curves.csv beside it, if any, is read as strictly (curves_read). */
int results_load(struct results_doc *d, const char *path, struct error *e);
void results_doc_free(struct results_doc *d);

/* What a sweep reads of a run: loosely, a key missing or of another type as NaN. */
struct results_summary {
	int complete;		       /* "complete": true */
	double acc, bwt, fwt, forgetting;
	double ua, ra, ta, mia;	       /* the last forget step's; NaN without one */
	double total_seconds;	       /* "seconds"."total" */
	double peak_rss_bytes;
};

/* Reads DIR/metrics.json loosely into s: 0, or -1 when there is none that can be read (no
 * error: a run that has not written one yet). */
int results_summary(const char *dir, struct results_summary *s);

/* Whether DIR/metrics.json says the run is complete. */
int results_complete(const char *dir);

#endif
