/* A sweep run: checked, its plan written, then every run a child process, --jobs at a time
 * (or dealt over MPI ranks, or written out as a Slurm array), and the summary. The sweep file,
 * checks, children, summary, Slurm script and MPI dealing live in sweep_*.c; the command
 * line is cli/cmd_sweep.c's. */
#define _GNU_SOURCE
#include "sweep/sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/plugin_loader.h"
#include "sweep/sweep_check.h"
#include "sweep/sweep_child.h"
#include "sweep/sweep_file.h"
#include "sweep/sweep_mpi.h"
#include "sweep/sweep_plan.h"
#include "sweep/sweep_pool.h"
#include "sweep/sweep_progress.h"
#include "sweep/sweep_slurm.h"
#include "sweep/sweep_summary.h"
#include "util/blas.h"
#include "util/files.h"
#include "util/status.h"

#define WAIT_MS 250 /* the live line's heartbeat */


static int fail(const char *msg, int status)
{
	fprintf(stderr, "lethe: %s\n", msg);
	return status;
}

/* The ranks of the MPI job we run in, from the launcher's environment: 0 when not under one.
 * Nothing else may initialise MPI, so a plain sweep never does. */
static long mpi_size(void)
{
	const char *v = getenv("OMPI_COMM_WORLD_SIZE");
	if (!v)
		v = getenv("PMI_SIZE");
	return v ? strtol(v, NULL, 10) : 0;
}

/* Under mpirun every rank reads and checks the same files to the same verdict: rank 0 alone
 * reports it. */
static int speaker(void)
{
	const char *rank = getenv("OMPI_COMM_WORLD_RANK");
	if (!rank)
		rank = getenv("PMI_RANK");
	return mpi_size() <= 1 || !rank || !strcmp(rank, "0");
}

/* Collects, writes and (unless quiet) prints the summary; the exit status of the sweep. */
static int finish(const struct sweep *sw, const char *out, int quiet)
{
	struct sweep_summary sum;
	struct error err;
	if (sweep_summary_collect(&sum, sw, out, &err) != 0)
		return fail(err.msg, STATUS_RUN_FAILED);
	int status = sum.done == sum.runs ? STATUS_OK : STATUS_RUN_FAILED;
	if (sweep_summary_write(&sum, out, &err) != 0)
		status = fail(err.msg, STATUS_RUN_FAILED);
	if (!quiet)
		sweep_summary_print(&sum, stdout);
	sweep_summary_free(&sum);
	return status;
}

int sweep_summarise(const char *dir, int quiet)
{
	struct sweep sw;
	struct error err;
	if (sweep_plan_read(&sw, dir, &err) != 0)
		return fail(err.msg, STATUS_BAD_INPUT);
	int status = finish(&sw, dir, quiet);
	sweep_free(&sw);
	return status;
}

/* A directory holds one sweep's runs: another base scenario there would mix results, and
 * finished runs of the old one would be taken for the new one's. */
static int check_out(const struct sweep *sw, const char *out)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/plan.json", out);
	if (access(path, F_OK) != 0)
		return 0;
	struct sweep old;
	struct error err;
	if (sweep_plan_read(&old, out, &err) != 0) {
		fail(err.msg, STATUS_BAD_INPUT);
		return -1;
	}
	int same = !strcmp(old.base, sw->base);
	if (!same)
		fprintf(stderr, "lethe: %s holds a sweep of %s, not %s; choose another --out\n",
			out, old.base, sw->base);
	sweep_free(&old);
	return same ? 0 : -1;
}

static void outcome_failed(struct sweep_outcome *o, size_t run, const char *msg)
{
	memset(o, 0, sizeof(*o));
	o->run = run;
	snprintf(o->message, sizeof(o->message), "%s", msg);
}

/* Runs todo[0..n) --jobs at a time. Returns 0, or -1 when interrupted. */
static int run_local(const struct sweep_job *job, const size_t *todo, size_t n, size_t jobs,
		     struct sweep_progress *prog)
{
	struct sweep_pool pool;
	struct error err;
	if (sweep_pool_open(&pool, job, jobs, &err) != 0) {
		fail(err.msg, STATUS_RUN_FAILED);
		return -1;
	}
	size_t next = 0;
	while (next < n || pool.running) {
		struct sweep_outcome o;
		char rel[4096];
		while (pool.running < jobs && next < n) {
			size_t run = todo[next++];
			sweep_progress_started(prog);
			if (sweep_pool_start(&pool, run, &err) != 0) {
				outcome_failed(&o, run, err.msg);
				sweep_run_path(job->sw, run, rel, sizeof(rel));
				sweep_progress_ended(prog, &o, rel);
			}
		}
		int rc = sweep_pool_wait(&pool, WAIT_MS, &o);
		if (rc < 0)
			break;
		if (rc == 1) {
			sweep_run_path(job->sw, o.run, rel, sizeof(rel));
			sweep_progress_ended(prog, &o, rel);
		}
		sweep_progress_tick(prog);
	}
	sweep_progress_end(prog);
	int interrupted = pool.interrupted;
	if (interrupted) {
		fprintf(stderr, "lethe sweep: interrupted; stopping %zu running runs\n",
			pool.running);
		sweep_pool_stop(&pool);
	}
	sweep_pool_close(&pool);
	return interrupted ? -1 : 0;
}

static int cmd_only(const struct sweep_job *job, size_t run, int quiet)
{
	char rel[4096];
	sweep_run_path(job->sw, run, rel, sizeof(rel));
	if (sweep_child_state(job, run) == SWEEP_RUN_COMPLETE) {
		if (!quiet)
			fprintf(stderr, "lethe sweep: %s is complete; nothing to do\n", rel);
		return STATUS_OK;
	}
	struct sweep_progress prog;
	sweep_progress_init(&prog, stderr, 0, quiet, 1, 0);
	int ok = run_local(job, &run, 1, 1, &prog) == 0 && prog.done == 1;
	return ok ? STATUS_OK : STATUS_RUN_FAILED;
}

/* Every run not complete yet: locally, or dealt over the MPI ranks. */
static int run_all(const struct sweep_request *o, const struct sweep_job *job, long ranks)
{
	const struct sweep *sw = job->sw;
	size_t runs = sweep_num_runs(sw);
	int speaks = speaker(), rc;

	size_t *todo = malloc(runs * sizeof(*todo)), n = 0;
	if (!todo)
		return fail("out of memory", STATUS_RUN_FAILED);
	for (size_t r = 0; r < runs; r++)
		if (sweep_child_state(job, r) != SWEEP_RUN_COMPLETE)
			todo[n++] = r;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t jobs = o->jobs ? (size_t)o->jobs : ranks > 1 ? 1 : cores > 0 ? (size_t)cores : 1;
	if (ranks <= 1 && jobs > n)
		jobs = n ? n : 1;
	if (!o->quiet && speaks)
		blas_check_kernel(stderr);
	if (!o->quiet && speaks)
		fprintf(stderr, "lethe sweep: %s: %zu settings x %zu seeds = %zu runs, %zu to go, "
			"%zu at a time%s; results in %s\n", sw->name, sw->num_settings,
			sw->num_seeds, runs, n, jobs, ranks > 1 ? " per rank" : "", o->out);
	struct sweep_progress prog;
	sweep_progress_init(&prog, stderr, isatty(STDERR_FILENO), o->quiet, runs, runs - n);
	if (ranks > 1) {
		int root = sweep_mpi_run(job, todo, n, jobs, &prog);
		free(todo);
		if (!root)
			return STATUS_OK;
		rc = 0;
	} else {
		rc = run_local(job, todo, n, jobs, &prog);
		free(todo);
	}
	int status = finish(sw, o->out, o->quiet);
	if (rc != 0) {
		fprintf(stderr, "lethe sweep: stopped; what finished is in %s; the same command "
			"resumes the rest\n", o->out);
		return STATUS_RUN_FAILED;
	}
	return status;
}

static int run_sweep(const struct sweep_request *o, const struct sweep *sw)
{
	long ranks = o->only < 0 && !o->emit_slurm ? mpi_size() : 0;
	size_t runs = sweep_num_runs(sw);
	if (o->only >= (long)runs) {
		fprintf(stderr, "lethe sweep: --only %ld: the sweep has runs 0 to %zu\n", o->only,
			runs - 1);
		return STATUS_BAD_INPUT;
	}
	if (ranks > 1 && !sweep_mpi_run)
		return fail("this lethe was built without MPI: run the sweep without mpirun, or "
			    "rebuild with ./configure --with-mpi", STATUS_BAD_INPUT);
	int speaks = speaker();
	/* The runs would die on their first product; a Slurm script runs elsewhere. */
	if (!o->emit_slurm && blas_check_runnable(speaks ? stderr : NULL) != 0)
		return STATUS_BAD_INPUT;
	struct plugin_path pp;
	plugin_path_init(&pp, o->plugin_path);
	struct error err;
	int rc = o->only >= 0 ? sweep_check(sw, &pp, (size_t)o->only, 1, 0, &err)
			      : sweep_check(sw, &pp, 0, runs, 1, &err);
	plugin_path_free(&pp);
	if (rc != 0)
		return speaks ? fail(err.msg, STATUS_BAD_INPUT) : STATUS_BAD_INPUT;
	if (speaks && files_make_dirs(o->out, &err) != 0)
		return fail(err.msg, STATUS_BAD_INPUT);
	if (speaks && check_out(sw, o->out) != 0)
		return STATUS_BAD_INPUT;
	/* Slurm's array tasks share the plan --emit-slurm wrote; a lone --only writes its own. */
	char plan[4096];
	snprintf(plan, sizeof(plan), "%s/plan.json", o->out);
	if (speaks && (o->only < 0 || access(plan, F_OK) != 0) &&
	    sweep_plan_write(sw, o->out, &err) != 0)
		return fail(err.msg, STATUS_BAD_INPUT);

	struct sweep_job job = { .sw = sw, .out = o->out, .plugin_path = o->plugin_path };
	if (o->emit_slurm) {
		if (sweep_slurm_write(sw, o->file, o->out, o->plugin_path, &err) != 0)
			return fail(err.msg, STATUS_BAD_INPUT);
		printf("wrote %s/sweep.slurm: %zu runs as a job array; submit it with sbatch, "
		       "then run lethe sweep --summary %s\n", o->out, runs, o->out);
		return STATUS_OK;
	}
	if (o->only >= 0)
		return cmd_only(&job, (size_t)o->only, o->quiet);
	/* One sweep at a time in a directory: two would start the same runs twice. */
	int lock = speaks ? files_lock(o->out, "sweep", &err) : -1;
	if (speaks && lock < 0)
		return fail(err.msg, STATUS_BAD_INPUT);
	rc = run_all(o, &job, ranks);
	if (lock >= 0)
		close(lock);
	return rc;
}

int sweep_has_mpi(void)
{
	return sweep_mpi_run != NULL;
}

int sweep_run(const struct sweep_request *r)
{
	struct sweep sw;
	struct error err;
	if (sweep_load(&sw, r->file, &err) != 0)
		return speaker() ? fail(err.msg, STATUS_BAD_INPUT) : STATUS_BAD_INPUT;
	int rc = run_sweep(r, &sw);
	sweep_free(&sw);
	return rc;
}
