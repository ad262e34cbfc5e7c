/* The JSON files of a sweep through jansson: written whole or not at all (a temporary file
 * renamed over the old one, so a reader never sees half a file), and read with a message that
 * names the file. */
#ifndef LETHE_SWEEP_JSON_H
#define LETHE_SWEEP_JSON_H

#include <jansson.h>

#include "util/error.h"

/* Writes root to dir/name (indented, numbers to 17 digits), durably (files_replace). */
int sweep_json_write(const json_t *root, const char *dir, const char *name, struct error *e);

/* The parsed file, or NULL with e set ("path: cannot read: ..." or "path:LINE: ..."). */
json_t *sweep_json_read(const char *path, struct error *e);

/* A number (a real or an integer), or NaN for null, a missing key or another type. */
double sweep_json_number(const json_t *obj, const char *key);

/* A real, or JSON null when x is NaN or infinite, which JSON lacks. */
json_t *sweep_json_real(double x);

#endif
