/* The dashboard of `lethe tui`: an engine sink that keeps what the screen shows, and the control
 * the engine polls for the user's keys. The only part of lethe that calls curses. */
#ifndef LETHE_TUI_H
#define LETHE_TUI_H

#include "core/engine.h"
#include "util/error.h"

struct tui;

/* Whether the dashboard can be drawn here: stdin and stdout are a terminal whose type (TERM)
 * terminfo knows and which can place the cursor. 0, or -1 and the error, which suggests
 * lethe run. */
int tui_check_terminal(struct error *err);
/* Takes over the terminal (stdout must be one) for a run of e writing into out_dir. */
int tui_open(struct tui **t, struct engine *e, const char *out_dir, struct error *err);
/* The sink: pass with the struct tui * as ctx. */
void tui_event(void *ctx, const struct event *ev);
/* The control (struct engine_control.poll): keys, redraws, and the pause. */
enum engine_request tui_poll(void *ctx, struct engine *e, size_t *task);
/* After engine_run returned rc (error: its message, or NULL): shows the final state until the
 * user quits, unless they already did, restores the terminal and frees t. */
void tui_close(struct tui *t, int rc, const char *error);

#endif
