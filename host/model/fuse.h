/* A convolution followed by ReLU, or by ReLU and a 2x2 stride-2 max-pooling (the CNN's conv,
 * relu, maxpool 2): the bias, the ReLU and the pooling done in the one pass that stores each
 * group's product while it is in cache, instead of three passes over the conv's whole output
 * in memory; backward, the pooling's and the ReLU's gradients in one pass too.
 *
 * With pooling, the conv's output is never stored: pooling the ReLU's output is the ReLU of the
 * window's largest value, so the pooled output y and, per output, which of its window's four
 * positions it took (a byte) are all the backward needs: the ReLU lets a gradient through
 * exactly where y > 0. Ties keep the first position in row-major order, as pool.h's. Every
 * function works on a contiguous range of samples, like conv.h's. */
#ifndef LETHE_MODEL_FUSE_H
#define LETHE_MODEL_FUSE_H

#include <stddef.h>
#include <stdint.h>

#include "model/conv.h"
#include "model/pool.h"

/* y = relu(conv(x) + b) for n samples (y: n out_len floats); b may be NULL. */
void fuse_conv_relu(const struct conv_geom *g, const float *w, const float *b, const float *x,
		    size_t n, float *y, float *scratch);

/* y = maxpool(relu(conv(x) + b)) with p the pooling (2x2, stride 2) of the conv's output:
 * y n p->out_len floats, window n p->out_len bytes, each 0 to 3 (row-major in its window). */
void fuse_conv_relu_pool(const struct conv_geom *g, const struct pool_geom *p, const float *w,
			 const float *b, const float *x, size_t n, float *y, uint8_t *window,
			 float *scratch);

/* The gradient dz (n p->in_len, overwritten) of the conv's output from dy, that of the pooled
 * output y: dy where y > 0 onto the position its window took, 0 elsewhere; db (p->c, if not
 * NULL) += its sum over each channel. */
void fuse_pool_relu_backward(const struct pool_geom *p, const float *dy, const float *y,
			     const uint8_t *window, size_t n, float *dz, float *db);

#endif
