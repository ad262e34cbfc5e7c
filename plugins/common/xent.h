/* The cross-entropy shares replay plugins move around in on_logits. The host's loss is the mean
 * cross-entropy over all b->n rows (1/n each, masked to the row's task under task-incremental);
 * a plugin that weighs rows otherwise (the current batch and a replay batch each a mean of its
 * own, as the papers write their losses) adds the difference rather than overwriting dlogits,
 * so that the terms other plugins added stay. */
#ifndef PLUGINS_XENT_H
#define PLUGINS_XENT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <lethe/lethe.h>

/* Adds scale (p - onehot(y)) to dz, p the softmax of z over the classes mask allows (NULL:
 * all), and returns scale times the row's cross-entropy over them. A negative scale takes a
 * share away. y must be allowed. */
static inline double xent_add(const float *z, size_t c, int32_t y, const uint8_t *mask,
			      double scale, float *dz)
{
	double max = -INFINITY, sum = 0.0;
	for (size_t j = 0; j < c; j++)
		if ((!mask || mask[j]) && z[j] > max)
			max = z[j];
	for (size_t j = 0; j < c; j++)
		if (!mask || mask[j])
			sum += exp(z[j] - max);
	for (size_t j = 0; j < c; j++) {
		if (mask && !mask[j])
			continue;
		double p = exp(z[j] - max) / sum;
		dz[j] += (float)(scale * (p - ((size_t)y == j ? 1.0 : 0.0)));
	}
	return scale * (max + log(sum) - z[y]);
}

/* The class mask the host applies to rows of each task: under task-incremental, num_tasks x
 * num_classes bytes (1 for the task's classes) into *masks; otherwise *masks = NULL, every class
 * allowed. LETHE_ERR_NOMEM when out of memory. */
static inline int xent_masks(const lethe_host *h, uint8_t **masks)
{
	const lethe_run_info *run = h->run_info(h);
	*masks = NULL;
	if (run->protocol != LETHE_TASK_INCREMENTAL)
		return LETHE_OK;
	uint8_t *m = calloc((size_t)run->num_tasks * run->num_classes, 1);
	if (!m)
		return LETHE_ERR_NOMEM;
	for (uint32_t k = 0; k < run->num_tasks; k++) {
		const lethe_task_info *t = h->task_info(h, k);
		for (uint32_t j = 0; t && j < t->num_classes; j++)
			m[(size_t)k * run->num_classes + (size_t)t->classes[j]] = 1;
	}
	*masks = m;
	return LETHE_OK;
}

/* Row i's mask under masks (NULL when the host masks nothing). */
static inline const uint8_t *xent_row_mask(const uint8_t *masks, const lethe_batch *b, size_t i,
					   size_t c)
{
	return masks ? masks + (size_t)b->tasks[i] * c : NULL;
}

#endif
