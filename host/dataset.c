#include "dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <libdeflate.h>

#include "files.h"

#define IDX_SAMPLES_MAX (1u << 28)
#define IDX_VALUES_MAX (1u << 20)

/* Buffers follow the bytes a file holds, so that a lying header cannot make us allocate much
 * more: a plain file is read at its size, and the idx header is checked only once the bytes are
 * in memory. Deflate spends at least 2 bits on a 258-byte match, so gzip data cannot inflate to
 * more than 1032 times its size (the slack covers the few bytes libdeflate reads past the end):
 * an ISIZE claiming more is a lie and gets no such buffer. */
#define GZ_RATIO_MAX 1032
#define GZ_SLACK (1u << 16)
#define GZ_OUT_MIN (1u << 12) /* the first buffer, at least: few retries for a small guess */
#define GZ_HEADER 10
#define GZ_TRAILER 8
/* RFC 1952 header flags; the three high bits are reserved. */
#define GZ_FHCRC 0x02
#define GZ_FEXTRA 0x04
#define GZ_FNAME 0x08
#define GZ_FCOMMENT 0x10
#define GZ_RESERVED 0xe0

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

/* The output of a gzip file: len bytes inflated so far in cap, which may grow up to max. */
struct gz_out {
	uint8_t *buf;
	size_t len, cap, max;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static unsigned le16(const uint8_t *p)
{
	return (unsigned)p[1] << 8 | p[0];
}

/* A gzip file refused; the reasons are zlib's words for the faults zlib also caught. */
static int gz_corrupt(const char *path, const char *reason, struct error *e)
{
	return error_set(e, "%s: corrupt or unreadable: %s", path, reason);
}

/* The length of the member header at p (RFC 1952, 2.3), or 0 with *why set. */
static size_t gz_header(const uint8_t *p, size_t avail, const char **why)
{
	size_t at = GZ_HEADER;

	*why = "unexpected end of file";
	if (avail < at)
		return 0;
	if (p[2] != 8) {
		*why = "unknown compression method";
		return 0;
	}
	unsigned flags = p[3];
	if (flags & GZ_RESERVED) {
		*why = "unknown header flags set";
		return 0;
	}
	if (flags & GZ_FEXTRA) {
		if (avail - at < 2 || avail - at - 2 < le16(p + at))
			return 0;
		at += 2 + le16(p + at);
	}
	for (unsigned flag = GZ_FNAME; flag <= GZ_FCOMMENT; flag <<= 1) {
		if (!(flags & flag))
			continue;
		const uint8_t *nul = memchr(p + at, 0, avail - at);
		if (!nul)
			return 0;
		at = (size_t)(nul - p) + 1;
	}
	if (flags & GZ_FHCRC) {
		if (avail - at < 2)
			return 0;
		if ((libdeflate_crc32(0, p, at) & 0xffff) != le16(p + at)) {
			*why = "header crc mismatch";
			return 0;
		}
		at += 2;
	}
	return at;
}

static int gz_grow(const char *path, struct gz_out *out, size_t cap, struct error *e)
{
	uint8_t *grown = realloc(out->buf, cap);

	if (!grown)
		return error_set(e, "%s: out of memory for %zu bytes", path, cap);
	out->buf = grown;
	out->cap = cap;
	return 0;
}

/* Inflates the deflate data at in onto the end of out; *used gets the input bytes it took and
 * *made the bytes it added. The size is known only once it is done: a buffer too small is
 * doubled and the member inflated again, up to out->max. */
static int gz_inflate(const char *path, struct libdeflate_decompressor *dec, const uint8_t *in,
		      size_t avail, struct gz_out *out, size_t *used, size_t *made, struct error *e)
{
	for (;;) {
		enum libdeflate_result r = libdeflate_deflate_decompress_ex(
			dec, in, avail, out->buf + out->len, out->cap - out->len, used, made);
		if (r == LIBDEFLATE_SUCCESS)
			return 0;
		/* At max the space cannot be short: the data is no deflate stream. */
		if (r != LIBDEFLATE_INSUFFICIENT_SPACE || out->cap == out->max)
			return gz_corrupt(path, "invalid or truncated compressed data", e);
		size_t cap = out->cap > out->max / 2 ? out->max : out->cap * 2;
		if (gz_grow(path, out, cap, e) < 0)
			return -1;
	}
}

/* One gzip member at in: header, deflate data, then the CRC-32 and length of what it held.
 * *used gets its length in the file. */
static int gz_member(const char *path, struct libdeflate_decompressor *dec, const uint8_t *in,
		     size_t avail, struct gz_out *out, size_t *used, struct error *e)
{
	const char *why;
	size_t head = gz_header(in, avail, &why), body, made;

	if (!head)
		return gz_corrupt(path, why, e);
	if (gz_inflate(path, dec, in + head, avail - head, out, &body, &made, e) < 0)
		return -1;
	const uint8_t *tail = in + head + body;
	if (avail - head - body < GZ_TRAILER)
		return gz_corrupt(path, "unexpected end of file", e);
	if (libdeflate_crc32(0, out->buf + out->len, made) != le32(tail))
		return gz_corrupt(path, "incorrect data check", e);
	if ((uint32_t)made != le32(tail + 4))
		return gz_corrupt(path, "incorrect length check", e);
	out->len += made;
	*used = head + body + GZ_TRAILER;
	return 0;
}

/* The first buffer: the last member's ISIZE, which for the usual one-member file under 4 GiB
 * is the whole output; failing that (a lie past max, or several members) a guess that grows. */
static size_t gz_first_cap(const uint8_t *in, size_t size, size_t max)
{
	size_t isize = size >= 4 ? le32(in + size - 4) : 0;
	size_t cap = isize <= max ? isize : 4 * size;

	return cap < GZ_OUT_MIN ? GZ_OUT_MIN : cap > max ? max : cap;
}

/* Inflates a whole gzip file: its members one after another, joined, as zlib did; anything
 * after the last that is not a member is refused, where zlib ignored it. */
static int gz_read(const char *path, const uint8_t *in, size_t size, uint8_t **data,
		   size_t *len, struct error *e)
{
	struct gz_out out = { NULL, 0, 0, SIZE_MAX };

	if (size <= (SIZE_MAX - GZ_SLACK) / GZ_RATIO_MAX)
		out.max = size * GZ_RATIO_MAX + GZ_SLACK;
	struct libdeflate_decompressor *dec = libdeflate_alloc_decompressor();
	if (!dec)
		return error_set(e, "%s: out of memory", path);
	int rc = gz_grow(path, &out, gz_first_cap(in, size, out.max), e);
	for (size_t at = 0, used = 0; rc == 0 && at < size; at += used) {
		if (size - at < 2 || in[at] != 0x1f || in[at + 1] != 0x8b)
			rc = error_set(e, "%s: corrupt or unreadable: trailing data after the "
				       "gzip stream (from byte %zu)", path, at);
		else
			rc = gz_member(path, dec, in + at, size - at, &out, &used, e);
	}
	libdeflate_free_decompressor(dec);
	if (rc < 0) {
		free(out.buf);
		return -1;
	}
	*data = out.buf;
	*len = out.len;
	return 0;
}

/* The file's size bytes, as many as it still holds. Read, not mapped: a file cut short while
 * mapped would kill the process with SIGBUS. */
static int file_bytes(const char *path, int fd, size_t size, uint8_t **data, size_t *len,
		      struct error *e)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t got = 0;

	if (!buf)
		return error_set(e, "%s: out of memory for %zu bytes", path, size);
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return error_set(e, "%s: corrupt or unreadable: %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*data = buf;
	*len = got;
	return 0;
}

/* The file's bytes in memory: inflated if they start with the gzip magic (the compressed bytes
 * freed at once), else as they are (as zlib's transparent mode read them). */
static int file_load(const char *path, uint8_t **data, size_t *len, struct error *e)
{
	struct stat st;
	int fd = files_open_regular(path, &st, e);
	if (fd < 0)
		return -1;
	int rc = file_bytes(path, fd, (size_t)st.st_size, data, len, e);
	close(fd);
	if (rc == 0 && *len >= 2 && (*data)[0] == 0x1f && (*data)[1] == 0x8b) {
		uint8_t *gz = *data;
		rc = gz_read(path, gz, *len, data, len, e);
		free(gz);
	}
	return rc;
}

/* Checks the header at the front of the len bytes at buf: dims gets the dimensions, head the
 * header's length, size the bytes of data they claim. */
static int idx_header(const char *path, const struct idx_kind *k, const uint8_t *buf,
		      size_t len, uint32_t *dims, size_t *head, size_t *size, struct error *e)
{
	size_t ndims = k->magic & 0xff;

	*head = 4 + 4 * ndims;
	if (len >= 4 && be32(buf) != k->magic)
		return error_set(e, "%s: not an %s file (magic 0x%08x, expected 0x%08x)", path,
				 k->name, be32(buf), k->magic);
	if (len < *head)
		return error_set(e, "%s: truncated: expected a %zu-byte header, found %zu bytes",
				 path, *head, len);

	uint64_t values = 1;
	for (size_t i = 0; i < ndims; i++) {
		dims[i] = be32(buf + 4 + 4 * i);
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

/* The have bytes after the header must be the size bytes it claims, no fewer and no more. */
static int idx_body(const char *path, const struct idx_kind *k, size_t have, size_t size,
		    struct error *e)
{
	if (have < size)
		return error_set(e, "%s: truncated: expected %zu bytes of %s, found %zu", path,
				 size, k->what, have);
	if (have > size)
		return error_set(e, "%s: longer than its header says (%zu bytes of %s)", path,
				 size, k->what);
	return 0;
}

/* Reads a whole idx file of the given kind: dims gets its dimensions, data its bytes. */
static int idx_read(const char *path, const struct idx_kind *k, uint32_t *dims, uint8_t **data,
		    struct error *e)
{
	uint8_t *buf = NULL;
	size_t len = 0, head, size = 0;

	if (file_load(path, &buf, &len, e) < 0)
		return -1;
	if (idx_header(path, k, buf, len, dims, &head, &size, e) < 0 ||
	    idx_body(path, k, len - head, size, e) < 0) {
		free(buf);
		return -1;
	}
	/* The data moves over the header, and the file's buffer becomes the data set's: one copy
	 * of the bytes, never two. */
	memmove(buf, buf + head, size);
	uint8_t *fitted = realloc(buf, size);
	*data = fitted ? fitted : buf;
	return 0;
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
