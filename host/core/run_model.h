/* The model a results directory holds, for lethe export and for the tests that run it
 * elsewhere: DIR/scenario.ini (which every run writes) says what the model is, and
 * DIR/checkpoint.lethe holds its weights and batch norm's statistics, as the run last saved
 * them: after its last step (and that step's forget steps) when finished. No plugin is loaded,
 * and the data's pixels are read only when asked for: the model's shape needs its labels and
 * sizes alone. */
#ifndef LETHE_RUN_MODEL_H
#define LETHE_RUN_MODEL_H

#include <stddef.h>

#include "data/dataset.h"
#include "data/tasks.h"
#include "model/model.h"
#include "scenario/scenario.h"
#include "util/error.h"

struct run_model {
	struct scenario s;
	struct dataset train, test;
	struct task_list tasks;
	struct model model;
	size_t steps_done; /* of tasks.count */
	int in_step;	   /* the checkpoint is within step steps_done + 1 */
};

/* Opens the run in dir into r (calloc'd by the caller: it is large), the test and training
 * pixels too when pixels is nonzero. -1 with one line naming the file at fault and why (no
 * scenario.ini: not a run; no checkpoint.lethe: a run that kept none; a checkpoint of
 * another model). run_model_close frees r either way. */
int run_model_open(struct run_model *r, const char *dir, int pixels, struct error *e);
void run_model_close(struct run_model *r);

#endif
