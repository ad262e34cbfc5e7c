/* A repair phase for the unlearning plugins (neggrad): after the forget phase, whole passes
 * over D_r at the scenario's own optimiser, so that what the forget phase cost the retained
 * samples comes back while D_f, which the passes never see, is left to what the model
 * generalises to it, as retrain's D_f is. The papers' epochs walk D_r whole (Kurmanji et al.
 * 2023, Jia et al. 2023); this is that walk, after the cheaper paired steps. */
#ifndef PLUGINS_REPAIR_H
#define PLUGINS_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "forget_set.h"

/* One momentum step on n values: v ← μ v + g + wd θ, θ ← θ − lr v. */
void repair_momentum_step(float *theta, const float *grad, float *velocity, size_t n, double lr,
			  double momentum, double weight_decay);

/* The learning rate of step t of a phase of `total` steps: lr, or with `cosine`
 * lr (1 + cos(π t / total)) / 2, annealed from lr at the first step towards 0 at the last
 * (Loshchilov & Hutter 2017's cosine annealing, one cycle), so that the repair ends near a
 * minimum of its loss instead of at the noise of a constant step. */
double repair_lr_at(double lr, int cosine, uint64_t t, uint64_t total);

/* `epochs` passes over D_r (D_f skipped), each a fresh shuffle of the learned tasks' samples
 * in batches of `rows` retained rows (the last one shorter), the mean cross-entropy, SGD with
 * momentum as the host trains (PyTorch's form: v ← μ v + g + wd θ, θ ← θ − lr v; v from 0 at
 * the first step), lr cosine-annealed over the passes' steps when `cosine` (repair_lr_at).
 * Counts the steps in *steps and leaves the last batch's CE in *ce. */
int repair_run(const struct forget_set *s, uint32_t epochs, size_t rows, double lr,
	       int cosine, double momentum, double weight_decay, uint64_t *steps, double *ce);

#endif
