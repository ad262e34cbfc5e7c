#include "model/sgd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/parallel.h"

int sgd_init(struct sgd *o, size_t num_params, double lr, double momentum, double weight_decay,
	     struct error *e)
{
	*o = (struct sgd){.lr = lr, .momentum = momentum, .weight_decay = weight_decay,
			  .num_params = num_params};
	if (!(lr >= 0.0 && isfinite(lr)))
		return error_set(e, "learning rate %g is not a finite number >= 0", lr);
	if (!(momentum >= 0.0 && momentum < 1.0))
		return error_set(e, "momentum %g is outside [0, 1)", momentum);
	if (!(weight_decay >= 0.0 && isfinite(weight_decay)))
		return error_set(e, "weight decay %g is not a finite number >= 0", weight_decay);
	if (momentum > 0.0) {
		o->velocity = calloc(num_params ? num_params : 1, sizeof(float));
		if (!o->velocity)
			return error_set(e, "cannot allocate momentum for %zu parameters",
					 num_params);
	}
	return 0;
}

/* GCC at -O2 vectorises a loop only if it leaves no scalar remainder, so each update is a plain
 * loop over a span, run on whole BLOCKs (a multiple of every vector width) and then once on the
 * rest. */
#define BLOCK 16

static void plain_span(float *restrict w, const float *restrict g, size_t n, float lr, float wd)
{
	for (size_t i = 0; i < n; i++)
		w[i] -= lr * (g[i] + wd * w[i]);
}

static void momentum_span(float *restrict w, float *restrict v, const float *restrict g,
			  size_t n, float lr, float mu, float wd)
{
	for (size_t i = 0; i < n; i++) {
		v[i] = mu * v[i] + (g[i] + wd * w[i]);
		w[i] -= lr * v[i];
	}
}

/* The update of params[first, first + count), velocity started. */
static void update(const struct sgd *o, float *params, const float *grads, size_t first,
		   size_t count)
{
	float lr = (float)o->lr, mu = (float)o->momentum, wd = (float)o->weight_decay;
	float *w = params + first;
	const float *g = grads + first;
	size_t i = 0;
	if (!o->velocity) {
		for (; i + BLOCK <= count; i += BLOCK)
			plain_span(w + i, g + i, BLOCK, lr, wd);
		plain_span(w + i, g + i, count - i, lr, wd);
		return;
	}
	float *v = o->velocity + first;
	for (; i + BLOCK <= count; i += BLOCK)
		momentum_span(w + i, v + i, g + i, BLOCK, lr, mu, wd);
	momentum_span(w + i, v + i, g + i, count - i, lr, mu, wd);
}

struct split {
	const struct sgd *o;
	float *params;
	const float *grads;
	size_t first, count, threads;
};

static void update_part(void *ctx, size_t t)
{
	const struct split *s = ctx;
	size_t lo, hi;
	parallel_range(s->count, t, s->threads, &lo, &hi);
	update(s->o, s->params, s->grads, s->first + lo, hi - lo);
}

void sgd_step_threads(struct sgd *o, struct parallel *p, float *params, const float *grads,
		      size_t first, size_t count)
{
	/* From zero velocity the first step makes v = g exactly, whatever v held before. */
	if (o->velocity && !o->started)
		memset(o->velocity, 0, o->num_params * sizeof(float));
	struct split s = {o, params, grads, first, count, parallel_threads(p)};
	parallel_run(p, update_part, &s);
	if (o->velocity)
		o->started = 1;
}

void sgd_step_range(struct sgd *o, float *params, const float *grads, size_t first,
		    size_t count)
{
	sgd_step_threads(o, NULL, params, grads, first, count);
}

void sgd_step(struct sgd *o, float *params, const float *grads, size_t num_params)
{
	sgd_step_range(o, params, grads, 0, num_params);
}

void sgd_free(struct sgd *o)
{
	free(o->velocity);
	o->velocity = NULL;
}
