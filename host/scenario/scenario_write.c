/* A scenario written back as it ran: the parser's own tables (scenario_sections) give every
 * key, so a key added to a table is written without a change here. */
#define _GNU_SOURCE
#include "scenario/scenario.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "util/files.h"

/* Keys whose value is a path relative to the scenario file's directory: written absolute, so
 * the file runs from wherever it is copied to. suffix: the key holds a path only when its value
 * ends so ([model] init is also a scheme's name). */
static const struct {
	const char *section, *key, *suffix;
} path_keys[] = {
	{ "data", "dir", "" },
	{ "model", "init", ".safetensors" },
};

struct writer {
	const struct scenario *s;
	const struct scenario_plugin_decls *plugins;
	char dir[SCENARIO_PATH_MAX]; /* the scenario file's directory, absolute */
};

static int is_path(const char *section, const char *key, const char *value)
{
	size_t n = strlen(value);
	for (size_t i = 0; i < sizeof(path_keys) / sizeof(*path_keys); i++) {
		size_t k = strlen(path_keys[i].suffix);
		if (!strcmp(path_keys[i].section, section) && !strcmp(path_keys[i].key, key))
			return n >= k && !strcmp(value + n - k, path_keys[i].suffix);
	}
	return 0;
}

/* path made absolute against dir (an absolute path stays as it is). */
static int absolute(const char *dir, const char *path, char *out, size_t size)
{
	int len = path[0] == '/' || !*path ? snprintf(out, size, "%s", path)
					   : snprintf(out, size, "%s/%s", dir, path);
	return len >= 0 && (size_t)len < size ? 0 : -1;
}

/* A comment line, cut to what inih reads as one line: it only informs. */
static void comment(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void comment(FILE *f, const char *fmt, ...)
{
	char line[INI_MAX_LINE - 4];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(f, "# %s\n", line);
}

/* One "key = value" line, refused when inih would read it back otherwise. */
static int put(FILE *f, const char *section, const char *key, const char *value,
	       struct error *e)
{
	for (const char *p = value; *p; p++)
		if (*p == ';' && p > value && (p[-1] == ' ' || p[-1] == '\t'))
			return error_set(e, "[%s] %s = %s: the value holds ';' after a space, "
					 "which would read back as a comment", section, key, value);
	if (strlen(key) + strlen(value) + 3 > INI_MAX_LINE - 2)
		return error_set(e, "[%s] %s: the value is too long for a scenario line (%d "
				 "characters)", section, key, INI_MAX_LINE - 2);
	fprintf(f, "%s =%s%s\n", key, *value ? " " : "", value);
	return 0;
}

/* The plugins as listed, paths made absolute; a name stays a name, found again by the same
 * search (inih's lines are too short for several absolute paths). */
static int plugin_list(const struct writer *w, char *out, size_t size)
{
	size_t len = 0;
	*out = '\0';
	for (size_t i = 0; i < w->s->num_plugins; i++) {
		const char *item = w->s->plugins[i];
		char abs[SCENARIO_PATH_MAX];
		if (strchr(item, '/')) {
			char *real = realpath(item, NULL);
			char cwd[SCENARIO_PATH_MAX];
			int rc = real ? absolute("/", real, abs, sizeof(abs))
			       : !getcwd(cwd, sizeof(cwd)) ? -1
							  : absolute(cwd, item, abs, sizeof(abs));
			free(real);
			if (rc < 0)
				return -1;
			item = abs;
		}
		int n = snprintf(out + len, size - len, "%s%s", i ? ", " : "", item);
		if (n < 0 || (size_t)n >= size - len)
			return -1;
		len += (size_t)n;
	}
	return 0;
}

/* A section: every declared key, its value as given or its default. */
static int put_section(FILE *f, const struct writer *w, const char *section,
		       const lethe_param_decl *decls, size_t n, struct error *e)
{
	const struct scenario *s = w->s;
	fprintf(f, "\n[%s]\n", section);
	for (size_t k = 0; k < n; k++) {
		const char *key = decls[k].key;
		const struct ini_entry *en = ini_get(&s->ini, section, key);
		const char *value = en ? en->value : decls[k].default_value;
		char buf[SCENARIO_PATH_MAX * 2];
		if (!en && !scenario_key_applies(s, section, key))
			continue;
		if (!value)
			value = "";
		if (!strcmp(section, "scenario") && !strcmp(key, "name")) {
			value = s->name;
		} else if (!strcmp(section, "model") && !strcmp(key, "architecture")) {
			value = s->architecture; /* custom when only layers was given */
		} else if (!strcmp(section, "scenario") && !strcmp(key, "plugins")) {
			if (plugin_list(w, buf, sizeof(buf)) < 0)
				return error_set(e, "[scenario] plugins: a path is too long");
			value = buf;
		} else if (is_path(section, key, value)) {
			if (absolute(w->dir, value, buf, sizeof(buf)) < 0)
				return error_set(e, "[%s] %s: path too long", section, key);
			value = buf;
		}
		if (put(f, section, key, value, e) < 0)
			return -1;
	}
	return 0;
}

/* [tasks]: the fixed keys, then the lists given (task1..taskN). */
static int put_tasks(FILE *f, const struct writer *w, const struct scenario_section *sec,
		     struct error *e)
{
	if (put_section(f, w, "tasks", sec->decls, sec->count, e) < 0)
		return -1;
	for (size_t k = 0; k < TASKS_MAX; k++) {
		char key[16];
		snprintf(key, sizeof(key), "task%zu", k + 1);
		const struct ini_entry *en = ini_get(&w->s->ini, "tasks", key);
		if (en && put(f, "tasks", key, en->value, e) < 0)
			return -1;
	}
	return 0;
}

static int write_scenario(FILE *f, const void *data, struct error *e)
{
	const struct writer *w = data;
	const struct scenario *s = w->s;
	size_t n;
	const struct scenario_section *sections = scenario_sections(&n);

	comment(f, "The scenario as it ran: every key explicit, defaults included, paths "
		"absolute.");
	comment(f, "From %s", s->ini.path);
	for (size_t i = 0; i < s->ini.count; i++)
		if (s->ini.entries[i].overridden)
			comment(f, "  --set %s.%s=%s", s->ini.entries[i].section,
				s->ini.entries[i].key, s->ini.entries[i].value);
	for (size_t i = 0; i < s->num_plugins; i++)
		if (w->plugins[i].file)
			comment(f, "Plugin %s was loaded from %s", s->plugin_sections[i],
				w->plugins[i].file);
	for (size_t i = 0; i < n; i++) {
		const struct scenario_section *sec = &sections[i];
		int rc = 0;
		if (!strcmp(sec->name, "tasks"))
			rc = put_tasks(f, w, sec, e);
		else if (!strcmp(sec->name, "forgetN"))
			for (size_t g = 0; rc == 0 && g < s->num_forgets; g++)
				rc = put_section(f, w, s->forgets[g].section, sec->decls, sec->count,
						 e);
		else
			rc = put_section(f, w, sec->name, sec->decls, sec->count, e);
		if (rc < 0)
			return -1;
	}
	for (size_t i = 0; i < s->num_plugins; i++)
		if (put_section(f, w, s->plugin_sections[i], w->plugins[i].decls,
				w->plugins[i].count, e) < 0)
			return -1;
	return ferror(f) ? -1 : 0;
}

int scenario_write(const struct scenario *s, const struct scenario_plugin_decls *plugins,
		   const char *dir, const char *name, struct error *e)
{
	struct writer *w = malloc(sizeof(*w));
	if (!w)
		return error_set(e, "%s/%s: out of memory", dir, name);
	w->s = s;
	w->plugins = plugins;
	char *real = realpath(s->dir, NULL);
	int rc = 0;
	if (!real) {
		rc = error_set(e, "%s: cannot resolve the scenario's directory", s->ini.path);
	} else if (snprintf(w->dir, sizeof(w->dir), "%s", real) >= (int)sizeof(w->dir)) {
		rc = error_set(e, "%s: path too long", real);
	} else if (files_replace(dir, name, 0666, write_scenario, w, e) != 0) {
		rc = -1;
	}
	free(real);
	free(w);
	return rc;
}
