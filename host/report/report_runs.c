#include "report/report_runs.h"

#include <math.h>

#include "report/report_chart.h"

#define PANEL_HEIGHT 300.0
#define LEGEND_LINE 16.0

static const struct svg_font small = { .size = 10, .fill = "#333333" };
static const struct svg_font small_centre = { .size = 10, .anchor = SVG_ANCHOR_MIDDLE,
					      .fill = "#333333" };

/* ACC over the tasks learned by step k (1-based), NaN for a step not done. */
static double acc_at(const struct results_doc *r, size_t k)
{
	if (k == 0 || k > r->rows_done)
		return NAN;
	double sum = 0;
	for (size_t j = 0; j < k; j++)
		sum += r->R[(k - 1) * r->num_tasks + j];
	return sum / (double)k;
}

static void legend(struct svg *s, const char *const *labels, size_t n, double x, double y)
{
	for (size_t i = 0; i < n; i++) {
		double ly = y + i * LEGEND_LINE;
		svg_line(s, x, ly, x + 16, ly,
			 &(struct svg_paint){ .stroke = report_chart_series(i), .stroke_width = 2,
					      .cls = "legend" });
		svg_text(s, x + 20, ly + 3.5, &small, labels[i]);
	}
}

static void draw_curves(struct svg *s, const struct results_doc *runs, const char *const *labels,
			size_t n, const struct report_box *b)
{
	size_t steps = 1;
	for (size_t i = 0; i < n; i++)
		steps = runs[i].num_tasks > steps ? runs[i].num_tasks : steps;
	double px0 = b->x + 44, px1 = b->x + b->w * 0.62, py0 = b->y + 40, py1 = b->y + b->h - 40;
	struct report_scale xs = { 1, steps > 1 ? (double)steps : 2, px0, px1 };
	struct report_scale ys = { 0, 1, py1, py0 };
	report_chart_panel(s, b, "runs-acc", "average accuracy over the tasks so far, per step");
	report_chart_grid_y(s, &ys, px0, px1);
	report_chart_grid_x(s, &xs, py0, py1, 1);
	svg_text(s, (px0 + px1) / 2, b->y + b->h - 8, &small_centre, "step");
	for (size_t i = 0; i < n; i++) {
		double x[RESULTS_TASKS_MAX], y[RESULTS_TASKS_MAX];
		size_t m = 0;
		svg_group_begin(s, "series", labels[i]);
		for (size_t k = 1; k <= runs[i].rows_done; k++) {
			x[m] = report_scale_map(&xs, (double)k);
			y[m] = report_scale_map(&ys, acc_at(&runs[i], k));
			svg_circle(s, x[m], y[m], 2.5,
				   &(struct svg_paint){ .fill = report_chart_series(i) });
			m++;
		}
		if (m > 1)
			svg_polyline(s, x, y, m,
				     &(struct svg_paint){ .stroke = report_chart_series(i),
							  .stroke_width = 2, .cls = "acc-line" });
		svg_group_end(s);
	}
	legend(s, labels, n, px1 + 24, py0 + 4);
	svg_group_end(s);
}

static void draw_figures(struct svg *s, const struct results_doc *runs, size_t n,
			 const struct report_box *b)
{
	static const char *const names[] = { "ACC", "BWT", "FWT", "forgetting" };
	double lo = 0, hi = 0;
	for (size_t i = 0; i < n; i++) {
		const double v[] = { runs[i].acc, runs[i].bwt, runs[i].fwt, runs[i].forgetting };
		for (size_t k = 0; k < 4; k++)
			if (!isnan(v[k])) {
				lo = fmin(lo, v[k]);
				hi = fmax(hi, v[k]);
			}
	}
	report_scale_nice(&lo, &hi);
	double px0 = b->x + 50, px1 = b->x + b->w - 16, py0 = b->y + 44, py1 = b->y + b->h - 40;
	struct report_scale ys = { lo, hi, py1, py0 };
	report_chart_panel(s, b, "runs-figures", "the runs' figures after their last step");
	report_chart_grid_y(s, &ys, px0, px1);
	double group = (px1 - px0) / 4, bar = (group - 16) / (double)n;
	for (size_t k = 0; k < 4; k++) {
		double g0 = px0 + k * group + 8;
		svg_text(s, g0 + (group - 16) / 2, py1 + 16, &small_centre, names[k]);
		for (size_t i = 0; i < n; i++) {
			const double v[] = { runs[i].acc, runs[i].bwt, runs[i].fwt,
					     runs[i].forgetting };
			report_chart_bar(s, &ys, 1, v[k], g0 + i * bar, g0 + (i + 1) * bar - 1,
					 &(struct svg_paint){ .fill = report_chart_series(i) });
		}
	}
	svg_group_end(s);
}

int report_runs_draw(const struct results_doc *runs, const char *const *labels, size_t n,
		     FILE *f)
{
	struct svg s;
	char subtitle[64];
	double legend_h = n * LEGEND_LINE + 80;
	double h = legend_h > PANEL_HEIGHT ? legend_h : PANEL_HEIGHT;
	double y = REPORT_HEADER_HEIGHT + REPORT_MARGIN, w = REPORT_PAGE_WIDTH - 2 * REPORT_MARGIN;
	snprintf(subtitle, sizeof(subtitle), "%zu runs on shared axes", n);
	svg_begin(&s, f, REPORT_PAGE_WIDTH, y + h + REPORT_GAP + PANEL_HEIGHT + REPORT_MARGIN,
		  "lethe: runs compared");
	report_chart_header(&s, "runs compared", subtitle);
	draw_curves(&s, runs, labels, n, &(struct report_box){ REPORT_MARGIN, y, w, h });
	draw_figures(&s, runs, n,
		     &(struct report_box){ REPORT_MARGIN, y + h + REPORT_GAP, w, PANEL_HEIGHT });
	return svg_end(&s);
}
