/* Runs of a sweep as child processes, a fixed number at a time. SIGINT and SIGTERM are caught
 * (one pool per process) so that the sweep can stop its children and say what finished; the
 * waits are a poll on a self-pipe the signal handlers write to, so they wake on a child's end
 * or a signal at once, whichever thread the signal lands on (MPI and OpenBLAS have threads). */
#ifndef LETHE_SWEEP_POOL_H
#define LETHE_SWEEP_POOL_H

#include <stddef.h>
#include <sys/types.h>

#include "sweep/sweep_child.h"
#include "util/error.h"

struct sweep_outcome {
	size_t run;
	int ok;		  /* the run finished and its metrics say complete */
	double seconds;	  /* wall time of the child */
	char message[1200]; /* why it failed */
};

struct sweep_slot {
	pid_t pid; /* 0: free */
	size_t run;
	int resumed;
	double t0;
};

struct sweep_pool {
	const struct sweep_job *job;
	size_t jobs, running;
	struct sweep_slot *slots;
	int interrupted; /* SIGINT or SIGTERM arrived */
};

int sweep_pool_open(struct sweep_pool *p, const struct sweep_job *job, size_t jobs,
		    struct error *e);

/* Starts run r in a free slot (the caller keeps running below jobs): --resume when its
 * directory holds a checkpoint, else afresh. A run whose checkpoint is refused (exit status 2)
 * starts again afresh, its refused attempt's log kept as resume.log. */
int sweep_pool_start(struct sweep_pool *p, size_t run, struct error *e);

/* Waits up to timeout_ms for a run to end: 1 and *o when one did, 0 when none did, -1 when
 * SIGINT or SIGTERM arrived. */
int sweep_pool_wait(struct sweep_pool *p, int timeout_ms, struct sweep_outcome *o);

/* Stops the running children (SIGINT; SIGKILL ten seconds later, or at a second signal) and
 * reaps them. Their runs stay unfinished, to be resumed by the next sweep. */
void sweep_pool_stop(struct sweep_pool *p);

void sweep_pool_close(struct sweep_pool *p);

/* Seconds on the monotonic clock. */
double sweep_now(void);

#endif
