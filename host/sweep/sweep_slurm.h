/* `lethe sweep SWEEP.ini --out DIR --emit-slurm`: DIR/sweep.slurm, a Slurm job array of one
 * task per run, each task `lethe sweep SWEEP.ini --out DIR --only $SLURM_ARRAY_TASK_ID`. */
#ifndef LETHE_SWEEP_SLURM_H
#define LETHE_SWEEP_SLURM_H

#include "util/error.h"
#include "sweep/sweep_file.h"

/* Writes OUT/sweep.slurm (executable). sweep_file, out and the lethe binary are written as
 * absolute paths, so the script runs from any directory; plugin_path may be NULL. */
int sweep_slurm_write(const struct sweep *sw, const char *sweep_file, const char *out,
		      const char *plugin_path, struct error *e);

#endif
