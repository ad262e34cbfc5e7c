# ui: the front ends on the engine's events: the progress line and the dashboard. The only
# library that links ncurses (tui.c alone calls it).
noinst_LTLIBRARIES += host/ui/libui.la
host_ui_libui_la_SOURCES = \
	%D%/progress.c %D%/progress.h \
	%D%/events.c %D%/events.h \
	%D%/dashboard.c %D%/dashboard.h \
	%D%/view.c %D%/view.h \
	%D%/tui.c %D%/tui_check.c %D%/tui.h
host_ui_libui_la_CPPFLAGS = $(AM_CPPFLAGS) $(NCURSES_CFLAGS)
host_ui_libui_la_LIBADD = $(NCURSES_LIBS)
EXTRA_DIST += docs/dashboard.txt
