#include "model/loss.h"

#include <math.h>

/* One row's cross-entropy; writes its share of the mean loss's gradient into d (if not NULL).
 * The max is taken over the allowed classes only, so a huge masked logit cannot overflow. */
static double row_ce(const float *z, size_t c, int32_t y, const uint8_t *mask, float *d,
		     double scale)
{
	double max = -INFINITY;
	for (size_t j = 0; j < c; j++)
		if ((!mask || mask[j]) && z[j] > max)
			max = z[j];
	double sum = 0.0;
	for (size_t j = 0; j < c; j++)
		if (!mask || mask[j])
			sum += exp(z[j] - max);
	if (d)
		for (size_t j = 0; j < c; j++) {
			int allowed = !mask || mask[j];
			double p = allowed && sum > 0.0 ? exp(z[j] - max) / sum : 0.0;
			double target = allowed && (size_t)y == j ? 1.0 : 0.0;
			d[j] = (float)((p - target) * scale);
		}
	if (y < 0 || (size_t)y >= c || (mask && !mask[y]))
		return INFINITY;
	return max + log(sum) - z[y];
}

double loss_softmax_ce(const float *logits, size_t n, size_t num_classes, const int32_t *y,
		       const uint8_t *const *mask, float *dlogits)
{
	if (n == 0)
		return 0.0;
	double total = 0.0;
	for (size_t i = 0; i < n; i++)
		total += row_ce(logits + i * num_classes, num_classes, y[i], mask ? mask[i] : NULL,
				dlogits ? dlogits + i * num_classes : NULL, 1.0 / (double)n);
	return total / (double)n;
}

int32_t loss_argmax(const float *row, size_t num_classes, const uint8_t *mask)
{
	int32_t best = -1;
	for (size_t j = 0; j < num_classes; j++)
		if ((!mask || mask[j]) && (best < 0 || row[j] > row[best]))
			best = (int32_t)j;
	return best;
}
