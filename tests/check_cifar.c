/* The CIFAR binary loaders, the per-channel normalisation and the training augmentation, on
 * records written here byte by byte in the authors' formats. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "data/dataset.h"
#include "data/tasks.h"
#include "util/rng.h"
#include "testutil.h"

#define PIXELS 3072
#define PLANE 1024
#define URL "https://www.cs.toronto.edu/~kriz/cifar.html"

/* Pixel p of record i: its channel, row and column and the record all show in the value. */
static uint8_t pixel(size_t i, size_t p)
{
	return (uint8_t)(p / PLANE * 100 + p % PLANE / 32 * 3 + p % 32 + i * 7);
}

/* n records of head label bytes (labels[i * head ...]) in dir/name; its path. */
static char *write_records(const char *dir, const char *name, size_t head,
			   const uint8_t *labels, size_t n, size_t first)
{
	size_t rs = head + PIXELS;
	uint8_t *buf = malloc(n * rs + 1);
	for (size_t i = 0; i < n; i++) {
		memcpy(buf + i * rs, labels + i * head, head);
		for (size_t p = 0; p < PIXELS; p++)
			buf[i * rs + head + p] = pixel(first + i, p);
	}
	mkdir(dir, 0777);
	char *path = testutil_write(dir, name, buf, n * rs);
	free(buf);
	return path;
}

/* CIFAR-10 in dir: batch k holds labels k, k + 5 (records 2k, 2k + 1); the test batch 0..9. */
static void write_cifar10(const char *dir)
{
	for (int k = 0; k < 5; k++) {
		char name[32];
		uint8_t labels[2] = { (uint8_t)k, (uint8_t)(k + 5) };
		snprintf(name, sizeof(name), "data_batch_%d.bin", k + 1);
		free(write_records(dir, name, 1, labels, 2, 2 * (size_t)k));
	}
	static const uint8_t test[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	free(write_records(dir, "test_batch.bin", 1, test, 10, 100));
}

static char *in_dir(const char *name)
{
	char *p;
	ck_assert_int_ge(asprintf(&p, "%s/%s", testutil_dir, name), 0);
	return p;
}

/* The files straight in data.dir (0) or in the archive's directory (1); the records of the five
 * batches in order, each one's pixels as written, R, G, B planes in place. */
START_TEST(cifar10_load)
{
	char *dir = _i ? in_dir("cifar-10-batches-bin") : strdup(testutil_dir);
	write_cifar10(dir);
	struct dataset train, test;
	struct error e = { "" };
	ck_assert_msg(dataset_open_cifar(&train, &test, testutil_dir, DATASET_CIFAR10, &e) == 0,
		      "%s", e.msg);
	ck_assert_ptr_null(train.x);
	ck_assert_msg(dataset_read_pixels(&train, &e) == 0 && dataset_read_pixels(&test, &e) == 0,
		      "%s", e.msg);
	ck_assert_uint_eq(train.n, 10);
	ck_assert_uint_eq(test.n, 10);
	ck_assert_uint_eq(train.dim, PIXELS);
	ck_assert(train.channels == 3 && train.rows == 32 && train.cols == 32);
	ck_assert_int_eq(train.num_classes, 10);
	ck_assert_int_eq(test.num_classes, 10);
	for (size_t i = 0; i < 10; i++) {
		ck_assert_uint_eq(train.y[i], i / 2 + (i % 2) * 5);
		ck_assert_uint_eq(test.y[i], i);
		for (size_t p = 0; p < PIXELS; p++) {
			ck_assert_uint_eq(train.x[i * PIXELS + p], pixel(i, p));
			ck_assert_uint_eq(test.x[i * PIXELS + p], pixel(100 + i, p));
		}
	}
	/* The green plane's first pixel of record 0: 100, after 1024 red ones. */
	ck_assert_uint_eq(train.x[PLANE], 100);
	dataset_free(&train);
	dataset_free(&test);
	free(dir);
}
END_TEST

/* CIFAR-100's records: coarse, fine; fine labels by default, coarse on request. */
START_TEST(cifar100_labels)
{
	char *dir = in_dir("cifar-100-binary");
	static const uint8_t train_labels[] = { 3, 17, 19, 99, 0, 0 }, test_labels[] = { 4, 20 };
	free(write_records(dir, "train.bin", 2, train_labels, 3, 0));
	free(write_records(dir, "test.bin", 2, test_labels, 1, 3));
	struct dataset train, test;
	struct error e = { "" };
	ck_assert_msg(dataset_open_cifar(&train, &test, testutil_dir, DATASET_CIFAR100_FINE,
					 &e) == 0, "%s", e.msg);
	ck_assert_int_eq(train.num_classes, 100);
	ck_assert(train.y[0] == 17 && train.y[1] == 99 && train.y[2] == 0 && test.y[0] == 20);
	ck_assert_int_eq(dataset_read_pixels(&train, &e), 0);
	ck_assert_uint_eq(train.x[2 * PIXELS + 5], pixel(2, 5));
	dataset_free(&train);
	dataset_free(&test);
	ck_assert_int_eq(dataset_open_cifar(&train, &test, testutil_dir, DATASET_CIFAR100_COARSE,
					    &e), 0);
	ck_assert_int_eq(train.num_classes, 20);
	ck_assert(train.y[0] == 3 && train.y[1] == 19 && train.y[2] == 0 && test.y[0] == 4);
	dataset_free(&train);
	dataset_free(&test);
	free(dir);
}
END_TEST

/* Each refusal names the file and the cause, and leaves nothing allocated. */
START_TEST(cifar_refused)
{
	write_cifar10(testutil_dir);
	char *batch = in_dir("data_batch_2.bin"), *test_batch = in_dir("test_batch.bin");
	const char *want = NULL;
	FILE *f;
	switch (_i) {
	case 0: /* not a whole number of records */
		f = fopen(batch, "ab");
		fputc(0, f);
		fclose(f);
		want = "6147 bytes is not a whole number of CIFAR-10 records of 3073 bytes";
		break;
	case 1: /* truncated in a record */
		ck_assert_int_eq(truncate(batch, 3073 + 100), 0);
		want = "3173 bytes is not a whole number";
		break;
	case 2:
		ck_assert_int_eq(truncate(batch, 0), 0);
		want = "empty";
		break;
	case 3: /* label 10 of record 1 */
		f = fopen(batch, "r+b");
		fseek(f, 3073, SEEK_SET);
		fputc(10, f);
		fclose(f);
		want = "label 10 at index 1 is out of range: CIFAR-10's labels are 0..9";
		break;
	case 4:
		unlink(test_batch);
		want = "test_batch.bin: missing; get CIFAR-10's binary version from " URL;
		break;
	case 5:
		unlink(test_batch);
		ck_assert_int_eq(mkfifo(test_batch, 0600), 0);
		want = "a FIFO, not a regular file";
		break;
	case 6: /* the first file, the one that says where the files are */
		free(test_batch);
		test_batch = in_dir("data_batch_1.bin");
		unlink(test_batch);
		want = "no CIFAR-10 files (data_batch_1.bin, or "
		       "cifar-10-batches-bin/data_batch_1.bin); get the binary version from " URL;
		break;
	}
	struct dataset train, test;
	struct error e = { "" };
	int rc = dataset_open_cifar(&train, &test, testutil_dir, DATASET_CIFAR10, &e);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(e.msg, want), "%s", e.msg);
	ck_assert_msg(_i == 6 || strstr(e.msg, _i >= 4 ? "test_batch.bin" : "data_batch_2.bin"),
		      "%s", e.msg);
	ck_assert(!train.y && !test.y && !train.files[0]);
	free(batch);
	free(test_batch);
}
END_TEST

/* A file cut short or rewritten between the labels and the pixels is caught then. */
START_TEST(cifar_changed_while_read)
{
	write_cifar10(testutil_dir);
	char *batch = in_dir("data_batch_3.bin");
	struct dataset train, test;
	struct error e = { "" };
	ck_assert_int_eq(dataset_open_cifar(&train, &test, testutil_dir, DATASET_CIFAR10, &e), 0);
	if (_i == 0) {
		ck_assert_int_eq(truncate(batch, 3073), 0);
	} else {
		FILE *f = fopen(batch, "r+b");
		fputc(9, f);
		fclose(f);
	}
	ck_assert_int_eq(dataset_read_pixels(&train, &e), -1);
	ck_assert_msg(strstr(e.msg, "data_batch_3.bin: changed while it was read"), "%s", e.msg);
	ck_assert_ptr_null(train.x);
	dataset_free(&train);
	dataset_free(&test);
	free(batch);
}
END_TEST

/* A 3-channel task of 1 x 2 images: its list and dataset just enough for the conversions. */
static const struct dataset rgb = { .n = 1, .dim = 6, .channels = 3, .rows = 1, .cols = 2,
				    .num_classes = 1 };

static void rgb_tasks(struct task_list *tl, struct task *t)
{
	memset(tl, 0, sizeof(*tl));
	*t = (struct task){ .channels = 3, .rows = 1, .cols = 2 };
	tl->count = 1;
	tl->train = tl->test = &rgb;
	tl->dim = 6;
	tl->t[0] = *t;
}

/* (p / 255 - mean) / std per channel: exact where the arithmetic is (0 and 255 with these
 * means and deviations), within a float's rounding of each step elsewhere. */
START_TEST(normalise_per_channel)
{
	static const uint8_t px[6] = { 0, 255, 0, 255, 51, 102 };
	static const double mean[3] = { 0.5, 0.25, 0.0 }, std[3] = { 0.25, 0.5, 2.0 };
	const float want[6] = { -2.0f, 2.0f, -0.5f, 1.5f, 0.1f, 0.2f };
	struct task_list tl;
	struct task t;
	struct error e;
	float x[6];
	rgb_tasks(&tl, &t);
	ck_assert_int_eq(tasks_normalise(&tl, mean, std, &e), 0);
	tasks_convert(&tl.t[0], px, 1, 6, x);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(x[i] == want[i], "x[%d] = %.9g, not %g", i, x[i], want[i]);
	for (int i = 4; i < 6; i++)
		ck_assert_msg(fabsf(x[i] - want[i]) <= 4 * 1.2e-7f * want[i], "x[%d] = %.9g", i,
			      x[i]);
	/* Mean 0, deviation 1: exactly the plain conversion, p / 255. */
	static const double zero[3] = { 0, 0, 0 }, one[3] = { 1, 1, 1 };
	float plain[6];
	ck_assert_int_eq(tasks_normalise(&tl, zero, one, &e), 0);
	tasks_convert(&tl.t[0], px, 1, 6, x);
	tl.t[0].lut = NULL;
	tasks_convert(&tl.t[0], px, 1, 6, plain);
	ck_assert(!memcmp(x, plain, sizeof(x)));
	tasks_free(&tl);
}
END_TEST

/* One channel of 3 x 3, pixels 1..9, padded by 1, the crop's corner at row 0, column 2,
 * flipped: worked out by hand. */
START_TEST(augment_crop_flip)
{
	static const uint8_t px[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	/* Rows 0..2, columns 2..4 of the image padded to 5 x 5: row 0 is the top border, rows
	 * 1 and 2 hold the image's rows 0 and 1, columns 2 and 3 its columns 1 and 2, column 4
	 * the right border. */
	static const uint8_t cropped[9] = { 0, 0, 0, 2, 3, 0, 5, 6, 0 };
	static const uint8_t flipped[9] = { 0, 0, 0, 0, 3, 2, 0, 6, 5 };
	struct task t = { .channels = 1, .rows = 3, .cols = 3 };
	struct tasks_augment a = { .pad = 1, .top = 0, .left = 2, .flip = 0 };
	float x[9];
	tasks_convert_augmented(&t, px, &a, x);
	for (int i = 0; i < 9; i++)
		ck_assert_msg(x[i] == cropped[i] / 255.0f, "crop x[%d] = %g", i, x[i] * 255);
	a.flip = 1;
	tasks_convert_augmented(&t, px, &a, x);
	for (int i = 0; i < 9; i++)
		ck_assert_msg(x[i] == flipped[i] / 255.0f, "flip x[%d] = %g", i, x[i] * 255);
	/* The centre, unflipped, is the image itself. */
	a = (struct tasks_augment){ .pad = 1, .top = 1, .left = 1 };
	tasks_convert_augmented(&t, px, &a, x);
	for (int i = 0; i < 9; i++)
		ck_assert(x[i] == px[i] / 255.0f);
	/* A permutation applies to the augmented image. */
	uint32_t perm[9] = { 8, 7, 6, 5, 4, 3, 2, 1, 0 };
	t.perm = perm;
	a = (struct tasks_augment){ .pad = 1, .top = 0, .left = 2, .flip = 1 };
	tasks_convert_augmented(&t, px, &a, x);
	for (int i = 0; i < 9; i++)
		ck_assert(x[i] == flipped[8 - i] / 255.0f);
}
END_TEST

/* The draws: top, left in 0..2 pad, then the flip; the same stream gives the same draws; no
 * augmentation draws nothing; flips come about half the time. */
START_TEST(augment_draws)
{
	struct rng r, s;
	struct tasks_augment a, b;
	rng_seed(&r, 7, 2);
	rng_seed(&s, 7, 2);
	size_t flips = 0, corners[5] = { 0 };
	for (int i = 0; i < 2000; i++) {
		tasks_augment_draw(&r, 2, 1, &a);
		tasks_augment_draw(&s, 2, 1, &b);
		ck_assert(!memcmp(&a, &b, sizeof(a)));
		ck_assert(a.top <= 4 && a.left <= 4 && a.pad == 2);
		flips += (size_t)a.flip;
		corners[a.top]++;
	}
	ck_assert_msg(flips > 850 && flips < 1150, "%zu flips in 2000", flips);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_gt(corners[i], 300);
	tasks_augment_draw(&r, 0, 0, &a);
	ck_assert(!memcmp(&r, &s, sizeof(r)));
	ck_assert(a.top == 0 && a.left == 0 && !a.flip);

	/* tasks_convert_train without augmentation: tasks_convert, the stream left alone. */
	struct task_list tl;
	struct task t;
	static const uint8_t px[6] = { 1, 2, 3, 4, 5, 6 };
	float x[6], y[6];
	rgb_tasks(&tl, &t);
	tasks_convert_train(&tl, 0, px, &r, x);
	tasks_convert(&tl.t[0], px, 1, 6, y);
	ck_assert(!memcmp(x, y, sizeof(x)) && !memcmp(&r, &s, sizeof(r)));
	tl.flip = 1;
	tasks_convert_train(&tl, 0, px, &r, x);
	tasks_augment_draw(&s, 0, 1, &a);
	ck_assert(!memcmp(&r, &s, sizeof(r)));
	ck_assert(x[0] == (a.flip ? 2 : 1) / 255.0f);
}
END_TEST

static Suite *cifar_suite(void)
{
	Suite *s = suite_create("cifar");
	TCase *tc = tcase_create("load");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_loop_test(tc, cifar10_load, 0, 2);
	tcase_add_test(tc, cifar100_labels);
	tcase_add_loop_test(tc, cifar_refused, 0, 7);
	tcase_add_loop_test(tc, cifar_changed_while_read, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("transform");
	tcase_add_test(tc, normalise_per_channel);
	tcase_add_test(tc, augment_crop_flip);
	tcase_add_test(tc, augment_draws);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(cifar_suite());
}
