#include "bench_threads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

int bench_threads(int argc, char **argv, const char *name, long *threads)
{
	*threads = 1;
	if (argc > 2) {
		fprintf(stderr, "usage: %s [threads]\n", argv[0]);
		return -1;
	}
	if (argc == 2) {
		char *end;
		errno = 0;
		*threads = strtol(argv[1], &end, 10);
		if (errno || *end || end == argv[1] || *threads < 1 || *threads > 1024) {
			fprintf(stderr, "%s: bad thread count '%s'\n", name, argv[1]);
			return -1;
		}
	}
	openblas_set_num_threads((int)*threads);
	return 0;
}
