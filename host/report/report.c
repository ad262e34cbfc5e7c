#include "report/report.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "report/report_run.h"
#include "report/report_sweep.h"
#include "results/results.h"
#include "util/files.h"
#include "util/json_io.h"

static const char usage[] =
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

/* The page to write, whichever file it came from. */
struct page {
	int (*draw)(const struct page *p, FILE *f);
	struct results_doc run;
	struct report_sweep sweep;
};

static int draw_run(const struct page *p, FILE *f)
{
	return report_run_draw(&p->run, f);
}

static int draw_sweep(const struct page *p, FILE *f)
{
	return report_sweep_draw(&p->sweep, f);
}

static int write_page(FILE *f, const void *data, struct error *e)
{
	(void)e;
	const struct page *p = data;
	return p->draw(p, f);
}

/* Into path, dir's metrics.json (0), else its summary.json (1); -1 when it holds neither. */
static int results_in(const char *dir, char path[PATH_MAX], struct error *e)
{
	struct stat st;
	if (stat(dir, &st) != 0)
		return error_set(e, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_set(e, "%s: %s", dir, strerror(ENOTDIR));
	snprintf(path, PATH_MAX, "%s/%s", dir, RESULTS_METRICS);
	if (access(path, F_OK) == 0)
		return 0;
	snprintf(path, PATH_MAX, "%s/summary.json", dir);
	if (access(path, F_OK) == 0)
		return 1;
	return error_set(e, "%s: no metrics.json (a run's results) nor summary.json (a sweep's) "
			 "in it", dir);
}

/* A sweep's summary.json; *root holds the document the page points into. */
static int load_sweep(struct report_sweep *w, json_t **root, const char *path, struct error *e)
{
	if (!(*root = json_io_read(path, e)))
		return -1;
	if (!json_is_object(*root))
		return error_set(e, "%s: not a JSON object", path);
	if (report_sweep_load(w, *root, e) != 0)
		return error_prefix(e, "%s", path);
	return 0;
}

enum report_status report_write(const char *dir, struct error *e)
{
	char path[PATH_MAX];
	int sweep = results_in(dir, path, e);
	if (sweep < 0)
		return REPORT_BAD_INPUT;
	struct page p = { .draw = sweep ? draw_sweep : draw_run };
	json_t *root = NULL;
	if ((sweep ? load_sweep(&p.sweep, &root, path, e) : results_load(&p.run, path, e)) != 0) {
		json_decref(root);
		return REPORT_BAD_INPUT;
	}
	enum report_status status =
		files_replace(dir, RESULTS_REPORT, 0666, write_page, &p, e) == 0
			? REPORT_OK
			: REPORT_WRITE_FAILED;
	if (sweep)
		report_sweep_free(&p.sweep);
	else
		results_doc_free(&p.run);
	/* The pages point into the documents: they go last. */
	json_decref(root);
	return status;
}

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("lethe: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see lethe report --help)\n", stderr);
	return CLI_BAD_INPUT;
}

int report_main(int argc, char **argv)
{
	const char *dir = NULL;
	int quiet = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			return CLI_OK;
		} else if (!strcmp(a, "--quiet")) {
			quiet = 1;
		} else if (a[0] == '-') {
			return bad_usage("unknown option '%s'", a);
		} else if (dir) {
			return bad_usage("unexpected argument '%s'", a);
		} else {
			dir = a;
		}
	}
	if (!dir)
		return bad_usage("%s", "report needs a results directory");

	struct error e;
	enum report_status status = report_write(dir, &e);
	if (status != REPORT_OK) {
		fprintf(stderr, "lethe: %s\n", e.msg);
		return status == REPORT_BAD_INPUT ? CLI_BAD_INPUT : CLI_RUN_FAILED;
	}
	if (!quiet)
		fprintf(stderr, "lethe: wrote %s/report.svg\n", dir);
	return CLI_OK;
}
