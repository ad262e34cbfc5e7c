# util: what every part uses: one-line errors, random streams, files, the BLAS.
# host/liblethe.la is the core library: util, data, model, scenario, core and results.
noinst_LTLIBRARIES += host/liblethe.la
host_liblethe_la_SOURCES = \
	%D%/error.c %D%/error.h %D%/status.h \
	%D%/rng.c %D%/rng.h \
	%D%/elapsed.c %D%/elapsed.h \
	%D%/files.c %D%/files.h \
	%D%/json_io.c %D%/json_io.h \
	%D%/csv.c %D%/csv.h \
	%D%/blas.c %D%/blas.h
host_liblethe_la_LIBADD = $(OPENBLAS_LIBS) $(INIH_LIBS) $(DEFLATE_LIBS) $(JANSSON_LIBS) -lm
