#include "core/run_model.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/checkpoint.h"
#include "results/results.h"

static int dir_file(const char *dir, const char *name, char *out, size_t size, struct error *e)
{
	if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
		return error_set(e, "%s/%s: %s", dir, name, strerror(ENAMETOOLONG));
	return 0;
}

/* Where the run stands is the checkpoint's; the model's weights go into r->model. */
static int take_model(struct run_model *r, const struct checkpoint_view *v, struct error *e)
{
	const struct model *m = &r->model;
	if (v->num_tasks != r->tasks.count || v->num_params != m->num_params ||
	    v->state.count != m->num_state)
		return error_set(e, "made for %llu tasks, %llu parameters and %llu values of batch "
				 "norm's statistics; the run's scenario.ini has %zu, %zu and %zu",
				 (unsigned long long)v->num_tasks, (unsigned long long)v->num_params,
				 (unsigned long long)v->state.count, r->tasks.count,
				 m->num_params, m->num_state);
	if (v->params.count)
		memcpy(r->model.params, v->params.data, v->params.count * sizeof(float));
	if (v->state.count)
		memcpy(r->model.state, v->state.data, v->state.count * sizeof(float));
	r->steps_done = v->steps_done;
	r->in_step = v->in_step;
	return 0;
}

static int read_checkpoint(struct run_model *r, const char *path, struct error *e)
{
	size_t size;
	unsigned char *data = checkpoint_read(path, &size, e);
	if (!data)
		return -1;
	struct checkpoint_view *v = malloc(sizeof(*v));
	int rc = !v ? error_set(e, "%s: out of memory", path)
	       : checkpoint_parse(data, size, v, e) != 0 || take_model(r, v, e) != 0
		       ? error_prefix(e, "%s", path)
		       : 0;
	free(v);
	free(data);
	return rc;
}

int run_model_open(struct run_model *r, const char *dir, int pixels, struct error *e)
{
	char scenario[PATH_MAX], checkpoint[PATH_MAX];
	struct stat st;
	if (dir_file(dir, RESULTS_SCENARIO, scenario, sizeof(scenario), e) != 0 ||
	    dir_file(dir, RESULTS_CHECKPOINT, checkpoint, sizeof(checkpoint), e) != 0)
		return -1;
	if (stat(dir, &st) != 0)
		return error_set(e, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_set(e, "%s: not a directory", dir);
	if (stat(scenario, &st) != 0)
		return error_set(e, "%s: no %s: not a run's results directory", dir,
				 RESULTS_SCENARIO);
	if (scenario_load(&r->s, scenario, NULL, 0, e) != 0)
		return -1;
	if (stat(checkpoint, &st) != 0)
		return error_set(e, "%s: no %s: the run kept no model (train.checkpoint_every = "
				 "-1, or it stopped before its first checkpoint)", dir,
				 RESULTS_CHECKPOINT);
	if (scenario_open_data(&r->s, &r->train, &r->test, &r->tasks, e) != 0)
		return -1;
	size_t classes = (size_t)(r->test.num_classes > r->train.num_classes
					  ? r->test.num_classes
					  : r->train.num_classes);
	struct model_shape in = { r->train.channels, r->train.rows, r->train.cols };
	if (scenario_check_model(&r->s, in, classes, e) != 0 ||
	    model_build(&r->model, &r->s.model, in, classes, e) != 0 ||
	    read_checkpoint(r, checkpoint, e) != 0)
		return -1;
	return pixels ? scenario_read_data(&r->s, &r->train, &r->test, e) : 0;
}

void run_model_close(struct run_model *r)
{
	model_free(&r->model);
	tasks_free(&r->tasks);
	dataset_free(&r->train);
	dataset_free(&r->test);
	scenario_free(&r->s);
}
