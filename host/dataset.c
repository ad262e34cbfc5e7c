#include "dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <zlib.h>

#define IDX_SAMPLES_MAX (1u << 28)
#define IDX_VALUES_MAX (1u << 20)
/* Buffers grow with the data actually read, so a lying header cannot make us allocate more
 * than the file holds. */
#define IDX_CHUNK (1u << 20)

struct idx_kind {
	uint32_t magic; /* unsigned byte data; the low byte is the number of dimensions */
	const char *name;
	const char *what;
	const char *dims[3];
};

static const struct idx_kind idx_images = {
	0x00000803, "idx3 image", "pixels", { "images", "rows", "columns" }
};
static const struct idx_kind idx_labels = { 0x00000801, "idx1 label", "labels", { "labels" } };

/* zlib's messages start with the path it was opened with; ours already name it. */
static const char *gz_reason(gzFile gz, const char *path)
{
	int err;
	const char *msg = gzerror(gz, &err);
	size_t len = strlen(path);

	if (strncmp(msg, path, len) == 0 && strncmp(msg + len, ": ", 2) == 0)
		msg += len + 2;
	return msg;
}

/* Reads up to size bytes; returns how many, or -1 on a read or gzip error. */
static ssize_t gz_fill(gzFile gz, uint8_t *buf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		size_t want = size - got;
		int r = gzread(gz, buf + got, want > INT_MAX ? INT_MAX : (unsigned)want);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads and checks the header: dims gets the dimensions, size the bytes of data they claim. */
static int idx_header(gzFile gz, const char *path, const struct idx_kind *k, uint32_t *dims,
		      size_t *size, struct error *e)
{
	uint8_t head[4 + 4 * 3];
	size_t ndims = k->magic & 0xff;
	size_t head_size = 4 + 4 * ndims;
	ssize_t got = gz_fill(gz, head, head_size);

	if (got < 0)
		return error_set(e, "%s: corrupt or unreadable: %s", path, gz_reason(gz, path));
	if (got >= 4 && be32(head) != k->magic)
		return error_set(e, "%s: not an %s file (magic 0x%08x, expected 0x%08x)", path,
				 k->name, be32(head), k->magic);
	if ((size_t)got < head_size)
		return error_set(e, "%s: truncated: expected a %zu-byte header, found %zd bytes",
				 path, head_size, got);

	uint64_t values = 1;
	for (size_t i = 0; i < ndims; i++) {
		dims[i] = be32(head + 4 + 4 * i);
		if (dims[i] == 0)
			return error_set(e, "%s: the header says 0 %s", path, k->dims[i]);
		if (i > 0)
			values *= dims[i];
	}
	if (dims[0] > IDX_SAMPLES_MAX)
		return error_set(e, "%s: %u samples is too many (at most %u)", path, dims[0],
				 IDX_SAMPLES_MAX);
	if (values > IDX_VALUES_MAX)
		return error_set(e, "%s: %llu values per sample is too many (at most %u)", path,
				 (unsigned long long)values, IDX_VALUES_MAX);
	*size = (size_t)dims[0] * values;
	return 0;
}

static int idx_body(gzFile gz, const char *path, const struct idx_kind *k, size_t size,
		    uint8_t **out, struct error *e)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	while (len < size) {
		if (len == cap) {
			cap = cap ? cap * 2 : IDX_CHUNK;
			if (cap > size)
				cap = size;
			uint8_t *grown = realloc(buf, cap);
			if (!grown) {
				free(buf);
				return error_set(e, "%s: out of memory for %zu bytes", path, cap);
			}
			buf = grown;
		}
		ssize_t got = gz_fill(gz, buf + len, cap - len);
		if (got < 0)
			goto corrupt;
		len += (size_t)got;
		if (len < cap)
			break;
	}
	if (len < size) {
		free(buf);
		return error_set(e, "%s: truncated: expected %zu bytes of %s, found %zu", path,
				 size, k->what, len);
	}

	uint8_t extra;
	ssize_t more = gz_fill(gz, &extra, 1);
	if (more < 0)
		goto corrupt;
	if (more > 0) {
		free(buf);
		return error_set(e, "%s: longer than its header says (%zu bytes of %s)", path,
				 size, k->what);
	}
	/* A gzip stream cut short reads as a clean end of file; zlib only notes it. */
	int err;
	gzerror(gz, &err);
	if (err != Z_OK)
		goto corrupt;
	*out = buf;
	return 0;

corrupt:
	free(buf);
	return error_set(e, "%s: corrupt or unreadable: %s", path, gz_reason(gz, path));
}

/* Reads a whole idx file of the given kind: dims gets its dimensions, data its bytes. */
static int idx_read(const char *path, const struct idx_kind *k, uint32_t *dims, uint8_t **data,
		    struct error *e)
{
	errno = 0;
	gzFile gz = gzopen(path, "rb");
	if (!gz)
		return error_set(e, "%s: %s", path, errno ? strerror(errno) : "out of memory");
	gzbuffer(gz, 1u << 17);

	size_t size = 0;
	int rc = idx_header(gz, path, k, dims, &size, e);
	if (rc == 0)
		rc = idx_body(gz, path, k, size, data, e);
	gzclose(gz);
	return rc;
}

int dataset_load_idx(struct dataset *d, const char *images_path, const char *labels_path,
		     struct error *e)
{
	uint32_t img[3], lab[1];

	memset(d, 0, sizeof(*d));
	if (idx_read(images_path, &idx_images, img, &d->x, e) < 0)
		return -1;
	if (idx_read(labels_path, &idx_labels, lab, &d->y, e) < 0) {
		dataset_free(d);
		return -1;
	}
	if (img[0] != lab[0]) {
		dataset_free(d);
		return error_set(e, "%s holds %u images but %s holds %u labels", images_path,
				 img[0], labels_path, lab[0]);
	}

	d->n = img[0];
	d->dim = (size_t)img[1] * img[2];
	int max = 0;
	for (size_t i = 0; i < d->n; i++)
		if (d->y[i] > max)
			max = d->y[i];
	d->num_classes = max + 1;
	return 0;
}

/* dir/NAME.gz if it exists, else dir/NAME; the install hint if neither does. */
static int dir_find(char *path, size_t size, const char *dir, const char *name,
		    struct error *e)
{
	static const char *const suffixes[] = { ".gz", "" };
	struct stat st;

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		int len = snprintf(path, size, "%s/%s%s", dir, name, suffixes[i]);
		if (len < 0 || (size_t)len >= size)
			return error_set(e, "%s: path too long", dir);
		if (stat(path, &st) == 0)
			return 0;
	}
	return error_set(e, "%s: no Fashion-MNIST files (%s[.gz]); install them with: "
			 "apt-get install dataset-fashion-mnist", dir, name);
}

static int dir_load_split(struct dataset *d, const char *dir, const char *images,
			  const char *labels, struct error *e)
{
	char ipath[PATH_MAX], lpath[PATH_MAX];

	memset(d, 0, sizeof(*d));
	if (dir_find(ipath, sizeof(ipath), dir, images, e) < 0 ||
	    dir_find(lpath, sizeof(lpath), dir, labels, e) < 0)
		return -1;
	return dataset_load_idx(d, ipath, lpath, e);
}

int dataset_load_dir(struct dataset *train, struct dataset *test, const char *dir,
		     struct error *e)
{
	memset(test, 0, sizeof(*test));
	if (dir_load_split(train, dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
			   e) < 0)
		return -1;
	if (dir_load_split(test, dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
			   e) < 0) {
		dataset_free(train);
		return -1;
	}
	if (train->dim != test->dim) {
		error_set(e, "%s: train samples have %zu values but test samples %zu", dir,
			  train->dim, test->dim);
		dataset_free(train);
		dataset_free(test);
		return -1;
	}
	/* One label space for both splits: a test label must never fall outside the model. */
	int classes = train->num_classes > test->num_classes ? train->num_classes :
								 test->num_classes;
	train->num_classes = test->num_classes = classes;
	return 0;
}

void dataset_free(struct dataset *d)
{
	free(d->x);
	free(d->y);
	memset(d, 0, sizeof(*d));
}
