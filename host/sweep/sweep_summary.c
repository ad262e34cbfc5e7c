#define _GNU_SOURCE
#include "sweep/sweep_summary.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "results/results.h"
#include "sweep/sweep_child.h"
#include "util/csv.h"
#include "util/files.h"
#include "util/json_io.h"

#define PATH_LEN 4096

const char *const sweep_figure_names[FIG_COUNT] = {
	[FIG_AVERAGE_ACCURACY] = "average_accuracy",
	[FIG_BWT] = "bwt",
	[FIG_FWT] = "fwt",
	[FIG_FORGETTING] = "forgetting",
	[FIG_UA] = "ua",
	[FIG_RA] = "ra",
	[FIG_TA] = "ta",
	[FIG_MIA] = "mia",
	[FIG_WALL_SECONDS] = "wall_seconds",
	[FIG_PEAK_RSS_MB] = "peak_rss_mb",
};

/* Column titles and number formats of the table. */
static const char *const titles[FIG_COUNT] = { "ACC", "BWT", "FWT", "forgetting", "UA", "RA",
					       "TA", "MIA", "wall s", "RSS MB" };

void sweep_mean_std(const double *x, size_t n, double *mean, double *std)
{
	double sum = 0;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (isfinite(x[i])) {
			sum += x[i];
			k++;
		}
	}
	*mean = k ? sum / (double)k : NAN;
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(x[i]))
			ss += (x[i] - *mean) * (x[i] - *mean);
	*std = k > 1 ? sqrt(ss / (double)(k - 1)) : NAN;
}

/* A finished run's figures (of the run in dir); 0 when its metrics.json does not say complete. */
static int read_figures(const char *dir, double *fig)
{
	struct results_summary r;
	if (results_summary(dir, &r) != 0 || !r.complete)
		return 0;
	fig[FIG_AVERAGE_ACCURACY] = r.acc;
	fig[FIG_BWT] = r.bwt;
	fig[FIG_FWT] = r.fwt;
	fig[FIG_FORGETTING] = r.forgetting;
	fig[FIG_UA] = r.ua;
	fig[FIG_RA] = r.ra;
	fig[FIG_TA] = r.ta;
	fig[FIG_MIA] = r.mia;
	fig[FIG_WALL_SECONDS] = r.total_seconds;
	fig[FIG_PEAK_RSS_MB] = r.peak_rss_bytes / 1048576.0;
	return 1;
}

static int add_failure(struct sweep_summary *sum, const char *run, const char *message)
{
	struct sweep_failure *f = &sum->failures[sum->num_failures];
	f->run = strdup(run);
	f->message = strdup(message);
	if (!f->run || !f->message) {
		free(f->run);
		free(f->message);
		return -1;
	}
	sum->num_failures++;
	return 0;
}

static const struct sweep_summary *sorting; /* qsort has no context argument */

/* Best mean average accuracy first, settings without one last, ties in the sweep's order. */
static int by_accuracy(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	double x = sorting->stats[i].mean[FIG_AVERAGE_ACCURACY];
	double y = sorting->stats[j].mean[FIG_AVERAGE_ACCURACY];
	if (isnan(x) != isnan(y))
		return isnan(x) ? 1 : -1;
	if (!isnan(x) && x != y)
		return x > y ? -1 : 1;
	return i < j ? -1 : i > j;
}

int sweep_summary_collect(struct sweep_summary *sum, const struct sweep *sw, const char *out,
			  struct error *e)
{
	memset(sum, 0, sizeof(*sum));
	sum->sw = sw;
	sum->runs = sweep_num_runs(sw);
	sum->stats = calloc(sw->num_settings, sizeof(*sum->stats));
	sum->order = calloc(sw->num_settings, sizeof(*sum->order));
	sum->failures = calloc(sum->runs, sizeof(*sum->failures));
	double *fig = malloc(sw->num_seeds * FIG_COUNT * sizeof(*fig));
	if (!sum->stats || !sum->order || !sum->failures || !fig) {
		free(fig);
		sweep_summary_free(sum);
		return error_set(e, "out of memory");
	}
	struct sweep_job job = { .sw = sw, .out = out };
	for (size_t s = 0; s < sw->num_settings; s++) {
		struct sweep_stats *st = &sum->stats[s];
		for (size_t k = 0; k < sw->num_seeds; k++) {
			size_t run = s * sw->num_seeds + k;
			double *f = fig + k * FIG_COUNT;
			char dir[PATH_LEN], rel[PATH_LEN], msg[1200];
			for (int i = 0; i < FIG_COUNT; i++)
				f[i] = NAN;
			sweep_child_dir(&job, run, dir, sizeof(dir));
			if (read_figures(dir, f)) {
				st->done++;
			} else if (sweep_child_failure(&job, run, msg, sizeof(msg))) {
				st->failed++;
				sweep_run_path(sw, run, rel, sizeof(rel));
				if (add_failure(sum, rel, msg) < 0) {
					free(fig);
					sweep_summary_free(sum);
					return error_set(e, "out of memory");
				}
			}
		}
		/* fig holds one row per seed: gather each figure's column. */
		for (int i = 0; i < FIG_COUNT; i++) {
			double col[SWEEP_SEEDS_MAX];
			for (size_t k = 0; k < sw->num_seeds; k++)
				col[k] = fig[k * FIG_COUNT + i];
			sweep_mean_std(col, sw->num_seeds, &st->mean[i], &st->std[i]);
		}
		sum->done += st->done;
		sum->failed += st->failed;
		sum->order[s] = s;
	}
	free(fig);
	sorting = sum;
	qsort(sum->order, sw->num_settings, sizeof(*sum->order), by_accuracy);
	sorting = NULL;
	return 0;
}

/* ---- summary.json ---- */

static json_t *figures_json(const double *x)
{
	json_t *o = json_object();
	for (int i = 0; i < FIG_COUNT; i++)
		json_object_set_new(o, sweep_figure_names[i], json_io_real(x[i]));
	return o;
}

static json_t *setting_json(const struct sweep_summary *sum, size_t s)
{
	const struct sweep *sw = sum->sw;
	const struct sweep_setting *set = &sw->settings[s];
	const struct sweep_stats *st = &sum->stats[s];
	json_t *values = json_object(), *seeds = json_array();
	for (size_t i = 0; i < set->num_values; i++)
		json_object_set_new(values, set->values[i].key, json_string(set->values[i].value));
	for (size_t k = 0; k < sw->num_seeds; k++)
		json_array_append_new(seeds, json_integer((json_int_t)sw->seeds[k]));
	return json_pack("{s:s, s:o, s:o, s:I, s:I, s:o, s:o}", "label", set->label, "values",
			 values, "seeds", seeds, "done", (json_int_t)st->done, "failed",
			 (json_int_t)st->failed, "mean", figures_json(st->mean), "std",
			 figures_json(st->std));
}

static int write_json(const struct sweep_summary *sum, const char *out, struct error *e)
{
	json_t *settings = json_array(), *failures = json_array();
	for (size_t i = 0; i < sum->sw->num_settings; i++)
		json_array_append_new(settings, setting_json(sum, sum->order[i]));
	for (size_t i = 0; i < sum->num_failures; i++)
		json_array_append_new(failures, json_pack("{s:s, s:s}", "run", sum->failures[i].run,
							  "message", sum->failures[i].message));
	json_t *root = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:o}", "sweep", sum->sw->name,
				 "base", sum->sw->base, "runs", (json_int_t)sum->runs, "done",
				 (json_int_t)sum->done, "failed", (json_int_t)sum->failed,
				 "settings", settings, "failures", failures);
	int rc = root ? json_io_write(root, out, "summary.json", e)
		      : error_set(e, "%s/summary.json: out of memory", out);
	json_decref(root);
	return rc;
}

/* ---- summary.csv ---- */

/* A field and what follows it: a comma, or the line's end. */
static void csv_cell(FILE *f, const char *s, int last)
{
	csv_field(f, s);
	fputc(last ? '\n' : ',', f);
}

static void csv_number(FILE *f, double x, int last)
{
	if (isfinite(x))
		fprintf(f, "%.17g", x);
	fputc(last ? '\n' : ',', f);
}

/* Every key any setting sets, in order of first appearance: the value columns. */
static size_t value_keys(const struct sweep *sw, const char **keys, size_t cap)
{
	size_t n = 0;
	for (size_t s = 0; s < sw->num_settings; s++)
		for (size_t i = 0; i < sw->settings[s].num_values; i++) {
			const char *k = sw->settings[s].values[i].key;
			size_t j = 0;
			while (j < n && strcmp(keys[j], k) != 0)
				j++;
			if (j == n && n < cap)
				keys[n++] = k;
		}
	return n;
}

static const char *value_of(const struct sweep_setting *set, const char *key)
{
	for (size_t i = 0; i < set->num_values; i++)
		if (!strcmp(set->values[i].key, key))
			return set->values[i].value;
	return "";
}

static int csv_write(FILE *f, const void *data, struct error *e)
{
	const struct sweep_summary *sum = data;
	(void)e;
	const struct sweep *sw = sum->sw;
	const char *keys[256];
	size_t nk = value_keys(sw, keys, 256);
	csv_cell(f, "label", 0);
	for (size_t k = 0; k < nk; k++)
		csv_cell(f, keys[k], 0);
	fputs("seeds,done,failed", f);
	for (int i = 0; i < FIG_COUNT; i++)
		fprintf(f, ",%s_mean,%s_std", sweep_figure_names[i], sweep_figure_names[i]);
	fputc('\n', f);
	for (size_t r = 0; r < sw->num_settings; r++) {
		size_t s = sum->order[r];
		const struct sweep_stats *st = &sum->stats[s];
		csv_cell(f, sw->settings[s].label, 0);
		for (size_t k = 0; k < nk; k++)
			csv_cell(f, value_of(&sw->settings[s], keys[k]), 0);
		for (size_t k = 0; k < sw->num_seeds; k++)
			fprintf(f, "%s%" PRIu64, k ? " " : "", sw->seeds[k]);
		fprintf(f, ",%zu,%zu,", st->done, st->failed);
		for (int i = 0; i < FIG_COUNT; i++) {
			csv_number(f, st->mean[i], 0);
			csv_number(f, st->std[i], i == FIG_COUNT - 1);
		}
	}
	return ferror(f) ? -1 : 0;
}

int sweep_summary_write(const struct sweep_summary *sum, const char *out, struct error *e)
{
	if (write_json(sum, out, e) != 0)
		return -1;
	return files_replace(out, "summary.csv", 0666, csv_write, sum, e);
}

/* ---- the table ---- */

#define CELL_MAX 64

/* Columns on screen: a UTF-8 sequence takes one. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

static void cell(char *buf, double mean, double std, int fig)
{
	const char *fmt = fig == FIG_WALL_SECONDS || fig == FIG_PEAK_RSS_MB ? "%.1f" : "%.4f";
	char m[32], s[32];
	if (isnan(mean)) {
		snprintf(buf, CELL_MAX, "-");
		return;
	}
	snprintf(m, sizeof(m), fmt, mean);
	snprintf(s, sizeof(s), fmt, std);
	snprintf(buf, CELL_MAX, isnan(std) ? "%s" : "%s ± %s", m, s);
}

static void pad(FILE *f, const char *s, size_t w, int right)
{
	size_t n = width(s);
	if (right)
		fprintf(f, "%*s%s", (int)(w - n), "", s);
	else
		fprintf(f, "%s%*s", s, (int)(w - n), "");
}

void sweep_summary_print(const struct sweep_summary *sum, FILE *f)
{
	const struct sweep *sw = sum->sw;
	size_t rows = sw->num_settings + 1;
	int shown[FIG_COUNT], cols = 0;
	/* The unlearning columns only when some run forgot something. */
	for (int i = 0; i < FIG_COUNT; i++) {
		int any = i < FIG_UA || i > FIG_MIA;
		for (size_t s = 0; s < sw->num_settings && !any; s++)
			any = !isnan(sum->stats[s].mean[i]);
		if (any)
			shown[cols++] = i;
	}
	size_t ncol = (size_t)cols + 2;
	char (*cells)[CELL_MAX] = calloc(rows * ncol, CELL_MAX);
	const char **labels = calloc(rows, sizeof(*labels));
	size_t *w = calloc(ncol + 1, sizeof(*w));
	if (!cells || !labels || !w) {
		free(cells);
		free(labels);
		free(w);
		fputs("lethe sweep: out of memory for the table\n", f);
		return;
	}
	labels[0] = "setting";
	snprintf(cells[0], CELL_MAX, "runs");
	for (int c = 0; c < cols; c++)
		snprintf(cells[c + 1], CELL_MAX, "%s", titles[shown[c]]);
	for (size_t r = 1; r < rows; r++) {
		size_t s = sum->order[r - 1];
		const struct sweep_stats *st = &sum->stats[s];
		labels[r] = sw->settings[s].label;
		if (st->failed)
			snprintf(cells[r * ncol], CELL_MAX, "%zu/%zu, %zu failed", st->done,
				 sw->num_seeds, st->failed);
		else
			snprintf(cells[r * ncol], CELL_MAX, "%zu/%zu", st->done, sw->num_seeds);
		for (int c = 0; c < cols; c++)
			cell(cells[r * ncol + (size_t)c + 1], st->mean[shown[c]], st->std[shown[c]],
			     shown[c]);
	}
	for (size_t r = 0; r < rows; r++) {
		if (width(labels[r]) > w[ncol])
			w[ncol] = width(labels[r]);
		for (size_t c = 0; c <= (size_t)cols; c++)
			if (width(cells[r * ncol + c]) > w[c])
				w[c] = width(cells[r * ncol + c]);
	}
	fprintf(f, "%s: %zu runs, %zu done, %zu failed; base %s\n\n", sw->name, sum->runs,
		sum->done, sum->failed, sw->base);
	for (size_t r = 0; r < rows; r++) {
		pad(f, labels[r], w[ncol], 0);
		for (size_t c = 0; c <= (size_t)cols; c++) {
			fputs("  ", f);
			pad(f, cells[r * ncol + c], w[c], c > 0);
		}
		fputc('\n', f);
	}
	if (sum->num_failures)
		fputs("\nfailed runs:\n", f);
	for (size_t i = 0; i < sum->num_failures; i++)
		fprintf(f, "  %s: %s\n", sum->failures[i].run, sum->failures[i].message);
	free(cells);
	free(labels);
	free(w);
}

void sweep_summary_free(struct sweep_summary *sum)
{
	for (size_t i = 0; i < sum->num_failures; i++) {
		free(sum->failures[i].run);
		free(sum->failures[i].message);
	}
	free(sum->failures);
	free(sum->stats);
	free(sum->order);
	memset(sum, 0, sizeof(*sum));
}
