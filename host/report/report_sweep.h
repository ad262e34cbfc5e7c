/* The report of a sweep: its summary.json (written by `lethe sweep`) read and checked, then
 * drawn as one SVG page: each setting's mean average accuracy and mean forgetting over its
 * seeds, with the standard deviation as an error bar, in the file's order (best first), and
 * the runs that failed. */
#ifndef LETHE_REPORT_SWEEP_H
#define LETHE_REPORT_SWEEP_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "util/error.h"

/* Strings point into the JSON document, which must outlive this. NaN stands for null. */
struct report_setting {
	const char *label;
	size_t seeds;
	long long done, failed;
	double acc_mean, acc_std;
	double forgetting_mean, forgetting_std;
};

struct report_failure {
	const char *run;
	const char *message;
};

struct report_sweep {
	const char *name;
	const char *base;	/* NULL: not recorded */
	long long runs, done, failed;
	size_t num_settings;
	struct report_setting *settings;
	size_t num_failures;
	struct report_failure *failures;
};

/* Reads root, summary.json's document; an error names the key at fault. */
int report_sweep_load(struct report_sweep *w, const json_t *root, struct error *e);
void report_sweep_free(struct report_sweep *w);

/* Writes the page to f: 0, or -1 with errno set when a write failed. */
int report_sweep_draw(const struct report_sweep *w, FILE *f);

#endif
