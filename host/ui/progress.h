/* The headless face of a run, an engine sink: on a terminal a live line on stderr (step, epoch,
 * batch, loss, samples/s, ETA) redrawn at most ten times a second; otherwise one plain line per
 * step. Plugin and engine messages are printed as lines of their own either way. */
#ifndef LETHE_PROGRESS_H
#define LETHE_PROGRESS_H

#include <stdio.h>

#include "core/engine.h"

/* The live line's cadence, which the event stream's loss lines share. */
#define PROGRESS_REDRAW_SECONDS 0.1

struct progress {
	FILE *out;
	int tty;
	int quiet;	      /* only warnings */
	int line_open;	      /* a live line is on screen */
	double last_draw;
	double step_start;    /* elapsed seconds when the step began */
	uint64_t step_samples; /* samples_done when the step began */
};

void progress_init(struct progress *p, FILE *out, int tty, int quiet);
/* The sink function: pass with a struct progress * as ctx. */
void progress_event(void *ctx, const struct event *ev);

/* The live line for a batch event, without terminal control codes. */
void progress_format_batch(const struct progress *p, const struct event *ev, char *buf,
			   size_t size);
/* The live line for a forget step's reference training (EVENT_FORGET_PROGRESS). */
void progress_format_forget(const struct event *ev, char *buf, size_t size);
/* The line that closes a step: its time, the accuracy row over the tasks so far, ACC. */
void progress_format_step(const struct event *ev, char *buf, size_t size);
/* The closing line of a run: protocol, ACC, BWT, FWT, forgetting, wall time. */
void progress_format_summary(const struct event *ev, char *buf, size_t size);

#endif
