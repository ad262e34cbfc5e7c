/* repulsion: unlearning by repulsion from models adapted to the forget set (after Tiwary et al.,
 * "Adapt then Unlearn").
 *
 * D_f is what the request's ids name of the tasks learned so far (the rest never reached the
 * model); D_r every other training sample of those tasks; θ0 the host's model at the request.
 * 1. Adapt: K copies of θ0 are each fine-tuned on D_f for adapt_steps batches, each on its own
 *    seeded shuffle, with CE plus the EWC anchor (ewc_lambda/2) Σ_i F_i (θ_i − θ0_i)². F is
 *    the diagonal Fisher of θ0 on D_r: the anchor pins what the retained data needs, so the
 *    adapted models move along what carries D_f alone, and the repulsion then pushes there.
 *    F is the sampled Fisher (one label drawn from p_θ0(·|x) per sample: unbiased for the
 *    exact one at 1/C of its cost) over fisher_samples retained samples. The anchor's step is
 *    implicit (see adapt_one), so no ewc_lambda makes stage 1 diverge.
 * 2. Unlearn: the host's model, from θ0, takes unlearn_steps plain SGD steps on batches of
 *    retained samples with CE plus a repulsion term R(d): NL2 −γ·d, EL2 c·exp(−γ·d), IL2 γ/d,
 *    where d(θ) is the mean over the K models and over the T tensors (every layer's W and b,
 *    batch norm's gamma and beta)
 *    of the mean squared difference between θ_N^(k) and θ. A step whose loss is not finite
 *    stops the request with an error naming what to lower (NL2 is unbounded below).
 * Batches of D_r are drawn uniformly with replacement; both stages use lr.
 *
 * d needs no K copies. With θ̄ the adapted models' mean and n_t the size of tensor t,
 *	d(θ) = (1/T) Σ_t |θ_t − θ̄_t|² / n_t + s,
 *	s = (1/(K T)) Σ_k Σ_t |θ_N,t^(k) − θ̄_t|² / n_t,
 * so stage 2 keeps θ̄ and the constant s, and ∂d/∂θ_i = 2 (θ_i − θ̄_i) / (T n_t) exactly.
 * Stage 1 adapts one clone K times in turn. A request thus holds 4·P floats whatever K (the
 * clone's parameters and gradients, θ̄, F) where the K-copy form holds (K + 2)·P, plus batch
 * buffers: one allocation and one clone at its start, both freed at its end. Nothing is kept
 * between requests: no state to save, and no on_forget (the plugin keeps no samples).
 *
 * Defaults, measured on scenarios/unlearn-class-repulsion.ini (Fashion-MNIST, 5 tasks of 2
 * classes with rehearsal), forgetting each class in turn, 3 seeds: every forget sample
 * misclassified, MIA-efficacy at retrain's, the retained classes' test accuracy 1 point from
 * retrain's on average (4 at worst), in about 7% of retrain's time. ewc_lambda = 10⁴ rather
 * than 10² took that gap from 2.2 to 1.2 points: the adapted models then move where D_r does
 * not pin θ0, so the push spares the retained classes. EL2's exp(−γd) ends the push once d
 * reaches a few 1/γ, and c sets how fast it gets there; the CE on D_r then repairs what the
 * push disturbed, which 80 steps leave it time for (40 do not), on batches of 128, whose
 * noise moves the retained classes less than the scenario's 64. The push per step goes with
 * lr·c and the anchor with lr·ewc_lambda: the defaults suit lr near 0.01.
 *
 * Figures, per request: state_bytes (what it holds), seconds, and forget_ce_before/_adapted,
 * forget_acc_before/_adapted: θ0's and the adapted models' (mean) cross-entropy and accuracy on
 * a fixed strided sample of D_f, which show that stage 1's models carry the forget set. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

enum { KIND_NL2, KIND_EL2, KIND_IL2 };
static const char *const kind_choices[] = { "nl2", "el2", "il2", NULL };

enum { P_KIND, P_GAMMA, P_C, P_K, P_ADAPT_STEPS, P_UNLEARN_STEPS, P_LR, P_EWC_LAMBDA,
       P_FISHER_SAMPLES, P_BATCH_SIZE, P_COUNT };

static const lethe_param_decl repulsion_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "kind", LETHE_PARAM_CHOICE, "el2", 0, 0, kind_choices,
	  "repulsion term: nl2 -gamma d, el2 c exp(-gamma d), il2 gamma/d" },
	{ sizeof(lethe_param_decl), "gamma", LETHE_PARAM_FLOAT, "1", 0, 1e12, NULL,
	  "nl2, il2: the term's weight; el2: its decay rate in d" },
	{ sizeof(lethe_param_decl), "c", LETHE_PARAM_FLOAT, "2000", 0, 1e12, NULL,
	  "el2: the term's weight" },
	{ sizeof(lethe_param_decl), "k", LETHE_PARAM_INT, "2", 1, 5, NULL,
	  "stage 1: adapted models K" },
	{ sizeof(lethe_param_decl), "adapt_steps", LETHE_PARAM_INT, "10", 1, 1e7, NULL,
	  "stage 1: SGD steps of each adapted model on the forget set" },
	{ sizeof(lethe_param_decl), "unlearn_steps", LETHE_PARAM_INT, "80", 0, 1e8, NULL,
	  "stage 2: SGD steps on the retained data" },
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0", 0, 10, NULL,
	  "learning rate of both stages (0: train.lr)" },
	{ sizeof(lethe_param_decl), "ewc_lambda", LETHE_PARAM_FLOAT, "10000", 0, 1e12, NULL,
	  "stage 1: weight of the EWC anchor to the model before the request" },
	{ sizeof(lethe_param_decl), "fisher_samples", LETHE_PARAM_INT, "512", 1, 1e7, NULL,
	  "stage 1: retained samples of the anchor's Fisher" },
	{ sizeof(lethe_param_decl), "batch_size", LETHE_PARAM_INT, "128", 0, 65536, NULL,
	  "rows per step of both stages (0: train.batch_size)" },
};

struct repulsion {
	lethe_plugin plugin;
	const lethe_host *host;
	int kind;
	double gamma, c, lr, ewc_lambda;
	uint32_t k, adapt_steps, unlearn_steps, fisher_samples, batch_size;
};

/* A parameter tensor (a layer's W or b): a run of the flat vector. */
struct tensor {
	uint64_t off, len;
};

/* What the repulsion pushes away from: θ̄ and s of d(θ) (see the top of the file). While the
 * adapted models come in, mean holds Σ_k (θ_N^(k) − θ0) / K and sq[t] Σ_k |θ_N,t^(k) − θ0_t|². */
struct target {
	struct tensor *tensors;
	uint32_t num_tensors;
	float *mean;
	double *sq;
	double spread;
};

/* A sample of D_f, as the host stores it. */
struct sample {
	const uint8_t *pixels;
	int32_t y;
	uint32_t task;
};

/* One request's working set: one allocation (arena) and one clone, both freed at its end. */
struct work {
	const struct repulsion *r;
	const lethe_host *h;
	const lethe_forget_request *req;
	lethe_model *model, *clone;
	uint64_t P;
	size_t rows, dim, C;
	uint32_t learned;	/* tasks learned so far */
	double lr;

	uint64_t *starts;	/* starts[k]: where task k begins in one numbering of the learned
				 * tasks' samples; starts[learned] their count, D_f included */
	const uint8_t *masks;	/* task-incremental: learned x C allowed classes, else NULL */
	struct sample *forget;	/* D_f in id order: the ids of learned tasks are a prefix */
	size_t num_forget;
	size_t *order, at;	/* the shuffle of D_f stage 1 walks */
	size_t *probe;		/* a strided sample of D_f, for the figures */
	size_t num_probe;

	float *x, *logits, *dlogits;
	int32_t *y;
	uint32_t *row_task;

	float *anchor;		/* F, then 1/(1 + lr λ F): see adapt_one; NULL when λ = 0 */
	struct target target;

	void *arena;
	size_t bytes;
};

static struct repulsion *repulsion_of(lethe_plugin *p)
{
	return p->plugin_data;
}

/* ---- the repulsion term ---- */

/* Takes in adapted model theta, one of K (see struct target). */
static void target_add(struct target *t, const float *theta, const float *theta0, uint32_t K)
{
	for (uint32_t j = 0; j < t->num_tensors; j++) {
		uint64_t end = t->tensors[j].off + t->tensors[j].len;
		double sum = 0.0;
		for (uint64_t i = t->tensors[j].off; i < end; i++) {
			float diff = theta[i] - theta0[i];
			sum += (double)diff * diff;
			t->mean[i] += diff / (float)K;
		}
		t->sq[j] += sum;
	}
}

/* Once the K models are in: s from the identity (1/K) Σ_k |a_k − ā|² = (1/K) Σ_k |a_k|² − |ā|²
 * with a_k = θ_N^(k) − θ0, whose terms are small, so doubles keep it exact enough; then θ̄. */
static void target_finish(struct target *t, const float *theta0, uint32_t K)
{
	double spread = 0.0;
	for (uint32_t j = 0; j < t->num_tensors; j++) {
		uint64_t end = t->tensors[j].off + t->tensors[j].len;
		double mean_sq = 0.0;
		for (uint64_t i = t->tensors[j].off; i < end; i++) {
			mean_sq += (double)t->mean[i] * t->mean[i];
			t->mean[i] += theta0[i];
		}
		double s = t->sq[j] / K - mean_sq;
		spread += s > 0.0 ? s / (double)t->tensors[j].len : 0.0;
	}
	t->spread = spread / t->num_tensors;
}

static double target_distance(const struct target *t, const float *theta)
{
	double d = 0.0;
	for (uint32_t j = 0; j < t->num_tensors; j++) {
		uint64_t end = t->tensors[j].off + t->tensors[j].len;
		double sum = 0.0;
		for (uint64_t i = t->tensors[j].off; i < end; i++) {
			float diff = theta[i] - t->mean[i];
			sum += (double)diff * diff;
		}
		d += sum / (double)t->tensors[j].len;
	}
	return d / t->num_tensors + t->spread;
}

/* GCC at -O2 vectorises a loop only when it leaves no scalar remainder, so the steps run on
 * whole SPANs (a multiple of every vector width), then once on the rest. */
#define SPAN 16

/* θ −= lr (g + a (θ − θ̄)) on n values; lanes gathers the new |θ − θ̄|², a lane per element. */
static void step_span(float *restrict theta, const float *restrict grad,
		      const float *restrict mean, float *restrict lanes, float lr, float a,
		      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float next = theta[i] - lr * (grad[i] + a * (theta[i] - mean[i]));
		float diff = next - mean[i];
		theta[i] = next;
		lanes[i] += diff * diff;
	}
}

/* One SGD step on grad plus slope ∂d/∂θ, where ∂d/∂θ_i = 2 (θ_i − θ̄_i) / (T n_t); returns d at
 * the new θ, from the same pass. */
static double target_step(const struct target *t, float *theta, const float *grad,
			  double slope, float lr)
{
	double d = 0.0;
	for (uint32_t j = 0; j < t->num_tensors; j++) {
		uint64_t off = t->tensors[j].off, len = t->tensors[j].len, i = 0;
		float a = (float)(2.0 * slope / ((double)t->num_tensors * (double)len));
		float lanes[SPAN] = { 0 };
		for (; i + SPAN <= len; i += SPAN)
			step_span(theta + off + i, grad + off + i, t->mean + off + i, lanes, lr, a,
				  SPAN);
		step_span(theta + off + i, grad + off + i, t->mean + off + i, lanes, lr, a,
			  len - i);
		double sum = 0.0;
		for (int k = 0; k < SPAN; k++)
			sum += lanes[k];
		d += sum / (double)len;
	}
	return d / t->num_tensors + t->spread;
}

/* R(d), and R'(d) in *slope. */
static double term_value(int kind, double gamma, double c, double d, double *slope)
{
	switch (kind) {
	case KIND_NL2:
		*slope = -gamma;
		return -gamma * d;
	case KIND_EL2: {
		double e = c * exp(-gamma * d);
		*slope = -gamma * e;
		return e;
	}
	default:
		*slope = -gamma / (d * d);
		return gamma / d;
	}
}

/* ---- batches ---- */

static uint64_t draw_below(const lethe_host *h, uint64_t n)
{
	uint64_t v = (uint64_t)(h->rng_uniform(h) * (double)n);
	return v < n ? v : n - 1;
}

static void shuffle(const lethe_host *h, size_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)draw_below(h, i), t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* n retained samples, uniform with replacement: draws over every training sample, D_f rejected
 * (the caller made sure D_r is not empty). */
static int retain_fill(struct work *w, size_t n)
{
	const lethe_host *h = w->h;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *pixels;
		uint64_t id, pos;
		uint32_t k;
		do {
			pos = draw_below(h, w->starts[w->learned]);
			for (k = 0; pos >= w->starts[k + 1]; k++)
				;
			int rc = h->task_raw(h, k, pos - w->starts[k], &pixels, &w->y[i], &id);
			if (rc != LETHE_OK)
				return rc;
		} while (lethe_forget_covers(w->req, id));
		w->row_task[i] = k;
		int rc = h->task_convert(h, k, pixels, 1, w->x + i * w->dim);
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

/* The D_f samples idx[0..n). */
static int forget_fill(struct work *w, const size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct sample *s = &w->forget[idx[i]];
		w->y[i] = s->y;
		w->row_task[i] = s->task;
		int rc = w->h->task_convert(w->h, s->task, s->pixels, 1, w->x + i * w->dim);
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

/* The next *n rows of stage 1's walk through D_f, reshuffled whenever it is used up. */
static int forget_next(struct work *w, size_t *n)
{
	*n = w->num_forget < w->rows ? w->num_forget : w->rows;
	if (w->at + *n > w->num_forget) {
		shuffle(w->h, w->order, w->num_forget);
		w->at = 0;
	}
	w->at += *n;
	return forget_fill(w, w->order + w->at - *n, *n);
}

/* ---- loss ---- */

static const uint8_t *row_mask(const struct work *w, size_t i)
{
	return w->masks ? w->masks + w->row_task[i] * w->C : NULL;
}

/* Mean CE of the n rows of w->logits; dlogits receives its gradient; *correct counts the rows
 * whose most probable class is the label. */
static double ce_rows(const struct work *w, size_t n, size_t *correct)
{
	double total = 0.0;
	float scale = 1.0f / (float)n;
	*correct = 0;
	for (size_t i = 0; i < n; i++) {
		const float *z = w->logits + i * w->C;
		float *d = w->dlogits + i * w->C;
		int32_t y = w->y[i];
		total += lethe_softmax(z, w->C, row_mask(w, i), d) - z[y];
		size_t best = (size_t)y;
		for (size_t j = 0; j < w->C; j++)
			best = d[j] > d[best] ? j : best;
		*correct += best == (size_t)y;
		d[y] -= 1.0f;
		for (size_t j = 0; j < w->C; j++)
			d[j] *= scale;
	}
	return total / (double)n;
}

/* The loss of a step is finite, or the request stops with what to lower. */
static int check_loss(const struct work *w, double loss, int stage, uint32_t model,
		      uint32_t step)
{
	if (isfinite(loss))
		return LETHE_OK;
	const struct repulsion *r = w->r;
	const char *what = isnan(loss) ? "NaN" : "infinite";
	if (stage == 1)
		return lethe_fail(w->h, LETHE_ERR_NUMERIC, "stage 1, model %u, step %u: the loss "
				  "is %s; lower lr = %g", model + 1, step + 1, what, w->lr);
	if (r->kind == KIND_NL2)
		return lethe_fail(w->h, LETHE_ERR_NUMERIC, "stage 2, step %u: the loss is %s: "
				  "kind = nl2 is unbounded below and gamma = %g drove the weights "
				  "off; lower gamma or unlearn_steps = %u, or use kind = el2",
				  step + 1, what, r->gamma, r->unlearn_steps);
	return lethe_fail(w->h, LETHE_ERR_NUMERIC, "stage 2, step %u: the loss is %s; lower "
			  "gamma = %g%s or lr = %g", step + 1, what, r->gamma,
			  r->kind == KIND_EL2 ? ", c" : "", w->lr);
}

/* ---- the Fisher of θ0 on D_r ---- */

/* F of θ0 on fisher_samples retained samples, left in w->anchor as the factor adapt_one
 * needs. */
static int fisher_compute(struct work *w)
{
	const lethe_host *h = w->h;
	size_t N = w->r->fisher_samples;
	memset(w->anchor, 0, w->P * sizeof(float));
	for (size_t done = 0, n; done < N; done += n) {
		n = N - done < w->rows ? N - done : w->rows;
		int rc = retain_fill(w, n);
		if (rc == LETHE_OK)
			rc = h->model_forward(h, w->model, w->x, n, w->logits);
		for (size_t i = 0; i < n && rc == LETHE_OK; i++) {
			float *d = w->dlogits + i * w->C;
			lethe_softmax(w->logits + i * w->C, w->C, row_mask(w, i), d);
			d[lethe_draw_class(d, w->C, h->rng_uniform(h))] -= 1.0f;
		}
		/* Every row's own squared gradient, whatever the layers. */
		if (rc == LETHE_OK)
			rc = h->model_grad_stats(h, w->model, w->dlogits, n, 1, 2, 1.0f / (float)N,
						 w->anchor, NULL);
		if (rc != LETHE_OK)
			return rc;
	}
	float lr_lambda = (float)(w->lr * w->r->ewc_lambda);
	for (uint64_t i = 0; i < w->P; i++)
		w->anchor[i] = 1.0f / (1.0f + lr_lambda * w->anchor[i]);
	return LETHE_OK;
}

/* ---- the stages ---- */

/* CE and accuracy of model m on the probe sample of D_f. */
static int forget_probe(struct work *w, lethe_model *m, double *ce, double *acc)
{
	size_t correct;
	int rc = forget_fill(w, w->probe, w->num_probe);
	if (rc == LETHE_OK)
		rc = w->h->model_forward(w->h, m, w->x, w->num_probe, w->logits);
	if (rc != LETHE_OK)
		return rc;
	*ce = ce_rows(w, w->num_probe, &correct);
	*acc = (double)correct / (double)w->num_probe;
	return LETHE_OK;
}

/* θ − θ0 ← (θ − θ0 − lr g) shrink on n values. */
static void anchor_span(float *restrict theta, const float *restrict theta0,
			const float *restrict grad, const float *restrict shrink, float lr,
			size_t n)
{
	for (size_t i = 0; i < n; i++)
		theta[i] = theta0[i] + (theta[i] - theta0[i] - lr * grad[i]) * shrink[i];
}

/* One adapted model: the clone from θ0, fine-tuned on D_f under the anchor. The anchor's step
 * is implicit (proximal): θ − θ0 ← (θ − θ0 − lr g) / (1 + lr λ F) with g the CE's gradient,
 * stable for any ewc_lambda where the explicit step diverges once lr λ max F reaches 2, as
 * the useful anchors on a confident model do. So only the CE can make the loss not finite. */
static int adapt_one(struct work *w, uint32_t model, const float *theta0)
{
	const lethe_host *h = w->h;
	float *theta = h->model_params(h, w->clone, NULL);
	const float *grad = h->model_grads(h, w->clone, NULL);
	float lr = (float)w->lr;
	memcpy(theta, theta0, w->P * sizeof(float));
	shuffle(h, w->order, w->num_forget);
	w->at = 0;
	for (uint32_t step = 0; step < w->r->adapt_steps; step++) {
		size_t n, correct;
		int rc = forget_next(w, &n);
		if (rc == LETHE_OK)
			rc = h->model_forward(h, w->clone, w->x, n, w->logits);
		if (rc == LETHE_OK)
			rc = check_loss(w, ce_rows(w, n, &correct), 1, model, step);
		if (rc == LETHE_OK)
			rc = h->model_backward(h, w->clone, w->dlogits, n);
		if (rc != LETHE_OK)
			return rc;
		if (!w->anchor) {
			h->saxpy(h, w->P, -lr, grad, theta);
			continue;
		}
		uint64_t i = 0;
		for (; i + SPAN <= w->P; i += SPAN)
			anchor_span(theta + i, theta0 + i, grad + i, w->anchor + i, lr, SPAN);
		anchor_span(theta + i, theta0 + i, grad + i, w->anchor + i, lr, w->P - i);
	}
	target_add(&w->target, theta, theta0, w->r->k);
	return LETHE_OK;
}

static int adapt(struct work *w, double *ce, double *acc)
{
	const lethe_host *h = w->h;
	const float *theta0 = h->model_params(h, w->model, NULL);
	*ce = *acc = 0.0;
	for (uint32_t k = 0; k < w->r->k; k++) {
		double ce_k, acc_k;
		int rc = adapt_one(w, k, theta0);
		if (rc == LETHE_OK)
			rc = forget_probe(w, w->clone, &ce_k, &acc_k);
		if (rc != LETHE_OK)
			return rc;
		*ce += ce_k / w->r->k;
		*acc += acc_k / w->r->k;
	}
	target_finish(&w->target, theta0, w->r->k);
	return LETHE_OK;
}

/* Stage 2 on the host's model: d_first and d_last receive d before and after, ce_last the last
 * batch's CE. */
static int repel(struct work *w, double *d_first, double *d_last, double *ce_last)
{
	const lethe_host *h = w->h;
	const struct repulsion *r = w->r;
	float *theta = h->model_params(h, w->model, NULL);
	const float *grad = h->model_grads(h, w->model, NULL);
	double d = target_distance(&w->target, theta);
	*d_first = d;
	*ce_last = NAN;
	for (uint32_t step = 0; step < r->unlearn_steps; step++) {
		size_t correct;
		int rc = retain_fill(w, w->rows);
		if (rc == LETHE_OK)
			rc = h->model_forward(h, w->model, w->x, w->rows, w->logits);
		if (rc != LETHE_OK)
			return rc;
		double ce = ce_rows(w, w->rows, &correct), slope;
		rc = h->model_backward(h, w->model, w->dlogits, w->rows);
		if (rc != LETHE_OK)
			return rc;
		rc = check_loss(w, ce + term_value(r->kind, r->gamma, r->c, d, &slope), 2, 0, step);
		if (rc != LETHE_OK)
			return rc;
		d = target_step(&w->target, theta, grad, slope, (float)w->lr);
		*ce_last = ce;
	}
	*d_last = d;
	return LETHE_OK;
}

/* ---- a request's working set ---- */

/* Carves `bytes` off the arena, or only counts them while a->base is NULL. */
struct arena {
	char *base;
	size_t used;
};

static void *carve(struct arena *a, size_t bytes)
{
	size_t at = a->used, align = _Alignof(max_align_t);
	a->used += (bytes + align - 1) / align * align;
	return a->base ? a->base + at : NULL;
}

static void work_layout(struct work *w, struct arena *a, int task_masks)
{
	size_t R = w->rows, F = w->num_forget;
	int anchor = w->r->ewc_lambda > 0.0;
	w->starts = carve(a, ((size_t)w->learned + 1) * sizeof(uint64_t));
	w->masks = task_masks ? carve(a, (size_t)w->learned * w->C) : NULL;
	w->forget = carve(a, F * sizeof(struct sample));
	w->order = carve(a, F * sizeof(size_t));
	w->probe = carve(a, R * sizeof(size_t));
	w->x = carve(a, R * w->dim * sizeof(float));
	w->logits = carve(a, R * w->C * sizeof(float));
	w->dlogits = carve(a, R * w->C * sizeof(float));
	w->y = carve(a, R * sizeof(int32_t));
	w->row_task = carve(a, R * sizeof(uint32_t));
	w->anchor = anchor ? carve(a, w->P * sizeof(float)) : NULL;
	w->target.tensors = carve(a, w->target.num_tensors * sizeof(struct tensor));
	w->target.mean = carve(a, w->P * sizeof(float));
	w->target.sq = carve(a, w->target.num_tensors * sizeof(double));
}

/* Sizes the working set from the model, allocates it and fills what the request fixes: the
 * tensors, the tasks' extents and masks, D_f and its probe. */
static int work_open(struct work *w)
{
	const lethe_host *h = w->h;
	const lethe_run_info *run = h->run_info(h);
	uint32_t layers = h->model_num_layers(h, w->model);
	w->target.num_tensors = 2 * layers;
	struct arena a = { 0 };
	int task_masks = run->protocol == LETHE_TASK_INCREMENTAL;
	work_layout(w, &a, task_masks);
	w->arena = calloc(1, a.used);
	w->clone = h->model_clone(h, w->model);
	if (!w->arena || !w->clone)
		return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for a request of %zu "
				  "samples", w->num_forget);
	w->bytes = a.used + 2 * w->P * sizeof(float);
	a = (struct arena){ .base = w->arena };
	work_layout(w, &a, task_masks);

	/* Every layer's weights and biases, batch norm's gamma and beta; a convolution without
	 * biases has no tensor of them. */
	w->target.num_tensors = 0;
	for (uint32_t l = 0; l < layers; l++) {
		lethe_layer ly = { .struct_size = sizeof(ly) };
		int rc = h->model_layer(h, w->model, l, &ly);
		if (rc != LETHE_OK)
			return rc;
		struct tensor *t = w->target.tensors;
		t[w->target.num_tensors++] = (struct tensor){ ly.weight_offset, ly.weight_count };
		if (ly.bias_count)
			t[w->target.num_tensors++] = (struct tensor){ ly.bias_offset, ly.bias_count };
	}
	uint8_t *masks = (uint8_t *)w->masks;
	for (uint32_t k = 0; k < w->learned; k++) {
		const lethe_task_info *t = h->task_info(h, k);
		w->starts[k + 1] = w->starts[k] + t->num_train;
		for (uint32_t j = 0; masks && j < t->num_classes; j++)
			masks[k * w->C + (size_t)t->classes[j]] = 1;
	}
	/* Valid distinct ids make |D_r| = starts[learned] − num_forget, which retain_fill needs
	 * above zero. */
	for (size_t i = 0; i < w->num_forget; i++) {
		uint64_t id = w->req->ids[i];
		struct sample *s = &w->forget[i];
		if (h->sample_raw(h, id, &s->pixels, &s->y) != LETHE_OK)
			return lethe_fail(h, LETHE_ERR_INVALID, "id %#llx of the request names "
					  "no training sample", (unsigned long long)id);
		s->task = (uint32_t)(id >> 32);
		w->order[i] = i;
	}
	if (w->num_forget >= w->starts[w->learned])
		return lethe_fail(h, LETHE_ERR_INVALID, "the request covers all %llu training "
				  "samples of the %u tasks learned: nothing is left to retrain on",
				  (unsigned long long)w->starts[w->learned], w->learned);
	w->num_probe = w->num_forget < w->rows ? w->num_forget : w->rows;
	for (size_t i = 0; i < w->num_probe; i++)
		w->probe[i] = i * w->num_forget / w->num_probe;
	return LETHE_OK;
}

static void work_close(struct work *w)
{
	if (w->clone)
		w->h->model_free(w->h, w->clone);
	free(w->arena);
}

/* ---- hooks ---- */

static int repulsion_run(struct work *w)
{
	const lethe_host *h = w->h;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double ce0, acc0, ce1, acc1, d0, d1, ce2;
	int rc = work_open(w);
	if (rc != LETHE_OK)
		return rc;
	h->report(h, "state_bytes", (double)w->bytes);
	if (w->anchor)
		rc = fisher_compute(w);
	if (rc == LETHE_OK)
		rc = forget_probe(w, w->model, &ce0, &acc0);
	if (rc == LETHE_OK)
		rc = adapt(w, &ce1, &acc1);
	if (rc == LETHE_OK)
		rc = repel(w, &d0, &d1, &ce2);
	if (rc != LETHE_OK)
		return rc;
	double seconds = lethe_seconds_since(&t0);
	h->report(h, "seconds", seconds);
	h->report(h, "forget_ce_before", ce0);
	h->report(h, "forget_ce_adapted", ce1);
	h->report(h, "forget_acc_before", acc0);
	h->report(h, "forget_acc_adapted", acc1);
	char msg[320];
	snprintf(msg, sizeof(msg), "forgot %zu samples in %.3f s: %u adapted models took the "
		 "forget set's CE from %.4g to %.4g (accuracy %.3f to %.3f); %u steps repelled "
		 "them, d from %.4g to %.4g, retained CE %.4g", w->num_forget, seconds,
		 w->r->k, ce0, ce1, acc0, acc1, w->r->unlearn_steps, d0, d1, ce2);
	h->log(h, LETHE_LOG_INFO, msg);
	return LETHE_OK;
}

/* How many of the ids name samples of the first `learned` tasks: a prefix, ids being sorted
 * by task first. */
static size_t ids_below(const lethe_forget_request *req, uint32_t learned)
{
	size_t n = 0;
	while (n < req->num_ids && req->ids[n] >> 32 < learned)
		n++;
	return n;
}

static int repulsion_unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	const struct repulsion *r = repulsion_of(p);
	const lethe_host *h = r->host;
	const lethe_run_info *run = h->run_info(h);
	for (size_t i = 1; i < req->num_ids; i++)
		if (req->ids[i] <= req->ids[i - 1])
			return lethe_fail(h, LETHE_ERR_INVALID, "the request's ids are not sorted "
					  "ascending at %zu", i);
	/* A request from before tasks_learned: every task counts as learned. */
	int knows_learned = req->struct_size >= offsetof(lethe_forget_request, tasks_learned) +
						     sizeof(req->tasks_learned);
	uint32_t learned = knows_learned && req->tasks_learned < run->num_tasks
				   ? req->tasks_learned : run->num_tasks;
	size_t num_forget = ids_below(req, learned);
	if (num_forget == 0) {
		h->log(h, LETHE_LOG_INFO, "no sample of the request was learned: nothing to do");
		return LETHE_OK;
	}
	struct work w = {
		.r = r,
		.h = h,
		.req = req,
		.model = h->model(h),
		.rows = r->batch_size ? r->batch_size : run->batch_size,
		.dim = run->input_dim,
		.C = run->num_classes,
		.learned = learned,
		.num_forget = num_forget,
		.lr = r->lr > 0.0 ? r->lr : run->lr,
	};
	h->model_params(h, w.model, &w.P);
	int rc = repulsion_run(&w);
	work_close(&w);
	return rc;
}

static void repulsion_destroy(lethe_plugin *p)
{
	free(repulsion_of(p));
}

static lethe_plugin *repulsion_create(const lethe_host *host, const lethe_param_value *v)
{
	struct repulsion *r = calloc(1, sizeof(*r));
	if (!r) {
		host->error(host, "out of memory");
		return NULL;
	}
	*r = (struct repulsion){
		.plugin = {
			.struct_size = sizeof(lethe_plugin),
			.plugin_data = r,
			.destroy = repulsion_destroy,
			.unlearn = repulsion_unlearn,
		},
		.host = host,
		.kind = (int)v[P_KIND].i,
		.gamma = v[P_GAMMA].f,
		.c = v[P_C].f,
		.k = (uint32_t)v[P_K].i,
		.adapt_steps = (uint32_t)v[P_ADAPT_STEPS].i,
		.unlearn_steps = (uint32_t)v[P_UNLEARN_STEPS].i,
		.lr = v[P_LR].f,
		.ewc_lambda = v[P_EWC_LAMBDA].f,
		.fisher_samples = (uint32_t)v[P_FISHER_SAMPLES].i,
		.batch_size = (uint32_t)v[P_BATCH_SIZE].i,
	};
	return &r->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "repulsion",
	.version = "1.0",
	.description = "unlearning by repulsion from models adapted to the forget set (Tiwary et "
		       "al.)",
	.params = repulsion_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = repulsion_create,
};
