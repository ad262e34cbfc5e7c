/* Writes a small data set in the exact CIFAR-10 or CIFAR-100 binary format, laid out as their
 * archives unpack (https://www.cs.toronto.edu/~kriz/cifar.html, the binary version), for tests
 * that cannot download the real files:
 *	cifar_fixture DIR cifar10 TRAIN TEST   DIR/cifar-10-batches-bin/data_batch_1..5.bin and
 *					       test_batch.bin: a record is the label byte, then
 *					       3072 pixels (32 x 32 red, green, then blue)
 *	cifar_fixture DIR cifar100 TRAIN TEST  DIR/cifar-100-binary/train.bin and test.bin: the
 *					       coarse label (fine / 5), the fine label, 3072
 * TRAIN and TEST are the samples of each class, the training ones dealt to the five batches in
 * turn. A pixel depends on the class, so that a model can tell them apart, and on its sample,
 * channel and place, so that no two planes or rows are alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SIDE 32
#define PLANE (SIDE * SIDE)

static int fail(const char *what)
{
	perror(what);
	return 1;
}

static void record(FILE *f, int coarse, int label, int sample)
{
	unsigned char r[2 + 3 * PLANE];
	size_t head = 0;
	if (coarse >= 0)
		r[head++] = (unsigned char)coarse;
	r[head++] = (unsigned char)label;
	for (int c = 0; c < 3; c++)
		for (int p = 0; p < PLANE; p++)
			r[head + (size_t)c * PLANE + (size_t)p] =
				(unsigned char)((label * 37 + c * 80 + p / SIDE * 3 + p % SIDE * 5 +
						 sample * 11) & 255);
	fwrite(r, 1, head + 3 * PLANE, f);
}

static FILE *open_in(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		perror(path);
	return f;
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[2], "cifar10") && strcmp(argv[2], "cifar100"))) {
		fprintf(stderr, "usage: cifar_fixture DIR cifar10|cifar100 TRAIN TEST\n");
		return 2;
	}
	int ten = !strcmp(argv[2], "cifar10"), classes = ten ? 10 : 100;
	int train = atoi(argv[3]), test = atoi(argv[4]);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s", argv[1],
		 ten ? "cifar-10-batches-bin" : "cifar-100-binary");
	mkdir(argv[1], 0777);
	if (mkdir(dir, 0777) != 0)
		return fail(dir);

	FILE *batches[5] = { NULL };
	int num_batches = ten ? 5 : 1;
	for (int b = 0; b < num_batches; b++) {
		char name[32];
		snprintf(name, sizeof(name), ten ? "data_batch_%d.bin" : "train.bin", b + 1);
		if (!(batches[b] = open_in(dir, name)))
			return 1;
	}
	FILE *t = open_in(dir, ten ? "test_batch.bin" : "test.bin");
	if (!t)
		return 1;
	int dealt = 0;
	for (int s = 0; s < train; s++)
		for (int y = 0; y < classes; y++)
			record(batches[dealt++ % num_batches], ten ? -1 : y / 5, y, s);
	for (int s = 0; s < test; s++)
		for (int y = 0; y < classes; y++)
			record(t, ten ? -1 : y / 5, y, train + s);
	int rc = 0;
	for (int b = 0; b < num_batches; b++)
		rc |= fclose(batches[b]);
	rc |= fclose(t);
	return rc ? fail("cifar_fixture") : 0;
}
