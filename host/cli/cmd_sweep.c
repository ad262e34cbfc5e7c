/* lethe sweep: a grid of settings over seeds (sweep/sweep.h runs it), or the summary of one. */
#include "cli/cmd.h"

#include <stdio.h>

#include "sweep/sweep.h"
#include "util/status.h"

static const char sweep_help[] =
	"usage: lethe sweep SWEEP.ini --out DIR [--jobs N] [--quiet] [--plugin-path D]\n"
	"       lethe sweep SWEEP.ini --out DIR --emit-slurm | --only INDEX\n"
	"       lethe sweep --summary DIR\n"
	"\n"
	"Runs every setting of SWEEP.ini with every seed, each a `lethe run` of its own\n"
	"in DIR/runs/SETTING/seed-S (its messages in run.log there), then writes\n"
	"summary.json and summary.csv in DIR: per setting, mean and standard deviation\n"
	"over the seeds. Every setting is checked before anything runs. The same command\n"
	"again skips the finished runs and resumes the others.\n"
	"\n"
	"  --out DIR           where the runs and the summary go (required)\n"
	"  --jobs N            runs at a time (default: the online cores; under mpirun,\n"
	"                      1 per rank)\n"
	"  --quiet             no progress, no table: failures and errors only\n"
	"  --plugin-path DIRS  passed on to every run\n"
	"  --emit-slurm        write DIR/sweep.slurm: a Slurm job array, a task a run\n"
	"  --only INDEX        run run INDEX alone (0-based; what an array task does)\n"
	"  --summary DIR       collect DIR's runs again, rewrite the summary, print it\n"
	"\n"
	"Under mpirun (mpirun -n K lethe sweep ...) rank 0 deals the runs to the ranks.\n"
	"Exit status: 0 every run succeeded, 1 some failed (or did not run), 2 bad usage\n"
	"or input (nothing ran). See docs/sweeps.md.\n";

static void sweep_help_more(FILE *f)
{
	fprintf(f, "MPI: %s.\n", sweep_has_mpi() ? "built in" : "not built in (configure "
		"--with-mpi)");
}

static int exec_sweep(const struct args *a)
{
	const struct args_spec *spec = a->spec;
	struct sweep_request r = {
		.file = a->num_positional ? a->positional[0] : NULL,
		.out = args_get(a, "--out"),
		.plugin_path = args_get(a, "--plugin-path"),
		.quiet = args_has(a, "--quiet"),
		.emit_slurm = args_has(a, "--emit-slurm"),
	};
	const char *summary = args_get(a, "--summary");
	if (args_whole(a, "--jobs", 1, 0, &r.jobs) != 0 ||
	    args_whole(a, "--only", 0, -1, &r.only) != 0)
		return STATUS_BAD_INPUT;
	if (summary && (r.file || r.out))
		return args_error(spec, "--summary takes only the directory");
	if (!summary && !r.file)
		return args_error(spec, "no sweep file given");
	if (!summary && !r.out)
		return args_error(spec, "--out DIR is needed: where the runs and the summary go");
	if (r.emit_slurm && r.only >= 0)
		return args_error(spec, "--emit-slurm and --only do not mix");
	return summary ? sweep_summarise(summary, r.quiet) : sweep_run(&r);
}

static const struct args_option sweep_options[] = {
	{ "--out", ARGS_VALUE },	 { "--jobs", ARGS_VALUE },  { "--only", ARGS_VALUE },
	{ "--plugin-path", ARGS_VALUE }, { "--summary", ARGS_VALUE }, { "--quiet", ARGS_FLAG },
	{ "--emit-slurm", ARGS_FLAG },	 { NULL, ARGS_FLAG },
};

const struct cmd_entry cmd_sweep_entry = {
	.name = "sweep",
	.args = { "sweep", sweep_options, 0, 1, NULL },
	.help = sweep_help,
	.help_more = sweep_help_more,
	.exec = exec_sweep,
};
