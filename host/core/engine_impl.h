/* The engine's private part: what the files it is split into share. engine.c runs the steps,
 * engine_forget.c the forget steps, engine_plugins.c the plugins and their hooks,
 * engine_checkpoint.c the checkpoints. Nothing but core/engine*.c includes this. */
#ifndef LETHE_ENGINE_IMPL_H
#define LETHE_ENGINE_IMPL_H

#include <stdint.h>
#include <time.h>

#include "core/engine.h"
#include "util/elapsed.h"

/* ---- engine.c ---- */

/* Sends ev to the sinks, stamped with where the run stands. */
void engine_emit(struct engine *e, struct event *ev);

/* engine_open; with `data` an engine of the same scenario, on its train and test sets. */
int engine_open_on(struct engine *e, const struct scenario *s, const struct plugin_path *pp,
		   const struct engine *data, struct error *err);

/* Learns step `step` (engine.c says how a resumed step picks up): 0, -1 on an error,
 * ENGINE_STOPPED when the control asked to quit. */
int engine_learn_step(struct engine *e, size_t step, struct error *err);

/* The training batches of steps 1..steps. */
uint64_t engine_count_batches(const struct engine *e, size_t steps);

/* Names the curves' own series in e->curves, which must have none yet. */
int engine_curves_names(struct engine *e, struct error *err);

/* Recomputes the tasks' lethe_task_info after their training lists changed. */
void engine_refresh_tasks(struct engine *e);

/* Makes room in e->order for a step of n samples. */
int engine_reserve_order(struct engine *e, size_t n, struct error *err);

/* Makes the training batch hold batch_size plus every plugin's reserved rows. */
int engine_reserve_batch(struct engine *e, struct error *err);

/* ---- engine_plugins.c ---- */

/* The plugins' files and parameter values (what the memory estimate reads), then their
 * instances. */
int engine_plugins_open(struct engine *e, const struct plugin_path *pp, struct error *err);
int engine_plugins_create(struct engine *e, struct error *err);

/* Every plugin's on_predict, in the scenario's order, on the logits of n test rows x of task
 * `task` (mask: the class mask the argmax takes, or NULL): 0, or -1 with err naming the plugin
 * that failed or left logits that are not finite. Timed with the evaluation. */
int engine_plugins_predict(struct engine *e, uint32_t task, const float *x, size_t n,
			   const uint8_t *mask, float *logits, struct error *err);

/* The plugin of a scenario section, or NULL. */
struct engine_plugin *engine_plugin_named(struct engine *e, const char *section);

/* The epochs at the end of a step that train the head alone: the most any plugin asks for. */
size_t engine_plugins_head_epochs(struct engine *e, const lethe_task_info *info);

/* A hook's name as metrics.json spells it. */
const char *engine_hook_name(enum engine_hook h);

/* What every hook call goes through: a failure turned into a message naming the plugin and
 * the hook, its time, and the guards on what it may break (the parameters before the first
 * plugin's hook, what each hook may change after it). */
int engine_hook_result(struct engine_plugin *p, const char *hook, int rc, struct error *err);
void engine_hook_timed(struct engine *e, struct engine_plugin *p, enum engine_hook h,
		       const struct timespec *t0);
int engine_params_finite(const struct engine *e, struct error *err);
int engine_guard_before(const struct engine *e, enum engine_hook id, struct error *err);
int engine_guard_after(const struct engine *e, const struct engine_plugin *p,
		       enum engine_hook id, struct error *err);

/* Calls hook `name` (enum engine_hook `id`) of every plugin that has it, in the scenario's
 * order, and returns -1 from the caller on the first failure (err says which plugin). */
#define CALL_HOOKS(e, err, id, name, ...)                                                     \
	do {                                                                                  \
		int first_ = 1;                                                               \
		for (size_t i_ = 0; i_ < (e)->num_plugins; i_++) {                            \
			struct engine_plugin *p_ = &(e)->plugins[i_];                         \
			if (!p_->hooks.name)                                                  \
				continue;                                                     \
			if (first_ && engine_guard_before((e), (id), (err)) != 0)             \
				return -1;                                                    \
			first_ = 0;                                                           \
			services_enter(&p_->svc);                                             \
			struct timespec t_;                                                   \
			clock_gettime(CLOCK_MONOTONIC, &t_);                                  \
			int rc_ = p_->hooks.name(p_->inst, __VA_ARGS__);                      \
			engine_hook_timed((e), p_, (id), &t_);                                \
			if (engine_hook_result(p_, #name, rc_, (err)) != 0 ||                 \
			    engine_guard_after((e), p_, (id), (err)) != 0)                    \
				return -1;                                                    \
		}                                                                             \
	} while (0)

/* Every plugin's state at once: states[i] (sizes[i] bytes) is plugin i's framed record. Each
 * goes into a fresh instance, and the fresh instances replace the plugins' only if every one
 * loads; otherwise the plugins, their random streams, reservations and figures stay as they
 * were. */
int engine_plugins_restore(struct engine *e, const void *const *states, const size_t *sizes,
			   struct error *err);

/* Plugin i set aside so that a hook can run on a fork of it and leave the run's plugin as it
 * was: the live instance stands aside for a fresh one loaded from its save, and its host-side
 * records (random stream, reserved rows, figures, hook times) are kept to be put back. */
/* What a plugin's create and load may change of the host's side of it. */
struct services_snapshot {
	struct rng rng;
	size_t reserved;
	struct services_metric metrics[SERVICES_METRICS_MAX];
	size_t num_metrics;
};

struct engine_fork {
	lethe_plugin *live;
	struct services_snapshot svc;
	uint64_t reports;
	double hook_seconds[HOOK_COUNT];
};

/* Makes a fork of plugin i take its hooks, its random stream where the live one's stands (on
 * failure the live instance keeps them); engine_plugin_join puts the live one back and
 * destroys the fork. */
int engine_plugin_fork(struct engine *e, size_t i, struct engine_fork *k, struct error *err);
void engine_plugin_join(struct engine *e, size_t i, const struct engine_fork *k);

/* ---- engine_forget.c ---- */

/* Points e->unlearn at e's data and tasks, its progress and warnings at e's sinks, and keeps
 * the tasks' training lists as they are (e->original_train). */
int engine_forget_init(struct engine *e, struct error *err);

/* A forget step's plugin must be an unlearning one: found when the run opens, not after hours
 * of training. */
int engine_forget_check(struct engine *e, struct error *err);

#endif
