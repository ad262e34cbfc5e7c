# sweep: a grid of settings over seeds, each run a child lethe, dealt locally, over MPI or as a
# Slurm array, and the summary of their results.
noinst_LTLIBRARIES += host/sweep/libsweep.la
host_sweep_libsweep_la_SOURCES = \
	%D%/sweep.c %D%/sweep.h \
	%D%/sweep_file.c %D%/sweep_file.h \
	%D%/sweep_check.c %D%/sweep_check.h \
	%D%/sweep_plan.c %D%/sweep_plan.h \
	%D%/sweep_child.c %D%/sweep_child.h \
	%D%/sweep_pool.c %D%/sweep_pool.h \
	%D%/sweep_progress.c %D%/sweep_progress.h \
	%D%/sweep_summary.c %D%/sweep_summary.h \
	%D%/sweep_slurm.c %D%/sweep_slurm.h
EXTRA_DIST += docs/sweeps.md
