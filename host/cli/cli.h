/* The command line: lethe run | tui | check | report | sweep | plugins, --help, --version. */
#ifndef LETHE_CLI_H
#define LETHE_CLI_H

#include <stddef.h>

#include "error.h"

/* Exit statuses, as lethe(1) documents them. */
enum {
	CLI_OK = 0,
	CLI_RUN_FAILED = 1, /* the run started and stopped on an error */
	CLI_BAD_INPUT = 2   /* usage, scenario, data or plugin errors: nothing ran */
};

int cli_main(int argc, char **argv);

/* A scenario argument as given, or, named without a directory, a shipped scenario of that name
 * (with or without .ini); -1 with e set when neither exists. */
int cli_resolve_scenario(const char *arg, char *out, size_t size, struct error *e);

#endif
