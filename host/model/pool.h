/* Pooling over the planes of NCHW samples (a sample is C x H x W floats, row-major, batch-first):
 * max and average pooling over k x k windows with a stride and no padding, and global average
 * pooling (C x H x W to C). Every function works on a contiguous range of samples, so a batch can
 * be split between threads. Nothing here allocates. */
#ifndef LETHE_MODEL_POOL_H
#define LETHE_MODEL_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct pool_geom {
	/* The shape, set by the caller before pool_geom_init. */
	size_t c, h, w; /* an input sample */
	size_t k, stride;

	/* Filled by pool_geom_init: Hout = (H - k) / stride + 1 (floor, as PyTorch's default
	 * ceil_mode = False), the same for Wout. */
	size_t hout, wout;
	size_t in_len, out_len; /* floats per input and per output sample */
};

/* Checks the shape in g (sizes at least 1, the window within the input, sizes within INT_MAX)
 * and fills the derived fields; -1 with a message naming the shape otherwise. */
int pool_geom_init(struct pool_geom *g, struct error *e);

/* Max pooling of n samples x into y; arg (n out_len) gets, per output, the index within its
 * sample (c H W + iy W + ix) of the input it took, for the backward pass. Ties keep the first
 * in the window's row-major order, and a NaN is passed on (PyTorch's rule). */
void pool_max_forward(const struct pool_geom *g, const float *x, size_t n, float *y, uint32_t *arg);
/* dx (n in_len, overwritten) from dy: each output's gradient to the input it took. */
void pool_max_backward(const struct pool_geom *g, const float *dy, const uint32_t *arg, size_t n,
		       float *dx);

/* Average pooling: each output the mean of its window. */
void pool_avg_forward(const struct pool_geom *g, const float *x, size_t n, float *y);
/* dx (overwritten): each output's gradient spread evenly over its window. */
void pool_avg_backward(const struct pool_geom *g, const float *dy, size_t n, float *dx);

/* Global average pooling of n samples of c planes of `pixels` values: y (n c) the mean of each
 * plane, summed in double. */
void pool_global_forward(size_t c, size_t pixels, const float *x, size_t n, float *y);
/* dx (n c pixels, overwritten): dy / pixels over each plane. */
void pool_global_backward(size_t c, size_t pixels, const float *dy, size_t n, float *dx);

#endif
