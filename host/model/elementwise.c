#include "model/elementwise.h"

#define BLOCK ELEMENTWISE_BLOCK

static void relu_span(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_mask_span(float *restrict d, const float *restrict y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = y[i] > 0.0f ? d[i] : 0.0f;
}

static void add_span(float *restrict y, const float *restrict x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += x[i];
}

/* The sums keep one lane per position of a block: plain element-wise loops, which GCC
 * vectorises without reassociating a single running sum (-O2 has no -ffast-math). A float lane
 * takes CHUNK / BLOCK terms at most before it is added to its double lane, so the float
 * rounding stays that of a short sum while the conversions are rare. */
#define CHUNK 256

static void sum_span(float *restrict lane, const float *restrict x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		lane[i] += x[i];
}

static void widen_span(double *restrict total, float *restrict lane, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		total[i] += (double)lane[i];
		lane[i] = 0.0f;
	}
}

/* The lanes added pairwise: four short loops rather than a chain of BLOCK additions. */
static double lanes_total(double *total)
{
	for (size_t w = BLOCK / 2; w > 0; w /= 2)
		for (size_t i = 0; i < w; i++)
			total[i] += total[i + w];
	return total[0];
}

void elementwise_relu(float *x, size_t count)
{
	size_t i = 0;
	for (; i + BLOCK <= count; i += BLOCK)
		relu_span(x + i, BLOCK);
	relu_span(x + i, count - i);
}

void elementwise_relu_backward(float *d, const float *y, size_t count)
{
	size_t i = 0;
	for (; i + BLOCK <= count; i += BLOCK)
		relu_mask_span(d + i, y + i, BLOCK);
	relu_mask_span(d + i, y + i, count - i);
}

void elementwise_add(float *y, const float *x, size_t count)
{
	size_t i = 0;
	for (; i + BLOCK <= count; i += BLOCK)
		add_span(y + i, x + i, BLOCK);
	add_span(y + i, x + i, count - i);
}

double elementwise_sum(const float *x, size_t count)
{
	if (count < BLOCK) {
		double s = 0.0;
		for (size_t i = 0; i < count; i++)
			s += x[i];
		return s;
	}
	double total[BLOCK] = {0};
	float lane[BLOCK] = {0};
	size_t i = 0;
	while (i + BLOCK <= count) {
		size_t end = count - i > CHUNK ? i + CHUNK : count;
		for (; i + BLOCK <= end; i += BLOCK)
			sum_span(lane, x + i, BLOCK);
		widen_span(total, lane, BLOCK);
	}
	sum_span(lane, x + i, count - i);
	widen_span(total, lane, BLOCK);
	return lanes_total(total);
}
