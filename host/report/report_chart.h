/* The parts the report's pages share: the page header, panels, linear scales with their grid
 * lines, bars, the colours and how figures print. */
#ifndef LETHE_REPORT_CHART_H
#define LETHE_REPORT_CHART_H

#include <stddef.h>

#include "report/svg.h"

#define REPORT_PAGE_WIDTH 980.0
#define REPORT_MARGIN 20.0
#define REPORT_HEADER_HEIGHT 64.0 /* title and subtitle */
#define REPORT_GAP 20.0		  /* between panels */

struct report_box {
	double x, y, w, h;
};

/* Values lo..hi onto pixels from..to (to may be below from: y grows downwards). */
struct report_scale {
	double lo, hi, from, to;
};

double report_scale_map(const struct report_scale *sc, double v);
/* lo and hi widened to tenths, taking in 0, at least 0.1 apart. */
void report_scale_nice(double *lo, double *hi);

/* The page's title and, under it, a grey subtitle (NULL: none). */
void report_chart_header(struct svg *s, const char *title, const char *subtitle);

/* Opens a group of class cls holding a framed panel with its title at the top. Close it with
 * svg_group_end. */
void report_chart_panel(struct svg *s, const struct report_box *b, const char *cls,
			const char *title);

/* Grid lines and their labels at round values (steps of 1, 2 or 5 times a power of ten, about
 * five of them over sc's range; whole numbers only if whole): horizontal lines across [x0, x1]
 * for a vertical scale, vertical ones down [y0, y1], labelled below y1, for a horizontal one. */
void report_chart_grid_y(struct svg *s, const struct report_scale *sc, double x0, double x1);
void report_chart_grid_x(struct svg *s, const struct report_scale *sc, double y0, double y1,
			 int whole);

/* A bar from base to the value along sc, across [c0, c1] on the other axis: a vertical bar when
 * vertical, else a horizontal one. Nothing for NaN. */
void report_chart_bar(struct svg *s, const struct report_scale *sc, int vertical, double v,
		      double c0, double c1, const struct svg_paint *p);

/* An accuracy in [0, 1] as a colour of a sequential scale (light grey for NaN), into out
 * ("#rrggbb"); *dark says white text reads better on it. */
void report_chart_ramp(double v, char out[8], int *dark);
/* The ramp's legend: ten swatches from x0 along y, "low" before them and "1" after. */
void report_chart_ramp_legend(struct svg *s, double x0, double y, const char *low);
/* The i-th colour of a palette telling series apart (it repeats after ten). */
const char *report_chart_series(size_t i);

/* v with `decimals` decimals, or "n/a" for NaN (JSON's null): out, for chaining. */
const char *report_chart_figure(char *out, size_t size, double v, int decimals);

#endif
