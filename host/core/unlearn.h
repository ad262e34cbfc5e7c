/* Unlearning evaluation: the figures of a model after a forget request (UA, RA, TA,
 * MIA-efficacy, relearn time) and the reference methods it is compared with (retrain from
 * scratch, fine-tune, gradient ascent, random labels), SalUn and SCRUB conventions. Works on
 * models and data the engine hands it (struct unlearn_env), never on the engine itself. */
#ifndef LETHE_UNLEARN_H
#define LETHE_UNLEARN_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/host.h>

#include "data/dataset.h"
#include "data/tasks.h"
#include "model/model.h"
#include "results/metrics.h"
#include "scenario/scenario.h"
#include "util/error.h"

/* What the measures and references read of a run, and whom they tell of their progress. */
struct unlearn_env {
	const struct dataset *train, *test;
	const struct task_list *tasks;
	size_t num_classes;
	lethe_protocol protocol;
	/* A reference method trained its done-th batch of at most total: a reference can take as
	 * long as the run before it, and a front end must not look hung. May be NULL. */
	void (*progress)(void *ctx, const char *reference, uint64_t done, uint64_t total);
	/* A warning for the run's log. May be NULL. */
	void (*warn)(void *ctx, const char *msg);
	/* The plugins' prediction (may be NULL): the logits of n rows x of task k on the model
	 * predict_model, rewritten as the run's evaluation scores them (on_predict), so that the
	 * measures of predict_model see what its plugins predict (iCaRL's nearest means). */
	int (*predict)(void *ctx, uint32_t task, const float *x, size_t n, float *logits,
		       struct error *err);
	const struct model *predict_model;
	void *ctx;
};

/* The samples a forget request splits the run into. Training samples are named by their SDK
 * ids ((task << 32) | dataset position, see tasks_sample_id); test samples the same way with
 * the test split's positions (no LETHE_TEST_ID bit here). Every list is sorted ascending. */
struct forget_sets {
	uint64_t *forget;	/* D_f: the training samples the request covers */
	size_t num_forget;
	uint64_t *retain;	/* D_r: every other training sample of the tasks learned so far */
	size_t num_retain;
	uint64_t *test;		/* for TA: test samples of the tasks learned so far, less those of
				 * forgotten classes for a class request */
	size_t num_test;
	uint64_t *forget_test;	/* test samples of the forgotten classes (class requests), else
				 * none */
	size_t num_forget_test;
};

void unlearn_sets_free(struct forget_sets *fs);

struct unlearn_spec {
	size_t retrain_epochs;	 /* epochs over D_r for retrain */
	size_t finetune_epochs;	 /* epochs for finetune and random_labels */
	size_t ascent_epochs;	 /* epochs over D_f for gradient_ascent */
	double lr;		 /* SGD learning rate of every reference (the scenario's) */
	double ascent_lr;	 /* gradient_ascent's instead (its own: see scenario.c) */
	double momentum;	 /* and its momentum and weight decay (the scenario's; 0 = plain) */
	double weight_decay;
	size_t batch_size;
	uint64_t seed;		 /* of the references' shuffles and random labels */
	double relearn_loss;	 /* relearn: fine-tune on D_f until its mean CE is below this */
	size_t relearn_max_epochs;
};

/* The figures of model m; an empty set's figures are NaN. The membership attack: confidence
 * p(y|x) of the true label (masked as the protocol masks), members = a seeded sample of D_r,
 * non-members = as many test samples (of `test`), at most 5000 each; a threshold classifier
 * fitted to maximise its accuracy on them (ties go to the threshold calling more samples
 * members, so an attack that learned nothing credits no forgetting); its verdict on D_f gives
 * mia. Relearning runs on a copy of m with the references' SGD, its crossing located to the
 * batch by bisection within the epoch that gets below relearn_loss. The evidence of
 * docs/unlearning.md besides: the SVC attacks (svc_mia), the loss attack's AUC of D_f against
 * the held-out rows (forget_test for a class request, else test), and with retrain (may be
 * NULL: those figures are NaN) the divergences from its outputs and its parameters. */
int unlearn_measure(const struct unlearn_env *env, const struct model *m,
		    const struct model *retrain, const struct forget_sets *fs,
		    const struct unlearn_spec *spec, struct forget_figures *out,
		    struct error *err);

/* Runs a reference method: out receives its model (out is initialised here; model_free it; on
 * failure it holds nothing). before is the model before the request; initial the model's
 * initial weights (retrain). seconds receives the wall time. gradient_ascent stops early, with
 * a warning (env->warn), where the loss on D_f stops being finite; random_labels draws
 * each D_f sample's label once among the classes the model may answer for it (its task's under
 * task-incremental, else every learned class), never its own. */
int unlearn_reference_run(const struct unlearn_env *env, enum forget_reference r,
			  const struct model *before, const struct model *initial,
			  const struct forget_sets *fs, const struct unlearn_spec *spec,
			  struct model *out, double *seconds, struct error *err);

#endif
