#define _GNU_SOURCE
#include "report/compare.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "results/results.h"
#include "scenario/ini.h"
#include "util/csv.h"
#include "util/json_io.h"

static const char *const figure_names[COMPARE_FIGURES] = {
	[COMPARE_ACC] = "acc",		 [COMPARE_BWT] = "bwt",
	[COMPARE_FWT] = "fwt",		 [COMPARE_FORGETTING] = "forgetting",
	[COMPARE_GAP] = "gap",		 [COMPARE_GAP_UA] = "gap_ua",
	[COMPARE_GAP_RA] = "gap_ra",	 [COMPARE_GAP_TA] = "gap_ta",
	[COMPARE_GAP_MIA] = "gap_mia",	 [COMPARE_SECONDS] = "seconds",
	[COMPARE_PEAK_MIB] = "peak_mib",
};

static const char *const format_names[] = { "text", "csv", "markdown", "json" };

int compare_format_parse(const char *name, enum compare_format *out)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(*format_names); i++)
		if (!strcmp(name, format_names[i])) {
			*out = (enum compare_format)i;
			return 0;
		}
	return -1;
}

static int add_setting(struct compare_run *r, const char *key, const char *value)
{
	struct compare_setting *s = realloc(r->settings, (r->num_settings + 1) * sizeof(*s));
	if (!s)
		return -1;
	r->settings = s;
	s += r->num_settings;
	s->key = strdup(key);
	s->value = strdup(value);
	if (s->key && s->value) {
		r->num_settings++;
		return 0;
	}
	free(s->key);
	free(s->value);
	return -1;
}

static const char *setting(const struct compare_run *r, const char *key)
{
	for (size_t i = 0; i < r->num_settings; i++)
		if (!strcmp(r->settings[i].key, key))
			return r->settings[i].value;
	return NULL;
}

/* The scenario as it ran, "section.key" each; a run from before scenario.ini was written has
 * none, and compares by its figures alone. */
static int read_settings(struct compare_run *r, const json_t *root, struct error *e)
{
	char path[SCENARIO_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", r->dir, RESULTS_SCENARIO);
	if (access(path, F_OK) == 0) {
		struct ini ini;
		if (ini_load(&ini, path, e) != 0)
			return -1;
		for (size_t i = 0; i < ini.count; i++) {
			char key[2 * INI_NAME_MAX + 2];
			snprintf(key, sizeof(key), "%s.%s", ini.entries[i].section, ini.entries[i].key);
			if (add_setting(r, key, ini.entries[i].value) != 0) {
				ini_free(&ini);
				return error_set(e, "out of memory");
			}
		}
		ini_free(&ini);
	}
	const json_t *lethe = json_object_get(root, "lethe");
	const char *version = json_string_value(json_object_get(lethe, "version"));
	const char *revision = json_string_value(json_object_get(lethe, "revision"));
	const char *kernel = json_string_value(json_object_get(json_object_get(root, "blas"),
							    "kernel"));
	char text[256];
	snprintf(text, sizeof(text), "%s%s%s", version ? version : "", revision ? " " : "",
		 revision ? revision : "");
	if ((*text && add_setting(r, "lethe", text) != 0) ||
	    (kernel && add_setting(r, "blas.kernel", kernel) != 0))
		return error_set(e, "out of memory");
	return 0;
}

/* The last forget step's gaps to the retrain reference: NaN without either. */
static void read_gaps(struct compare_run *r, const struct results_doc *d)
{
	for (int i = COMPARE_GAP; i <= COMPARE_GAP_MIA; i++)
		r->figure[i] = NAN;
	if (!d->num_forgets)
		return;
	const struct results_forget *f = &d->forgets[d->num_forgets - 1];
	r->figure[COMPARE_GAP] = f->gap_to_retrain;
	for (size_t m = 1; m < f->num_methods; m++) {
		if (strcmp(f->methods[m].name, "retrain") != 0)
			continue;
		for (int k = 0; k < RESULTS_FORGET_FIGURES; k++)
			r->figure[COMPARE_GAP_UA + k] = fabs(f->methods[0].figure[k] -
							     f->methods[m].figure[k]);
	}
}

static int load_run(struct compare *c, const char *dir, struct error *e)
{
	char path[SCENARIO_PATH_MAX + 32];
	struct compare_run *runs = realloc(c->runs, (c->num_runs + 1) * sizeof(*runs));
	if (!runs)
		return error_set(e, "out of memory");
	c->runs = runs;
	struct compare_run *r = &runs[c->num_runs];
	memset(r, 0, sizeof(*r));
	if (!(r->dir = strdup(dir)))
		return error_set(e, "out of memory");
	c->num_runs++;
	snprintf(path, sizeof(path), "%s/%s", dir, RESULTS_METRICS);
	struct results_doc d;
	if (results_load(&d, path, e) != 0)
		return -1;
	r->figure[COMPARE_ACC] = d.acc;
	r->figure[COMPARE_BWT] = d.bwt;
	r->figure[COMPARE_FWT] = d.fwt;
	r->figure[COMPARE_FORGETTING] = d.forgetting;
	read_gaps(r, &d);
	r->figure[COMPARE_SECONDS] = json_io_number_or_nan(json_object_get(d.root, "seconds"),
							   "total");
	r->figure[COMPARE_PEAK_MIB] = json_io_number_or_nan(d.root, "peak_rss_bytes") /
				      (1024.0 * 1024.0);
	r->protocol = strdup(d.protocol);
	int rc = r->protocol ? read_settings(r, d.root, e) : error_set(e, "out of memory");
	results_doc_free(&d);
	if (rc == 0 && strcmp(r->protocol, runs[0].protocol) != 0)
		return error_set(e, "%s is %s but %s is %s: their figures do not compare (give runs "
				 "of one protocol)", dir, r->protocol, runs[0].dir,
				 runs[0].protocol);
	return rc;
}

/* A sweep's runs, in the order of their directories. */
static int load_sweep(struct compare *c, const char *dir, struct error *e)
{
	char pattern[SCENARIO_PATH_MAX + 64];
	glob_t g;
	snprintf(pattern, sizeof(pattern), "%s/runs/*/seed-*/%s", dir, RESULTS_METRICS);
	int rc = glob(pattern, 0, NULL, &g);
	if (rc == GLOB_NOMATCH)
		return error_set(e, "%s: a sweep with no run's results yet", dir);
	if (rc != 0)
		return error_set(e, "%s: cannot list its runs", dir);
	rc = 0;
	for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
		char *slash = strrchr(g.gl_pathv[i], '/');
		*slash = '\0';
		rc = load_run(c, g.gl_pathv[i], e);
	}
	globfree(&g);
	return rc;
}

/* The settings whose values are not the same in every run. */
static int find_columns(struct compare *c, struct error *e)
{
	for (size_t i = 0; i < c->num_runs; i++) {
		for (size_t k = 0; k < c->runs[i].num_settings; k++) {
			const char *key = c->runs[i].settings[k].key;
			int known = 0, differs = 0;
			for (size_t j = 0; j < c->num_columns && !known; j++)
				known = !strcmp(c->columns[j], key);
			const char *first = setting(&c->runs[0], key);
			for (size_t j = 1; j < c->num_runs && !differs; j++) {
				const char *v = setting(&c->runs[j], key);
				differs = !first || !v || strcmp(first, v) != 0;
			}
			if (known || !differs)
				continue;
			const char **cols = realloc(c->columns, (c->num_columns + 1) * sizeof(*cols));
			if (!cols)
				return error_set(e, "out of memory");
			c->columns = cols;
			c->columns[c->num_columns++] = key;
		}
	}
	return 0;
}

int compare_load(struct compare *c, const char *const *dirs, size_t n, struct error *e)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		char path[SCENARIO_PATH_MAX + 32];
		struct stat st;
		int rc;
		if (stat(dirs[i], &st) != 0)
			rc = error_set(e, "%s: %s", dirs[i], strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			rc = error_set(e, "%s: %s", dirs[i], strerror(ENOTDIR));
		else if (snprintf(path, sizeof(path), "%s/%s", dirs[i], RESULTS_METRICS),
			 access(path, F_OK) == 0)
			rc = load_run(c, dirs[i], e);
		else if (snprintf(path, sizeof(path), "%s/summary.json", dirs[i]),
			 access(path, F_OK) == 0)
			rc = load_sweep(c, dirs[i], e);
		else
			rc = error_set(e, "%s: no metrics.json (a run's results) nor summary.json (a "
				       "sweep's) in it", dirs[i]);
		if (rc != 0) {
			compare_free(c);
			return -1;
		}
	}
	if (find_columns(c, e) != 0) {
		compare_free(c);
		return -1;
	}
	return 0;
}

/* ---- printing ---- */

/* A cell's text: settings as they are, figures to 4 decimals (CSV: 17 digits), NaN "-" (CSV:
 * empty). */
static void cell(const struct compare *c, size_t run, size_t col, enum compare_format fmt,
		 char *buf, size_t size)
{
	const struct compare_run *r = &c->runs[run];
	if (col == 0) {
		snprintf(buf, size, "%s", r->dir);
	} else if (col <= c->num_columns) {
		const char *v = setting(r, c->columns[col - 1]);
		snprintf(buf, size, "%s", v ? v : "-");
	} else {
		double x = r->figure[col - 1 - c->num_columns];
		if (isnan(x))
			snprintf(buf, size, "%s", fmt == COMPARE_CSV ? "" : "-");
		else
			snprintf(buf, size, fmt == COMPARE_CSV ? "%.17g" : "%.4f", x);
	}
}

static const char *header(const struct compare *c, size_t col)
{
	return col == 0 ? "run" : col <= c->num_columns ? c->columns[col - 1]
						 : figure_names[col - 1 - c->num_columns];
}

static int print_json(const struct compare *c, FILE *f)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < c->num_runs; i++) {
		const struct compare_run *r = &c->runs[i];
		json_t *settings = json_object();
		for (size_t k = 0; settings && k < c->num_columns; k++) {
			const char *v = setting(r, c->columns[k]);
			json_object_set_new(settings, c->columns[k], v ? json_string(v) : json_null());
		}
		json_t *o = json_pack("{s:s, s:o}", "run", r->dir, "settings", settings);
		for (int k = 0; o && k < COMPARE_FIGURES; k++)
			json_object_set_new(o, figure_names[k], json_io_real(r->figure[k]));
		if (!o || json_array_append_new(a, o) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	int rc = a ? json_dumpf(a, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
					  JSON_REAL_PRECISION(17)) : -1;
	json_decref(a);
	if (rc == 0)
		fputc('\n', f);
	return rc;
}

int compare_print(const struct compare *c, enum compare_format fmt, FILE *f)
{
	if (fmt == COMPARE_JSON)
		return print_json(c, f) != 0 || ferror(f) ? -1 : 0;
	size_t cols = 1 + c->num_columns + COMPARE_FIGURES;
	size_t *width = calloc(cols, sizeof(*width));
	char buf[1024];
	if (!width)
		return -1;
	for (size_t k = 0; k < cols; k++) {
		width[k] = strlen(header(c, k));
		for (size_t i = 0; i < c->num_runs; i++) {
			cell(c, i, k, fmt, buf, sizeof(buf));
			width[k] = strlen(buf) > width[k] ? strlen(buf) : width[k];
		}
	}
	/* Row -1 is the header; markdown's rule follows it. */
	for (long i = -1; i < (long)c->num_runs; i++) {
		for (size_t k = 0; k < cols; k++) {
			const char *text = buf;
			if (i < 0)
				text = header(c, k);
			else
				cell(c, (size_t)i, k, fmt, buf, sizeof(buf));
			/* Names left, figures right. */
			int left = k <= c->num_columns;
			if (fmt == COMPARE_CSV) {
				if (k)
					fputc(',', f);
				csv_field(f, text);
			} else if (fmt == COMPARE_MARKDOWN) {
				fprintf(f, "| %*s%-*s ", left ? 0 : (int)(width[k] - strlen(text)), "",
					left ? (int)width[k] : 0, text);
			} else {
				fprintf(f, "%s%*s%-*s", k ? "  " : "",
					left ? 0 : (int)(width[k] - strlen(text)), "",
					left && k + 1 < cols ? (int)width[k] : 0, text);
			}
		}
		fputs(fmt == COMPARE_MARKDOWN ? "|\n" : "\n", f);
		if (i < 0 && fmt == COMPARE_MARKDOWN) {
			for (size_t k = 0; k < cols; k++) {
				fputs("| ", f);
				for (size_t w = 0; w < width[k]; w++)
					fputc(w + 1 == width[k] && k > c->num_columns ? ':' : '-', f);
				fputc(' ', f);
			}
			fputs("|\n", f);
		}
	}
	free(width);
	return ferror(f) ? -1 : 0;
}

void compare_free(struct compare *c)
{
	for (size_t i = 0; i < c->num_runs; i++) {
		struct compare_run *r = &c->runs[i];
		for (size_t k = 0; k < r->num_settings; k++) {
			free(r->settings[k].key);
			free(r->settings[k].value);
		}
		free(r->settings);
		free(r->dir);
		free(r->protocol);
	}
	free(c->runs);
	free(c->columns);
	memset(c, 0, sizeof(*c));
}
