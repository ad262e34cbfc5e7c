#include "sweep/sweep_slurm.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/files.h"

/* s in single quotes for sh: each ' becomes '\''. */
static void sh_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

/* What the script says, with the paths it needs made absolute. */
struct script {
	const struct sweep *sw;
	const char *exe, *file, *dir, *path, *plugin_path;
};

static int write_script(FILE *f, const void *data, struct error *e)
{
	const struct script *sc = data;
	const struct sweep *sw = sc->sw;
	size_t runs = sweep_num_runs(sw);
	(void)e;
	fprintf(f, "#!/bin/sh\n");
	fprintf(f, "#SBATCH --job-name=lethe-%s\n", sw->name);
	fprintf(f, "#SBATCH --array=0-%zu\n", runs - 1);
	fprintf(f, "#SBATCH --cpus-per-task=1\n");
	fprintf(f, "#SBATCH --output=%s/slurm-%%A_%%a.out\n", sc->dir);
	fprintf(f, "#\n# lethe sweep %s: %zu runs (%zu settings x %zu seeds) of %s,\n", sw->name,
		runs, sw->num_settings, sw->num_seeds, sw->base);
	fprintf(f, "# one array task each. Submit with\n#     sbatch %s\n", sc->path);
	fprintf(f, "# (sbatch --array=0-%zu%%8 ... runs at most 8 at a time), and when every task "
		"has ended\n#     %s sweep --summary %s\n", runs - 1, sc->exe, sc->dir);
	fprintf(f, "# A task whose run is complete does nothing: submit again to finish what "
		"failed.\n\n");
	fprintf(f, "exec ");
	sh_quote(f, sc->exe);
	fprintf(f, " sweep ");
	sh_quote(f, sc->file);
	fprintf(f, " --out ");
	sh_quote(f, sc->dir);
	if (sc->plugin_path) {
		fprintf(f, " --plugin-path ");
		sh_quote(f, sc->plugin_path);
	}
	fprintf(f, " --only \"$SLURM_ARRAY_TASK_ID\"\n");
	return ferror(f) ? -1 : 0;
}

int sweep_slurm_write(const struct sweep *sw, const char *sweep_file, const char *out,
		      const char *plugin_path, struct error *e)
{
	char exe[PATH_MAX], file[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return error_set(e, "/proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	if (!realpath(sweep_file, file))
		return error_set(e, "%s: %s", sweep_file, strerror(errno));
	if (!realpath(out, dir))
		return error_set(e, "%s: %s", out, strerror(errno));
	snprintf(path, sizeof(path), "%s/sweep.slurm", dir);
	struct script sc = { sw, exe, file, dir, path, plugin_path };
	/* Executable: sbatch takes it as it is, and so does a shell. */
	return files_replace(dir, "sweep.slurm", 0777, write_script, &sc, e);
}
