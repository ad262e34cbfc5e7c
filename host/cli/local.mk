# cli: the lethe program: one table of commands and their options.
bin_PROGRAMS += host/lethe
host_lethe_SOURCES = %D%/main.c %D%/cli.c %D%/cli.h %D%/args.c %D%/args.h %D%/cmd.h \
	%D%/cmd_run.c %D%/cmd_plugins.c %D%/cmd_report.c %D%/cmd_compare.c \
	%D%/cmd_sweep.c %D%/cmd_export.c %D%/cmd_audit.c
host_lethe_CPPFLAGS = $(AM_CPPFLAGS) $(MPI_CFLAGS)
host_lethe_LDADD = host/ui/libui.la host/report/libreport.la host/sweep/libsweep.la \
	host/liblethe.la
# MPI reaches the lethe program alone: sweep.c calls sweep_mpi_run through a weak reference,
# null in every other program (tests, fuzzers) and in a build without MPI.
if HAVE_MPI
host_lethe_SOURCES += host/sweep/sweep_mpi.c host/sweep/sweep_mpi.h
host_lethe_LDADD += $(MPI_LIBS)
endif
