/* Where lethe finds what is named without a directory: the shipped scenarios and plugins of the
 * build tree when this binary is the one built there (a fresh tree runs without installing),
 * else the installed ones. */
#ifndef LETHE_PATHS_H
#define LETHE_PATHS_H

#include <stddef.h>

#include "util/error.h"

/* Nonzero when this binary is the one in its build tree (BUILD/host/lethe), not installed. */
int paths_running_from_build_tree(void);

/* A scenario argument as given, or, named without a directory, a shipped scenario of that name
 * (with or without .ini); -1 with e set when neither exists. */
int paths_resolve_scenario(const char *arg, char *out, size_t size, struct error *e);

#endif
