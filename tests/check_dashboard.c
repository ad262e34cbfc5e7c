/* The dashboard without a terminal: the view's layout at real screen sizes, its colour tones,
 * its text (cells, bars, sparklines, header, footer, figures), and the dashboard's state fed
 * with synthetic engine events (matrix, forgetting, ETA with pauses, forget outcomes). */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ui/dashboard.h"
#include "ui/view.h"
#include "testutil.h"

/* ---- view: layout ---- */

static int inside(struct view_rect r, int cols, int rows)
{
	return r.y >= 0 && r.x >= 0 && r.y + r.h <= rows && r.x + r.w <= cols;
}

static int overlap(struct view_rect a, struct view_rect b)
{
	return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/* Every shown panel inside the screen, no two overlapping, the matrix at its natural size. */
static void check_layout(int cols, int rows, size_t tasks)
{
	struct view_layout l;
	view_layout(&l, cols, rows, tasks);
	ck_assert_msg(!l.too_small, "%dx%d", cols, rows);
	for (int i = 0; i < VIEW_PANELS; i++) {
		struct view_rect a = l.panel[i];
		if (!a.h)
			continue;
		ck_assert_msg(a.w > 0 && inside(a, cols, rows),
			      "%dx%d, %zu tasks: panel %d outside", cols, rows, tasks, i);
		for (int j = i + 1; j < VIEW_PANELS; j++)
			ck_assert_msg(!l.panel[j].h || !overlap(a, l.panel[j]),
				      "%dx%d, %zu tasks: panels %d and %d overlap", cols, rows,
				      tasks, i, j);
	}
	ck_assert(l.panel[VIEW_HEADER].h && l.panel[VIEW_PROGRESS].h && l.panel[VIEW_FOOTER].h);
	ck_assert_int_eq(l.panel[VIEW_FOOTER].y, rows - 1);
	int mh, mw;
	view_matrix_size(tasks, &mh, &mw);
	ck_assert_msg(l.panel[VIEW_MATRIX].h == mh && l.panel[VIEW_MATRIX].w >= mw,
		      "%dx%d: matrix %dx%d for %zu tasks, needs %dx%d", cols, rows,
		      l.panel[VIEW_MATRIX].w, l.panel[VIEW_MATRIX].h, tasks, mw, mh);
}

START_TEST(test_layout_sizes)
{
	static const int sizes[][2] = { { 80, 24 }, { 100, 30 }, { 200, 60 } };
	for (size_t s = 0; s < 3; s++) {
		check_layout(sizes[s][0], sizes[s][1], 5);
		check_layout(sizes[s][0], sizes[s][1], 10);
	}
}
END_TEST

/* Room decides what shows: everything at 100x30 and above, panels dropped before the matrix. */
START_TEST(test_layout_degrades)
{
	struct view_layout l;
	view_layout(&l, 100, 30, 5);
	ck_assert(l.panel[VIEW_UNLEARNING].h && l.panel[VIEW_LOG].h);
	view_layout(&l, 200, 60, 10);
	ck_assert(l.panel[VIEW_UNLEARNING].h && l.panel[VIEW_LOG].h);
	view_layout(&l, 80, 24, 5);
	ck_assert(l.panel[VIEW_UNLEARNING].h);
	view_layout(&l, 80, 24, 10);
	ck_assert(l.panel[VIEW_MATRIX].h && !l.panel[VIEW_UNLEARNING].h && !l.panel[VIEW_LOG].h);
	/* The smallest usable screen keeps a (windowed) matrix. */
	view_layout(&l, VIEW_MIN_COLS, VIEW_MIN_ROWS, 10);
	ck_assert(!l.too_small);
	ck_assert_int_ge(l.panel[VIEW_MATRIX].h, 6);
	ck_assert(inside(l.panel[VIEW_MATRIX], VIEW_MIN_COLS, VIEW_MIN_ROWS));
}
END_TEST

START_TEST(test_layout_too_small)
{
	struct view_layout l;
	view_layout(&l, VIEW_MIN_COLS - 1, 24, 5);
	ck_assert(l.too_small);
	view_layout(&l, 80, VIEW_MIN_ROWS - 1, 5);
	ck_assert(l.too_small);
	for (int i = 0; i < VIEW_PANELS; i++)
		ck_assert_int_eq(l.panel[i].h, 0);
	view_layout(&l, 20, 5, 5);
	ck_assert(l.too_small);
}
END_TEST

START_TEST(test_window)
{
	ck_assert_uint_eq(view_window(5, 10, 4), 0);
	ck_assert_uint_eq(view_window(10, 4, 0), 0);
	ck_assert_uint_eq(view_window(10, 4, 3), 0);
	ck_assert_uint_eq(view_window(10, 4, 4), 1);
	ck_assert_uint_eq(view_window(10, 4, 9), 6);
	ck_assert_uint_eq(view_window(10, 4, 99), 6);
}
END_TEST

/* ---- view: tones ---- */

START_TEST(test_accuracy_tones)
{
	ck_assert_int_eq(view_accuracy_tone(0), VIEW_POOR);
	ck_assert_int_eq(view_accuracy_tone(0.4999), VIEW_POOR);
	ck_assert_int_eq(view_accuracy_tone(0.5), VIEW_FAIR);
	ck_assert_int_eq(view_accuracy_tone(0.7999), VIEW_FAIR);
	ck_assert_int_eq(view_accuracy_tone(0.8), VIEW_GOOD);
	ck_assert_int_eq(view_accuracy_tone(1), VIEW_GOOD);
	ck_assert_int_eq(view_accuracy_tone(NAN), VIEW_MUTED);
}
END_TEST

START_TEST(test_forgetting_tones)
{
	ck_assert_int_eq(view_forgetting_tone(-0.1), VIEW_GOOD);
	ck_assert_int_eq(view_forgetting_tone(0.05), VIEW_GOOD);
	ck_assert_int_eq(view_forgetting_tone(0.0501), VIEW_FAIR);
	ck_assert_int_eq(view_forgetting_tone(0.2), VIEW_FAIR);
	ck_assert_int_eq(view_forgetting_tone(0.2001), VIEW_POOR);
	ck_assert_int_eq(view_forgetting_tone(NAN), VIEW_MUTED);
}
END_TEST

/* ---- view: text ---- */

START_TEST(test_cells)
{
	char c[16];
	view_cell(1, c, sizeof(c));
	ck_assert_str_eq(c, "100.0");
	view_cell(0.425, c, sizeof(c));
	ck_assert_str_eq(c, " 42.5");
	view_cell(0, c, sizeof(c));
	ck_assert_str_eq(c, "  0.0");
	view_cell(NAN, c, sizeof(c));
	ck_assert_str_eq(c, "    -");
	ck_assert_uint_eq(strlen(c), VIEW_CELL_WIDTH - 1);
}
END_TEST

START_TEST(test_durations)
{
	char t[32];
	view_duration(0, t, sizeof(t));
	ck_assert_str_eq(t, "0:00");
	view_duration(59.6, t, sizeof(t));
	ck_assert_str_eq(t, "1:00");
	view_duration(3725, t, sizeof(t));
	ck_assert_str_eq(t, "1:02:05");
	view_duration(-1, t, sizeof(t));
	ck_assert_str_eq(t, "?");
}
END_TEST

START_TEST(test_sparkline)
{
	double v[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	char s[128];
	ck_assert_uint_eq(view_sparkline(v, 8, 20, 1, s, sizeof(s)), 8);
	ck_assert_str_eq(s, "▁▂▃▄▅▆▇█");
	view_sparkline(v, 8, 20, 0, s, sizeof(s));
	ck_assert_str_eq(s, "_.-~=+*#");
	/* Wider than the room: neighbours averaged, still lowest to highest. */
	ck_assert_uint_eq(view_sparkline(v, 8, 4, 0, s, sizeof(s)), 4);
	ck_assert_str_eq(s, "_-+#");
	/* A flat series sits at the bottom; gaps stay blank. */
	double flat[3] = { 2, 2, 2 };
	view_sparkline(flat, 3, 10, 0, s, sizeof(s));
	ck_assert_str_eq(s, "___");
	double gap[3] = { 0, NAN, 1 };
	view_sparkline(gap, 3, 10, 0, s, sizeof(s));
	ck_assert_str_eq(s, "_ #");
	ck_assert_uint_eq(view_sparkline(v, 0, 10, 1, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "");
	/* A short buffer is never overrun and stays terminated. */
	view_sparkline(v, 8, 8, 1, s, 7);
	ck_assert_str_eq(s, "▁▂");
}
END_TEST

START_TEST(test_bars)
{
	char b[256];
	view_bar(0.5, 10, 0, b, sizeof(b));
	ck_assert_str_eq(b, "#####-----");
	view_bar(1.5, 4, 0, b, sizeof(b));
	ck_assert_str_eq(b, "####");
	view_bar(-1, 4, 0, b, sizeof(b));
	ck_assert_str_eq(b, "----");
	view_bar(NAN, 3, 1, b, sizeof(b));
	ck_assert_str_eq(b, "░░░");
	view_bar(1, 3, 1, b, sizeof(b));
	ck_assert_str_eq(b, "███");
	/* 2.5 of 4 cells: two full, a half block, one empty. */
	view_bar(0.625, 4, 1, b, sizeof(b));
	ck_assert_str_eq(b, "██▌░");
	ck_assert_uint_eq(view_columns(b), 4);
}
END_TEST

START_TEST(test_columns_and_prefix)
{
	const char *s = "a█b░c";
	ck_assert_uint_eq(view_columns(s), 5);
	ck_assert_uint_eq(view_prefix(s, 3), strlen("a█b"));
	ck_assert_uint_eq(view_prefix(s, 2), strlen("a█"));
	ck_assert_uint_eq(view_prefix(s, 1), 1);
	ck_assert_uint_eq(view_prefix(s, 10), strlen(s));
	ck_assert_uint_eq(view_prefix(s, 0), 0);
	ck_assert_uint_eq(view_prefix("", 4), 0);
}
END_TEST

/* ---- a fake run of three tasks for the view's text and the dashboard's state ---- */

static struct scenario scen;
static struct engine eng;
static double R[9];
static double b[3];
static double secs[3] = { 1, 2, 3 };
static struct dashboard dash;
static const char *const mode_choices[] = { "separate", "online", NULL };
static const lethe_param_decl decls[5] = {
	{ sizeof(lethe_param_decl), "lambda", LETHE_PARAM_FLOAT, "100", 0, 1e9, NULL, "" },
	{ sizeof(lethe_param_decl), "mode", LETHE_PARAM_CHOICE, "separate", 0, 0, mode_choices,
	  "" },
	{ sizeof(lethe_param_decl), "samples", LETHE_PARAM_INT, "200", 1, 1e9, NULL, "" },
	{ sizeof(lethe_param_decl), "empirical", LETHE_PARAM_BOOL, "false", 0, 0, NULL, "" },
	{ sizeof(lethe_param_decl), "gamma", LETHE_PARAM_FLOAT, "1", 0, 1, NULL, "" },
};
static lethe_param_value values[5] = { { .f = 100 }, { .i = 0, .s = "separate" }, { .i = 200 },
				       { .i = 0 }, { .f = 1 } };

static void setup(void)
{
	memset(&scen, 0, sizeof(scen));
	memset(&eng, 0, sizeof(eng));
	snprintf(scen.name, sizeof(scen.name), "fake");
	scen.protocol = LETHE_CLASS_INCREMENTAL;
	scen.epochs = 2;
	eng.s = &scen;
	eng.tasks.count = 3;
	for (int k = 0; k < 3; k++) {
		eng.tasks.t[k].num_classes = 2;
		eng.tasks.t[k].classes[0] = 2 * k;
		eng.tasks.t[k].classes[1] = 2 * k + 1;
	}
	memset(R, 0, sizeof(R));
	memset(b, 0, sizeof(b));
	eng.R = R;
	eng.b = b;
	eng.step_seconds = secs;
	dashboard_init(&dash, &eng);
}

static void feed(enum event_kind kind, size_t step, double elapsed, uint64_t done)
{
	struct event ev = { .kind = kind, .engine = &eng, .step = step, .elapsed = elapsed,
			    .batches_done = done, .batches_total = 100, .samples_done = 10 * done,
			    .batches = 10, .loss = 1.0 / (double)(done + 1) };
	ev.batch = done ? (done - 1) % 10 : 0;
	ev.epoch = done ? (done - 1) / 10 % 2 : 0;
	dashboard_event(&dash, &ev);
}

/* Step `step` ends with accuracy row `row`. */
static void end_step(size_t step, const double *row, double elapsed, uint64_t done)
{
	memcpy(R + step * 3, row, 3 * sizeof(double));
	eng.rows_done = step + 1;
	feed(EVENT_STEP_END, step, elapsed, done);
}

START_TEST(test_header_text)
{
	char line[512];
	feed(EVENT_RUN_START, 0, 0, 0);
	feed(EVENT_STEP_START, 0, 0.5, 0);
	feed(EVENT_BATCH, 0, 10, 25);
	view_header(&dash, 0, 3, 10, 0, line, sizeof(line));
	/* 25 of 100 batches in 10 s: 30 s left. */
	ck_assert_str_eq(line, "lethe  fake  step 1/3  elapsed 0:10  ETA 0:30");
	view_header(&dash, 1, 3, 10, 0, line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, "class-incremental"));
	ck_assert_ptr_nonnull(strstr(line, "no task id at test time"));
	view_header(&dash, 2, 3, 10, 0, line, sizeof(line));
	ck_assert_str_eq(line, "plugins: none");
	eng.num_plugins = 1;
	eng.plugins[0].file.entry.name = "ewc";
	eng.plugins[0].file.entry.num_params = 5;
	eng.plugins[0].file.params = (lethe_param_decl *)decls;
	eng.plugins[0].values = values;
	view_header(&dash, 1, 2, 10, 0, line, sizeof(line));
	ck_assert_str_eq(line, "class-incremental; plugins: ewc lambda=100 mode=separate "
			       "samples=200 empirical=false ...");
	ck_assert_str_eq(view_state(&dash), "TRAINING");
	dashboard_set_paused(&dash, 1, 10);
	ck_assert_str_eq(view_state(&dash), "PAUSED");
}
END_TEST

START_TEST(test_progress_text)
{
	char line[1024];
	feed(EVENT_RUN_START, 0, 0, 0);
	feed(EVENT_STEP_START, 0, 0, 0);
	view_progress(&dash, 0, 60, 0, line, sizeof(line));
	ck_assert_uint_eq(strlen(line), 60);
	ck_assert_ptr_nonnull(strstr(line, "step 1/3  epoch 1/2 ----"));
	ck_assert_ptr_nonnull(strstr(line, "---- batch -"));
	feed(EVENT_BATCH, 0, 2, 15);
	view_progress(&dash, 0, 60, 1, line, sizeof(line));
	ck_assert_uint_eq(view_columns(line), 60);
	ck_assert_ptr_nonnull(strstr(line, "step 1/3  epoch 2/2 █"));
	ck_assert_ptr_nonnull(strstr(line, " batch 5/10"));
	view_progress(&dash, 1, 70, 0, line, sizeof(line));
	ck_assert_uint_eq(view_columns(line), 70);
	ck_assert_ptr_nonnull(strstr(line, " 15%  15/100 batches"));
	view_progress(&dash, 2, 30, 0, line, sizeof(line));
	ck_assert_str_eq(line, "loss 0.0625 _");
	/* Too narrow for a bar: the figures alone. */
	view_progress(&dash, 0, 20, 0, line, sizeof(line));
	ck_assert_str_eq(line, "step 1/3  epoch 2/2  batch 5/10");
}
END_TEST

START_TEST(test_footer_text)
{
	char line[512];
	view_footer(&dash, 0, line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, "p pause"));
	ck_assert_ptr_nonnull(strstr(line, "h help"));
	dashboard_status(&dash, "paused: p resumes");
	view_footer(&dash, 0, line, sizeof(line));
	ck_assert_str_eq(line, "paused: p resumes");
	dash.overlay = DASHBOARD_OVERLAY_QUIT;
	view_footer(&dash, 0, line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, "quit? y"));
	dashboard_finish(&dash, 0, NULL);
	ck_assert_int_eq(dash.overlay, DASHBOARD_OVERLAY_NONE);
	view_footer(&dash, 1, line, sizeof(line));
	ck_assert_str_eq(line, "finished — q to quit");
	dashboard_finish(&dash, ENGINE_STOPPED, NULL);
	view_footer(&dash, 0, line, sizeof(line));
	ck_assert_str_eq(line, "stopped - q to quit");
	dashboard_finish(&dash, -1, "step 2: NaN loss");
	view_footer(&dash, 0, line, sizeof(line));
	ck_assert_str_eq(line, "q to quit - error: step 2: NaN loss");
	ck_assert_str_eq(dashboard_log_at(&dash, 0)->msg, "error: step 2: NaN loss");
	size_t n;
	const char *const *help = view_help(0, &n);
	int has_forget = 0;
	for (size_t i = 0; i < n; i++)
		has_forget |= !strncmp(help[i], "f ", 2);
	ck_assert(has_forget);
}
END_TEST

START_TEST(test_unlearning_text)
{
	struct scenario_forget f = { .section = "forget1", .what = FORGET_WHAT_CLASS,
				     .classes = { 3, 4 }, .num_classes = 2 };
	struct results_unlearning u = { .forget = &f, .num_forget = 120, .plugin = "repulsion" };
	char line[256];
	view_forget_heading(&u, line, sizeof(line));
	ck_assert_str_eq(line, "forget1: classes 3,4 by repulsion, 120 samples");
	f.what = FORGET_WHAT_SAMPLES;
	f.task = 2;
	f.fraction = 0.1;
	u.plugin = NULL;
	view_forget_heading(&u, line, sizeof(line));
	ck_assert_str_eq(line, "forget1: 10% of task 2, data removed only");
	struct forget_figures fig = { .ua = 0.985, .ra = 0.9, .ta = 0.875,
				       .svc_mia = { [FORGET_MIA_ATTACK] = NAN }, .seconds = 1.5 };
	view_figures("retrain", &fig, 80, line, sizeof(line));
	ck_assert_str_eq(line, "retrain    98.5  90.0  87.5     -    1.5");
	view_figures_head(80, line, sizeof(line));
	ck_assert_str_eq(line, "             UA    RA    TA   MIA   secs");
	/* Narrow: the seconds go, the four figures stay whole. */
	view_figures("retrain", &fig, 39, line, sizeof(line));
	ck_assert_str_eq(line, "retrain    98.5  90.0  87.5     -");
	view_figures_head(VIEW_SIDE_MIN - 4, line, sizeof(line));
	ck_assert_str_eq(line, "             UA    RA    TA   MIA");
	ck_assert_uint_le(strlen(line), VIEW_SIDE_MIN - 4);
	/* The evidence instead, x 100; no retrain: its divergences are dashes. */
	fig.mia_threshold = 0.25;
	fig.loss_auc = 0.5;
	fig.js[FORGET_ON_FORGET] = NAN;
	fig.activation[FORGET_ON_FORGET] = 0.125;
	view_evidence("retrain", &fig, line, sizeof(line));
	ck_assert_str_eq(line, "retrain    25.0  50.0     -  12.5");
	view_evidence_head(line, sizeof(line));
	ck_assert_str_eq(line, "            THR   AUC  JS_f  AD_f");
	ck_assert_uint_le(strlen(line), VIEW_SIDE_MIN - 4);
	struct dashboard d0;
	memset(&d0, 0, sizeof(d0));
	dashboard_toggle_evidence(&d0);
	ck_assert_int_eq(d0.evidence, 1);
	dashboard_toggle_evidence(&d0);
	ck_assert_int_eq(d0.evidence, 0);
	struct dashboard_log l = { .level = LETHE_LOG_WARN, .elapsed = 61, .source = "lethe",
				   .msg = "forget task 3: not done" };
	view_log_line(&l, line, sizeof(line));
	ck_assert_str_eq(line, "1:01 lethe: warning: forget task 3: not done");
}
END_TEST

/* ---- dashboard: state from events ---- */

/* The matrix, its metrics and per-task forgetting as the steps end. */
START_TEST(test_matrix_and_forgetting)
{
	char line[256];
	feed(EVENT_RUN_START, 0, 0, 0);
	view_metrics(&dash, 80, line, sizeof(line));
	ck_assert_str_eq(line, "ACC -  BWT -  FWT -  F -");
	b[0] = b[1] = b[2] = 0.1;
	feed(EVENT_STEP_START, 0, 0, 0);
	end_step(0, (double[]){ 0.9, 0.1, 0.1 }, 5, 33);
	ck_assert_uint_eq(dash.rows_done, 1);
	ck_assert_double_eq_tol(dash.summary.acc, 0.9, 1e-12);
	feed(EVENT_STEP_START, 1, 5, 33);
	end_step(1, (double[]){ 0.6, 0.8, 0.2 }, 10, 66);
	/* ACC (0.6 + 0.8) / 2; BWT 0.6 - 0.9; FWT R[0][1] - b_1 = 0; F_0 = 0.9 - 0.6. */
	ck_assert_double_eq_tol(dash.summary.acc, 0.7, 1e-12);
	ck_assert_double_eq_tol(dash.summary.bwt, -0.3, 1e-12);
	ck_assert_double_eq_tol(dash.summary.fwt, 0.0, 1e-12);
	ck_assert_double_eq_tol(dash.forgetting[0], 0.3, 1e-12);
	feed(EVENT_STEP_START, 2, 10, 66);
	end_step(2, (double[]){ 0.7, 0.2, 1.0 }, 15, 100);
	ck_assert_double_eq_tol(dash.forgetting[0], 0.2, 1e-12);
	ck_assert_double_eq_tol(dash.forgetting[1], 0.6, 1e-12);
	ck_assert_double_eq_tol(dash.summary.forgetting, 0.4, 1e-12);
	view_metrics(&dash, 80, line, sizeof(line));
	ck_assert_str_eq(line, "ACC 63.3  BWT -40.0  FWT +5.0  F 40.0");
	view_metrics(&dash, 35, line, sizeof(line));
	ck_assert_str_eq(line, "ACC 63.3 BWT -40.0 FWT +5.0 F 40.0");
	view_matrix_label(&dash, -1, line, sizeof(line));
	ck_assert_str_eq(line, "untrained");
	view_matrix_label(&dash, 2, line, sizeof(line));
	ck_assert_str_eq(line, "after 3");
	view_matrix_label(&dash, 3, line, sizeof(line));
	ck_assert_str_eq(line, "forgetting");
	ck_assert_uint_le(strlen(line), VIEW_LABEL_WIDTH);
	/* Each step's line and the summary join the messages. */
	ck_assert_str_eq(dashboard_log_at(&dash, 0)->msg, "step 3/3  task 3 (classes 4,5)  3.0 s  "
			 "accuracy 0.700 0.200 1.000  ACC 0.6333");
	feed(EVENT_RUN_END, 2, 16, 100);
	ck_assert_int_eq(dash.run, DASHBOARD_FINISHED);
	ck_assert_ptr_nonnull(strstr(dashboard_log_at(&dash, 0)->msg, "ACC 0.6333  BWT -0.4000"));
	ck_assert_double_eq(dashboard_eta(&dash, 99), 0);
}
END_TEST

/* The selection follows the step being learned until the user moves it, within the tasks. */
START_TEST(test_selection)
{
	feed(EVENT_STEP_START, 1, 0, 0);
	ck_assert_uint_eq(dash.selected, 1);
	dashboard_select(&dash, -5);
	ck_assert_uint_eq(dash.selected, 0);
	feed(EVENT_STEP_START, 2, 0, 0);
	ck_assert_uint_eq(dash.selected, 0);
	dashboard_select(&dash, 7);
	ck_assert_uint_eq(dash.selected, 2);
}
END_TEST

/* ETA and elapsed leave out paused time, finished pauses and the one under way. */
START_TEST(test_eta_excludes_pause)
{
	feed(EVENT_RUN_START, 0, 0, 0);
	feed(EVENT_STEP_START, 0, 0, 0);
	ck_assert_double_lt(dashboard_eta(&dash, 1), 0);
	feed(EVENT_BATCH, 0, 10, 25);
	ck_assert_double_eq_tol(dashboard_eta(&dash, 10), 30, 1e-9);
	dashboard_set_paused(&dash, 1, 10);
	/* 50 s into a pause: nothing moves. */
	ck_assert_double_eq_tol(dashboard_active(&dash, 60), 10, 1e-9);
	ck_assert_double_eq_tol(dashboard_eta(&dash, 60), 30, 1e-9);
	dashboard_set_paused(&dash, 1, 70); /* already paused: no change */
	dashboard_set_paused(&dash, 0, 70);
	ck_assert_double_eq_tol(dash.paused_seconds, 60, 1e-9);
	/* 25 more batches in 10 s of training: 50 of 100 in 20 active seconds. */
	feed(EVENT_BATCH, 0, 80, 50);
	ck_assert_double_eq_tol(dashboard_active(&dash, 80), 20, 1e-9);
	ck_assert_double_eq_tol(dashboard_eta(&dash, 80), 20, 1e-9);
	/* The samples/s figure counts training time only: 250 samples in those 10 s. */
	ck_assert_double_eq_tol(dash.rate, 25, 1e-9);
	/* A run that ends paused (quit from the pause) keeps the time of its last event. */
	dashboard_set_paused(&dash, 1, 85);
	dashboard_finish(&dash, ENGINE_STOPPED, NULL);
	ck_assert(!dash.paused);
	ck_assert_double_eq_tol(dashboard_active(&dash, dash.elapsed), 20, 1e-9);
}
END_TEST

/* The loss history keeps the whole run in a bounded series. */
START_TEST(test_loss_history)
{
	feed(EVENT_STEP_START, 0, 0, 0);
	size_t n = 3 * DASHBOARD_LOSS_MAX;
	for (size_t i = 0; i < n; i++) {
		struct event ev = { .kind = EVENT_BATCH, .engine = &eng, .loss = (double)i,
				    .batches = 10 };
		dashboard_event(&dash, &ev);
	}
	ck_assert_uint_le(dash.num_loss, DASHBOARD_LOSS_MAX);
	ck_assert_uint_ge(dash.num_loss, DASHBOARD_LOSS_MAX / 2);
	ck_assert_uint_eq(dash.loss_group, 4);
	/* Means of consecutive groups: increasing, first the mean of 0..3. */
	ck_assert_double_eq_tol(dash.loss_points[0], 1.5, 1e-9);
	for (size_t i = 1; i < dash.num_loss; i++)
		ck_assert_double_gt(dash.loss_points[i], dash.loss_points[i - 1]);
	struct event nan = { .kind = EVENT_BATCH, .engine = &eng, .loss = NAN };
	size_t before = dash.num_loss, pending = dash.loss_pending;
	dashboard_event(&dash, &nan);
	ck_assert_uint_eq(dash.num_loss, before);
	ck_assert_uint_eq(dash.loss_pending, pending);
}
END_TEST

static void log_event(lethe_log_level level, const char *msg)
{
	struct event ev = { .kind = EVENT_LOG, .engine = &eng, .source = "lethe", .level = level,
			    .msg = msg };
	dashboard_event(&dash, &ev);
}

/* A forget asked for ends in its figures or in the engine's warning. */
START_TEST(test_forget_outcomes)
{
	feed(EVENT_STEP_START, 1, 0, 0);
	dashboard_forget_asked(&dash, 0);
	ck_assert_int_eq(dash.run, DASHBOARD_FORGETTING);
	ck_assert_str_eq(dash.forget_note, "forgetting task 1...");
	log_event(LETHE_LOG_WARN, "forget task 1: not done: the scenario has no unlearning plugin");
	dashboard_settled(&dash);
	ck_assert_int_eq(dash.run, DASHBOARD_TRAINING);
	ck_assert(dash.forget_note_warn);
	ck_assert_ptr_nonnull(strstr(dash.forget_note, "no unlearning plugin"));
	ck_assert_ptr_nonnull(strstr(dash.status, "warning: forget task 1"));

	static struct scenario_forget f = { .section = "forget-now-1", .what = FORGET_WHAT_CLASS };
	eng.unlearning[0] = (struct results_unlearning){
		.forget = &f, .plugin = "sfd",
		.figures = { .ua = 0.99, .ra = 0.9, .ta = 0.8, .svc_mia = { [FORGET_MIA_ATTACK] = 0.7 },
			     .seconds = 2 }
	};
	dashboard_forget_asked(&dash, 0);
	log_event(LETHE_LOG_INFO, "forgetting task 1 now with sfd");
	/* The reference's batches keep the screen alive meanwhile, the run's counts untouched. */
	struct event progress = { .kind = EVENT_FORGET_PROGRESS, .engine = &eng, .step = 1,
				  .elapsed = 4, .batches_done = 7, .batches_total = 100,
				  .source = "retrain", .reference_done = 3, .reference_total = 40 };
	dashboard_event(&dash, &progress);
	ck_assert_int_eq(dash.run, DASHBOARD_FORGETTING);
	ck_assert_str_eq(dash.status, "forgetting: retrain reference, batch 3 of 40 (keys wait for it)");
	ck_assert_uint_eq(dash.batches_done, 7);
	eng.num_unlearning = 1;
	feed(EVENT_FORGET_END, 1, 5, 0);
	dashboard_settled(&dash);
	ck_assert_uint_eq(dash.num_unlearning, 1);
	ck_assert(!dash.forget_note_warn);
	ck_assert_str_eq(dash.forget_note,
			 "[forget-now-1] done: UA 0.990 RA 0.900 TA 0.800 MIA 0.700 in 2.0 s");
	ck_assert_int_eq(dash.run, DASHBOARD_TRAINING);
	/* A later warning does not rewrite a settled outcome. */
	log_event(LETHE_LOG_WARN, "something else");
	ck_assert(!dash.forget_note_warn);
}
END_TEST

/* A write asked for: the engine's next message is the status, a warning marked so. */
START_TEST(test_write_outcomes)
{
	dashboard_write_asked(&dash);
	ck_assert_str_eq(dash.status, "writing the results so far");
	log_event(LETHE_LOG_INFO, "results so far written to out");
	ck_assert_str_eq(dash.status, "results so far written to out");
	log_event(LETHE_LOG_INFO, "rehearsal: stored 500");
	ck_assert_str_eq(dash.status, "results so far written to out");
	dashboard_write_asked(&dash);
	log_event(LETHE_LOG_WARN, "out/metrics.json: disk full");
	ck_assert_str_eq(dash.status, "warning: out/metrics.json: disk full");
	/* No answer by the next poll: none will come. */
	dashboard_write_asked(&dash);
	dashboard_settled(&dash);
	log_event(LETHE_LOG_INFO, "later");
	ck_assert_str_eq(dash.status, "writing the results so far");
}
END_TEST

/* The message ring keeps the newest, drops debug lines. */
START_TEST(test_log_ring)
{
	ck_assert_ptr_null(dashboard_log_at(&dash, 0));
	log_event(LETHE_LOG_DEBUG, "noise");
	ck_assert_ptr_null(dashboard_log_at(&dash, 0));
	char msg[32];
	for (int i = 0; i < DASHBOARD_LOG_MAX + 5; i++) {
		snprintf(msg, sizeof(msg), "m%d", i);
		log_event(LETHE_LOG_INFO, msg);
	}
	snprintf(msg, sizeof(msg), "m%d", DASHBOARD_LOG_MAX + 4);
	ck_assert_str_eq(dashboard_log_at(&dash, 0)->msg, msg);
	ck_assert_str_eq(dashboard_log_at(&dash, DASHBOARD_LOG_MAX - 1)->msg, "m5");
	ck_assert_ptr_null(dashboard_log_at(&dash, DASHBOARD_LOG_MAX));
}
END_TEST

static Suite *view_suite(void)
{
	Suite *s = suite_create("view");
	TCase *tc = tcase_create("layout");
	tcase_add_test(tc, test_layout_sizes);
	tcase_add_test(tc, test_layout_degrades);
	tcase_add_test(tc, test_layout_too_small);
	tcase_add_test(tc, test_window);
	suite_add_tcase(s, tc);
	tc = tcase_create("tones");
	tcase_add_test(tc, test_accuracy_tones);
	tcase_add_test(tc, test_forgetting_tones);
	suite_add_tcase(s, tc);
	tc = tcase_create("glyphs");
	tcase_add_test(tc, test_cells);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_sparkline);
	tcase_add_test(tc, test_bars);
	tcase_add_test(tc, test_columns_and_prefix);
	suite_add_tcase(s, tc);
	tc = tcase_create("text");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_header_text);
	tcase_add_test(tc, test_progress_text);
	tcase_add_test(tc, test_footer_text);
	tcase_add_test(tc, test_unlearning_text);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *dashboard_suite(void)
{
	Suite *s = suite_create("dashboard");
	TCase *tc = tcase_create("results");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_matrix_and_forgetting);
	tcase_add_test(tc, test_selection);
	suite_add_tcase(s, tc);
	tc = tcase_create("time");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_eta_excludes_pause);
	tcase_add_test(tc, test_loss_history);
	suite_add_tcase(s, tc);
	tc = tcase_create("messages");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_forget_outcomes);
	tcase_add_test(tc, test_write_outcomes);
	tcase_add_test(tc, test_log_ring);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(view_suite());
	srunner_add_suite(sr, dashboard_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
