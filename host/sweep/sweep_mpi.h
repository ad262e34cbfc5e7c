/* A sweep dealt over MPI ranks (`mpirun -n K lethe sweep SWEEP.ini --out DIR`): rank 0 deals
 * the runs one at a time to whichever rank asks, so fast runs never wait for slow ones. Every
 * rank, rank 0 included, runs up to `jobs` children; rank 0 answers requests between its own
 * waits (every 20 ms), and alone shows progress. Results travel through DIR, which every rank
 * must see (a shared file system). Only the lethe program of an MPI build links this file and
 * MPI, so the function is declared weak: a null address in any other program built from the
 * host's sources (tests, fuzzers) and in a build without MPI. */
#ifndef LETHE_SWEEP_MPI_H
#define LETHE_SWEEP_MPI_H

#include <stddef.h>

#include "sweep/sweep_child.h"
#include "sweep/sweep_progress.h"

/* Initialises MPI, deals todo[0..n) (rank 0's list; the other ranks' is ignored), finalises.
 * Returns 1 on rank 0, which then writes the summary, and 0 on the others. An interrupt
 * (SIGINT, SIGTERM) or an error stops the rank's children and aborts the job: what finished
 * stays in DIR, and `lethe sweep --summary DIR` collects it. */
int sweep_mpi_run(const struct sweep_job *job, const size_t *todo, size_t n, size_t jobs,
		  struct sweep_progress *progress) __attribute__((weak));

#endif
