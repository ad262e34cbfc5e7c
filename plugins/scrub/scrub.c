/* scrub: SCRUB (Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023). A frozen
 * copy of the host's model at the request is the teacher; the host's model, the student,
 * alternates
 *	max steps on D_f batches:  L = −T² KL(p_teacher || p_student)
 *	min steps on D_r batches:  L = γ CE + α T² KL(p_teacher || p_student)
 * with p = softmax(logits / T): the student moves away from the teacher on the forget set
 * while it keeps to it (and to the labels) on the retained set. Each of `epochs` epochs makes
 * a max pass over a fresh shuffle of D_f (the first `msteps` epochs only, as the paper's
 * schedule, so the last min passes repair what the max passes did) and then a min pass of
 * `steps` batches of retained samples drawn uniformly with replacement (0: as many as D_f
 * fills: the paper's min pass walks D_r whole, which would cost |D_r| per epoch). Plain SGD
 * where the authors use SGD with momentum 0.9 or Adam.
 *
 * The max steps' KL is unbounded above and its ascent feeds on itself: on Fashion-MNIST's MLP,
 * 0.001 and more drove the logits off within three max passes (hence the authors' 0.0005), and
 * the defaults ran off on half a task and on a whole task. So the step shrinks instead of
 * failing: the parameters before each epoch (its max step, the paper's, and its min step) are
 * kept, and when a batch's loss or the updated parameters stop being finite, those are put
 * back and the epoch starts again with lr halved for the rest of the request, at most
 * `shrinks` times (logged each time, the count and the final lr reported); one more fails
 * with an error naming lr. One clone (the teacher) and one copy of the parameters per
 * request, freed at its end: no state to save. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/forget_set.h"
#include "../common/kl.h"
#include "../common/xent.h"

enum { P_ALPHA, P_GAMMA, P_TEMPERATURE, P_EPOCHS, P_MSTEPS, P_STEPS, P_LR, P_BATCH_SIZE,
       P_FORGET_BATCH, P_SHRINKS, P_COUNT };

static const lethe_param_decl scrub_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "alpha", LETHE_PARAM_FLOAT, "0.001", 0, 1e6, NULL,
	  "min steps: weight of the KL to the teacher on D_r (the authors' code: 0.001)" },
	{ sizeof(lethe_param_decl), "gamma", LETHE_PARAM_FLOAT, "0.99", 0, 1e6, NULL,
	  "min steps: weight of the CE on D_r (the authors' code: 0.99)" },
	{ sizeof(lethe_param_decl), "temperature", LETHE_PARAM_FLOAT, "4", 0.01, 100, NULL,
	  "T of the softened outputs (the authors' code: kd_T = 4)" },
	{ sizeof(lethe_param_decl), "epochs", LETHE_PARAM_INT, "5", 1, 1000, NULL,
	  "epochs, each a max pass (the first msteps) then a min pass (the authors' code: 3 to "
	  "10)" },
	{ sizeof(lethe_param_decl), "msteps", LETHE_PARAM_INT, "2", 0, 1000, NULL,
	  "epochs that begin with a max pass over D_f (the authors' code: 2 to 5)" },
	{ sizeof(lethe_param_decl), "steps", LETHE_PARAM_INT, "0", 0, 1e8, NULL,
	  "min steps per epoch (0: as many as the forget set has batches of batch_size)" },
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0.0005", 0, 10, NULL,
	  "SGD learning rate (0: train.lr; the authors' code: 0.0005)" },
	{ sizeof(lethe_param_decl), "batch_size", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "rows per min step (0: train.batch_size)" },
	{ sizeof(lethe_param_decl), "forget_batch", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "rows per max step (0: train.batch_size)" },
	{ sizeof(lethe_param_decl), "shrinks", LETHE_PARAM_INT, "10", 0, 30, NULL,
	  "most halvings of lr when an epoch runs off (a loss or the parameters not finite): it "
	  "starts again from the parameters before it; one more fails (0: fail at once)" },
};

struct scrub {
	lethe_plugin plugin;
	const lethe_host *host;
	double alpha, gamma, T, lr;
	uint32_t epochs, msteps, steps, batch_size, forget_batch, shrinks;
};

/* A request's work: the forget set, the teacher, a batch and the teacher's logits of it. */
struct work {
	const struct scrub *c;
	const lethe_host *h;
	const struct forget_set *s;
	lethe_model *model, *teacher;
	float *theta;
	const float *grad;
	uint64_t P;
	struct forget_rows r;
	float *teacher_logits;
	float *kept;		/* the parameters before the epoch */
	double lr;		/* halved by each shrink */
	uint32_t shrunk;	/* shrinks so far */
};

/* dlogits of a max step on the rows: −T² KL, mean over the rows. Returns the loss. */
static double scrub_max_dlogits(const struct forget_rows *r, const struct forget_set *s,
				const float *teacher, double T)
{
	double loss = 0.0;
	memset(r->dlogits, 0, r->n * s->C * sizeof(float));
	for (size_t i = 0; i < r->n; i++)
		loss += kl_add(r->logits + i * s->C, teacher + i * s->C, s->C,
			       forget_rows_mask(r, s, i), T, -1.0 / (double)r->n,
			       r->dlogits + i * s->C);
	return loss;
}

/* dlogits of a min step: γ CE + α T² KL, means over the rows. Returns the loss. */
static double scrub_min_dlogits(const struct forget_rows *r, const struct forget_set *s,
				const float *teacher, double T, double alpha, double gamma)
{
	double loss = 0.0, scale = 1.0 / (double)r->n;
	memset(r->dlogits, 0, r->n * s->C * sizeof(float));
	for (size_t i = 0; i < r->n; i++) {
		const uint8_t *mask = forget_rows_mask(r, s, i);
		float *d = r->dlogits + i * s->C;
		loss += xent_add(r->logits + i * s->C, s->C, r->y[i], mask, gamma * scale, d);
		loss += kl_add(r->logits + i * s->C, teacher + i * s->C, s->C, mask, T,
			       alpha * scale, d);
	}
	return loss;
}

/* What a step returns, beside the SDK's status codes, when it ran off. */
#define RAN_OFF 1

static int params_finite(const float *theta, uint64_t P)
{
	for (uint64_t i = 0; i < P; i++)
		if (!isfinite(theta[i]))
			return 0;
	return 1;
}

/* One SGD step on the rows in w->r, max or min: RAN_OFF when its loss or the parameters after
 * it are not finite. */
static int scrub_step(struct work *w, int max, double *loss)
{
	const lethe_host *h = w->h;
	int rc = h->model_forward(h, w->teacher, w->r.x, w->r.n, w->teacher_logits);
	if (rc == LETHE_OK)
		rc = h->model_forward(h, w->model, w->r.x, w->r.n, w->r.logits);
	if (rc != LETHE_OK)
		return rc;
	*loss = max ? scrub_max_dlogits(&w->r, w->s, w->teacher_logits, w->c->T)
		    : scrub_min_dlogits(&w->r, w->s, w->teacher_logits, w->c->T, w->c->alpha,
					w->c->gamma);
	if (!isfinite(*loss))
		return RAN_OFF;
	rc = h->model_backward(h, w->model, w->r.dlogits, w->r.n);
	if (rc != LETHE_OK)
		return rc;
	h->saxpy(h, w->P, (float)-w->lr, w->grad, w->theta);
	return params_finite(w->theta, w->P) ? LETHE_OK : RAN_OFF;
}

/* A max pass over a fresh shuffle of D_f. */
static int scrub_max_pass(struct work *w, size_t *order, size_t forget_rows, double *loss)
{
	const struct forget_set *s = w->s;
	int rc = LETHE_OK;
	forget_shuffle(w->h, order, s->num_forget);
	for (size_t at = 0; at < s->num_forget && rc == LETHE_OK; at += forget_rows) {
		w->r.n = 0;
		for (size_t i = at; i < at + forget_rows && i < s->num_forget && rc == LETHE_OK; i++)
			rc = forget_rows_add_forget(&w->r, s, order[i]);
		if (rc == LETHE_OK)
			rc = scrub_step(w, 1, loss);
	}
	return rc;
}

/* A min pass of `steps` batches of D_r. */
static int scrub_min_pass(struct work *w, size_t steps, size_t rows, double *loss)
{
	int rc = LETHE_OK;
	for (size_t step = 0; step < steps && rc == LETHE_OK; step++) {
		w->r.n = 0;
		for (size_t i = 0; i < rows && rc == LETHE_OK; i++)
			rc = forget_rows_add_retain(&w->r, w->s);
		if (rc == LETHE_OK)
			rc = scrub_step(w, 0, loss);
	}
	return rc;
}

/* Epoch e: a max pass (the paper's max step) in the first msteps, then a min pass. */
static int scrub_epoch(struct work *w, uint32_t e, size_t *order, size_t rows,
		       size_t forget_rows, size_t steps, double *max_loss, double *min_loss)
{
	int rc = e < w->c->msteps ? scrub_max_pass(w, order, forget_rows, max_loss) : LETHE_OK;
	return rc == LETHE_OK ? scrub_min_pass(w, steps, rows, min_loss) : rc;
}

/* The epochs; one that runs off starts again from the parameters before it at half the lr (a
 * max pass can leave parameters that are finite yet run the min pass after it off), at most
 * `shrinks` times in the request. */
static int scrub_train(struct work *w, size_t rows, size_t forget_rows, double *max_loss,
		       double *min_loss)
{
	const lethe_host *h = w->h;
	const struct scrub *c = w->c;
	const struct forget_set *s = w->s;
	size_t steps = c->steps ? c->steps : (s->num_forget + rows - 1) / rows;
	size_t *order = malloc(s->num_forget * sizeof(size_t));
	if (!order)
		return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < s->num_forget; i++)
		order[i] = i;
	int rc = LETHE_OK;
	for (uint32_t e = 0; e < c->epochs && rc == LETHE_OK; e++) {
		memcpy(w->kept, w->theta, w->P * sizeof(float));
		while ((rc = scrub_epoch(w, e, order, rows, forget_rows, steps, max_loss,
					 min_loss)) == RAN_OFF) {
			if (w->shrunk == c->shrinks) {
				rc = lethe_fail(h, LETHE_ERR_NUMERIC, "epoch %u ran off (a loss or the "
						"parameters not finite) at lr = %g after %u halvings; "
						"lower lr or msteps = %u", e + 1, w->lr, w->shrunk,
						c->msteps);
				break;
			}
			memcpy(w->theta, w->kept, w->P * sizeof(float));
			w->lr /= 2.0;
			w->shrunk++;
			lethe_log(h, LETHE_LOG_WARN, "epoch %u ran off (a loss or the parameters not "
				  "finite): it starts again from the parameters before it at lr %g "
				  "(shrink %u of at most %u)", e + 1, w->lr, w->shrunk, c->shrinks);
		}
	}
	free(order);
	return rc;
}

static int scrub_unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	const struct scrub *c = p->plugin_data;
	const lethe_host *h = c->host;
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
		rc = forget_set_need_retain(&s, "scrub", "its min steps keep the student on D_r");
	size_t rows = c->batch_size ? c->batch_size : run->batch_size;
	size_t frows = c->forget_batch ? c->forget_batch : run->batch_size;
	struct work w = { .c = c, .h = h, .s = &s, .model = h->model(h),
			  .lr = c->lr > 0.0 ? c->lr : run->lr };
	w.theta = h->model_params(h, w.model, &w.P);
	w.grad = h->model_grads(h, w.model, NULL);
	double max_loss = NAN, min_loss = NAN;
	if (rc == LETHE_OK)
		rc = forget_rows_init(&w.r, &s, rows > frows ? rows : frows);
	if (rc == LETHE_OK) {
		w.teacher = h->model_clone(h, w.model);
		w.teacher_logits = malloc(w.r.cap * s.C * sizeof(float));
		w.kept = malloc(w.P * sizeof(float));
		if (!w.teacher || !w.teacher_logits || !w.kept)
			rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the teacher");
	}
	if (rc == LETHE_OK)
		rc = scrub_train(&w, rows, frows, &max_loss, &min_loss);
	if (rc == LETHE_OK) {
		double seconds = lethe_seconds_since(&t0);
		h->report(h, "seconds", seconds);
		h->report(h, "shrinks", w.shrunk);
		h->report(h, "lr", w.lr);
		lethe_log(h, LETHE_LOG_INFO, "forgot %zu samples in %.3f s: %u epochs (%u with max "
			  "steps), last max loss %.4g, min loss %.4g, lr %g after %u shrinks",
			  s.num_forget, seconds, c->epochs, c->msteps < c->epochs ? c->msteps : c->epochs,
			  max_loss, min_loss, w.lr, w.shrunk);
	}
	h->model_free(h, w.teacher);
	free(w.teacher_logits);
	free(w.kept);
	forget_rows_free(&w.r);
	forget_set_close(&s);
	return rc;
}

static void scrub_destroy(lethe_plugin *p)
{
	free(p->plugin_data);
}

static lethe_plugin *scrub_create(const lethe_host *host, const lethe_param_value *v)
{
	struct scrub *c = calloc(1, sizeof(*c));
	if (!c) {
		host->error(host, "out of memory");
		return NULL;
	}
	*c = (struct scrub){
		.plugin = { .struct_size = sizeof(lethe_plugin), .plugin_data = c,
			    .destroy = scrub_destroy, .unlearn = scrub_unlearn },
		.host = host,
		.alpha = v[P_ALPHA].f,
		.gamma = v[P_GAMMA].f,
		.T = v[P_TEMPERATURE].f,
		.epochs = (uint32_t)v[P_EPOCHS].i,
		.msteps = (uint32_t)v[P_MSTEPS].i,
		.steps = (uint32_t)v[P_STEPS].i,
		.lr = v[P_LR].f,
		.batch_size = (uint32_t)v[P_BATCH_SIZE].i,
		.forget_batch = (uint32_t)v[P_FORGET_BATCH].i,
		.shrinks = (uint32_t)v[P_SHRINKS].i,
	};
	return &c->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "scrub",
	.version = "1.1",
	.description = "SCRUB: a student leaves its teacher on the forget set and keeps to it on "
		       "the retained set (Kurmanji et al. 2023)",
	.params = scrub_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = scrub_create,
};
