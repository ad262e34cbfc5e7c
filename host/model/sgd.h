/* The optimiser: SGD as PyTorch defines it, over a model's flat parameter vector. */
#ifndef LETHE_MODEL_SGD_H
#define LETHE_MODEL_SGD_H

#include <stddef.h>

#include "util/error.h"

struct parallel;

/* g = grad + weight_decay * θ; v = momentum * v + g (v = g on the first step); θ -= lr * v. */
struct sgd {
	double lr, momentum, weight_decay;
	float *velocity; /* NULL when momentum == 0 */
	size_t num_params;
	int started;
};
int sgd_init(struct sgd *o, size_t num_params, double lr, double momentum, double weight_decay,
	     struct error *e);
void sgd_step(struct sgd *o, float *params, const float *grads, size_t num_params);
/* The same step on params[first, first + count) only (the rest, velocity included, untouched). */
void sgd_step_range(struct sgd *o, float *params, const float *grads, size_t first,
		    size_t count);
/* sgd_step_range split between p's threads (NULL: one), each updating a fixed contiguous part:
 * the update is element-wise, so the result is sgd_step_range's, bit for bit. */
void sgd_step_threads(struct sgd *o, struct parallel *p, float *params, const float *grads,
		      size_t first, size_t count);
void sgd_free(struct sgd *o);

#endif
