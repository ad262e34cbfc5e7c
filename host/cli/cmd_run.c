/* lethe run, tui and check: a scenario loaded, its engine opened, then trained headless or
 * under the dashboard, or only checked. */
#define _GNU_SOURCE
#include "cli/cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core/engine.h"
#include "core/plugin_loader.h"
#include "results/provenance.h"
#include "results/run_dir.h"
#include "scenario/paths.h"
#include "scenario/scenario.h"
#include "ui/events.h"
#include "ui/progress.h"
#include "ui/tui.h"
#include "util/blas.h"
#include "util/status.h"

#define OVERRIDES_MAX 256

/* The program's usage, which documents these commands (lethe --help). */
const char cmd_usage[] =
	"usage: lethe COMMAND [OPTIONS]\n"
	"\n"
	"commands:\n"
	"  run SCENARIO.ini    train through the scenario headless and write results\n"
	"                      (a bare name like quickstart also finds a shipped scenario)\n"
	"  tui SCENARIO.ini    the same run under a full-screen dashboard (h for its keys)\n"
	"  report DIR          draw DIR's results (a run's or a sweep's) into DIR/report.svg\n"
	"  compare DIR...      one table of several runs' figures and differing settings\n"
	"  sweep SWEEP.ini     run a grid of settings over seeds (lethe sweep --help)\n"
	"  export DIR          write a run's model as FILE.safetensors, for PyTorch\n"
	"  check SCENARIO.ini  validate a scenario and its plugins' parameters, no training\n"
	"  audit DIR           show that the samples DIR's run forgot are gone from its files\n"
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
	"  --events FILE        write the run's events to FILE as JSON lines (- for\n"
	"                       stdout; the schema is in lethe(1))\n"
	"  --quiet              print warnings and errors only\n"
	"  --help, --version\n"
	"\n"
	"Plugins are searched in --plugin-path, then $LETHE_PLUGIN_PATH, then " LETHE_PLUGIN_DIR ".\n"
	"Exit status: 0 success, 1 the run failed, 2 bad usage or input.\n";

static const struct args_option run_options[] = {
	{ "--out", ARGS_VALUE },	 { "--set", ARGS_LIST },  { "--plugin-path", ARGS_VALUE },
	{ "--force", ARGS_FLAG },	 { "--resume", ARGS_FLAG }, { "--quiet", ARGS_FLAG },
	{ "--events", ARGS_VALUE },	 { NULL, ARGS_FLAG },
};

static const struct args_option check_options[] = {
	{ "--set", ARGS_LIST },
	{ "--plugin-path", ARGS_VALUE },
	{ "--quiet", ARGS_FLAG },
	{ NULL, ARGS_FLAG },
};

/* What a run or a check was asked for. */
struct options {
	const struct args_spec *spec;
	char scenario[SCENARIO_PATH_MAX];
	const char *out;
	const char *plugin_path;
	const char *events; /* --events FILE, "-" for stdout */
	const char *overrides[OVERRIDES_MAX];
	size_t num_overrides;
	int force, quiet, resume;
	int tui; /* the dashboard is the front end */
	int argc; /* the command line, for the results' provenance */
	char **argv;
};

static int fail(const char *msg, int status)
{
	fprintf(stderr, "lethe: %s\n", msg);
	return status;
}

/* The options from the command line; the scenario looked up among the shipped ones when named
 * without a directory. */
static int options_from(struct options *o, const struct args *a)
{
	memset(o, 0, sizeof(*o));
	o->spec = a->spec;
	o->out = args_get(a, "--out");
	o->plugin_path = args_get(a, "--plugin-path");
	o->events = args_get(a, "--events");
	o->force = args_has(a, "--force");
	o->resume = args_has(a, "--resume");
	o->quiet = args_has(a, "--quiet");
	o->tui = !strcmp(a->spec->command, "tui");
	o->argc = a->argc;
	o->argv = a->argv;
	o->num_overrides = args_list(a, "--set", o->overrides, OVERRIDES_MAX);
	if (o->num_overrides > OVERRIDES_MAX)
		return args_error(a->spec, "too many --set options (at most %d)", OVERRIDES_MAX);
	struct error err;
	if (paths_resolve_scenario(a->positional[0], o->scenario, sizeof(o->scenario), &err) != 0)
		return fail(err.msg, STATUS_BAD_INPUT);
	return STATUS_OK;
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

/* A scenario, the engine of its run and where its plugins are found: too large for the stack
 * (struct scenario holds the INI file, struct engine its plugins and results). */
struct session {
	struct scenario s;
	struct engine e;
	struct plugin_path pp;
	struct provenance prov;
	struct scenario_plugin_decls decls[SCENARIO_PLUGINS_MAX];
};

/* The results will record where they come from: the scenario as it ran, with its plugins'
 * declarations, and the command line; a resumed run keeps its first start's. */
static int session_provenance(struct session *r, const struct options *o, const char *dir,
			      int resumed)
{
	for (size_t i = 0; i < r->e.num_plugins; i++) {
		const struct plugin_file *pf = &r->e.plugins[i].file;
		r->decls[i] = (struct scenario_plugin_decls){ pf->params, pf->entry.num_params,
							      pf->path };
	}
	if (provenance_init(&r->prov, o->argc, o->argv) != 0 ||
	    (resumed && provenance_resume(&r->prov, dir, o->argc, o->argv) != 0))
		return -1;
	r->prov.scenario = &r->s;
	r->prov.plugins = r->decls;
	r->e.provenance = &r->prov;
	return 0;
}

/* o's scenario loaded into a fresh session; NULL on failure, said, *status the exit status. */
static struct session *session_open(const struct options *o, int *status)
{
	struct session *r = calloc(1, sizeof(*r));
	struct error err;
	if (!r) {
		*status = fail("out of memory", STATUS_RUN_FAILED);
		return NULL;
	}
	if (scenario_load(&r->s, o->scenario, o->overrides, o->num_overrides, &err) != 0) {
		free(r);
		*status = fail(err.msg, STATUS_BAD_INPUT);
		return NULL;
	}
	plugin_path_init(&r->pp, o->plugin_path);
	return r;
}

/* After engine_open, whether it succeeded or not. */
static void session_close(struct session *r)
{
	engine_close(&r->e);
	provenance_free(&r->prov);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
	free(r);
}

static int cmd_run(const struct options *o)
{
	if (o->tui && o->events && !strcmp(o->events, "-"))
		return args_error(o->spec, "--events - would write into the dashboard's terminal; "
				  "give a file");
	struct error err;
	if (o->tui && tui_check_terminal(&err) != 0)
		return fail(err.msg, STATUS_BAD_INPUT);
	if (o->resume && !o->out)
		return args_error(o->spec, "--resume needs --out DIR, the run to continue");
	if (blas_check_runnable(stderr) != 0)
		return STATUS_BAD_INPUT;
	FILE *events_file = NULL;
	if (o->events && !(events_file = !strcmp(o->events, "-") ? stdout
								  : fopen(o->events, "w"))) {
		fprintf(stderr, "lethe: --events %s: cannot open: %s\n", o->events, strerror(errno));
		return STATUS_BAD_INPUT;
	}
	struct events events;
	events_init(&events, events_file);
	int status = STATUS_OK, start = -1;
	struct session *r = session_open(o, &status);
	if (!r) {
		if (events_file && events_file != stdout)
			fclose(events_file);
		return status;
	}
	struct scenario *s = &r->s;
	struct engine *e = &r->e;
	if (!o->quiet)
		blas_check_kernel(stderr);
	struct progress prog;
	progress_init(&prog, stderr, isatty(STDERR_FILENO), o->quiet);
	struct tui *tui = NULL;
	struct run_dir dir = { .lock = -1 };
	const char *out = dir.path;
	char kernel_warning[512] = "";
	if (engine_open(e, s, &r->pp, &err) != 0) {
		status = fail(err.msg, STATUS_BAD_INPUT);
	} else if ((start = run_dir_open(&dir, o->out, s->name, o->force, o->resume, &err)) < 0) {
		status = fail(err.msg, STATUS_BAD_INPUT);
	} else if (start == RUN_DIR_FINISHED) {
		if (!o->quiet)
			fprintf(stderr, "lethe: %s\n", dir.note);
	} else if (start == RUN_DIR_RESUME &&
		   resume(e, out, kernel_warning, sizeof(kernel_warning), &err) != 0) {
		status = fail(err.msg, STATUS_BAD_INPUT);
	} else if (session_provenance(r, o, out, start == RUN_DIR_RESUME) != 0) {
		status = fail("out of memory", STATUS_RUN_FAILED);
	} else if (scenario_write(s, r->decls, out, RESULTS_SCENARIO, &err) != 0) {
		/* Before any training: a scenario that cannot be written back is refused now. */
		status = fail(err.msg, STATUS_BAD_INPUT);
	} else if (o->tui && tui_open(&tui, e, out, &err) != 0) {
		status = fail(err.msg, STATUS_RUN_FAILED);
	} else {
		if (events_file)
			engine_add_sink(e, events_event, &events);
		if (tui) {
			engine_add_sink(e, tui_event, tui);
			engine_set_control(e, &(struct engine_control){ tui_poll, tui });
		} else {
			engine_add_sink(e, progress_event, &prog);
		}
		if (!o->quiet && !tui)
			fprintf(stderr, "lethe: %s: %s, %zu tasks, baseline %s, results in %s\n",
				s->name, scenario_protocol_name(s->protocol), e->tasks.count,
				s->baseline == BASELINE_JOINT ? "joint" : "naive", out);
		if (start == RUN_DIR_RESUME)
			engine_resume_note(e, out, dir.note, sizeof(dir.note));
		if (*dir.note)
			engine_log(e, "lethe", LETHE_LOG_INFO, "%s", dir.note);
		if (*kernel_warning)
			engine_log(e, "lethe", LETHE_LOG_WARN, "%s", kernel_warning);
		int rc = engine_run(e, out, &err);
		/* The terminal is back to normal before anything is printed. */
		if (tui)
			tui_close(tui, rc, rc < 0 ? err.msg : NULL);
		if (rc < 0)
			status = fail(err.msg, STATUS_RUN_FAILED);
		else if (rc == ENGINE_STOPPED && !o->quiet)
			fprintf(stderr, "lethe: stopped on request; the finished steps' results are "
				"in %s\n", out);
	}
	session_close(r);
	run_dir_close(&dir);
	if (events_file && events_file != stdout && fclose(events_file) != 0)
		events.failed = 1;
	if (events.failed && status == STATUS_OK)
		status = fail("--events: a line could not be written; the stream is incomplete",
			      STATUS_RUN_FAILED);
	return status;
}

/* "MLP 784-256-256-10", or "cnn 1x28x28-10 (421642 parameters)". */
static void print_model(const struct scenario *s, const struct model *m)
{
	if (!strcmp(s->architecture, "mlp")) {
		struct model_view v;
		model_view(m, 0, &v);
		printf(" MLP %zu", v.in);
		for (size_t l = 0; l < model_num_views(m); l++) {
			model_view(m, l, &v);
			printf("-%zu", v.out);
		}
		return;
	}
	printf(" %s %zux%zux%zu-%zu (%zu parameters)", s->architecture, m->input.c, m->input.h,
	       m->input.w, m->classes, m->num_params);
}

static int cmd_check(const struct options *o)
{
	if (blas_check_runnable(stderr) != 0)
		return STATUS_BAD_INPUT;
	struct error err;
	int status = STATUS_OK;
	struct session *r = session_open(o, &status);
	if (!r)
		return status;
	struct scenario *s = &r->s;
	struct engine *e = &r->e;
	if (engine_open(e, s, &r->pp, &err) != 0) {
		status = fail(err.msg, STATUS_BAD_INPUT);
	} else {
		printf("%s: ok: %s, %zu tasks,", o->scenario, scenario_protocol_name(s->protocol),
		       e->tasks.count);
		print_model(s, &e->model);
		printf(", baseline %s, %zu epochs per task, plugins:",
		       s->baseline == BASELINE_JOINT ? "joint" : "naive", s->epochs);
		for (size_t i = 0; i < e->num_plugins; i++)
			printf(" %s", e->plugins[i].file.entry.name);
		printf("%s", e->num_plugins ? "" : " none");
		for (size_t f = 0; f < s->num_forgets; f++)
			printf("%s%s after step %zu%s%s", f ? ", " : "; forget steps: ",
			       s->forgets[f].section, s->forgets[f].after,
			       s->forgets[f].plugin[0] ? " by " : "", s->forgets[f].plugin);
		struct memory_estimate m;
		char peak[32];
		engine_estimate_memory(e, &m);
		memory_format(m.total, peak, sizeof(peak));
		printf("; peak memory about %s\n", peak);
	}
	session_close(r);
	return status;
}

static int exec_run(const struct args *a)
{
	struct options o;
	int rc = options_from(&o, a);
	return rc != STATUS_OK ? rc : cmd_run(&o);
}

static int exec_check(const struct args *a)
{
	struct options o;
	int rc = options_from(&o, a);
	return rc != STATUS_OK ? rc : cmd_check(&o);
}

const struct cmd_entry cmd_run_entry = {
	.name = "run",
	.args = { "run", run_options, 1, 1, "needs a scenario file" },
	.help = cmd_usage,
	.exec = exec_run,
};

const struct cmd_entry cmd_tui_entry = {
	.name = "tui",
	.args = { "tui", run_options, 1, 1, "needs a scenario file" },
	.help = cmd_usage,
	.exec = exec_run,
};

const struct cmd_entry cmd_check_entry = {
	.name = "check",
	.args = { "check", check_options, 1, 1, "needs a scenario file" },
	.help = cmd_usage,
	.exec = exec_check,
};
