/* The BLAS that lethe's products run on, for the head of `make bench`: OpenBLAS's version,
 * kernel and thread count, the CPU, and the kernel check's notice if it has one.
 * Usage: blas_info [threads] (default 1, as lethe's train.threads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "util/blas.h"
#include "bench_threads.h"

/* The "model name" line of /proc/cpuinfo, or "unknown CPU". */
static void cpu_model(char *buf, size_t size)
{
	snprintf(buf, size, "unknown CPU");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon += 1 + (colon[1] == ' ');
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, size, "%s", colon);
		break;
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	long threads;
	if (bench_threads(argc, argv, "blas_info", &threads) != 0)
		return EXIT_FAILURE;
	struct blas_cpu cpu;
	blas_cpu_detect(&cpu);
	char blas[160], model[256];
	cpu_model(model, sizeof(model));
	printf("BLAS: %s (openblas_get_corename: %s)\n", blas_describe(blas, sizeof(blas)),
	       openblas_get_corename());
	printf("CPU: %s, %ld online, %s%s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
	       cpu.avx512f ? "AVX-512" : cpu.avx2 ? "AVX2" : "no AVX2",
	       getenv("OPENBLAS_CORETYPE") ? ", OPENBLAS_CORETYPE set" : "");
	blas_check_kernel(stdout);
	return EXIT_SUCCESS;
}
