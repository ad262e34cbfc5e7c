#include "util/blas.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cblas.h>

void blas_cpu_detect(struct blas_cpu *cpu)
{
	memset(cpu, 0, sizeof(*cpu));
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	cpu->avx = __builtin_cpu_supports("avx") != 0;
	cpu->avx2 = __builtin_cpu_supports("avx2") != 0;
	cpu->fma = __builtin_cpu_supports("fma") != 0;
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

/* OpenBLAS's x86 kernels that need more than SSE, and what they need. */
static const struct {
	const char *core, *needs;
} demanding[] = {
	{ "SkylakeX", "AVX-512" },  { "Cooperlake", "AVX-512" }, { "SapphireRapids", "AVX-512" },
	{ "Haswell", "AVX2" },	    { "Zen", "AVX2" },		 { "Sandybridge", "AVX" },
	{ "Bulldozer", "AVX" },	    { "Piledriver", "AVX" },	 { "Steamroller", "AVX" },
	{ "Excavator", "AVX" },
};

const char *blas_missing(const char *core, const struct blas_cpu *cpu)
{
	for (size_t i = 0; core && i < sizeof(demanding) / sizeof(demanding[0]); i++) {
		if (strcasecmp(core, demanding[i].core))
			continue;
		const char *needs = demanding[i].needs;
		int has = !strcmp(needs, "AVX-512") ? cpu->avx512f
			  : !strcmp(needs, "AVX2")  ? cpu->avx2 && cpu->fma
						    : cpu->avx;
		return has ? NULL : needs;
	}
	return NULL;
}

/* The fastest kernel cpu runs. */
static const char *best_kernel(const struct blas_cpu *cpu)
{
	return cpu->avx512f		 ? "SkylakeX"
	       : cpu->avx2 && cpu->fma ? "Haswell"
	       : cpu->avx		 ? "Sandybridge"
					 : "Prescott";
}

int blas_refusal(char *buf, size_t size, const char *core, const struct blas_cpu *cpu,
		 const char *chosen)
{
	const char *needs = blas_missing(core, cpu);
	if (!needs)
		return 0;
	if (chosen)
		snprintf(buf, size, "lethe: OPENBLAS_CORETYPE=%s makes OpenBLAS run its %s kernel, "
			 "which needs %s, and this CPU lacks it (the first product would die of an "
			 "illegal instruction): unset OPENBLAS_CORETYPE, or set it to %s", chosen,
			 core, needs, best_kernel(cpu));
	else
		snprintf(buf, size, "lethe: OpenBLAS chose its %s kernel, which needs %s, and this "
			 "CPU lacks it (the first product would die of an illegal instruction): "
			 "export OPENBLAS_CORETYPE=%s", core, needs, best_kernel(cpu));
	return 1;
}

int blas_check_runnable(FILE *out)
{
	struct blas_cpu cpu;
	blas_cpu_detect(&cpu);
	const char *chosen = getenv("OPENBLAS_CORETYPE");
	char line[512];
	if (!blas_refusal(line, sizeof(line), openblas_get_corename(), &cpu,
			  chosen && *chosen ? chosen : NULL))
		return 0;
	if (out)
		fprintf(out, "%s\n", line);
	return -1;
}

const char *blas_kernel(void)
{
	return openblas_get_corename();
}

const char *blas_library(char *buf, size_t size)
{
	/* The configuration string starts "OpenBLAS VERSION ...". */
	const char *config = openblas_get_config(), *end = strchr(config, ' ');
	end = end ? strchr(end + 1, ' ') : NULL;
	int len = end ? (int)(end - config) : (int)strlen(config);
	snprintf(buf, size, "%.*s", len, config);
	return buf;
}

int blas_threads(void)
{
	return openblas_get_num_threads();
}

void blas_set_threads(int threads)
{
	openblas_set_num_threads(threads);
}

const char *blas_describe(char *buf, size_t size)
{
	char library[64];
	int threads = blas_threads();
	snprintf(buf, size, "%s, kernel %s, %d thread%s", blas_library(library, sizeof(library)),
		 openblas_get_corename(), threads, threads == 1 ? "" : "s");
	return buf;
}
