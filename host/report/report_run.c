/* A run's page: the header, the headline figures, then the panels two to a row: the accuracy
 * matrix, accuracy across the steps, forgetting per task, the training curves when there are
 * any (report_curves.c), each step's class confusion, then one per forget step. */
#include "report/report_run.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "report/report_chart.h"
#include "report/report_curves.h"

#define COLUMN_WIDTH ((REPORT_PAGE_WIDTH - 2 * REPORT_MARGIN - REPORT_GAP) / 2)
#define CARDS_Y (REPORT_HEADER_HEIGHT + 6)
#define CARD_HEIGHT 56.0
#define PANELS_Y (CARDS_Y + CARD_HEIGHT + REPORT_GAP)

/* The heatmap: row labels on the left, column labels above. */
#define MATRIX_TOP 50.0
#define MATRIX_LEFT 78.0
#define MATRIX_UNTRAINED_GAP 6.0 /* sets the untrained row apart */
#define MATRIX_LEGEND 46.0

enum panel_kind {
	PANEL_MATRIX, PANEL_LINES, PANEL_FORGETTING, PANEL_LOSS, PANEL_EPOCHS, PANEL_CONFUSION,
	PANEL_FORGET
};

/* A panel of the page: its kind and, for a confusion or forget panel, which one. */
struct panel {
	enum panel_kind kind;
	size_t index;
};

/* At most: the three of every run, the two curves, a confusion per step, a forget panel per
 * forget step (metrics.json lists at most that many). */
#define PANELS_MAX (5 + RESULTS_TASKS_MAX + 2 * RESULTS_TASKS_MAX)

static const struct svg_font small = { .size = 10, .fill = "#333333" };
static const struct svg_font small_centre = { .size = 10, .fill = "#333333",
					      .anchor = SVG_ANCHOR_MIDDLE };
static const struct svg_font small_right = { .size = 10, .fill = "#333333",
					     .anchor = SVG_ANCHOR_END };
static const struct svg_font bar_value = { .size = 10, .fill = "#333333",
					   .anchor = SVG_ANCHOR_MIDDLE, .cls = "bar-value" };

static double cell_width(const struct results_doc *r)
{
	return fmin(56, (COLUMN_WIDTH - MATRIX_LEFT - 16) / (double)r->num_tasks);
}

static double cell_height(const struct results_doc *r)
{
	return r->num_tasks <= 12 ? 24 : 18;
}

static double panel_height(const struct results_doc *r, const struct panel *p)
{
	switch (p->kind) {
	case PANEL_MATRIX:
		return MATRIX_TOP + (r->num_tasks + 1) * cell_height(r) + MATRIX_UNTRAINED_GAP +
		       MATRIX_LEGEND;
	case PANEL_LINES:
	case PANEL_LOSS:
	case PANEL_EPOCHS:
		return 320;
	case PANEL_CONFUSION:
		return report_curves_confusion_height(r, COLUMN_WIDTH);
	default:
		return 290;
	}
}

/* The page's panels in order; their count. */
static size_t panels_of(const struct results_doc *r, struct panel *p)
{
	size_t n = 0;
	p[n++] = (struct panel){ PANEL_MATRIX, 0 };
	p[n++] = (struct panel){ PANEL_LINES, 0 };
	p[n++] = (struct panel){ PANEL_FORGETTING, 0 };
	if (report_curves_has_loss(r))
		p[n++] = (struct panel){ PANEL_LOSS, 0 };
	if (report_curves_has_epochs(r))
		p[n++] = (struct panel){ PANEL_EPOCHS, 0 };
	for (size_t i = 0; r->num_classes && i < r->rows_done; i++)
		if (!isnan(r->confusion[i * r->num_classes * r->num_classes]))
			p[n++] = (struct panel){ PANEL_CONFUSION, i };
	for (size_t i = 0; i < r->num_forgets && n < PANELS_MAX; i++)
		p[n++] = (struct panel){ PANEL_FORGET, i };
	return n;
}

/* Panels are laid out two to a row; a row is as tall as its taller panel. */
static double row_height(const struct results_doc *r, const struct panel *p, size_t n,
			 size_t row)
{
	double h = panel_height(r, &p[2 * row]);
	if (2 * row + 1 < n)
		h = fmax(h, panel_height(r, &p[2 * row + 1]));
	return h;
}

static void draw_panel(struct svg *s, const struct results_doc *r, const struct panel *p,
		       const struct report_box *b);

static void heatmap_cell(struct svg *s, double x, double y, double w, double h, double v,
			 const char *cls, const char *what, int learned)
{
	char fill[8], tip[96], text[16];
	int dark;
	report_chart_ramp(v, fill, &dark);
	report_chart_figure(text, sizeof(text), v, 4);
	snprintf(tip, sizeof(tip), "%s: %s", what, text);
	/* The cell of the step that learned the task is outlined. */
	svg_rect(s, x + 1, y + 1, w - 2, h - 2,
		 &(struct svg_paint){ .fill = fill, .stroke = learned ? "#222222" : NULL,
				      .stroke_width = 1.5, .cls = cls, .title = tip });
	report_chart_figure(text, sizeof(text), v, 2);
	svg_text(s, x + w / 2, y + h / 2 + 3.5,
		 &(struct svg_font){ .size = fmin(11, w / 3.4), .anchor = SVG_ANCHOR_MIDDLE,
				     .fill = dark ? "#ffffff" : "#222222", .cls = "matrix-value" },
		 text);
}

static void draw_matrix(struct svg *s, const struct results_doc *r, const struct report_box *b)
{
	size_t T = r->num_tasks;
	double cw = cell_width(r), ch = cell_height(r);
	double x0 = b->x + MATRIX_LEFT, y0 = b->y + MATRIX_TOP;
	char label[64];

	report_chart_panel(s, b, "heatmap", "accuracy matrix (row: after the step; column: task)");
	for (size_t j = 0; j < T; j++) {
		snprintf(label, sizeof(label), cw >= 44 ? "task %zu" : "%zu", j + 1);
		svg_text(s, x0 + (j + 0.5) * cw, y0 - 8, &small_centre, label);
	}
	svg_text(s, x0 - 8, y0 + ch / 2 + 3.5, &small_right, "untrained");
	for (size_t j = 0; j < T; j++) {
		snprintf(label, sizeof(label), "untrained, task %zu", j + 1);
		heatmap_cell(s, x0 + j * cw, y0, cw, ch, r->b[j], "cell untrained", label, 0);
	}
	for (size_t i = 0; i < T; i++) {
		double y = y0 + ch + MATRIX_UNTRAINED_GAP + i * ch;
		snprintf(label, sizeof(label), "step %zu", i + 1);
		svg_text(s, x0 - 8, y + ch / 2 + 3.5, &small_right, label);
		if (i >= r->rows_done) {
			snprintf(label, sizeof(label), "step %zu has not run", i + 1);
			svg_rect(s, x0 + 1, y + 1, T * cw - 2, ch - 2,
				 &(struct svg_paint){ .fill = "#f1f1f1", .stroke = "#dddddd",
						      .stroke_width = 1, .cls = "pending",
						      .title = label });
			continue;
		}
		for (size_t j = 0; j < T; j++) {
			snprintf(label, sizeof(label), "after step %zu, task %zu", i + 1, j + 1);
			heatmap_cell(s, x0 + j * cw, y, cw, ch, r->R[i * T + j], "cell", label,
				     i == j);
		}
	}

	/* The colour scale. */
	report_chart_ramp_legend(s, x0, b->y + b->h - 26, "accuracy 0");
	svg_group_end(s);
}

/* Task j's accuracy before any step (k = 0) and after step k. */
static double accuracy_at(const struct results_doc *r, size_t j, size_t k)
{
	return k == 0 ? r->b[j] : r->R[(k - 1) * r->num_tasks + j];
}

static void draw_series(struct svg *s, const struct results_doc *r, size_t j,
			const struct report_scale *xs, const struct report_scale *ys)
{
	const char *colour = report_chart_series(j);
	double x[RESULTS_TASKS_MAX + 1], y[RESULTS_TASKS_MAX + 1];
	size_t n = 0;
	char tip[96], value[16];

	snprintf(tip, sizeof(tip), "task %zu", j + 1);
	svg_group_begin(s, "series", tip);
	/* NaN (null) breaks the line: one polyline per unbroken stretch. */
	for (size_t k = 0; k <= r->rows_done + 1; k++) {
		double v = k <= r->rows_done ? accuracy_at(r, j, k) : NAN;
		if (!isnan(v)) {
			x[n] = report_scale_map(xs, (double)k);
			y[n++] = report_scale_map(ys, v);
			continue;
		}
		if (n > 1)
			svg_polyline(s, x, y, n,
				     &(struct svg_paint){ .stroke = colour, .stroke_width = 2,
							  .cls = "accuracy-line" });
		n = 0;
	}
	for (size_t k = 0; k <= r->rows_done; k++) {
		double v = accuracy_at(r, j, k);
		if (isnan(v))
			continue;
		report_chart_figure(value, sizeof(value), v, 4);
		if (k == 0)
			snprintf(tip, sizeof(tip), "task %zu untrained: %s", j + 1, value);
		else
			snprintf(tip, sizeof(tip), "task %zu after step %zu: %s", j + 1, k, value);
		svg_circle(s, report_scale_map(xs, (double)k), report_scale_map(ys, v), 2.5,
			   &(struct svg_paint){ .fill = colour, .title = tip });
	}
	svg_group_end(s);
}

static void draw_lines(struct svg *s, const struct results_doc *r, const struct report_box *b)
{
	size_t T = r->num_tasks;
	double px0 = b->x + 44, px1 = b->x + b->w - 84, py0 = b->y + 40, py1 = b->y + b->h - 40;
	struct report_scale xs = { 0, (double)T, px0, px1 }, ys = { 0, 1, py1, py0 };

	report_chart_panel(s, b, "lines", "each task's accuracy across the steps");
	report_chart_grid_y(s, &ys, px0, px1);
	report_chart_grid_x(s, &xs, py0, py1, 1);
	svg_text(s, (px0 + px1) / 2, b->y + b->h - 8, &small_centre,
		 "step (0: untrained)");
	for (size_t j = 0; j < T; j++)
		draw_series(s, r, j, &xs, &ys);

	double step = fmin(16, (py1 - py0) / T);
	for (size_t j = 0; j < T; j++) {
		char label[32];
		double y = py0 + j * step + step / 2;
		snprintf(label, sizeof(label), "task %zu", j + 1);
		svg_line(s, px1 + 12, y, px1 + 28, y,
			 &(struct svg_paint){ .stroke = report_chart_series(j), .stroke_width = 2,
					      .cls = "legend" });
		svg_text(s, px1 + 32, y + 3.5, &(struct svg_font){ .size = fmin(10, step) }, label);
	}
	svg_group_end(s);
}

static void draw_forgetting(struct svg *s, const struct results_doc *r,
			    const struct report_box *b)
{
	char title[96], value[16];
	snprintf(title, sizeof(title), "forgetting per task (mean %s)",
		 report_chart_figure(value, sizeof(value), r->forgetting, 3));
	report_chart_panel(s, b, "forgetting", title);
	size_t n = r->num_forgetting;
	if (n == 0) {
		svg_text(s, b->x + b->w / 2, b->y + b->h / 2, &small_centre,
			 "no step has finished yet");
		svg_group_end(s);
		return;
	}

	double lo = 0, hi = 0;
	for (size_t j = 0; j < n; j++)
		if (!isnan(r->forgetting_per_task[j])) {
			lo = fmin(lo, r->forgetting_per_task[j]);
			hi = fmax(hi, r->forgetting_per_task[j]);
		}
	report_scale_nice(&lo, &hi);
	double px0 = b->x + 50, px1 = b->x + b->w - 16, py0 = b->y + 44, py1 = b->y + b->h - 40;
	struct report_scale ys = { lo, hi, py1, py0 };
	report_chart_grid_y(s, &ys, px0, px1);

	double slot = (px1 - px0) / n, bw = fmin(48, slot * 0.6);
	for (size_t j = 0; j < n; j++) {
		double v = r->forgetting_per_task[j], cx = px0 + (j + 0.5) * slot;
		char tip[64], label[32];
		report_chart_figure(value, sizeof(value), v, 4);
		snprintf(tip, sizeof(tip), "task %zu: forgetting %s", j + 1, value);
		report_chart_bar(s, &ys, 1, v, cx - bw / 2, cx + bw / 2,
				 &(struct svg_paint){ .fill = report_chart_series(j),
						      .cls = "forgetting-bar", .title = tip });
		/* The value sits above the bar, or above the zero line for a negative one, clear of
		 * the task labels below. */
		double ty = report_scale_map(&ys, isnan(v) || v < 0 ? 0 : v) - 4;
		svg_text(s, cx, ty, &bar_value, report_chart_figure(value, sizeof(value), v, 2));
		snprintf(label, sizeof(label), slot >= 40 ? "task %zu" : "%zu", j + 1);
		svg_text(s, cx, py1 + 14, &small_centre, label);
	}
	svg_text(s, (px0 + px1) / 2, b->y + b->h - 8, &small_centre, "task");
	svg_group_end(s);
}

static const char *const figure_names[RESULTS_METHOD_FIGURES] = { "UA", "RA", "TA", "MIA",
								  "MIA thr", "loss AUC", "JS D_f" };

/* Method k's figure g as a bar across [x, x + w], its value above it where there is room. */
static void method_bar(struct svg *s, const struct report_scale *ys,
		       const struct results_method *m, size_t k, int g, double x, double w)
{
	static const struct svg_font tiny = { .size = 8, .anchor = SVG_ANCHOR_MIDDLE,
					      .fill = "#333333" };
	double v = m->figure[g];
	char value[16], tip[96];
	report_chart_figure(value, sizeof(value), v, 4);
	snprintf(tip, sizeof(tip), "%s %s: %s", m->name, figure_names[g], value);
	report_chart_bar(s, ys, 1, v, x + 1, x + w - 1,
			 &(struct svg_paint){ .fill = report_chart_series(k),
					      .cls = "unlearning-bar", .title = tip });
	if (w >= 22)
		svg_text(s, x + w / 2, report_scale_map(ys, isnan(v) ? 0 : v) - 3, &tiny,
			 report_chart_figure(value, sizeof(value), v, 2));
}

/* Appends to buf (size bytes), cutting it short when full. */
static void add(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

/* "forget1 after step 2: class 1,3, 60 samples, by repulsion" */
static void caption(const struct results_forget *f, char *c, size_t size)
{
	snprintf(c, size, "%s after step %lld: ", f->section, f->after);
	if (f->has_fraction)
		add(c, size, "%.0f%% of ", f->fraction * 100);
	add(c, size, "%s", f->what);
	if (f->has_task)
		add(c, size, " %lld", f->task);
	for (size_t i = 0; i < f->num_classes; i++)
		add(c, size, "%s%lld", i ? "," : " ", f->classes[i]);
	add(c, size, ", %lld samples, %s%s", f->samples, f->plugin ? "by " : "",
	    f->plugin ? f->plugin : "data removed, no procedure run");
}

static void draw_forget(struct svg *s, const struct results_forget *f,
			const struct report_box *b)
{
	char gap[16], secs[16], line[160 + RESULTS_REASON_MAX], what[256];
	size_t m = f->num_methods;

	report_chart_panel(s, b, "unlearning", "unlearning, beside the reference methods (MIA: the "
			   "SVC attack on confidence; MIA thr: the threshold attack; JS: to retrain, "
			   "docs/unlearning.md)");
	caption(f, what, sizeof(what));
	svg_text(s, b->x + 12, b->y + 40, &small, what);
	snprintf(line, sizeof(line), "gap to retrain %s (mean |difference| of UA, RA, TA, MIA); "
		 "%s s", report_chart_figure(gap, sizeof(gap), f->gap_to_retrain, 3),
		 report_chart_figure(secs, sizeof(secs), f->seconds, 2));
	for (size_t k = 0; k < m; k++) /* the first compared plugin that failed, and why */
		if (f->methods[k].failed) {
			add(line, sizeof(line), "; %s failed: %s", f->methods[k].name,
			    f->methods[k].failed);
			break;
		}
	svg_text(s, b->x + 12, b->y + 56, &small, line);

	double lx = b->x + 12;
	for (size_t k = 0; k < m; k++) {
		char name[96];
		snprintf(name, sizeof(name), "%s%s", f->methods[k].name,
			 f->methods[k].failed ? " (failed)" : "");
		svg_rect(s, lx, b->y + 66, 10, 10,
			 &(struct svg_paint){ .fill = report_chart_series(k), .cls = "legend" });
		svg_text(s, lx + 14, b->y + 75, &small, name);
		lx += 14 + 6 * strlen(name) + 14;
	}

	double px0 = b->x + 44, px1 = b->x + b->w - 16, py0 = b->y + 92, py1 = b->y + b->h - 26;
	struct report_scale ys = { 0, 1, py1, py0 };
	report_chart_grid_y(s, &ys, px0, px1);
	/* A group of bars per figure, one bar per method, the groups a tenth of their width
	 * apart on either side. */
	double group = (px1 - px0) / RESULTS_METHOD_FIGURES, bw = group * 0.8 / m;
	for (int g = 0; g < RESULTS_METHOD_FIGURES; g++) {
		double gx = px0 + g * group + group * 0.1;
		for (size_t k = 0; k < m; k++)
			method_bar(s, &ys, &f->methods[k], k, g, gx + k * bw, bw);
		svg_text(s, px0 + (g + 0.5) * group, py1 + 14, &small_centre, figure_names[g]);
	}
	svg_group_end(s);
}

static void draw_cards(struct svg *s, const struct results_doc *r)
{
	const struct {
		const char *label;
		double v;
	} cards[] = {
		{ "average accuracy (ACC)", r->acc },
		{ "backward transfer (BWT)", r->bwt },
		{ "forward transfer (FWT)", r->fwt },
		{ "forgetting", r->forgetting },
	};
	size_t n = sizeof(cards) / sizeof(*cards);
	double gap = 12, w = (REPORT_PAGE_WIDTH - 2 * REPORT_MARGIN - (n - 1) * gap) / n;
	svg_group_begin(s, "headline", NULL);
	for (size_t i = 0; i < n; i++) {
		double x = REPORT_MARGIN + i * (w + gap);
		char value[16];
		svg_rect(s, x, CARDS_Y, w, CARD_HEIGHT,
			 &(struct svg_paint){ .fill = "#f4f6f9", .stroke = "#d0d6e0",
					      .stroke_width = 1, .cls = "card" });
		svg_text(s, x + 12, CARDS_Y + 18, &small, cards[i].label);
		svg_text(s, x + 12, CARDS_Y + 45,
			 &(struct svg_font){ .size = 22, .bold = 1, .cls = "figure" },
			 report_chart_figure(value, sizeof(value), cards[i].v, 3));
	}
	svg_group_end(s);
}

static void draw_panel(struct svg *s, const struct results_doc *r, const struct panel *p,
		       const struct report_box *b)
{
	switch (p->kind) {
	case PANEL_MATRIX:
		draw_matrix(s, r, b);
		break;
	case PANEL_LINES:
		draw_lines(s, r, b);
		break;
	case PANEL_FORGETTING:
		draw_forgetting(s, r, b);
		break;
	case PANEL_LOSS:
		report_curves_draw_loss(s, r, b);
		break;
	case PANEL_EPOCHS:
		report_curves_draw_epochs(s, r, b);
		break;
	case PANEL_CONFUSION:
		report_curves_draw_confusion(s, r, p->index, b);
		break;
	case PANEL_FORGET:
		draw_forget(s, &r->forgets[p->index], b);
		break;
	}
}

int report_run_draw(const struct results_doc *r, FILE *f)
{
	struct panel panels[PANELS_MAX];
	size_t n = panels_of(r, panels), rows = (n + 1) / 2;
	double height = PANELS_Y + REPORT_MARGIN;
	for (size_t row = 0; row < rows; row++)
		height += row_height(r, panels, n, row) + (row ? REPORT_GAP : 0);

	char title[256], subtitle[512], plugins[256] = "";
	char steps[64] = "complete";
	for (size_t i = 0; i < r->num_plugins; i++)
		add(plugins, sizeof(plugins), "%s%s", i ? ", " : "", r->plugins[i]);
	if (!r->complete)
		snprintf(steps, sizeof(steps), "partial, %zu of %zu steps", r->rows_done,
			 r->num_tasks);
	snprintf(title, sizeof(title), "%s: %s, seed %s, %s",
		 r->scenario ? r->scenario : "(unnamed)", r->protocol, r->seed, steps);
	snprintf(subtitle, sizeof(subtitle), "baseline %s; plugins: %s; %zu tasks; %zu forget "
		 "step%s", r->baseline ? r->baseline : "not recorded",
		 *plugins ? plugins : "none", r->num_tasks, r->num_forgets,
		 r->num_forgets == 1 ? "" : "s");

	struct svg s;
	svg_begin(&s, f, REPORT_PAGE_WIDTH, height, title);
	report_chart_header(&s, title, subtitle);
	draw_cards(&s, r);
	double y = PANELS_Y;
	for (size_t row = 0; row < rows; row++) {
		double h = row_height(r, panels, n, row);
		for (size_t col = 0; col < 2 && 2 * row + col < n; col++) {
			double x = REPORT_MARGIN + col * (COLUMN_WIDTH + REPORT_GAP);
			struct report_box b = { x, y, COLUMN_WIDTH, h };
			draw_panel(&s, r, &panels[2 * row + col], &b);
		}
		y += h + REPORT_GAP;
	}
	return svg_end(&s);
}
