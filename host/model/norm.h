/* Batch normalisation per channel, as PyTorch's BatchNorm2d (and BatchNorm1d: a sample of
 * `channels` values, pixels = 1) computes it. A sample is channels x pixels floats (C x H x W,
 * row-major), batch-first.
 *
 * Training: per channel, over the batch's M = n pixels values, the mean μ and the biased
 * variance σ², and y = γ (x - μ) / √(σ² + eps) + β; the running statistics, model state, move
 * towards the batch's: running_mean = (1 - momentum) running_mean + momentum μ, and running_var
 * likewise with the unbiased variance σ² M / (M - 1) (what PyTorch stores). Evaluation: μ and σ²
 * are the running statistics. γ and β are the layer's parameters (weight and bias, in that
 * order). Statistics are summed and kept in double.
 *
 * The statistics are sums over the batch, so each pass has two phases, and a batch can be split
 * between threads: the sums of each range of samples (norm_sums, into an accumulator of
 * NORM_SUMS doubles per range, added up by the caller; or one accumulator fed range after
 * range), the statistics from them once (norm_batch_stats), then each range normalised
 * (norm_forward). Backward likewise: norm_backward_sums per range, added up, then
 * norm_backward_train per range and norm_param_grads once. Nothing here allocates. */
#ifndef LETHE_MODEL_NORM_H
#define LETHE_MODEL_NORM_H

#include <stddef.h>

#include "util/error.h"

struct norm_geom {
	/* Set by the caller before norm_geom_init. */
	size_t channels, pixels; /* pixels = H W; 1 for BatchNorm1d */
	double eps, momentum;	 /* PyTorch's defaults: 1e-5 and 0.1 */

	size_t len; /* floats per sample, filled by norm_geom_init */
};

/* Doubles of an accumulator of sums: two per channel. */
#define NORM_SUMS(channels) (2 * (channels))

/* Checks the shape (sizes at least 1, within INT_MAX floats a sample), eps > 0 and momentum in
 * [0, 1]; -1 with a message naming them otherwise. */
int norm_geom_init(struct norm_geom *g, struct error *e);

/* sums += Σ x per channel (sums[0, channels)) and Σ x² (sums[channels, 2 channels)) over the n
 * samples of x. */
void norm_sums(const struct norm_geom *g, const float *x, size_t n, double *sums);

/* Training: the batch statistics of a batch of count samples from its sums, mean and invstd
 * (channels doubles each: μ and 1 / √(σ² + eps)), and the running statistics updated (unless
 * running_mean and running_var are NULL). -1 when the batch has a single value per channel (no
 * variance to take: PyTorch refuses it too). */
int norm_batch_stats(const struct norm_geom *g, const double *sums, size_t count, double *mean,
		     double *invstd, float *running_mean, float *running_var, struct error *e);

/* Evaluation: mean and invstd from the running statistics. */
void norm_running_stats(const struct norm_geom *g, const float *running_mean,
			const float *running_var, double *mean, double *invstd);

/* y = γ (x - mean) invstd + β for n samples; y must not overlap x. */
void norm_forward(const struct norm_geom *g, const float *x, size_t n, const double *mean,
		  const double *invstd, const float *gamma, const float *beta, float *y);

/* sums += Σ dy per channel (sums[0, channels)) and Σ dy x̂ (sums[channels, 2 channels)), with
 * x̂ = (x - mean) invstd, over the n samples of x and dy: the parameters' gradients, and what
 * the training backward pass needs of the whole batch. */
void norm_backward_sums(const struct norm_geom *g, const float *x, const float *dy, size_t n,
			const double *mean, const double *invstd, double *sums);

/* dβ = Σ dy and dγ = Σ dy x̂ from the batch's backward sums (overwritten). */
void norm_param_grads(const struct norm_geom *g, const double *sums, float *dgamma, float *dbeta);

/* Training: dx for n of the batch's count samples, through the batch statistics:
 * dx = γ invstd (dy - Σ dy / M - x̂ Σ dy x̂ / M) with M = count pixels and the sums those of the
 * whole batch. dx must not overlap x or dy. */
void norm_backward_train(const struct norm_geom *g, const float *x, const float *dy, size_t n,
			 size_t count, const double *mean, const double *invstd, const float *gamma,
			 const double *sums, float *dx);

/* Evaluation: dx = γ invstd dy, the statistics being constants. dx must not overlap dy. */
void norm_backward_eval(const struct norm_geom *g, const float *dy, size_t n, const double *invstd,
			const float *gamma, float *dx);

#endif
