/* Wall time for the run's figures, on CLOCK_MONOTONIC (it never jumps with the date). */
#ifndef LETHE_ELAPSED_H
#define LETHE_ELAPSED_H

#include <time.h>

/* Seconds from t0 to now. */
double elapsed_since(const struct timespec *t0);

/* The time `seconds` ago: a clock that restarts (a resumed run's) as if it had never stopped. */
struct timespec elapsed_ago(double seconds);

#endif
