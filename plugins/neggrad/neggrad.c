/* neggrad: NegGrad+ (Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023):
 * gradient ascent on the forget set and descent on the retained set together,
 *	L(θ) = α CE(D_r batch) − (1 − α) CE(D_f batch),
 * each CE the mean over its rows, one plain SGD step per pair of batches from the host's model.
 * An epoch walks a fresh shuffle of D_f (the request's samples of the tasks learned) in
 * batches of batch_size, each beside batch_size retained samples drawn uniformly with
 * replacement: the authors zip D_r's loader with D_f's cycled; pairing each forget batch
 * with one retained batch keeps the cost in |D_f| rather than |D|. Both halves go through
 * one forward and one backward (their rows' dlogits weighted as L says).
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

enum { P_ALPHA, P_EPOCHS, P_LR, P_BATCH_SIZE, P_COUNT };

static const lethe_param_decl neggrad_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "alpha", LETHE_PARAM_FLOAT, "0.95", 0.001, 0.9999, NULL,
	  "weight of the descent on D_r, 1 - alpha the ascent on D_f (Kurmanji et al. tune it "
	  "per data set; 0.95 here on Fashion-MNIST)" },
	{ sizeof(lethe_param_decl), "epochs", LETHE_PARAM_INT, "5", 1, 1000, NULL,
	  "passes over D_f, each forget batch paired with a retained one (chosen here on "
	  "Fashion-MNIST's random tenth of a task; a class needs 1)" },
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0", 0, 10, NULL,
	  "SGD learning rate (0: train.lr)" },
	{ sizeof(lethe_param_decl), "batch_size", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "rows of each half of a step (0: train.batch_size)" },
};

struct neggrad {
	lethe_plugin plugin;
	const lethe_host *host;
	double alpha, lr;
	uint32_t epochs, batch_size;
};

/* The rows' dlogits for L: rows [0, n_r) retained, [n_r, n) forget. Returns the retained
 * and the forget CE in ce_r, ce_f (means) and L. */
static double neggrad_dlogits(const struct forget_rows *r, const struct forget_set *s,
			      size_t n_r, double alpha, double *ce_r, double *ce_f)
{
	size_t n_f = r->n - n_r;
	*ce_r = *ce_f = 0.0;
	memset(r->dlogits, 0, r->n * s->C * sizeof(float));
	for (size_t i = 0; i < r->n; i++) {
		int forget = i >= n_r;
		double scale = forget ? -(1.0 - alpha) / (double)n_f : alpha / (double)n_r;
		double ce = xent_add(r->logits + i * s->C, s->C, r->y[i], forget_rows_mask(r, s, i),
				     scale, r->dlogits + i * s->C) / scale;
		*(forget ? ce_f : ce_r) += ce / (double)(forget ? n_f : n_r);
	}
	return alpha * *ce_r - (1.0 - alpha) * *ce_f;
}

static int neggrad_train(const struct neggrad *g, const struct forget_set *s, size_t rows,
			 double lr, double *ce_r, double *ce_f)
{
	const lethe_host *h = g->host;
	lethe_model *m = h->model(h);
	uint64_t P;
	float *theta = h->model_params(h, m, &P);
	const float *grad = h->model_grads(h, m, NULL);
	struct forget_rows r;
	size_t *order = malloc(s->num_forget * sizeof(size_t));
	int rc = forget_rows_init(&r, s, 2 * rows);
	if (rc == LETHE_OK && !order)
		rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; order && i < s->num_forget; i++)
		order[i] = i;
	for (uint32_t e = 0; e < g->epochs && rc == LETHE_OK; e++) {
		forget_shuffle(h, order, s->num_forget);
		for (size_t at = 0; at < s->num_forget && rc == LETHE_OK; at += rows) {
			size_t n_f = s->num_forget - at < rows ? s->num_forget - at : rows;
			r.n = 0;
			for (size_t i = 0; i < rows && rc == LETHE_OK; i++)
				rc = forget_rows_add_retain(&r, s);
			for (size_t i = 0; i < n_f && rc == LETHE_OK; i++)
				rc = forget_rows_add_forget(&r, s, order[at + i]);
			if (rc == LETHE_OK)
				rc = h->model_forward(h, m, r.x, r.n, r.logits);
			if (rc != LETHE_OK)
				break;
			double loss = neggrad_dlogits(&r, s, rows, g->alpha, ce_r, ce_f);
			if (!isfinite(loss)) {
				rc = lethe_fail(h, LETHE_ERR_NUMERIC, "epoch %u: the loss is not "
						"finite (the ascent on D_f ran off); lower lr = %g or "
						"raise alpha = %g", e + 1, lr, g->alpha);
				break;
			}
			rc = h->model_backward(h, m, r.dlogits, r.n);
			if (rc == LETHE_OK)
				h->saxpy(h, P, (float)-lr, grad, theta);
		}
	}
	free(order);
	forget_rows_free(&r);
	return rc;
}

static int neggrad_unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	const struct neggrad *g = p->plugin_data;
	const lethe_host *h = g->host;
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
		rc = forget_set_need_retain(&s, "neggrad", "NegGrad+ descends on D_r");
	double ce_r = NAN, ce_f = NAN, lr = g->lr > 0.0 ? g->lr : run->lr;
	size_t rows = g->batch_size ? g->batch_size : run->batch_size;
	if (rc == LETHE_OK)
		rc = neggrad_train(g, &s, rows, lr, &ce_r, &ce_f);
	if (rc == LETHE_OK) {
		double seconds = lethe_seconds_since(&t0);
		h->report(h, "seconds", seconds);
		lethe_log(h, LETHE_LOG_INFO, "forgot %zu samples in %.3f s: %u epochs, last "
			  "batches' CE %.4g on D_r, %.4g on D_f", s.num_forget, seconds, g->epochs,
			  ce_r, ce_f);
	}
	forget_set_close(&s);
	return rc;
}

static void neggrad_destroy(lethe_plugin *p)
{
	free(p->plugin_data);
}

static lethe_plugin *neggrad_create(const lethe_host *host, const lethe_param_value *v)
{
	struct neggrad *g = calloc(1, sizeof(*g));
	if (!g) {
		host->error(host, "out of memory");
		return NULL;
	}
	*g = (struct neggrad){
		.plugin = { .struct_size = sizeof(lethe_plugin), .plugin_data = g,
			    .destroy = neggrad_destroy, .unlearn = neggrad_unlearn },
		.host = host,
		.alpha = v[P_ALPHA].f,
		.epochs = (uint32_t)v[P_EPOCHS].i,
		.lr = v[P_LR].f,
		.batch_size = (uint32_t)v[P_BATCH_SIZE].i,
	};
	return &g->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "neggrad",
	.version = "1.0",
	.description = "NegGrad+: ascent on the forget set, descent on the retained set (Kurmanji "
		       "et al. 2023)",
	.params = neggrad_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = neggrad_create,
};
