#include "model/elementwise.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* The sum keeps one lane per position of a block: a plain element-wise loop, which GCC
 * vectorises without reassociating a single running sum (-O2 has no -ffast-math). A float lane
 * takes CHUNK / BLOCK terms at most before the lanes are added up in double, so the float
 * rounding stays that of a short sum while the conversions are rare. */
#define CHUNK 256

static void sum_span(float *restrict lane, const float *restrict x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		lane[i] += x[i];
}

static void sum_positive_span(float *restrict lane, const float *restrict x,
			      const float *restrict y, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float v = x[i], out = y[i];
		lane[i] += out > 0.0f ? v : 0.0f;
	}
}

/* The lanes added up in double, pairwise: short loops rather than a chain of BLOCK additions. */
static double lanes_total(const float *lane)
{
	double t[BLOCK];
	for (size_t i = 0; i < BLOCK; i++)
		t[i] = lane[i];
	for (size_t w = BLOCK / 2; w > 0; w /= 2)
		for (size_t i = 0; i < w; i++)
			t[i] += t[i + w];
	return t[0];
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

/* Σ x, or Σ x where y > 0 when y is not NULL. */
static double sum(const float *x, const float *y, size_t count)
{
	double total = 0.0;
	while (count >= BLOCK) {
		float lane[BLOCK] = {0};
		size_t n = (count < CHUNK ? count : CHUNK) / BLOCK * BLOCK;
		for (size_t i = 0; i < n; i += BLOCK)
			if (y)
				sum_positive_span(lane, x + i, y + i, BLOCK);
			else
				sum_span(lane, x + i, BLOCK);
		total += lanes_total(lane);
		x += n;
		y = y ? y + n : NULL;
		count -= n;
	}
	for (size_t i = 0; i < count; i++)
		total += !y || y[i] > 0.0f ? x[i] : 0.0f;
	return total;
}

double elementwise_sum(const float *x, size_t count)
{
	return sum(x, NULL, count);
}

double elementwise_sum_positive(const float *x, const float *y, size_t count)
{
	return sum(x, y, count);
}

/* Nonfinite values are rare: a cheap test per block, a count only in a block that has one. */
#define FINITE_BLOCK 256

/* Nonzero if a value of v[0..n) is NaN or infinite: an exponent of all ones, which the +1 in the
 * exponent field carries into the sign bit. Integer operations only, so the loop vectorises
 * without -ffast-math. */
static uint32_t span_nonfinite(const float *v, size_t n)
{
	uint32_t any = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &v[i], sizeof(u));
		any |= (u & 0x7f800000u) + 0x00800000u;
	}
	return any >> 31;
}

static size_t span_count(const float *v, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += !isfinite(v[i]);
	return count;
}

size_t elementwise_count_nonfinite(const float *x, size_t count)
{
	size_t bad = 0, i = 0;
	for (; i + FINITE_BLOCK <= count; i += FINITE_BLOCK)
		if (span_nonfinite(x + i, FINITE_BLOCK))
			bad += span_count(x + i, FINITE_BLOCK);
	return bad + span_count(x + i, count - i);
}
