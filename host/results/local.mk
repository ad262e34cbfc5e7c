# results: a run's files (metrics.json, accuracy.csv) and directory, and the figures in them.
host_liblethe_la_SOURCES += \
	%D%/results.c %D%/results_load.c %D%/results.h \
	%D%/metrics.c %D%/metrics.h \
	%D%/run_dir.c %D%/run_dir.h
