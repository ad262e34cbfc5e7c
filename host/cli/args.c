#include "cli/args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/status.h"

int args_error(const struct args_spec *spec, const char *fmt, ...)
{
	const char *cmd = spec ? spec->command : NULL;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "lethe%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see lethe%s%s --help)\n", cmd ? " " : "", cmd ? cmd : "");
	va_end(ap);
	return STATUS_BAD_INPUT;
}

static const struct args_option *option_named(const struct args_spec *spec, const char *name)
{
	for (const struct args_option *o = spec->options; o && o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

int args_parse(struct args *a, const struct args_spec *spec, int argc, char **argv)
{
	memset(a, 0, sizeof(*a));
	a->spec = spec;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		const struct args_option *o = arg[0] == '-' ? option_named(spec, arg) : NULL;
		if (arg[0] == '-' && !o)
			return args_error(spec, "unknown option '%s'", arg);
		if (!o && a->num_positional == spec->max_args)
			return args_error(spec, "unexpected argument '%s'", arg);
		if (!o) {
			a->positional[a->num_positional++] = arg;
			continue;
		}
		const char *value = NULL;
		if (o->kind != ARGS_FLAG && i + 1 == argc)
			return args_error(spec, "%s needs a value", arg);
		if (o->kind != ARGS_FLAG)
			value = argv[++i];
		if (a->num_values == ARGS_VALUES_MAX)
			return args_error(spec, "too many options (at most %d)", ARGS_VALUES_MAX);
		a->values[a->num_values++] = (struct args_value){ o->name, value };
	}
	if (a->num_positional < spec->min_args)
		return args_error(spec, "%s %s", spec->command, spec->missing);
	return 0;
}

int args_has(const struct args *a, const char *option)
{
	for (size_t i = 0; i < a->num_values; i++)
		if (!strcmp(a->values[i].option, option))
			return 1;
	return 0;
}

const char *args_get(const struct args *a, const char *option)
{
	const char *v = NULL;
	for (size_t i = 0; i < a->num_values; i++)
		if (!strcmp(a->values[i].option, option))
			v = a->values[i].value;
	return v;
}

size_t args_list(const struct args *a, const char *option, const char **out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < a->num_values; i++)
		if (!strcmp(a->values[i].option, option) && n++ < cap)
			out[n - 1] = a->values[i].value;
	return n;
}

int args_whole(const struct args *a, const char *option, long min, long fallback, long *out)
{
	const char *text = args_get(a, option);
	*out = fallback;
	if (!text)
		return 0;
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (!*text || *end || errno || v < min) {
		fprintf(stderr, "lethe %s: %s %s: expected a whole number of at least %ld\n",
			a->spec->command, option, text, min);
		return STATUS_BAD_INPUT;
	}
	*out = v;
	return 0;
}
