/* `lethe compare DIR...`: runs side by side (a sweep's directory stands for its runs), one row
 * each: the settings that differ between them (from each run's scenario.ini, and the lethe and
 * BLAS kernel of its metrics.json), then ACC, BWT, FWT, forgetting, the last forget step's
 * gaps to retrain, wall time and peak memory. */
#ifndef LETHE_COMPARE_H
#define LETHE_COMPARE_H

#include <stddef.h>
#include <stdio.h>

#include "util/error.h"

enum compare_format { COMPARE_TEXT, COMPARE_CSV, COMPARE_MARKDOWN, COMPARE_JSON };

enum {
	COMPARE_ACC, COMPARE_BWT, COMPARE_FWT, COMPARE_FORGETTING, COMPARE_GAP, COMPARE_GAP_UA,
	COMPARE_GAP_RA, COMPARE_GAP_TA, COMPARE_GAP_MIA, COMPARE_SECONDS, COMPARE_PEAK_MIB,
	COMPARE_FIGURES
};

struct compare_setting {
	char *key;   /* "section.key" */
	char *value;
};

struct compare_run {
	char *dir;
	char *protocol;
	size_t num_settings;
	struct compare_setting *settings;
	double figure[COMPARE_FIGURES]; /* NaN: none (no forget step, no retrain reference) */
};

struct compare {
	size_t num_runs;
	struct compare_run *runs;
	size_t num_columns; /* the settings that differ, in the order first met */
	const char **columns;
};

/* "text", "csv", "markdown" or "json": 0, else -1. */
int compare_format_parse(const char *name, enum compare_format *out);

/* Reads the runs of dirs[0..n): each a run's directory (metrics.json, and scenario.ini when it
 * has one) or a sweep's (summary.json; its runs/FOLDER/seed-S in order). Refused: a directory
 * with neither, a malformed file (named), runs of different protocols. */
int compare_load(struct compare *c, const char *const *dirs, size_t n, struct error *e);

/* The table to f: 0, or -1 when a write failed. */
int compare_print(const struct compare *c, enum compare_format format, FILE *f);

void compare_free(struct compare *c);

#endif
