/* `lethe report DIR`: DIR/report.svg from a run's metrics.json or a sweep's summary.json. */
#ifndef LETHE_REPORT_H
#define LETHE_REPORT_H

#include <stddef.h>

#include "util/error.h"

enum report_status {
	REPORT_OK,
	REPORT_BAD_INPUT,	/* no such directory, no results in it, or a malformed file */
	REPORT_WRITE_FAILED	/* report.svg could not be written */
};

/* Draws the results in dir into dir/report.svg: a run's metrics.json, else a sweep's
 * summary.json. The page goes to a temporary file renamed over report.svg, so a reader sees
 * the old page or the new one whole. An error names the file and the cause (for a malformed
 * file: the line and column, or the key at fault). */
enum report_status report_write(const char *dir, struct error *e);

/* Draws the runs in dirs[0..n) (each a run's directory) on shared axes (report_runs.h) into
 * out, written the same way. */
enum report_status report_write_runs(const char *const *dirs, size_t n, const char *out,
				     struct error *e);

#endif
