/* ssd: Selective Synaptic Dampening (Foster et al., "Fast Machine Unlearning Without
 * Retraining Through Selective Synaptic Dampening", AAAI 2024). No training: the importance
 * of each parameter to a set of data is its diagonal Fisher there, the mean over the samples
 * of the squared gradient of their cross-entropy (with their labels),
 *	[I_S]_i = (1/|S|) Σ_{x ∈ S} (∂CE(x) / ∂θ_i)²,
 * computed per sample by the host's model_grad_stats, on D_f (the request's samples of the
 * tasks learned) and on D, every training sample of those tasks (the paper; reference =
 * retain takes D_r instead). A parameter far more important to D_f than to D,
 * [I_Df]_i > α [I_D]_i, is dampened: θ_i ← β θ_i, β = min(λ [I_D]_i / [I_Df]_i, 1). The
 * authors sum squared batch gradients; per-sample squares are the Fisher the paper writes.
 * samples caps the samples of D (or D_r) the importance averages over, strided evenly through
 * them (0: all, the paper). Two vectors of the parameters' size per request, freed at its
 * end: no state to save. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/forget_set.h"
#include "../common/xent.h"

enum { REF_FULL, REF_RETAIN };
static const char *const reference_choices[] = { "full", "retain", NULL };

enum { P_ALPHA, P_LAMBDA, P_REFERENCE, P_SAMPLES, P_BATCH_SIZE, P_COUNT };

static const lethe_param_decl ssd_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "alpha", LETHE_PARAM_FLOAT, "10", 0, 1e12, NULL,
	  "selection: dampen where I_Df > alpha I_D (the paper: 10)" },
	{ sizeof(lethe_param_decl), "lambda", LETHE_PARAM_FLOAT, "1", 0, 1e12, NULL,
	  "dampening: beta = min(lambda I_D / I_Df, 1) (the paper: 1)" },
	{ sizeof(lethe_param_decl), "reference", LETHE_PARAM_CHOICE, "full", 0, 0,
	  reference_choices, "the importance's reference set: full D (the paper) or retain D_r" },
	{ sizeof(lethe_param_decl), "samples", LETHE_PARAM_INT, "0", 0, 1e9, NULL,
	  "samples of the reference set the importance averages over, strided (0: all, the "
	  "paper)" },
	{ sizeof(lethe_param_decl), "batch_size", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "rows per forward (0: train.batch_size); no effect on the result" },
};

struct ssd {
	lethe_plugin plugin;
	const lethe_host *host;
	double alpha, lambda;
	int reference;
	uint64_t samples;
	uint32_t batch_size;
};

/* θ_i ← min(λ d_i / f_i, 1) θ_i where f_i > α d_i; returns how many it dampened. */
static uint64_t ssd_dampen(float *theta, const float *imp_f, const float *imp_d, uint64_t n,
			   double alpha, double lambda)
{
	uint64_t dampened = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (!((double)imp_f[i] > alpha * (double)imp_d[i]))
			continue;
		double beta = lambda * (double)imp_d[i] / (double)imp_f[i];
		theta[i] = (float)((beta < 1.0 ? beta : 1.0) * (double)theta[i]);
		dampened++;
	}
	return dampened;
}

/* acc += (1/N) Σ of the rows' squared CE gradients. */
static int ssd_accumulate(const lethe_host *h, lethe_model *m, const struct forget_set *s,
			  struct forget_rows *r, uint64_t N, float *acc)
{
	int rc = h->model_forward(h, m, r->x, r->n, r->logits);
	if (rc != LETHE_OK)
		return rc;
	memset(r->dlogits, 0, r->n * s->C * sizeof(float));
	for (size_t i = 0; i < r->n; i++)
		xent_add(r->logits + i * s->C, s->C, r->y[i], forget_rows_mask(r, s, i), 1.0,
			 r->dlogits + i * s->C);
	return h->model_grad_stats(h, m, r->dlogits, r->n, 1, 2, (float)(1.0 / (double)N), acc,
				   NULL);
}

static int ssd_forget_importance(const lethe_host *h, lethe_model *m, const struct forget_set *s,
				 struct forget_rows *r, float *acc)
{
	int rc = LETHE_OK;
	for (size_t at = 0; at < s->num_forget && rc == LETHE_OK; at += r->cap) {
		r->n = 0;
		for (size_t i = at; i < at + r->cap && i < s->num_forget && rc == LETHE_OK; i++)
			rc = forget_rows_add_forget(r, s, i);
		if (rc == LETHE_OK)
			rc = ssd_accumulate(h, m, s, r, s->num_forget, acc);
	}
	return rc;
}

/* The reference set's importance over N of its samples, strided: sample j of the set at
 * position floor(j total / N) of its numbering (D_r's skipping D_f). */
static int ssd_reference_importance(const struct ssd *d, lethe_model *m,
				    const struct forget_set *s, struct forget_rows *r, float *acc,
				    uint64_t *used)
{
	const lethe_host *h = d->host;
	int retain = d->reference == REF_RETAIN;
	uint64_t total = retain ? s->num_retain : s->starts[s->learned];
	uint64_t N = d->samples && d->samples < total ? d->samples : total;
	uint64_t pos = 0, seen = 0; /* pos walks the numbering; seen counts the set's samples */
	int rc = LETHE_OK;
	*used = N;
	r->n = 0;
	for (uint64_t j = 0; j < N && rc == LETHE_OK; j++) {
		uint64_t want = (uint64_t)((double)j * (double)total / (double)N);
		for (;;) {
			int covered;
			size_t before = r->n;
			rc = forget_rows_add_position(r, s, pos++, &covered);
			if (rc != LETHE_OK)
				break;
			if (retain && covered) {
				r->n = before;
				continue;
			}
			if (seen++ == want)
				break;
			r->n = before;
		}
		if (rc == LETHE_OK && (r->n == r->cap || j + 1 == N)) {
			rc = ssd_accumulate(h, m, s, r, N, acc);
			r->n = 0;
		}
	}
	return rc;
}

static int ssd_unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	const struct ssd *d = p->plugin_data;
	const lethe_host *h = d->host;
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
	if (rc == LETHE_OK && d->reference == REF_RETAIN)
		rc = forget_set_need_retain(&s, "ssd", "reference = retain weighs importance on D_r");
	lethe_model *m = h->model(h);
	uint64_t P, dampened = 0, used = 0;
	float *theta = h->model_params(h, m, &P);
	float *imp_f = calloc(P, sizeof(float)), *imp_d = calloc(P, sizeof(float));
	struct forget_rows r = { 0 };
	if (rc == LETHE_OK && (!imp_f || !imp_d))
		rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the importances of %llu "
				"parameters", (unsigned long long)P);
	if (rc == LETHE_OK)
		rc = forget_rows_init(&r, &s, d->batch_size ? d->batch_size : run->batch_size);
	if (rc == LETHE_OK)
		rc = ssd_forget_importance(h, m, &s, &r, imp_f);
	if (rc == LETHE_OK)
		rc = ssd_reference_importance(d, m, &s, &r, imp_d, &used);
	if (rc == LETHE_OK) {
		dampened = ssd_dampen(theta, imp_f, imp_d, P, d->alpha, d->lambda);
		double seconds = lethe_seconds_since(&t0);
		h->report(h, "seconds", seconds);
		h->report(h, "dampened", (double)dampened);
		lethe_log(h, LETHE_LOG_INFO, "forgot %zu samples in %.3f s: dampened %llu of %llu "
			  "parameters (importance on %zu forget and %llu %s samples)", s.num_forget,
			  seconds, (unsigned long long)dampened, (unsigned long long)P,
			  s.num_forget, (unsigned long long)used, reference_choices[d->reference]);
	}
	forget_rows_free(&r);
	free(imp_f);
	free(imp_d);
	forget_set_close(&s);
	return rc;
}

static void ssd_destroy(lethe_plugin *p)
{
	free(p->plugin_data);
}

static lethe_plugin *ssd_create(const lethe_host *host, const lethe_param_value *v)
{
	struct ssd *d = calloc(1, sizeof(*d));
	if (!d) {
		host->error(host, "out of memory");
		return NULL;
	}
	*d = (struct ssd){
		.plugin = { .struct_size = sizeof(lethe_plugin), .plugin_data = d,
			    .destroy = ssd_destroy, .unlearn = ssd_unlearn },
		.host = host,
		.alpha = v[P_ALPHA].f,
		.lambda = v[P_LAMBDA].f,
		.reference = (int)v[P_REFERENCE].i,
		.samples = (uint64_t)v[P_SAMPLES].i,
		.batch_size = (uint32_t)v[P_BATCH_SIZE].i,
	};
	return &d->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "ssd",
	.version = "1.0",
	.description = "Selective Synaptic Dampening: shrink the parameters far more important to "
		       "the forget set than to the data (Foster et al. 2024)",
	.params = ssd_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = ssd_create,
};
