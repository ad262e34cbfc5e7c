/* neggrad: NegGrad+ (Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023):
 * gradient ascent on the forget set and descent on the retained set together,
 *	L(θ) = α CE(D_r batch) − (1 − α) CE(D_f batch),
 * each CE the mean over its rows, one plain SGD step per pair of batches from the host's model.
 * An epoch walks a fresh shuffle of D_f (the request's samples of the tasks learned) in
 * batches of batch_size, each beside batch_size retained samples drawn uniformly with
 * replacement: the authors zip D_r's loader with D_f's cycled; pairing each forget batch
 * with one retained batch keeps the cost in |D_f| rather than |D|. Both halves go through
 * one forward and one backward (their rows' dlogits weighted as L says).
 *
 * Additions, all off by default (docs/unlearning.md, "neggrad"). `flood` = b > 0 floods each
 * forget row's loss (Ishida et al. 2020, "Do We Need Zero Training Loss After Achieving Zero
 * Training Error?", applied per sample): the forget half becomes (1 − α) mean |b − CE_i|, so
 * a forgotten sample is pushed up only while its CE is below b and back down once above it,
 * and the ascent cannot run off. `steps` makes an epoch longer than one walk of D_f (D_f
 * cycled), as the authors' epoch walks D_r. `forget_loss = complement` descends
 * −log(1 − p_y) instead of ascending the CE. `repair_epochs` then repairs at the scenario's
 * optimiser (momentum): on D_r alone, walked whole (plugins/common/repair.h), or with the
 * forget half kept (repair_alpha < 1), so that the repair cannot bring D_f back. `clip` bounds
 * a forget-phase step's gradient norm (Pascanu et al. 2013): the ascent's gradients grow as
 * D_f's losses do, and unbounded steps at a high lr forget far more on one seed than another.
 * Nothing is kept between requests: no state to save. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/forget_set.h"
#include "../common/repair.h"
#include "../common/xent.h"

enum {
	P_ALPHA, P_EPOCHS, P_STEPS, P_LR, P_BATCH_SIZE, P_LOSS, P_FLOOD, P_REPAIR_EPOCHS,
	P_REPAIR_LR, P_REPAIR_ALPHA, P_REPAIR_FORGET_BATCH, P_CLIP, P_REPAIR_SCHEDULE, P_COUNT
};

static const char *const loss_choices[] = { "ascent", "complement", NULL };
static const char *const schedule_choices[] = { "constant", "cosine", NULL };

static const lethe_param_decl neggrad_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "alpha", LETHE_PARAM_FLOAT, "0.95", 0.001, 0.9999, NULL,
	  "weight of the descent on D_r, 1 - alpha the ascent on D_f (Kurmanji et al. tune it "
	  "per data set; 0.95 here on Fashion-MNIST)" },
	{ sizeof(lethe_param_decl), "epochs", LETHE_PARAM_INT, "5", 1, 1000, NULL,
	  "passes over D_f, each forget batch paired with a retained one (chosen here on "
	  "Fashion-MNIST's random tenth of a task; a class needs 1)" },
	{ sizeof(lethe_param_decl), "steps", LETHE_PARAM_INT, "0", 0, 1e8, NULL,
	  "steps per epoch, D_f's batches cycled (0: one walk of D_f; as many as D_r has "
	  "batches: the authors' epoch, which walks D_r)" },
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0", 0, 10, NULL,
	  "SGD learning rate (0: train.lr)" },
	{ sizeof(lethe_param_decl), "batch_size", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "rows of each half of a step (0: train.batch_size)" },
	{ sizeof(lethe_param_decl), "forget_loss", LETHE_PARAM_CHOICE, "ascent", 0, 0,
	  loss_choices, "the forget half: ascent on the CE (NegGrad+), or descent on "
	  "-log(1 - p_y) (complement: Kim et al. 2019's negative learning, y the complementary "
	  "label), whose gradient stays near unit size on a confidently known sample" },
	{ sizeof(lethe_param_decl), "flood", LETHE_PARAM_FLOAT, "0", 0, 100, NULL,
	  "per-sample flood level b of the forget loss: ascend on a forgotten sample while its "
	  "CE is below b, descend once above (Ishida et al. 2020's flooding, per sample; 0: "
	  "off, the plain ascent)" },
	{ sizeof(lethe_param_decl), "repair_epochs", LETHE_PARAM_INT, "0", 0, 1000, NULL,
	  "epochs of repair after the forget phase, each as many steps as D_r has batches, at "
	  "the scenario's momentum and weight decay (0: none)" },
	{ sizeof(lethe_param_decl), "repair_lr", LETHE_PARAM_FLOAT, "0", 0, 10, NULL,
	  "the repair's learning rate (0: train.lr)" },
	{ sizeof(lethe_param_decl), "repair_alpha", LETHE_PARAM_FLOAT, "1", 0.001, 1, NULL,
	  "below 1, the repair keeps the forget half: its steps are NegGrad+'s at this alpha, "
	  "the flood and forget_loss above (1: D_r alone, walked whole)" },
	{ sizeof(lethe_param_decl), "repair_forget_batch", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "forget rows beside each retained batch in a repair that keeps the forget half (0: "
	  "batch_size); fewer make the repair cheaper" },
	{ sizeof(lethe_param_decl), "clip", LETHE_PARAM_FLOAT, "0", 0, 1e6, NULL,
	  "largest L2 norm of a forget-phase step's gradient, larger ones scaled down to it "
	  "(Pascanu et al. 2013's clipping; 0: none)" },
	{ sizeof(lethe_param_decl), "repair_schedule", LETHE_PARAM_CHOICE, "constant", 0, 0,
	  schedule_choices, "the repair's learning rate: repair_lr throughout, or annealed from "
	  "it to 0 along a half cosine over the repair's steps (Loshchilov & Hutter 2017)" },
};

struct neggrad {
	lethe_plugin plugin;
	const lethe_host *host;
	double alpha, lr, flood, repair_lr, repair_alpha, clip;
	uint32_t epochs, steps, batch_size, repair_epochs, repair_forget_batch;
	int complement, cosine;
};

/* Adds scale ∂(−log(1 − p_y))/∂z to dz, p the softmax of z over the classes mask allows:
 * scale p_y at y and −scale p_y p_j / (1 − p_y) elsewhere, 1 − p_y summed from the other
 * classes so that a confident row keeps its gradient. Returns the row's CE, −log p_y. */
static double complement_add(const float *z, size_t c, int32_t y, const uint8_t *mask,
			     double scale, float *dz)
{
	double max = -INFINITY, sum = 0.0, other = 0.0;
	for (size_t j = 0; j < c; j++)
		if ((!mask || mask[j]) && z[j] > max)
			max = z[j];
	for (size_t j = 0; j < c; j++)
		if (!mask || mask[j]) {
			sum += exp(z[j] - max);
			other += (size_t)y == j ? 0.0 : exp(z[j] - max);
		}
	double p_y = exp(z[y] - max) / sum;
	for (size_t j = 0; j < c; j++)
		if (!mask || mask[j])
			dz[j] += (float)(scale * ((size_t)y == j ? p_y :
						  -p_y * exp(z[j] - max) / fmax(other, DBL_MIN)));
	return max + log(sum) - z[y];
}

/* The rows' dlogits for L: rows [0, n_r) retained, [n_r, n) forget. A forget row ascends its
 * CE, or with complement descends −log(1 − p_y); with flood > 0, a forget row whose CE is
 * above flood descends its CE instead. Returns the retained and the forget CE in ce_r, ce_f
 * (means) and α CE_r − (1 − α) CE_f. */
static double neggrad_dlogits(const struct forget_rows *r, const struct forget_set *s,
			      size_t n_r, double alpha, double flood, int complement,
			      double *ce_r, double *ce_f)
{
	size_t n_f = r->n - n_r;
	*ce_r = *ce_f = 0.0;
	memset(r->dlogits, 0, r->n * s->C * sizeof(float));
	for (size_t i = 0; i < r->n; i++) {
		int forget = i >= n_r;
		const float *z = r->logits + i * s->C;
		const uint8_t *mask = forget_rows_mask(r, s, i);
		float *dz = r->dlogits + i * s->C;
		double scale = forget ? -(1.0 - alpha) / (double)n_f : alpha / (double)n_r;
		double ce;
		if (forget && complement) {
			ce = complement_add(z, s->C, r->y[i], mask, -scale, dz);
			if (flood > 0.0 && ce > flood) {
				memset(dz, 0, s->C * sizeof(float));
				xent_add(z, s->C, r->y[i], mask, -scale, dz);
			}
		} else {
			ce = xent_add(z, s->C, r->y[i], mask, scale, dz) / scale;
			if (forget && flood > 0.0 && ce > flood)
				for (size_t j = 0; j < s->C; j++)
					dz[j] = -dz[j];
		}
		*(forget ? ce_f : ce_r) += ce / (double)(forget ? n_f : n_r);
	}
	return alpha * *ce_r - (1.0 - alpha) * *ce_f;
}

/* Scales the n values of g down to L2 norm `clip` when they are longer. A norm that is not
 * finite (the float sum of squares past FLT_MAX, or a NaN) is refused: scaled by clip / inf,
 * the step would silently vanish. */
static int neggrad_clip(const lethe_host *h, float *g, size_t n, double clip, double lr)
{
	double norm = sqrt((double)h->sdot(h, n, g, g));
	if (!isfinite(norm))
		return lethe_fail(h, LETHE_ERR_NUMERIC, "a forget step's gradient norm is not "
				  "finite (the ascent on D_f ran off); lower lr = %g", lr);
	if (norm <= clip)
		return LETHE_OK;
	float k = (float)(clip / norm);
	for (size_t i = 0; i < n; i++)
		g[i] *= k;
	return LETHE_OK;
}

/* One phase of paired steps: the forget phase (plain SGD), or the repair with the forget half
 * kept (the scenario's momentum). */
struct neggrad_phase {
	uint32_t epochs;
	size_t steps, forget_rows;
	double lr, momentum, weight_decay, alpha, clip;
	int walk, cosine;
};

/* The learning rate of step t of a phase's T: constant, or annealed along a half cosine from
 * ph->lr at t = 0 towards 0 at t = T. */
static double neggrad_lr(const struct neggrad_phase *ph, size_t t, size_t T)
{
	return ph->cosine ? ph->lr * 0.5 * (1.0 + cos(M_PI * (double)t / (double)T)) : ph->lr;
}

/* The retained half of a step: rows drawn uniformly with replacement, or with walk (an
 * order over the learned samples, D_f's skipped) the next ones of the walk, *at advancing;
 * fewer than rows when the walk ends. */
static int neggrad_add_retained(struct forget_rows *r, const struct forget_set *s, size_t rows,
				const size_t *walk, size_t *at)
{
	size_t n = (size_t)s->starts[s->learned];
	int rc = LETHE_OK;
	while (r->n < rows && rc == LETHE_OK && (!walk || *at < n)) {
		int covered = 0;
		rc = walk ? forget_rows_add_position(r, s, walk[(*at)++], &covered) :
			    forget_rows_add_retain(r, s);
		r->n -= (size_t)(rc == LETHE_OK && covered);
	}
	return rc;
}

static int neggrad_train(const struct neggrad *g, const struct forget_set *s, size_t rows,
			 const struct neggrad_phase *ph, uint64_t *taken, double *ce_r,
			 double *ce_f)
{
	double lr = ph->lr;
	const lethe_host *h = g->host;
	lethe_model *m = h->model(h);
	uint64_t P;
	float *theta = h->model_params(h, m, &P);
	float *grad = h->model_grads(h, m, NULL);
	struct forget_rows r;
	size_t *order = malloc(s->num_forget * sizeof(size_t));
	size_t f_rows = ph->forget_rows, n = (size_t)s->starts[s->learned], walk_at = 0;
	size_t *walk = ph->walk ? malloc(n * sizeof(size_t)) : NULL;
	int rc = forget_rows_init(&r, s, rows + f_rows);
	if (rc == LETHE_OK && (!order || (ph->walk && !walk)))
		rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; order && i < s->num_forget; i++)
		order[i] = i;
	for (size_t i = 0; walk && i < n; i++)
		walk[i] = i;
	/* D_f is walked in batches of f_rows, reshuffled each time it runs out: an epoch of the
	 * default steps is one walk. With walk, D_r is walked too, each retained sample once an
	 * epoch (random reshuffling, which fits a training set in fewer epochs than draws with
	 * replacement), and an epoch's steps are its batches. */
	size_t steps = ph->steps ? ph->steps : (s->num_forget + f_rows - 1) / f_rows;
	size_t at = s->num_forget;
	float *velocity = ph->momentum > 0.0 ? calloc(P, sizeof(float)) : NULL;
	if (rc == LETHE_OK && ph->momentum > 0.0 && !velocity)
		rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory");
	for (uint32_t e = 0; e < ph->epochs && rc == LETHE_OK; e++) {
		if (walk) {
			forget_shuffle(h, walk, n);
			walk_at = 0;
		}
		for (size_t step = 0; step < steps && rc == LETHE_OK; step++, at += f_rows) {
			if (at >= s->num_forget) {
				forget_shuffle(h, order, s->num_forget);
				at = 0;
			}
			size_t n_f = s->num_forget - at < f_rows ? s->num_forget - at : f_rows;
			r.n = 0;
			rc = neggrad_add_retained(&r, s, rows, walk, &walk_at);
			size_t n_r = r.n;
			if (rc != LETHE_OK || n_r == 0)
				break;
			for (size_t i = 0; i < n_f && rc == LETHE_OK; i++)
				rc = forget_rows_add_forget(&r, s, order[at + i]);
			if (rc == LETHE_OK)
				rc = h->model_forward(h, m, r.x, r.n, r.logits);
			if (rc != LETHE_OK)
				break;
			double loss = neggrad_dlogits(&r, s, n_r, ph->alpha, g->flood,
						      g->complement, ce_r, ce_f);
			if (!isfinite(loss)) {
				rc = lethe_fail(h, LETHE_ERR_NUMERIC, "epoch %u: the loss is not "
						"finite (the ascent on D_f ran off); lower lr = %g or "
						"raise alpha = %g", e + 1, lr, ph->alpha);
				break;
			}
			rc = h->model_backward(h, m, r.dlogits, r.n);
			*taken += rc == LETHE_OK;
			if (rc == LETHE_OK && ph->clip > 0.0)
				rc = neggrad_clip(h, grad, P, ph->clip, lr);
			lr = neggrad_lr(ph, e * steps + step, ph->epochs * steps);
			if (rc == LETHE_OK && !velocity)
				h->saxpy(h, P, (float)-lr, grad, theta);
			if (rc == LETHE_OK && velocity)
				repair_momentum_step(theta, grad, velocity, P, lr, ph->momentum,
						     ph->weight_decay);
		}
	}
	free(velocity);
	free(walk);
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
	uint64_t steps = 0, repair_steps = 0;
	const struct neggrad_phase forget = {
		g->epochs, g->steps, rows, lr, 0.0, 0.0, g->alpha, g->clip, 0, 0
	};
	const struct neggrad_phase repair = {
		g->repair_epochs, (size_t)((s.num_retain + rows - 1) / rows),
		g->repair_forget_batch ? g->repair_forget_batch : rows,
		g->repair_lr > 0.0 ? g->repair_lr : run->lr, run->momentum, run->weight_decay,
		g->repair_alpha, 0.0, 1, g->cosine
	};
	if (rc == LETHE_OK)
		rc = neggrad_train(g, &s, rows, &forget, &steps, &ce_r, &ce_f);
	if (rc == LETHE_OK && repair.epochs > 0 && repair.alpha < 1.0)
		rc = neggrad_train(g, &s, rows, &repair, &repair_steps, &ce_r, &ce_f);
	else if (rc == LETHE_OK && repair.epochs > 0)
		rc = repair_run(&s, repair.epochs, rows, repair.lr, repair.momentum,
				repair.weight_decay, &repair_steps, &ce_r);
	if (rc == LETHE_OK) {
		double seconds = lethe_seconds_since(&t0);
		h->report(h, "seconds", seconds);
		if (g->repair_epochs > 0)
			h->report(h, "repair_steps", (double)repair_steps);
		lethe_log(h, LETHE_LOG_INFO, "forgot %zu samples in %.3f s: %u epochs, %llu repair "
			  "steps, last batches' CE %.4g on D_r, %.4g on D_f", s.num_forget, seconds,
			  g->epochs, (unsigned long long)repair_steps, ce_r, ce_f);
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
	if (v[P_REPAIR_SCHEDULE].i == 1 && v[P_REPAIR_ALPHA].f >= 1.0) {
		host->error(host, "repair_schedule = cosine anneals a repair that keeps the forget "
			    "half; set repair_alpha below 1");
		return NULL;
	}
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
		.steps = (uint32_t)v[P_STEPS].i,
		.lr = v[P_LR].f,
		.batch_size = (uint32_t)v[P_BATCH_SIZE].i,
		.complement = v[P_LOSS].i == 1,
		.flood = v[P_FLOOD].f,
		.repair_epochs = (uint32_t)v[P_REPAIR_EPOCHS].i,
		.repair_lr = v[P_REPAIR_LR].f,
		.repair_alpha = v[P_REPAIR_ALPHA].f,
		.repair_forget_batch = (uint32_t)v[P_REPAIR_FORGET_BATCH].i,
		.clip = v[P_CLIP].f,
		.cosine = v[P_REPAIR_SCHEDULE].i == 1,
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
