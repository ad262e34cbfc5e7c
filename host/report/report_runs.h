/* The report of several runs on shared axes: each run's average accuracy over the tasks learned
 * so far after every step, one line a run, and its ACC, BWT, FWT and forgetting as bars on one
 * scale, so the runs read against each other. */
#ifndef LETHE_REPORT_RUNS_H
#define LETHE_REPORT_RUNS_H

#include <stddef.h>
#include <stdio.h>

#include "results/results.h"

/* Writes the page of runs[0..n), labelled labels[0..n), to f: 0, or -1 with errno set when a
 * write failed. */
int report_runs_draw(const struct results_doc *runs, const char *const *labels, size_t n,
		     FILE *f);

#endif
