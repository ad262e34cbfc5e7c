/* Typed parameters: text from an INI section checked against lethe_param_decl tables. The host's
 * own sections ([train], [model], ...) are declared the same way as a plugin's, so one validator
 * and one listing serve both. */
#ifndef LETHE_PARAMS_H
#define LETHE_PARAMS_H

#include <stddef.h>

#include <lethe/param.h>

#include "scenario/ini.h"
#include "util/error.h"

/* Parses text as decl's type and checks its range or choices. The message (on -1) says what is
 * wrong with the value only, e.g. "'abc' is not a number" or "2.5 is above the maximum 1";
 * the caller adds where. */
int params_parse(const lethe_param_decl *decl, const char *text, lethe_param_value *out,
		 struct error *e);

const lethe_param_decl *params_find(const lethe_param_decl *decls, size_t n, const char *key);

/* The declared key nearest to `key` by edit distance, or NULL when none is close enough to be a
 * plausible typo (distance > max(2, len/3)). */
const char *params_suggest(const lethe_param_decl *decls, size_t n, const char *key);

/* The name in names[0..n) nearest to `key`, by the same rule as params_suggest, or NULL. */
const char *params_nearest(const char *const *names, size_t n, const char *key);

/* Levenshtein distance, exposed for suggestions elsewhere (section and plugin names). */
size_t params_distance(const char *a, const char *b);

/* Fills values[0..n) for section `section` of ini: each declaration's default, then the
 * section's entries. An unknown key ("path:12: unknown key 'lrr' in [train]; did you mean
 * 'lr'?") or a bad value ("path:12: [train] lr = abc: 'abc' is not a number") is an error.
 * String values point into ini or the declarations and live as long as both. */
int params_fill(const lethe_param_decl *decls, size_t n, const struct ini *ini,
		const char *section, lethe_param_value *values, struct error *e);

/* The declaration's type, range and choices as short text for listings, e.g. "float in
 * [0, 1e+06]" or "one of exact|sampled". */
void params_describe(const lethe_param_decl *decl, char *buf, size_t size);

#endif
