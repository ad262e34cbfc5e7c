#include "report/report_chart.h"

#include <math.h>
#include <stdio.h>

static const struct svg_font label_font = { .size = 10, .fill = "#555555" };

double report_scale_map(const struct report_scale *sc, double v)
{
	return sc->from + (v - sc->lo) / (sc->hi - sc->lo) * (sc->to - sc->from);
}

void report_scale_nice(double *lo, double *hi)
{
	/* The slack keeps 0.30000000000000004 from widening to 0.4. */
	*lo = floor(fmin(*lo, 0) * 10 + 1e-9) / 10;
	*hi = ceil(fmax(*hi, 0) * 10 - 1e-9) / 10;
	if (*hi - *lo < 0.1)
		*hi = *lo + 0.1;
}

void report_chart_header(struct svg *s, const char *title, const char *subtitle)
{
	svg_text(s, REPORT_MARGIN, 32, &(struct svg_font){ .size = 20, .bold = 1, .cls = "title" },
		 title);
	if (subtitle)
		svg_text(s, REPORT_MARGIN, 54,
			 &(struct svg_font){ .size = 12, .fill = "#555555", .cls = "subtitle" },
			 subtitle);
}

void report_chart_panel(struct svg *s, const struct report_box *b, const char *cls,
			const char *title)
{
	svg_group_begin(s, cls, NULL);
	svg_rect(s, b->x, b->y, b->w, b->h,
		 &(struct svg_paint){ .fill = "#fcfcfc", .stroke = "#d0d0d0", .stroke_width = 1,
				      .cls = "frame" });
	svg_text(s, b->x + 12, b->y + 22, &(struct svg_font){ .size = 14, .bold = 1 }, title);
}

/* About five steps of 1, 2 or 5 times a power of ten over [lo, hi], at least 1 if whole;
 * *decimals to print them. */
static double grid_step(double lo, double hi, int whole, int *decimals)
{
	double raw = fmax((hi - lo) / 5, whole ? 1 : 0);
	double mag = pow(10, floor(log10(raw)));
	double norm = raw / mag;
	double step = (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
	int d = (int)-floor(log10(step) + 1e-9);
	*decimals = d > 0 ? d : 0;
	return step;
}

/* Calls draw at each grid value of sc. */
static void each_grid_value(struct svg *s, const struct report_scale *sc, int whole, double a,
			    double b,
			    void (*draw)(struct svg *, double pos, double a, double b,
					 const char *label, int zero))
{
	/* An empty range has no steps to take. */
	if (!(sc->hi > sc->lo))
		return;
	int decimals;
	double step = grid_step(sc->lo, sc->hi, whole, &decimals);
	for (double k = ceil(sc->lo / step - 1e-9); k * step <= sc->hi + step * 1e-9; k++) {
		double v = k * step;
		char label[32];
		svg_fixed(label, sizeof(label), v, decimals);
		draw(s, report_scale_map(sc, v), a, b, label, k == 0);
	}
}

static const struct svg_paint grid_paint = { .stroke = "#e4e4e4", .stroke_width = 1,
					     .cls = "grid" };
/* The zero line is where bars start: darker than the rest. */
static const struct svg_paint zero_paint = { .stroke = "#999999", .stroke_width = 1,
					     .cls = "grid" };

static void horizontal(struct svg *s, double y, double x0, double x1, const char *label,
		       int zero)
{
	svg_line(s, x0, y, x1, y, zero ? &zero_paint : &grid_paint);
	struct svg_font f = label_font;
	f.anchor = SVG_ANCHOR_END;
	svg_text(s, x0 - 6, y + 3.5, &f, label);
}

static void vertical(struct svg *s, double x, double y0, double y1, const char *label, int zero)
{
	svg_line(s, x, y0, x, y1, zero ? &zero_paint : &grid_paint);
	struct svg_font f = label_font;
	f.anchor = SVG_ANCHOR_MIDDLE;
	svg_text(s, x, y1 + 14, &f, label);
}

void report_chart_grid_y(struct svg *s, const struct report_scale *sc, double x0, double x1)
{
	each_grid_value(s, sc, 0, x0, x1, horizontal);
}

void report_chart_grid_x(struct svg *s, const struct report_scale *sc, double y0, double y1,
			 int whole)
{
	each_grid_value(s, sc, whole, y0, y1, vertical);
}

void report_chart_bar(struct svg *s, const struct report_scale *sc, int vertical_bar, double v,
		      double c0, double c1, const struct svg_paint *p)
{
	if (isnan(v))
		return;
	double base = report_scale_map(sc, fmin(fmax(0, sc->lo), sc->hi));
	double end = report_scale_map(sc, fmin(fmax(v, sc->lo), sc->hi));
	double p0 = fmin(base, end), len = fabs(end - base);
	if (vertical_bar)
		svg_rect(s, c0, p0, c1 - c0, len, p);
	else
		svg_rect(s, p0, c0, len, c1 - c0, p);
}

void report_chart_ramp(double v, char out[8], int *dark)
{
	/* Yellow-green-blue, light for low accuracy, dark for high. */
	static const unsigned char stops[][3] = {
		{ 0xff, 0xff, 0xd9 }, { 0xc7, 0xe9, 0xb4 }, { 0x41, 0xb6, 0xc4 },
		{ 0x22, 0x5e, 0xa8 }, { 0x08, 0x1d, 0x58 },
	};
	if (isnan(v)) {
		snprintf(out, 8, "#dddddd");
		*dark = 0;
		return;
	}
	double t = fmin(fmax(v, 0), 1) * 4;
	int i = t >= 4 ? 3 : (int)t;
	double f = t - i;
	int rgb[3];
	for (int c = 0; c < 3; c++)
		rgb[c] = (int)lround(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]));
	snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
	*dark = v >= 0.55;
}

const char *report_chart_series(size_t i)
{
	/* Tableau 10. */
	static const char *const palette[] = { "#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
					       "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
					       "#9c755f", "#bab0ac" };
	return palette[i % (sizeof(palette) / sizeof(*palette))];
}

const char *report_chart_figure(char *out, size_t size, double v, int decimals)
{
	if (isnan(v))
		snprintf(out, size, "n/a");
	else
		svg_fixed(out, size, v, decimals);
	return out;
}

void report_chart_ramp_legend(struct svg *s, double x0, double y, const char *low)
{
	static const struct svg_font text = { .size = 10, .fill = "#333333" };
	static const struct svg_font text_right = { .size = 10, .fill = "#333333",
						    .anchor = SVG_ANCHOR_END };
	const double lw = 16;
	for (int k = 0; k < 10; k++) {
		char fill[8];
		int dark;
		report_chart_ramp((k + 0.5) / 10, fill, &dark);
		svg_rect(s, x0 + k * lw, y, lw, 10, &(struct svg_paint){ .fill = fill, .cls = "ramp" });
	}
	svg_text(s, x0 - 8, y + 9, &text_right, low);
	svg_text(s, x0 + 10 * lw + 6, y + 9, &text, "1");
}
