/* A sweep's results gathered from its runs' metrics.json: per setting, the mean and sample
 * standard deviation over its seeds of the continual-learning figures, the unlearning figures
 * of the last forget step, wall time and peak memory; written to OUT/summary.json and
 * OUT/summary.csv and printed as a table, best mean average accuracy first.
 *
 * summary.json: {"sweep", "base", "runs", "done", "failed", "settings": [{"label", "values":
 * {KEY: "VALUE"}, "seeds": [...], "done", "failed", "mean": {FIGURE: x}, "std": {FIGURE: x}}],
 * "failures": [{"run": "runs/FOLDER/seed-S", "message"}]}, the settings best first; a figure no
 * run gave is null, and so is a std of fewer than two values. */
#ifndef LETHE_SWEEP_SUMMARY_H
#define LETHE_SWEEP_SUMMARY_H

#include <stddef.h>
#include <stdio.h>

#include "sweep/sweep_file.h"
#include "util/error.h"

enum sweep_figure {
	FIG_AVERAGE_ACCURACY,
	FIG_BWT,
	FIG_FWT,
	FIG_FORGETTING,
	FIG_UA, /* the last forget step's, from "unlearning" */
	FIG_RA,
	FIG_TA,
	FIG_MIA,
	FIG_WALL_SECONDS, /* "seconds"."total" */
	FIG_PEAK_RSS_MB,  /* "peak_rss_bytes" / 2^20 */
	FIG_COUNT
};

/* The figures' keys in summary.json and summary.csv. */
extern const char *const sweep_figure_names[FIG_COUNT];

struct sweep_stats {
	size_t done, failed;
	double mean[FIG_COUNT], std[FIG_COUNT]; /* NaN: no value */
};

struct sweep_failure {
	char *run; /* "runs/FOLDER/seed-S" */
	char *message;
};

struct sweep_summary {
	const struct sweep *sw;
	size_t runs, done, failed;
	struct sweep_stats *stats; /* one per setting, in the sweep's order */
	size_t *order;		   /* setting indices, best first */
	size_t num_failures;
	struct sweep_failure *failures; /* in run order */
};

/* Reads every run of sw under out. A run is done when its metrics.json says complete, failed
 * when a child of it ended otherwise (its exit_status), and pending else. */
int sweep_summary_collect(struct sweep_summary *sum, const struct sweep *sw, const char *out,
			  struct error *e);

/* Mean and sample standard deviation (n - 1) of the finite values among x[0..n); NaN for the
 * mean of none and the deviation of fewer than two. */
void sweep_mean_std(const double *x, size_t n, double *mean, double *std);

/* OUT/summary.json and OUT/summary.csv, each written whole or not at all. */
int sweep_summary_write(const struct sweep_summary *sum, const char *out, struct error *e);

/* The table: one row per setting, best first, "mean ± std" columns aligned; then the
 * failures. */
void sweep_summary_print(const struct sweep_summary *sum, FILE *f);

void sweep_summary_free(struct sweep_summary *sum);

#endif
