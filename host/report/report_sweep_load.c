/* summary.json (the schema of `lethe sweep`) into struct report_sweep, every key it uses
 * checked. */
#include "report/report_sweep.h"

#include <stdlib.h>

#include "util/json_io.h"

/* mean.KEY and std.KEY of a setting. */
static int load_spread(const json_t *o, const char *path, const char *key, double *mean,
		       double *std, struct error *e)
{
	const json_t *m, *s;
	char mp[JSON_IO_PATH_MAX], sp[JSON_IO_PATH_MAX];
	json_io_key_path(mp, path, "mean");
	json_io_key_path(sp, path, "std");
	if (json_io_get(o, path, "mean", JSON_IO_OBJECT, &m, e) != 0 ||
	    json_io_get(o, path, "std", JSON_IO_OBJECT, &s, e) != 0 ||
	    json_io_number(m, mp, key, mean, e) != 0 ||
	    json_io_number(s, sp, key, std, e) != 0)
		return -1;
	return 0;
}

static int load_setting(struct report_setting *st, const json_t *o, const char *path,
			struct error *e)
{
	const json_t *seeds;
	if (json_io_check(o, path, JSON_IO_OBJECT, e) != 0 ||
	    json_io_string(o, path, "label", &st->label, e) != 0 ||
	    json_io_get(o, path, "seeds", JSON_IO_ARRAY, &seeds, e) != 0 ||
	    json_io_integer(o, path, "done", &st->done, e) != 0 ||
	    json_io_integer(o, path, "failed", &st->failed, e) != 0 ||
	    load_spread(o, path, "average_accuracy", &st->acc_mean, &st->acc_std, e) != 0 ||
	    load_spread(o, path, "forgetting", &st->forgetting_mean, &st->forgetting_std, e) != 0)
		return -1;
	st->seeds = json_array_size(seeds);
	return 0;
}

static int load_failures(struct report_sweep *w, const json_t *root, struct error *e)
{
	const json_t *a;
	if (json_io_find(root, "", "failures", JSON_IO_ARRAY, &a, e) != 0)
		return -1;
	size_t n = json_array_size(a);
	if (n == 0)
		return 0;
	w->failures = calloc(n, sizeof(*w->failures));
	if (!w->failures)
		return error_set(e, "out of memory");
	w->num_failures = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *o = json_array_get(a, i);
		char p[JSON_IO_PATH_MAX];
		json_io_index_path(p, "failures", i);
		if (json_io_check(o, p, JSON_IO_OBJECT, e) != 0 ||
		    json_io_string(o, p, "run", &w->failures[i].run, e) != 0 ||
		    json_io_string(o, p, "message", &w->failures[i].message, e) != 0)
			return -1;
	}
	return 0;
}

static int load_settings(struct report_sweep *w, const json_t *root, struct error *e)
{
	const json_t *a;
	if (json_io_get(root, "", "settings", JSON_IO_ARRAY, &a, e) != 0)
		return -1;
	size_t n = json_array_size(a);
	if (n == 0)
		return 0;
	w->settings = calloc(n, sizeof(*w->settings));
	if (!w->settings)
		return error_set(e, "out of memory");
	w->num_settings = n;
	for (size_t i = 0; i < n; i++) {
		char p[JSON_IO_PATH_MAX];
		json_io_index_path(p, "settings", i);
		if (load_setting(&w->settings[i], json_array_get(a, i), p, e) != 0)
			return -1;
	}
	return 0;
}

int report_sweep_load(struct report_sweep *w, const json_t *root, struct error *e)
{
	*w = (struct report_sweep){ 0 };
	if (json_io_string(root, "", "sweep", &w->name, e) != 0 ||
	    json_io_optional_string(root, "", "base", &w->base, e) != 0 ||
	    json_io_integer(root, "", "runs", &w->runs, e) != 0 ||
	    json_io_integer(root, "", "done", &w->done, e) != 0 ||
	    json_io_integer(root, "", "failed", &w->failed, e) != 0 ||
	    load_settings(w, root, e) != 0 || load_failures(w, root, e) != 0) {
		report_sweep_free(w);
		return -1;
	}
	return 0;
}

void report_sweep_free(struct report_sweep *w)
{
	free(w->settings);
	free(w->failures);
	*w = (struct report_sweep){ 0 };
}
