#include "data/gz.h"

#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#define GZ_HEADER 10
#define GZ_TRAILER 8
/* RFC 1952 header flags; the three high bits are reserved. */
#define GZ_FHCRC 0x02
#define GZ_FEXTRA 0x04
#define GZ_FNAME 0x08
#define GZ_FCOMMENT 0x10
#define GZ_RESERVED 0xe0

/* Deflate (RFC 1951) code lengths and alphabets. */
#define MAX_BITS 15
#define LIT_CODES 286
#define DIST_CODES 30
#define FIXED_LIT_CODES 288
#define CLEN_CODES 19

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static unsigned le16(const uint8_t *p)
{
	return (unsigned)p[1] << 8 | p[0];
}

int gz_is(const uint8_t *in, size_t size)
{
	return size >= 2 && in[0] == 0x1f && in[1] == 0x8b;
}

/* A gzip file refused; the reasons are zlib's words for the faults zlib also caught. */
static int gz_corrupt(const char *path, const char *reason, struct error *e)
{
	return error_set(e, "%s: corrupt or unreadable: %s", path, reason);
}

static int gz_trailing(const char *path, size_t at, struct error *e)
{
	return error_set(e, "%s: corrupt or unreadable: trailing data after the gzip stream (from "
			 "byte %zu)", path, at);
}

static const char gz_short[] = "unexpected end of file";

/* The length of the member header at p (RFC 1952, 2.3), or 0 with *why set (gz_short when it
 * runs past avail). */
static size_t gz_header(const uint8_t *p, size_t avail, const char **why)
{
	size_t at = GZ_HEADER;

	*why = gz_short;
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

/* ---- the first bytes of a deflate stream, decoded by hand ----
 *
 * A plain canonical-Huffman decoder (the method of zlib's contrib/puff), one bit at a time: it
 * runs for a few dozen symbols at most, so speed does not matter and brevity does. It is as
 * lenient as it can be (incomplete codes are accepted), since libdeflate checks the whole
 * stream afterwards; it only has to refuse what cannot be decoded. */

enum { HEAD_FULL = 1, HEAD_END, HEAD_SHORT, HEAD_BAD };

struct head {
	const uint8_t *in;
	size_t avail, at; /* input; bytes taken */
	uint32_t bits;	  /* bits taken from in but not used yet, the first in bit 0 */
	unsigned count;
	uint8_t *out;
	size_t want, got;
	size_t start; /* where this member's output began: no distance reaches before it */
};

struct huffman {
	uint16_t count[MAX_BITS + 1]; /* codes of each length */
	uint16_t symbol[FIXED_LIT_CODES]; /* in canonical order */
};

static const uint16_t length_base[29] = { 3,  4,  5,  6,  7,  8,  9,  10,  11,  13,
					  15, 17, 19, 23, 27, 31, 35, 43,  51,  59,
					  67, 83, 99, 115, 131, 163, 195, 227, 258 };
static const uint8_t length_extra[29] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
					  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0 };
static const uint16_t dist_base[DIST_CODES] = {
	1,   2,	  3,   4,   5,	 7,    9,    13,   17,	 25,   33,   49,   65,	  97,	 129,
	193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577
};
static const uint8_t dist_extra[DIST_CODES] = { 0, 0, 0, 0, 1, 1, 2,  2,  3,  3,  4,  4,  5,  5,  6,
						6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13 };

/* n <= 16 bits of input, the first taken as the lowest. */
static int head_bits(struct head *h, unsigned n, unsigned *v)
{
	while (h->count < n) {
		if (h->at == h->avail)
			return HEAD_SHORT;
		h->bits |= (uint32_t)h->in[h->at++] << h->count;
		h->count += 8;
	}
	*v = h->bits & ((1u << n) - 1);
	h->bits >>= n;
	h->count -= n;
	return 0;
}

/* The code of the n lengths; an over-subscribed set is no code. */
static int huffman_build(struct huffman *t, const uint8_t *length, unsigned n)
{
	uint16_t offset[MAX_BITS + 1];

	memset(t->count, 0, sizeof(t->count));
	for (unsigned i = 0; i < n; i++)
		t->count[length[i]]++;
	int left = 1;
	for (unsigned len = 1; len <= MAX_BITS; len++) {
		left = 2 * left - t->count[len];
		if (left < 0)
			return HEAD_BAD;
	}
	offset[1] = 0;
	for (unsigned len = 1; len < MAX_BITS; len++)
		offset[len + 1] = offset[len] + t->count[len];
	for (unsigned i = 0; i < n; i++)
		if (length[i])
			t->symbol[offset[length[i]]++] = (uint16_t)i;
	return 0;
}

/* The next symbol, or -HEAD_SHORT / -HEAD_BAD. */
static int huffman_decode(struct head *h, const struct huffman *t)
{
	int code = 0, first = 0, index = 0;

	for (unsigned len = 1; len <= MAX_BITS; len++) {
		unsigned bit;
		if (head_bits(h, 1, &bit))
			return -HEAD_SHORT;
		code |= (int)bit;
		int count = t->count[len];
		if (code - first < count)
			return t->symbol[index + code - first];
		index += count;
		first = (first + count) << 1;
		code <<= 1;
	}
	return -HEAD_BAD;
}

/* A block's symbols until its end, or until the bytes wanted are out. */
static int head_codes(struct head *h, const struct huffman *lit, const struct huffman *dist)
{
	for (;;) {
		if (h->got == h->want)
			return HEAD_FULL;
		int sym = huffman_decode(h, lit);
		if (sym < 0)
			return -sym;
		if (sym < 256) {
			h->out[h->got++] = (uint8_t)sym;
			continue;
		}
		if (sym == 256)
			return 0;
		if ((sym -= 257) >= 29)
			return HEAD_BAD;
		unsigned extra;
		if (head_bits(h, length_extra[sym], &extra))
			return HEAD_SHORT;
		size_t len = length_base[sym] + extra;
		int d = huffman_decode(h, dist);
		if (d < 0)
			return -d;
		if (d >= DIST_CODES)
			return HEAD_BAD;
		if (head_bits(h, dist_extra[d], &extra))
			return HEAD_SHORT;
		size_t back = dist_base[d] + extra;
		if (back > h->got - h->start)
			return HEAD_BAD;
		for (; len > 0 && h->got < h->want; len--, h->got++)
			h->out[h->got] = h->out[h->got - back];
	}
}

static int head_stored(struct head *h)
{
	h->bits = 0; /* to the byte boundary */
	h->count = 0;
	if (h->avail - h->at < 4)
		return HEAD_SHORT;
	size_t len = le16(h->in + h->at);
	if (len != (~le16(h->in + h->at + 2) & 0xffff))
		return HEAD_BAD;
	h->at += 4;
	size_t take = len < h->want - h->got ? len : h->want - h->got;
	if (h->avail - h->at < take)
		return HEAD_SHORT;
	memcpy(h->out + h->got, h->in + h->at, take);
	h->got += take;
	if (take < len)
		return HEAD_FULL;
	h->at += len;
	return 0;
}

static int head_fixed(struct head *h)
{
	uint8_t length[FIXED_LIT_CODES];
	struct huffman lit, dist;
	unsigned i = 0;

	for (; i < 144; i++)
		length[i] = 8;
	for (; i < 256; i++)
		length[i] = 9;
	for (; i < 280; i++)
		length[i] = 7;
	for (; i < FIXED_LIT_CODES; i++)
		length[i] = 8;
	huffman_build(&lit, length, FIXED_LIT_CODES);
	memset(length, 5, DIST_CODES);
	huffman_build(&dist, length, DIST_CODES);
	return head_codes(h, &lit, &dist);
}

static int head_dynamic(struct head *h)
{
	static const uint8_t order[CLEN_CODES] = { 16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
						   11, 4,  12, 3, 13, 2, 14, 1, 15 };
	uint8_t length[LIT_CODES + DIST_CODES] = { 0 };
	struct huffman lit, dist;
	unsigned nlit, ndist, nclen, v;

	if (head_bits(h, 5, &nlit) || head_bits(h, 5, &ndist) || head_bits(h, 4, &nclen))
		return HEAD_SHORT;
	nlit += 257;
	ndist += 1;
	nclen += 4;
	if (nlit > LIT_CODES || ndist > DIST_CODES)
		return HEAD_BAD;
	for (unsigned i = 0; i < nclen; i++) {
		if (head_bits(h, 3, &v))
			return HEAD_SHORT;
		length[order[i]] = (uint8_t)v;
	}
	if (huffman_build(&lit, length, CLEN_CODES))
		return HEAD_BAD;
	for (unsigned i = 0; i < nlit + ndist;) {
		int sym = huffman_decode(h, &lit);
		if (sym < 0)
			return -sym;
		if (sym < 16) {
			length[i++] = (uint8_t)sym;
			continue;
		}
		uint8_t repeat = 0;
		unsigned times;
		if (sym == 16) {
			if (i == 0)
				return HEAD_BAD;
			repeat = length[i - 1];
			if (head_bits(h, 2, &times))
				return HEAD_SHORT;
			times += 3;
		} else if (sym == 17) {
			if (head_bits(h, 3, &times))
				return HEAD_SHORT;
			times += 3;
		} else {
			if (head_bits(h, 7, &times))
				return HEAD_SHORT;
			times += 11;
		}
		if (i + times > nlit + ndist)
			return HEAD_BAD;
		memset(length + i, repeat, times);
		i += times;
	}
	if (length[256] == 0 || huffman_build(&lit, length, nlit) ||
	    huffman_build(&dist, length + nlit, ndist))
		return HEAD_BAD;
	return head_codes(h, &lit, &dist);
}

/* The member's blocks until want bytes are out (HEAD_FULL) or its last block ends (HEAD_END,
 * h->at then past its last byte). */
static int head_inflate(struct head *h)
{
	unsigned last, type;
	int rc;

	do {
		if (head_bits(h, 1, &last) || head_bits(h, 2, &type))
			return HEAD_SHORT;
		rc = type == 0	 ? head_stored(h)
		     : type == 1 ? head_fixed(h)
		     : type == 2 ? head_dynamic(h)
				 : HEAD_BAD;
	} while (rc == 0 && !last);
	return rc ? rc : HEAD_END;
}

int gz_head(const char *path, const uint8_t *in, size_t size, int more, uint8_t *out,
	    size_t want, size_t *got, struct error *e)
{
	const char *why = gz_short;
	size_t at = 0;

	*got = 0;
	while (at < size && *got < want) {
		if (!gz_is(in + at, size - at))
			return at ? gz_trailing(path, at, e) : gz_corrupt(path, "not gzip data", e);
		size_t head = gz_header(in + at, size - at, &why);
		if (!head)
			break;
		struct head h = { .in = in + at + head, .avail = size - at - head, .out = out,
				  .want = want, .got = *got, .start = *got };
		int rc = head_inflate(&h);
		*got = h.got;
		if (rc == HEAD_FULL)
			return 0;
		if (rc == HEAD_BAD)
			return gz_corrupt(path, "invalid or truncated compressed data", e);
		why = gz_short;
		if (rc == HEAD_SHORT || size - at - head - h.at < GZ_TRAILER)
			break;
		at += head + h.at + GZ_TRAILER;
	}
	if (*got == want || (at == size && !more))
		return 0;
	return why == gz_short && more ? 1 : gz_corrupt(path, why, e);
}

/* ---- whole files, through libdeflate ---- */

/* One gzip member at in, inflated onto out[*have, max): header, deflate data, then the CRC-32
 * and length of what it held. *used gets its length in the file. */
static int gz_member(const char *path, struct libdeflate_decompressor *dec, const uint8_t *in,
		     size_t avail, uint8_t *out, size_t max, size_t *have, size_t *used,
		     struct error *e)
{
	const char *why;
	size_t head = gz_header(in, avail, &why), body, made;

	if (!head)
		return gz_corrupt(path, why, e);
	enum libdeflate_result r = libdeflate_deflate_decompress_ex(
		dec, in + head, avail - head, out + *have, max - *have, &body, &made);
	if (r == LIBDEFLATE_INSUFFICIENT_SPACE)
		return 1;
	if (r != LIBDEFLATE_SUCCESS)
		return gz_corrupt(path, "invalid or truncated compressed data", e);
	const uint8_t *tail = in + head + body;
	if (avail - head - body < GZ_TRAILER)
		return gz_corrupt(path, "unexpected end of file", e);
	if (libdeflate_crc32(0, out + *have, made) != le32(tail))
		return gz_corrupt(path, "incorrect data check", e);
	if ((uint32_t)made != le32(tail + 4))
		return gz_corrupt(path, "incorrect length check", e);
	*have += made;
	*used = head + body + GZ_TRAILER;
	return 0;
}

int gz_inflate(const char *path, const uint8_t *in, size_t size, size_t max, uint8_t **data,
	       size_t *len, struct error *e)
{
	uint8_t *out = malloc(max ? max : 1);
	struct libdeflate_decompressor *dec = out ? libdeflate_alloc_decompressor() : NULL;
	size_t have = 0;
	int rc = dec ? 0 : error_set(e, "%s: out of memory for %zu bytes", path, max);

	for (size_t at = 0, used = 0; rc == 0 && at < size; at += used)
		rc = gz_is(in + at, size - at)
			     ? gz_member(path, dec, in + at, size - at, out, max, &have, &used, e)
			     : gz_trailing(path, at, e);
	libdeflate_free_decompressor(dec);
	if (rc != 0) {
		free(out);
		return rc;
	}
	*data = out;
	*len = have;
	return 0;
}
