#include "ui/view.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The metrics line needs about this much room inside the matrix panel. */
#define MATRIX_MIN_WIDTH 42
/* A row of unlearning figures: label, four percentages, seconds. */
#define FIGURES_LABEL_WIDTH 9
#define FIGURES_WIDTH (FIGURES_LABEL_WIDTH + 4 * 6)
#define FIGURES_SECONDS_WIDTH 7
/* Parameters shown per plugin in the header: the first ones a plugin declares are its key ones. */
#define PLUGIN_PARAMS_SHOWN 4

void view_matrix_size(size_t tasks, int *h, int *w)
{
	/* Borders, column heads, the untrained row, a row per step, forgetting, metrics; the
	 * label column, the cells and a margin. */
	*h = (int)tasks + 6;
	int natural = 2 + VIEW_LABEL_WIDTH + VIEW_CELL_WIDTH * (int)tasks + 1;
	*w = natural < MATRIX_MIN_WIDTH ? MATRIX_MIN_WIDTH : natural;
}

void view_layout(struct view_layout *l, int cols, int rows, size_t tasks)
{
	memset(l, 0, sizeof(*l));
	if (cols < VIEW_MIN_COLS || rows < VIEW_MIN_ROWS) {
		l->too_small = 1;
		return;
	}
	struct view_rect *p = l->panel;
	int head = rows >= 26 ? 3 : 2;
	p[VIEW_HEADER] = (struct view_rect){ 0, 0, head, cols };
	p[VIEW_PROGRESS] = (struct view_rect){ head, 0, VIEW_PROGRESS_ROWS, cols };
	p[VIEW_FOOTER] = (struct view_rect){ rows - 1, 0, 1, cols };
	int top = head + VIEW_PROGRESS_ROWS, avail = rows - 1 - top, mh, mw;
	view_matrix_size(tasks, &mh, &mw);
	mh = mh < avail ? mh : avail;
	mw = mw < cols ? mw : cols;
	int below = avail - mh;
	if (cols - mw >= VIEW_SIDE_MIN) {
		/* Unlearning beside the matrix, messages below both. */
		p[VIEW_MATRIX] = (struct view_rect){ top, 0, mh, mw };
		p[VIEW_UNLEARNING] = (struct view_rect){ top, mw, mh, cols - mw };
		if (below >= VIEW_PANEL_MIN_ROWS)
			p[VIEW_LOG] = (struct view_rect){ top + mh, 0, below, cols };
		return;
	}
	/* The matrix spans the screen; what room is left below goes to the unlearning panel
	 * first, shared with the messages when wide enough. */
	p[VIEW_MATRIX] = (struct view_rect){ top, 0, mh, cols };
	if (below < VIEW_PANEL_MIN_ROWS)
		return;
	if (cols >= 2 * VIEW_SIDE_MIN) {
		p[VIEW_UNLEARNING] = (struct view_rect){ top + mh, 0, below, cols / 2 };
		p[VIEW_LOG] = (struct view_rect){ top + mh, cols / 2, below, cols - cols / 2 };
	} else {
		p[VIEW_UNLEARNING] = (struct view_rect){ top + mh, 0, below, cols };
	}
}

size_t view_window(size_t count, size_t fit, size_t focus)
{
	if (fit >= count)
		return 0;
	if (focus >= count)
		focus = count - 1;
	return focus + 1 > fit ? focus + 1 - fit : 0;
}

enum view_tone view_accuracy_tone(double a)
{
	if (isnan(a))
		return VIEW_MUTED;
	return a < 0.5 ? VIEW_POOR : a < 0.8 ? VIEW_FAIR : VIEW_GOOD;
}

enum view_tone view_forgetting_tone(double f)
{
	if (isnan(f))
		return VIEW_MUTED;
	return f <= 0.05 ? VIEW_GOOD : f <= 0.2 ? VIEW_FAIR : VIEW_POOR;
}

void view_cell(double a, char *buf, size_t size)
{
	if (isfinite(a))
		snprintf(buf, size, "%5.1f", 100 * a);
	else
		snprintf(buf, size, "%5s", "-");
}

void view_duration(double s, char *buf, size_t size)
{
	if (s < 0 || !isfinite(s)) {
		snprintf(buf, size, "?");
		return;
	}
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

/* Appends a glyph if it fits with the terminating NUL. */
static size_t append(char *buf, size_t size, size_t len, const char *glyph)
{
	size_t g = strlen(glyph);
	if (len + g >= size)
		return len;
	memcpy(buf + len, glyph, g + 1);
	return len + g;
}

static double bucket_mean(const double *v, size_t n, size_t cols, size_t c)
{
	size_t from = c * n / cols, to = (c + 1) * n / cols, count = 0;
	double sum = 0;
	for (size_t i = from; i < to; i++)
		if (isfinite(v[i])) {
			sum += v[i];
			count++;
		}
	return count ? sum / (double)count : NAN;
}

size_t view_sparkline(const double *v, size_t n, size_t width, int utf8, char *buf, size_t size)
{
	static const char *const blocks[8] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	static const char *const ascii[8] = { "_", ".", "-", "~", "=", "+", "*", "#" };
	size_t cols = n < width ? n : width, len = 0;
	if (size)
		buf[0] = '\0';
	double lo = INFINITY, hi = -INFINITY;
	for (size_t c = 0; c < cols; c++) {
		double m = bucket_mean(v, n, cols, c);
		if (isfinite(m)) {
			lo = m < lo ? m : lo;
			hi = m > hi ? m : hi;
		}
	}
	for (size_t c = 0; c < cols; c++) {
		double m = bucket_mean(v, n, cols, c);
		if (!isfinite(m)) {
			len = append(buf, size, len, " ");
			continue;
		}
		int level = hi > lo ? (int)((m - lo) / (hi - lo) * 7 + 0.5) : 0;
		len = append(buf, size, len, utf8 ? blocks[level] : ascii[level]);
	}
	return cols;
}

void view_bar(double frac, size_t width, int utf8, char *buf, size_t size)
{
	static const char *const eighths[7] = { "▏", "▎", "▍", "▌", "▋", "▊", "▉" };
	frac = isfinite(frac) ? frac < 0 ? 0 : frac > 1 ? 1 : frac : 0;
	double cells = frac * (double)width;
	size_t full = (size_t)cells, len = 0;
	int part = (int)((cells - (double)full) * 8);
	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < width; i++) {
		const char *g;
		if (i < full)
			g = utf8 ? "█" : "#";
		else if (i == full && part > 0 && utf8)
			g = eighths[part - 1];
		else
			g = utf8 ? "░" : "-";
		len = append(buf, size, len, g);
	}
}

size_t view_columns(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

size_t view_prefix(const char *s, size_t width)
{
	size_t cols = 0, i = 0;
	for (; s[i]; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80 && cols++ == width)
			break;
	return i;
}

/* The protocol in plain words. */
static const char *view_protocol(lethe_protocol p)
{
	switch (p) {
	case LETHE_CLASS_INCREMENTAL:
		return "class-incremental: one head over every class seen, no task id at test time";
	case LETHE_TASK_INCREMENTAL:
		return "task-incremental: the task id is given at test time, answers within its "
		       "classes";
	case LETHE_DOMAIN_INCREMENTAL:
		return "domain-incremental: the same classes in every task, the inputs shift";
	}
	return "unknown protocol";
}

static int param_text(const lethe_param_decl *d, const lethe_param_value *v, char *buf,
		      size_t size)
{
	switch (d->type) {
	case LETHE_PARAM_BOOL:
		return snprintf(buf, size, "%s=%s", d->key, v->i ? "true" : "false");
	case LETHE_PARAM_INT:
		return snprintf(buf, size, "%s=%lld", d->key, (long long)v->i);
	case LETHE_PARAM_FLOAT:
		return snprintf(buf, size, "%s=%g", d->key, v->f);
	case LETHE_PARAM_CHOICE:
	case LETHE_PARAM_STRING:
		return snprintf(buf, size, "%s=%s", d->key, v->s ? v->s : "");
	}
	return snprintf(buf, size, "%s=?", d->key);
}

/* Every plugin with its first parameters: "plugins: ewc lambda=100 mode=separate ...". */
static void view_plugins(const struct engine *e, int utf8, char *buf, size_t size)
{
	size_t len = (size_t)snprintf(buf, size, "plugins:%s", e->num_plugins ? "" : " none");
	for (size_t i = 0; i < e->num_plugins && len < size; i++) {
		const struct engine_plugin *p = &e->plugins[i];
		len += (size_t)snprintf(buf + len, size - len, "%s %s", i ? ";" : "",
					p->file.entry.name);
		size_t n = p->file.entry.num_params;
		for (size_t k = 0; k < n && k < PLUGIN_PARAMS_SHOWN && len < size; k++) {
			char param[128];
			param_text(&p->file.params[k], &p->values[k], param, sizeof(param));
			len += (size_t)snprintf(buf + len, size - len, " %s", param);
		}
		if (n > PLUGIN_PARAMS_SHOWN && len < size)
			len += (size_t)snprintf(buf + len, size - len, " %s", utf8 ? "…" : "...");
	}
}

/* The run clock the figures stop at once the run is over. */
static double shown_time(const struct dashboard *d, double now)
{
	return d->run >= DASHBOARD_FINISHED ? d->elapsed : now;
}

void view_header(const struct dashboard *d, int line, int lines, double now, int utf8, char *buf,
		 size_t size)
{
	const struct engine *e = d->e;
	if (line == 0) {
		double t = shown_time(d, now);
		char elapsed[32], eta[32];
		view_duration(dashboard_active(d, t), elapsed, sizeof(elapsed));
		view_duration(dashboard_eta(d, t), eta, sizeof(eta));
		snprintf(buf, size, "lethe  %s  step %zu/%zu  elapsed %s  ETA %s", e->s->name,
			 d->step + 1, e->tasks.count, elapsed, eta);
	} else if (lines >= 3 && line == 1) {
		snprintf(buf, size, "%s", view_protocol(e->s->protocol));
	} else if (lines >= 3) {
		view_plugins(e, utf8, buf, size);
	} else {
		char plugins[512];
		view_plugins(e, utf8, plugins, sizeof(plugins));
		snprintf(buf, size, "%s; %s", scenario_protocol_name(e->s->protocol), plugins);
	}
}

const char *view_state(const struct dashboard *d)
{
	if (d->paused)
		return "PAUSED";
	switch (d->run) {
	case DASHBOARD_STARTING:
		return "STARTING";
	case DASHBOARD_TRAINING:
		return "TRAINING";
	case DASHBOARD_FORGETTING:
		return "FORGETTING";
	case DASHBOARD_FINISHED:
		return "FINISHED";
	case DASHBOARD_STOPPED:
		return "STOPPED";
	case DASHBOARD_FAILED:
		return "FAILED";
	}
	return "";
}

/* "LEFT BAR RIGHT" across exactly width columns; without the bar when too narrow for one. */
static void bar_line(const char *left, const char *right, double frac, size_t width, int utf8,
		     char *buf, size_t size)
{
	size_t used = view_columns(left) + view_columns(right) + 2;
	if (used + 4 > width) {
		snprintf(buf, size, "%s  %s", left, right);
		return;
	}
	char bar[1024];
	view_bar(frac, width - used, utf8, bar, sizeof(bar));
	snprintf(buf, size, "%s %s %s", left, bar, right);
}

void view_progress(const struct dashboard *d, int line, size_t width, int utf8, char *buf,
		   size_t size)
{
	const struct engine *e = d->e;
	char left[128], right[128];
	if (line == 0) {
		snprintf(left, sizeof(left), "step %zu/%zu  epoch %zu/%zu", d->step + 1,
			 e->tasks.count, d->epoch + 1, e->s->epochs);
		if (d->batches)
			snprintf(right, sizeof(right), "batch %zu/%zu", d->batch + 1, d->batches);
		else
			snprintf(right, sizeof(right), "batch -");
		double frac = d->batches ? (double)(d->batch + 1) / (double)d->batches : 0;
		bar_line(left, right, frac, width, utf8, buf, size);
	} else if (line == 1) {
		double frac = d->batches_total ? (double)d->batches_done / (double)d->batches_total
					       : 0;
		snprintf(left, sizeof(left), "run");
		snprintf(right, sizeof(right), "%3.0f%%  %llu/%llu batches  %.0f samples/s",
			 100 * frac, (unsigned long long)d->batches_done,
			 (unsigned long long)d->batches_total, d->rate);
		bar_line(left, right, frac, width, utf8, buf, size);
	} else {
		int len = isfinite(d->loss) ? snprintf(buf, size, "loss %.4f ", d->loss)
					    : snprintf(buf, size, "loss -      ");
		size_t used = (size_t)len;
		if (used < width && used < size)
			view_sparkline(d->loss_points, d->num_loss, width - used, utf8, buf + used,
				       size - used);
	}
}

void view_matrix_label(const struct dashboard *d, long row, char *buf, size_t size)
{
	if (row < 0)
		snprintf(buf, size, "untrained");
	else if ((size_t)row >= d->e->tasks.count)
		snprintf(buf, size, "forgetting");
	else
		snprintf(buf, size, "after %ld", row + 1);
}

void view_metrics(const struct dashboard *d, size_t width, char *buf, size_t size)
{
	const struct metrics_summary *m = &d->summary;
	for (int gap = 2; gap > 0; gap--) {
		if (!d->rows_done)
			snprintf(buf, size, "ACC -%*sBWT -%*sFWT -%*sF -", gap, "", gap, "", gap,
				 "");
		else
			snprintf(buf, size, "ACC %.1f%*sBWT %+.1f%*sFWT %+.1f%*sF %.1f",
				 100 * m->acc, gap, "", 100 * m->bwt, gap, "", 100 * m->fwt, gap,
				 "", 100 * m->forgetting);
		if (strlen(buf) <= width)
			return;
	}
}

void view_forget_heading(const struct results_unlearning *u, char *buf, size_t size)
{
	const struct scenario_forget *f = u->forget;
	char what[128] = "";
	if (f->what == FORGET_WHAT_CLASS) {
		size_t len = (size_t)snprintf(what, sizeof(what), "class%s",
					      f->num_classes > 1 ? "es" : "");
		for (size_t c = 0; c < f->num_classes && len < sizeof(what); c++)
			len += (size_t)snprintf(what + len, sizeof(what) - len, "%s%d",
						c ? "," : " ", f->classes[c]);
	} else if (f->what == FORGET_WHAT_TASK) {
		snprintf(what, sizeof(what), "task %zu", f->task);
	} else {
		snprintf(what, sizeof(what), "%.0f%% of task %zu", 100 * f->fraction, f->task);
	}
	if (u->plugin)
		snprintf(buf, size, "%s: %s by %s, %zu samples", f->section, what, u->plugin,
			 u->num_forget);
	else
		snprintf(buf, size, "%s: %s, data removed only", f->section, what);
}

static void figure(double v, int width, double scale, char *buf, size_t size)
{
	if (isfinite(v))
		snprintf(buf, size, "%*.1f", width, scale * v);
	else
		snprintf(buf, size, "%*s", width, "-");
}

void view_figures_head(size_t width, char *buf, size_t size)
{
	int secs = width >= FIGURES_WIDTH + FIGURES_SECONDS_WIDTH;
	snprintf(buf, size, "%-*s%6s%6s%6s%6s%*s", FIGURES_LABEL_WIDTH, "", "UA", "RA", "TA", "MIA",
		 secs ? FIGURES_SECONDS_WIDTH : 0, secs ? "secs" : "");
}

void view_figures(const char *label, const struct forget_figures *f, size_t width, char *buf,
		  size_t size)
{
	char ua[16], ra[16], ta[16], mia[16], secs[16] = "";
	figure(f->ua, 6, 100, ua, sizeof(ua));
	figure(f->ra, 6, 100, ra, sizeof(ra));
	figure(f->ta, 6, 100, ta, sizeof(ta));
	figure(metrics_mia(f), 6, 100, mia, sizeof(mia));
	if (width >= FIGURES_WIDTH + FIGURES_SECONDS_WIDTH)
		figure(f->seconds, FIGURES_SECONDS_WIDTH, 1, secs, sizeof(secs));
	snprintf(buf, size, "%-*.*s%s%s%s%s%s", FIGURES_LABEL_WIDTH, FIGURES_LABEL_WIDTH, label, ua,
		 ra, ta, mia, secs);
}

enum view_tone view_confusion_tone(double frac, int diagonal)
{
	if (diagonal)
		return view_accuracy_tone(frac);
	return isnan(frac) ? VIEW_MUTED : frac >= 0.2 ? VIEW_POOR : frac >= 0.05 ? VIEW_FAIR
										 : VIEW_MUTED;
}

void view_confusion_title(const struct dashboard *d, char *buf, size_t size)
{
	if (d->rows_done)
		snprintf(buf, size, "confusion %% after step %zu (row: true class)", d->rows_done);
	else
		snprintf(buf, size, "confusion %% (after the first step)");
}

void view_evidence_head(char *buf, size_t size)
{
	snprintf(buf, size, "%-*s%6s%6s%6s%6s", FIGURES_LABEL_WIDTH, "", "THR", "AUC", "JS_f",
		 "AD_f");
}

void view_evidence(const char *label, const struct forget_figures *f, char *buf, size_t size)
{
	char thr[16], auc[16], js[16], ad[16];
	figure(f->mia_threshold, 6, 100, thr, sizeof(thr));
	figure(f->loss_auc, 6, 100, auc, sizeof(auc));
	figure(f->js[FORGET_ON_FORGET], 6, 100, js, sizeof(js));
	figure(f->activation[FORGET_ON_FORGET], 6, 100, ad, sizeof(ad));
	snprintf(buf, size, "%-*.*s%s%s%s%s", FIGURES_LABEL_WIDTH, FIGURES_LABEL_WIDTH, label, thr,
		 auc, js, ad);
}

void view_log_line(const struct dashboard_log *l, char *buf, size_t size)
{
	char t[32];
	view_duration(l->elapsed, t, sizeof(t));
	snprintf(buf, size, "%s %s: %s%s", t, l->source,
		 l->level == LETHE_LOG_WARN ? "warning: " : "", l->msg);
}

void view_footer(const struct dashboard *d, int utf8, char *buf, size_t size)
{
	const char *dash = utf8 ? "—" : "-";
	if (d->overlay == DASHBOARD_OVERLAY_QUIT)
		snprintf(buf, size, "quit? y stops the run (finished steps' results are kept), any "
			 "other key carries on");
	else if (d->run == DASHBOARD_FINISHED)
		snprintf(buf, size, "finished %s q to quit", dash);
	else if (d->run == DASHBOARD_STOPPED)
		snprintf(buf, size, "stopped %s q to quit", dash);
	else if (d->run == DASHBOARD_FAILED)
		snprintf(buf, size, "q to quit %s error: %s", dash, d->status);
	else if (d->status[0])
		snprintf(buf, size, "%s", d->status);
	else
		snprintf(buf, size, "p pause  %s select task  f forget it  s save  q quit  h help",
			 utf8 ? "←/→" : "left/right");
}

const char *const *view_help(int utf8, size_t *count)
{
	static const char *const help_utf8[] = {
		"lethe tui: keys",
		"",
		"p, space     pause / resume training",
		"← → ↑ ↓      select a task (matrix column)",
		"f            forget the selected task now, with the",
		"             scenario's unlearning plugin",
		"s            write the results so far",
		"c            class confusion / accuracy matrix",
		"e            unlearning panel: UA/RA/TA/MIA or the",
		"             evidence (SVC, loss AUC, JS, act. dist.)",
		"q            quit (y confirms; results are kept)",
		"h, ?, F1     this help",
		"",
		"any key closes this help",
	};
	static const char *const help_ascii[] = {
		"lethe tui: keys",
		"",
		"p, space     pause / resume training",
		"arrow keys   select a task (matrix column)",
		"f            forget the selected task now, with the",
		"             scenario's unlearning plugin",
		"s            write the results so far",
		"c            class confusion / accuracy matrix",
		"e            unlearning panel: UA/RA/TA/MIA or the",
		"             evidence (SVC, loss AUC, JS, act. dist.)",
		"q            quit (y confirms; results are kept)",
		"h, ?, F1     this help",
		"",
		"any key closes this help",
	};
	*count = sizeof(help_utf8) / sizeof(help_utf8[0]);
	return utf8 ? help_utf8 : help_ascii;
}

const char *const *view_quit(size_t *count)
{
	static const char *const quit[] = {
		"Stop the run now?",
		"",
		"y       stop; the finished steps' results are written",
		"any key carry on",
	};
	*count = sizeof(quit) / sizeof(quit[0]);
	return quit;
}
