#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <libdeflate.h>

#include "data/dataset.h"
#include "data/gz.h"
#include "data/tasks.h"
#include "testutil.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* The fixture: six 2x3 images of three classes. */
#define FIX_N 6
#define FIX_ROWS 2
#define FIX_COLS 3
#define FIX_DIM (FIX_ROWS * FIX_COLS)

static const uint8_t fix_labels[FIX_N] = { 0, 1, 2, 0, 1, 2 };

static void fix_pixels(uint8_t *p)
{
	for (int i = 0; i < FIX_N * FIX_DIM; i++)
		p[i] = (uint8_t)(i * 7 + 3);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* An idx file in memory: magic, dims, then size bytes of data. */
static uint8_t *idx_build(uint32_t magic, const uint32_t *dims, int ndims, const uint8_t *data,
			  size_t size, size_t *len)
{
	*len = 4 + 4 * (size_t)ndims + size;
	uint8_t *buf = malloc(*len);
	put_be32(buf, magic);
	for (int i = 0; i < ndims; i++)
		put_be32(buf + 4 + 4 * i, dims[i]);
	memcpy(buf + 4 + 4 * ndims, data, size);
	return buf;
}

/* size bytes of data as one gzip member, with no optional header fields; *len gets its size. */
static uint8_t *gz_build(const void *data, size_t size, size_t *len)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
	ck_assert_ptr_nonnull(c);
	size_t cap = libdeflate_gzip_compress_bound(c, size);
	uint8_t *gz = malloc(cap);
	*len = libdeflate_gzip_compress(c, data, size, gz, cap);
	ck_assert_uint_gt(*len, 0);
	libdeflate_free_compressor(c);
	return gz;
}

static char *write_gz(const char *dir, const char *name, const void *data, size_t size)
{
	size_t len;
	uint8_t *gz = gz_build(data, size, &len);
	char *path = testutil_write(dir, name, gz, len);
	free(gz);
	return path;
}

static char *write_file(const char *name, const void *data, size_t size, int gz)
{
	return gz ? write_gz(testutil_dir, name, data, size)
		  : testutil_write(testutil_dir, name, data, size);
}

/* The fixture's image file, n images claimed in the header, with `extra` bytes of data added
 * (negative: cut off). */
static uint8_t *images_build(uint32_t n, long extra, size_t *len)
{
	uint8_t pixels[FIX_N * FIX_DIM + 16] = { 0 };
	uint32_t dims[3] = { n, FIX_ROWS, FIX_COLS };

	fix_pixels(pixels);
	return idx_build(0x803, dims, 3, pixels, (size_t)(FIX_N * FIX_DIM + extra), len);
}

static char *write_images(const char *name, uint32_t n, long extra, int gz)
{
	size_t len;
	uint8_t *buf = images_build(n, extra, &len);
	char *path = write_file(name, buf, len, gz);
	free(buf);
	return path;
}

/* The fixture's image file as one gzip member. */
static uint8_t *gz_images(size_t *len)
{
	size_t size;
	uint8_t *idx = images_build(FIX_N, 0, &size);
	uint8_t *gz = gz_build(idx, size, len);
	free(idx);
	return gz;
}

static char *write_labels(const char *name, uint32_t n, int gz)
{
	uint32_t dims[1] = { n };
	size_t len;
	uint8_t *buf = idx_build(0x801, dims, 1, fix_labels, n, &len);
	char *path = write_file(name, buf, len, gz);
	free(buf);
	return path;
}

/* Asserts that loading fails, leaves d zeroed and says each of the words. */
static void load_fails(const char *images, const char *labels, const char *const *words)
{
	struct dataset d;
	struct error e = { "" };

	ck_assert_int_eq(dataset_load_idx(&d, images, labels, &e), -1);
	ck_assert_ptr_null(d.x);
	ck_assert_ptr_null(d.y);
	ck_assert_uint_eq(d.n, 0);
	for (; *words; words++)
		ck_assert_msg(strstr(e.msg, *words), "message \"%s\" lacks \"%s\"", e.msg, *words);
}

static void check_fixture(const struct dataset *d)
{
	uint8_t pixels[FIX_N * FIX_DIM];

	fix_pixels(pixels);
	ck_assert_uint_eq(d->n, FIX_N);
	ck_assert_uint_eq(d->dim, FIX_DIM);
	ck_assert_mem_eq(d->x, pixels, sizeof(pixels));
	ck_assert_mem_eq(d->y, fix_labels, FIX_N);
}

/* _i = 0: plain files, 1: gzip-compressed. */
START_TEST(idx_load)
{
	char *images = write_images("img", FIX_N, 0, _i);
	char *labels = write_labels("lab", FIX_N, _i);
	struct dataset d;
	struct error e = { "" };

	ck_assert_msg(dataset_load_idx(&d, images, labels, &e) == 0, "%s", e.msg);
	check_fixture(&d);
	ck_assert_int_eq(d.num_classes, 3);
	dataset_free(&d);
	ck_assert_ptr_null(d.x);
	free(images);
	free(labels);
}
END_TEST

START_TEST(idx_bad_magic)
{
	char *labels = write_labels("lab", FIX_N, 0);

	load_fails(labels, labels,
		   (const char *[]){ labels, "not an idx3 image file", "0x00000801", NULL });
	free(labels);
}
END_TEST

START_TEST(idx_bad_label_magic)
{
	char *images = write_images("img", FIX_N, 0, 0);

	load_fails(images, images,
		   (const char *[]){ images, "not an idx1 label file", "0x00000803", NULL });
	free(images);
}
END_TEST

START_TEST(idx_truncated)
{
	char *images = write_images("img", FIX_N, -5, _i);
	char *labels = write_labels("lab", FIX_N, 0);

	load_fails(images, labels,
		   (const char *[]){ images, "truncated: expected 36 bytes of pixels, found 31",
				     NULL });
	free(images);
	free(labels);
}
END_TEST

START_TEST(idx_truncated_header)
{
	uint8_t head[10] = { 0, 0, 8, 3, 0, 0, 0, 6, 0, 0 };
	char *images = testutil_write(testutil_dir, "img", head, sizeof(head));
	char *labels = write_labels("lab", FIX_N, 0);

	load_fails(images, labels, (const char *[]){ images, "truncated", "header", NULL });
	free(images);
	free(labels);
}
END_TEST

START_TEST(idx_empty_file)
{
	char *images = testutil_write(testutil_dir, "img", "", 0);
	char *labels = write_labels("lab", FIX_N, 0);

	load_fails(images, labels, (const char *[]){ images, "truncated", "found 0", NULL });
	free(images);
	free(labels);
}
END_TEST

START_TEST(idx_trailing)
{
	char *images = write_images("img", FIX_N, 3, _i);
	char *labels = write_labels("lab", FIX_N, 0);

	load_fails(images, labels, (const char *[]){ images, "longer than its header says",
						     NULL });
	free(images);
	free(labels);
}
END_TEST

START_TEST(idx_count_mismatch)
{
	char *images = write_images("img", FIX_N, 0, 0);
	char *labels = write_labels("lab", FIX_N - 1, 0);

	load_fails(images, labels,
		   (const char *[]){ images, labels, "6 images", "5 labels", NULL });
	free(images);
	free(labels);
}
END_TEST

START_TEST(idx_zero_dims)
{
	static const uint32_t bad[][3] = { { 0, 2, 3 }, { 6, 0, 3 }, { 6, 2, 0 } };
	static const char *const why[] = { "says 0 images", "says 0 rows", "says 0 columns" };
	size_t len;
	uint8_t *buf = idx_build(0x803, bad[_i], 3, (const uint8_t *)"", 0, &len);
	char *images = testutil_write(testutil_dir, "img", buf, len);
	char *labels = write_labels("lab", FIX_N, 0);

	load_fails(images, labels, (const char *[]){ images, why[_i], NULL });
	free(buf);
	free(images);
	free(labels);
}
END_TEST

START_TEST(idx_too_large)
{
	static const uint32_t bad[][3] = { { 6, 2048, 1024 }, { (1u << 28) + 1, 1, 1 } };
	static const char *const why[] = { "2097152 values per sample is too many",
					   "268435457 samples is too many" };
	size_t len;
	uint8_t *buf = idx_build(0x803, bad[_i], 3, (const uint8_t *)"", 0, &len);
	char *images = testutil_write(testutil_dir, "img", buf, len);
	char *labels = write_labels("lab", FIX_N, 0);

	load_fails(images, labels, (const char *[]){ images, why[_i], NULL });
	free(buf);
	free(images);
	free(labels);
}
END_TEST

/* A header that claims far more than the file holds must fail cleanly, not allocate it: a
 * plain file is read at its size, and a gzip file announcing more than its bytes can inflate
 * to is refused before anything is inflated. _i = 0: plain, 1: gzip. */
START_TEST(idx_huge_claim)
{
	uint32_t dims[3] = { 1u << 28, 1024, 1024 };
	size_t len;
	uint8_t *buf = idx_build(0x803, dims, 3, (const uint8_t *)"abc", 3, &len);
	char *images = write_file(_i ? "img.gz" : "img", buf, len, _i);
	uint8_t *lab = idx_build(0x801, dims, 1, fix_labels, FIX_N, &len);
	char *labels = testutil_write(testutil_dir, "lab", lab, len);

	if (_i)
		load_fails(images, labels, (const char *[]){ images, "truncated", "announces "
			   "281474976710656 bytes of pixels, more than its", NULL });
	else
		load_fails(images, labels, (const char *[]){ images, "truncated", "found 3", NULL });
	free(buf);
	free(lab);
	free(images);
	free(labels);
}
END_TEST

/* Breaks a valid .gz image file: its CRC, its compression method, or its end. */
START_TEST(idx_corrupt_gz)
{
	static const char *const why[] = { "incorrect data check", "unknown compression method",
					   "unexpected end of file" };
	char *images = write_images("img.gz", FIX_N, 0, 1);
	char *labels = write_labels("lab", FIX_N, 0);
	size_t size;
	char *gz = testutil_read(images, &size);

	ck_assert_uint_gt(size, 20);
	if (_i == 0)
		gz[size - 8] ^= 0x55;
	else if (_i == 1)
		gz[2] = 7;
	else
		size -= 6;
	free(testutil_write(testutil_dir, "img.gz", gz, size));
	load_fails(images, labels, (const char *[]){ images, "corrupt", why[_i], NULL });
	free(gz);
	free(images);
	free(labels);
}
END_TEST

/* Loads the fixture's images from the gzip bytes at gz, with plain labels. */
static void gz_loads(const uint8_t *gz, size_t len)
{
	char *images = testutil_write(testutil_dir, "img.gz", gz, len);
	char *labels = write_labels("lab", FIX_N, 0);
	struct dataset d;
	struct error e = { "" };

	ck_assert_msg(dataset_load_idx(&d, images, labels, &e) == 0, "%s", e.msg);
	check_fixture(&d);
	dataset_free(&d);
	free(images);
	free(labels);
}

/* Loading fails naming the file, as corrupt, for the reason given. */
static void gz_refused(const uint8_t *gz, size_t len, const char *why)
{
	char *images = testutil_write(testutil_dir, "img.gz", gz, len);
	char *labels = write_labels("lab", FIX_N, 0);

	load_fails(images, labels, (const char *[]){ images, "corrupt or unreadable", why, NULL });
	free(images);
	free(labels);
}

/* Concatenated members are one file, as `cat a.gz b.gz` makes them: a large file cut in two
 * (the last member's ISIZE then says little of the whole, so the buffer has to grow), or after
 * an empty member. Either loads to the same bytes as one member. */
START_TEST(idx_gz_members)
{
	enum { N = 3000 };
	static uint8_t pixels[N * FIX_DIM], labels[N];
	uint32_t idims[3] = { N, FIX_ROWS, FIX_COLS }, ldims[1] = { N };
	size_t isize, lsize, cut = _i == 0 ? N * FIX_DIM : 0, len[2];

	for (size_t i = 0; i < sizeof(pixels); i++)
		pixels[i] = (uint8_t)(i * i / 7);
	for (size_t i = 0; i < N; i++)
		labels[i] = (uint8_t)(i % 3);
	uint8_t *idx = idx_build(0x803, idims, 3, pixels, sizeof(pixels), &isize);
	uint8_t *lidx = idx_build(0x801, ldims, 1, labels, N, &lsize);
	uint8_t *first = gz_build(idx, cut, &len[0]);
	uint8_t *rest = gz_build(idx + cut, isize - cut, &len[1]);
	first = realloc(first, len[0] + len[1]);
	memcpy(first + len[0], rest, len[1]);
	char *one = write_gz(testutil_dir, "one.gz", idx, isize);
	char *two = testutil_write(testutil_dir, "two.gz", first, len[0] + len[1]);
	char *lab = write_gz(testutil_dir, "lab.gz", lidx, lsize);
	struct dataset a, b;
	struct error e = { "" };

	ck_assert_msg(dataset_load_idx(&a, one, lab, &e) == 0, "%s", e.msg);
	ck_assert_msg(dataset_load_idx(&b, two, lab, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(a.n, N);
	ck_assert_mem_eq(a.x, pixels, sizeof(pixels));
	ck_assert_uint_eq(b.n, N);
	ck_assert_uint_eq(b.dim, FIX_DIM);
	ck_assert_mem_eq(b.x, a.x, sizeof(pixels));
	ck_assert_mem_eq(b.y, labels, N);
	dataset_free(&a);
	dataset_free(&b);
	free(lab);
	free(two);
	free(one);
	free(rest);
	free(first);
	free(lidx);
	free(idx);
}
END_TEST

/* The member rewritten with the optional header fields of flags (RFC 1952, 2.3.1), which the
 * loader must step over; a header CRC matches unless bad_hcrc. */
static uint8_t *gz_with_fields(unsigned flags, int bad_hcrc, size_t *len)
{
	static const uint8_t extra[] = { 6, 0, 'A', 'p', 2, 0, 0, 1 }, name[] = "img",
			     comment[] = "fixture";
	size_t size;
	uint8_t *gz = gz_images(&size), *out = malloc(size + 64), *p = out;

	memcpy(p, gz, 10);
	p[3] = (uint8_t)flags;
	p += 10;
	if (flags & 0x04) {
		memcpy(p, extra, sizeof(extra));
		p += sizeof(extra);
	}
	if (flags & 0x08) {
		memcpy(p, name, sizeof(name));
		p += sizeof(name);
	}
	if (flags & 0x10) {
		memcpy(p, comment, sizeof(comment));
		p += sizeof(comment);
	}
	if (flags & 0x02) {
		uint32_t crc = libdeflate_crc32(0, out, (size_t)(p - out)) ^ (bad_hcrc ? 1 : 0);
		*p++ = (uint8_t)crc;
		*p++ = (uint8_t)(crc >> 8);
	}
	memcpy(p, gz + 10, size - 10);
	*len = (size_t)(p - out) + size - 10;
	free(gz);
	return out;
}

/* _i: FEXTRA and FNAME; FCOMMENT and FHCRC; all of them with FTEXT. */
START_TEST(idx_gz_header_fields)
{
	static const unsigned flags[] = { 0x04 | 0x08, 0x10 | 0x02, 0x1f };
	size_t len;
	uint8_t *gz = gz_with_fields(flags[_i], 0, &len);

	gz_loads(gz, len);
	free(gz);
}
END_TEST

/* A member made wrong in each way the loader checks itself, and the reason it must give. */
START_TEST(idx_gz_refused)
{
	static const char *const why[] = {
		"trailing data after the gzip stream (from byte",
		"trailing data after the gzip stream (from byte",
		"incorrect length check",
		"unknown header flags set",
		"header crc mismatch",
		"unexpected end of file",
		"unexpected end of file",
		"unexpected end of file",
		"invalid or truncated compressed data",
	};
	size_t len;
	uint8_t *gz = gz_images(&len), *bad = malloc(len + 64);

	memcpy(bad, gz, len);
	switch (_i) {
	case 0: /* garbage after the member */
		memcpy(bad + len, "junk", 4);
		len += 4;
		break;
	case 1: /* zero padding after it */
		memset(bad + len, 0, 16);
		len += 16;
		break;
	case 2: /* ISIZE one too large */
		bad[len - 4]++;
		break;
	case 3: /* a reserved flag */
		bad[3] |= 0x20;
		break;
	case 4: /* a header CRC that does not match */
		free(bad);
		bad = gz_with_fields(0x02, 1, &len);
		break;
	case 5: /* FNAME set, the name never ended */
		bad[3] = 0x08;
		memcpy(bad + 10, "name", 4);
		len = 14;
		break;
	case 6: /* FEXTRA longer than the file */
		bad[3] = 0x04;
		bad[10] = 0xff;
		bad[11] = 0xff;
		break;
	case 7: /* a second member cut inside its header */
		memcpy(bad + len, gz, 6);
		len += 6;
		break;
	case 8: /* a stored block whose length and its complement disagree */
		memset(bad + 10, 0, 40);
		len = 50;
		break;
	}
	gz_refused(bad, len, why[_i]);
	free(bad);
	free(gz);
}
END_TEST

/* gz_head, the hand decoder of a file's first bytes, against libdeflate's encoder: stored
 * blocks (level 0), fixed codes (a small input) and dynamic ones (a larger one). Asked for the
 * whole stream it must give back every byte, so it decodes what libdeflate encodes; asked for
 * 16 bytes, those. */
START_TEST(gz_head_blocks)
{
	enum { BIG = 30016 };
	static uint8_t data[BIG], out[BIG];
	static const int levels[] = { 0, 1, 6, 12 };
	static const size_t sizes[] = { 52, BIG };
	int types = 0;
	struct error e = { "" };

	for (size_t i = 0; i < BIG; i++)
		data[i] = (uint8_t)(i * i / 7);
	for (size_t l = 0; l < sizeof(levels) / sizeof(*levels); l++) {
		for (size_t z = 0; z < 2; z++) {
			struct libdeflate_compressor *c = libdeflate_alloc_compressor(levels[l]);
			ck_assert_ptr_nonnull(c);
			size_t cap = libdeflate_gzip_compress_bound(c, sizes[z]), got;
			uint8_t *gz = malloc(cap);
			size_t len = libdeflate_gzip_compress(c, data, sizes[z], gz, cap);
			libdeflate_free_compressor(c);
			types |= 1 << (gz[10] >> 1 & 3);
			ck_assert_int_eq(gz_head("f", gz, len, 0, out, sizes[z], &got, &e), 0);
			ck_assert_uint_eq(got, sizes[z]);
			ck_assert_mem_eq(out, data, sizes[z]);
			memset(out, 0, 16);
			ck_assert_int_eq(gz_head("f", gz, len, 0, out, 16, &got, &e), 0);
			ck_assert_uint_eq(got, 16);
			ck_assert_mem_eq(out, data, 16);
			/* Cut short: more to come, or the file's end. */
			ck_assert_int_eq(gz_head("f", gz, 12, 1, out, 16, &got, &e), 1);
			ck_assert_int_eq(gz_head("f", gz, 12, 0, out, 16, &got, &e), -1);
			ck_assert_msg(strstr(e.msg, "f: corrupt or unreadable: unexpected end of file"),
				      "%s", e.msg);
			free(gz);
		}
	}
	ck_assert_int_eq(types, 7);
}
END_TEST

/* The first bytes may span members: here the first 20 come one a member. */
START_TEST(gz_head_members)
{
	uint8_t data[64], out[16], *all = NULL;
	size_t len = 0, got;
	struct error e = { "" };

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(200 - i);
	for (size_t i = 0; i <= 20; i++) {
		size_t n;
		uint8_t *gz = gz_build(data + i, i < 20 ? 1 : sizeof(data) - 20, &n);
		all = realloc(all, len + n);
		memcpy(all + len, gz, n);
		len += n;
		free(gz);
	}
	ck_assert_int_eq(gz_head("f", all, len, 0, out, 16, &got, &e), 0);
	ck_assert_uint_eq(got, 16);
	ck_assert_mem_eq(out, data, 16);
	free(all);
}
END_TEST

/* A header field of 64 KiB puts the data past the bytes first read for the header: the file is
 * then read whole, and loads. */
START_TEST(idx_gz_far_header)
{
	size_t size, len;
	uint8_t *gz = gz_images(&size), *big = malloc(size + 70000);

	memcpy(big, gz, 10);
	big[3] = 0x04;
	big[10] = 0xff;
	big[11] = 0xff;
	memset(big + 12, 'x', 0xffff);
	len = 12 + 0xffff;
	memcpy(big + len, gz + 10, size - 10);
	gz_loads(big, len + size - 10);
	free(big);
	free(gz);
}
END_TEST

/* ASan reserves terabytes of address space up front, so none can be capped under it. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_ADDRESS_SPACE_LIMIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_ADDRESS_SPACE_LIMIT 1
#endif
#endif

static rlim_t address_space_used(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

/* A small file whose ISIZE claims 4 GiB is refused for that, having allocated no such buffer:
 * it loads in a child with only 256 MiB of address space to spare, where a 4 GiB malloc fails
 * (checked first) and would have made the refusal "out of memory". */
START_TEST(idx_gz_lying_isize)
{
	size_t len;
	uint8_t *gz = gz_images(&len);
	memset(gz + len - 4, 0xff, 4);
	char *images = testutil_write(testutil_dir, "img.gz", gz, len);
	char *labels = write_labels("lab", FIX_N, 0);
	rlim_t used = address_space_used();
	int status;

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
#ifndef NO_ADDRESS_SPACE_LIMIT
		struct rlimit lim = { used + ((rlim_t)256 << 20), RLIM_INFINITY };
		void *big = NULL;
		if (setrlimit(RLIMIT_AS, &lim) != 0 || (big = malloc((size_t)1 << 32))) {
			fprintf(stderr, "the address space limit does not hold\n");
			_exit(2);
		}
#else
		(void)used;
#endif
		struct dataset d;
		struct error e = { "" };
		if (dataset_load_idx(&d, images, labels, &e) == 0 ||
		    !strstr(e.msg, "incorrect length check")) {
			fprintf(stderr, "%s\n", e.msg);
			_exit(1);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	free(images);
	free(labels);
	free(gz);
}
END_TEST

START_TEST(idx_missing)
{
	char *images = write_images("img", FIX_N, 0, 0);
	char *labels = write_labels("lab", FIX_N, 0);
	char *missing;

	ck_assert_int_ge(asprintf(&missing, "%s/nothing-here", testutil_dir), 0);
	load_fails(missing, labels, (const char *[]){ missing, "No such file", NULL });
	load_fails(images, missing, (const char *[]){ missing, "No such file", NULL });
	free(missing);
	free(images);
	free(labels);
}
END_TEST

static const char *const dir_names[] = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
					 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" };

START_TEST(dir_load)
{
	struct dataset train, test;
	struct error e = { "" };

	/* Train compressed, test plain; the test labels reach one class further. */
	free(write_images("train-images-idx3-ubyte.gz", FIX_N, 0, 1));
	free(write_labels("train-labels-idx1-ubyte.gz", FIX_N, 1));
	uint32_t dims[1] = { 2 };
	size_t len;
	uint8_t *buf = idx_build(0x801, dims, 1, (const uint8_t[]){ 3, 1 }, 2, &len);
	free(testutil_write(testutil_dir, "t10k-labels-idx1-ubyte", buf, len));
	free(buf);
	free(write_images("t10k-images-idx3-ubyte", 2, -(FIX_N - 2) * FIX_DIM, 0));

	ck_assert_msg(dataset_load_dir(&train, &test, testutil_dir, &e) == 0, "%s", e.msg);
	check_fixture(&train);
	ck_assert_uint_eq(test.n, 2);
	ck_assert_uint_eq(test.dim, FIX_DIM);
	ck_assert_int_eq(test.y[0], 3);
	/* One label space: the test split's class 3 counts for train too. */
	ck_assert_int_eq(train.num_classes, 4);
	ck_assert_int_eq(test.num_classes, 4);
	dataset_free(&train);
	dataset_free(&test);
}
END_TEST

/* NAME.gz wins over NAME when both exist. */
START_TEST(dir_prefers_gz)
{
	struct dataset train, test;
	struct error e = { "" };

	for (int i = 0; i < 4; i += 2) {
		free(write_images(dir_names[i], FIX_N, 0, 0));
		free(write_labels(dir_names[i + 1], FIX_N, 0));
	}
	char name[64];
	snprintf(name, sizeof(name), "%s.gz", dir_names[0]);
	free(write_images(name, FIX_N, -FIX_DIM, 1));

	ck_assert_int_eq(dataset_load_dir(&train, &test, testutil_dir, &e), -1);
	ck_assert_msg(strstr(e.msg, name) && strstr(e.msg, "truncated"), "%s", e.msg);
	ck_assert_ptr_null(train.x);
	ck_assert_ptr_null(test.x);
}
END_TEST

START_TEST(dir_missing)
{
	struct dataset train, test;
	struct error e = { "" };
	char *dir;

	ck_assert_int_ge(asprintf(&dir, "%s/no-such-dir", testutil_dir), 0);
	ck_assert_int_eq(dataset_load_dir(&train, &test, dir, &e), -1);
	ck_assert_msg(strstr(e.msg, dir), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "train-images-idx3-ubyte[.gz]"), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "apt-get install dataset-fashion-mnist"), "%s", e.msg);
	ck_assert_ptr_null(train.x);
	ck_assert_ptr_null(test.x);
	free(dir);
}
END_TEST

/* Only the train split present: the message names the first test file. */
START_TEST(dir_missing_test)
{
	struct dataset train, test;
	struct error e = { "" };

	free(write_images(dir_names[0], FIX_N, 0, 0));
	free(write_labels(dir_names[1], FIX_N, 0));
	ck_assert_int_eq(dataset_load_dir(&train, &test, testutil_dir, &e), -1);
	ck_assert_msg(strstr(e.msg, "t10k-images-idx3-ubyte[.gz]"), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "apt-get install dataset-fashion-mnist"), "%s", e.msg);
	ck_assert_ptr_null(train.x);
	ck_assert_ptr_null(test.y);
}
END_TEST

START_TEST(dir_dim_mismatch)
{
	struct dataset train, test;
	struct error e = { "" };
	uint8_t pixels[FIX_N * 4] = { 0 };
	uint32_t dims[3] = { FIX_N, 2, 2 };
	size_t len;
	uint8_t *buf = idx_build(0x803, dims, 3, pixels, sizeof(pixels), &len);

	free(write_images(dir_names[0], FIX_N, 0, 0));
	free(write_labels(dir_names[1], FIX_N, 0));
	free(testutil_write(testutil_dir, dir_names[2], buf, len));
	free(write_labels(dir_names[3], FIX_N, 0));
	free(buf);

	ck_assert_int_eq(dataset_load_dir(&train, &test, testutil_dir, &e), -1);
	ck_assert_msg(strstr(e.msg, dir_names[0]) && strstr(e.msg, dir_names[2]) &&
		      strstr(e.msg, "test images of 2x2 pixels, but the training images") &&
		      strstr(e.msg, "are 2x3"), "%s", e.msg);
	ck_assert_ptr_null(train.x);
	ck_assert_ptr_null(test.x);
}
END_TEST

START_TEST(dir_fashion_mnist)
{
	struct dataset train, test;
	struct error e = { "" };
	struct stat st;

	if (stat(FASHION_DIR, &st) != 0) {
		printf("note: %s is missing; the Fashion-MNIST check is skipped\n", FASHION_DIR);
		return;
	}
	ck_assert_msg(dataset_load_dir(&train, &test, FASHION_DIR, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(train.n, 60000);
	ck_assert_uint_eq(test.n, 10000);
	ck_assert_uint_eq(train.dim, 784);
	ck_assert_uint_eq(test.dim, 784);
	ck_assert_int_eq(train.num_classes, 10);
	ck_assert_int_eq(test.num_classes, 10);
	size_t count[10] = { 0 };
	for (size_t i = 0; i < test.n; i++)
		count[test.y[i]]++;
	for (int c = 0; c < 10; c++)
		ck_assert_uint_eq(count[c], 1000);
	dataset_free(&train);
	dataset_free(&test);
}
END_TEST

static const struct synth_spec synth_base = {
	.num_classes = 4, .dim = 16, .train_per_class = 25, .test_per_class = 5, .spread = 20,
	.seed = 42
};

START_TEST(synth_deterministic)
{
	struct dataset a, b, c, at, bt, ct;
	struct synth_spec other = synth_base;
	struct error e = { "" };

	other.seed = 43;
	ck_assert_int_eq(dataset_make_synthetic(&a, &at, &synth_base, &e), 0);
	ck_assert_int_eq(dataset_make_synthetic(&b, &bt, &synth_base, &e), 0);
	ck_assert_int_eq(dataset_make_synthetic(&c, &ct, &other, &e), 0);
	ck_assert_mem_eq(a.x, b.x, a.n * a.dim);
	ck_assert_mem_eq(at.x, bt.x, at.n * at.dim);
	ck_assert_mem_eq(a.y, b.y, a.n);
	ck_assert_int_ne(memcmp(a.x, c.x, a.n * a.dim), 0);
	ck_assert_int_ne(memcmp(at.x, ct.x, at.n * at.dim), 0);
	ck_assert_int_ne(memcmp(a.x, at.x, at.n * at.dim), 0);
	dataset_free(&a);
	dataset_free(&b);
	dataset_free(&c);
	dataset_free(&at);
	dataset_free(&bt);
	dataset_free(&ct);
}
END_TEST

START_TEST(synth_shape)
{
	struct dataset train, test;
	struct error e = { "" };
	size_t count[4] = { 0 };

	ck_assert_int_eq(dataset_make_synthetic(&train, &test, &synth_base, &e), 0);
	ck_assert_uint_eq(train.n, 100);
	ck_assert_uint_eq(test.n, 20);
	ck_assert_uint_eq(train.dim, 16);
	ck_assert_uint_eq(test.dim, 16);
	ck_assert_int_eq(train.num_classes, 4);
	ck_assert_int_eq(test.num_classes, 4);
	for (size_t i = 0; i < train.n; i++) {
		ck_assert_uint_eq(train.y[i], i % 4);
		count[train.y[i]]++;
	}
	for (int c = 0; c < 4; c++)
		ck_assert_uint_eq(count[c], 25);
	dataset_free(&train);
	dataset_free(&test);
}
END_TEST

/* With no spread every sample is its class centre: the same in both splits, in [64, 192]. */
START_TEST(synth_centres)
{
	struct dataset train, test;
	struct synth_spec spec = synth_base;
	struct error e = { "" };

	spec.spread = 0;
	ck_assert_int_eq(dataset_make_synthetic(&train, &test, &spec, &e), 0);
	for (size_t i = 0; i < train.n; i++) {
		const uint8_t *centre = test.x + (i % 4) * test.dim;
		ck_assert_mem_eq(train.x + i * train.dim, centre, train.dim);
		for (size_t j = 0; j < train.dim; j++) {
			ck_assert_uint_ge(centre[j], 64);
			ck_assert_uint_le(centre[j], 192);
		}
	}
	ck_assert_int_ne(memcmp(test.x, test.x + test.dim, test.dim), 0);
	dataset_free(&train);
	dataset_free(&test);
}
END_TEST

/* Samples sit nearer their own centre than any other. */
START_TEST(synth_clusters)
{
	struct dataset train, test, centres, unused;
	struct synth_spec spec = synth_base;
	struct error e = { "" };

	spec.dim = 64;
	ck_assert_int_eq(dataset_make_synthetic(&train, &test, &spec, &e), 0);
	spec.spread = 0;
	spec.test_per_class = 1;
	ck_assert_int_eq(dataset_make_synthetic(&unused, &centres, &spec, &e), 0);
	for (size_t i = 0; i < train.n; i++) {
		double best = INFINITY;
		int nearest = -1;
		for (int c = 0; c < 4; c++) {
			double d = 0;
			for (size_t j = 0; j < train.dim; j++) {
				double v = train.x[i * train.dim + j] - centres.x[c * train.dim + j];
				d += v * v;
			}
			if (d < best) {
				best = d;
				nearest = c;
			}
		}
		ck_assert_int_eq(nearest, train.y[i]);
	}
	dataset_free(&train);
	dataset_free(&test);
	dataset_free(&centres);
	dataset_free(&unused);
}
END_TEST

START_TEST(synth_invalid)
{
	static const char *const why[] = { "classes must be 2..256, not 1",
					   "classes must be 2..256, not 257", "dim must be 1..",
					   "dim must be 1..", "at least 1", "at least 1",
					   "spread must be a number >= 0", "spread must be a number >= 0",
					   "samples per class" };
	struct synth_spec s = synth_base;
	struct dataset train, test;
	struct error e = { "" };

	switch (_i) {
	case 0: s.num_classes = 1; break;
	case 1: s.num_classes = 257; break;
	case 2: s.dim = 0; break;
	case 3: s.dim = (1u << 20) + 1; break;
	case 4: s.train_per_class = 0; break;
	case 5: s.test_per_class = 0; break;
	case 6: s.spread = -1; break;
	case 7: s.spread = NAN; break;
	case 8: s.train_per_class = (size_t)1 << 27; break;
	}
	ck_assert_int_eq(dataset_make_synthetic(&train, &test, &s, &e), -1);
	ck_assert_msg(strstr(e.msg, "synthetic data") && strstr(e.msg, why[_i]), "%s", e.msg);
	ck_assert_ptr_null(train.x);
	ck_assert_ptr_null(test.x);
	ck_assert_uint_eq(train.n, 0);
}
END_TEST

/* A hand-made data set: four classes, two values per sample. */
static uint8_t hand_train_y[] = { 0, 1, 2, 3, 0, 1, 2, 3, 2 };
static uint8_t hand_test_y[] = { 3, 2, 1, 0 };
static uint8_t hand_train_x[9 * 2];
static uint8_t hand_test_x[4 * 2];
static const struct dataset hand_train = { .n = 9, .dim = 2, .x = hand_train_x,
					    .y = hand_train_y, .num_classes = 4, .channels = 1,
					    .rows = 1, .cols = 2 };
static const struct dataset hand_test = { .n = 4, .dim = 2, .x = hand_test_x,
					   .y = hand_test_y, .num_classes = 4, .channels = 1,
					   .rows = 1, .cols = 2 };

static void assert_positions(const uint32_t *got, size_t n, const uint32_t *want, size_t m)
{
	ck_assert_uint_eq(n, m);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "position %zu is %u, not %u", i, got[i], want[i]);
}

START_TEST(tasks_classes)
{
	static const int32_t t1[] = { 0, 2 }, t2[] = { 1 }, t3[] = { 3 };
	const int32_t *const classes[] = { t1, t2, t3 };
	const size_t counts[] = { 2, 1, 1 };
	struct task_list tl;
	struct error e = { "" };

	ck_assert_msg(tasks_by_classes(&tl, &hand_train, &hand_test, 3, classes, counts, &e) == 0,
		      "%s", e.msg);
	ck_assert_uint_eq(tl.count, 3);
	ck_assert_uint_eq(tl.dim, 2);
	assert_positions(tl.t[0].train, tl.t[0].num_train, (const uint32_t[]){ 0, 2, 4, 6, 8 }, 5);
	assert_positions(tl.t[1].train, tl.t[1].num_train, (const uint32_t[]){ 1, 5 }, 2);
	assert_positions(tl.t[2].train, tl.t[2].num_train, (const uint32_t[]){ 3, 7 }, 2);
	assert_positions(tl.t[0].test, tl.t[0].num_test, (const uint32_t[]){ 1, 3 }, 2);
	assert_positions(tl.t[1].test, tl.t[1].num_test, (const uint32_t[]){ 2 }, 1);
	assert_positions(tl.t[2].test, tl.t[2].num_test, (const uint32_t[]){ 0 }, 1);
	ck_assert_uint_eq(tl.t[0].num_classes, 2);
	ck_assert_int_eq(tl.t[0].classes[1], 2);
	ck_assert_int_eq(tl.t[0].class_mask[0] + tl.t[0].class_mask[2], 2);
	ck_assert_int_eq(tl.t[0].class_mask[1] + tl.t[0].class_mask[3], 0);
	ck_assert_uint_eq(tl.t[2].index, 2);
	ck_assert_ptr_null(tl.t[1].perm);
	tasks_free(&tl);
	ck_assert_uint_eq(tl.count, 0);
}
END_TEST

START_TEST(tasks_classes_invalid)
{
	static const int32_t absent[] = { 5 }, negative[] = { -1 }, one[] = { 1 },
			     twice[] = { 2, 2 }, zero[] = { 0 };
	static const struct {
		const int32_t *second;
		size_t count;
		size_t num_tasks;
		const char *why;
	} cases[] = {
		{ absent, 1, 2, "task 2: class 5 is not in the data" },
		{ negative, 1, 2, "task 2: class -1 is not in the data" },
		{ zero, 1, 2, "task 2: class 0 is already in task 1" },
		{ twice, 2, 2, "task 2 lists class 2 twice" },
		{ one, 0, 2, "task 2 has 0 classes" },
		{ one, 1, 0, "0 tasks" },
		{ one, 1, TASKS_MAX + 1, "65 tasks" },
	};
	const int32_t *classes[TASKS_MAX + 1] = { zero, cases[_i].second };
	size_t counts[TASKS_MAX + 1] = { 1, cases[_i].count };
	struct task_list tl;
	struct error e = { "" };

	ck_assert_int_eq(tasks_by_classes(&tl, &hand_train, &hand_test, cases[_i].num_tasks,
					  classes, counts, &e), -1);
	ck_assert_msg(strstr(e.msg, cases[_i].why), "\"%s\" lacks \"%s\"", e.msg, cases[_i].why);
	ck_assert_uint_eq(tl.count, 0);
	ck_assert_ptr_null(tl.t[0].train);
}
END_TEST

/* Class 1 has train samples but none in the test split. */
START_TEST(tasks_classes_no_test)
{
	static uint8_t test_y[] = { 0, 0, 2, 3 };
	const struct dataset test = { .n = 4, .dim = 2, .x = hand_test_x, .y = test_y,
				      .num_classes = 4 };
	static const int32_t t1[] = { 0 }, t2[] = { 3 }, t3[] = { 1 };
	const int32_t *const classes[] = { t1, t2, t3 };
	const size_t counts[] = { 1, 1, 1 };
	struct task_list tl;
	struct error e = { "" };

	ck_assert_int_eq(tasks_by_classes(&tl, &hand_train, &test, 3, classes, counts, &e), -1);
	ck_assert_msg(strstr(e.msg, "task 3 has no test samples"), "%s", e.msg);
	ck_assert_uint_eq(tl.count, 0);
	ck_assert_ptr_null(tl.t[0].train);
}
END_TEST

static int is_permutation(const uint32_t *p, size_t n)
{
	uint8_t seen[1024] = { 0 };

	for (size_t i = 0; i < n; i++) {
		if (p[i] >= n || seen[p[i]])
			return 0;
		seen[p[i]] = 1;
	}
	return 1;
}

START_TEST(tasks_permutations)
{
	struct dataset train, test;
	struct task_list a, b, c;
	struct error e = { "" };

	ck_assert_int_eq(dataset_make_synthetic(&train, &test, &synth_base, &e), 0);
	ck_assert_int_eq(tasks_permuted(&a, &train, &test, 3, 1, 7, &e), 0);
	ck_assert_int_eq(tasks_permuted(&b, &train, &test, 3, 1, 7, &e), 0);
	ck_assert_int_eq(tasks_permuted(&c, &train, &test, 3, 0, 8, &e), 0);

	ck_assert_ptr_null(a.t[0].perm);
	ck_assert_ptr_nonnull(c.t[0].perm);
	for (size_t k = 0; k < 3; k++) {
		ck_assert_uint_eq(a.t[k].num_classes, 4);
		ck_assert_uint_eq(a.t[k].num_train, train.n);
		ck_assert_uint_eq(a.t[k].num_test, test.n);
		for (size_t i = 0; i < train.n; i++)
			ck_assert_uint_eq(a.t[k].train[i], i);
		ck_assert(is_permutation(c.t[k].perm, 16));
		if (k == 0)
			continue;
		ck_assert(is_permutation(a.t[k].perm, 16));
		ck_assert_mem_eq(a.t[k].perm, b.t[k].perm, 16 * sizeof(uint32_t));
		ck_assert_int_ne(memcmp(a.t[k].perm, c.t[k].perm, 16 * sizeof(uint32_t)), 0);
	}
	ck_assert_int_ne(memcmp(a.t[1].perm, a.t[2].perm, 16 * sizeof(uint32_t)), 0);
	ck_assert_int_ne(memcmp(c.t[0].perm, c.t[1].perm, 16 * sizeof(uint32_t)), 0);
	tasks_free(&a);
	tasks_free(&b);
	tasks_free(&c);
	dataset_free(&train);
	dataset_free(&test);
}
END_TEST

START_TEST(tasks_permuted_invalid)
{
	struct task_list tl;
	struct error e = { "" };

	ck_assert_int_eq(tasks_permuted(&tl, &hand_train, &hand_test, 0, 1, 1, &e), -1);
	ck_assert_msg(strstr(e.msg, "0 tasks"), "%s", e.msg);
	ck_assert_int_eq(tasks_permuted(&tl, &hand_train, &hand_test, 65, 1, 1, &e), -1);
	ck_assert_msg(strstr(e.msg, "65 tasks"), "%s", e.msg);
	ck_assert_uint_eq(tl.count, 0);
}
END_TEST

START_TEST(tasks_conversion)
{
	static const uint8_t pixels[] = { 0, 51, 255, 102, 153, 204, 51, 0 };
	static const float identity[] = { 0.0f, 0.2f, 1.0f, 0.4f, 0.6f, 0.8f, 0.2f, 0.0f };
	static const float permuted[] = { 1.0f, 0.0f, 0.4f, 0.2f, 0.2f, 0.6f, 0.0f, 0.8f };
	uint32_t perm[] = { 2, 0, 3, 1 };
	struct task t = { .perm = NULL };
	float x[8];

	tasks_convert(&t, pixels, 2, 4, x);
	for (int i = 0; i < 8; i++)
		ck_assert_msg(x[i] == identity[i], "x[%d] = %g, not %g", i, x[i], identity[i]);
	t.perm = perm;
	tasks_convert(&t, pixels, 2, 4, x);
	for (int i = 0; i < 8; i++)
		ck_assert_msg(x[i] == permuted[i], "x[%d] = %g, not %g", i, x[i], permuted[i]);
}
END_TEST

START_TEST(tasks_gathering)
{
	static uint8_t px[] = { 0, 255, 51, 102, 153, 204 };
	static uint8_t labels[] = { 7, 8, 9 };
	const struct dataset split = { .n = 3, .dim = 2, .x = px, .y = labels, .num_classes = 10 };
	uint32_t perm[] = { 1, 0 };
	struct task t = { .perm = perm };
	const uint32_t positions[] = { 2, 0 };
	float x[4];
	int32_t y[2];

	tasks_gather(&t, &split, positions, 2, x, y);
	ck_assert(x[0] == 0.8f && x[1] == 0.6f && x[2] == 1.0f && x[3] == 0.0f);
	ck_assert_int_eq(y[0], 9);
	ck_assert_int_eq(y[1], 7);
}
END_TEST

static int is_sorted_subset(const uint32_t *p, size_t n, size_t limit)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= limit || (i > 0 && p[i] <= p[i - 1]))
			return 0;
	return 1;
}

START_TEST(tasks_limiting)
{
	struct dataset train, test;
	struct task_list a, b, c;
	struct error e = { "" };

	ck_assert_int_eq(dataset_make_synthetic(&train, &test, &synth_base, &e), 0);
	ck_assert_int_eq(tasks_permuted(&a, &train, &test, 2, 1, 1, &e), 0);
	ck_assert_int_eq(tasks_permuted(&b, &train, &test, 2, 1, 1, &e), 0);
	ck_assert_int_eq(tasks_permuted(&c, &train, &test, 2, 1, 1, &e), 0);
	tasks_limit(&a, 10, 3, 5);
	tasks_limit(&b, 10, 3, 5);
	tasks_limit(&c, 10, 3, 6);

	for (size_t k = 0; k < 2; k++) {
		ck_assert_uint_eq(a.t[k].num_train, 10);
		ck_assert_uint_eq(a.t[k].num_test, 3);
		ck_assert(is_sorted_subset(a.t[k].train, 10, train.n));
		ck_assert(is_sorted_subset(a.t[k].test, 3, test.n));
		ck_assert_mem_eq(a.t[k].train, b.t[k].train, 10 * sizeof(uint32_t));
		ck_assert_mem_eq(a.t[k].test, b.t[k].test, 3 * sizeof(uint32_t));
		ck_assert_int_ne(memcmp(a.t[k].train, c.t[k].train, 10 * sizeof(uint32_t)), 0);
	}
	ck_assert_int_ne(memcmp(a.t[0].train, a.t[1].train, 10 * sizeof(uint32_t)), 0);

	/* 0 keeps everything, and so does a limit above the size. */
	tasks_limit(&b, 0, 100, 5);
	ck_assert_uint_eq(b.t[0].num_train, 10);
	ck_assert_uint_eq(b.t[0].num_test, 3);
	ck_assert_mem_eq(a.t[0].train, b.t[0].train, 10 * sizeof(uint32_t));

	tasks_free(&a);
	tasks_free(&b);
	tasks_free(&c);
	dataset_free(&train);
	dataset_free(&test);
}
END_TEST

/* Every sample is kept with the same chance: over many seeds no position is starved. */
START_TEST(tasks_limit_uniform)
{
	struct dataset train, test;
	struct task_list tl;
	struct error e = { "" };
	size_t hits[100] = { 0 };

	ck_assert_int_eq(dataset_make_synthetic(&train, &test, &synth_base, &e), 0);
	for (uint64_t seed = 0; seed < 2000; seed++) {
		ck_assert_int_eq(tasks_permuted(&tl, &train, &test, 1, 1, 1, &e), 0);
		tasks_limit(&tl, 10, 0, seed);
		for (size_t i = 0; i < tl.t[0].num_train; i++)
			hits[tl.t[0].train[i]]++;
		tasks_free(&tl);
	}
	/* 200 expected each, standard deviation 13: 90 away does not happen by chance. */
	for (size_t i = 0; i < 100; i++)
		ck_assert_msg(hits[i] > 110 && hits[i] < 290, "position %zu kept %zu times", i,
			      hits[i]);
	dataset_free(&train);
	dataset_free(&test);
}
END_TEST

static Suite *data_suite(void)
{
	Suite *s = suite_create("data");

	TCase *tc = tcase_create("idx");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_loop_test(tc, idx_load, 0, 2);
	tcase_add_test(tc, idx_bad_magic);
	tcase_add_test(tc, idx_bad_label_magic);
	tcase_add_loop_test(tc, idx_truncated, 0, 2);
	tcase_add_test(tc, idx_truncated_header);
	tcase_add_test(tc, idx_empty_file);
	tcase_add_loop_test(tc, idx_trailing, 0, 2);
	tcase_add_test(tc, idx_count_mismatch);
	tcase_add_loop_test(tc, idx_zero_dims, 0, 3);
	tcase_add_loop_test(tc, idx_too_large, 0, 2);
	tcase_add_loop_test(tc, idx_huge_claim, 0, 2);
	tcase_add_loop_test(tc, idx_corrupt_gz, 0, 3);
	tcase_add_loop_test(tc, idx_gz_members, 0, 2);
	tcase_add_loop_test(tc, idx_gz_header_fields, 0, 3);
	tcase_add_loop_test(tc, idx_gz_refused, 0, 9);
	tcase_add_test(tc, idx_gz_lying_isize);
	tcase_add_test(tc, gz_head_blocks);
	tcase_add_test(tc, gz_head_members);
	tcase_add_test(tc, idx_gz_far_header);
	tcase_add_test(tc, idx_missing);
	suite_add_tcase(s, tc);

	tc = tcase_create("dir");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, dir_load);
	tcase_add_test(tc, dir_prefers_gz);
	tcase_add_test(tc, dir_missing);
	tcase_add_test(tc, dir_missing_test);
	tcase_add_test(tc, dir_dim_mismatch);
	tcase_add_test(tc, dir_fashion_mnist);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("synth");
	tcase_add_test(tc, synth_deterministic);
	tcase_add_test(tc, synth_shape);
	tcase_add_test(tc, synth_centres);
	tcase_add_test(tc, synth_clusters);
	tcase_add_loop_test(tc, synth_invalid, 0, 9);
	suite_add_tcase(s, tc);

	tc = tcase_create("tasks");
	tcase_add_test(tc, tasks_classes);
	tcase_add_loop_test(tc, tasks_classes_invalid, 0, 7);
	tcase_add_test(tc, tasks_classes_no_test);
	tcase_add_test(tc, tasks_permutations);
	tcase_add_test(tc, tasks_permuted_invalid);
	tcase_add_test(tc, tasks_conversion);
	tcase_add_test(tc, tasks_gathering);
	tcase_add_test(tc, tasks_limiting);
	tcase_add_test(tc, tasks_limit_uniform);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(data_suite());
}
