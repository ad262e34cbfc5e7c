/* Checking a sweep's runs before any starts, so a typo in the tenth setting fails at once, not
 * after nine settings' worth of runs. */
#ifndef LETHE_SWEEP_CHECK_H
#define LETHE_SWEEP_CHECK_H

#include <stddef.h>

#include "core/plugin_loader.h"
#include "sweep/sweep_file.h"
#include "util/error.h"

/* Loads the base scenario with the overrides of every run in [first, first + count): built-in
 * keys and values, plugin sections and every plugin key and value (each plugin file is opened
 * once). With full set, the first of those runs also opens an engine, as lethe check does:
 * data, model and plugin instances. An error names the sweep file's line that gave the value
 * ("sweep.ini:7: [ewc] lambda = abc: 'abc' is not a number"), else the setting. */
int sweep_check(const struct sweep *sw, const struct plugin_path *pp, size_t first, size_t count,
		int full, struct error *e);

#endif
