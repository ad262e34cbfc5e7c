#include "ui/tui.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ui/dashboard.h"
#include "ui/view.h"

/* At most this many frames a second while training... */
#define DRAW_SECONDS (1.0 / 12)
/* ...and a look at the keyboard this often: the engine polls after every batch. */
#define KEYS_SECONDS 0.02
/* How long a paused or finished dashboard waits for a key before looking again. */
#define WAIT_MS 100

/* Colour pairs, one per tone (pair 0 is the terminal's own). */
enum { PAIR_TITLE = VIEW_TONES };

struct tui {
	struct engine *e;
	struct dashboard d;
	struct view_layout layout;
	SCREEN *screen;
	int colour, utf8;
	int started; /* the run clock (e->t0) is set */
	int dirty;
	double last_draw, last_keys;
	char *old_locale;
	struct sigaction old_int, old_term;
};

/* Signals only set a flag the poll turns into a quit; a second one while the engine is busy
 * elsewhere (a long forget step) restores the terminal with async-signal-safe calls and dies. */
static volatile sig_atomic_t signalled;
static struct termios saved_termios;
static int have_termios;
static char leave_screen[64]; /* terminfo's rmcup and cnorm, looked up before any signal */
static size_t leave_length;
static int curses_active;

static void on_signal(int sig)
{
	if (signalled) {
		if (have_termios)
			tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
		if (write(STDOUT_FILENO, leave_screen, leave_length) < 0)
			leave_length = 0;
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	signalled = sig;
}

/* Whatever way the process ends, the terminal is left usable. */
static void restore_at_exit(void)
{
	if (curses_active && !isendwin())
		endwin();
}

static double clock_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double run_now(const struct tui *t)
{
	if (!t->started)
		return 0;
	const struct timespec *t0 = &t->e->t0;
	return clock_now() - ((double)t0->tv_sec + (double)t0->tv_nsec * 1e-9);
}

static attr_t tone(const struct tui *t, enum view_tone v)
{
	if (t->colour && v != VIEW_PLAIN && v != VIEW_MUTED)
		return COLOR_PAIR(v);
	return v == VIEW_MUTED ? A_DIM : v == VIEW_POOR ? A_BOLD : A_NORMAL;
}

/* Text at (y, x), cut to width columns. */
static void put(int y, int x, int width, attr_t a, const char *s)
{
	if (width <= 0)
		return;
	attrset(a);
	mvaddnstr(y, x, s, (int)view_prefix(s, (size_t)width));
	attrset(A_NORMAL);
}

static void fill(struct view_rect r, attr_t a)
{
	attrset(a);
	for (int y = r.y; y < r.y + r.h; y++)
		mvhline(y, r.x, ' ', r.w);
	attrset(A_NORMAL);
}

/* A run of one glyph, drawn as text: box-drawing characters on a UTF-8 terminal (copied and
 * captured as such), the alternate character set elsewhere. */
static void run_of(int y, int x, int n, int vertical, const char *glyph)
{
	for (int i = 0; i < n; i++)
		mvaddstr(y + (vertical ? i : 0), x + (vertical ? 0 : i), glyph);
}

static void frame(const struct tui *t, struct view_rect r, const char *title)
{
	attrset(t->colour ? COLOR_PAIR(PAIR_TITLE) : A_NORMAL);
	if (t->utf8) {
		run_of(r.y, r.x + 1, r.w - 2, 0, "─");
		run_of(r.y + r.h - 1, r.x + 1, r.w - 2, 0, "─");
		run_of(r.y + 1, r.x, r.h - 2, 1, "│");
		run_of(r.y + 1, r.x + r.w - 1, r.h - 2, 1, "│");
		mvaddstr(r.y, r.x, "┌");
		mvaddstr(r.y, r.x + r.w - 1, "┐");
		mvaddstr(r.y + r.h - 1, r.x, "└");
		mvaddstr(r.y + r.h - 1, r.x + r.w - 1, "┘");
	} else {
		mvhline(r.y, r.x + 1, ACS_HLINE, r.w - 2);
		mvhline(r.y + r.h - 1, r.x + 1, ACS_HLINE, r.w - 2);
		mvvline(r.y + 1, r.x, ACS_VLINE, r.h - 2);
		mvvline(r.y + 1, r.x + r.w - 1, ACS_VLINE, r.h - 2);
		mvaddch(r.y, r.x, ACS_ULCORNER);
		mvaddch(r.y, r.x + r.w - 1, ACS_URCORNER);
		mvaddch(r.y + r.h - 1, r.x, ACS_LLCORNER);
		mvaddch(r.y + r.h - 1, r.x + r.w - 1, ACS_LRCORNER);
	}
	char head[128];
	snprintf(head, sizeof(head), " %s ", title);
	put(r.y, r.x + 2, r.w - 4, A_BOLD | (t->colour ? COLOR_PAIR(PAIR_TITLE) : 0), head);
}

static void draw_header(const struct tui *t, struct view_rect r, double now)
{
	char line[1024];
	fill((struct view_rect){ r.y, r.x, 1, r.w }, A_REVERSE);
	view_header(&t->d, 0, r.h, now, t->utf8, line, sizeof(line));
	const char *state = view_state(&t->d);
	int sw = (int)strlen(state);
	put(r.y, r.x + 1, r.w - sw - 3, A_REVERSE | A_BOLD, line);
	enum view_tone v = t->d.paused || t->d.run == DASHBOARD_FORGETTING ? VIEW_FAIR
			   : t->d.run == DASHBOARD_FAILED			 ? VIEW_POOR
										 : VIEW_GOOD;
	put(r.y, r.x + r.w - sw - 1, sw, A_REVERSE | A_BOLD | tone(t, v), state);
	for (int i = 1; i < r.h; i++) {
		view_header(&t->d, i, r.h, now, t->utf8, line, sizeof(line));
		put(r.y + i, r.x + 1, r.w - 2, i == 1 ? A_BOLD : A_NORMAL, line);
	}
}

static void draw_progress(const struct tui *t, struct view_rect r)
{
	frame(t, r, "training");
	char line[2048];
	for (int i = 0; i < 3 && i < r.h - 2; i++) {
		view_progress(&t->d, i, (size_t)(r.w - 4), t->utf8, line, sizeof(line));
		put(r.y + 1 + i, r.x + 2, r.w - 4, A_NORMAL, line);
	}
}

/* Where the matrix's column for task j starts when task c0 is the first shown. */
static int column_x(int x, size_t j, size_t c0)
{
	return x + VIEW_LABEL_WIDTH + (int)(j - c0) * VIEW_CELL_WIDTH;
}

static void draw_cell(const struct tui *t, int y, int x, double v, enum view_tone tn, attr_t a)
{
	char cell[32];
	view_cell(v, cell, sizeof(cell));
	put(y, x + 1, VIEW_CELL_WIDTH - 1, tone(t, tn) | a, cell);
}

static void draw_matrix(const struct tui *t, struct view_rect r)
{
	const struct dashboard *d = &t->d;
	const struct engine *e = d->e;
	size_t T = e->tasks.count, done = d->rows_done;
	frame(t, r, "accuracy %");
	int x = r.x + 1, y = r.y + 1, inner = r.h - 2;
	size_t cols = (size_t)(r.w - 2 - VIEW_LABEL_WIDTH) / VIEW_CELL_WIDTH;
	size_t rows = inner > 4 ? (size_t)inner - 4 : 1;
	size_t c0 = view_window(T, cols, d->selected), cn = T - c0 < cols ? T - c0 : cols;
	size_t r0 = view_window(T, rows, done ? done - 1 : 0), rn = T - r0 < rows ? T - r0 : rows;
	char text[128];
	for (size_t j = c0; j < c0 + cn; j++) {
		char name[32];
		snprintf(name, sizeof(name), "T%zu", j + 1);
		snprintf(text, sizeof(text), "%*s", VIEW_CELL_WIDTH - 1, name);
		put(y, column_x(x, j, c0) + 1, VIEW_CELL_WIDTH - 1,
		    A_BOLD | (j == d->selected ? A_REVERSE : 0), text);
	}
	int started = d->run != DASHBOARD_STARTING || done;
	view_matrix_label(d, -1, text, sizeof(text));
	put(y + 1, x, VIEW_LABEL_WIDTH, A_DIM, text);
	for (size_t j = c0; started && j < c0 + cn; j++)
		draw_cell(t, y + 1, column_x(x, j, c0), e->b[j], VIEW_MUTED, 0);
	for (size_t i = r0; i < r0 + rn; i++) {
		int yi = y + 2 + (int)(i - r0);
		view_matrix_label(d, (long)i, text, sizeof(text));
		int current = i == d->step && d->run < DASHBOARD_FINISHED && i >= done;
		put(yi, x, VIEW_LABEL_WIDTH, current ? A_BOLD : i < done ? A_NORMAL : A_DIM, text);
		for (size_t j = c0; i < done && j < c0 + cn; j++) {
			double v = e->R[i * T + j];
			/* Tasks not learned yet at that row: forward transfer, shown quietly. */
			draw_cell(t, yi, column_x(x, j, c0), v,
				  j > i ? VIEW_MUTED : view_accuracy_tone(v),
				  j == d->selected ? A_BOLD : 0);
		}
	}
	int yf = y + 2 + (int)rn;
	if (inner >= 4) {
		view_matrix_label(d, (long)T, text, sizeof(text));
		put(yf, x, VIEW_LABEL_WIDTH, A_NORMAL, text);
		for (size_t j = c0; done > 1 && j < c0 + cn && j < done - 1; j++)
			draw_cell(t, yf, column_x(x, j, c0), d->forgetting[j],
				  view_forgetting_tone(d->forgetting[j]), 0);
		view_metrics(d, (size_t)(r.w - 3), text, sizeof(text));
		put(yf + 1, x + 1, r.w - 3, A_BOLD, text);
	}
}

/* The matrix panel in its other mode: the last step's class confusion, each row in percent of
 * the class's test samples, the classes that fit. */
static void draw_confusion(const struct tui *t, struct view_rect r)
{
	const struct dashboard *d = &t->d;
	const struct engine *e = d->e;
	size_t C = e->num_classes, done = d->rows_done;
	char text[128];
	view_confusion_title(d, text, sizeof(text));
	frame(t, r, text);
	if (!done || !e->class_confusion_known[done - 1])
		return;
	int x = r.x + 1, y = r.y + 1;
	size_t cols = (size_t)(r.w - 2 - VIEW_LABEL_WIDTH) / VIEW_CELL_WIDTH;
	size_t rows = r.h > 3 ? (size_t)r.h - 3 : 0;
	size_t cn = C < cols ? C : cols, rn = C < rows ? C : rows;
	const uint64_t *m = e->class_confusion + (done - 1) * C * C;
	for (size_t p = 0; p < cn; p++) {
		char name[32];
		snprintf(name, sizeof(name), "P%zu", p);
		snprintf(text, sizeof(text), "%*s", VIEW_CELL_WIDTH - 1, name);
		put(y, column_x(x, p, 0) + 1, VIEW_CELL_WIDTH - 1, A_BOLD, text);
	}
	for (size_t c = 0; c < rn; c++) {
		uint64_t n = 0;
		for (size_t p = 0; p < C; p++)
			n += m[c * C + p];
		snprintf(text, sizeof(text), "class %zu", c);
		put(y + 1 + (int)c, x, VIEW_LABEL_WIDTH, A_NORMAL, text);
		for (size_t p = 0; n && p < cn; p++) {
			double frac = (double)m[c * C + p] / (double)n;
			draw_cell(t, y + 1 + (int)c, column_x(x, p, 0), frac,
				  view_confusion_tone(frac, p == c), 0);
		}
	}
}

/* Lines a forget step takes: heading, the model's figures, the retrain reference's. */
static int forget_lines(const struct results_unlearning *u)
{
	return 2 + !!(u->references & (1u << REFERENCE_RETRAIN));
}

static void draw_unlearning(const struct tui *t, struct view_rect r)
{
	const struct dashboard *d = &t->d;
	const struct engine *e = d->e;
	frame(t, r, "unlearning %");
	int x = r.x + 2, w = r.w - 4, y = r.y + 1, bottom = r.y + r.h - 1;
	char text[512];
	if (d->forget_note[0]) {
		bottom--;
		put(bottom, x, w, tone(t, d->forget_note_warn ? VIEW_FAIR : VIEW_PLAIN) | A_BOLD,
		    d->forget_note);
	}
	if (!d->num_unlearning) {
		if (!d->forget_note[0])
			put(y, x, w, A_DIM, "no forget step yet: f forgets the selected task");
		return;
	}
	if (d->evidence)
		view_evidence_head(text, sizeof(text));
	else
		view_figures_head((size_t)w, text, sizeof(text));
	put(y++, x, w, A_BOLD, text);
	/* The newest steps that fit, oldest first. */
	size_t first = d->num_unlearning;
	for (int room = bottom - y; first > 0 && forget_lines(&e->unlearning[first - 1]) <= room;
	     first--)
		room -= forget_lines(&e->unlearning[first - 1]);
	for (size_t i = first; i < d->num_unlearning; i++) {
		const struct results_unlearning *u = &e->unlearning[i];
		view_forget_heading(u, text, sizeof(text));
		put(y++, x, w, A_NORMAL, text);
		const char *label = u->plugin ? u->plugin : "model";
		if (d->evidence)
			view_evidence(label, &u->figures, text, sizeof(text));
		else
			view_figures(label, &u->figures, (size_t)w, text, sizeof(text));
		put(y++, x, w, A_BOLD, text);
		if (u->references & (1u << REFERENCE_RETRAIN)) {
			if (d->evidence)
				view_evidence("retrain", &u->reference[REFERENCE_RETRAIN], text,
					      sizeof(text));
			else
				view_figures("retrain", &u->reference[REFERENCE_RETRAIN], (size_t)w,
					     text, sizeof(text));
			put(y++, x, w, A_DIM, text);
		}
	}
}

static void draw_log(const struct tui *t, struct view_rect r)
{
	frame(t, r, "messages");
	int lines = r.h - 2;
	char text[512];
	for (int i = 0; i < lines; i++) {
		const struct dashboard_log *l = dashboard_log_at(&t->d, (size_t)(lines - 1 - i));
		if (!l)
			continue;
		view_log_line(l, text, sizeof(text));
		put(r.y + 1 + i, r.x + 2, r.w - 4,
		    l->level == LETHE_LOG_WARN ? tone(t, VIEW_FAIR) : A_NORMAL, text);
	}
}

static void draw_footer(const struct tui *t, struct view_rect r)
{
	char text[1024];
	view_footer(&t->d, t->utf8, text, sizeof(text));
	attr_t a = A_REVERSE | (t->d.run == DASHBOARD_FAILED ? tone(t, VIEW_POOR) : 0);
	fill(r, a);
	/* Not the last column: writing the bottom-right corner would scroll. */
	put(r.y, r.x + 1, r.w - 2, a, text);
}

/* A box of lines centred on the screen. */
static void draw_overlay(const struct tui *t, const char *const *lines, size_t n)
{
	int w = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (int)view_columns(lines[i]);
		w = c > w ? c : w;
	}
	w += 6;
	int h = (int)n + 2;
	w = w < COLS ? w : COLS;
	h = h < LINES ? h : LINES;
	struct view_rect r = { (LINES - h) / 2, (COLS - w) / 2, h, w };
	fill(r, A_NORMAL);
	frame(t, r, "lethe");
	for (int i = 0; i < h - 2; i++)
		put(r.y + 1 + i, r.x + 3, w - 6, i == 0 ? A_BOLD : A_NORMAL, lines[i]);
}

static void render(struct tui *t)
{
	double now = run_now(t);
	const struct view_rect *p = t->layout.panel;
	erase();
	if (t->layout.too_small) {
		char text[1024];
		snprintf(text, sizeof(text), "terminal too small: %dx%d, lethe tui needs %dx%d",
			 COLS, LINES, VIEW_MIN_COLS, VIEW_MIN_ROWS);
		put(LINES / 2, 0, COLS, A_BOLD, text);
		/* The footer's words still matter: a quit question, the end of the run. */
		view_footer(&t->d, t->utf8, text, sizeof(text));
		put(LINES / 2 + 1, 0, COLS, A_NORMAL, text);
	} else {
		draw_header(t, p[VIEW_HEADER], now);
		draw_progress(t, p[VIEW_PROGRESS]);
		if (t->d.show_confusion)
			draw_confusion(t, p[VIEW_MATRIX]);
		else
			draw_matrix(t, p[VIEW_MATRIX]);
		if (p[VIEW_UNLEARNING].h)
			draw_unlearning(t, p[VIEW_UNLEARNING]);
		if (p[VIEW_LOG].h)
			draw_log(t, p[VIEW_LOG]);
		draw_footer(t, p[VIEW_FOOTER]);
		size_t n;
		if (t->d.overlay == DASHBOARD_OVERLAY_HELP) {
			const char *const *lines = view_help(t->utf8, &n);
			draw_overlay(t, lines, n);
		} else if (t->d.overlay == DASHBOARD_OVERLAY_QUIT) {
			const char *const *lines = view_quit(&n);
			draw_overlay(t, lines, n);
		}
	}
	wnoutrefresh(stdscr);
	doupdate();
	t->dirty = 0;
	t->last_draw = clock_now();
}

static void render_if_due(struct tui *t)
{
	if (t->dirty && clock_now() - t->last_draw >= DRAW_SECONDS)
		render(t);
}

static void relayout(struct tui *t)
{
	view_layout(&t->layout, COLS, LINES, t->e->tasks.count);
	t->dirty = 1;
}

static void set_colours(struct tui *t)
{
	const char *no_colour = getenv("NO_COLOR");
	t->colour = !no_colour && has_colors() && start_color() == OK;
	if (!t->colour)
		return;
	use_default_colors();
	init_pair(VIEW_GOOD, COLOR_GREEN, -1);
	init_pair(VIEW_FAIR, COLOR_YELLOW, -1);
	init_pair(VIEW_POOR, COLOR_RED, -1);
	init_pair(PAIR_TITLE, COLOR_CYAN, -1);
}

int tui_open(struct tui **tp, struct engine *e, const char *out_dir, struct error *err)
{
	(void)out_dir; /* the engine writes there on ENGINE_REQ_WRITE and says so in its log */
	*tp = NULL;
	if (!isatty(STDIN_FILENO))
		return error_set(err, "tui reads its keys from a terminal on stdin; for a headless "
				 "run use lethe run");
	struct tui *t = calloc(1, sizeof(*t));
	if (!t)
		return error_set(err, "out of memory");
	t->e = e;
	dashboard_init(&t->d, e);
	/* Only the character type: numbers in the results files keep their decimal point. */
	const char *old = setlocale(LC_CTYPE, NULL);
	t->old_locale = strdup(old ? old : "C");
	setlocale(LC_CTYPE, "");
	t->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	have_termios = tcgetattr(STDIN_FILENO, &saved_termios) == 0;
	t->screen = newterm(NULL, stdout, stdin);
	if (!t->screen) {
		const char *term = getenv("TERM");
		setlocale(LC_CTYPE, t->old_locale);
		free(t->old_locale);
		free(t);
		return error_set(err, "cannot drive the terminal (TERM=%s)", term ? term : "unset");
	}
	static int exit_hook;
	if (!exit_hook++)
		atexit(restore_at_exit);
	cbreak(); /* keeps Ctrl-C a signal */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	set_colours(t);
	const char *rmcup = tigetstr("rmcup"), *cnorm = tigetstr("cnorm");
	if (!rmcup || rmcup == (char *)-1)
		rmcup = "";
	if (!cnorm || cnorm == (char *)-1)
		cnorm = "";
	snprintf(leave_screen, sizeof(leave_screen), "%s%s", rmcup, cnorm);
	leave_length = strlen(leave_screen);
	curses_active = 1;
	signalled = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &t->old_int);
	sigaction(SIGTERM, &sa, &t->old_term);
	relayout(t);
	render(t);
	*tp = t;
	return 0;
}

void tui_event(void *ctx, const struct event *ev)
{
	struct tui *t = ctx;
	if (ev->kind == EVENT_RUN_START)
		t->started = 1;
	dashboard_event(&t->d, ev);
	t->dirty = 1;
	/* Steps' and forgets' ends are drawn at once: a long forget step may follow them. */
	if (ev->kind == EVENT_BATCH || ev->kind == EVENT_FORGET_PROGRESS || ev->kind == EVENT_LOG)
		render_if_due(t);
	else
		render(t);
}

static void toggle_pause(struct tui *t)
{
	struct dashboard *d = &t->d;
	dashboard_set_paused(d, !d->paused, run_now(t));
	dashboard_status(d, d->paused ? "paused: p resumes" : "resumed");
}

/* One key during the run: what to ask of the engine, if anything. */
static enum engine_request run_key(struct tui *t, int ch, size_t *task)
{
	struct dashboard *d = &t->d;
	if (d->overlay == DASHBOARD_OVERLAY_HELP) {
		d->overlay = DASHBOARD_OVERLAY_NONE;
		return ENGINE_REQ_NONE;
	}
	if (d->overlay == DASHBOARD_OVERLAY_QUIT) {
		d->overlay = DASHBOARD_OVERLAY_NONE;
		if (ch == 'y' || ch == 'Y') {
			d->user_quit = 1;
			dashboard_status(d, "stopping");
			return ENGINE_REQ_QUIT;
		}
		dashboard_status(d, "carrying on");
		return ENGINE_REQ_NONE;
	}
	switch (ch) {
	case 'p':
	case 'P':
	case ' ':
		toggle_pause(t);
		break;
	case KEY_LEFT:
	case KEY_UP:
		dashboard_select(d, -1);
		break;
	case KEY_RIGHT:
	case KEY_DOWN:
		dashboard_select(d, 1);
		break;
	case 'f':
	case 'F':
		dashboard_forget_asked(d, d->selected);
		*task = d->selected;
		return ENGINE_REQ_FORGET;
	case 'e':
	case 'E':
		dashboard_toggle_evidence(d);
		break;
	case 's':
	case 'S':
		dashboard_write_asked(d);
		return ENGINE_REQ_WRITE;
	case 'c':
	case 'C':
		dashboard_toggle_confusion(d);
		break;
	case 'q':
	case 'Q':
		d->overlay = DASHBOARD_OVERLAY_QUIT;
		break;
	case 'h':
	case '?':
	case KEY_F(1):
		d->overlay = DASHBOARD_OVERLAY_HELP;
		break;
	}
	return ENGINE_REQ_NONE;
}

enum engine_request tui_poll(void *ctx, struct engine *e, size_t *task)
{
	(void)e;
	struct tui *t = ctx;
	struct dashboard *d = &t->d;
	/* Back here after a request: its outcome (figures, message or warning) is in by now. */
	dashboard_settled(d);
	double now = clock_now();
	if (!d->paused && !signalled && now - t->last_keys < KEYS_SECONDS)
		return ENGINE_REQ_NONE;
	t->last_keys = now;
	for (;;) {
		if (signalled) {
			d->user_quit = 1;
			dashboard_status(d, "stopping on a signal");
			render(t);
			return ENGINE_REQ_QUIT;
		}
		timeout(d->paused ? WAIT_MS : 0);
		int ch = getch();
		if (ch == KEY_RESIZE) {
			relayout(t);
		} else if (ch != ERR) {
			t->dirty = 1;
			enum engine_request r = run_key(t, ch, task);
			if (r != ENGINE_REQ_NONE) {
				render(t);
				/* The engine polls again right after serving it: look at the keys
				 * then, not 20 ms later. */
				t->last_keys = 0;
				return r;
			}
			continue;
		}
		render_if_due(t);
		if (ch == ERR && !d->paused)
			return ENGINE_REQ_NONE;
	}
}

void tui_close(struct tui *t, int rc, const char *error)
{
	if (!t)
		return;
	struct dashboard *d = &t->d;
	dashboard_settled(d);
	dashboard_finish(d, rc, error);
	t->dirty = 1;
	render(t);
	/* The final screen stays until q, unless the user already quit. */
	while (!d->user_quit && !signalled) {
		timeout(WAIT_MS);
		int ch = getch();
		if (ch == 'q' || ch == 'Q')
			break;
		if (ch == KEY_RESIZE) {
			relayout(t);
		} else if (ch != ERR) {
			if (d->overlay != DASHBOARD_OVERLAY_NONE)
				d->overlay = DASHBOARD_OVERLAY_NONE;
			else if (ch == KEY_LEFT || ch == KEY_UP)
				dashboard_select(d, -1);
			else if (ch == KEY_RIGHT || ch == KEY_DOWN)
				dashboard_select(d, 1);
			else if (ch == 'h' || ch == '?' || ch == KEY_F(1))
				d->overlay = DASHBOARD_OVERLAY_HELP;
			else if (ch == 'c' || ch == 'C')
				dashboard_toggle_confusion(d);
			t->dirty = 1;
		}
		if (t->dirty)
			render(t);
	}
	endwin();
	delscreen(t->screen);
	curses_active = 0;
	sigaction(SIGINT, &t->old_int, NULL);
	sigaction(SIGTERM, &t->old_term, NULL);
	leave_length = 0;
	setlocale(LC_CTYPE, t->old_locale);
	free(t->old_locale);
	free(t);
}
