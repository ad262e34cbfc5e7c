#define _GNU_SOURCE
#include "results/run_dir.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/files.h"

/* Anything at dir/name, even what cannot be looked at, counts as there. */
static int holds(const struct run_dir *d, const char *name)
{
	char path[SCENARIO_PATH_MAX + 32];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	return lstat(path, &st) == 0 || errno != ENOENT;
}

/* A fresh results/NAME or results/NAME-N: made at once, so that a run never lands on another's,
 * even one starting beside it. */
static int make_default(struct run_dir *d, const char *name, struct error *e)
{
	if (files_make_dirs("results", e) != 0)
		return -1;
	snprintf(d->path, sizeof(d->path), "results/%s", name);
	for (int n = 2; mkdir(d->path, 0777) != 0; n++) {
		if (errno != EEXIST)
			return error_set(e, "%s: cannot create: %s", d->path, strerror(errno));
		snprintf(d->path, sizeof(d->path), "results/%s-%d", name, n);
	}
	return 0;
}

/* How a run starts in the locked d, from what it holds. */
static int decide(struct run_dir *d, int force, int resume, struct error *e)
{
	int checkpoint = holds(d, RESULTS_CHECKPOINT), results = holds(d, RESULTS_METRICS);
	if (resume && checkpoint)
		return RUN_DIR_RESUME;
	if (resume && !results) {
		/* A requeued job says --resume every time, its first start included. */
		snprintf(d->note, sizeof(d->note), "%s holds no checkpoint yet: starting from the "
			 "beginning", d->path);
		return RUN_DIR_NEW;
	}
	if (resume && results_complete(d->path)) {
		snprintf(d->note, sizeof(d->note), "%s holds a finished run (and no checkpoint): "
			 "nothing to do", d->path);
		return RUN_DIR_FINISHED;
	}
	if (!force && resume)
		return error_set(e, "%s holds a run's partial results but no checkpoint to resume "
				 "from; pass --force to start it again", d->path);
	if (!force && results)
		return error_set(e, "%s already holds a run's results; choose another --out, or "
				 "pass %s", d->path, checkpoint && !results_complete(d->path)
				 ? "--resume to continue the run or --force to replace them"
				 : "--force to replace them");
	if (!force && checkpoint)
		return error_set(e, "%s holds the checkpoint of a run stopped in its first step; "
				 "pass --resume to continue it, or --force to start again",
				 d->path);
	/* A new run must not leave the old one's checkpoint to a later --resume. */
	char path[SCENARIO_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", d->path, RESULTS_CHECKPOINT);
	if (checkpoint && unlink(path) != 0 && errno != ENOENT)
		return error_set(e, "%s: cannot remove the old checkpoint: %s", path,
				 strerror(errno));
	return RUN_DIR_NEW;
}

int run_dir_open(struct run_dir *d, const char *out, const char *name, int force, int resume,
		 struct error *e)
{
	d->note[0] = '\0';
	if (!out && make_default(d, name, e) != 0)
		return -1;
	if (out && (size_t)snprintf(d->path, sizeof(d->path), "%s", out) >= sizeof(d->path))
		return error_set(e, "%s: %s", out, strerror(ENAMETOOLONG));
	if (out && files_make_dirs(out, e) != 0)
		return -1;
	d->lock = files_lock(d->path, "run", e);
	if (d->lock < 0)
		return -1;
	/* The lock file may be there already: the directory must still take new files. */
	if (access(d->path, W_OK | X_OK) != 0)
		return error_set(e, "%s: cannot write in it: %s", d->path, strerror(errno));
	return decide(d, force, resume, e);
}

void run_dir_close(struct run_dir *d)
{
	if (d->lock >= 0)
		close(d->lock);
	d->lock = -1;
}
