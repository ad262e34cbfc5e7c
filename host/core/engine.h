/* The engine: steps the model through the scenario's tasks, calls the plugins' hooks, evaluates
 * every task after every step, and tells its sinks (progress line, dashboard, tests) what
 * happens. It knows nothing of terminals. */
#ifndef LETHE_ENGINE_H
#define LETHE_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <lethe/plugin.h>

#include "core/memory.h"
#include "core/plugin_loader.h"
#include "core/services.h"
#include "core/unlearn.h"
#include "data/dataset.h"
#include "data/tasks.h"
#include "model/model.h"
#include "model/sgd.h"
#include "results/curves.h"
#include "results/results.h"
#include "scenario/scenario.h"
#include "util/error.h"
#include "util/rng.h"

enum event_kind {
	EVENT_RUN_START,  /* before the untrained evaluation */
	EVENT_STEP_START, /* step begins */
	EVENT_BATCH,      /* after every optimiser step */
	EVENT_EPOCH_EVALUATED, /* every task evaluated after an epoch but a step's last */
	EVENT_STEP_END,   /* the step's row of the accuracy matrix is known */
	EVENT_FORGET_PROGRESS, /* a batch of a forget step's reference training (retrain, ...) */
	EVENT_FORGET_END, /* a forget step finished: its figures are in the unlearning list */
	EVENT_RUN_END,    /* every step finished */
	EVENT_LOG         /* a message from the engine or a plugin */
};

struct event {
	enum event_kind kind;
	const struct engine *engine;
	size_t step;	      /* 0-based */
	size_t epoch;	      /* 0-based, within the step */
	size_t batch;	      /* 0-based, within the epoch */
	size_t batches;	      /* per epoch of this step */
	uint64_t batches_done;
	uint64_t batches_total;
	uint64_t samples_done; /* training samples processed in the run so far */
	double loss;	      /* of the last batch */
	double elapsed;	      /* seconds since the run started */
	uint64_t reference_done;  /* EVENT_FORGET_PROGRESS: the reference's batches so far, */
	uint64_t reference_total; /* of so many at most (gradient ascent may stop sooner) */
	const char *source;   /* EVENT_LOG: "lethe" or the plugin's name; EVENT_FORGET_PROGRESS:
			       * the reference method */
	lethe_log_level level;
	const char *msg;
	const double *accuracy; /* EVENT_EPOCH_EVALUATED: per task */
};

struct sink {
	void (*event)(void *ctx, const struct event *ev);
	void *ctx;
};

/* What a front end (the dashboard, a test) asks of a running engine. */
enum engine_request {
	ENGINE_REQ_NONE,   /* nothing: go on */
	ENGINE_REQ_WRITE,  /* write the results so far */
	ENGINE_REQ_FORGET, /* forget a task's classes now (see engine_forget_now) */
	ENGINE_REQ_QUIT	   /* stop: write the results of what finished, engine_run returns
			      ENGINE_STOPPED */
};

/* Polled after every batch and between steps, repeatedly until it returns ENGINE_REQ_NONE. It
 * may block, which is how a pause works; it must not call into the engine. *task receives the
 * 0-based task of an ENGINE_REQ_FORGET. */
struct engine_control {
	enum engine_request (*poll)(void *ctx, struct engine *e, size_t *task);
	void *ctx;
};

/* engine_run's return when a control asked it to quit. */
#define ENGINE_STOPPED 1

/* Where a run's time goes; disjoint, so they sum to about the run's wall time. Hooks called
 * inside forget steps count as forget. */
enum engine_phase {
	PHASE_TRAIN,	  /* forward, loss, backward, optimiser: the training loop less hooks */
	PHASE_EVALUATE,	  /* the accuracy matrix */
	PHASE_HOOKS,	  /* plugins' hooks while learning */
	PHASE_FORGET,	  /* forget steps, their references and measurements */
	PHASE_CHECKPOINT, /* writing results and checkpoints */
	PHASE_COUNT
};

enum engine_hook {
	HOOK_BEFORE_TASK,
	HOOK_BEFORE_EPOCH,
	HOOK_ON_BATCH,
	HOOK_ON_LOGITS,
	HOOK_ON_GRADIENT,
	HOOK_AFTER_BATCH,
	HOOK_AFTER_TASK,
	HOOK_ON_FORGET,
	HOOK_UNLEARN,
	HOOK_COUNT
};

#define ENGINE_SINKS_MAX 4
/* Forget steps a run can hold: the scenario's and those asked for while it runs. */
#define ENGINE_UNLEARNING_MAX (2 * SCENARIO_FORGETS_MAX)

struct engine_plugin {
	struct plugin_file file;
	const char *section;
	lethe_param_value *values;
	lethe_plugin *inst;
	lethe_plugin hooks; /* zero-extended copy of the instance's table */
	lethe_host host;
	struct services_ctx svc;
	double hook_seconds[HOOK_COUNT];
};

/* Where the learning step under way stands: what a checkpoint records of it, and where a
 * resumed step picks up. */
struct engine_position {
	size_t epoch;	  /* 0-based */
	size_t pos;	  /* samples of the epoch's order trained on */
	size_t batch;	  /* batches of the epoch done */
	size_t batches;	  /* batches in every epoch of the step */
	size_t n;	  /* samples in the step's order */
	size_t head_from; /* the first head-only epoch */
	int shuffled;	  /* the epoch's before_epoch ran and its order is drawn */
};

struct engine {
	const struct scenario *s;
	const struct plugin_path *pp; /* borrowed from engine_open: the retrain reference reopens */
	struct dataset train, test;
	int borrowed_data; /* train and test are another engine's (the retrain reference's are) */
	struct task_list tasks;
	lethe_run_info run_info;
	lethe_task_info task_info[TASKS_MAX];
	size_t num_classes;

	struct model model;   /* training mode only for its training batches' forwards */
	struct model initial; /* the model's initial weights: retrain starts from them */
	struct sgd opt;
	struct rng rng; /* shuffling */
	struct rng aug; /* training augmentation (tasks_convert_train), stream 2 */

	size_t num_plugins;
	struct engine_plugin plugins[SCENARIO_PLUGINS_MAX];
	struct services_env services; /* what the plugins' services serve from */
	int in_batch;	  /* per-batch hooks running: no allocation allowed */
	int in_step;	  /* a learning step is under way (engine_forget_now counts it learned) */
	int order_stale;  /* a forget mid-step took samples the step's order still holds */

	size_t num_sinks;
	struct sink sinks[ENGINE_SINKS_MAX];

	/* Training buffers, sized once per step; nothing is allocated per batch. */
	lethe_batch batch;
	size_t batch_capacity;
	float *x, *logits, *dlogits;
	int32_t *y;
	uint32_t *row_task;
	uint64_t *ids;
	const uint8_t **masks;
	uint64_t *order; /* (task << 32) | position of every sample of the step */
	size_t order_cap;
	struct engine_position at;

	/* Results so far. R and b are num_tasks x num_tasks and num_tasks. */
	double *R, *b, *step_seconds;
	double *confusion; /* per step: inter-task confusion (class-incremental), else NaN */
	uint64_t *class_confusion; /* per step: num_classes^2 test predictions, row the true
				    * class, column the predicted one */
	uint8_t *class_confusion_known; /* per step: 0 before a resume from an older checkpoint */
	float *eval_x, *eval_logits; /* evaluation's buffers, from the first on */
	int32_t *eval_y;
	int *eval_owner;
	struct curves curves;	   /* curves.csv so far: "loss" is name 0, task j's accuracy
				    * name 1 + j */
	size_t rows_done;
	struct timespec t0, step_t0;
	double total_seconds;
	uint64_t batches_done, batches_total, samples_done;
	size_t step;

	/* The forget steps done, in order: the scenario's and those asked for at run time, whose
	 * descriptions live in asked[]. */
	size_t num_unlearning;
	struct results_unlearning unlearning[ENGINE_UNLEARNING_MAX];
	size_t num_asked;
	struct scenario_forget asked[ENGINE_UNLEARNING_MAX];
	struct unlearn_env unlearn; /* what the forget steps' measures and references read */
	/* Every task's training positions as the run opened, one block in task order: what a
	 * sequence of forget steps has removed so far is these less the tasks' lists. */
	uint32_t *original_train;
	size_t original_count[TASKS_MAX];

	struct engine_control control;
	const char *out_dir;	/* engine_run's, for a control's write request and checkpoints */
	double phase_seconds[PHASE_COUNT];

	int resumed;		  /* engine_resume restored a run: engine_run continues it */
	int resume_step;	  /* ... from the middle of step `step`, where `at` stands */
	char resumed_kernel[64];  /* the BLAS kernel that wrote the checkpoint ("": unknown) */
	uint64_t checkpoint_batches; /* batches_done at the last checkpoint */
	const struct provenance *provenance; /* the front end's, written with the results */
};

/* Loads the data, builds the tasks and the model, loads and creates the plugins (checking each
 * one's INI section against its parameters). pp is the plugin search path. */
int engine_open(struct engine *e, const struct scenario *s, const struct plugin_path *pp,
		struct error *err);
int engine_add_sink(struct engine *e, void (*fn)(void *ctx, const struct event *ev), void *ctx);

void engine_set_control(struct engine *e, const struct engine_control *c);

/* Restores the run in DIR from its last checkpoint (DIR/checkpoint.lethe) into an engine just
 * opened on the same scenario, so that engine_run continues where it stopped. A missing,
 * corrupt, truncated or foreign checkpoint is refused with a message naming the file and the
 * cause, and the engine is left as opened. */
int engine_resume(struct engine *e, const char *dir, struct error *err);

/* Writes e's state to DIR/checkpoint.lethe (checkpoint.h), replacing the file only once the
 * new one is whole on disk; on failure the previous checkpoint stays, and the message says so.
 * engine_run calls it (see there); a test may too. */
int engine_checkpoint(struct engine *e, const char *dir, struct error *err);

/* After engine_resume, for the user: into buf, where it resumes ("resuming DIR from step 2/5,
 * epoch 1/2, after batch 120/188"). */
void engine_resume_note(const struct engine *e, const char *dir, char *buf, size_t size);

/* After engine_resume: into buf, the one-line warning that the checkpoint was written under
 * another OpenBLAS kernel than now (so the resumed run's results will differ in their last bits
 * from an uninterrupted run's), and 1; 0 when the kernels agree or the checkpoint (format 1)
 * does not say. */
int engine_kernel_warning(const struct engine *e, const char *now, char *buf, size_t size);

/* Runs every step and writes DIR/metrics.json and DIR/accuracy.csv after each. On an error the
 * results of the finished steps stay on disk. out_dir may be NULL (no files). Returns 0, -1 on
 * an error, or ENGINE_STOPPED when the control asked to quit (the results then say
 * "complete": false).
 *
 * Unless train.checkpoint_every is -1 it also writes DIR/checkpoint.lethe (engine_checkpoint):
 * after every step (its forget steps and results included), every checkpoint_every batches
 * within a step, after a forget asked for at run time, and when the control asks to quit. A
 * checkpoint that cannot be written stops the run with an error; the previous one stays whole.
 * After engine_resume the run continues from the checkpoint and ends as an uninterrupted one
 * would, bit for bit; a checkpoint of a finished run only has its results written again. */
int engine_run(struct engine *e, const char *out_dir, struct error *err);

/* Forgets task `task`'s classes now (the task itself where tasks share their classes, as in
 * domain-incremental scenarios), as a forget step with the scenario's unlearning plugin: the
 * plugin and references of its first [forgetN] section, else the first plugin with an unlearn
 * hook and the retrain reference. Returns 0 and emits EVENT_FORGET_END when done; 1, with a
 * warning logged and nothing changed, when the request cannot be met (no unlearning plugin,
 * the task not learned yet, too many forget steps); -1 on an error that stops the run. */
int engine_forget_now(struct engine *e, size_t task, struct error *err);

/* A forget request: every plugin's on_forget hears it, then the covered samples leave the
 * tasks' training data, so no later step (joint included) trains on them. */
int engine_forget(struct engine *e, const lethe_forget_request *req, struct error *err);

/* A scenario's forget step: builds the request and its sets, runs the asked-for reference
 * methods on copies, then the named plugin's unlearn on the model (while the data is still
 * there), then engine_forget, and measures the result; the figures join e->unlearning.
 * Returns 0, -1 on an error, or 1 with a warning logged when what it names was already forgotten
 * at run time (engine_forget_now), so there is nothing left to forget. */
int engine_forget_step(struct engine *e, const struct scenario_forget *f, struct error *err);

/* Evaluates the model on every task: acc[j] for j < num_tasks. confusion, if not NULL,
 * receives the inter-task confusion over every task's test samples: the fraction of errors whose
 * predicted class belongs to another task than the true one (a class of no task counts as
 * another), or NaN when there is no error or the protocol is not class-incremental. counts, if
 * not NULL, receives the num_classes x num_classes confusion matrix of every task's test
 * samples (row: the true class; column: the prediction, as the accuracy counts it). */
int engine_evaluate(struct engine *e, double *acc, double *confusion, uint64_t *counts,
		    struct error *err);

/* A plugin's state through its save/load hooks, as one framed record (state version, length,
 * bytes) in f: what checkpoints are made of. */
int engine_plugin_save(struct engine *e, size_t i, FILE *f, struct error *err);
int engine_plugin_load(struct engine *e, size_t i, FILE *f, struct error *err);

/* Sends a log event from `source` to the sinks. */
void engine_log(struct engine *e, const char *source, lethe_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The run's peak memory as engine_open estimated it before admitting it (memory.h). */
void engine_estimate_memory(const struct engine *e, struct memory_estimate *m);

void engine_close(struct engine *e);

#endif
