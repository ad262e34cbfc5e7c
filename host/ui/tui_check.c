/* Whether `lethe tui` can draw here, asked before anything loads. Apart from tui.c, as term.h's
 * capability macros (lines, columns, ...) would clash with the dashboard's names. */
#include "ui/tui.h"

#include <curses.h>
#include <stdlib.h>
#include <term.h>
#include <unistd.h>

int tui_check_terminal(struct error *err)
{
	static const char hint[] = "for a headless run use lethe run";
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return error_set(err, "tui needs a terminal on stdin and stdout; %s", hint);
	const char *term = getenv("TERM");
	if (!term || !*term)
		return error_set(err, "tui: TERM is not set, so the terminal's type is unknown; "
				 "set it (e.g. TERM=xterm-256color), or %s", hint);
	/* A terminal that cannot place the cursor (TERM=dumb) would show a blank dashboard. */
	TERMINAL *before = cur_term;
	int found;
	if (setupterm(term, STDOUT_FILENO, &found) != OK)
		return error_set(err, "tui: TERM=%s is not a terminal type this system knows (no "
				 "terminfo entry); set TERM to your terminal's type, or %s", term,
				 hint);
	const char *cup = tigetstr("cup");
	int places = cup && cup != (char *)-1;
	del_curterm(cur_term);
	set_curterm(before);
	if (!places)
		return error_set(err, "tui: TERM=%s cannot move the cursor, so the dashboard "
				 "cannot be drawn; %s", term, hint);
	return 0;
}
