/* 2-D convolution, lowered onto cblas_sgemm by im2col (and col2im for the input's gradient).
 *
 * Layouts, PyTorch's: a sample is C x H x W floats, row-major, and a batch is its samples one
 * after another; the weights are Cout x (Cin k k) row-major, i.e. Conv2d's [cout][cin][ky][kx]
 * flattened; the bias has Cout floats. The kernel is square (k x k), with stride s and zero
 * padding p on every side; the output is Cout x Hout x Wout with Hout = (H + 2p - k) / s + 1
 * (floor), and the same for Wout.
 *
 * With K = Cin k k and P = Hout Wout, the forward pass is Y = W · col(X), a (Cout x K)(K x P)
 * product per sample, and the backward pass dW = Σ dY · col(X)ᵀ and dX = col2im(Wᵀ · dY). Up to
 * `group` samples are lowered into one product, their columns side by side (N = group P), and
 * the result is copied back into the samples' layout: on the small images of the deep layers
 * (P = 16 or 64) one product per sample is too thin for the GEMM kernel to reach its speed.
 *
 * Every function works on a contiguous range of samples (a pointer to the first and a count)
 * with scratch the caller provides, and the parameter gradients can be accumulated, so a batch
 * can be split between threads, each with its own scratch and partial gradients, summed by the
 * caller. Nothing here allocates. */
#ifndef LETHE_MODEL_CONV_H
#define LETHE_MODEL_CONV_H

#include <stddef.h>

#include "util/error.h"

struct conv_geom {
	/* The shape, set by the caller before conv_geom_init. */
	size_t cin, h, w; /* an input sample */
	size_t cout;	  /* output channels */
	size_t k, stride, pad;

	/* Filled by conv_geom_init. */
	size_t hout, wout;
	size_t kdim;		/* K = cin k k: a weight row, a column of the lowered input */
	size_t pixels;		/* P = hout wout */
	size_t in_len, out_len; /* floats per input and per output sample */
	size_t num_weights;	/* cout kdim; the bias adds cout */
	/* Samples lowered into one product, chosen for the shape by conv_geom_init (see
	 * bench/bench_conv). A caller may lower it, e.g. to 1 for one product per sample, before
	 * sizing the scratch. */
	size_t group;
};

/* Checks the shape in g (every size at least 1, the kernel within the padded input, every
 * product within BLAS's int) and fills the derived fields; -1 with a message naming the shape
 * otherwise. */
int conv_geom_init(struct conv_geom *g, struct error *e);

/* Floats of scratch that every function below needs, for any number of samples. */
size_t conv_scratch_floats(const struct conv_geom *g);

/* y = conv(x) + b for n samples (x: n in_len floats, y: n out_len). b may be NULL (no bias). */
void conv_forward(const struct conv_geom *g, const float *w, const float *b, const float *x,
		  size_t n, float *y, float *scratch);

/* What conv_forward_each hands on: the product W · col(X) of count samples from first, without
 * bias, as cout rows of count pixels-long blocks side by side (sample i's channel c at
 * z + c ld + i pixels). */
typedef void conv_sink(void *ctx, size_t first, size_t count, const float *z, size_t ld);

/* The forward products of n samples, each group's handed to sink while it is in cache, so that
 * the caller stores it its own way (host/model/fuse.c: bias, ReLU and pooling in that pass). */
void conv_forward_each(const struct conv_geom *g, const float *w, const float *x, size_t n,
		       float *scratch, conv_sink *sink, void *ctx);

/* What conv_backward adds to rather than overwrites. */
enum {
	CONV_ACCUMULATE_PARAMS = 1, /* dw and db += this range's share (beta 1): per-thread
				       partial gradients, or several ranges summed in turn */
	CONV_ACCUMULATE_INPUT = 2,  /* dx += (a tensor read by two layers, e.g. a residual) */
};

/* The backward pass of n samples given their input x and the gradient dy of their output:
 * dw (num_weights) and db (cout) the gradients of the weights and bias, dx (n in_len) that of
 * the input. Any of dw, db, dx may be NULL when not wanted (dx for the first layer); x is read
 * for dw only. flags: CONV_ACCUMULATE_*. With n == 0, dw and db are zeroed unless
 * accumulated. */
void conv_backward(const struct conv_geom *g, const float *w, const float *x, const float *dy,
		   size_t n, float *dw, float *db, float *dx, int flags, float *scratch);

/* Per-sample gradient statistics (the diagonal Fisher and gradient norms): with g_i sample i's
 * own gradient of the weights then, if bias, the bias (num_weights [+ cout] floats, the
 * parameters' order), acc += scale |g_i|^power element-wise (power 1 or 2), summed over the n
 * samples; norms, if not NULL, gets |g_i|² (unscaled, in double) for each sample. A per-sample
 * weight w_i is folded in by the caller as dy_i √w_i (power 2). One product per sample. */
void conv_grad_stats(const struct conv_geom *g, const float *x, const float *dy, size_t n,
		     int power, int bias, float scale, float *acc, double *norms, float *scratch);
/* conv_grad_stats with power 2 and the bias: sq += scale g_i². */
void conv_grad_sq(const struct conv_geom *g, const float *x, const float *dy, size_t n, float scale,
		  float *sq, double *norms, float *scratch);

#endif
