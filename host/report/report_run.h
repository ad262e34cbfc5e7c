/* The report of one run: its metrics.json (results_load) drawn as one SVG page (the accuracy
 * matrix as a heatmap, each task's accuracy across the steps, forgetting per task, the
 * headline figures, and each forget step's figures beside its reference methods'). */
#ifndef LETHE_REPORT_RUN_H
#define LETHE_REPORT_RUN_H

#include <stdio.h>

#include "results/results.h"

/* Writes the page to f: 0, or -1 with errno set when a write failed. */
int report_run_draw(const struct results_doc *r, FILE *f);

#endif
