/* INI files through inih, plus what inih leaves to its caller: line numbers (our reader counts
 * the lines it hands over, and inih calls the handler for a line right after reading it),
 * duplicate keys and sections, lines too long for inih's buffer, control characters, and --set
 * overrides.
 *
 * Built against inih's defaults: ';' and '#' start a comment line, " ;" starts an inline
 * comment, and an indented line after a key continues that key's value (we reject those). */
#include "scenario/ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "util/files.h"

struct parse {
	struct ini *ini;
	FILE *f;
	struct error *e;
	int line;		     /* lines handed to inih so far */
	int error_line;		     /* line of the error in e; 0 while there is none */
	int read_errno;		     /* set when fgets failed on a read error */
	char section[INI_NAME_MAX];  /* the current section, "" before the first */
	char last_key[INI_NAME_MAX]; /* the section's last key, "" right after its header */
};

/* Records the first error, "path:line: ...", and returns 0: inih's handler failure value. */
static int parse_fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int parse_fail(struct parse *p, const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;

	if (p->error_line)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(p->e, "%s:%d: %s", p->ini->path, p->line, msg);
	p->error_line = p->line;
	return 0;
}

/* The array with room for one more of its count elements, or NULL (array intact). */
static void *grow(void *array, size_t *cap, size_t count, size_t size)
{
	if (count < *cap)
		return array;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *n = realloc(array, ncap * size);
	if (n)
		*cap = ncap;
	return n;
}

static int section_add(struct ini *ini, const char *name, int line)
{
	struct ini_section *all = grow(ini->sections, &ini->sections_cap, ini->num_sections,
				       sizeof(*all));
	if (!all)
		return -1;
	ini->sections = all;
	struct ini_section *sec = &all[ini->num_sections++];
	snprintf(sec->name, sizeof(sec->name), "%s", name);
	sec->line = line;
	return 0;
}

static struct ini_entry *entry_add(struct ini *ini, const char *section, const char *key,
				   const char *value, int line)
{
	char *copy = strdup(value);
	struct ini_entry *all = NULL;
	if (copy)
		all = grow(ini->entries, &ini->cap, ini->count, sizeof(*all));
	if (!all) {
		free(copy);
		return NULL;
	}
	ini->entries = all;
	struct ini_entry *en = &all[ini->count++];
	memset(en, 0, sizeof(*en));
	snprintf(en->section, sizeof(en->section), "%s", section);
	snprintf(en->key, sizeof(en->key), "%s", key);
	en->value = copy;
	en->line = line;
	return en;
}

static struct ini_entry *entry_find(const struct ini *ini, const char *section, const char *key)
{
	for (size_t i = 0; i < ini->count; i++) {
		struct ini_entry *en = &ini->entries[i];
		if (strcmp(en->section, section) == 0 && strcmp(en->key, key) == 0)
			return en;
	}
	return NULL;
}

/* Copies s[0..len) without surrounding blanks; -1 if it does not fit in size bytes. */
static int copy_trimmed(char *dst, size_t size, const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (len >= size)
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/* A "[name]" line (start just past '['). A header inih cannot parse is left to its syntax
 * error; inih keeps only 49 bytes of a section name, so the name we track is our own copy. */
static int parse_header(struct parse *p, const char *start)
{
	const char *close = strchr(start, ']');
	if (!close)
		return 1;
	const char *rest = close + 1;
	while (isspace((unsigned char)*rest))
		rest++;
	if (*rest && *rest != ';' && *rest != '#')
		return parse_fail(p, "unexpected text after ']'");

	char name[INI_NAME_MAX];
	if (copy_trimmed(name, sizeof(name), start, (size_t)(close - start)) < 0)
		return parse_fail(p, "section name longer than %d characters", INI_NAME_MAX - 1);
	if (!*name)
		return parse_fail(p, "empty section name");
	const struct ini_section *old = ini_section_get(p->ini, name);
	if (old)
		return parse_fail(p, "section [%s] already given at line %d", name, old->line);
	if (section_add(p->ini, name, p->line) < 0)
		return parse_fail(p, "out of memory");
	snprintf(p->section, sizeof(p->section), "%s", name);
	p->last_key[0] = '\0';
	return 1;
}

/* Sees each line before inih does, the way inih will: comment, continuation, or header. */
static int parse_classify(struct parse *p, const char *line)
{
	const char *s = line;
	if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s || *s == ';' || *s == '#')
		return 1;
	if (s > line && *p->last_key)
		return parse_fail(p, "indented line continues the value of '%s'; multi-line "
				  "values are not supported (remove the indentation)", p->last_key);
	if (*s == '[')
		return parse_header(p, s + 1);
	return 1;
}

static int parse_at_eof(FILE *f)
{
	int c = getc(f);
	if (c == EOF)
		return 1;
	ungetc(c, f);
	return 0;
}

/* The first control character of s[0..len) other than a tab, or NULL. A NUL would hide the rest
 * of its line from inih, and any of them, echoed in a message, would break it into lines or
 * drive the terminal. */
static const char *find_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return s + i;
	}
	return NULL;
}

/* fgets that says how many bytes it read, NUL bytes included. */
static size_t read_line(FILE *f, char *buf, size_t size)
{
	size_t len = 0;
	int c;

	while (len + 1 < size && (c = getc(f)) != EOF) {
		buf[len++] = (char)c;
		if (c == '\n')
			break;
	}
	buf[len] = '\0';
	return len;
}

/* inih's reader: counts lines and stops at the first error, so inih never splits a long line
 * into two silently, nor reads a line cut short by a NUL byte. */
static char *parse_read(char *buf, int size, void *stream)
{
	struct parse *p = stream;

	if (p->error_line)
		return NULL;
	size_t len = read_line(p->f, buf, (size_t)size);
	if (!len) {
		if (ferror(p->f))
			p->read_errno = errno;
		return NULL;
	}
	p->line++;
	if (len == (size_t)size - 1 && buf[len - 1] != '\n' && !parse_at_eof(p->f)) {
		parse_fail(p, "line longer than %d characters", size - 2);
		return NULL;
	}
	size_t text = len; /* without the line's end, "\n" or "\r\n" */
	if (buf[text - 1] == '\n')
		text--;
	if (text && buf[text - 1] == '\r')
		text--;
	const char *bad = find_control(buf, text);
	if (bad) {
		parse_fail(p, "control character 0x%02x in column %zu (not a text file?)",
			   (unsigned char)*bad, (size_t)(bad - buf) + 1);
		return NULL;
	}
	return parse_classify(p, buf) ? buf : NULL;
}

static int parse_entry(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;

	(void)section; /* ours is p->section: see parse_header */
	if (!*p->section)
		return parse_fail(p, "key '%s' is outside any section", key);
	if (!*key)
		return parse_fail(p, "missing key before '='");
	if (strlen(key) >= INI_NAME_MAX)
		return parse_fail(p, "key name longer than %d characters", INI_NAME_MAX - 1);
	const struct ini_entry *old = ini_get(p->ini, p->section, key);
	if (old)
		return parse_fail(p, "key '%s' in [%s] already set at line %d", key, p->section,
				  old->line);
	if (!entry_add(p->ini, p->section, key, value, p->line))
		return parse_fail(p, "out of memory");
	snprintf(p->last_key, sizeof(p->last_key), "%s", key);
	return 1;
}

int ini_load(struct ini *ini, const char *path, struct error *e)
{
	memset(ini, 0, sizeof(*ini));
	FILE *f = files_fopen_regular(path, e);
	if (!f)
		return -1;
	ini->path = strdup(path);
	if (!ini->path) {
		fclose(f);
		return error_set(e, "%s: out of memory", path);
	}

	struct parse p = { .ini = ini, .f = f, .e = e };
	int rc = ini_parse_stream(parse_read, &p, parse_entry, &p);
	fclose(f);
	if (rc > 0 && (!p.error_line || rc < p.error_line))
		error_set(e, "%s:%d: syntax error: expected [section], key = value or a comment",
			  path, rc);
	else if (rc < 0)
		error_set(e, "%s: out of memory", path);
	else if (p.read_errno && !p.error_line)
		error_set(e, "%s: cannot read: %s", path, strerror(p.read_errno));
	if (rc || p.error_line || p.read_errno) {
		ini_free(ini);
		return -1;
	}
	return 0;
}

int ini_set(struct ini *ini, const char *assignment, struct error *e)
{
	char section[INI_NAME_MAX], key[INI_NAME_MAX];
	const char *eq = strchr(assignment, '=');
	const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
	const char *bad = find_control(assignment, strlen(assignment));

	/* Quoted up to the character, which must not reach the message. */
	if (bad)
		return error_set(e, "--set '%.*s': control character 0x%02x in column %zu",
				 (int)(bad - assignment), assignment, (unsigned char)*bad,
				 (size_t)(bad - assignment) + 1);
	if (!dot)
		return error_set(e, "--set '%s': expected section.key=value", assignment);
	if (copy_trimmed(section, sizeof(section), assignment, (size_t)(dot - assignment)) < 0 ||
	    copy_trimmed(key, sizeof(key), dot + 1, (size_t)(eq - dot - 1)) < 0)
		return error_set(e, "--set '%s': names are limited to %d characters", assignment,
				 INI_NAME_MAX - 1);
	if (!*section || !*key)
		return error_set(e, "--set '%s': expected section.key=value", assignment);

	size_t vlen = strlen(eq + 1);
	char *value = malloc(vlen + 1);
	if (!value)
		return error_set(e, "--set '%s': out of memory", assignment);
	copy_trimmed(value, vlen + 1, eq + 1, vlen);

	struct ini_entry *en = entry_find(ini, section, key);
	if (en) {
		free(en->value);
		en->value = value;
	} else {
		if (!ini_section_get(ini, section) && section_add(ini, section, 0) < 0)
			en = NULL;
		else
			en = entry_add(ini, section, key, value, 0);
		free(value);
		if (!en)
			return error_set(e, "--set '%s': out of memory", assignment);
	}
	en->line = 0;
	en->overridden = 1;
	return 0;
}

const struct ini_entry *ini_get(const struct ini *ini, const char *section, const char *key)
{
	return entry_find(ini, section, key);
}

const struct ini_section *ini_section_get(const struct ini *ini, const char *section)
{
	for (size_t i = 0; i < ini->num_sections; i++) {
		if (strcmp(ini->sections[i].name, section) == 0)
			return &ini->sections[i];
	}
	return NULL;
}

void ini_where(const struct ini *ini, const struct ini_entry *en, char *buf, size_t size)
{
	if (en->overridden)
		snprintf(buf, size, "--set %s.%s", en->section, en->key);
	else
		snprintf(buf, size, "%s:%d", ini->path, en->line);
}

void ini_section_where(const struct ini *ini, const struct ini_section *sec, char *buf,
		       size_t size)
{
	if (sec->line) {
		snprintf(buf, size, "%s:%d", ini->path, sec->line);
		return;
	}
	for (size_t i = 0; i < ini->count; i++) {
		if (strcmp(ini->entries[i].section, sec->name) == 0) {
			ini_where(ini, &ini->entries[i], buf, size);
			return;
		}
	}
	snprintf(buf, size, "--set %s", sec->name);
}

void ini_free(struct ini *ini)
{
	for (size_t i = 0; i < ini->count; i++)
		free(ini->entries[i].value);
	free(ini->entries);
	free(ini->sections);
	free(ini->path);
	memset(ini, 0, sizeof(*ini));
}
