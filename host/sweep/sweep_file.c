#define _GNU_SOURCE
#include "sweep/sweep_file.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario/params.h"
#include "scenario/paths.h"

static const char *const sections[] = { "sweep", "grid", "list" };
static const char *const sweep_keys[] = { "name", "scenario", "seeds", "mode" };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- names ---- */

void sweep_folder(const char *label, char *out, size_t size)
{
	if (!*label)
		label = "base";
	size_t len = strlen(label), keep = len;
	if (len >= size)
		keep = size - 10; /* room for "-" and 8 hex digits */
	for (size_t i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)label[i];
		out[i] = isalnum(c) || strchr("._=+,-", c) ? (char)c : '_';
	}
	out[keep] = '\0';
	if (keep < len) {
		uint32_t h = 2166136261u; /* FNV-1a over the whole label */
		for (size_t i = 0; i < len; i++)
			h = (h ^ (unsigned char)label[i]) * 16777619u;
		snprintf(out + keep, size - keep, "-%08" PRIx32, h);
	}
}

void sweep_run_path(const struct sweep *sw, size_t run, char *out, size_t size)
{
	snprintf(out, size, "runs/%s/seed-%" PRIu64, sw->settings[run / sw->num_seeds].folder,
		 sw->seeds[run % sw->num_seeds]);
}

int sweep_overrides(const struct sweep *sw, size_t run, char **bufs, size_t cap)
{
	const struct sweep_setting *st = &sw->settings[run / sw->num_seeds];
	size_t n = 0;
	if (cap < st->num_values + 2)
		return -1;
	int ok = asprintf(&bufs[n], "train.threads=1") >= 0;
	for (size_t i = 0; ok && i < st->num_values; i++)
		ok = asprintf(&bufs[++n], "%s=%s", st->values[i].key, st->values[i].value) >= 0;
	if (ok)
		ok = asprintf(&bufs[++n], "train.seed=%" PRIu64,
			      sw->seeds[run % sw->num_seeds]) >= 0;
	if (!ok) {
		sweep_overrides_free(bufs, n);
		return -1;
	}
	return (int)n + 1;
}

void sweep_overrides_free(char **bufs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
}

/* ---- settings ---- */

static void setting_free(struct sweep_setting *st)
{
	for (size_t i = 0; i < st->num_values; i++)
		free(st->values[i].value);
	free(st->values);
	free(st->label);
}

int sweep_add_setting(struct sweep *sw, const struct sweep_value *values, size_t n, int line,
		      struct error *e)
{
	if (sw->num_settings == sw->settings_cap) {
		size_t cap = sw->settings_cap ? 2 * sw->settings_cap : 16;
		struct sweep_setting *all = realloc(sw->settings, cap * sizeof(*all));
		if (!all)
			return error_set(e, "%s: out of memory", sw->path);
		sw->settings = all;
		sw->settings_cap = cap;
	}
	struct sweep_setting *st = &sw->settings[sw->num_settings];
	memset(st, 0, sizeof(*st));
	st->line = line;
	size_t len = sizeof("base");
	st->values = calloc(n ? n : 1, sizeof(*st->values));
	int ok = st->values != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		st->values[i] = values[i];
		st->values[i].value = strdup(values[i].value);
		ok = st->values[i].value != NULL;
		st->num_values = i + ok;
		len += strlen(values[i].key) + strlen(values[i].value) + 2;
	}
	if (ok)
		ok = (st->label = malloc(len)) != NULL;
	if (!ok) {
		setting_free(st);
		return error_set(e, "%s: out of memory", sw->path);
	}
	char *p = st->label;
	strcpy(p, "base"); /* a setting of no values: the base scenario itself */
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s=%s", i ? " " : "", values[i].key, values[i].value);
	sweep_folder(st->label, st->folder, sizeof(st->folder));
	sw->num_settings++;
	return 0;
}

static int by_folder(const void *a, const void *b)
{
	const struct sweep_setting *x = *(const struct sweep_setting *const *)a;
	const struct sweep_setting *y = *(const struct sweep_setting *const *)b;
	return strcmp(x->folder, y->folder);
}

/* Two settings in one folder would overwrite each other's runs. */
static int check_folders(const struct sweep *sw, int line, struct error *e)
{
	const struct sweep_setting **sorted = malloc(sw->num_settings * sizeof(*sorted) + 1);
	if (!sorted)
		return error_set(e, "%s: out of memory", sw->path);
	for (size_t i = 0; i < sw->num_settings; i++)
		sorted[i] = &sw->settings[i];
	qsort(sorted, sw->num_settings, sizeof(*sorted), by_folder);
	int rc = 0;
	for (size_t i = 1; i < sw->num_settings && rc == 0; i++) {
		const struct sweep_setting *a = sorted[i - 1], *b = sorted[i];
		if (strcmp(a->folder, b->folder) != 0)
			continue;
		if (a > b) {
			const struct sweep_setting *t = a;
			a = b;
			b = t;
		}
		if (!strcmp(a->label, b->label))
			rc = error_set(e, "%s:%d: the setting '%s' is given twice", sw->path,
				       b->line ? b->line : line, b->label);
		else
			rc = error_set(e, "%s:%d: the settings '%s' and '%s' would share the "
				       "folder runs/%s; make their values differ in letters or "
				       "digits", sw->path, b->line ? b->line : line, a->label,
				       b->label, b->folder);
	}
	free(sorted);
	return rc;
}

/* ---- reading the file ---- */

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int parse_u64(const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno)
		return -1;
	*out = v;
	return 0;
}

int sweep_parse_seeds(const char *text, uint64_t **seeds, size_t *count, struct error *e)
{
	char *copy = strdup(text);
	uint64_t *all = malloc(SWEEP_SEEDS_MAX * sizeof(*all));
	size_t n = 0;
	int rc = copy && all ? 0 : error_set(e, "out of memory");
	char *save = NULL;
	for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && rc == 0;
	     item = strtok_r(NULL, ",", &save)) {
		char *t = trim(item);
		char *dash = strchr(t, '-');
		uint64_t lo, hi;
		if (dash)
			*dash = '\0';
		if (parse_u64(trim(t), &lo) < 0 ||
		    (dash && parse_u64(trim(dash + 1), &hi) < 0)) {
			if (dash)
				*dash = '-';
			rc = error_set(e, "'%s' is not a seed (a whole number) nor a range "
				       "like 1-5", t);
			break;
		}
		if (!dash)
			hi = lo;
		if (hi < lo) {
			rc = error_set(e, "the range %" PRIu64 "-%" PRIu64 " runs backwards", lo,
				       hi);
			break;
		}
		for (uint64_t s = lo; rc == 0; s++) {
			for (size_t i = 0; i < n && rc == 0; i++)
				if (all[i] == s)
					rc = error_set(e, "seed %" PRIu64 " is listed twice", s);
			if (rc == 0 && n == SWEEP_SEEDS_MAX)
				rc = error_set(e, "more than %d seeds", SWEEP_SEEDS_MAX);
			if (rc == 0)
				all[n++] = s;
			if (s == hi)
				break;
		}
	}
	if (rc == 0 && n == 0)
		rc = error_set(e, "no seeds given");
	free(copy);
	if (rc != 0) {
		free(all);
		return -1;
	}
	*seeds = all;
	*count = n;
	return 0;
}

/* "section.key" with both parts present and no blanks: what --set takes. */
static int check_key(const struct sweep *sw, const char *key, int line, const char *where,
		     struct error *e)
{
	const char *dot = strchr(key, '.');
	if (!dot || dot == key || !dot[1] || strpbrk(key, " \t"))
		return error_set(e, "%s:%d: %s '%s': expected section.key, e.g. ewc.lambda",
				 sw->path, line, where, key);
	if (!strcmp(key, "train.seed"))
		return error_set(e, "%s:%d: %s train.seed: the seeds come from [sweep] seeds",
				 sw->path, line, where);
	if (strlen(key) >= SWEEP_KEY_MAX)
		return error_set(e, "%s:%d: %s '%s': name too long", sw->path, line, where, key);
	return 0;
}

/* Splits a [grid] value at commas outside double quotes into text (modified in place). */
static int split_values(const struct sweep *sw, const struct ini_entry *en, char *text,
			char ***items, size_t *count, struct error *e)
{
	size_t cap = 1;
	for (const char *p = text; *p; p++)
		cap += *p == ',';
	char **all = malloc(cap * sizeof(*all));
	if (!all)
		return error_set(e, "%s: out of memory", sw->path);
	size_t n = 0;
	char *p = text;
	for (;;) {
		char *start = p;
		int quoted = 0;
		while (*p && (quoted || *p != ','))
			quoted ^= *p++ == '"';
		int last = !*p;
		*p = '\0';
		char *item = trim(start);
		size_t len = strlen(item);
		if (quoted || (strchr(item, '"') && (len < 2 || item[0] != '"' ||
						     item[len - 1] != '"' ||
						     strchr(item + 1, '"') != item + len - 1))) {
			free(all);
			return error_set(e, "%s:%d: [grid] %s: a quote out of place in '%s'; quote "
					 "a whole value (\"256,256\")", sw->path, en->line,
					 en->key, item);
		}
		if (len >= 2 && item[0] == '"') {
			item[len - 1] = '\0';
			item++;
		} else if (!len) {
			free(all);
			return error_set(e, "%s:%d: [grid] %s: an empty value in '%s'", sw->path,
					 en->line, en->key, en->value);
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(all[i], item) != 0)
				continue;
			free(all);
			return error_set(e, "%s:%d: [grid] %s: %s is listed twice", sw->path,
					 en->line, en->key, item);
		}
		all[n++] = item;
		if (last)
			break;
		p++;
	}
	*items = all;
	*count = n;
	return 0;
}

static int too_many_runs(const struct sweep *sw, int line, const char *what, size_t settings,
			 struct error *e)
{
	return error_set(e, "%s:%d: %s %zu settings x %zu seeds = %zu runs, more than the %d runs "
			 "a sweep may hold; split it into several sweeps", sw->path, line, what,
			 settings, sw->num_seeds, settings * sw->num_seeds, SWEEP_RUNS_MAX);
}

static int read_grid(struct sweep *sw, const struct ini *ini, int header, struct error *e)
{
	struct sweep_value cur[SWEEP_KEYS_MAX];
	char *texts[SWEEP_KEYS_MAX];
	char **items[SWEEP_KEYS_MAX];
	size_t counts[SWEEP_KEYS_MAX], at[SWEEP_KEYS_MAX] = { 0 }, k = 0;
	size_t total = 1;
	int rc = 0;

	for (size_t i = 0; i < ini->count && rc == 0; i++) {
		const struct ini_entry *en = &ini->entries[i];
		if (strcmp(en->section, "grid") != 0)
			continue;
		if (k == SWEEP_KEYS_MAX) {
			rc = error_set(e, "%s:%d: [grid] holds more than %d keys", sw->path,
				       en->line, SWEEP_KEYS_MAX);
			break;
		}
		if (check_key(sw, en->key, en->line, "[grid]", e) < 0) {
			rc = -1;
			break;
		}
		texts[k] = strdup(en->value);
		if (!texts[k]) {
			rc = error_set(e, "%s: out of memory", sw->path);
			break;
		}
		if (split_values(sw, en, texts[k], &items[k], &counts[k], e) < 0) {
			free(texts[k]);
			rc = -1;
			break;
		}
		snprintf(cur[k].key, sizeof(cur[k].key), "%s", en->key);
		cur[k].line = en->line;
		total *= counts[k++];
		if (total * sw->num_seeds > SWEEP_RUNS_MAX)
			rc = too_many_runs(sw, en->line, "[grid] makes at least", total, e);
	}
	/* The product, an odometer whose last key turns fastest. */
	while (rc == 0) {
		for (size_t j = 0; j < k; j++)
			cur[j].value = items[j][at[j]];
		rc = sweep_add_setting(sw, cur, k, 0, e);
		size_t j = k;
		while (j > 0 && ++at[j - 1] == counts[j - 1])
			at[--j] = 0;
		if (j == 0)
			break;
	}
	for (size_t j = 0; j < k; j++) {
		free(items[j]);
		free(texts[j]);
	}
	return rc == 0 ? check_folders(sw, header, e) : -1;
}

/* One [list] line: blank-separated section.key=value assignments. */
static int read_list_line(struct sweep *sw, const struct ini_entry *en, struct error *e)
{
	struct sweep_value vals[SWEEP_KEYS_MAX];
	char *text = strdup(en->value);
	if (!text)
		return error_set(e, "%s: out of memory", sw->path);
	size_t n = 0;
	int rc = 0;
	char *save = NULL;
	for (char *tok = strtok_r(text, " \t", &save); tok && rc == 0;
	     tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok) {
			rc = error_set(e, "%s:%d: [list] %s: '%s' is not section.key=value",
				       sw->path, en->line, en->key, tok);
			break;
		}
		if (n == SWEEP_KEYS_MAX) {
			rc = error_set(e, "%s:%d: [list] %s: more than %d assignments", sw->path,
				       en->line, en->key, SWEEP_KEYS_MAX);
			break;
		}
		*eq = '\0';
		if (check_key(sw, tok, en->line, "[list]", e) < 0) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i < n && rc == 0; i++)
			if (!strcmp(vals[i].key, tok))
				rc = error_set(e, "%s:%d: [list] %s: %s is set twice", sw->path,
					       en->line, en->key, tok);
		if (rc < 0)
			break;
		snprintf(vals[n].key, sizeof(vals[n].key), "%s", tok);
		vals[n].value = eq + 1;
		vals[n++].line = en->line;
	}
	if (rc == 0)
		rc = sweep_add_setting(sw, vals, n, en->line, e);
	free(text);
	return rc;
}

static int read_list(struct sweep *sw, const struct ini *ini, int header, struct error *e)
{
	size_t lines = 0;
	for (size_t i = 0; i < ini->count; i++)
		lines += !strcmp(ini->entries[i].section, "list");
	if (lines * sw->num_seeds > SWEEP_RUNS_MAX)
		return too_many_runs(sw, header, "[list] makes", lines, e);
	for (size_t i = 0; i < ini->count; i++) {
		const struct ini_entry *en = &ini->entries[i];
		if (!strcmp(en->section, "list") && read_list_line(sw, en, e) < 0)
			return -1;
	}
	if (!sw->num_settings)
		return error_set(e, "%s:%d: [list] holds no settings", sw->path, header);
	return check_folders(sw, header, e);
}

static int check_names(const struct sweep *sw, const struct ini *ini, struct error *e)
{
	for (size_t i = 0; i < ini->num_sections; i++) {
		const struct ini_section *sec = &ini->sections[i];
		size_t k = 0;
		while (k < COUNT(sections) && strcmp(sections[k], sec->name) != 0)
			k++;
		if (k < COUNT(sections))
			continue;
		const char *near = params_nearest(sections, COUNT(sections), sec->name);
		return error_set(e, "%s:%d: unknown section [%s]%s%s%s", sw->path, sec->line,
				 sec->name, near ? "; did you mean [" : "; a sweep file has "
				 "[sweep], [grid] and [list]", near ? near : "", near ? "]?" : "");
	}
	for (size_t i = 0; i < ini->count; i++) {
		const struct ini_entry *en = &ini->entries[i];
		size_t k = 0;
		if (strcmp(en->section, "sweep") != 0)
			continue;
		while (k < COUNT(sweep_keys) && strcmp(sweep_keys[k], en->key) != 0)
			k++;
		if (k < COUNT(sweep_keys))
			continue;
		const char *near = params_nearest(sweep_keys, COUNT(sweep_keys), en->key);
		return error_set(e, "%s:%d: unknown key '%s' in [sweep]%s%s%s", sw->path, en->line,
				 en->key, near ? "; did you mean '" : "; the keys are name, "
				 "scenario, seeds and mode", near ? near : "", near ? "'?" : "");
	}
	return 0;
}

/* The base scenario: next to the sweep file, else (a bare name) a shipped one. */
static int read_base(struct sweep *sw, const struct ini *ini, struct error *e)
{
	const struct ini_entry *en = ini_get(ini, "sweep", "scenario");
	if (!en || !*en->value)
		return error_set(e, "%s: [sweep] needs scenario = the base scenario file",
				 sw->path);
	const char *slash = strrchr(sw->path, '/');
	if (en->value[0] == '/' || !slash)
		snprintf(sw->base, sizeof(sw->base), "%s", en->value);
	else
		snprintf(sw->base, sizeof(sw->base), "%.*s/%s", (int)(slash - sw->path), sw->path,
			 en->value);
	if (access(sw->base, R_OK) != 0 &&
	    (strchr(en->value, '/') ||
	     paths_resolve_scenario(en->value, sw->base, sizeof(sw->base), e) != 0))
		return error_set(e, "%s:%d: scenario = %s: not found next to the sweep file",
				 sw->path, en->line, en->value);
	/* Absolute: the runs, a Slurm task and a later sweep into the same directory all name
	 * the same file. */
	char abs[PATH_MAX];
	if (!realpath(sw->base, abs))
		return error_set(e, "%s:%d: scenario = %s: %s", sw->path, en->line, en->value,
				 strerror(errno));
	snprintf(sw->base, sizeof(sw->base), "%s", abs);
	return 0;
}

static int read_sweep(struct sweep *sw, const struct ini *ini, struct error *e)
{
	const struct ini_entry *en = ini_get(ini, "sweep", "name");
	if (en) {
		if (!*en->value)
			return error_set(e, "%s:%d: name is empty", sw->path, en->line);
		snprintf(sw->name, sizeof(sw->name), "%s", en->value);
	} else {
		const char *base = strrchr(sw->path, '/');
		base = base ? base + 1 : sw->path;
		const char *dot = strrchr(base, '.');
		int len = dot && dot > base ? (int)(dot - base) : (int)strlen(base);
		snprintf(sw->name, sizeof(sw->name), "%.*s", len, base);
	}
	if (read_base(sw, ini, e) < 0)
		return -1;
	en = ini_get(ini, "sweep", "seeds");
	if (!en)
		return error_set(e, "%s: [sweep] needs seeds = e.g. 1, 2, 3 or 1-5", sw->path);
	sw->seeds_line = en->line;
	if (sweep_parse_seeds(en->value, &sw->seeds, &sw->num_seeds, e) < 0)
		return error_prefix(e, "%s:%d: seeds = %s", sw->path, en->line, en->value);

	const struct ini_section *grid = ini_section_get(ini, "grid");
	const struct ini_section *list = ini_section_get(ini, "list");
	en = ini_get(ini, "sweep", "mode");
	const char *mode = en ? en->value : list ? "list" : "grid";
	if (strcmp(mode, "grid") != 0 && strcmp(mode, "list") != 0)
		return error_set(e, "%s:%d: mode = %s: expected grid or list", sw->path, en->line,
				 mode);
	const struct ini_section *other = !strcmp(mode, "grid") ? list : grid;
	if (other)
		return error_set(e, "%s:%d: [%s] in a sweep whose mode is %s", sw->path,
				 other->line, other->name, mode);
	if (!strcmp(mode, "list"))
		return list ? read_list(sw, ini, list->line, e)
			    : error_set(e, "%s: mode = list needs a [list] section", sw->path);
	return read_grid(sw, ini, grid ? grid->line : 0, e);
}

int sweep_load(struct sweep *sw, const char *path, struct error *e)
{
	memset(sw, 0, sizeof(*sw));
	sw->path = strdup(path);
	if (!sw->path)
		return error_set(e, "%s: out of memory", path);
	struct ini ini;
	if (ini_load(&ini, path, e) < 0) {
		sweep_free(sw);
		return -1;
	}
	int rc = check_names(sw, &ini, e);
	if (rc == 0)
		rc = read_sweep(sw, &ini, e);
	ini_free(&ini);
	if (rc < 0)
		sweep_free(sw);
	return rc;
}

void sweep_free(struct sweep *sw)
{
	for (size_t i = 0; i < sw->num_settings; i++)
		setting_free(&sw->settings[i]);
	free(sw->settings);
	free(sw->seeds);
	free(sw->path);
	memset(sw, 0, sizeof(*sw));
}
