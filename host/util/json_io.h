/* Reading a results file the way `lethe report` needs it: each key looked up by name and type,
 * and one that is missing or of the wrong type named by its path in the error
 * ("unlearning[0].references.retrain.ua"). JSON's null stands for NaN wherever a number may be
 * null. The caller prefixes the file's name. */
#ifndef LETHE_REPORT_JSON_H
#define LETHE_REPORT_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "util/error.h"

#define REPORT_PATH_MAX 256

/* The types a key may have, or'ed. */
enum {
	REPORT_JSON_NULL = 1 << 0,
	REPORT_JSON_BOOL = 1 << 1,
	REPORT_JSON_INTEGER = 1 << 2,
	REPORT_JSON_REAL = 1 << 3,
	REPORT_JSON_NUMBER = REPORT_JSON_INTEGER | REPORT_JSON_REAL,
	REPORT_JSON_STRING = 1 << 4,
	REPORT_JSON_ARRAY = 1 << 5,
	REPORT_JSON_OBJECT = 1 << 6
};

/* Paths of an object's key and an array's element, from the parent's path ("" at the top). */
void report_json_key_path(char out[REPORT_PATH_MAX], const char *parent, const char *key);
void report_json_index_path(char out[REPORT_PATH_MAX], const char *parent, size_t i);

/* 0 if v, found at path, has one of the types; else an error naming path. */
int report_json_check(const json_t *v, const char *path, unsigned types, struct error *e);

/* *out = obj's key, which must exist and have one of the types. obj's path is path. */
int report_json_get(const json_t *obj, const char *path, const char *key, unsigned types,
		    const json_t **out, struct error *e);
/* The same, but a missing key gives *out = NULL and no error. */
int report_json_find(const json_t *obj, const char *path, const char *key, unsigned types,
		     const json_t **out, struct error *e);

/* A number, or null as NaN. */
int report_json_number(const json_t *obj, const char *path, const char *key, double *out,
		       struct error *e);
int report_json_integer(const json_t *obj, const char *path, const char *key, long long *out,
			struct error *e);
int report_json_string(const json_t *obj, const char *path, const char *key, const char **out,
		       struct error *e);
/* A string or null (*out = NULL), or no such key (*out = NULL). */
int report_json_optional_string(const json_t *obj, const char *path, const char *key,
				const char **out, struct error *e);

/* array, found at path: exactly n numbers or nulls, into out[0..n-1]. */
int report_json_numbers(const json_t *array, const char *path, size_t n, double *out,
			struct error *e);

#endif
