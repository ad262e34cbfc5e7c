/* An INI file read into (section, key, value, where) entries, plus --set overrides. Parsing is
 * inih's; this module adds line numbers, duplicate detection and overrides. */
#ifndef LETHE_INI_H
#define LETHE_INI_H

#include <stddef.h>

#include "util/error.h"

#define INI_NAME_MAX 64

struct ini_entry {
	char section[INI_NAME_MAX];
	char key[INI_NAME_MAX];
	char *value;
	int line;	 /* 1-based line in the file; 0 for a --set override */
	int overridden;	 /* set by --set: value came from the command line */
};

struct ini_section {
	char name[INI_NAME_MAX];
	int line;
};

struct ini {
	char *path;		 /* as given by the user, for messages */
	struct ini_entry *entries;
	size_t count, cap;
	struct ini_section *sections; /* in file order; --set may add sections (line 0) */
	size_t num_sections, sections_cap;
};

/* Reads path. Errors: the file cannot be opened, a syntax error (with its line), a key given
 * twice in a section (both lines), a key outside any section, names too long, a control
 * character (not a text file). */
int ini_load(struct ini *ini, const char *path, struct error *e);

/* Applies one "section.key=value" override: replaces the entry or adds it. Malformed text is an
 * error that quotes it. */
int ini_set(struct ini *ini, const char *assignment, struct error *e);

const struct ini_entry *ini_get(const struct ini *ini, const char *section, const char *key);
const struct ini_section *ini_section_get(const struct ini *ini, const char *section);

/* "path:line" for a file entry, "--set section.key" for an override. */
void ini_where(const struct ini *ini, const struct ini_entry *en, char *buf, size_t size);

/* "path:line" of the section's header; "--set section.key" (its first key) for a section that
 * only overrides created. */
void ini_section_where(const struct ini *ini, const struct ini_section *sec, char *buf,
		       size_t size);

void ini_free(struct ini *ini);

#endif
