/* The dashboard's look without a terminal: where each panel goes for a screen size, and every
 * piece of text the screen shows, formatted from the dashboard's state. Pure functions: the
 * curses layer (tui.c) only places these strings and picks attributes for their tones.
 * Text is UTF-8 when `utf8` is set (block characters for bars and sparklines), else ASCII. */
#ifndef LETHE_VIEW_H
#define LETHE_VIEW_H

#include <stddef.h>

#include "ui/dashboard.h"

/* Below this the screen only says it is too small. */
#define VIEW_MIN_COLS 60
#define VIEW_MIN_ROWS 16
/* Matrix columns: a row label, then cells of VIEW_CELL_WIDTH (a space and five characters). */
#define VIEW_LABEL_WIDTH 10
#define VIEW_CELL_WIDTH 6
/* The narrowest unlearning or log panel worth showing beside the matrix: the figures' columns
 * without their seconds, and the borders and margins. */
#define VIEW_SIDE_MIN 37
/* The lowest boxed panel: its borders and one line. */
#define VIEW_PANEL_MIN_ROWS 3
#define VIEW_PROGRESS_ROWS 5

enum view_panel {
	VIEW_HEADER,	 /* title, protocol, plugins: unboxed */
	VIEW_PROGRESS,	 /* epoch and run bars, loss sparkline */
	VIEW_MATRIX,	 /* accuracy matrix, forgetting, ACC/BWT/FWT/F */
	VIEW_UNLEARNING, /* forget steps' figures */
	VIEW_LOG,	 /* messages */
	VIEW_FOOTER,	 /* status or keys: the last line */
	VIEW_PANELS
};

/* A panel's place; h == 0 means it is not shown at this size. */
struct view_rect {
	int y, x, h, w;
};

struct view_layout {
	int too_small;
	struct view_rect panel[VIEW_PANELS];
};

/* Panels for a cols x rows screen and a run of `tasks` tasks: header, progress and footer
 * always; the matrix at its natural size when it fits; the unlearning and log panels beside or
 * below it as room allows, dropped first when it does not. */
void view_layout(struct view_layout *l, int cols, int rows, size_t tasks);
/* The matrix panel's natural size, borders included. */
void view_matrix_size(size_t tasks, int *h, int *w);
/* The first of `count` items to show in `fit` places so that item `focus` is among them (at the
 * end of the window when it has to move). */
size_t view_window(size_t count, size_t fit, size_t focus);

enum view_tone { VIEW_PLAIN, VIEW_GOOD, VIEW_FAIR, VIEW_POOR, VIEW_MUTED, VIEW_TONES };

/* Accuracy: below 0.5 poor, below 0.8 fair, else good; NaN muted. */
enum view_tone view_accuracy_tone(double a);
/* Forgetting: up to 0.05 good, up to 0.2 fair, else poor; NaN muted. */
enum view_tone view_forgetting_tone(double f);

/* A fraction as a percentage in five columns ("100.0", " 42.5"); NaN as "    -". */
void view_cell(double a, char *buf, size_t size);
/* "m:ss" or "h:mm:ss"; "?" for a negative time. */
void view_duration(double s, char *buf, size_t size);
/* The series v[0..n) in at most `width` columns (neighbours averaged when n > width), each a
 * level of eight between its minimum and maximum; non-finite values blank. Returns the columns
 * written. */
size_t view_sparkline(const double *v, size_t n, size_t width, int utf8, char *buf, size_t size);
/* A bar `width` columns wide filled to frac (clamped to [0, 1]). */
void view_bar(double frac, size_t width, int utf8, char *buf, size_t size);
/* Display columns of UTF-8 text (every character here is one column wide). */
size_t view_columns(const char *s);
/* Bytes of s's first `width` columns: where to cut it, never inside a character. */
size_t view_prefix(const char *s, size_t width);


/* Header line `line` of `lines` (2 or 3): the title (scenario, step, elapsed and ETA at run time
 * now, pauses excluded); then the protocol and the plugins, on one line when there are two. */
void view_header(const struct dashboard *d, int line, int lines, double now, int utf8, char *buf,
		 size_t size);
/* The run's state for the header's right end: "TRAINING", "PAUSED", "FINISHED", ... */
const char *view_state(const struct dashboard *d);
/* Progress line 0 (step and epoch), 1 (the whole run) or 2 (loss), `width` columns. */
void view_progress(const struct dashboard *d, int line, size_t width, int utf8, char *buf,
		   size_t size);
/* A cell of the class confusion: frac of the row's samples. The diagonal as accuracy is; off it,
 * poor from 0.2 on, fair from 0.05, else muted. */
enum view_tone view_confusion_tone(double frac, int diagonal);
/* The matrix panel's title while it shows the class confusion. */
void view_confusion_title(const struct dashboard *d, char *buf, size_t size);

/* Matrix row labels: row -1 the untrained row, 0..T-1 after each step, T the forgetting row. */
void view_matrix_label(const struct dashboard *d, long row, char *buf, size_t size);
/* "ACC 45.1  BWT -50.2  FWT +0.1  F 60.3" (percentage points) over the rows done; single
 * spaces when that is wider than width. */
void view_metrics(const struct dashboard *d, size_t width, char *buf, size_t size);

/* The unlearning panel: a forget step's heading, the figures' column heads, a row of figures
 * (UA, RA, TA, MIA in percent, and the seconds when width has room for them). */
void view_forget_heading(const struct results_unlearning *u, char *buf, size_t size);
void view_figures_head(size_t width, char *buf, size_t size);
void view_figures(const char *label, const struct forget_figures *f, size_t width, char *buf,
		  size_t size);
/* The same for the evidence of forgetting (docs/unlearning.md), x 100: the SVC attack's
 * efficacy on confidence, the loss attack's AUC, JS and activation distance to retrain on D_f. */
void view_evidence_head(char *buf, size_t size);
void view_evidence(const char *label, const struct forget_figures *f, char *buf, size_t size);

void view_log_line(const struct dashboard_log *l, char *buf, size_t size);
/* The last line: the confirm question, the end of the run, the status, or the keys. */
void view_footer(const struct dashboard *d, int utf8, char *buf, size_t size);
/* The help overlay's lines. */
const char *const *view_help(int utf8, size_t *count);
/* The quit overlay's lines. */
const char *const *view_quit(size_t *count);

#endif
