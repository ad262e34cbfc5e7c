/* lethe plugins: every plugin file the search path finds, its version and parameters. */
#include "cli/cmd.h"

#include <stdio.h>

#include "core/plugin_loader.h"
#include "scenario/params.h"
#include "util/status.h"

static void list_plugin(const char *file, void *ctx)
{
	size_t *found = ctx;
	struct plugin_file pf;
	struct error err;
	if (plugin_file_open(&pf, file, &err) != 0) {
		fprintf(stderr, "lethe: skipped: %s\n", err.msg);
		return;
	}
	const lethe_plugin_entry *en = &pf.entry;
	printf("%s %s (ABI %u.%u.%u)  %s\n  %s\n", en->name, en->version ? en->version : "?",
	       pf.plugin_abi.major, pf.plugin_abi.minor, pf.plugin_abi.patch, file,
	       en->description ? en->description : "");
	for (uint32_t i = 0; i < en->num_params; i++) {
		const lethe_param_decl *d = &pf.params[i];
		char type[256];
		params_describe(d, type, sizeof(type));
		printf("    %-16s %s, default %s\n", d->key, type,
		       d->default_value && *d->default_value ? d->default_value : "\"\"");
		if (d->help)
			printf("    %-16s %s\n", "", d->help);
	}
	(*found)++;
	plugin_file_close(&pf);
}

static int exec_plugins(const struct args *a)
{
	struct plugin_path pp;
	plugin_path_init(&pp, args_get(a, "--plugin-path"));
	size_t found = 0;
	plugin_path_each(&pp, list_plugin, &found);
	if (!found) {
		printf("no plugins found in:");
		for (size_t i = 0; i < pp.count; i++)
			printf(" %s", pp.dirs[i]);
		printf("\n");
	}
	plugin_path_free(&pp);
	return STATUS_OK;
}

static const struct args_option plugins_options[] = {
	{ "--plugin-path", ARGS_VALUE },
	{ "--quiet", ARGS_FLAG },
	{ NULL, ARGS_FLAG },
};

const struct cmd_entry cmd_plugins_entry = {
	.name = "plugins",
	.args = { "plugins", plugins_options, 0, 0, NULL },
	.help = cmd_usage,
	.exec = exec_plugins,
};
