#include "sweep/sweep_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "sweep/sweep_pool.h"

#define TAG_ASK 1  /* to rank 0: {kind, run or -1, ok, seconds} */
#define TAG_DEAL 2 /* from rank 0: a run index, or -1 for no more */
#define DEAL_MS 20 /* rank 0's longest wait between looks at its requests */
#define WAIT_MS 1000

enum ask_kind { ASK_RUN, ASK_RESULT, ASK_DONE }; /* a run (with a result or not), a last
						     result, leaving */

static void abort_job(struct sweep_pool *pool, const char *why)
{
	fprintf(stderr, "lethe sweep: %s; stopping this rank's %zu runs; lethe sweep --summary "
		"collects what finished\n", why, pool->slots ? pool->running : 0);
	if (pool->slots)
		sweep_pool_stop(pool);
	MPI_Abort(MPI_COMM_WORLD, 1);
	exit(1);
}

/* ---- rank 0 ---- */

static void ended(struct sweep_progress *prog, const struct sweep_job *job,
		  struct sweep_outcome *o)
{
	char rel[4096];
	sweep_run_path(job->sw, o->run, rel, sizeof(rel));
	sweep_progress_ended(prog, o, rel);
}

/* A result a worker reported: its message is in the run's directory. */
static void remote_ended(struct sweep_progress *prog, const struct sweep_job *job,
			 const double *m, int rank)
{
	struct sweep_outcome o = { .run = (size_t)m[1], .ok = m[2] != 0, .seconds = m[3] };
	if (!o.ok && !sweep_child_failure(job, o.run, o.message, sizeof(o.message)))
		snprintf(o.message, sizeof(o.message), "it did not start on rank %d", rank);
	ended(prog, job, &o);
}

static void deal(const struct sweep_job *job, const size_t *todo, size_t n, size_t jobs,
		 int size, struct sweep_progress *prog)
{
	struct sweep_pool pool;
	struct error err;
	if (sweep_pool_open(&pool, job, jobs, &err) != 0)
		abort_job(&pool, err.msg);
	size_t next = 0;
	int workers = size - 1;
	while (workers > 0 || pool.running || next < n) {
		int flag;
		MPI_Status st;
		while (MPI_Iprobe(MPI_ANY_SOURCE, TAG_ASK, MPI_COMM_WORLD, &flag, &st) ==
			       MPI_SUCCESS && flag) {
			double m[4];
			MPI_Recv(m, 4, MPI_DOUBLE, st.MPI_SOURCE, TAG_ASK, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			if (m[1] >= 0)
				remote_ended(prog, job, m, st.MPI_SOURCE);
			if (m[0] == ASK_DONE)
				workers--;
			if (m[0] != ASK_RUN)
				continue;
			long long run = next < n ? (long long)todo[next++] : -1;
			if (run >= 0)
				sweep_progress_started(prog);
			MPI_Send(&run, 1, MPI_LONG_LONG, st.MPI_SOURCE, TAG_DEAL, MPI_COMM_WORLD);
		}
		while (pool.running < jobs && next < n) {
			size_t run = todo[next++];
			sweep_progress_started(prog);
			if (sweep_pool_start(&pool, run, &err) != 0) {
				struct sweep_outcome o = { .run = run };
				snprintf(o.message, sizeof(o.message), "%s", err.msg);
				ended(prog, job, &o);
			}
		}
		struct sweep_outcome o;
		int rc = sweep_pool_wait(&pool, DEAL_MS, &o);
		if (rc < 0)
			abort_job(&pool, "interrupted");
		if (rc == 1)
			ended(prog, job, &o);
		sweep_progress_tick(prog);
	}
	sweep_progress_end(prog);
	sweep_pool_close(&pool);
}

/* ---- the other ranks ---- */

/* Sends an ask; for ASK_RUN returns the run dealt, -1 for none left. */
static long long ask(enum ask_kind kind, const struct sweep_outcome *o)
{
	double m[4] = { kind, o ? (double)o->run : -1, o ? o->ok : 0, o ? o->seconds : 0 };
	MPI_Send(m, 4, MPI_DOUBLE, 0, TAG_ASK, MPI_COMM_WORLD);
	long long run = -1;
	if (kind == ASK_RUN)
		MPI_Recv(&run, 1, MPI_LONG_LONG, 0, TAG_DEAL, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	return run;
}

static void work(const struct sweep_job *job, size_t jobs)
{
	struct sweep_pool pool;
	struct error err;
	if (sweep_pool_open(&pool, job, jobs, &err) != 0)
		abort_job(&pool, err.msg);
	int more = 1;
	struct sweep_outcome o;
	const struct sweep_outcome *report = NULL; /* a result to send with the next ask */
	for (;;) {
		while (more && pool.running < jobs) {
			long long run = ask(ASK_RUN, report);
			report = NULL;
			more = run >= 0;
			if (more && sweep_pool_start(&pool, (size_t)run, &err) != 0) {
				fprintf(stderr, "lethe: %s\n", err.msg);
				o = (struct sweep_outcome){ .run = (size_t)run };
				report = &o;
			}
		}
		if (report)
			ask(ASK_RESULT, report);
		report = NULL;
		if (!pool.running)
			break;
		int rc = sweep_pool_wait(&pool, WAIT_MS, &o);
		if (rc < 0)
			abort_job(&pool, "interrupted");
		if (rc == 1)
			report = &o;
	}
	ask(ASK_DONE, NULL);
	sweep_pool_close(&pool);
}

int sweep_mpi_run(const struct sweep_job *job, const size_t *todo, size_t n, size_t jobs,
		  struct sweep_progress *progress)
{
	/* Every child execs at once, which is safe with the shared-memory and TCP transports. */
	setenv("OMPI_MCA_mpi_warn_on_fork", "0", 0);
	int rank, size;
	MPI_Init(NULL, NULL);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (rank == 0)
		deal(job, todo, n, jobs, size, progress);
	else
		work(job, jobs);
	MPI_Finalize();
	return rank == 0;
}
