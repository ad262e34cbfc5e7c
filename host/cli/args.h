/* The one option parser of the command line (tmux's arguments.c, with long options): a command
 * declares its options and how many arguments it takes (struct args_spec), and args_parse
 * checks argv against that, so every command refuses a bad command line the same way. */
#ifndef LETHE_ARGS_H
#define LETHE_ARGS_H

#include <stddef.h>

#define ARGS_POSITIONAL_MAX 64
#define ARGS_VALUES_MAX 512

enum args_kind {
	ARGS_FLAG,  /* --quiet */
	ARGS_VALUE, /* --out DIR: the last one given counts */
	ARGS_LIST   /* --set K=V: every one given counts, in order */
};

struct args_option {
	const char *name; /* "--out" */
	enum args_kind kind;
};

struct args_spec {
	const char *command;		   /* "run", for messages */
	const struct args_option *options; /* ends with { NULL } */
	size_t min_args, max_args;	   /* positional arguments */
	const char *missing;		   /* the message when fewer: "needs a scenario file" */
};

struct args {
	const struct args_spec *spec;
	int argc;    /* the whole command line, program name included (cli_main sets it) */
	char **argv;
	size_t num_positional;
	const char *positional[ARGS_POSITIONAL_MAX];
	size_t num_values;
	struct args_value {
		const char *option; /* the spec's name */
		const char *value;  /* NULL for a flag */
	} values[ARGS_VALUES_MAX];
};

/* Parses argv[0..argc) (the command's own arguments) against spec: 0, or STATUS_BAD_INPUT
 * with one line on stderr (args_error's) when an option is unknown, lacks its value or comes
 * too often, or there are too few or too many arguments. */
int args_parse(struct args *a, const struct args_spec *spec, int argc, char **argv);

/* Whether option was given; its last value (NULL if not given); a list's values into
 * out[0..cap), returning how many were given (which may be more than cap). */
int args_has(const struct args *a, const char *option);
const char *args_get(const struct args *a, const char *option);
size_t args_list(const struct args *a, const char *option, const char **out, size_t cap);

/* option's value as a whole number of at least min, fallback if not given: 0, or
 * STATUS_BAD_INPUT with one line on stderr ("--jobs 0: expected a whole number of at least
 * 1"). */
int args_whole(const struct args *a, const char *option, long min, long fallback, long *out);

/* The one way a command line is refused: "lethe CMD: MESSAGE (see lethe CMD --help)" on
 * stderr (spec NULL: the command itself is at fault). Returns STATUS_BAD_INPUT. */
int args_error(const struct args_spec *spec, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
