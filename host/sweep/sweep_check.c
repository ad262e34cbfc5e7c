#include "sweep/sweep_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "scenario/params.h"
#include "scenario/scenario.h"

#define OPENED_MAX 64

/* The plugin files opened so far: a sweep of a thousand runs opens each one once. */
struct opened {
	size_t count;
	struct plugin_file files[OPENED_MAX];
};

static const struct plugin_file *plugin_open(struct opened *o, const char *file,
					     struct error *e)
{
	for (size_t i = 0; i < o->count; i++)
		if (!strcmp(o->files[i].path, file))
			return &o->files[i];
	if (o->count == OPENED_MAX) {
		error_set(e, "more than %d plugin files in one sweep", OPENED_MAX);
		return NULL;
	}
	if (plugin_file_open(&o->files[o->count], file, e) != 0)
		return NULL;
	return &o->files[o->count++];
}

/* Every listed plugin's section against its declarations: what engine_open would refuse. */
static int check_plugins(const struct scenario *s, const struct plugin_path *pp,
			 struct opened *o, struct error *e)
{
	for (size_t i = 0; i < s->num_plugins; i++) {
		char file[SCENARIO_PATH_MAX];
		if (plugin_path_find(pp, s->plugins[i], file, sizeof(file), e) != 0)
			return -1;
		const struct plugin_file *pf = plugin_open(o, file, e);
		if (!pf)
			return -1;
		uint32_t n = pf->entry.num_params;
		lethe_param_value *values = calloc(n ? n : 1, sizeof(*values));
		if (!values)
			return error_set(e, "out of memory");
		int rc = params_fill(pf->params, n, &s->ini, s->plugin_sections[i], values, e);
		free(values);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* Rewrites an error about "--set KEY" as one about the sweep file's line that gave KEY's
 * value; any other error is put in the context of its run. */
static void locate(const struct sweep *sw, size_t run, struct error *e)
{
	const struct sweep_setting *st = &sw->settings[run / sw->num_seeds];
	for (size_t i = 0; i <= st->num_values; i++) {
		const char *key = i < st->num_values ? st->values[i].key : "train.seed";
		int line = i < st->num_values ? st->values[i].line : sw->seeds_line;
		char needle[SWEEP_KEY_MAX + 16];
		snprintf(needle, sizeof(needle), "--set %s: ", key);
		char *at = strstr(e->msg, needle);
		if (!at || !line)
			continue;
		size_t len = strlen(needle);
		memmove(at, at + len, strlen(at + len) + 1);
		error_prefix(e, "%s:%d", sw->path, line);
		return;
	}
	error_prefix(e, "%s: setting '%s', seed %" PRIu64, sw->path, st->label,
		     sw->seeds[run % sw->num_seeds]);
}

static int check_run(const struct sweep *sw, const struct plugin_path *pp, size_t run,
		     int full, struct opened *o, struct error *e)
{
	char *overrides[SWEEP_KEYS_MAX + 2];
	int n = sweep_overrides(sw, run, overrides, SWEEP_KEYS_MAX + 2);
	if (n < 0)
		return error_set(e, "%s: out of memory", sw->path);
	struct scenario *s = calloc(1, sizeof(*s));
	int rc = s ? scenario_load(s, sw->base, (const char *const *)overrides, (size_t)n, e)
		   : error_set(e, "%s: out of memory", sw->path);
	sweep_overrides_free(overrides, (size_t)n);
	if (rc != 0) {
		free(s);
		locate(sw, run, e);
		return -1;
	}
	rc = check_plugins(s, pp, o, e);
	if (rc == 0 && full) {
		struct engine *eng = calloc(1, sizeof(*eng));
		rc = eng ? engine_open(eng, s, pp, e) : error_set(e, "%s: out of memory", sw->path);
		if (eng)
			engine_close(eng);
		free(eng);
	}
	if (rc != 0)
		locate(sw, run, e);
	scenario_free(s);
	free(s);
	return rc;
}

int sweep_check(const struct sweep *sw, const struct plugin_path *pp, size_t first, size_t count,
		int full, struct error *e)
{
	struct opened o = { 0 };
	int rc = 0;
	for (size_t r = first; r < first + count && rc == 0; r++)
		rc = check_run(sw, pp, r, full && r == first, &o, e);
	for (size_t i = 0; i < o.count; i++)
		plugin_file_close(&o.files[i]);
	return rc;
}
