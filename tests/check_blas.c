/* The BLAS kernel check: which OpenBLAS kernels count as a generic fallback on which CPU, the
 * one-line notice, that it is printed once at most, which kernels a CPU cannot run and the
 * refusal that says so, and the description benches print. Nothing here sets
 * OPENBLAS_CORETYPE: the decisions are pure functions of a core name and CPU flags. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "util/blas.h"
#include "testutil.h"

static const struct blas_cpu sse_only = { 0 }, avx_only = { .avx = 1 },
			     avx2 = { .avx = 1, .avx2 = 1, .fma = 1 },
			     avx512 = { .avx = 1, .avx2 = 1, .fma = 1, .avx512f = 1 };

static void assert_advice(const char *core, const struct blas_cpu *cpu, const char *want)
{
	const char *got = blas_advice(core, cpu);
	ck_assert_msg(want ? got && !strcmp(got, want) : !got, "%s: advised %s, want %s",
		      core ? core : "no core name", got ? got : "nothing", want ? want : "nothing");
}

/* Pre-AVX2 kernels on a CPU that has AVX2: Haswell's, or SkylakeX's where AVX-512 is there. */
START_TEST(test_fallback_advised)
{
	static const char *const old[] = { "Prescott", "Core2", "Nehalem", "Sandybridge",
					   "Bulldozer", "Barcelona", "Unknown", "generic" };
	for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		assert_advice(old[i], &avx2, "Haswell");
		assert_advice(old[i], &avx512, "SkylakeX");
	}
	assert_advice("PRESCOTT", &avx2, "Haswell");
	assert_advice("prescott", &avx512, "SkylakeX");
}
END_TEST

/* A kernel that fits, whatever its case; an old kernel on an old CPU; no core name. */
START_TEST(test_fitting_left_alone)
{
	static const char *const modern[] = { "Haswell", "Zen", "SkylakeX", "Cooperlake",
					      "SapphireRapids", "HASWELL", "skylakex" };
	for (size_t i = 0; i < sizeof(modern) / sizeof(modern[0]); i++) {
		assert_advice(modern[i], &avx2, NULL);
		assert_advice(modern[i], &avx512, NULL);
	}
	assert_advice("Prescott", &sse_only, NULL);
	assert_advice("Sandybridge", &sse_only, NULL);
	assert_advice(NULL, &avx512, NULL);
}
END_TEST

static void assert_missing(const char *core, const struct blas_cpu *cpu, const char *want)
{
	const char *got = blas_missing(core, cpu);
	ck_assert_msg(want ? got && !strcmp(got, want) : !got, "%s: missing %s, want %s",
		      core ? core : "no core name", got ? got : "nothing", want ? want : "nothing");
}

/* A kernel needs its instruction set, whatever the name's case; older kernels, names this
 * table does not know (another architecture's) and no name need nothing. */
START_TEST(test_missing_instructions)
{
	static const char *const avx512_kernels[] = { "SkylakeX", "Cooperlake", "SapphireRapids",
						      "skylakex" };
	for (size_t i = 0; i < sizeof(avx512_kernels) / sizeof(avx512_kernels[0]); i++) {
		assert_missing(avx512_kernels[i], &avx2, "AVX-512");
		assert_missing(avx512_kernels[i], &sse_only, "AVX-512");
		assert_missing(avx512_kernels[i], &avx512, NULL);
	}
	assert_missing("Haswell", &avx_only, "AVX2");
	assert_missing("ZEN", &sse_only, "AVX2");
	assert_missing("Haswell", &(struct blas_cpu){ .avx = 1, .avx2 = 1 }, "AVX2"); /* no FMA */
	assert_missing("Zen", &avx2, NULL);
	assert_missing("Sandybridge", &sse_only, "AVX");
	assert_missing("Piledriver", &sse_only, "AVX");
	assert_missing("Sandybridge", &avx_only, NULL);
	static const char *const plain[] = { "Prescott", "Nehalem", "Core2", "Barcelona",
					     "ARMV8", "Unknown" };
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		assert_missing(plain[i], &sse_only, NULL);
	assert_missing(NULL, &sse_only, NULL);
}
END_TEST

/* One line naming the variable, the kernel, the instruction set and a kernel that runs here;
 * nothing when the kernel runs. */
START_TEST(test_refusal_line)
{
	char line[512] = "untouched";
	ck_assert_int_eq(blas_refusal(line, sizeof(line), "SkylakeX", &avx512, "SkylakeX"), 0);
	ck_assert_str_eq(line, "untouched");
	ck_assert_int_eq(blas_refusal(line, sizeof(line), "SkylakeX", &avx2, "skylakex"), 1);
	ck_assert_has(line, "OPENBLAS_CORETYPE=skylakex");
	ck_assert_has(line, "SkylakeX kernel, which needs AVX-512, and this CPU lacks it");
	ck_assert_has(line, "unset OPENBLAS_CORETYPE, or set it to Haswell");
	ck_assert_ptr_null(strchr(line, '\n'));
	ck_assert_int_eq(blas_refusal(line, sizeof(line), "Haswell", &avx_only, "Haswell"), 1);
	ck_assert_has(line, "needs AVX2");
	ck_assert_has(line, "set it to Sandybridge");
	ck_assert_int_eq(blas_refusal(line, sizeof(line), "Haswell", &sse_only, NULL), 1);
	ck_assert_has(line, "OpenBLAS chose its Haswell kernel");
	ck_assert_has(line, "export OPENBLAS_CORETYPE=Prescott");
}
END_TEST

START_TEST(test_notice_line)
{
	char line[256] = "untouched";
	ck_assert_int_eq(blas_notice(line, sizeof(line), "Haswell", &avx512), 0);
	ck_assert_str_eq(line, "untouched");
	ck_assert_int_eq(blas_notice(line, sizeof(line), "Prescott", &avx512), 1);
	ck_assert_msg(strstr(line, "Prescott") && strstr(line, "export OPENBLAS_CORETYPE=SkylakeX"),
		      "notice: %s", line);
	ck_assert_ptr_null(strchr(line, '\n'));
	ck_assert_int_eq(blas_notice(line, sizeof(line), "Nehalem", &avx2), 1);
	ck_assert_msg(strstr(line, "export OPENBLAS_CORETYPE=Haswell"), "notice: %s", line);
}
END_TEST

/* Whatever this machine's kernel, the check says at most one line, and only the first time. */
START_TEST(test_check_once)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	ck_assert_ptr_nonnull(out);
	blas_check_kernel(out);
	fflush(out);
	size_t first = size;
	blas_check_kernel(out);
	blas_check_kernel(out);
	fclose(out);
	ck_assert_uint_eq(size, first);
	size_t lines = 0;
	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';
	ck_assert_uint_le(lines, 1);
	free(text);
}
END_TEST

START_TEST(test_describe)
{
	char buf[128], library[64];
	ck_assert_ptr_eq(blas_library(library, sizeof(library)), library);
	ck_assert_msg(!strncmp(library, "OpenBLAS ", 9) && !strchr(library + 9, ' '), "%s",
		      library);
	ck_assert_str_eq(blas_kernel(), openblas_get_corename());
	openblas_set_num_threads(1);
	ck_assert_ptr_eq(blas_describe(buf, sizeof(buf)), buf);
	ck_assert_msg(!strncmp(buf, "OpenBLAS ", 9) && strstr(buf, openblas_get_corename()) &&
		      strstr(buf, ", 1 thread") && !strstr(buf, "threads"), "%s", buf);
	char tiny[8];
	blas_describe(tiny, sizeof(tiny));
	ck_assert_uint_eq(strlen(tiny), sizeof(tiny) - 1);
}
END_TEST

static Suite *blas_suite(void)
{
	Suite *s = suite_create("blas");
	TCase *tc = tcase_create("advice");
	tcase_add_test(tc, test_fallback_advised);
	tcase_add_test(tc, test_fitting_left_alone);
	tcase_add_test(tc, test_notice_line);
	tcase_add_test(tc, test_missing_instructions);
	tcase_add_test(tc, test_refusal_line);
	suite_add_tcase(s, tc);
	tc = tcase_create("process");
	tcase_add_test(tc, test_check_once);
	tcase_add_test(tc, test_describe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(blas_suite());
}
