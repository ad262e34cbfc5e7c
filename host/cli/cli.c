#define _GNU_SOURCE
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "core/engine.h"
#include "core/memory.h"
#include "core/plugin_loader.h"
#include "report/report.h"
#include "results/run_dir.h"
#include "scenario/params.h"
#include "scenario/paths.h"
#include "scenario/scenario.h"
#include "sweep/sweep.h"
#include "ui/progress.h"
#include "ui/tui.h"
#include "util/blas.h"

#define OVERRIDES_MAX 256

static const char usage[] =
	"usage: lethe COMMAND [OPTIONS]\n"
	"\n"
	"commands:\n"
	"  run SCENARIO.ini    train through the scenario headless and write results\n"
	"                      (a bare name like quickstart also finds a shipped scenario)\n"
	"  tui SCENARIO.ini    the same run under a full-screen dashboard (h for its keys)\n"
	"  report DIR          draw DIR's results (a run's or a sweep's) into DIR/report.svg\n"
	"  sweep SWEEP.ini     run a grid of settings over seeds (lethe sweep --help)\n"
	"  check SCENARIO.ini  validate a scenario and its plugins' parameters, no training\n"
	"  plugins             list the plugins found, their versions and parameters\n"
	"\n"
	"options:\n"
	"  --out DIR            results directory (run; default: results/NAME, or\n"
	"                       results/NAME-2, -3, ... when taken)\n"
	"  --set SECTION.KEY=VALUE\n"
	"                       override a scenario value (repeatable)\n"
	"  --plugin-path DIRS   colon-separated directories searched first for plugins\n"
	"  --force              let run replace the results already in DIR\n"
	"  --resume             continue the run in --out DIR from its last checkpoint\n"
	"                       (or start it, when DIR holds neither checkpoint nor results)\n"
	"  --quiet              print warnings and errors only\n"
	"  --help, --version\n"
	"\n"
	"Plugins are searched in --plugin-path, then $LETHE_PLUGIN_PATH, then " LETHE_PLUGIN_DIR ".\n"
	"Exit status: 0 success, 1 the run failed, 2 bad usage or input.\n";

struct options {
	const char *command;
	const char *scenario;
	const char *out;
	const char *plugin_path;
	const char *overrides[OVERRIDES_MAX];
	size_t num_overrides;
	int force, quiet, resume;
	int tui; /* the dashboard is the front end */
};

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("lethe: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see lethe --help)\n", stderr);
	return CLI_BAD_INPUT;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		int has_value = i + 1 < argc;
		if (!strcmp(a, "--out") || !strcmp(a, "--set") || !strcmp(a, "--plugin-path")) {
			if (!has_value)
				return bad_usage("%s needs a value", a);
			const char *v = argv[++i];
			if (!strcmp(a, "--out"))
				o->out = v;
			else if (!strcmp(a, "--plugin-path"))
				o->plugin_path = v;
			else if (o->num_overrides == OVERRIDES_MAX)
				return bad_usage("too many --set options (at most %s)", "256");
			else
				o->overrides[o->num_overrides++] = v;
		} else if (!strcmp(a, "--force")) {
			o->force = 1;
		} else if (!strcmp(a, "--resume")) {
			o->resume = 1;
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = 1;
		} else if (a[0] == '-') {
			return bad_usage("unknown option '%s'", a);
		} else if (!o->scenario) {
			o->scenario = a;
		} else {
			return bad_usage("unexpected argument '%s'", a);
		}
	}
	return CLI_OK;
}

static int fail(const char *msg, int status)
{
	fprintf(stderr, "lethe: %s\n", msg);
	return status;
}

/* engine_resume; warning receives a line when the checkpoint's BLAS kernel is not this one's,
 * else "". */
static int resume(struct engine *e, const char *dir, char *warning, size_t size,
		  struct error *err)
{
	if (engine_resume(e, dir, err) != 0)
		return -1;
	if (!engine_kernel_warning(e, blas_kernel(), warning, size))
		*warning = 0;
	return 0;
}

static int cmd_run(const struct options *o)
{
	struct error err;
	if (o->tui && tui_check_terminal(&err) != 0)
		return fail(err.msg, CLI_BAD_INPUT);
	if (o->resume && !o->out)
		return bad_usage("%s needs --out DIR, the run to continue", "--resume");
	if (blas_check_runnable(stderr) != 0)
		return CLI_BAD_INPUT;
	struct scenario s;
	if (scenario_load(&s, o->scenario, o->overrides, o->num_overrides, &err) != 0)
		return fail(err.msg, CLI_BAD_INPUT);
	if (!o->quiet)
		blas_check_kernel(stderr);
	struct plugin_path pp;
	plugin_path_init(&pp, o->plugin_path);
	struct engine e;
	struct progress prog;
	progress_init(&prog, stderr, isatty(STDERR_FILENO), o->quiet);
	struct tui *tui = NULL;
	struct run_dir dir = { .lock = -1 };
	const char *out = dir.path;
	int status = CLI_OK, start = -1;
	char kernel_warning[512] = "";
	if (engine_open(&e, &s, &pp, &err) != 0) {
		status = fail(err.msg, CLI_BAD_INPUT);
	} else if ((start = run_dir_open(&dir, o->out, s.name, o->force, o->resume, &err)) < 0) {
		status = fail(err.msg, CLI_BAD_INPUT);
	} else if (start == RUN_DIR_FINISHED) {
		if (!o->quiet)
			fprintf(stderr, "lethe: %s\n", dir.note);
	} else if (start == RUN_DIR_RESUME &&
		   resume(&e, out, kernel_warning, sizeof(kernel_warning), &err) != 0) {
		status = fail(err.msg, CLI_BAD_INPUT);
	} else if (o->tui && tui_open(&tui, &e, out, &err) != 0) {
		status = fail(err.msg, CLI_RUN_FAILED);
	} else {
		if (tui) {
			engine_add_sink(&e, tui_event, tui);
			engine_set_control(&e, &(struct engine_control){ tui_poll, tui });
		} else {
			engine_add_sink(&e, progress_event, &prog);
		}
		if (!o->quiet && !tui)
			fprintf(stderr, "lethe: %s: %s, %zu tasks, baseline %s, results in %s\n",
				s.name, scenario_protocol_name(s.protocol), e.tasks.count,
				s.baseline == BASELINE_JOINT ? "joint" : "naive", out);
		if (start == RUN_DIR_RESUME)
			engine_resume_note(&e, out, dir.note, sizeof(dir.note));
		if (*dir.note)
			engine_log(&e, "lethe", LETHE_LOG_INFO, "%s", dir.note);
		if (*kernel_warning)
			engine_log(&e, "lethe", LETHE_LOG_WARN, "%s", kernel_warning);
		int rc = engine_run(&e, out, &err);
		/* The terminal is back to normal before anything is printed. */
		if (tui)
			tui_close(tui, rc, rc < 0 ? err.msg : NULL);
		if (rc < 0)
			status = fail(err.msg, CLI_RUN_FAILED);
		else if (rc == ENGINE_STOPPED && !o->quiet)
			fprintf(stderr, "lethe: stopped on request; the finished steps' results are "
				"in %s\n", out);
	}
	engine_close(&e);
	run_dir_close(&dir);
	plugin_path_free(&pp);
	scenario_free(&s);
	return status;
}

static int cmd_check(const struct options *o)
{
	if (blas_check_runnable(stderr) != 0)
		return CLI_BAD_INPUT;
	struct error err;
	struct scenario s;
	if (scenario_load(&s, o->scenario, o->overrides, o->num_overrides, &err) != 0)
		return fail(err.msg, CLI_BAD_INPUT);
	struct plugin_path pp;
	plugin_path_init(&pp, o->plugin_path);
	struct engine e;
	int status = CLI_OK;
	if (engine_open(&e, &s, &pp, &err) != 0) {
		status = fail(err.msg, CLI_BAD_INPUT);
	} else {
		printf("%s: ok: %s, %zu tasks,", o->scenario, scenario_protocol_name(s.protocol),
		       e.tasks.count);
		printf(" MLP %zu", e.model.layer[0].in);
		for (size_t l = 0; l < e.model.num_layers; l++)
			printf("-%zu", e.model.layer[l].out);
		printf(", baseline %s, %zu epochs per task, plugins:",
		       s.baseline == BASELINE_JOINT ? "joint" : "naive", s.epochs);
		for (size_t i = 0; i < e.num_plugins; i++)
			printf(" %s", e.plugins[i].file.entry.name);
		printf("%s", e.num_plugins ? "" : " none");
		for (size_t f = 0; f < s.num_forgets; f++)
			printf("%s%s after step %zu%s%s", f ? ", " : "; forget steps: ",
			       s.forgets[f].section, s.forgets[f].after,
			       s.forgets[f].plugin[0] ? " by " : "", s.forgets[f].plugin);
		struct memory_estimate m;
		char peak[32];
		engine_estimate_memory(&e, &m);
		memory_format(m.total, peak, sizeof(peak));
		printf("; peak memory about %s\n", peak);
	}
	engine_close(&e);
	plugin_path_free(&pp);
	scenario_free(&s);
	return status;
}

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

static int cmd_plugins(const struct options *o)
{
	struct plugin_path pp;
	plugin_path_init(&pp, o->plugin_path);
	size_t found = 0;
	plugin_path_each(&pp, list_plugin, &found);
	if (!found) {
		printf("no plugins found in:");
		for (size_t i = 0; i < pp.count; i++)
			printf(" %s", pp.dirs[i]);
		printf("\n");
	}
	plugin_path_free(&pp);
	return CLI_OK;
}

int cli_main(int argc, char **argv)
{
	if (argc < 2)
		return bad_usage("%s", "no command given");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	if (!strcmp(cmd, "--version")) {
		printf("lethe %s (plugin ABI %d.%d.%d)\n", PACKAGE_VERSION, LETHE_ABI_MAJOR,
		       LETHE_ABI_MINOR, LETHE_ABI_PATCH);
		return CLI_OK;
	}
	if (!strcmp(cmd, "report"))
		return report_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "sweep"))
		return sweep_main(argc - 1, argv + 1);
	struct options o = { .command = cmd, .tui = !strcmp(cmd, "tui") };
	int rc = parse_options(&o, argc, argv);
	if (rc != CLI_OK)
		return rc;
	if (!strcmp(cmd, "plugins")) {
		if (o.scenario)
			return bad_usage("plugins takes no scenario ('%s')", o.scenario);
		return cmd_plugins(&o);
	}
	if (strcmp(cmd, "run") && strcmp(cmd, "check") && strcmp(cmd, "tui"))
		return bad_usage("unknown command '%s'; the commands are run, tui, check, report, "
				 "sweep, plugins", cmd);
	if (!o.scenario)
		return bad_usage("%s needs a scenario file", cmd);
	char scenario[SCENARIO_PATH_MAX];
	struct error err;
	if (paths_resolve_scenario(o.scenario, scenario, sizeof(scenario), &err) != 0)
		return fail(err.msg, CLI_BAD_INPUT);
	o.scenario = scenario;
	return !strcmp(cmd, "check") ? cmd_check(&o) : cmd_run(&o);
}
