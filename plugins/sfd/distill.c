#include "distill.h"

#include <math.h>

/* log sum_j exp(z_j / T) over the classes that skip (if not NULL) leaves. */
static double log_normaliser(const float *z, size_t classes, double T, const uint8_t *skip)
{
	double max = -INFINITY, sum = 0;
	for (size_t j = 0; j < classes; j++)
		if (!skip || !skip[j])
			max = fmax(max, z[j]);
	for (size_t j = 0; j < classes; j++)
		if (!skip || !skip[j])
			sum += exp((z[j] - max) / T);
	return max / T + log(sum);
}

void distill_target(const float *teacher, size_t classes, double T, const uint8_t *forgotten,
		    int32_t safe, float *q)
{
	/* Spread in proportion is the softmax over the classes that stay: computed as such, it
	 * holds even where the forgotten classes took all the mass a float can see. */
	const uint8_t *skip = forgotten && safe < 0 ? forgotten : NULL;
	double lse = log_normaliser(teacher, classes, T, skip), moved = 0;
	for (size_t j = 0; j < classes; j++) {
		double p = skip && skip[j] ? 0.0 : exp(teacher[j] / T - lse);
		if (forgotten && forgotten[j]) {
			moved += p;
			p = 0;
		}
		q[j] = (float)p;
	}
	if (forgotten && safe >= 0)
		q[safe] += (float)moved;
}

double distill_kl(const float *q, const float *student, size_t classes, double T, double scale,
		  float *grad)
{
	double lse = log_normaliser(student, classes, T, NULL), kl = 0;
	for (size_t j = 0; j < classes; j++) {
		double logp = student[j] / T - lse;
		if (q[j] > 0)
			kl += q[j] * (log(q[j]) - logp);
		grad[j] += (float)(scale * T * (exp(logp) - q[j]));
	}
	return T * T * kl;
}
