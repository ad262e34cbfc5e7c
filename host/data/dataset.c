#include "data/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "data/dataset_impl.h"
#include "data/gz.h"
#include "util/files.h"

#define IDX_SAMPLES_MAX (1u << 28)
#define IDX_VALUES_MAX (1u << 20)
#define IDX_HEADER_MAX 16
/* The bytes of a gzip file read to find its idx header: far more than any encoder's first
 * block needs; a file whose header lies further is read whole. */
#define PROBE_BYTES (1u << 16)
/* Deflate spends at least 2 bits on a 258-byte match, so gzip data cannot inflate to more than
 * 1032 times its size (the slack covers a small file's headers and trailers): a header that
 * announces more is a truncated file, found so before anything is inflated. */
#define GZ_RATIO_MAX 1032
#define GZ_SLACK (1u << 16)

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

/* An idx file as its header describes it. Buffers follow what the header announces, checked
 * against the file's size first, so a lying header makes us read or inflate no more than the
 * file holds, and a file holding more is refused without inflating the rest. */
struct idx_file {
	const char *path;
	const struct idx_kind *k;
	uint32_t dims[3];
	size_t head, size; /* the header's bytes, and the data's it announces */
	int gz;		   /* gzip-compressed */
	size_t file_size;  /* as it was probed */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* path opened for reading, a regular file: *fd and *size. */
static int file_open(const char *path, int *fd, size_t *size, struct error *e)
{
	struct stat st;
	*fd = files_open_regular(path, &st, e);
	if (*fd < 0)
		return -1;
	*size = (size_t)st.st_size;
	return 0;
}

/* Reads on into *buf (*len bytes so far) until it holds upto bytes or the file ends. Read, not
 * mapped: a file cut short while mapped would kill the process with SIGBUS. */
static int file_bytes(const char *path, int fd, size_t upto, uint8_t **buf, size_t *len,
		      struct error *e)
{
	uint8_t *grown = realloc(*buf, upto ? upto : 1);

	if (!grown)
		return error_set(e, "%s: out of memory for %zu bytes", path, upto);
	*buf = grown;
	while (*len < upto) {
		ssize_t r = read(fd, *buf + *len, upto - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return error_set(e, "%s: corrupt or unreadable: %s", path, strerror(errno));
		if (r == 0)
			break;
		*len += (size_t)r;
	}
	return 0;
}

/* Checks the header at the front of the len bytes at buf into f. */
static int idx_parse(struct idx_file *f, const uint8_t *buf, size_t len, struct error *e)
{
	const struct idx_kind *k = f->k;
	size_t ndims = k->magic & 0xff;

	f->head = 4 + 4 * ndims;
	if (len >= 4 && be32(buf) != k->magic)
		return error_set(e, "%s: not an %s file (magic 0x%08x, expected 0x%08x)", f->path,
				 k->name, be32(buf), k->magic);
	if (len < f->head)
		return error_set(e, "%s: truncated: expected a %zu-byte header, found %zu bytes",
				 f->path, f->head, len);

	uint64_t values = 1;
	for (size_t i = 0; i < ndims; i++) {
		f->dims[i] = be32(buf + 4 + 4 * i);
		if (f->dims[i] == 0)
			return error_set(e, "%s: the header says 0 %s", f->path, k->dims[i]);
		if (i > 0)
			values *= f->dims[i];
	}
	if (f->dims[0] > IDX_SAMPLES_MAX)
		return error_set(e, "%s: %u samples is too many (at most %u)", f->path, f->dims[0],
				 IDX_SAMPLES_MAX);
	if (values > IDX_VALUES_MAX)
		return error_set(e, "%s: %llu values per sample is too many (at most %u)", f->path,
				 (unsigned long long)values, IDX_VALUES_MAX);
	f->size = (size_t)f->dims[0] * values;
	return 0;
}

/* Reads the header of path, a file of kind k, into f: the first bytes of a plain file, or what
 * the start of a gzip file inflates to (nothing more is inflated). */
static int idx_probe(struct idx_file *f, const struct idx_kind *k, const char *path,
		     struct error *e)
{
	uint8_t header[IDX_HEADER_MAX], *buf = NULL;
	size_t size, len = 0, got = 0, want = 4 + 4 * (size_t)(k->magic & 0xff);
	int fd;

	memset(f, 0, sizeof(*f));
	f->path = path;
	f->k = k;
	if (file_open(path, &fd, &size, e) < 0)
		return -1;
	f->file_size = size;
	int rc = file_bytes(path, fd, size < PROBE_BYTES ? size : PROBE_BYTES, &buf, &len, e);
	f->gz = rc == 0 && gz_is(buf, len);
	if (f->gz) {
		rc = gz_head(path, buf, len, len < size, header, want, &got, e);
		if (rc == 1 && (rc = file_bytes(path, fd, size, &buf, &len, e)) == 0)
			rc = gz_head(path, buf, len, 0, header, want, &got, e);
	} else if (rc == 0) {
		got = len < want ? len : want;
		memcpy(header, buf, got);
	}
	close(fd);
	free(buf);
	return rc < 0 ? -1 : idx_parse(f, header, got, e);
}

static int idx_longer(const struct idx_file *f, struct error *e)
{
	return error_set(e, "%s: longer than its header says (%zu bytes of %s)", f->path, f->size,
			 f->k->what);
}

/* The have bytes after the header must be the size bytes it claims, no fewer and no more. */
static int idx_body(const struct idx_file *f, size_t have, struct error *e)
{
	if (have < f->size)
		return error_set(e, "%s: truncated: expected %zu bytes of %s, found %zu", f->path,
				 f->size, f->k->what, have);
	return have > f->size ? idx_longer(f, e) : 0;
}

/* The whole file f was probed from, header and data, no more than the header announces:
 * *buf and *len. */
static int idx_bytes(const struct idx_file *f, uint8_t **buf, size_t *len, struct error *e)
{
	size_t size, total = f->head + f->size;
	int fd;

	*buf = NULL;
	*len = 0;
	if (file_open(f->path, &fd, &size, e) < 0)
		return -1;
	int rc = 0;
	if (!f->gz) {
		rc = size > total ? idx_longer(f, e) : file_bytes(f->path, fd, size, buf, len, e);
	} else if (size <= (SIZE_MAX - GZ_SLACK) / GZ_RATIO_MAX &&
		   total > size * GZ_RATIO_MAX + GZ_SLACK) {
		rc = error_set(e, "%s: truncated: its header announces %zu bytes of %s, more than "
			       "its %zu compressed bytes can hold", f->path, f->size, f->k->what,
			       size);
	} else {
		uint8_t *gz = NULL;
		size_t gz_len = 0;
		rc = file_bytes(f->path, fd, size, &gz, &gz_len, e);
		if (rc == 0)
			rc = gz_inflate(f->path, gz, gz_len, total, buf, len, e);
		if (rc == 1)
			rc = idx_longer(f, e);
		free(gz);
	}
	close(fd);
	return rc;
}

/* Reads the data of the file f was probed from: *data gets its bytes. The header must not have
 * changed since. */
static int idx_data(const struct idx_file *f, uint8_t **data, struct error *e)
{
	struct idx_file now = *f;
	uint8_t *buf;
	size_t len;

	if (idx_bytes(f, &buf, &len, e) < 0)
		return -1;
	int rc = idx_parse(&now, buf, len, e);
	if (rc == 0 && memcmp(now.dims, f->dims, sizeof(f->dims)) != 0)
		rc = error_set(e, "%s: its header changed while it was read", f->path);
	if (rc == 0)
		rc = idx_body(f, len - f->head, e);
	if (rc < 0) {
		free(buf);
		return -1;
	}
	/* The data moves over the header, and the file's buffer becomes the data set's: one copy
	 * of the bytes, never two. */
	memmove(buf, buf + f->head, f->size);
	uint8_t *fitted = realloc(buf, f->size);
	*data = fitted ? fitted : buf;
	return 0;
}

/* The headers of a split's two files, whose counts must agree. */
static int split_probe(struct idx_file *img, struct idx_file *lab, const char *images_path,
		       const char *labels_path, struct error *e)
{
	if (idx_probe(img, &idx_images, images_path, e) < 0 ||
	    idx_probe(lab, &idx_labels, labels_path, e) < 0)
		return -1;
	if (img->dims[0] != lab->dims[0])
		return error_set(e, "%s holds %u images but %s holds %u labels", images_path,
				 img->dims[0], labels_path, lab->dims[0]);
	return 0;
}

/* A split's labels and shape, its pixels aside. */
static int split_labels(struct dataset *d, const struct idx_file *img,
			const struct idx_file *lab, struct error *e)
{
	if (idx_data(lab, &d->y, e) < 0)
		return -1;
	d->n = img->dims[0];
	d->channels = 1;
	d->rows = img->dims[1];
	d->cols = img->dims[2];
	d->dim = (size_t)img->dims[1] * img->dims[2];
	int max = 0;
	for (size_t i = 0; i < d->n; i++)
		if (d->y[i] > max)
			max = d->y[i];
	d->num_classes = max + 1;
	return 0;
}

int dataset_load_idx(struct dataset *d, const char *images_path, const char *labels_path,
		     struct error *e)
{
	struct idx_file img, lab;

	memset(d, 0, sizeof(*d));
	if (split_probe(&img, &lab, images_path, labels_path, e) < 0 ||
	    idx_data(&img, &d->x, e) < 0)
		return -1;
	if (split_labels(d, &img, &lab, e) < 0) {
		dataset_free(d);
		return -1;
	}
	return 0;
}

int dataset_read_pixels(struct dataset *d, struct error *e)
{
	struct idx_file img;

	if (d->x)
		return 0;
	if (d->cifar)
		return dataset_cifar_pixels(d, e);
	if (idx_probe(&img, &idx_images, d->images, e) < 0)
		return -1;
	if (img.dims[0] != d->n || img.dims[1] != d->rows || img.dims[2] != d->cols)
		return error_set(e, "%s: its header changed while it was read", d->images);
	if (idx_data(&img, &d->x, e) < 0)
		return -1;
	free(d->images);
	d->images = NULL;
	return 0;
}

/* The four files of a data set directory, train then test. */
static const char *const dir_files[2][2] = {
	{ "train-images-idx3-ubyte", "train-labels-idx1-ubyte" },
	{ "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" },
};

static int dir_missing(const char *dir, const char *name, struct error *e)
{
	return error_set(e, "%s: no Fashion-MNIST files (%s[.gz]); install them with: "
			 "apt-get install dataset-fashion-mnist", dir, name);
}

/* dir/NAME.gz if it exists, else dir/NAME; the install hint if neither does, and the cause
 * when one cannot be reached (a symlink loop, no permission). */
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
		if (errno != ENOENT)
			return error_set(e, "%s: %s", path, strerror(errno));
	}
	return dir_missing(dir, name, e);
}

/* The classes are 0..K-1, K the distinct labels of both splits: a label past them (a stray 255
 * among ten classes) is refused here, naming it, not later as classes the data lacks. */
static int labels_check(const struct dataset *d, const char *const *paths, struct error *e)
{
	uint8_t seen[256] = { 0 };
	int distinct = 0;

	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < d[s].n; i++)
			distinct += !seen[d[s].y[i]]++;
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < d[s].n; i++)
			if (d[s].y[i] >= distinct)
				return error_set(e, "%s: label %u at index %zu is out of range: the "
						 "train and test labels take %d distinct values, so "
						 "they must be 0..%d", paths[s], d[s].y[i], i,
						 distinct, distinct - 1);
	return 0;
}

int dataset_open_dir(struct dataset *train, struct dataset *test, const char *dir,
		     struct error *e)
{
	char paths[2][2][PATH_MAX];
	struct idx_file f[2][2];
	struct dataset d[2];
	struct stat st;

	memset(train, 0, sizeof(*train));
	memset(test, 0, sizeof(*test));
	memset(d, 0, sizeof(d));
	if (stat(dir, &st) != 0)
		return errno == ENOENT ? dir_missing(dir, dir_files[0][0], e)
				       : error_set(e, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_set(e, "%s: %s", dir, strerror(ENOTDIR));
	for (int s = 0; s < 2; s++)
		for (int k = 0; k < 2; k++)
			if (dir_find(paths[s][k], PATH_MAX, dir, dir_files[s][k], e) < 0)
				return -1;
	for (int s = 0; s < 2; s++)
		if (split_probe(&f[s][0], &f[s][1], paths[s][0], paths[s][1], e) < 0)
			return -1;
	if (f[0][0].dims[1] != f[1][0].dims[1] || f[0][0].dims[2] != f[1][0].dims[2])
		return error_set(e, "%s: test images of %ux%u pixels, but the training images (%s) "
				 "are %ux%u", paths[1][0], f[1][0].dims[1], f[1][0].dims[2],
				 paths[0][0], f[0][0].dims[1], f[0][0].dims[2]);
	if (split_labels(&d[0], &f[0][0], &f[0][1], e) < 0)
		return -1;
	const char *labels[2] = { paths[0][1], paths[1][1] };
	int rc = split_labels(&d[1], &f[1][0], &f[1][1], e);
	if (rc == 0)
		rc = labels_check(d, labels, e);
	for (int s = 0; s < 2 && rc == 0; s++) {
		if (!(d[s].images = strdup(paths[s][0])))
			rc = error_set(e, "%s: out of memory", dir);
		d[s].reading = f[s][0].gz ? f[s][0].file_size : 0;
	}
	if (rc < 0) {
		dataset_free(&d[0]);
		dataset_free(&d[1]);
		return -1;
	}
	/* One label space for both splits: a test label must never fall outside the model. */
	int classes = d[0].num_classes > d[1].num_classes ? d[0].num_classes : d[1].num_classes;
	d[0].num_classes = d[1].num_classes = classes;
	*train = d[0];
	*test = d[1];
	return 0;
}

int dataset_load_dir(struct dataset *train, struct dataset *test, const char *dir,
		     struct error *e)
{
	if (dataset_open_dir(train, test, dir, e) < 0)
		return -1;
	if (dataset_read_pixels(train, e) < 0 || dataset_read_pixels(test, e) < 0) {
		dataset_free(train);
		dataset_free(test);
		return -1;
	}
	return 0;
}

void dataset_free(struct dataset *d)
{
	free(d->x);
	free(d->y);
	free(d->images);
	for (size_t i = 0; i < DATASET_FILES_MAX; i++)
		free(d->files[i]);
	memset(d, 0, sizeof(*d));
}
