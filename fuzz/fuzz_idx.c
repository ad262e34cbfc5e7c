/* libFuzzer harness for the idx loader: the input is an image file and a label file joined by
 * SEPARATOR (without it, the whole input is tried as both). An input that starts with the gzip
 * magic goes through the loader's own member parser and libdeflate, any other is read as it is;
 * both end in the same idx checks. A pair that loads is cut into tasks the way a scenario would
 * cut it; a pair refused must be refused in one line naming a file. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/tasks.h"

#define SEPARATOR "--labels--"

static char dir[64], images[96], labels[96];

static void cleanup(void)
{
	unlink(images);
	unlink(labels);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/fuzz-idx-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		/* A long TMPDIR does not fit dir: fall back to /tmp. */
		snprintf(dir, sizeof(dir), "/tmp/fuzz-idx-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("fuzz_idx: mkdtemp");
			abort();
		}
	}
	snprintf(images, sizeof(images), "%s/images", dir);
	snprintf(labels, sizeof(labels), "%s/labels", dir);
	atexit(cleanup);
	return 0;
}

static void put(const char *file, const uint8_t *data, size_t size)
{
	FILE *f = fopen(file, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror(file);
		abort();
	}
}

/* Two tasks from the classes present, alternately; two permuted tasks; then small subsets. */
static void cut(const struct dataset *d)
{
	int32_t classes[2][CLASSES_MAX];
	const int32_t *lists[2] = { classes[0], classes[1] };
	size_t counts[2] = { 0, 0 };
	uint8_t present[CLASSES_MAX] = { 0 };
	struct task_list tl;
	struct error e;

	for (size_t i = 0; i < d->n; i++)
		present[d->y[i]] = 1;
	for (int c = 0, k = 0; c < d->num_classes; c++) {
		if (present[c]) {
			classes[k][counts[k]++] = c;
			k = !k;
		}
	}
	size_t num_tasks = counts[1] ? 2 : 1;
	if (tasks_by_classes(&tl, d, d, num_tasks, lists, counts, &e) == 0) {
		tasks_limit(&tl, 3, 2, 1);
		float x[64];
		int32_t y;
		if (d->dim <= sizeof(x) / sizeof(*x))
			tasks_gather(&tl.t[num_tasks - 1], d, tl.t[num_tasks - 1].train, 1, x, &y);
		tasks_free(&tl);
	}
	if (tasks_permuted(&tl, d, d, 2, 1, 7, &e) == 0)
		tasks_free(&tl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memmem(data, size, SEPARATOR, strlen(SEPARATOR));

	if (sep) {
		size_t head = (size_t)(sep - data), skip = head + strlen(SEPARATOR);
		put(images, data, head);
		put(labels, data + skip, size - skip);
	} else {
		put(images, data, size);
		put(labels, data, size);
	}

	struct dataset d;
	struct error e = { "" };
	if (dataset_load_idx(&d, images, labels, &e) == 0) {
		cut(&d);
		dataset_free(&d);
	} else if (strchr(e.msg, '\n') || (strncmp(e.msg, images, strlen(images)) != 0 &&
					   strncmp(e.msg, labels, strlen(labels)) != 0)) {
		fprintf(stderr, "fuzz_idx: a refusal is not one line naming a file: \"%s\"\n",
			e.msg);
		abort();
	}
	return 0;
}
