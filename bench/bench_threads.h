/* The optional [threads] argument of the benches that take one (default 1, as lethe's
 * train.threads), set as OpenBLAS's thread count. */
#ifndef LETHE_BENCH_THREADS_H
#define LETHE_BENCH_THREADS_H

/* Reads argv[1] if given into *threads and sets OpenBLAS to it; 0, or -1 after printing why
 * (usage or a bad count) to stderr under name. */
int bench_threads(int argc, char **argv, const char *name, long *threads);

#endif
