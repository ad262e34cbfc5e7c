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

/* `epochs` passes over D_r (D_f skipped), each a fresh shuffle of the learned tasks' samples
 * in batches of `rows` retained rows (the last one shorter), the mean cross-entropy, SGD with
 * momentum as the host trains (PyTorch's form: v ← μ v + g + wd θ, θ ← θ − lr v; v from 0 at
 * the first step). Counts the steps in *steps and leaves the last batch's CE in *ce. */
int repair_run(const struct forget_set *s, uint32_t epochs, size_t rows, double lr,
	       double momentum, double weight_decay, uint64_t *steps, double *ce);

#endif
