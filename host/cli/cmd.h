/* The commands of the lethe program, one entry each (tmux's cmd_entry): the name, the options
 * and arguments it takes (args.h checks them), its help, and what it does. cli.c holds the
 * table; each cmd_*.c file defines its commands. */
#ifndef LETHE_CMD_H
#define LETHE_CMD_H

#include <stdio.h>

#include "cli/args.h"

struct cmd_entry {
	const char *name;
	struct args_spec args;
	const char *help;	   /* lethe NAME --help */
	void (*help_more)(FILE *f); /* what help cannot say statically, or NULL */
	int (*exec)(const struct args *a); /* returns a STATUS_* */
};

/* The program's usage (lethe --help), which documents run, tui, check and plugins. */
extern const char cmd_usage[];

extern const struct cmd_entry cmd_run_entry, cmd_tui_entry, cmd_check_entry, cmd_plugins_entry,
	cmd_report_entry, cmd_compare_entry, cmd_sweep_entry, cmd_export_entry, cmd_audit_entry;

#endif
