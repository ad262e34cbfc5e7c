/* BiC's bias correction (Wu et al. 2019, stage 2): q = α o + β on one task's new classes'
 * logits o, the other logits left; and its fit. */
#ifndef PLUGINS_BIC_CORRECTION_H
#define PLUGINS_BIC_CORRECTION_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/lethe.h>

struct correction {
	uint8_t *classes; /* num_classes bytes: the task's new classes */
	double alpha, beta;
};

/* Applies corrections k[0..nk) in order to n rows of C logits. */
void correction_apply(const struct correction *k, size_t nk, size_t C, float *z, size_t n);

/* Multiplies the gradient dz of n rows of C corrected logits by ∂(corrected)/∂(logit): each
 * class's product of the α of corrections k[0..nk) that hold it. */
void correction_backward(const struct correction *k, size_t nk, size_t C, float *dz, size_t n);

/* What the fit runs on: n held-out rows of C logits z (the earlier corrections applied), their
 * labels, and each row's allowed classes (masks + tasks[i] C, or seen when masks is NULL). */
struct correction_data {
	const float *z;
	const int32_t *y;
	const uint32_t *tasks;
	const uint8_t *masks, *seen;
	size_t n, C;
};

/* Fits k->alpha and k->beta (from 1 and 0) for k->classes: `epochs` epochs of SGD with momentum
 * (PyTorch's) at lr in batches of `batch` over a fresh order of the rows from h's generator,
 * minimising the mean cross-entropy over each row's allowed classes. order: n entries and q:
 * 2 C floats of scratch. */
void correction_fit(struct correction *k, const struct correction_data *d, const lethe_host *h,
		    uint32_t epochs, size_t batch, double lr, double momentum, size_t *order,
		    float *q);

#endif
