/* A sweep's page: the header, then full-width panels: mean average accuracy per setting, mean
 * forgetting per setting, and the failed runs if any. */
#include "report/report_sweep.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_chart.h"

#define PANEL_WIDTH (REPORT_PAGE_WIDTH - 2 * REPORT_MARGIN)
#define PANEL_TOP 40.0	    /* the panel's title */
#define PANEL_BOTTOM 34.0   /* the axis labels */
#define ROW_HEIGHT 24.0	    /* one setting */
#define BAR_HEIGHT 14.0
#define CHAR_WIDTH 6.0	    /* of the labels' 10-pixel font, near enough to lay them out */
#define VALUE_WIDTH 170.0   /* the mean, std and seeds right of the bars */
#define FAILURES_SHOWN 20

static const struct svg_font small = { .size = 10, .fill = "#333333" };
static const struct svg_font small_right = { .size = 10, .fill = "#333333",
					     .anchor = SVG_ANCHOR_END, .cls = "setting" };

/* One figure of every setting: its mean and standard deviation. */
struct metric {
	const char *title;
	const char *cls;	/* of the panel */
	double (*mean)(const struct report_setting *);
	double (*std)(const struct report_setting *);
	int from_zero_to_one;	/* else the scale fits the values */
};

static double acc_mean(const struct report_setting *st) { return st->acc_mean; }
static double acc_std(const struct report_setting *st) { return st->acc_std; }
static double forgetting_mean(const struct report_setting *st) { return st->forgetting_mean; }
static double forgetting_std(const struct report_setting *st) { return st->forgetting_std; }

static const struct metric metrics[] = {
	{ "mean average accuracy (error bar: std over seeds), best first", "sweep-accuracy",
	  acc_mean, acc_std, 1 },
	{ "mean forgetting (error bar: std over seeds)", "sweep-forgetting", forgetting_mean,
	  forgetting_std, 0 },
};

static double label_width(const struct report_sweep *w)
{
	size_t longest = 0;
	for (size_t i = 0; i < w->num_settings; i++)
		if (strlen(w->settings[i].label) > longest)
			longest = strlen(w->settings[i].label);
	return fmin(fmax(longest * CHAR_WIDTH + 12, 100), 360);
}

/* label, cut to max bytes (not inside a UTF-8 sequence) with "..." when longer. */
static const char *fit(char *out, size_t size, const char *label, size_t max)
{
	size_t len = strlen(label);
	if (len <= max) {
		snprintf(out, size, "%s", label);
		return out;
	}
	size_t cut = max > 3 ? max - 3 : 0;
	while (cut > 0 && ((unsigned char)label[cut] & 0xc0) == 0x80)
		cut--;
	snprintf(out, size, "%.*s...", (int)cut, label);
	return out;
}

static double bars_height(const struct report_sweep *w)
{
	return PANEL_TOP + fmax(w->num_settings, 1) * ROW_HEIGHT + PANEL_BOTTOM;
}

static size_t failures_lines(const struct report_sweep *w)
{
	return w->num_failures > FAILURES_SHOWN ? FAILURES_SHOWN + 1 : w->num_failures;
}

static double failures_height(const struct report_sweep *w)
{
	return PANEL_TOP + failures_lines(w) * 16 + 8;
}

static void scale_of(const struct report_sweep *w, const struct metric *m, double *lo,
		     double *hi)
{
	*lo = 0;
	*hi = 1;
	if (m->from_zero_to_one)
		return;
	*hi = 0;
	for (size_t i = 0; i < w->num_settings; i++) {
		double mean = m->mean(&w->settings[i]), std = m->std(&w->settings[i]);
		if (isnan(mean))
			continue;
		if (isnan(std))
			std = 0;
		*lo = fmin(*lo, mean - std);
		*hi = fmax(*hi, mean + std);
	}
	report_scale_nice(lo, hi);
}

static void error_bar(struct svg *s, const struct report_scale *sc, double mean, double std,
		      double cy)
{
	if (isnan(mean) || isnan(std))
		return;
	static const struct svg_paint p = { .stroke = "#222222", .stroke_width = 1.2,
					    .cls = "error-bar" };
	double a = report_scale_map(sc, fmax(mean - std, sc->lo));
	double b = report_scale_map(sc, fmin(mean + std, sc->hi));
	svg_line(s, a, cy, b, cy, &p);
	svg_line(s, a, cy - 4, a, cy + 4, &p);
	svg_line(s, b, cy - 4, b, cy + 4, &p);
}

static void draw_bars(struct svg *s, const struct report_sweep *w, const struct metric *m,
		      const struct report_box *b)
{
	double lw = label_width(w);
	double px0 = b->x + 12 + lw, px1 = b->x + b->w - VALUE_WIDTH;
	double py0 = b->y + PANEL_TOP, py1 = b->y + b->h - PANEL_BOTTOM;
	double lo, hi;
	scale_of(w, m, &lo, &hi);
	struct report_scale sc = { lo, hi, px0, px1 };

	report_chart_panel(s, b, m->cls, m->title);
	report_chart_grid_x(s, &sc, py0, py1, 0);
	if (w->num_settings == 0)
		svg_text(s, px0 + 8, py0 + ROW_HEIGHT / 2 + 3.5, &small, "no settings");
	for (size_t i = 0; i < w->num_settings; i++) {
		const struct report_setting *st = &w->settings[i];
		double mean = m->mean(st), std = m->std(st);
		double y = py0 + i * ROW_HEIGHT, cy = y + ROW_HEIGHT / 2;
		char label[128], mean_s[16], std_s[16], tip[512], text[96];
		report_chart_figure(mean_s, sizeof(mean_s), mean, 3);
		report_chart_figure(std_s, sizeof(std_s), std, 3);
		snprintf(text, sizeof(text), "%s \xc2\xb1 %s  (%lld of %zu seeds)", mean_s, std_s,
			 st->done, st->seeds);
		snprintf(tip, sizeof(tip), "%s: %s", st->label, text);

		svg_text(s, px0 - 8, cy + 3.5, &small_right,
			 fit(label, sizeof(label), st->label, (size_t)((lw - 12) / CHAR_WIDTH)));
		report_chart_bar(s, &sc, 0, mean, cy - BAR_HEIGHT / 2, cy + BAR_HEIGHT / 2,
				 &(struct svg_paint){ .fill = report_chart_series(0),
						      .cls = "sweep-bar", .title = tip });
		error_bar(s, &sc, mean, std, cy);
		svg_text(s, px1 + 12, cy + 3.5, &small, text);
	}
	svg_group_end(s);
}

static void draw_failures(struct svg *s, const struct report_sweep *w,
			  const struct report_box *b)
{
	report_chart_panel(s, b, "failures", "runs that failed");
	for (size_t i = 0; i < failures_lines(w); i++) {
		char line[512];
		if (i < FAILURES_SHOWN)
			snprintf(line, sizeof(line), "%s: %s", w->failures[i].run,
				 w->failures[i].message);
		else
			snprintf(line, sizeof(line), "and %zu more",
				 w->num_failures - FAILURES_SHOWN);
		svg_text(s, b->x + 12, b->y + PANEL_TOP + 12 + i * 16, &small, line);
	}
	svg_group_end(s);
}

int report_sweep_draw(const struct report_sweep *w, FILE *f)
{
	size_t panels = sizeof(metrics) / sizeof(*metrics);
	double height = REPORT_HEADER_HEIGHT + panels * (bars_height(w) + REPORT_GAP) +
			(w->num_failures ? failures_height(w) + REPORT_GAP : 0) + REPORT_MARGIN;

	char title[256], subtitle[512];
	snprintf(title, sizeof(title), "sweep %s: %lld of %lld runs done, %lld failed", w->name,
		 w->done, w->runs, w->failed);
	snprintf(subtitle, sizeof(subtitle), "base %s; %zu setting%s; mean and standard deviation "
		 "over each setting's seeds", w->base ? w->base : "not recorded", w->num_settings,
		 w->num_settings == 1 ? "" : "s");

	struct svg s;
	svg_begin(&s, f, REPORT_PAGE_WIDTH, height, title);
	report_chart_header(&s, title, subtitle);
	struct report_box b = { REPORT_MARGIN, REPORT_HEADER_HEIGHT + REPORT_GAP, PANEL_WIDTH,
				bars_height(w) };
	for (size_t k = 0; k < panels; k++) {
		draw_bars(&s, w, &metrics[k], &b);
		b.y += b.h + REPORT_GAP;
	}
	if (w->num_failures) {
		b.h = failures_height(w);
		draw_failures(&s, w, &b);
	}
	return svg_end(&s);
}
