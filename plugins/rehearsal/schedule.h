/* Rehearsal schedules: how many stored samples of an earlier task to replay per epoch, as a
 * function of d, the number of tasks since that task was learned. */
#ifndef REHEARSAL_SCHEDULE_H
#define REHEARSAL_SCHEDULE_H

#include <stdint.h>

/* In the order of schedule_names, which is the order of the plugin's `schedule` choices. */
enum schedule_kind {
	SCHEDULE_POWER_LAW,	/* n(d) = N0 (1 + d/d0)^-a */
	SCHEDULE_UNIFORM,	/* budget / (past tasks), whatever d */
	SCHEDULE_EXPONENTIAL,	/* n(d) = N0 e^(-d/beta) */
	SCHEDULE_RESERVOIR	/* no per-task counts: a fixed number of rows every batch */
};

extern const char *const schedule_names[]; /* NULL-terminated */

struct schedule {
	enum schedule_kind kind;
	uint64_t n0;	    /* N0, when nonzero */
	double n0_fraction; /* otherwise N0 = n0_fraction x the replayed task's size */
	double d0, a;
	double beta;
	uint64_t budget;
};

/* n(d) as a real number, for a task of task_size samples learned d >= 1 tasks ago, while
 * `past` earlier tasks compete for the uniform budget. */
double schedule_rate(const struct schedule *s, uint32_t d, uint32_t past, uint64_t task_size);

/* n(d) in whole samples: rounded to nearest, except the uniform budget, which splits exactly
 * (the d most recent tasks take one more of the remainder). */
uint64_t schedule_count(const struct schedule *s, uint32_t d, uint32_t past, uint64_t task_size);

#endif
