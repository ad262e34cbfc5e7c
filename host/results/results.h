/* The results files of a run: DIR/metrics.json (the keys DESIGN.md promises) and
 * DIR/accuracy.csv. Both are written to a temporary file and renamed, so a reader never sees a
 * half-written file, and rewritten after every step so a stopped run keeps what finished. */
#ifndef LETHE_RESULTS_H
#define LETHE_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/host.h>

#include "results/metrics.h"
#include "scenario/scenario.h"
#include "util/error.h"

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
 * "plugin_metrics" ({"PLUGIN": {"KEY": value, ...}, ...}), "blas" ({"library": ...,
 * "kernel": ..., "threads": N}). The summary figures are those
 * of the rows done, null while rows_done is 0. Numbers carry 17 significant digits, so they
 * read back exactly; NaN and infinities, which JSON lacks, are written as null. accuracy.csv:
 * a header "step,task_1,...", then a row "untrained,..." and one row per step (%.17g). Errors
 * name the file and the cause. */
int results_write(const char *dir, const struct results *r, struct error *e);

/* Peak resident set size of this process in bytes (getrusage). */
uint64_t results_peak_rss(void);

#endif
