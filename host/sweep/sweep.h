/* `lethe sweep`: a grid of settings over seeds, each its own run. */
#ifndef LETHE_SWEEP_H
#define LETHE_SWEEP_H

/* What a sweep is asked to do. */
struct sweep_request {
	const char *file, *out, *plugin_path;
	long jobs;	/* runs at a time; 0: the default */
	long only;	/* the one run to run (a Slurm array task's); -1: every run */
	int quiet, emit_slurm;
};

/* Runs the sweep of r->file in r->out: every run not complete yet, locally or over MPI, then
 * the summary (or, r->emit_slurm, only writes r->out/sweep.slurm). Returns a STATUS_*. */
int sweep_run(const struct sweep_request *r);

/* Collects dir's runs again, rewrites its summary and (unless quiet) prints it. */
int sweep_summarise(const char *dir, int quiet);

/* Whether this lethe deals sweeps over MPI (an MPI build). */
int sweep_has_mpi(void);

#endif
