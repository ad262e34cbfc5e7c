/* libFuzzer harness for the safetensors reader: the input is the file, read into a small model
 * with every kind of tensor (conv with and without bias, batch norm, BasicBlocks with and
 * without a projection, dense). A file that loads must leave finite values; a file refused
 * must be refused in one line naming it. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "model/safetensors.h"

/* The model of the corpus's files (tests/safetensors_tool write LAYERS 1x4x4 2 ...). */
#define LAYERS "conv 2 k2, bn, relu, res 2, res 3 s2, flatten, dense"

static char dir[64], file[96];
static struct model model;

static void cleanup(void)
{
	model_free(&model);
	unlink(file);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/fuzz-safetensors-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		/* A long TMPDIR does not fit dir: fall back to /tmp. */
		snprintf(dir, sizeof(dir), "/tmp/fuzz-safetensors-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("fuzz_safetensors: mkdtemp");
			abort();
		}
	}
	snprintf(file, sizeof(file), "%s/model.safetensors", dir);
	struct model_desc d;
	struct error e;
	if (model_desc_parse(&d, LAYERS, &e) < 0 ||
	    model_build(&model, &d, (struct model_shape){1, 4, 4}, 2, &e) < 0) {
		fprintf(stderr, "fuzz_safetensors: %s\n", e.msg);
		abort();
	}
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(file, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror(file);
		abort();
	}
	struct error e = {""};
	if (safetensors_read(&model, file, &e) == 0) {
		for (size_t i = 0; i < model.num_params; i++)
			if (!isfinite(model.params[i]))
				abort();
	} else if (strchr(e.msg, '\n') || strncmp(e.msg, file, strlen(file)) != 0) {
		fprintf(stderr, "fuzz_safetensors: a refusal is not one line naming the file: "
				"\"%s\"\n",
			e.msg);
		abort();
	}
	return 0;
}
