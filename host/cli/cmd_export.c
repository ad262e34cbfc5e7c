/* lethe export DIR --out FILE.safetensors: a run's model, for PyTorch and back. */
#include "cli/cmd.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/run_model.h"
#include "model/safetensors.h"
#include "util/status.h"

static const char export_help[] =
	"usage: lethe export DIR --out FILE.safetensors [--quiet]\n"
	"\n"
	"Writes the model of the run in DIR (its scenario.ini and checkpoint.lethe) as\n"
	"safetensors: little-endian F32 tensors named and shaped as the state_dict of\n"
	"PyTorch's nn.Sequential of the same layers (one module per item of the layers;\n"
	"batch norm's running statistics included), the layers, input shape and class\n"
	"list (\"0\", \"1\", ...) in the header's metadata. The model is the checkpoint's:\n"
	"a finished run's after its last step and that step's forget steps; an\n"
	"unfinished run's as it last saved it, said on one line. [model] init =\n"
	"FILE.safetensors starts a run from such a file.\n"
	"\n"
	"  --out FILE   the file to write, replaced whole\n"
	"  --quiet      print warnings and errors only\n"
	"\n"
	"Exit status: 0 written, 1 FILE could not be written, 2 bad usage or input (DIR\n"
	"not a run, or one that kept no checkpoint).\n";

static int exec_export(const struct args *a)
{
	const char *dir = a->positional[0], *out = args_get(a, "--out");
	if (!out)
		return args_error(a->spec, "needs --out FILE.safetensors");
	struct run_model *r = calloc(1, sizeof(*r));
	struct error e;
	int status = STATUS_OK;
	if (!r) {
		fprintf(stderr, "lethe: out of memory\n");
		return STATUS_RUN_FAILED;
	}
	if (run_model_open(r, dir, 0, &e) != 0) {
		fprintf(stderr, "lethe: %s\n", e.msg);
		status = STATUS_BAD_INPUT;
	} else if (safetensors_write(&r->model, NULL, out, &e) != 0) {
		fprintf(stderr, "lethe: %s\n", e.msg);
		status = STATUS_RUN_FAILED;
	} else {
		size_t T = r->tasks.count;
		if (r->steps_done < T || r->in_step)
			fprintf(stderr, "lethe: %s: the run is unfinished (%zu of %zu steps done): "
				"wrote the model of its last checkpoint to %s\n", dir,
				r->steps_done, T, out);
		else if (!args_has(a, "--quiet"))
			fprintf(stderr, "lethe: wrote %s\n", out);
	}
	run_model_close(r);
	free(r);
	return status;
}

static const struct args_option export_options[] = {
	{ "--out", ARGS_VALUE },
	{ "--quiet", ARGS_FLAG },
	{ NULL, ARGS_FLAG },
};

const struct cmd_entry cmd_export_entry = {
	.name = "export",
	.args = { "export", export_options, 1, 1, "needs a run's results directory" },
	.help = export_help,
	.exec = exec_export,
};
