/* lethe's side of tests/safetensors_torch.sh (and the fuzz corpus's seed):
 *
 *   safetensors_tool write LAYERS CxHxW CLASSES SEED ROWS FILE
 *       builds the model, he initialisation from SEED, moves batch norm's running statistics
 *       by one training-mode forward over the ROWS inputs below, and writes FILE;
 *   safetensors_tool predict LAYERS CxHxW CLASSES FILE ROWS
 *       reads FILE into the model and prints, for each of the ROWS inputs, in evaluation mode,
 *       "ROW ARGMAX LOGIT..." (logits to 9 digits: floats bit for bit);
 *   safetensors_tool testset DIR X.npy ACC [FILE]
 *       the model of the run in DIR (core/run_model.h: what lethe export writes), or FILE read
 *       into it, on the run's test set: every task's test rows in task order, as the run
 *       evaluates them, written to X.npy (float32, N x C x H x W); "ROW ARGMAX LOGIT..." for
 *       each; and into ACC each task's accuracy as accuracy.csv writes it (",A1,A2,...").
 *
 * The inputs, which bench/torch/safetensors_twin.py makes alike: value i of the batch (row r,
 * element j, i = r C H W + j) is (float)(2 h / 2^32 - 1), h = i 2654435761 mod 2^32, exact in
 * double before the one rounding to float. Exit 2 on bad input, with one line on stderr. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/run_model.h"
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

/* rows x len floats as a .npy file (version 1.0) of shape rows x c x h x w; the floats in
 * this machine's order, which the header says is little-endian (every machine the tests run
 * on). */
static int write_npy(const char *path, const float *x, size_t rows, struct model_shape in,
		     struct error *e)
{
	char dict[128];
	int n = snprintf(dict, sizeof(dict), "{'descr': '<f4', 'fortran_order': False, 'shape': "
			 "(%zu, %zu, %zu, %zu), }", rows, in.c, in.h, in.w);
	size_t len = (size_t)n, padded = (10 + len + 1 + 63) / 64 * 64 - 10;
	FILE *f = fopen(path, "wb");
	if (!f)
		return error_set(e, "%s: %s", path, strerror(errno));
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	fputc((int)(padded & 255), f);
	fputc((int)(padded >> 8), f);
	fwrite(dict, 1, len, f);
	for (size_t i = len; i + 1 < padded; i++)
		fputc(' ', f);
	fputc('\n', f);
	fwrite(x, sizeof(float), rows * in.c * in.h * in.w, f);
	return fclose(f) != 0 ? error_set(e, "%s: cannot write", path) : 0;
}

static void print_row(size_t row, const float *z, size_t classes)
{
	size_t best = 0;
	for (size_t c = 1; c < classes; c++)
		best = z[c] > z[best] ? c : best;
	printf("%zu %zu", row, best);
	for (size_t c = 0; c < classes; c++)
		printf(" %.9g", (double)z[c]);
	printf("\n");
}

/* testset: the run's test set through its model. */
static int testset(int argc, char **argv, struct run_model *r, struct error *e)
{
	if (run_model_open(r, argv[2], 1, e) != 0 ||
	    (argc == 6 && safetensors_read(&r->model, argv[5], e) != 0))
		return -1;
	const struct task_list *tl = &r->tasks;
	size_t rows = 0, dim = r->test.dim, C = model_outputs(&r->model);
	for (size_t k = 0; k < tl->count; k++)
		rows += tl->t[k].num_test;
	float *x = malloc((rows ? rows : 1) * dim * sizeof(float));
	float *logits = malloc((rows ? rows : 1) * C * sizeof(float));
	int32_t *y = malloc((rows ? rows : 1) * sizeof(int32_t));
	FILE *acc = fopen(argv[4], "w");
	int rc = x && logits && y ? 0 : error_set(e, "out of memory");
	if (rc == 0 && !acc)
		rc = error_set(e, "%s: %s", argv[4], strerror(errno));
	size_t at = 0;
	for (size_t k = 0; rc == 0 && k < tl->count; k++) {
		const struct task *t = &tl->t[k];
		tasks_gather(t, &r->test, t->test, t->num_test, x + at * dim, y + at);
		rc = model_forward(&r->model, x + at * dim, t->num_test, logits + at * C, e);
		size_t correct = 0;
		for (size_t i = at; rc == 0 && i < at + t->num_test; i++) {
			print_row(i, logits + i * C, C);
			size_t best = 0;
			for (size_t c = 1; c < C; c++)
				best = logits[i * C + c] > logits[i * C + best] ? c : best;
			correct += (int32_t)best == y[i];
		}
		fprintf(acc, ",%.17g", t->num_test ? (double)correct / (double)t->num_test : 0.0);
		at += t->num_test;
	}
	if (acc) {
		fputc('\n', acc);
		if (fclose(acc) != 0 && rc == 0)
			rc = error_set(e, "%s: cannot write", argv[4]);
	}
	struct model_shape in = { r->test.channels, r->test.rows, r->test.cols };
	if (rc == 0)
		rc = write_npy(argv[3], x, rows, in, e);
	free(x);
	free(logits);
	free(y);
	return rc;
}

static int run(int argc, char **argv, struct model *m, struct error *e)
{
	int write = argc == 8 && strcmp(argv[1], "write") == 0;
	if (!write && !(argc == 7 && strcmp(argv[1], "predict") == 0))
		return error_set(e, "usage: safetensors_tool write LAYERS CxHxW CLASSES SEED ROWS "
				    "FILE | predict LAYERS CxHxW CLASSES FILE ROWS | testset DIR "
				    "X.npy ACC [FILE]");
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
		for (size_t i = 0; rc == 0 && i < rows; i++)
			print_row(i, logits + i * classes, classes);
	}
	free(x);
	free(logits);
	return rc;
}

int main(int argc, char **argv)
{
	struct model m = {0};
	struct error e = {""};
	int rc;
	if (argc >= 5 && argc <= 6 && strcmp(argv[1], "testset") == 0) {
		struct run_model *r = calloc(1, sizeof(*r));
		rc = r ? testset(argc, argv, r, &e) : error_set(&e, "out of memory");
		if (r)
			run_model_close(r);
		free(r);
	} else {
		rc = run(argc, argv, &m, &e);
	}
	model_free(&m);
	return rc < 0 ? fail(e.msg) : 0;
}
