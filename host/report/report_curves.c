#include "report/report_curves.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFUSION_TOP 52.0
#define CONFUSION_LEFT 56.0
#define CONFUSION_LEGEND 40.0

static const struct svg_font small = { .size = 10, .fill = "#333333" };
static const struct svg_font small_centre = { .size = 10, .fill = "#333333",
					      .anchor = SVG_ANCHOR_MIDDLE };
static const struct svg_font small_right = { .size = 10, .fill = "#333333",
					     .anchor = SVG_ANCHOR_END };

/* The names the engine gives task j's accuracy: name index 1 + j when the file is lethe's. */
static long accuracy_name(const struct results_doc *r, size_t j)
{
	char name[CURVES_NAME_MAX];
	snprintf(name, sizeof(name), CURVES_ACCURACY "%zu", j + 1);
	return curves_find(&r->curves, name);
}

int report_curves_has_loss(const struct results_doc *r)
{
	long loss = r->has_curves ? curves_find(&r->curves, CURVES_LOSS) : -1;
	for (size_t i = 0; loss >= 0 && i < r->curves.count; i++)
		if (r->curves.points[i].name == (uint32_t)loss)
			return 1;
	return 0;
}

int report_curves_has_epochs(const struct results_doc *r)
{
	for (size_t j = 0; r->has_curves && j < r->num_tasks; j++) {
		long id = accuracy_name(r, j);
		for (size_t i = 0; id >= 0 && i < r->curves.count; i++)
			if (r->curves.points[i].name == (uint32_t)id)
				return 1;
	}
	return 0;
}

/* Where a point lies in steps: step - 1, plus the part of the step its epoch and batch have
 * done (the epochs a step has, and the batches an epoch has, are the most any point shows). */
static double position(const struct curves *c, const struct curves_point *p)
{
	uint32_t epochs = 1, batches = 1;
	for (size_t i = 0; i < c->count; i++) {
		const struct curves_point *q = &c->points[i];
		if (q->step != p->step)
			continue;
		epochs = q->epoch > epochs ? q->epoch : epochs;
		if (q->epoch == p->epoch && q->batch > batches)
			batches = q->batch;
	}
	return p->step - 1 + (p->epoch - 1 + (double)p->batch / batches) / epochs;
}

/* The steps as the horizontal axis, a dashed line where each begins. */
static void step_axis(struct svg *s, const struct results_doc *r, const struct report_scale *xs,
		      double py0, double py1)
{
	report_chart_grid_x(s, xs, py0, py1, 1);
	for (size_t k = 1; k < r->num_tasks; k++) {
		double x = report_scale_map(xs, (double)k);
		svg_line(s, x, py0, x, py1,
			 &(struct svg_paint){ .stroke = "#bbbbbb", .stroke_width = 1,
					      .cls = "step-boundary" });
	}
}

/* Series `name` of the curves as a line; at most n points. */
static void series_line(struct svg *s, const struct results_doc *r, uint32_t name,
			const struct report_scale *xs, const struct report_scale *ys,
			const char *colour, const char *cls, double *x, double *y)
{
	size_t n = 0;
	for (size_t i = 0; i < r->curves.count; i++) {
		const struct curves_point *p = &r->curves.points[i];
		if (p->name != name || !isfinite(p->value))
			continue;
		x[n] = report_scale_map(xs, position(&r->curves, p));
		y[n++] = report_scale_map(ys, p->value);
	}
	if (n == 1)
		svg_circle(s, x[0], y[0], 2.5, &(struct svg_paint){ .fill = colour, .cls = cls });
	else if (n > 1)
		svg_polyline(s, x, y, n, &(struct svg_paint){ .stroke = colour, .stroke_width = 1.5,
							      .cls = cls });
}

static void legend(struct svg *s, double x, double y, size_t i, const char *label)
{
	svg_line(s, x, y, x + 16, y,
		 &(struct svg_paint){ .stroke = report_chart_series(i), .stroke_width = 2,
				      .cls = "legend" });
	svg_text(s, x + 20, y + 3.5, &small, label);
}

void report_curves_draw_loss(struct svg *s, const struct results_doc *r,
			     const struct report_box *b)
{
	const struct curves *c = &r->curves;
	long loss = curves_find(c, CURVES_LOSS);
	double hi = 0;
	for (size_t i = 0; i < c->count; i++) {
		const struct curves_point *p = &c->points[i];
		const char *name = c->names[p->name];
		if ((p->name == (uint32_t)loss || strchr(name, '.')) && isfinite(p->value))
			hi = fmax(hi, p->value);
	}
	double lo = 0;
	hi = hi > 0 ? hi * 1.05 : 1;
	double px0 = b->x + 50, px1 = b->x + b->w - 16, py0 = b->y + 56, py1 = b->y + b->h - 40;
	struct report_scale xs = { 0, (double)r->num_tasks, px0, px1 }, ys = { lo, hi, py1, py0 };
	report_chart_panel(s, b, "loss", "training loss, and the plugins' terms");
	report_chart_grid_y(s, &ys, px0, px1);
	step_axis(s, r, &xs, py0, py1);
	svg_text(s, (px0 + px1) / 2, b->y + b->h - 8, &small_centre, "step");

	double *x = malloc(c->count * sizeof(double)), *y = malloc(c->count * sizeof(double));
	double lx = b->x + 12;
	size_t k = 0;
	for (uint32_t n = 0; x && y && n < c->num_names; n++) {
		if (n != (uint32_t)loss && !strchr(c->names[n], '.'))
			continue;
		const char *colour = report_chart_series(k);
		series_line(s, r, n, &xs, &ys, colour, n == (uint32_t)loss ? "loss-line"
									  : "term-line", x, y);
		legend(s, lx, b->y + 40, k++, c->names[n]);
		lx += 30 + 6 * strlen(c->names[n]);
	}
	free(x);
	free(y);
	svg_group_end(s);
}

void report_curves_draw_epochs(struct svg *s, const struct results_doc *r,
			       const struct report_box *b)
{
	const struct curves *c = &r->curves;
	size_t T = r->num_tasks;
	double px0 = b->x + 44, px1 = b->x + b->w - 84, py0 = b->y + 40, py1 = b->y + b->h - 40;
	struct report_scale xs = { 0, (double)T, px0, px1 }, ys = { 0, 1, py1, py0 };
	report_chart_panel(s, b, "epochs", "each task's accuracy after every epoch");
	report_chart_grid_y(s, &ys, px0, px1);
	step_axis(s, r, &xs, py0, py1);
	svg_text(s, (px0 + px1) / 2, b->y + b->h - 8, &small_centre, "step");
	double *x = malloc(c->count * sizeof(double)), *y = malloc(c->count * sizeof(double));
	double step = fmin(16, (py1 - py0) / T);
	for (size_t j = 0; x && y && j < T; j++) {
		long id = accuracy_name(r, j);
		if (id >= 0)
			series_line(s, r, (uint32_t)id, &xs, &ys, report_chart_series(j),
				    "epoch-accuracy-line", x, y);
		char label[32];
		snprintf(label, sizeof(label), "task %zu", j + 1);
		double ly = py0 + j * step + step / 2;
		svg_line(s, px1 + 12, ly, px1 + 28, ly,
			 &(struct svg_paint){ .stroke = report_chart_series(j), .stroke_width = 2,
					      .cls = "legend" });
		svg_text(s, px1 + 32, ly + 3.5, &(struct svg_font){ .size = fmin(10, step) },
			 label);
	}
	free(x);
	free(y);
	svg_group_end(s);
}

static double confusion_cell(const struct results_doc *r, double w)
{
	return fmin(24, (w - CONFUSION_LEFT - 16) / (double)r->num_classes);
}

double report_curves_confusion_height(const struct results_doc *r, double w)
{
	return CONFUSION_TOP + r->num_classes * confusion_cell(r, w) + CONFUSION_LEGEND;
}

void report_curves_draw_confusion(struct svg *s, const struct results_doc *r, size_t i,
				  const struct report_box *b)
{
	size_t C = r->num_classes;
	const double *m = r->confusion + i * C * C;
	double cell = confusion_cell(r, b->w);
	double x0 = b->x + CONFUSION_LEFT, y0 = b->y + CONFUSION_TOP;
	char title[96], label[96], value[16];
	double right = 0, total = 0;
	for (size_t k = 0; k < C; k++)
		right += m[k * C + k];
	for (size_t k = 0; k < C * C; k++)
		total += m[k];
	snprintf(title, sizeof(title), "class confusion after step %zu (accuracy %s)", i + 1,
		 report_chart_figure(value, sizeof(value), total > 0 ? right / total : NAN, 3));
	report_chart_panel(s, b, "confusion", title);
	svg_text(s, b->x + 12, b->y + 38, &small, "row: the true class; column: the predicted one");
	for (size_t c = 0; c < C && cell >= 8; c++) {
		snprintf(label, sizeof(label), "%zu", c);
		svg_text(s, x0 + (c + 0.5) * cell, y0 - 4, &small_centre, label);
		svg_text(s, x0 - 6, y0 + (c + 0.5) * cell + 3.5, &small_right, label);
	}
	for (size_t c = 0; c < C; c++) {
		double n = 0;
		for (size_t p = 0; p < C; p++)
			n += m[c * C + p];
		for (size_t p = 0; p < C; p++) {
			double v = m[c * C + p], frac = n > 0 ? v / n : NAN;
			char fill[8];
			int dark;
			report_chart_ramp(frac, fill, &dark);
			snprintf(label, sizeof(label), "class %zu predicted as %zu: %.0f of %.0f",
				 c, p, v, n);
			svg_rect(s, x0 + p * cell, y0 + c * cell, cell, cell,
				 &(struct svg_paint){ .fill = fill, .cls = "confusion-cell",
						      .title = label });
		}
	}
	report_chart_ramp_legend(s, x0, b->y + b->h - 24, "row share 0");
	svg_group_end(s);
}
