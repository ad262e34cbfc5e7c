/* The progress of a sweep on stderr: runs done (finished ones skipped included), failed,
 * running, and the time left at the pace so far. On a terminal one live line redrawn at most
 * once a second; otherwise one plain line per run that ends. A failed run always gets a line
 * of its own, --quiet or not. */
#ifndef LETHE_SWEEP_PROGRESS_H
#define LETHE_SWEEP_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#include "sweep/sweep_pool.h"

struct sweep_progress {
	FILE *out;
	int tty, quiet, line_open;
	size_t total, skipped, done, failed, running;
	size_t ended; /* runs that ended in this sweep, for the pace */
	double t0, last_draw;
};

/* skipped: runs already complete before this sweep began. */
void sweep_progress_init(struct sweep_progress *p, FILE *out, int tty, int quiet, size_t total,
			 size_t skipped);
void sweep_progress_started(struct sweep_progress *p);
/* A run ended; path is its directory relative to the sweep's. */
void sweep_progress_ended(struct sweep_progress *p, const struct sweep_outcome *o,
			  const char *path);
/* Redraws the live line when a second has passed. */
void sweep_progress_tick(struct sweep_progress *p);
/* Closes the live line. */
void sweep_progress_end(struct sweep_progress *p);

/* "7/12 runs done, 1 failed, 2 running, ETA 1m05s", without control codes. */
void sweep_progress_format(const struct sweep_progress *p, char *buf, size_t size);

#endif
