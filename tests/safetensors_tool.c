/* lethe's side of tests/safetensors_torch.sh (and the fuzz corpus's seed):
 *
 *   safetensors_tool write LAYERS CxHxW CLASSES SEED ROWS FILE
 *       builds the model, he initialisation from SEED, moves batch norm's running statistics
 *       by one training-mode forward over the ROWS inputs below, and writes FILE;
 *   safetensors_tool predict LAYERS CxHxW CLASSES FILE ROWS
 *       reads FILE into the model and prints, for each of the ROWS inputs, in evaluation mode,
 *       "ROW ARGMAX LOGIT..." (logits to 9 digits: floats bit for bit).
 *
 * The inputs, which bench/torch/safetensors_twin.py makes alike: value i of the batch (row r,
 * element j, i = r C H W + j) is (float)(2 h / 2^32 - 1), h = i 2654435761 mod 2^32, exact in
 * double before the one rounding to float. Exit 2 on bad input, with one line on stderr. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/safetensors.h"
#include "util/rng.h"

static int fail(const char *msg)
{
	fprintf(stderr, "safetensors_tool: %s\n", msg);
	return 2;
}

static int size_arg(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = (size_t)v;
	return 0;
}

static float *inputs(size_t rows, size_t len)
{
	size_t count = rows * len;
	float *x = malloc((count ? count : 1) * sizeof(float));
	for (size_t i = 0; x && i < count; i++) {
		uint64_t h = (uint64_t)i * 2654435761u % 4294967296u;
		x[i] = (float)(2.0 * ((double)h / 4294967296.0) - 1.0);
	}
	return x;
}

static int run(int argc, char **argv, struct model *m, struct error *e)
{
	int write = argc == 8 && strcmp(argv[1], "write") == 0;
	if (!write && !(argc == 7 && strcmp(argv[1], "predict") == 0))
		return error_set(e, "usage: safetensors_tool write LAYERS CxHxW CLASSES SEED ROWS "
				    "FILE | predict LAYERS CxHxW CLASSES FILE ROWS");
	struct model_desc d;
	struct model_shape in;
	size_t classes, rows, seed = 0;
	char tail;
	if (model_desc_parse(&d, argv[2], e) < 0)
		return -1;
	if (sscanf(argv[3], "%zux%zux%zu%c", &in.c, &in.h, &in.w, &tail) != 3)
		return error_set(e, "'%s' is not CxHxW", argv[3]);
	if (size_arg(argv[4], &classes) < 0 || size_arg(argv[6], &rows) < 0 ||
	    rows == 0 || (write && size_arg(argv[5], &seed) < 0))
		return error_set(e, "CLASSES, SEED and ROWS are whole numbers, ROWS at least 1");
	if (model_build(m, &d, in, classes, e) < 0)
		return -1;
	float *x = inputs(rows, model_inputs(m)), *logits = malloc(rows * classes * sizeof(float));
	int rc = x && logits ? 0 : error_set(e, "out of memory");
	if (rc == 0 && write) {
		struct rng r;
		rng_seed(&r, seed, 0);
		model_init_params(m, MODEL_INIT_HE, &r);
		m->training = 1;
		rc = model_forward(m, x, rows, logits, e);
		m->training = 0;
		if (rc == 0)
			rc = safetensors_write(m, NULL, argv[7], e);
	} else if (rc == 0) {
		rc = safetensors_read(m, argv[5], e);
		if (rc == 0)
			rc = model_forward(m, x, rows, logits, e);
		for (size_t i = 0; rc == 0 && i < rows; i++) {
			const float *z = logits + i * classes;
			size_t best = 0;
			for (size_t c = 1; c < classes; c++)
				best = z[c] > z[best] ? c : best;
			printf("%zu %zu", i, best);
			for (size_t c = 0; c < classes; c++)
				printf(" %.9g", (double)z[c]);
			printf("\n");
		}
	}
	free(x);
	free(logits);
	return rc;
}

int main(int argc, char **argv)
{
	struct model m = {0};
	struct error e = {""};
	int rc = run(argc, argv, &m, &e);
	model_free(&m);
	return rc < 0 ? fail(e.msg) : 0;
}
