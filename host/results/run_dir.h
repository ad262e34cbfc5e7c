/* The results directory of `lethe run` and `lethe tui`: made and locked before anything trains
 * (a second run on it, or one that could not write its results, is refused at once), and what
 * it already holds decides whether the run starts, resumes or is refused. */
#ifndef LETHE_RUN_DIR_H
#define LETHE_RUN_DIR_H

#include "scenario/scenario.h"
#include "results/results.h"
#include "util/error.h"

enum run_dir_start {
	RUN_DIR_NEW,	  /* train from the beginning */
	RUN_DIR_RESUME,	  /* continue from the directory's checkpoint */
	RUN_DIR_FINISHED, /* --resume on a finished run that kept no checkpoint: nothing to do */
};

struct run_dir {
	char path[SCENARIO_PATH_MAX];
	int lock;		   /* held while open; -1 before */
	char note[SCENARIO_PATH_MAX + 128]; /* how the run starts, for the user; or "" */
};

/* Takes out (NULL: a new results/NAME, or results/NAME-2, ... for the scenario named name)
 * for a run: makes it, checks that it can be written, locks it, and reads what it holds:
 * results or a checkpoint are refused unless force (start again: the old checkpoint goes) or
 * resume. With resume and no checkpoint, a directory without results starts from the
 * beginning; with a finished run's results there is nothing to do; partial results need force.
 * Returns how the run starts, or -1 and the error (bad input: nothing ran). d->lock must be -1
 * before the call. */
int run_dir_open(struct run_dir *d, const char *out, const char *name, int force, int resume,
		 struct error *e);

/* Releases the lock (the process's end does the same). */
void run_dir_close(struct run_dir *d);

#endif
