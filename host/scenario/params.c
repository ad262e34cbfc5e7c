/* Typed parameters: text checked against a lethe_param_decl, and a section of an INI file filled
 * into values. The host's sections and every plugin's go through here, so all of them report
 * unknown keys, bad values and their locations the same way. */
#define _GNU_SOURCE
#include "scenario/params.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const bool_true[] = { "true", "yes", "on", "1" };
static const char *const bool_false[] = { "false", "no", "off", "0" };

/* Scenario numbers are C syntax even after the dashboard calls setlocale(LC_ALL, ""). */
static double parse_strtod(const char *text, char **end)
{
	static locale_t c_locale;

	if (!c_locale)
		c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	return c_locale ? strtod_l(text, end, c_locale) : strtod(text, end);
}

/* Bounds as people write them: 65536, not 65536.000000 or 6.5536e+04. */
static void format_number(double v, char *buf, size_t size)
{
	if (v == floor(v) && fabs(v) < 1e16)
		snprintf(buf, size, "%.0f", v);
	else
		snprintf(buf, size, "%g", v);
}

static int check_range(const lethe_param_decl *decl, const char *text, double v, struct error *e)
{
	char bound[64];

	if (v < decl->min) {
		format_number(decl->min, bound, sizeof(bound));
		return error_set(e, "%s is below the minimum %s", text, bound);
	}
	if (v > decl->max) {
		format_number(decl->max, bound, sizeof(bound));
		return error_set(e, "%s is above the maximum %s", text, bound);
	}
	return 0;
}

static int parse_bool(const char *text, lethe_param_value *out, struct error *e)
{
	for (size_t i = 0; i < sizeof(bool_true) / sizeof(*bool_true); i++) {
		if (strcasecmp(text, bool_true[i]) == 0) {
			out->i = 1;
			return 0;
		}
		if (strcasecmp(text, bool_false[i]) == 0) {
			out->i = 0;
			return 0;
		}
	}
	return error_set(e, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", text);
}

static int parse_int(const lethe_param_decl *decl, const char *text, lethe_param_value *out,
		     struct error *e)
{
	char *end;

	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (end == text || *end)
		return error_set(e, "'%s' is not an integer", text);
	if (errno == ERANGE)
		return error_set(e, "'%s' is out of range", text);
	if (check_range(decl, text, (double)v, e) < 0)
		return -1;
	out->i = v;
	return 0;
}

static int parse_float(const lethe_param_decl *decl, const char *text, lethe_param_value *out,
		       struct error *e)
{
	char *end;
	double v = parse_strtod(text, &end);

	if (end == text || *end)
		return error_set(e, "'%s' is not a number", text);
	if (!isfinite(v))
		return error_set(e, "'%s' is not a finite number", text);
	if (check_range(decl, text, v, e) < 0)
		return -1;
	out->f = v;
	return 0;
}

static int parse_choice(const lethe_param_decl *decl, const char *text, lethe_param_value *out,
			struct error *e)
{
	size_t n = 0;

	if (!decl->choices)
		return error_set(e, "no choices declared");
	for (; decl->choices[n]; n++) {
		if (strcmp(text, decl->choices[n]) == 0) {
			out->i = (int64_t)n;
			out->s = decl->choices[n];
			return 0;
		}
	}

	char list[ERROR_MSG_MAX / 2];
	params_describe(decl, list, sizeof(list));
	const char *near = params_nearest(decl->choices, n, text);
	if (near)
		return error_set(e, "'%s' is not %s; did you mean '%s'?", text, list, near);
	return error_set(e, "'%s' is not %s", text, list);
}

int params_parse(const lethe_param_decl *decl, const char *text, lethe_param_value *out,
		 struct error *e)
{
	memset(out, 0, sizeof(*out));
	switch (decl->type) {
	case LETHE_PARAM_BOOL:
		return parse_bool(text, out, e);
	case LETHE_PARAM_INT:
		return parse_int(decl, text, out, e);
	case LETHE_PARAM_FLOAT:
		return parse_float(decl, text, out, e);
	case LETHE_PARAM_CHOICE:
		return parse_choice(decl, text, out, e);
	case LETHE_PARAM_STRING:
		out->s = text;
		return 0;
	}
	return error_set(e, "unknown parameter type %d", (int)decl->type);
}

const lethe_param_decl *params_find(const lethe_param_decl *decls, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(decls[i].key, key) == 0)
			return &decls[i];
	}
	return NULL;
}

/* Keeps name in *best when it is nearer to key than any so far, and near enough to be a typo:
 * within max(2, len/3) edits. */
static void params_consider(const char *key, const char *name, const char **best, size_t *dist)
{
	size_t third = strlen(key) / 3;
	size_t reach = third > 2 ? third : 2;
	size_t d = params_distance(key, name);

	if (d <= reach && (!*best || d < *dist)) {
		*best = name;
		*dist = d;
	}
}

const char *params_suggest(const lethe_param_decl *decls, size_t n, const char *key)
{
	const char *best = NULL;
	size_t dist = 0;

	for (size_t i = 0; i < n; i++)
		params_consider(key, decls[i].key, &best, &dist);
	return best;
}

const char *params_nearest(const char *const *names, size_t n, const char *key)
{
	const char *best = NULL;
	size_t dist = 0;

	for (size_t i = 0; i < n; i++)
		params_consider(key, names[i], &best, &dist);
	return best;
}

size_t params_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = malloc((lb + 1) * sizeof(*row));

	if (!row)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	size_t d = row[lb];
	free(row);
	return d;
}

int params_fill(const lethe_param_decl *decls, size_t n, const struct ini *ini,
		const char *section, lethe_param_value *values, struct error *e)
{
	for (size_t i = 0; i < n; i++) {
		const char *def = decls[i].default_value ? decls[i].default_value : "";
		if (params_parse(&decls[i], def, &values[i], e) < 0)
			return error_prefix(e, "[%s] %s: invalid default '%s' (a bug in its "
					    "declaration)", section, decls[i].key, def);
	}

	for (size_t k = 0; k < ini->count; k++) {
		const struct ini_entry *en = &ini->entries[k];
		char where[ERROR_MSG_MAX];

		if (strcmp(en->section, section) != 0)
			continue;
		ini_where(ini, en, where, sizeof(where));
		const lethe_param_decl *d = params_find(decls, n, en->key);
		if (!d) {
			const char *near = params_suggest(decls, n, en->key);
			if (near)
				return error_set(e, "%s: unknown key '%s' in [%s]; did you mean "
						 "'%s'?", where, en->key, section, near);
			return error_set(e, "%s: unknown key '%s' in [%s]", where, en->key,
					 section);
		}
		if (params_parse(d, en->value, &values[d - decls], e) < 0)
			return error_prefix(e, "%s: [%s] %s = %s", where, section, en->key,
					    en->value);
	}
	return 0;
}

void params_describe(const lethe_param_decl *decl, char *buf, size_t size)
{
	char lo[64], hi[64];

	switch (decl->type) {
	case LETHE_PARAM_BOOL:
		snprintf(buf, size, "bool");
		return;
	case LETHE_PARAM_INT:
	case LETHE_PARAM_FLOAT:
		format_number(decl->min, lo, sizeof(lo));
		format_number(decl->max, hi, sizeof(hi));
		snprintf(buf, size, "%s in [%s, %s]",
			 decl->type == LETHE_PARAM_INT ? "int" : "float", lo, hi);
		return;
	case LETHE_PARAM_CHOICE: {
		size_t len = (size_t)snprintf(buf, size, "one of ");
		for (size_t i = 0; decl->choices && decl->choices[i] && len < size; i++)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "|" : "",
						decl->choices[i]);
		return;
	}
	case LETHE_PARAM_STRING:
		snprintf(buf, size, "text");
		return;
	}
	snprintf(buf, size, "unknown type %d", (int)decl->type);
}
