#include "blas.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cblas.h>

void blas_cpu_detect(struct blas_cpu *cpu)
{
	memset(cpu, 0, sizeof(*cpu));
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	cpu->avx2 = __builtin_cpu_supports("avx2") != 0;
	cpu->avx512f = __builtin_cpu_supports("avx512f") != 0;
#endif
}

/* OpenBLAS's x86 kernels built for AVX2 and FMA or better; every other x86 name is older. */
static const char *const modern[] = { "Haswell", "Zen", "SkylakeX", "Cooperlake",
				      "SapphireRapids" };

const char *blas_advice(const char *core, const struct blas_cpu *cpu)
{
	if (!core || !cpu->avx2)
		return NULL;
	for (size_t i = 0; i < sizeof(modern) / sizeof(modern[0]); i++)
		if (!strcasecmp(core, modern[i]))
			return NULL;
	return cpu->avx512f ? "SkylakeX" : "Haswell";
}

int blas_notice(char *buf, size_t size, const char *core, const struct blas_cpu *cpu)
{
	const char *fix = blas_advice(core, cpu);
	if (!fix)
		return 0;
	snprintf(buf, size, "lethe: OpenBLAS runs its generic %s kernel on this %s CPU, several "
		 "times slower than it could: export OPENBLAS_CORETYPE=%s", core,
		 cpu->avx512f ? "AVX-512" : "AVX2", fix);
	return 1;
}

void blas_check_kernel(FILE *out)
{
	static int done;
	if (done)
		return;
	done = 1;
	const char *chosen = getenv("OPENBLAS_CORETYPE");
	if (chosen && *chosen)
		return;
	struct blas_cpu cpu;
	blas_cpu_detect(&cpu);
	char line[256];
	if (blas_notice(line, sizeof(line), openblas_get_corename(), &cpu))
		fprintf(out, "%s\n", line);
}

const char *blas_describe(char *buf, size_t size)
{
	/* The configuration string starts "OpenBLAS VERSION ...". */
	const char *config = openblas_get_config(), *end = strchr(config, ' ');
	end = end ? strchr(end + 1, ' ') : NULL;
	int len = end ? (int)(end - config) : (int)strlen(config);
	int threads = openblas_get_num_threads();
	snprintf(buf, size, "%.*s, kernel %s, %d thread%s", len, config, openblas_get_corename(),
		 threads, threads == 1 ? "" : "s");
	return buf;
}
