/* l1sparse: l1-sparse unlearning (Jia et al., "Model Sparsity Can Simplify Machine
 * Unlearning", NeurIPS 2023): fine-tune the host's model on the retained data with an l1
 * penalty that drives it towards a sparse solution, which the paper shows forgets more for
 * the same retained accuracy,
 *	L_e(θ) = CE(D_r batch) + γ_e |θ|_1,	γ_e = γ (1 − e / epochs)
 * in epoch e = 0, 1, ...: the penalty decays linearly to zero as in the authors' code, so the
 * last epochs repair what it cost. |θ|_1 runs over every parameter (biases, batch norm's gamma
 * and beta too, as their code's); its subgradient is sign(θ), 0 at 0. Plain SGD; an epoch is
 * `steps` batches of retained samples drawn uniformly with replacement (0: as many as D_f
 * fills, so that the cost goes with the request rather than with |D_r|).
 * Nothing is kept between requests: no state to save. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/forget_set.h"
#include "../common/xent.h"

enum { P_GAMMA, P_EPOCHS, P_STEPS, P_LR, P_BATCH_SIZE, P_COUNT };

static const lethe_param_decl l1sparse_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "gamma", LETHE_PARAM_FLOAT, "0.0005", 0, 1, NULL,
	  "the l1 penalty's weight at the first epoch, decaying linearly to 0 (the authors' "
	  "scripts: 1e-4 to 5e-4)" },
	{ sizeof(lethe_param_decl), "epochs", LETHE_PARAM_INT, "10", 1, 1000, NULL,
	  "epochs of fine-tuning (the paper: 10)" },
	{ sizeof(lethe_param_decl), "steps", LETHE_PARAM_INT, "0", 0, 1e8, NULL,
	  "SGD steps per epoch (0: as many as the forget set has batches)" },
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0", 0, 10, NULL,
	  "SGD learning rate (0: train.lr; the paper: 0.01)" },
	{ sizeof(lethe_param_decl), "batch_size", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "rows per step (0: train.batch_size)" },
};

struct l1sparse {
	lethe_plugin plugin;
	const lethe_host *host;
	double gamma, lr;
	uint32_t epochs, steps, batch_size;
};

/* The penalty's weight in epoch e (0-based) of `epochs`. */
static double l1sparse_gamma(double gamma, uint32_t e, uint32_t epochs)
{
	return gamma * (1.0 - (double)e / (double)epochs);
}

static float sign_of(float v)
{
	return (float)((v > 0.0f) - (v < 0.0f));
}

/* θ −= lr (g + γ sign θ) on n values: a step on CE + γ |θ|_1. Returns |θ|_1 before it. */
static double l1sparse_step(float *theta, const float *grad, size_t n, float lr, float gamma)
{
	double norm = 0.0;
	for (size_t i = 0; i < n; i++) {
		norm += fabsf(theta[i]);
		theta[i] -= lr * (grad[i] + gamma * sign_of(theta[i]));
	}
	return norm;
}

static int l1sparse_train(const struct l1sparse *l, const struct forget_set *s, size_t rows,
			  double lr, double *ce, double *norm)
{
	const lethe_host *h = l->host;
	lethe_model *m = h->model(h);
	uint64_t P;
	float *theta = h->model_params(h, m, &P);
	const float *grad = h->model_grads(h, m, NULL);
	size_t steps = l->steps ? l->steps : (s->num_forget + rows - 1) / rows;
	struct forget_rows r;
	int rc = forget_rows_init(&r, s, rows);
	for (uint32_t e = 0; e < l->epochs && rc == LETHE_OK; e++) {
		float gamma = (float)l1sparse_gamma(l->gamma, e, l->epochs);
		for (size_t step = 0; step < steps && rc == LETHE_OK; step++) {
			r.n = 0;
			for (size_t i = 0; i < rows && rc == LETHE_OK; i++)
				rc = forget_rows_add_retain(&r, s);
			if (rc == LETHE_OK)
				rc = h->model_forward(h, m, r.x, r.n, r.logits);
			if (rc != LETHE_OK)
				break;
			memset(r.dlogits, 0, r.n * s->C * sizeof(float));
			*ce = 0.0;
			for (size_t i = 0; i < r.n; i++)
				*ce += xent_add(r.logits + i * s->C, s->C, r.y[i],
						forget_rows_mask(&r, s, i), 1.0 / (double)r.n,
						r.dlogits + i * s->C);
			if (!isfinite(*ce)) {
				rc = lethe_fail(h, LETHE_ERR_NUMERIC, "epoch %u: the loss is not "
						"finite; lower lr = %g", e + 1, lr);
				break;
			}
			rc = h->model_backward(h, m, r.dlogits, r.n);
			if (rc == LETHE_OK)
				*norm = l1sparse_step(theta, grad, P, (float)lr, gamma);
		}
	}
	forget_rows_free(&r);
	return rc;
}

static int l1sparse_unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	const struct l1sparse *l = p->plugin_data;
	const lethe_host *h = l->host;
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
		rc = forget_set_need_retain(&s, "l1sparse", "it fine-tunes on D_r");
	double ce = NAN, norm = NAN, lr = l->lr > 0.0 ? l->lr : run->lr;
	size_t rows = l->batch_size ? l->batch_size : run->batch_size;
	if (rc == LETHE_OK)
		rc = l1sparse_train(l, &s, rows, lr, &ce, &norm);
	if (rc == LETHE_OK) {
		double seconds = lethe_seconds_since(&t0);
		h->report(h, "seconds", seconds);
		h->report(h, "l1_norm", norm);
		lethe_log(h, LETHE_LOG_INFO, "forgot %zu samples in %.3f s: %u epochs on D_r, last "
			  "CE %.4g, |theta|_1 %.6g", s.num_forget, seconds, l->epochs, ce, norm);
	}
	forget_set_close(&s);
	return rc;
}

static void l1sparse_destroy(lethe_plugin *p)
{
	free(p->plugin_data);
}

static lethe_plugin *l1sparse_create(const lethe_host *host, const lethe_param_value *v)
{
	struct l1sparse *l = calloc(1, sizeof(*l));
	if (!l) {
		host->error(host, "out of memory");
		return NULL;
	}
	*l = (struct l1sparse){
		.plugin = { .struct_size = sizeof(lethe_plugin), .plugin_data = l,
			    .destroy = l1sparse_destroy, .unlearn = l1sparse_unlearn },
		.host = host,
		.gamma = v[P_GAMMA].f,
		.epochs = (uint32_t)v[P_EPOCHS].i,
		.steps = (uint32_t)v[P_STEPS].i,
		.lr = v[P_LR].f,
		.batch_size = (uint32_t)v[P_BATCH_SIZE].i,
	};
	return &l->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "l1sparse",
	.version = "1.0",
	.description = "l1-sparse unlearning: fine-tuning on the retained set under a decaying l1 "
		       "penalty (Jia et al. 2023)",
	.params = l1sparse_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = l1sparse_create,
};
