/* Element-wise passes of the model's layers over float spans (ReLU, the residual add), the
 * span sum the layers reduce with, and the count of non-finite values the engine guards with.
 * Every function takes a flat count, so a caller splitting a batch between threads hands each
 * its own contiguous range. */
#ifndef LETHE_MODEL_ELEMENTWISE_H
#define LETHE_MODEL_ELEMENTWISE_H

#include <stddef.h>

/* GCC at -O2 vectorises a loop only if it leaves no scalar remainder, so the element-wise
 * kernels of host/model are plain loops over a span, run on whole BLOCKs (a multiple of every
 * vector width) and then once on the rest. */
#define ELEMENTWISE_BLOCK 16

/* x = max(x, 0), in place. */
void elementwise_relu(float *x, size_t count);
/* ReLU's backward, in place on the gradient: d = 0 where the ReLU's output y is 0 (y > 0 exactly
 * where its input was). d and y must not overlap. */
void elementwise_relu_backward(float *d, const float *y, size_t count);
/* y += x: the residual add, and the sum of the gradients of a tensor read twice. y and x must
 * not overlap. */
void elementwise_add(float *y, const float *x, size_t count);

/* Σ x: short float partial sums (16 terms at most) added up in double. */
double elementwise_sum(const float *x, size_t count);
/* Σ x where y > 0, summed as elementwise_sum: the sum of a gradient that went through a ReLU
 * whose output is y. */
double elementwise_sum_positive(const float *x, const float *y, size_t count);

/* How many of x[0..count) are NaN or infinite: one vectorised pass, cheap next to a batch's
 * products, so the engine can check the model after the hooks that may change it. */
size_t elementwise_count_nonfinite(const float *x, size_t count);

#endif
