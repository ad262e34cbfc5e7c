/* lethe compare DIR...: runs (or sweeps) side by side in one table. */
#include "cli/cmd.h"

#include <stdio.h>

#include "report/compare.h"
#include "util/status.h"

static const char compare_help[] =
	"usage: lethe compare DIR... [--format text|csv|markdown|json]\n"
	"\n"
	"One table of the runs in DIR... (a sweep's directory stands for its runs), a row\n"
	"each: the settings that differ between them (from each run's scenario.ini, and the\n"
	"lethe and BLAS kernel its metrics.json names), then acc, bwt, fwt, forgetting, the\n"
	"last forget step's gaps to retrain (gap: their mean; gap_ua, gap_ra, gap_ta,\n"
	"gap_mia), seconds of wall time and peak_mib, the peak memory in MiB. A figure a\n"
	"run lacks is '-' (empty in CSV, null in JSON). The runs must share a protocol.\n"
	"\n"
	"  --format F   text (default, aligned columns), csv, markdown or json\n"
	"\n"
	"Exit status: 0 printed, 1 the table could not be written, 2 bad usage or input.\n";

static int exec_compare(const struct args *a)
{
	const char *name = args_get(a, "--format");
	enum compare_format format = COMPARE_TEXT;
	if (name && compare_format_parse(name, &format) != 0)
		return args_error(a->spec, "--format %s: expected text, csv, markdown or json",
				  name);
	struct compare c;
	struct error e;
	if (compare_load(&c, a->positional, a->num_positional, &e) != 0) {
		fprintf(stderr, "lethe: %s\n", e.msg);
		return STATUS_BAD_INPUT;
	}
	int rc = compare_print(&c, format, stdout);
	compare_free(&c);
	if (rc != 0 || fflush(stdout) != 0) {
		fprintf(stderr, "lethe: compare: the table could not be written\n");
		return STATUS_RUN_FAILED;
	}
	return STATUS_OK;
}

static const struct args_option compare_options[] = {
	{ "--format", ARGS_VALUE },
	{ NULL, ARGS_FLAG },
};

const struct cmd_entry cmd_compare_entry = {
	.name = "compare",
	.args = { "compare", compare_options, 1, ARGS_POSITIONAL_MAX,
		  "needs one or more results directories" },
	.help = compare_help,
	.exec = exec_compare,
};
