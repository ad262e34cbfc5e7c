/* BiC's correction of the new classes' logits: see correction.h. */
#include "correction.h"

#include <string.h>

#include "../common/xent.h"

void correction_apply(const struct correction *k, size_t nk, size_t C, float *z, size_t n)
{
	for (size_t t = 0; t < nk; t++)
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < C; j++)
				if (k[t].classes[j])
					z[i * C + j] = (float)(k[t].alpha * z[i * C + j] +
							       k[t].beta);
}

void correction_backward(const struct correction *k, size_t nk, size_t C, float *dz, size_t n)
{
	for (size_t j = 0; j < C; j++) {
		double g = 1.0;
		for (size_t t = 0; t < nk; t++)
			if (k[t].classes[j])
				g *= k[t].alpha;
		for (size_t i = 0; i < n; i++)
			dz[i * C + j] = (float)(g * dz[i * C + j]);
	}
}

static uint64_t below(const lethe_host *h, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
	do
		v = h->rng_u64(h);
	while (v >= limit);
	return v % n;
}

void correction_fit(struct correction *k, const struct correction_data *d, const lethe_host *h,
		    uint32_t epochs, size_t batch, double lr, double momentum, size_t *order,
		    float *q)
{
	size_t C = d->C, n = d->n;
	double a = 1.0, c = 0.0, va = 0.0, vb = 0.0;
	float *dq = q + C;
	int first = 1;
	for (uint32_t e = 0; e < epochs; e++) {
		for (size_t i = 0; i < n; i++)
			order[i] = i;
		for (size_t i = n; i > 1; i--) {
			size_t j = (size_t)below(h, i), s = order[i - 1];
			order[i - 1] = order[j];
			order[j] = s;
		}
		for (size_t at = 0; at < n; at += batch) {
			size_t m = n - at < batch ? n - at : batch;
			double ga = 0.0, gb = 0.0;
			for (size_t r = 0; r < m; r++) {
				size_t i = order[at + r];
				const float *z = d->z + i * C;
				const uint8_t *mask = d->masks ? d->masks + (size_t)d->tasks[i] * C
							       : d->seen;
				for (size_t j = 0; j < C; j++)
					q[j] = k->classes[j] ? (float)(a * z[j] + c) : z[j];
				memset(dq, 0, C * sizeof(float));
				xent_add(q, C, d->y[i], mask, 1.0 / (double)m, dq);
				for (size_t j = 0; j < C; j++)
					if (k->classes[j] && mask[j]) {
						ga += dq[j] * (double)z[j];
						gb += dq[j];
					}
			}
			va = first ? ga : momentum * va + ga;
			vb = first ? gb : momentum * vb + gb;
			first = 0;
			a -= lr * va;
			c -= lr * vb;
		}
	}
	k->alpha = a;
	k->beta = c;
}
