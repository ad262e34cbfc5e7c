/* One run of a sweep as a child process: `lethe run BASE --out OUT/runs/FOLDER/seed-S --set
 * ... --quiet`, this very binary (/proc/self/exe), its stdout and stderr in the run's run.log.
 * The run's directory also tells what became of it: metrics.json ("complete": true when it
 * finished), checkpoint.lethe (it can resume) and exit_status (how the child ended). */
#ifndef LETHE_SWEEP_CHILD_H
#define LETHE_SWEEP_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include "sweep/sweep_file.h"
#include "util/error.h"

/* What every run of a sweep shares. */
struct sweep_job {
	const struct sweep *sw;
	const char *out;	 /* the sweep's directory */
	const char *plugin_path; /* --plugin-path for the runs, or NULL */
};

enum sweep_state {
	SWEEP_RUN_NEW,	     /* nothing to keep: start it (again) */
	SWEEP_RUN_RESUMABLE, /* stopped with a checkpoint: --resume */
	SWEEP_RUN_COMPLETE   /* metrics.json says "complete": true: skip it */
};

/* OUT/runs/FOLDER/seed-S for run r. */
void sweep_child_dir(const struct sweep_job *job, size_t run, char *out, size_t size);

enum sweep_state sweep_child_state(const struct sweep_job *job, size_t run);

/* Starts run r, resuming it from its checkpoint or (resume 0) replacing what its directory
 * holds. The child dies with its parent (PR_SET_PDEATHSIG), so no run outlives a killed sweep.
 * Returns the child's pid, or -1 with e set. */
pid_t sweep_child_start(const struct sweep_job *job, size_t run, int resume, struct error *e);

/* Records how run r's child ended (a waitpid status) in its exit_status file. Returns 1 when
 * the run succeeded (exit 0 and complete), else 0 with msg saying why: "exit status 1: " and
 * the last line of its log. */
int sweep_child_record(const struct sweep_job *job, size_t run, int wstatus, char *msg,
		       size_t size);

/* For a run that did not complete: 1 and msg when a child of it ended (exit_status exists),
 * 0 when none has yet (never started, or stopped by an interrupted sweep). */
int sweep_child_failure(const struct sweep_job *job, size_t run, char *msg, size_t size);

#endif
