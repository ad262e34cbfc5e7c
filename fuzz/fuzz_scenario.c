/* libFuzzer harness for scenario files: the input up to SEPARATOR is the INI file, and each
 * NUL-terminated string after it a --set override. A scenario that loads and asks for small
 * synthetic data is also built, so the task lists are checked against the data as a run would.
 * Besides crashes it catches a refusal whose message breaks the CLI's contract: one line that
 * says where (the file, or the --set override). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario/scenario.h"

#define SEPARATOR "\0--set\0" /* the file may hold NUL bytes, but not this */
#define OVERRIDES_MAX 16
#define BUILD_BYTES_MAX (1u << 20) /* bigger synthetic data costs time, finds nothing new */

static char dir[64], path[96];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/fuzz-scenario-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		/* A long TMPDIR does not fit dir: fall back to /tmp. */
		snprintf(dir, sizeof(dir), "/tmp/fuzz-scenario-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("fuzz_scenario: mkdtemp");
			abort();
		}
	}
	snprintf(path, sizeof(path), "%s/s.ini", dir);
	atexit(cleanup);
	return 0;
}

static void build(const struct scenario *s)
{
	const struct synth_spec *sp = &s->synth;
	struct dataset train, test;
	struct task_list tl;
	struct error e;

	if (s->data != DATA_SYNTHETIC ||
	    (double)sp->num_classes * (double)sp->dim *
			    (double)(sp->train_per_class + sp->test_per_class) > BUILD_BYTES_MAX)
		return;
	if (scenario_build_data(s, &train, &test, &tl, &e) < 0)
		return;
	tasks_free(&tl);
	dataset_free(&train);
	dataset_free(&test);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memmem(data, size, SEPARATOR, sizeof(SEPARATOR) - 1);
	size_t file_size = sep ? (size_t)(sep - data) : size;

	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, file_size, f) != file_size || fclose(f) != 0) {
		perror("fuzz_scenario: writing the scenario");
		abort();
	}

	/* The overrides: a copy of the rest, NUL-terminated so the last string ends too. */
	char *rest = NULL;
	const char *overrides[OVERRIDES_MAX];
	size_t n = 0;
	if (sep) {
		size_t len = size - file_size - (sizeof(SEPARATOR) - 1);
		rest = malloc(len + 1);
		if (!rest)
			return 0;
		memcpy(rest, sep + sizeof(SEPARATOR) - 1, len);
		rest[len] = '\0';
		for (size_t at = 0; at < len && n < OVERRIDES_MAX; at += strlen(rest + at) + 1)
			overrides[n++] = rest + at;
	}

	struct scenario s;
	struct error e = { "" };
	if (scenario_load(&s, path, overrides, n, &e) == 0) {
		build(&s);
		scenario_free(&s);
	} else if (strchr(e.msg, '\n') ||
		   (strncmp(e.msg, path, strlen(path)) != 0 && strncmp(e.msg, "--set ", 6) != 0)) {
		fprintf(stderr, "fuzz_scenario: a refusal breaks the one-line, says-where rule: "
			"\"%s\"\n", e.msg);
		abort();
	}
	free(rest);
	return 0;
}
