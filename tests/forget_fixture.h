/* A small synthetic scenario for the unlearning plugins' suites: 4 noisy classes in 2
 * class-incremental tasks, learned jointly by an MLP that partly memorises its training
 * samples (training accuracy above test accuracy), so that forgetting a random subset shows:
 * the subset's accuracy falls towards the test accuracy. The plugin is loaded from the build
 * tree and its unlearn hook called by hand, as a forget step would. */
#ifndef LETHE_FORGET_FIXTURE_H
#define LETHE_FORGET_FIXTURE_H

#include <stdint.h>

#include "core/engine.h"
#include "scenario/scenario.h"

#define FIXTURE_IDS_MAX 512

struct fixture {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;
	uint64_t ids[FIXTURE_IDS_MAX];
	lethe_forget_request req;
};

/* Opens the scenario with `plugin` and its section's lines `params` (model NULL for the MLP,
 * else a [model] line: layers = ...): engine_open's result, its error in f->err. */
int fixture_open(struct fixture *f, const char *plugin, const char *params, const char *model);
/* Opens the scenario as fixture_open and learns it. */
void fixture_learn(struct fixture *f, const char *plugin, const char *params, const char *model);
void fixture_close(struct fixture *f);
/* f->req: every `every`-th training sample of task `task` (0-based), two tasks learned. */
void fixture_request_samples(struct fixture *f, uint32_t task, size_t every);
/* f->req: every training sample of both tasks. */
void fixture_request_all(struct fixture *f);
/* Calls the plugin's unlearn on f->req; its error, if any, in fixture_error. */
int fixture_unlearn(struct fixture *f);
const char *fixture_error(const struct fixture *f);
/* The model's accuracy on the request's samples, and on the test split. */
double fixture_forget_accuracy(struct fixture *f);
double fixture_test_accuracy(struct fixture *f);
/* A figure the plugin reported; NaN when it reported none by that key. */
double fixture_reported(const struct fixture *f, const char *key);

#endif
