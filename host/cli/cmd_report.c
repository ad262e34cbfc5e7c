/* lethe report DIR: DIR/report.svg from the results in DIR. */
#include "cli/cmd.h"

#include <stdio.h>

#include "report/report.h"
#include "util/status.h"

static const char report_help[] =
	"usage: lethe report DIR [--quiet]\n"
	"\n"
	"Draws the results in DIR into DIR/report.svg. A run's metrics.json gives the\n"
	"accuracy matrix, each task's accuracy across the steps, forgetting per task, the\n"
	"headline figures and any unlearning figures beside the reference methods'; a\n"
	"sweep's summary.json gives each setting's mean accuracy and forgetting over its\n"
	"seeds, best first. A partial run is drawn as far as it went.\n"
	"\n"
	"  --quiet   print errors only\n"
	"\n"
	"Exit status: 0 written, 1 report.svg could not be written, 2 bad usage or input.\n";

static int exec_report(const struct args *a)
{
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
	{ NULL, ARGS_FLAG },
};

const struct cmd_entry cmd_report_entry = {
	.name = "report",
	.args = { "report", report_options, 1, 1, "needs a results directory" },
	.help = report_help,
	.exec = exec_report,
};
