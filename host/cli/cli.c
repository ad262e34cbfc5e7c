/* The lethe program's command line: the table of commands (cmd.h) and the dispatch to them. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include <lethe/version.h>

#include "cli/args.h"
#include "cli/cmd.h"
#include "config.h"
#include "util/status.h"

static const struct cmd_entry *const commands[] = {
	&cmd_run_entry,	    &cmd_tui_entry,   &cmd_check_entry,
	&cmd_plugins_entry, &cmd_report_entry, &cmd_compare_entry, &cmd_sweep_entry,
	&cmd_export_entry, &cmd_audit_entry,
};

static int is_help(const char *arg)
{
	return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

static int help(const struct cmd_entry *c)
{
	fputs(c ? c->help : cmd_usage, stdout);
	if (c && c->help_more)
		c->help_more(stdout);
	return STATUS_OK;
}

int cli_main(int argc, char **argv)
{
	if (argc < 2)
		return args_error(NULL, "no command given");
	const char *name = argv[1];
	if (is_help(name) || !strcmp(name, "help"))
		return help(NULL);
	if (!strcmp(name, "--version")) {
		printf("lethe %s (plugin ABI %d.%d.%d)\n", PACKAGE_VERSION, LETHE_ABI_MAJOR,
		       LETHE_ABI_MINOR, LETHE_ABI_PATCH);
		return STATUS_OK;
	}
	const struct cmd_entry *c = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (!strcmp(commands[i]->name, name))
			c = commands[i];
	if (!c)
		return args_error(NULL, "unknown command '%s'; the commands are run, tui, check, "
				  "report, compare, sweep, export, audit, plugins", name);
	for (int i = 2; i < argc; i++)
		if (is_help(argv[i]))
			return help(c);
	struct args a;
	int rc = args_parse(&a, &c->args, argc - 2, argv + 2);
	a.argc = argc;
	a.argv = argv;
	return rc != STATUS_OK ? rc : c->exec(&a);
}
