/* The report of one run: its metrics.json read and checked, then drawn as one SVG page (the
 * accuracy matrix as a heatmap, each task's accuracy across the steps, forgetting per task,
 * the headline figures, and each forget step's figures beside its reference methods'). */
#ifndef LETHE_REPORT_RUN_H
#define LETHE_REPORT_RUN_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "util/error.h"

/* More tasks than this would not show in a page's width; their files are refused. */
#define REPORT_TASKS_MAX 200

/* The figures of unlearning the report shows, in this order. */
enum { REPORT_UA, REPORT_RA, REPORT_TA, REPORT_MIA, REPORT_UNLEARN_FIGURES };

/* The forget step's own procedure, or a reference method. */
struct report_method {
	const char *name;
	double figure[REPORT_UNLEARN_FIGURES];
};

struct report_forget {
	char caption[256];	/* what was forgotten, when and by what */
	double gap_to_retrain;	/* NaN: no retrain reference */
	double seconds;
	size_t num_methods;	/* the procedure first, then the references */
	struct report_method *methods;
};

/* Strings point into the JSON document, which must outlive this. NaN stands for null. */
struct report_run {
	const char *scenario;	/* NULL: unnamed */
	const char *protocol;
	const char *baseline;	/* NULL: not recorded */
	char seed[32];
	char plugins[256];	/* comma-separated; "" for none */
	size_t num_tasks;	/* T */
	size_t rows_done;
	double *R;		/* rows_done x T */
	double *b;		/* T */
	double acc, bwt, fwt, forgetting;
	size_t num_forgetting;
	double *forgetting_per_task;
	int complete;
	size_t num_forgets;
	struct report_forget *forgets;
};

/* Reads root, metrics.json's document; an error names the key at fault. */
int report_run_load(struct report_run *r, const json_t *root, struct error *e);
void report_run_free(struct report_run *r);

/* Writes the page to f: 0, or -1 with errno set when a write failed. */
int report_run_draw(const struct report_run *r, FILE *f);

#endif
