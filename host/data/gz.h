/* gzip files (RFC 1952) held in memory. libdeflate inflates a whole deflate stream at once into
 * a buffer of a size given beforehand, and has no streaming API; a file's first bytes (an idx
 * header, which says how long the rest is) are therefore decoded here by hand, so that a file
 * is judged by its header before anything large is inflated. */
#ifndef LETHE_GZ_H
#define LETHE_GZ_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Whether the size bytes at in start with the gzip magic. */
int gz_is(const uint8_t *in, size_t size);

/* The first `want` bytes the gzip data at in inflates to, into out: *got receives how many
 * (fewer when the data holds fewer). Only what those bytes need is decoded, whatever follows.
 * `more` says that the size bytes are the start of a longer file. Returns 0; 1 when they end
 * before the bytes wanted do and there is more (give it more); -1 on corrupt or truncated
 * data, with e naming path. */
int gz_head(const char *path, const uint8_t *in, size_t size, int more, uint8_t *out,
	    size_t want, size_t *got, struct error *e);

/* Inflates the gzip data at in (its members one after another, joined, as zlib did; anything
 * after the last member is refused) into a buffer of max bytes: *data (malloc'd) and *len.
 * Returns 0; 1, with nothing allocated and e untouched, when the data holds more than max bytes,
 * which are all that is ever inflated; -1 on corrupt data, with e naming path. */
int gz_inflate(const char *path, const uint8_t *in, size_t size, size_t max, uint8_t **data,
	       size_t *len, struct error *e);

#endif
