#define _GNU_SOURCE
#include "sweep/sweep_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_io.h"

static json_t *setting_json(const struct sweep_setting *st)
{
	json_t *values = json_array();
	for (size_t i = 0; i < st->num_values; i++)
		json_array_append_new(values, json_pack("[ss]", st->values[i].key,
							st->values[i].value));
	return json_pack("{s:s, s:s, s:o}", "label", st->label, "folder", st->folder, "values",
			 values);
}

int sweep_plan_write(const struct sweep *sw, const char *out, struct error *e)
{
	json_t *seeds = json_array(), *settings = json_array();
	for (size_t i = 0; i < sw->num_seeds; i++)
		json_array_append_new(seeds, json_integer((json_int_t)sw->seeds[i]));
	for (size_t i = 0; i < sw->num_settings; i++)
		json_array_append_new(settings, setting_json(&sw->settings[i]));
	json_t *root = json_pack("{s:s, s:s, s:s, s:o, s:o}", "sweep", sw->name, "file", sw->path,
				 "base", sw->base, "seeds", seeds, "settings", settings);
	int rc = root ? json_io_write(root, out, "plan.json", e)
		      : error_set(e, "%s/plan.json: out of memory", out);
	json_decref(root);
	return rc;
}

static int plan_fail(struct sweep *sw, json_t *root, const char *path, const char *what,
		     struct error *e)
{
	json_decref(root);
	sweep_free(sw);
	return error_set(e, "%s: %s; was it written by lethe sweep?", path, what);
}

int sweep_plan_read(struct sweep *sw, const char *out, struct error *e)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/plan.json", out);
	memset(sw, 0, sizeof(*sw));
	json_t *root = json_io_read(path, e);
	if (!root)
		return -1;
	const char *name, *file, *base;
	json_t *seeds, *settings;
	if (json_unpack(root, "{s:s, s:s, s:s, s:o, s:o}", "sweep", &name, "file", &file, "base",
			&base, "seeds", &seeds, "settings", &settings) != 0 ||
	    !json_is_array(seeds) || !json_is_array(settings) || !json_array_size(seeds))
		return plan_fail(sw, root, path, "not a sweep plan", e);
	sw->path = strdup(file);
	sw->seeds = malloc(json_array_size(seeds) * sizeof(*sw->seeds));
	if (!sw->path || !sw->seeds)
		return plan_fail(sw, root, path, "out of memory", e);
	snprintf(sw->name, sizeof(sw->name), "%s", name);
	snprintf(sw->base, sizeof(sw->base), "%s", base);
	size_t i;
	json_t *v;
	json_array_foreach(seeds, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return plan_fail(sw, root, path, "a seed is not a whole number", e);
		sw->seeds[sw->num_seeds++] = (uint64_t)json_integer_value(v);
	}
	json_array_foreach(settings, i, v) {
		struct sweep_value vals[SWEEP_KEYS_MAX];
		json_t *values = json_object_get(v, "values");
		size_t n = json_array_size(values);
		if (!json_is_array(values) || n > SWEEP_KEYS_MAX)
			return plan_fail(sw, root, path, "a setting without values", e);
		for (size_t k = 0; k < n; k++) {
			const char *key, *value;
			if (json_unpack(json_array_get(values, k), "[ss]", &key, &value) != 0)
				return plan_fail(sw, root, path, "a value is not [key, value]", e);
			snprintf(vals[k].key, sizeof(vals[k].key), "%s", key);
			vals[k].value = (char *)value;
			vals[k].line = 0;
		}
		if (sweep_add_setting(sw, vals, n, 0, e) != 0)
			return plan_fail(sw, root, path, "out of memory", e);
	}
	json_decref(root);
	return 0;
}
