#include "report/report.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "report/report_run.h"
#include "report/report_runs.h"
#include "report/report_sweep.h"
#include "results/results.h"
#include "util/files.h"
#include "util/json_io.h"


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

struct runs_page {
	const struct results_doc *runs;
	const char *const *labels;
	size_t n;
};

static int write_runs(FILE *f, const void *data, struct error *e)
{
	(void)e;
	const struct runs_page *p = data;
	return report_runs_draw(p->runs, p->labels, p->n, f);
}

enum report_status report_write_runs(const char *const *dirs, size_t n, const char *out,
				     struct error *e)
{
	struct results_doc *runs = calloc(n, sizeof(*runs));
	if (!runs) {
		error_set(e, "out of memory");
		return REPORT_WRITE_FAILED;
	}
	enum report_status status = REPORT_OK;
	size_t loaded = 0;
	for (; loaded < n; loaded++) {
		char path[PATH_MAX];
		int kind = results_in(dirs[loaded], path, e);
		if (kind == 1)
			error_set(e, "%s: a sweep's results; several directories are drawn only as "
				  "runs", dirs[loaded]);
		if (kind != 0 || results_load(&runs[loaded], path, e) != 0) {
			status = REPORT_BAD_INPUT;
			break;
		}
	}
	char dir[PATH_MAX];
	const char *slash = strrchr(out, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - out) : 1, slash ? out : ".");
	if (slash == out)
		snprintf(dir, sizeof(dir), "/");
	struct runs_page p = { runs, dirs, n };
	if (status == REPORT_OK &&
	    files_replace(dir, slash ? slash + 1 : out, 0666, write_runs, &p, e) != 0)
		status = REPORT_WRITE_FAILED;
	for (size_t i = 0; i < loaded; i++)
		results_doc_free(&runs[i]);
	free(runs);
	return status;
}
