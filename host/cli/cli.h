/* The command line: lethe run | tui | check | report | sweep | plugins, --help, --version. */
#ifndef LETHE_CLI_H
#define LETHE_CLI_H

#include <stddef.h>

#include "util/error.h"

/* Exit statuses, as lethe(1) documents them. */
enum {
	CLI_OK = 0,
	CLI_RUN_FAILED = 1, /* the run started and stopped on an error */
	CLI_BAD_INPUT = 2   /* usage, scenario, data or plugin errors: nothing ran */
};

int cli_main(int argc, char **argv);

#endif
