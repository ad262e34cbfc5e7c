/* A small pool of threads for the model's passes: the caller and threads - 1 workers run one
 * function together, each with its index, and may meet at barriers inside it. A model splits a
 * batch's samples into fixed contiguous ranges, one per index, so the work each thread does, and
 * hence every result, depends on the thread count alone, never on timing.
 *
 * A NULL pool stands for one thread: parallel_run calls the function in the caller with index 0
 * and parallel_barrier returns at once, so one thread runs exactly the code a caller without a
 * pool would. */
#ifndef LETHE_MODEL_PARALLEL_H
#define LETHE_MODEL_PARALLEL_H

#include <stddef.h>

#include "util/error.h"

struct parallel;

/* A pool of threads >= 2 (the caller counts as one); NULL with a message if the workers cannot
 * be started. */
struct parallel *parallel_create(size_t threads, struct error *e);
/* Stops and joins the workers; p may be NULL. */
void parallel_free(struct parallel *p);

/* 1 for NULL. */
size_t parallel_threads(const struct parallel *p);

/* fn(ctx, t) for every t in [0, threads), t = 0 in the caller; returns when all have returned.
 * Not reentrant: fn must not call parallel_run on the same pool. */
void parallel_run(struct parallel *p, void (*fn)(void *ctx, size_t t), void *ctx);

/* Inside fn: waits until every thread of the run has reached it. Every thread must reach each
 * barrier of a run, in the same order. */
void parallel_barrier(struct parallel *p);

/* The t-th of threads fixed contiguous ranges of [0, n): [*lo, *hi). */
void parallel_range(size_t n, size_t t, size_t threads, size_t *lo, size_t *hi);

#endif
