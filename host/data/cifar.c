/* The CIFAR-10 and CIFAR-100 binary distributions (https://www.cs.toronto.edu/~kriz/cifar.html):
 * files of fixed-size records, each its label bytes then 3072 pixel bytes, the 32 x 32 red plane,
 * then green, then blue, each row-major: the C x H x W layout a sample keeps, copied as it is.
 * The labels are read first, the pixels later, each file in whole records through one small
 * buffer, never more than the size it had when it was opened. */
#define _GNU_SOURCE
#include "data/dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset_impl.h"
#include "util/files.h"

#define CIFAR_CHANNELS 3
#define CIFAR_SIDE 32
#define CIFAR_PIXELS (CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_URL "https://www.cs.toronto.edu/~kriz/cifar.html"
/* Records read at a time: 192 KiB, whatever the file's size. */
#define CHUNK_RECORDS 64
/* Positions in a split are 32-bit. */
#define SPLIT_RECORDS_MAX ((size_t)UINT32_MAX)

struct cifar_format {
	const char *name;    /* as its authors write it */
	const char *subdir;  /* where its archive unpacks */
	const char *archive; /* the binary version's file */
	const char *train[DATASET_FILES_MAX];
	size_t num_train;
	const char *test;
	size_t head;	     /* label bytes before a record's pixels */
	size_t label;	     /* the one that is the sample's */
	int classes[2];	     /* each label byte's range */
	const char *kind[2]; /* each label byte's name in messages */
};

static const struct cifar_format cifar10 = {
	"CIFAR-10", "cifar-10-batches-bin", "cifar-10-binary.tar.gz",
	{ "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
	  "data_batch_5.bin" }, 5, "test_batch.bin", 1, 0, { 10 }, { "label" },
};

/* A record: coarse label, fine label, pixels. */
static const struct cifar_format cifar100_fine = {
	"CIFAR-100", "cifar-100-binary", "cifar-100-binary.tar.gz",
	{ "train.bin" }, 1, "test.bin", 2, 1, { 20, 100 }, { "coarse label", "fine label" },
};

static const struct cifar_format cifar100_coarse = {
	"CIFAR-100", "cifar-100-binary", "cifar-100-binary.tar.gz",
	{ "train.bin" }, 1, "test.bin", 2, 0, { 20, 100 }, { "coarse label", "fine label" },
};

static const struct cifar_format *format_of(enum dataset_cifar c)
{
	return c == DATASET_CIFAR10 ? &cifar10 : c == DATASET_CIFAR100_FINE ? &cifar100_fine
									   : &cifar100_coarse;
}

static size_t record_size(const struct cifar_format *f)
{
	return f->head + CIFAR_PIXELS;
}

/* Where to get the files, on the one line of a message. */
static int cifar_missing(const struct cifar_format *f, const char *dir, const char *what,
			 struct error *e)
{
	return error_set(e, "%s: no %s files (%s); get the binary version from %s and unpack it "
			 "there: mkdir -p %s && tar xzf %s -C %s", dir, f->name, what, CIFAR_URL,
			 dir, f->archive, dir);
}

/* The directory the files are in: dir, or the archive's directory in it. */
static int cifar_find(const struct cifar_format *f, const char *dir, char *base, size_t size,
		      struct error *e)
{
	char path[PATH_MAX], what[PATH_MAX];
	struct stat st;

	if (stat(dir, &st) != 0)
		return errno == ENOENT ? cifar_missing(f, dir, "no such directory", e)
				       : error_set(e, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_set(e, "%s: %s", dir, strerror(ENOTDIR));
	const char *const where[2] = { "", f->subdir };
	for (int i = 0; i < 2; i++) {
		int len = snprintf(base, size, "%s%s%s", dir, *where[i] ? "/" : "", where[i]);
		if (len < 0 || (size_t)len >= size ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", base, f->train[0]) >= sizeof(path))
			return error_set(e, "%s: path too long", dir);
		if (stat(path, &st) == 0)
			return 0;
		if (errno != ENOENT && errno != ENOTDIR)
			return error_set(e, "%s: %s", path, strerror(errno));
	}
	snprintf(what, sizeof(what), "%s, or %s/%s", f->train[0], f->subdir, f->train[0]);
	return cifar_missing(f, dir, what, e);
}

/* Reads up to n bytes; *got says how many came before the file ended. */
static int read_upto(const char *path, int fd, uint8_t *buf, size_t n, size_t *got,
		     struct error *e)
{
	*got = 0;
	while (*got < n) {
		ssize_t r = read(fd, buf + *got, n - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return error_set(e, "%s: unreadable: %s", path, strerror(errno));
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/* One record file: opened (a regular file, of whole records), then read through in chunks. */
struct record_file {
	const char *path;
	const struct cifar_format *f;
	int fd;
	size_t records;
};

/* dir, when not NULL, is where the user keeps the files: a missing one says how to get it. */
static int record_open(struct record_file *rf, const struct cifar_format *f, const char *path,
		       const char *dir, struct error *e)
{
	struct stat st;
	size_t rs = record_size(f);

	rf->path = path;
	rf->f = f;
	rf->fd = files_open_regular(path, &st, e);
	if (rf->fd < 0 && errno == ENOENT && dir)
		return error_set(e, "%s: missing; get %s's binary version from %s and unpack it "
				 "there (tar xzf %s -C %s)", path, f->name, CIFAR_URL, f->archive,
				 dir);
	if (rf->fd < 0)
		return -1;
	size_t size = (size_t)st.st_size;
	int rc = 0;
	if (size == 0)
		rc = error_set(e, "%s: empty: a %s file holds records of %zu bytes", path, f->name,
			       rs);
	else if (size % rs)
		rc = error_set(e, "%s: %zu bytes is not a whole number of %s records of %zu bytes "
			       "(truncated?)", path, size, f->name, rs);
	if (rc < 0) {
		close(rf->fd);
		return -1;
	}
	rf->records = size / rs;
	return 0;
}

/* The next chunk of whole records into buf: *n of them, 0 at the end. A file that shrank
 * since it was opened is truncated; one that grew is read no further. */
static int record_chunk(struct record_file *rf, uint8_t *buf, size_t done, size_t *n,
			struct error *e)
{
	size_t rs = record_size(rf->f), want = rf->records - done, got;

	want = want < CHUNK_RECORDS ? want : CHUNK_RECORDS;
	if (read_upto(rf->path, rf->fd, buf, want * rs, &got, e) < 0)
		return -1;
	if (got < want * rs)
		return error_set(e, "%s: truncated: expected %zu bytes, found %zu", rf->path,
				 rf->records * rs, done * rs + got);
	*n = want;
	return 0;
}

/* Checks record i's label bytes, then returns the sample's label. */
static int record_label(const struct record_file *rf, const uint8_t *record, size_t i,
			uint8_t *label, struct error *e)
{
	const struct cifar_format *f = rf->f;
	for (size_t b = 0; b < f->head; b++)
		if (record[b] >= f->classes[b])
			return error_set(e, "%s: %s %u at index %zu is out of range: %s's %ss are "
					 "0..%d", rf->path, f->kind[b], record[b], i, f->name,
					 f->kind[b], f->classes[b] - 1);
	*label = record[f->label];
	return 0;
}

/* A split's files: their labels into d->y (and, when pixels, the pixels into d->x). When d->y
 * holds labels already, they must be the ones read. */
static int split_read(struct dataset *d, const struct cifar_format *f, int pixels,
		      struct error *e)
{
	size_t rs = record_size(f), at = 0;
	uint8_t *buf = malloc(CHUNK_RECORDS * rs);
	int rc = buf ? 0 : error_set(e, "%s: out of memory", d->files[0]);

	for (size_t k = 0; k < DATASET_FILES_MAX && d->files[k] && rc == 0; k++) {
		struct record_file rf;
		if (record_open(&rf, f, d->files[k], NULL, e) < 0) {
			rc = -1;
			break;
		}
		if (pixels && rf.records != d->file_records[k])
			rc = error_set(e, "%s: changed while it was read: %zu records, %zu before",
				       rf.path, rf.records, d->file_records[k]);
		for (size_t done = 0, n = 0; rc == 0 && done < rf.records; done += n) {
			rc = record_chunk(&rf, buf, done, &n, e);
			for (size_t i = 0; rc == 0 && i < n; i++, at++) {
				const uint8_t *record = buf + i * rs;
				uint8_t label = 0;
				if (record_label(&rf, record, done + i, &label, e) < 0)
					rc = -1;
				else if (!pixels)
					d->y[at] = label;
				else if (label != d->y[at])
					rc = error_set(e, "%s: changed while it was read: the label "
						       "at index %zu", rf.path, done + i);
				else
					memcpy(d->x + at * CIFAR_PIXELS, record + f->head,
					       CIFAR_PIXELS);
			}
		}
		close(rf.fd);
	}
	free(buf);
	return rc;
}

/* A split's files, counted, and their labels. */
static int split_open(struct dataset *d, const struct cifar_format *f, enum dataset_cifar c,
		      const char *dir, const char *base, const char *const *names, size_t count,
		      struct error *e)
{
	d->cifar = c;
	d->channels = CIFAR_CHANNELS;
	d->rows = d->cols = CIFAR_SIDE;
	d->dim = CIFAR_PIXELS;
	d->num_classes = f->classes[f->label];
	d->reading = CHUNK_RECORDS * record_size(f);
	for (size_t k = 0; k < count; k++) {
		struct record_file rf;
		if (asprintf(&d->files[k], "%s/%s", base, names[k]) < 0) {
			d->files[k] = NULL;
			return error_set(e, "%s: out of memory", base);
		}
		if (record_open(&rf, f, d->files[k], dir, e) < 0)
			return -1;
		close(rf.fd);
		if (rf.records > SPLIT_RECORDS_MAX - d->n)
			return error_set(e, "%s: more than %zu records in a split", d->files[k],
					 SPLIT_RECORDS_MAX);
		d->file_records[k] = rf.records;
		d->n += rf.records;
	}
	if (!(d->y = malloc(d->n)))
		return error_set(e, "%s: out of memory for %zu labels", base, d->n);
	return split_read(d, f, 0, e);
}

int dataset_open_cifar(struct dataset *train, struct dataset *test, const char *dir,
		       enum dataset_cifar format, struct error *e)
{
	const struct cifar_format *f = format_of(format);
	char base[PATH_MAX];

	memset(train, 0, sizeof(*train));
	memset(test, 0, sizeof(*test));
	if (cifar_find(f, dir, base, sizeof(base), e) < 0)
		return -1;
	if (split_open(train, f, format, dir, base, f->train, f->num_train, e) < 0 ||
	    split_open(test, f, format, dir, base, &f->test, 1, e) < 0) {
		dataset_free(train);
		dataset_free(test);
		return -1;
	}
	return 0;
}

int dataset_cifar_pixels(struct dataset *d, struct error *e)
{
	if (d->n > SIZE_MAX / CIFAR_PIXELS || !(d->x = malloc(d->n * CIFAR_PIXELS)))
		return error_set(e, "%s: out of memory for the pixels of %zu images", d->files[0],
				 d->n);
	if (split_read(d, format_of(d->cifar), 1, e) < 0) {
		free(d->x);
		d->x = NULL;
		return -1;
	}
	return 0;
}
