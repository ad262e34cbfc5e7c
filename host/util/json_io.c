#include "report/report_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void report_json_key_path(char out[REPORT_PATH_MAX], const char *parent, const char *key)
{
	snprintf(out, REPORT_PATH_MAX, "%s%s%s", parent, *parent ? "." : "", key);
}

void report_json_index_path(char out[REPORT_PATH_MAX], const char *parent, size_t i)
{
	snprintf(out, REPORT_PATH_MAX, "%s[%zu]", parent, i);
}

static unsigned type_of(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return REPORT_JSON_OBJECT;
	case JSON_ARRAY: return REPORT_JSON_ARRAY;
	case JSON_STRING: return REPORT_JSON_STRING;
	case JSON_INTEGER: return REPORT_JSON_INTEGER;
	case JSON_REAL: return REPORT_JSON_REAL;
	case JSON_TRUE: case JSON_FALSE: return REPORT_JSON_BOOL;
	case JSON_NULL: break;
	}
	return REPORT_JSON_NULL;
}

/* "a number or null", "an object", ... */
static void describe(char *out, size_t size, unsigned types)
{
	static const struct { unsigned bits; const char *name; } names[] = {
		{ REPORT_JSON_NUMBER, "a number" },
		{ REPORT_JSON_INTEGER, "an integer" },
		{ REPORT_JSON_REAL, "a number" },
		{ REPORT_JSON_STRING, "a string" },
		{ REPORT_JSON_ARRAY, "an array" },
		{ REPORT_JSON_OBJECT, "an object" },
		{ REPORT_JSON_BOOL, "a boolean" },
		{ REPORT_JSON_NULL, "null" },
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

int report_json_check(const json_t *v, const char *path, unsigned types, struct error *e)
{
	unsigned t = type_of(v);
	if (t & types)
		return 0;
	char want[128], got[32];
	describe(want, sizeof(want), types);
	describe(got, sizeof(got), t);
	return error_set(e, "\"%s\" is %s, not %s", path, got, want);
}

int report_json_find(const json_t *obj, const char *path, const char *key, unsigned types,
		     const json_t **out, struct error *e)
{
	char p[REPORT_PATH_MAX];
	report_json_key_path(p, path, key);
	*out = json_object_get(obj, key);
	if (*out && report_json_check(*out, p, types, e) != 0) {
		*out = NULL;
		return -1;
	}
	return 0;
}

int report_json_get(const json_t *obj, const char *path, const char *key, unsigned types,
		    const json_t **out, struct error *e)
{
	if (report_json_find(obj, path, key, types, out, e) != 0)
		return -1;
	if (!*out) {
		char p[REPORT_PATH_MAX];
		report_json_key_path(p, path, key);
		return error_set(e, "missing key \"%s\"", p);
	}
	return 0;
}

int report_json_number(const json_t *obj, const char *path, const char *key, double *out,
		       struct error *e)
{
	const json_t *v;
	if (report_json_get(obj, path, key, REPORT_JSON_NUMBER | REPORT_JSON_NULL, &v, e) != 0)
		return -1;
	*out = json_is_null(v) ? NAN : json_number_value(v);
	return 0;
}

int report_json_integer(const json_t *obj, const char *path, const char *key, long long *out,
			struct error *e)
{
	const json_t *v;
	if (report_json_get(obj, path, key, REPORT_JSON_INTEGER, &v, e) != 0)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

int report_json_string(const json_t *obj, const char *path, const char *key, const char **out,
		       struct error *e)
{
	const json_t *v;
	if (report_json_get(obj, path, key, REPORT_JSON_STRING, &v, e) != 0)
		return -1;
	*out = json_string_value(v);
	return 0;
}

int report_json_optional_string(const json_t *obj, const char *path, const char *key,
				const char **out, struct error *e)
{
	const json_t *v;
	if (report_json_find(obj, path, key, REPORT_JSON_STRING | REPORT_JSON_NULL, &v, e) != 0)
		return -1;
	/* json_string_value is NULL for null and for no value at all. */
	*out = json_string_value(v);
	return 0;
}

int report_json_numbers(const json_t *array, const char *path, size_t n, double *out,
			struct error *e)
{
	if (json_array_size(array) != n)
		return error_set(e, "\"%s\" has %zu entries, not %zu", path,
				 json_array_size(array), n);
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(array, i);
		char p[REPORT_PATH_MAX];
		report_json_index_path(p, path, i);
		if (report_json_check(v, p, REPORT_JSON_NUMBER | REPORT_JSON_NULL, e) != 0)
			return -1;
		out[i] = json_is_null(v) ? NAN : json_number_value(v);
	}
	return 0;
}
