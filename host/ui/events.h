/* --events FILE: the engine's events as JSON lines, one object per line, for a notebook or
 * another front end to follow a run (the schema is in lethe(1)). An engine sink, like the
 * progress line, whose cadence its loss lines share. */
#ifndef LETHE_EVENTS_H
#define LETHE_EVENTS_H

#include <stdio.h>

#include "core/engine.h"

struct events {
	FILE *out;
	int failed;	    /* a line could not be written: the front end says so at the end */
	double last_loss;   /* elapsed seconds at the last "loss" line */
	size_t step, epoch; /* the epoch under way, 1-based; 0: none */
	int evaluated;	    /* the untrained evaluation was sent */
};

void events_init(struct events *s, FILE *out);
/* The sink function: pass with a struct events * as ctx. */
void events_event(void *ctx, const struct event *ev);

#endif
