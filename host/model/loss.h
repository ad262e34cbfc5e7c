/* The loss the models train on, and the prediction they are scored by. */
#ifndef LETHE_MODEL_LOSS_H
#define LETHE_MODEL_LOSS_H

#include <stddef.h>
#include <stdint.h>

/* Mean softmax cross-entropy of n rows of logits against labels y. mask, if not NULL, gives
 * per row a class mask (num_classes bytes, 1 = allowed): masked-out classes get probability 0
 * (task-incremental). Writes dL/dlogits of the mean loss into dlogits (may be NULL). Returns the
 * loss; a non-finite loss is returned as is for the caller to report. */
double loss_softmax_ce(const float *logits, size_t n, size_t num_classes, const int32_t *y,
		       const uint8_t *const *mask, float *dlogits);

/* Predicted class of one row, among the allowed classes of mask (NULL = all); the lowest index
 * wins a tie, and -1 means mask allows no class. */
int32_t loss_argmax(const float *row, size_t num_classes, const uint8_t *mask);

#endif
