#include "util/json_io.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/files.h"

json_t *json_io_real(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

static int dump(FILE *f, const void *root, struct error *e)
{
	(void)e;
	/* 17 significant digits: every double reads back bit for bit. */
	if (json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0)
		return -1;
	return fputc('\n', f) == EOF ? -1 : 0;
}

int json_io_write(const json_t *root, const char *dir, const char *name, struct error *e)
{
	return files_replace(dir, name, 0666, dump, root, e);
}

json_t *json_io_read(const char *path, struct error *e)
{
	FILE *f = files_fopen_regular(path, e);
	if (!f)
		return NULL;
	json_error_t je;
	json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	if (!root && je.line > 0)
		error_set(e, "%s:%d:%d: %s", path, je.line, je.column, je.text);
	else if (!root)
		error_set(e, "%s: cannot read: %s", path, je.text);
	return root;
}

double json_io_number_or_nan(const json_t *obj, const char *key)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;
	return json_is_number(v) ? json_number_value(v) : NAN;
}

void json_io_key_path(char out[JSON_IO_PATH_MAX], const char *parent, const char *key)
{
	snprintf(out, JSON_IO_PATH_MAX, "%s%s%s", parent, *parent ? "." : "", key);
}

void json_io_index_path(char out[JSON_IO_PATH_MAX], const char *parent, size_t i)
{
	snprintf(out, JSON_IO_PATH_MAX, "%s[%zu]", parent, i);
}

static unsigned type_of(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return JSON_IO_OBJECT;
	case JSON_ARRAY: return JSON_IO_ARRAY;
	case JSON_STRING: return JSON_IO_STRING;
	case JSON_INTEGER: return JSON_IO_INTEGER;
	case JSON_REAL: return JSON_IO_REAL;
	case JSON_TRUE: case JSON_FALSE: return JSON_IO_BOOL;
	case JSON_NULL: break;
	}
	return JSON_IO_NULL;
}

/* "a number or null", "an object", ... */
static void describe(char *out, size_t size, unsigned types)
{
	static const struct { unsigned bits; const char *name; } names[] = {
		{ JSON_IO_NUMBER, "a number" },
		{ JSON_IO_INTEGER, "an integer" },
		{ JSON_IO_REAL, "a number" },
		{ JSON_IO_STRING, "a string" },
		{ JSON_IO_ARRAY, "an array" },
		{ JSON_IO_OBJECT, "an object" },
		{ JSON_IO_BOOL, "a boolean" },
		{ JSON_IO_NULL, "null" },
	};
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		if ((types & names[i].bits) != names[i].bits)
			continue;
		types &= ~names[i].bits;
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s%s", len ? " or " : "", names[i].name);
	}
}

int json_io_check(const json_t *v, const char *path, unsigned types, struct error *e)
{
	unsigned t = type_of(v);
	if (t & types)
		return 0;
	char want[128], got[32];
	describe(want, sizeof(want), types);
	describe(got, sizeof(got), t);
	return error_set(e, "\"%s\" is %s, not %s", path, got, want);
}

int json_io_find(const json_t *obj, const char *path, const char *key, unsigned types,
		 const json_t **out, struct error *e)
{
	char p[JSON_IO_PATH_MAX];
	json_io_key_path(p, path, key);
	*out = json_object_get(obj, key);
	if (*out && json_io_check(*out, p, types, e) != 0) {
		*out = NULL;
		return -1;
	}
	return 0;
}

int json_io_get(const json_t *obj, const char *path, const char *key, unsigned types,
		const json_t **out, struct error *e)
{
	if (json_io_find(obj, path, key, types, out, e) != 0)
		return -1;
	if (!*out) {
		char p[JSON_IO_PATH_MAX];
		json_io_key_path(p, path, key);
		return error_set(e, "missing key \"%s\"", p);
	}
	return 0;
}

int json_io_number(const json_t *obj, const char *path, const char *key, double *out,
		   struct error *e)
{
	const json_t *v;
	if (json_io_get(obj, path, key, JSON_IO_NUMBER | JSON_IO_NULL, &v, e) != 0)
		return -1;
	*out = json_is_null(v) ? NAN : json_number_value(v);
	return 0;
}

int json_io_integer(const json_t *obj, const char *path, const char *key, long long *out,
		    struct error *e)
{
	const json_t *v;
	if (json_io_get(obj, path, key, JSON_IO_INTEGER, &v, e) != 0)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

int json_io_string(const json_t *obj, const char *path, const char *key, const char **out,
		   struct error *e)
{
	const json_t *v;
	if (json_io_get(obj, path, key, JSON_IO_STRING, &v, e) != 0)
		return -1;
	*out = json_string_value(v);
	return 0;
}

int json_io_optional_string(const json_t *obj, const char *path, const char *key,
			    const char **out, struct error *e)
{
	const json_t *v;
	if (json_io_find(obj, path, key, JSON_IO_STRING | JSON_IO_NULL, &v, e) != 0)
		return -1;
	/* json_string_value is NULL for null and for no value at all. */
	*out = json_string_value(v);
	return 0;
}

int json_io_numbers(const json_t *array, const char *path, size_t n, double *out,
		    struct error *e)
{
	if (json_array_size(array) != n)
		return error_set(e, "\"%s\" has %zu entries, not %zu", path,
				 json_array_size(array), n);
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(array, i);
		char p[JSON_IO_PATH_MAX];
		json_io_index_path(p, path, i);
		if (json_io_check(v, p, JSON_IO_NUMBER | JSON_IO_NULL, e) != 0)
			return -1;
		out[i] = json_is_null(v) ? NAN : json_number_value(v);
	}
	return 0;
}
