/* lethe report DIR: DIR/report.svg from the results in DIR. */
#include "cli/cmd.h"

#include <stdio.h>

#include "report/report.h"
#include "util/status.h"

static const char report_help[] =
	"usage: lethe report DIR [--quiet]\n"
	"       lethe report RUN RUN... --out FILE.svg [--quiet]\n"
	"\n"
	"Draws the results in DIR into DIR/report.svg. A run's metrics.json gives the\n"
	"accuracy matrix, each task's accuracy across the steps, forgetting per task, the\n"
	"headline figures and any unlearning figures beside the reference methods'; a\n"
	"sweep's summary.json gives each setting's mean accuracy and forgetting over its\n"
	"seeds, best first. A partial run is drawn as far as it went. Several runs'\n"
	"directories are drawn on shared axes into FILE.svg: each run's average accuracy\n"
	"over the tasks so far after every step, and its ACC, BWT, FWT and forgetting.\n"
	"\n"
	"  --quiet   print errors only\n"
	"\n"
	"Exit status: 0 written, 1 report.svg could not be written, 2 bad usage or input.\n";

/* Several runs: one page of them on shared axes, into --out FILE. */
static int report_runs(const struct args *a)
{
	const char *out = args_get(a, "--out");
	if (!out)
		return args_error(a->spec, "several directories need --out FILE.svg");
	struct error e;
	enum report_status status = report_write_runs(a->positional, a->num_positional, out, &e);
	if (status != REPORT_OK) {
		fprintf(stderr, "lethe: %s\n", e.msg);
		return status == REPORT_BAD_INPUT ? STATUS_BAD_INPUT : STATUS_RUN_FAILED;
	}
	if (!args_has(a, "--quiet"))
		fprintf(stderr, "lethe: wrote %s\n", out);
	return STATUS_OK;
}

static int exec_report(const struct args *a)
{
	if (a->num_positional > 1)
		return report_runs(a);
	if (args_has(a, "--out"))
		return args_error(a->spec, "--out is for several runs; one directory's report goes "
				  "to DIR/report.svg");
	const char *dir = a->positional[0];
	struct error e;
	enum report_status status = report_write(dir, &e);
	if (status != REPORT_OK) {
		fprintf(stderr, "lethe: %s\n", e.msg);
		return status == REPORT_BAD_INPUT ? STATUS_BAD_INPUT : STATUS_RUN_FAILED;
	}
	if (!args_has(a, "--quiet"))
		fprintf(stderr, "lethe: wrote %s/report.svg\n", dir);
	return STATUS_OK;
}

static const struct args_option report_options[] = {
	{ "--quiet", ARGS_FLAG },
	{ "--out", ARGS_VALUE },
	{ NULL, ARGS_FLAG },
};

const struct cmd_entry cmd_report_entry = {
	.name = "report",
	.args = { "report", report_options, 1, ARGS_POSITIONAL_MAX, "needs a results directory" },
	.help = report_help,
	.exec = exec_report,
};
