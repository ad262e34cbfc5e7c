/* The repair phase: whole passes over D_r with momentum (repair.h). */
#include "repair.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "xent.h"

void repair_momentum_step(float *theta, const float *grad, float *velocity, size_t n, double lr,
			  double momentum, double weight_decay)
{
	float l = (float)lr, mu = (float)momentum, wd = (float)weight_decay;
	for (size_t i = 0; i < n; i++) {
		velocity[i] = mu * velocity[i] + (grad[i] + wd * theta[i]);
		theta[i] -= l * velocity[i];
	}
}

/* One step on the batch in r: the mean CE's gradient, then the momentum update. */
static int repair_step(const struct forget_set *s, struct forget_rows *r, float *velocity,
		       double lr, double mu, double wd, double *ce)
{
	const lethe_host *h = s->h;
	lethe_model *m = h->model(h);
	uint64_t P;
	float *theta = h->model_params(h, m, &P);
	const float *grad = h->model_grads(h, m, NULL);
	int rc = h->model_forward(h, m, r->x, r->n, r->logits);
	if (rc != LETHE_OK)
		return rc;
	memset(r->dlogits, 0, r->n * s->C * sizeof(float));
	*ce = 0.0;
	for (size_t i = 0; i < r->n; i++)
		*ce += xent_add(r->logits + i * s->C, s->C, r->y[i], forget_rows_mask(r, s, i),
				1.0 / (double)r->n, r->dlogits + i * s->C);
	if (!isfinite(*ce))
		return lethe_fail(h, LETHE_ERR_NUMERIC, "the repair's loss on D_r is not finite; "
				  "lower its lr = %g", lr);
	rc = h->model_backward(h, m, r->dlogits, r->n);
	if (rc == LETHE_OK)
		repair_momentum_step(theta, grad, velocity, (size_t)P, lr, mu, wd);
	return rc;
}

int repair_run(const struct forget_set *s, uint32_t epochs, size_t rows, double lr,
	       double momentum, double weight_decay, uint64_t *steps, double *ce)
{
	const lethe_host *h = s->h;
	uint64_t P;
	h->model_params(h, h->model(h), &P);
	size_t n = (size_t)s->starts[s->learned];
	size_t *order = malloc(n * sizeof(size_t));
	float *velocity = calloc(P, sizeof(float));
	struct forget_rows r;
	int rc = forget_rows_init(&r, s, rows);
	*steps = 0;
	if (rc == LETHE_OK && (!order || !velocity))
		rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the repair's %zu samples",
				n);
	for (size_t i = 0; order && i < n; i++)
		order[i] = i;
	for (uint32_t e = 0; e < epochs && rc == LETHE_OK; e++) {
		forget_shuffle(h, order, n);
		r.n = 0;
		for (size_t at = 0; at < n && rc == LETHE_OK; at++) {
			int covered;
			rc = forget_rows_add_position(&r, s, order[at], &covered);
			r.n -= (size_t)(rc == LETHE_OK && covered);
			if (rc == LETHE_OK && (r.n == rows || (at + 1 == n && r.n > 0))) {
				rc = repair_step(s, &r, velocity, lr, momentum, weight_decay, ce);
				r.n = 0;
				*steps += rc == LETHE_OK;
			}
		}
	}
	free(order);
	free(velocity);
	forget_rows_free(&r);
	return rc;
}
