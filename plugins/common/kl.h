/* The distillation loss the unlearning plugins share (scrub, badteacher): Hinton's T² KL(p_t ||
 * p_s) between a teacher's and a student's softened outputs, p = softmax(z / T), whose
 * gradient with respect to the student's logits is T (p_s − p_t). */
#ifndef PLUGINS_KL_H
#define PLUGINS_KL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* log Σ_j exp(z_j / T) over the classes mask allows (NULL: all). */
static inline double kl_logsumexp(const float *z, size_t c, const uint8_t *mask, double T)
{
	double max = -INFINITY, sum = 0.0;
	for (size_t j = 0; j < c; j++)
		if ((!mask || mask[j]) && z[j] / T > max)
			max = z[j] / T;
	for (size_t j = 0; j < c; j++)
		if (!mask || mask[j])
			sum += exp(z[j] / T - max);
	return max + log(sum);
}

/* Adds scale T (p_s − p_t) to ds, the gradient of scale T² KL(p_t || p_s) with respect to
 * the student's logits zs, and returns that loss; zt are the teacher's. A negative scale
 * ascends. */
static inline double kl_add(const float *zs, const float *zt, size_t c, const uint8_t *mask,
			    double T, double scale, float *ds)
{
	double ls = kl_logsumexp(zs, c, mask, T), lt = kl_logsumexp(zt, c, mask, T), kl = 0.0;
	for (size_t j = 0; j < c; j++) {
		if (mask && !mask[j])
			continue;
		double log_ps = zs[j] / T - ls, log_pt = zt[j] / T - lt, pt = exp(log_pt);
		kl += pt * (log_pt - log_ps);
		ds[j] += (float)(scale * T * (exp(log_ps) - pt));
	}
	return scale * T * T * kl;
}

#endif
