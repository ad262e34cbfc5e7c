/* DIR/plan.json: the sweep a directory holds (name, sweep file, base scenario, seeds, and each
 * setting's label, folder and values), written when a sweep starts, so that `lethe sweep
 * --summary DIR` can collect the runs without the sweep file, and a later sweep into the same
 * directory can be checked against it. */
#ifndef LETHE_SWEEP_PLAN_H
#define LETHE_SWEEP_PLAN_H

#include "util/error.h"
#include "sweep/sweep_file.h"

int sweep_plan_write(const struct sweep *sw, const char *out, struct error *e);

/* Fills sw from OUT/plan.json (value lines are 0). */
int sweep_plan_read(struct sweep *sw, const char *out, struct error *e);

#endif
