/* salun: SalUn (Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight
 * Saliency in Both Image Classification and Generation", ICLR 2024).
 * 1. Saliency: g = ∇_θ CE(D_f) at the host's model, the mean over the forget set (the
 *    request's samples of the tasks learned); the mask m holds the top `ratio` fraction of
 *    the parameters by |g|, exactly floor(ratio P) of them over the whole flat vector (ties
 *    broken by position), as the authors' code takes a global top-k.
 * 2. Random labels on the salient weights: `epochs` passes over a fresh shuffle of D_f, each
 *    forget batch relabelled (a class drawn uniformly among the row's allowed classes other
 *    than its own, the paper's y' ≠ y) and beside a batch of retained samples drawn uniformly
 *    with replacement, the loss the mean CE over all the rows, as the authors' code trains on
 *    the two sets mixed; θ −= lr (∇L ⊙ m). Pairing keeps the cost in |D_f| where the
 *    authors' epoch walks D_r too.
 * The mask lives for the request: nothing is kept between requests, no state to save. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/forget_set.h"
#include "../common/xent.h"

enum { P_RATIO, P_EPOCHS, P_LR, P_BATCH_SIZE, P_RETAIN_BATCH, P_COUNT };

static const lethe_param_decl salun_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "ratio", LETHE_PARAM_FLOAT, "0.5", 0, 1, NULL,
	  "fraction of the weights the mask keeps, by |gradient of the forget loss| (the paper: "
	  "0.5)" },
	{ sizeof(lethe_param_decl), "epochs", LETHE_PARAM_INT, "10", 1, 1000, NULL,
	  "passes over the forget set (the paper: 10)" },
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0", 0, 10, NULL,
	  "SGD learning rate (0: train.lr; the paper: 0.013 on CIFAR-10)" },
	{ sizeof(lethe_param_decl), "batch_size", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "forget rows per step (0: train.batch_size)" },
	{ sizeof(lethe_param_decl), "retain_batch", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "retained rows beside each forget batch (0: batch_size)" },
};

struct salun {
	lethe_plugin plugin;
	const lethe_host *host;
	double ratio, lr;
	uint32_t epochs, batch_size, retain_batch;
};

struct rank {
	float mag;
	uint32_t at;
};

/* |g| descending, then position: a total order, so the mask is the same whatever qsort's
 * algorithm. */
static int by_magnitude(const void *a, const void *b)
{
	const struct rank *x = a, *y = b;
	if (x->mag != y->mag)
		return x->mag < y->mag ? 1 : -1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* mask[i] = 1 for the floor(ratio n) positions of largest |g[i]|, 0 for the rest; returns how
 * many it kept, or SIZE_MAX out of memory. */
static size_t salun_mask(const float *g, size_t n, double ratio, uint8_t *mask)
{
	struct rank *r = malloc(n * sizeof(*r));
	if (!r)
		return SIZE_MAX;
	for (size_t i = 0; i < n; i++)
		r[i] = (struct rank){ fabsf(g[i]), (uint32_t)i };
	qsort(r, n, sizeof(*r), by_magnitude);
	size_t keep = (size_t)floor(ratio * (double)n);
	memset(mask, 0, n);
	for (size_t i = 0; i < keep; i++)
		mask[r[i].at] = 1;
	free(r);
	return keep;
}

/* A class other than y among those the row may take (mask NULL: the learned tasks'); y itself
 * when it is the only one. */
static int32_t salun_relabel(const lethe_host *h, const struct forget_set *s,
			     const uint8_t *mask, int32_t y)
{
	const uint8_t *allow = mask ? mask : s->seen;
	size_t others = 0;
	for (size_t j = 0; j < s->C; j++)
		others += allow[j] && (int32_t)j != y;
	if (others == 0)
		return y;
	size_t pick = (size_t)forget_draw(h, others);
	for (size_t j = 0; j < s->C; j++)
		if (allow[j] && (int32_t)j != y && pick-- == 0)
			return (int32_t)j;
	return y;
}

/* The mean gradient of the CE over D_f, into sal (P floats). */
static int salun_saliency(const lethe_host *h, lethe_model *m, const struct forget_set *s,
			  struct forget_rows *r, float *sal, uint64_t P)
{
	const float *grad = h->model_grads(h, m, NULL);
	memset(sal, 0, P * sizeof(float));
	int rc = LETHE_OK;
	for (size_t at = 0; at < s->num_forget && rc == LETHE_OK; at += r->cap) {
		r->n = 0;
		for (size_t i = at; i < at + r->cap && i < s->num_forget && rc == LETHE_OK; i++)
			rc = forget_rows_add_forget(r, s, i);
		if (rc == LETHE_OK)
			rc = h->model_forward(h, m, r->x, r->n, r->logits);
		if (rc != LETHE_OK)
			break;
		memset(r->dlogits, 0, r->n * s->C * sizeof(float));
		for (size_t i = 0; i < r->n; i++)
			xent_add(r->logits + i * s->C, s->C, r->y[i], forget_rows_mask(r, s, i),
				 1.0, r->dlogits + i * s->C);
		rc = h->model_backward(h, m, r->dlogits, r->n);
		if (rc == LETHE_OK)
			h->saxpy(h, P, 1.0f / (float)s->num_forget, grad, sal);
	}
	return rc;
}

/* θ −= lr g ⊙ m */
static void masked_step(float *restrict theta, const float *restrict g,
			const uint8_t *restrict mask, float lr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		theta[i] -= mask[i] ? lr * g[i] : 0.0f;
}

static int salun_train(const struct salun *u, const struct forget_set *s, struct forget_rows *r,
		       size_t rows, size_t retain_rows, const uint8_t *mask, double lr,
		       double *ce)
{
	const lethe_host *h = u->host;
	lethe_model *m = h->model(h);
	uint64_t P;
	float *theta = h->model_params(h, m, &P);
	const float *grad = h->model_grads(h, m, NULL);
	size_t *order = malloc(s->num_forget * sizeof(size_t));
	if (!order)
		return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < s->num_forget; i++)
		order[i] = i;
	int rc = LETHE_OK;
	for (uint32_t e = 0; e < u->epochs && rc == LETHE_OK; e++) {
		forget_shuffle(h, order, s->num_forget);
		for (size_t at = 0; at < s->num_forget && rc == LETHE_OK; at += rows) {
			r->n = 0;
			for (size_t i = at; i < at + rows && i < s->num_forget && rc == LETHE_OK;
			     i++) {
				rc = forget_rows_add_forget(r, s, order[i]);
				if (rc == LETHE_OK)
					r->y[r->n - 1] = salun_relabel(h, s,
								       forget_rows_mask(r, s, r->n - 1),
								       r->y[r->n - 1]);
			}
			for (size_t i = 0; i < retain_rows && rc == LETHE_OK; i++)
				rc = forget_rows_add_retain(r, s);
			if (rc == LETHE_OK)
				rc = h->model_forward(h, m, r->x, r->n, r->logits);
			if (rc != LETHE_OK)
				break;
			memset(r->dlogits, 0, r->n * s->C * sizeof(float));
			*ce = 0.0;
			for (size_t i = 0; i < r->n; i++)
				*ce += xent_add(r->logits + i * s->C, s->C, r->y[i],
						forget_rows_mask(r, s, i), 1.0 / (double)r->n,
						r->dlogits + i * s->C);
			if (!isfinite(*ce)) {
				rc = lethe_fail(h, LETHE_ERR_NUMERIC, "epoch %u: the loss is not "
						"finite; lower lr = %g", e + 1, lr);
				break;
			}
			rc = h->model_backward(h, m, r->dlogits, r->n);
			if (rc == LETHE_OK)
				masked_step(theta, grad, mask, (float)lr, P);
		}
	}
	free(order);
	return rc;
}

static int salun_unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	const struct salun *u = p->plugin_data;
	const lethe_host *h = u->host;
	const lethe_run_info *run = h->run_info(h);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct forget_set s;
	int rc = forget_set_open(&s, h, req);
	if (rc == LETHE_OK && s.num_forget == 0) {
		h->log(h, LETHE_LOG_INFO, "no sample of the request was learned: nothing to do");
		forget_set_close(&s);
		return LETHE_OK;
	}
	if (rc == LETHE_OK)
		rc = forget_set_need_retain(&s, "salun", "it trains on D_r beside the relabelled "
					    "D_f");
	lethe_model *m = h->model(h);
	uint64_t P;
	h->model_params(h, m, &P);
	size_t rows = u->batch_size ? u->batch_size : run->batch_size;
	size_t retain_rows = u->retain_batch ? u->retain_batch : rows;
	double lr = u->lr > 0.0 ? u->lr : run->lr, ce = NAN;
	float *sal = malloc(P * sizeof(float));
	uint8_t *mask = malloc(P);
	size_t kept = 0;
	struct forget_rows r = { 0 };
	if (rc == LETHE_OK && (!sal || !mask))
		rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the mask of %llu weights",
				(unsigned long long)P);
	if (rc == LETHE_OK)
		rc = forget_rows_init(&r, &s, rows + retain_rows);
	if (rc == LETHE_OK)
		rc = salun_saliency(h, m, &s, &r, sal, P);
	if (rc == LETHE_OK && (kept = salun_mask(sal, P, u->ratio, mask)) == SIZE_MAX)
		rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the mask");
	if (rc == LETHE_OK)
		rc = salun_train(u, &s, &r, rows, retain_rows, mask, lr, &ce);
	if (rc == LETHE_OK) {
		double seconds = lethe_seconds_since(&t0);
		h->report(h, "seconds", seconds);
		h->report(h, "salient_weights", (double)kept);
		lethe_log(h, LETHE_LOG_INFO, "forgot %zu samples in %.3f s: %zu of %llu weights "
			  "salient, %u epochs of random labels, last CE %.4g", s.num_forget,
			  seconds, kept, (unsigned long long)P, u->epochs, ce);
	}
	forget_rows_free(&r);
	free(sal);
	free(mask);
	forget_set_close(&s);
	return rc;
}

static void salun_destroy(lethe_plugin *p)
{
	free(p->plugin_data);
}

static lethe_plugin *salun_create(const lethe_host *host, const lethe_param_value *v)
{
	struct salun *u = calloc(1, sizeof(*u));
	if (!u) {
		host->error(host, "out of memory");
		return NULL;
	}
	*u = (struct salun){
		.plugin = { .struct_size = sizeof(lethe_plugin), .plugin_data = u,
			    .destroy = salun_destroy, .unlearn = salun_unlearn },
		.host = host,
		.ratio = v[P_RATIO].f,
		.epochs = (uint32_t)v[P_EPOCHS].i,
		.lr = v[P_LR].f,
		.batch_size = (uint32_t)v[P_BATCH_SIZE].i,
		.retain_batch = (uint32_t)v[P_RETAIN_BATCH].i,
	};
	return &u->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "salun",
	.version = "1.0",
	.description = "SalUn: random-label fine-tuning of the weights salient to the forget set "
		       "(Fan et al. 2024)",
	.params = salun_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = salun_create,
};
