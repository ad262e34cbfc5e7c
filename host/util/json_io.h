/* lethe's JSON files through jansson, and the one place where its numbers meet JSON: NaN and the
 * infinities, which JSON lacks, are written as null, and null reads back as NaN. Files are
 * written durably (files_replace) with 17 significant digits, so that every double reads back
 * bit for bit; read, they are named in every error. Strict reading looks each key up by name
 * and type, and names one that is missing or of the wrong type by its path
 * ("unlearning[0].references.retrain.ua"); loose reading takes what is there. */
#ifndef LETHE_JSON_IO_H
#define LETHE_JSON_IO_H

#include <stddef.h>

#include <jansson.h>

#include "util/error.h"

#define JSON_IO_PATH_MAX 256

/* ---- writing ---- */

/* A number, or null when x is NaN or infinite. */
json_t *json_io_real(double x);

/* Writes root to dir/name durably, indented, numbers to 17 digits, ending with a newline. */
int json_io_write(const json_t *root, const char *dir, const char *name, struct error *e);

/* ---- reading ---- */

/* The parsed file (a regular file: never waits on a FIFO; duplicate keys refused), or NULL
 * with e set ("PATH: cannot open: ...", "PATH:LINE:COLUMN: ..."). */
json_t *json_io_read(const char *path, struct error *e);

/* Loosely: obj's key as a number (a real or an integer), NaN for null, a missing key or
 * another type. obj may be NULL. */
double json_io_number_or_nan(const json_t *obj, const char *key);

/* Strictly: the types a key may have, or'ed. */
enum {
	JSON_IO_NULL = 1 << 0,
	JSON_IO_BOOL = 1 << 1,
	JSON_IO_INTEGER = 1 << 2,
	JSON_IO_REAL = 1 << 3,
	JSON_IO_NUMBER = JSON_IO_INTEGER | JSON_IO_REAL,
	JSON_IO_STRING = 1 << 4,
	JSON_IO_ARRAY = 1 << 5,
	JSON_IO_OBJECT = 1 << 6
};

/* Paths of an object's key and an array's element, from the parent's path ("" at the top). */
void json_io_key_path(char out[JSON_IO_PATH_MAX], const char *parent, const char *key);
void json_io_index_path(char out[JSON_IO_PATH_MAX], const char *parent, size_t i);

/* 0 if v, found at path, has one of the types; else an error naming path. */
int json_io_check(const json_t *v, const char *path, unsigned types, struct error *e);

/* *out = obj's key, which must exist and have one of the types. obj's path is path. */
int json_io_get(const json_t *obj, const char *path, const char *key, unsigned types,
		const json_t **out, struct error *e);
/* The same, but a missing key gives *out = NULL and no error. */
int json_io_find(const json_t *obj, const char *path, const char *key, unsigned types,
		 const json_t **out, struct error *e);

/* A number, or null as NaN. The caller prefixes the file's name to errors. */
int json_io_number(const json_t *obj, const char *path, const char *key, double *out,
		   struct error *e);
int json_io_integer(const json_t *obj, const char *path, const char *key, long long *out,
		    struct error *e);
int json_io_string(const json_t *obj, const char *path, const char *key, const char **out,
		   struct error *e);
/* A string or null (*out = NULL), or no such key (*out = NULL). */
int json_io_optional_string(const json_t *obj, const char *path, const char *key,
			    const char **out, struct error *e);

/* array, found at path: exactly n numbers or nulls, into out[0..n-1]. */
int json_io_numbers(const json_t *array, const char *path, size_t n, double *out,
		    struct error *e);

#endif
