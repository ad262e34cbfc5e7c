/* bic: Bias Correction (Wu, Chen, Wang, Ye, Liu, Guo and Fu, "Large Scale Incremental
 * Learning", CVPR 2019).
 *
 * Exemplars: max_stored samples in all, class-balanced and chosen by herding as iCaRL's (the
 * paper follows iCaRL's exemplar management; ../common/exemplars.h), spread over each epoch's
 * batches with the new task's samples.
 *
 * Held-out part: from the second task on, v = max(1, round(holdout · m)) samples of each class
 * are kept out of training (m: max_stored over the classes after this task): the last v
 * exemplars of each old class (herding's least representative, at most all but one) and v
 * random training samples of each new class (at most all but one), so old and new classes have
 * as many (the paper's train:val split). Their rows carry no loss.
 *
 * Stage 1 loss (replacing the protocol's), over the rows not held out, K of them:
 *
 *	L = 1/K Σ_rows (1 − λ) CE(z, y) + λ Σ_{c old} −softmax(ô/T)_c log softmax(z/T)_c,
 *
 * z the head's logits with every earlier task's correction applied, as they are at evaluation
 * (FACIL's BiC trains through the frozen bias layers: trained on the raw logits,
 * an earlier task's classes stay scaled by its α < 1 at evaluation while training no longer
 * needs them to be, and vanish from the predictions),
 *
 * λ = n_old / (n_old + n_new), T = 2 (the paper's eq. 1-3), CE over the classes seen so far
 * (the row's task's under task-incremental learning), ô the previous model's logits (a frozen
 * copy from the end of the previous task, every correction so far applied) on the same rows,
 * both softmaxes over the old classes (no T² factor: the paper has none).
 *
 * Stage 2, after the task: the model frozen, a correction q = α o + β of the new classes'
 * logits (one pair per task, from 1 and 0; the earlier pairs kept and applied first) fitted on
 * the held-out samples' logits (evaluation mode): bias_epochs epochs of SGD (lr; the scenario's
 * momentum) in batches of train.batch_size over a fresh random order each epoch, minimising the
 * mean cross-entropy over the classes seen so far.
 *
 * Evaluation through on_predict: the head's logits with every task's correction, the classes
 * not seen yet at -FLT_MAX (the paper's head grows with the classes). Old classes are the
 * earlier tasks' classes not in the current task: under domain-incremental learning there are
 * none, so λ = 0 and no correction is fitted (plain replay of the exemplars).
 *
 * Defaults: max_stored 2000 (iCaRL's K; the scenarios set 500, the memory scenarios' budget),
 * holdout 0.1 (the paper's 9:1 split), bias_epochs 200 (FACIL's), lr 0 = train.lr.
 *
 * Forget requests drop the listed exemplars; the corrections already fitted stay. Figures:
 * stored_samples, stored_bytes, bias_alpha and bias_beta (the last task's correction).
 *
 * State, version 1, native byte order: num_classes bytes each of the classes seen, old and new;
 * double λ; the exemplars (exemplars_save) and the spread (spread_save); uint32 corrections,
 * each num_classes bytes of classes and doubles α, β; uint32 the corrections the old model's
 * logits take; uint8 whether an old model is held, then its parameters and state as floats;
 * uint64 held-out exemplars and their slots; uint64 held-out new samples, their positions and
 * their sorted ids. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/exemplars.h"
#include "../common/xent.h"
#include "correction.h"

#define TEMPERATURE 2.0 /* the paper's */

enum { P_MAX_STORED, P_HOLDOUT, P_BIAS_EPOCHS, P_LR, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "max_stored", LETHE_PARAM_INT, "2000", 1, 1e7, NULL,
	  "exemplars in all, shared over the classes seen, held-out part included (2000: "
	  "iCaRL's K)" },
	{ sizeof(lethe_param_decl), "holdout", LETHE_PARAM_FLOAT, "0.1", 0, 0.9, NULL,
	  "fraction of each class's share held out to fit the correction (0.1: the paper's 9:1)" },
	{ sizeof(lethe_param_decl), "bias_epochs", LETHE_PARAM_INT, "200", 0, 1e5, NULL,
	  "epochs fitting the correction (200: FACIL's)" },
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0", 0, 10, NULL,
	  "learning rate of the correction (0: train.lr)" },
};

struct bic {
	lethe_plugin plugin;
	const lethe_host *host;
	struct exemplars ex;
	struct spread spread;
	size_t classes, batch;
	double holdout, lr, momentum, lambda;
	uint32_t bias_epochs, tasks;
	uint8_t *seen, *old_classes, *new_classes, *masks;
	struct correction *corr;
	uint32_t ncorr, old_corr;
	lethe_model *old;
	float *old_logits;	/* old_rows rows of the old model's, then as many corrected */
	float *q;	/* the fit's: a row's corrected logits and their gradient */
	size_t old_rows;
	size_t *slots, *held_slots, n_held_old;
	uint64_t *held_pos, *held_ids, n_held_new;
};

static struct bic *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static uint64_t below(const lethe_host *h, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
	do
		v = h->rng_u64(h);
	while (v >= limit);
	return v % n;
}

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Applies corrections [0, upto) to n rows of logits. */
static void correct(const struct bic *b, uint32_t upto, float *logits, size_t n)
{
	correction_apply(b->corr, upto, b->classes, logits, n);
}

/* Picks the new classes' held-out samples: min(v, all but one) random ones of each. */
static int held_new(struct bic *b, const lethe_task_info *task, size_t v)
{
	const lethe_host *h = b->host;
	uint64_t *cand = malloc((task->num_train ? task->num_train : 1) * sizeof(*cand));
	if (!cand)
		return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the held-out part");
	int rc = LETHE_OK;
	b->n_held_new = 0;
	for (size_t c = 0; c < b->classes && rc == LETHE_OK; c++) {
		if (!b->new_classes[c])
			continue;
		size_t n = 0;
		for (uint64_t i = 0; i < task->num_train && rc == LETHE_OK; i++) {
			const uint8_t *px;
			int32_t y;
			uint64_t id;
			rc = h->task_raw(h, task->index, i, &px, &y, &id);
			if (y == (int32_t)c)
				cand[n++] = i;
		}
		size_t k = n ? (v < n - 1 ? v : n - 1) : 0;
		for (size_t i = 0; i < k && rc == LETHE_OK; i++) {
			size_t j = i + (size_t)below(h, n - i);
			uint64_t t = cand[i];
			cand[i] = cand[j];
			cand[j] = t;
			const uint8_t *px;
			int32_t y;
			b->held_pos[b->n_held_new] = cand[i];
			rc = h->task_raw(h, task->index, cand[i], &px, &y,
					 &b->held_ids[b->n_held_new++]);
		}
	}
	free(cand);
	qsort(b->held_ids, b->n_held_new, sizeof(*b->held_ids), id_cmp);
	return rc;
}

static int before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct bic *b = self(p);
	const lethe_host *h = b->host;
	size_t n_old = 0, n_new = 0, v = 0;
	memcpy(b->old_classes, b->seen, b->classes);
	memset(b->new_classes, 0, b->classes);
	for (uint32_t j = 0; j < task->num_classes; j++) {
		int32_t c = task->classes[j];
		b->old_classes[c] = 0;
		b->new_classes[c] = !b->seen[c];
		b->seen[c] = 1;
	}
	for (size_t j = 0; j < b->classes; j++) {
		n_old += b->old_classes[j];
		n_new += b->new_classes[j];
	}
	b->lambda = n_old + n_new ? (double)n_old / (double)(n_old + n_new) : 0.0;
	h->model_free(h, b->old);
	b->old = NULL;
	b->n_held_old = b->n_held_new = 0;
	if (n_old) {
		if (!(b->old = h->model_clone(h, h->model(h))))
			return lethe_fail(h, LETHE_ERR_NOMEM, "cannot copy the model for the old "
					  "model");
		b->old_corr = b->ncorr;
		if (b->holdout > 0 && n_new) {
			double share = (double)exemplars_share(&b->ex, b->ex.groups +
							       task->num_classes);
			v = (size_t)fmax(1.0, nearbyint(b->holdout * share));
		}
	}
	size_t n = 0;
	for (size_t g = 0, at = 0; g < b->ex.groups; at += b->ex.g_count[g++]) {
		size_t size = b->ex.g_count[g], k = v ? (v < size - 1 ? v : size - 1) : 0;
		for (size_t i = 0; i < size; i++)
			if (i < size - k)
				b->slots[n++] = at + i;
			else
				b->held_slots[b->n_held_old++] = at + i;
	}
	int rc = v ? held_new(b, task, v) : LETHE_OK;
	if (rc != LETHE_OK)
		return rc;
	spread_start(&b->spread, b->slots, n, task->batches);
	return h->batch_reserve(h, (n + b->spread.batches - 1) / b->spread.batches);
}

static int before_epoch(lethe_plugin *p, const lethe_task_info *task, uint32_t epoch,
			int head_only)
{
	(void)task;
	(void)epoch;
	(void)head_only;
	spread_epoch(&self(p)->spread, self(p)->host);
	return LETHE_OK;
}

static int on_batch(lethe_plugin *p, lethe_batch *bt)
{
	struct bic *b = self(p);
	return spread_append(&b->spread, &b->ex, bt);
}

static int held(const struct bic *b, uint64_t id)
{
	return bsearch(&id, b->held_ids, b->n_held_new, sizeof(id), id_cmp) != NULL;
}

/* −Σ_{old} q log p over the old classes, p, q the tempered softmaxes of z and the old model's
 * ô; adds scale/T (p − q) to dz. */
static double distill(const struct bic *b, const float *z, const float *o, double scale,
		      float *dz)
{
	size_t C = b->classes;
	double mz = -INFINITY, mo = -INFINITY, sz = 0.0, so = 0.0, T = TEMPERATURE, loss = 0.0;
	for (size_t j = 0; j < C; j++)
		if (b->old_classes[j]) {
			mz = fmax(mz, z[j] / T);
			mo = fmax(mo, o[j] / T);
		}
	for (size_t j = 0; j < C; j++)
		if (b->old_classes[j]) {
			sz += exp(z[j] / T - mz);
			so += exp(o[j] / T - mo);
		}
	for (size_t j = 0; j < C; j++) {
		if (!b->old_classes[j])
			continue;
		double lp = z[j] / T - mz - log(sz), q = exp(o[j] / T - mo) / so;
		loss -= q * lp;
		dz[j] += (float)(scale / T * (exp(lp) - q));
	}
	return scale * loss;
}

static int on_logits(lethe_plugin *p, const lethe_batch *bt, const float *logits,
		     float *dlogits, double *loss)
{
	struct bic *b = self(p);
	const lethe_host *h = b->host;
	size_t C = b->classes, n = bt->n, kept = 0;
	if (b->old) {
		if (n > b->old_rows) { /* the first batch: capacity stays within a task */
			float *z = realloc(b->old_logits, 2 * bt->capacity * C * sizeof(float));
			if (!z)
				return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the old "
						  "model's logits");
			b->old_logits = z;
			b->old_rows = bt->capacity;
		}
		int rc = h->model_forward(h, b->old, bt->x, n, b->old_logits);
		if (rc != LETHE_OK)
			return rc;
		correct(b, b->old_corr, b->old_logits, n);
		if (b->ncorr) {
			float *c = b->old_logits + b->old_rows * C;
			memcpy(c, logits, n * C * sizeof(float));
			correct(b, b->ncorr, c, n);
			logits = c;
		}
	}
	for (size_t i = 0; i < n; i++)
		kept += !held(b, bt->ids[i]);
	memset(dlogits, 0, n * C * sizeof(float));
	double sum = 0.0;
	for (size_t i = 0; i < n && kept; i++) {
		if (held(b, bt->ids[i]))
			continue;
		const uint8_t *mask = b->masks ? b->masks + (size_t)bt->tasks[i] * C : NULL;
		size_t k = i * C; /* CE over the seen classes: a row's task's are among them */
		sum += xent_add(logits + k, C, bt->y[i], mask ? mask : b->seen,
				(1.0 - b->lambda) / (double)kept, dlogits + k);
		if (b->old && b->lambda > 0)
			sum += distill(b, logits + k, b->old_logits + k, b->lambda / (double)kept,
				       dlogits + k);
	}
	if (b->old && b->ncorr) /* back through the corrections to the head's logits */
		correction_backward(b->corr, b->ncorr, C, dlogits, n);
	*loss = sum;
	return LETHE_OK;
}

/* The held-out rows' logits on the host's model (evaluation), every correction applied. */
static int held_logits(struct bic *b, uint32_t k, float *x, float *z, int32_t *y, uint32_t *t)
{
	const lethe_host *h = b->host;
	const struct exemplars *ex = &b->ex;
	size_t n = b->n_held_old + b->n_held_new;
	int rc = LETHE_OK;
	for (size_t i = 0; i < b->n_held_old && rc == LETHE_OK; i++) {
		size_t s = b->held_slots[i];
		rc = h->task_convert(h, ex->task[s], ex->pixels + s * ex->dim, 1, x + i * ex->dim);
		y[i] = ex->y[s];
		t[i] = ex->task[s];
	}
	if (rc == LETHE_OK && b->n_held_new)
		rc = h->task_load(h, k, LETHE_SPLIT_TRAIN, b->held_pos, b->n_held_new,
				  x + b->n_held_old * ex->dim, y + b->n_held_old, NULL);
	for (size_t i = b->n_held_old; i < n; i++)
		t[i] = k;
	if (rc == LETHE_OK)
		rc = h->model_forward(h, h->model(h), x, n, z);
	if (rc == LETHE_OK)
		correct(b, b->ncorr, z, n);
	return rc;
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct bic *b = self(p);
	const lethe_host *h = b->host;
	size_t n = b->n_held_old + b->n_held_new, C = b->classes;
	int rc = LETHE_OK;
	spread_stop(&b->spread);
	if (n && b->bias_epochs) {
		float *x = malloc(n * b->ex.dim * sizeof(float));
		float *z = malloc(n * C * sizeof(float));
		int32_t *y = malloc(n * sizeof(*y));
		uint32_t *t = malloc(n * sizeof(*t));
		rc = x && z && y && t ? held_logits(b, task->index, x, z, y, t)
					   : lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the "
							"held-out part");
		if (rc == LETHE_OK && n > b->ex.cap)
			rc = lethe_fail(h, LETHE_ERR_INVALID, "%zu held-out rows exceed max_stored",
					n);
		if (rc == LETHE_OK) {
			struct correction *k = &b->corr[b->ncorr];
			struct correction_data d = { z, y, t, b->masks, b->seen, n, C };
			memcpy(k->classes, b->new_classes, C);
			/* b->slots is free until the next task */
			correction_fit(k, &d, h, b->bias_epochs, b->batch, b->lr, b->momentum,
				       b->slots, b->q);
			b->ncorr++;
			h->report(h, "bias_alpha", k->alpha);
			h->report(h, "bias_beta", k->beta);
			lethe_log(h, LETHE_LOG_INFO, "task %u: correction alpha %.4f beta %.4f "
				  "on %zu held-out samples", task->index + 1, k->alpha, k->beta, n);
		}
		free(x);
		free(z);
		free(y);
		free(t);
	}
	b->n_held_old = b->n_held_new = 0;
	return rc == LETHE_OK ? exemplars_add_task(&b->ex, task) : rc;
}

static int on_predict(lethe_plugin *p, const lethe_predict *pb, float *logits)
{
	struct bic *b = self(p);
	size_t C = b->classes;
	int any = 0;
	for (size_t j = 0; j < C; j++)
		any |= b->seen[j];
	if (!any)
		return LETHE_OK;
	correct(b, b->ncorr, logits, pb->n);
	for (size_t i = 0; i < pb->n; i++)
		for (size_t j = 0; j < C; j++)
			if (!b->seen[j])
				logits[i * C + j] = -FLT_MAX;
	return LETHE_OK;
}

static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct bic *b = self(p);
	spread_stop(&b->spread);
	size_t dropped = exemplars_forget(&b->ex, req);
	lethe_log(b->host, LETHE_LOG_INFO, "forget: dropped %zu exemplars, %zu left", dropped,
		  b->ex.count);
	return LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct bic *b = self(p);
	size_t C = b->classes;
	uint32_t counts[2] = { b->ncorr, b->old_corr };
	uint8_t has_old = b->old != NULL;
	uint64_t held[2] = { b->n_held_old, b->n_held_new };
	int rc = out->write(out, b->seen, C);
	if (rc == LETHE_OK)
		rc = out->write(out, b->old_classes, C);
	if (rc == LETHE_OK)
		rc = out->write(out, b->new_classes, C);
	if (rc == LETHE_OK)
		rc = out->write(out, &b->lambda, sizeof(b->lambda));
	if (rc == LETHE_OK)
		rc = exemplars_save(&b->ex, out);
	if (rc == LETHE_OK)
		rc = spread_save(&b->spread, out);
	if (rc == LETHE_OK)
		rc = out->write(out, counts, sizeof(counts));
	for (uint32_t k = 0; k < b->ncorr && rc == LETHE_OK; k++) {
		double ab[2] = { b->corr[k].alpha, b->corr[k].beta };
		rc = out->write(out, b->corr[k].classes, C);
		if (rc == LETHE_OK)
			rc = out->write(out, ab, sizeof(ab));
	}
	if (rc == LETHE_OK)
		rc = out->write(out, &has_old, 1);
	if (rc == LETHE_OK && b->old)
		rc = lethe_model_io(b->host, b->old, out, NULL);
	if (rc == LETHE_OK)
		rc = out->write(out, held, sizeof(held));
	for (size_t i = 0; i < b->n_held_old && rc == LETHE_OK; i++) {
		uint64_t s = b->held_slots[i];
		rc = out->write(out, &s, sizeof(s));
	}
	if (rc == LETHE_OK)
		rc = out->write(out, b->held_pos, b->n_held_new * sizeof(uint64_t));
	if (rc == LETHE_OK)
		rc = out->write(out, b->held_ids, b->n_held_new * sizeof(uint64_t));
	return rc == LETHE_OK ? rc : lethe_fail(b->host, LETHE_ERR_IO, "cannot write the state");
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct bic *b = self(p);
	const lethe_host *h = b->host;
	size_t C = b->classes;
	if (version != 1)
		return lethe_fail(h, LETHE_ERR_INVALID, "state encoding %u is unknown (this plugin "
				  "reads 1)", version);
	uint32_t counts[2];
	uint8_t has_old;
	uint64_t held[2];
	if (in->read(in, b->seen, C) != LETHE_OK || in->read(in, b->old_classes, C) != LETHE_OK ||
	    in->read(in, b->new_classes, C) != LETHE_OK ||
	    in->read(in, &b->lambda, sizeof(b->lambda)) != LETHE_OK)
		return lethe_fail(h, LETHE_ERR_IO, "the state is truncated");
	int rc = exemplars_load(&b->ex, in);
	if (rc != LETHE_OK)
		return rc;
	if (spread_load(&b->spread, b->ex.cap, in) != LETHE_OK || b->spread.n > b->ex.count)
		return lethe_fail(h, LETHE_ERR_INVALID, "the state's spread is malformed");
	if (in->read(in, counts, sizeof(counts)) != LETHE_OK || counts[0] > b->tasks ||
	    counts[1] > counts[0])
		return lethe_fail(h, LETHE_ERR_INVALID, "the state's corrections are malformed");
	b->ncorr = counts[0];
	b->old_corr = counts[1];
	for (uint32_t k = 0; k < b->ncorr; k++) {
		double ab[2];
		if (in->read(in, b->corr[k].classes, C) != LETHE_OK ||
		    in->read(in, ab, sizeof(ab)) != LETHE_OK)
			return lethe_fail(h, LETHE_ERR_IO, "the state is truncated");
		b->corr[k].alpha = ab[0];
		b->corr[k].beta = ab[1];
	}
	if (in->read(in, &has_old, 1) != LETHE_OK || has_old > 1)
		return lethe_fail(h, LETHE_ERR_IO, "the state is truncated");
	if (has_old && !(b->old = h->model_clone(h, h->model(h))))
		return lethe_fail(h, LETHE_ERR_NOMEM, "cannot copy the model for the old model");
	if (has_old && lethe_model_io(b->host, b->old, NULL, in) != LETHE_OK)
		return lethe_fail(h, LETHE_ERR_IO, "the state is truncated in its old model");
	if (in->read(in, held, sizeof(held)) != LETHE_OK || held[0] > b->ex.count ||
	    held[1] > b->ex.cap)
		return lethe_fail(h, LETHE_ERR_INVALID, "the state's held-out part is malformed");
	b->n_held_old = (size_t)held[0];
	b->n_held_new = held[1];
	for (size_t i = 0; i < b->n_held_old; i++) {
		uint64_t s;
		if (in->read(in, &s, sizeof(s)) != LETHE_OK || s >= b->ex.count)
			return lethe_fail(h, LETHE_ERR_INVALID, "the state's held-out part is "
					  "malformed");
		b->held_slots[i] = (size_t)s;
	}
	if (in->read(in, b->held_pos, held[1] * sizeof(uint64_t)) != LETHE_OK ||
	    in->read(in, b->held_ids, held[1] * sizeof(uint64_t)) != LETHE_OK)
		return lethe_fail(h, LETHE_ERR_IO, "the state is truncated in its held-out part");
	if (b->spread.n)
		return h->batch_reserve(h, (b->spread.n + b->spread.batches - 1) /
					   b->spread.batches);
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct bic *b = self(p);
	b->host->model_free(b->host, b->old);
	exemplars_free(&b->ex);
	for (uint32_t k = 0; b->corr && k < b->tasks; k++)
		free(b->corr[k].classes);
	free(b->corr);
	free(b->seen);
	free(b->old_classes);
	free(b->new_classes);
	free(b->masks);
	free(b->old_logits);
	free(b->q);
	free(b->slots);
	free(b->held_slots);
	free(b->held_pos);
	free(b->held_ids);
	free(b->spread.rows);
	free(b);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	const lethe_run_info *run = host->run_info(host);
	struct bic *b = calloc(1, sizeof(*b));
	if (!b) {
		host->error(host, "out of memory");
		return NULL;
	}
	b->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = b,
		.destroy = destroy,
		.before_task = before_task,
		.before_epoch = before_epoch,
		.on_batch = on_batch,
		.on_logits = on_logits,
		.after_task = after_task,
		.on_forget = on_forget,
		.on_predict = on_predict,
		.save = save,
		.load = load,
	};
	b->host = host;
	b->holdout = v[P_HOLDOUT].f;
	b->bias_epochs = (uint32_t)v[P_BIAS_EPOCHS].i;
	b->lr = v[P_LR].f > 0 ? v[P_LR].f : run->lr;
	b->momentum = run->momentum;
	b->batch = run->batch_size;
	b->tasks = run->num_tasks;
	if (exemplars_init(&b->ex, host, (size_t)v[P_MAX_STORED].i) != LETHE_OK) {
		free(b);
		return NULL;
	}
	size_t C = b->classes = b->ex.classes, cap = b->ex.cap;
	b->seen = calloc(C, 1);
	b->old_classes = calloc(C, 1);
	b->new_classes = calloc(C, 1);
	b->corr = calloc(b->tasks, sizeof(*b->corr));
	b->slots = malloc(cap * sizeof(size_t));
	b->held_slots = malloc(cap * sizeof(size_t));
	b->held_pos = malloc(cap * sizeof(uint64_t));
	b->held_ids = malloc(cap * sizeof(uint64_t));
	b->spread.rows = malloc(cap * sizeof(size_t));
	b->q = malloc(2 * C * sizeof(float));
	int ok = b->seen && b->old_classes && b->new_classes && b->corr && b->slots &&
		 b->held_slots && b->held_pos && b->held_ids && b->spread.rows && b->q &&
		 xent_masks(host, &b->masks) == LETHE_OK;
	for (uint32_t k = 0; ok && k < b->tasks; k++)
		ok = (b->corr[k].classes = calloc(C, 1)) != NULL;
	if (!ok) {
		host->error(host, "out of memory");
		destroy(&b->plugin);
		return NULL;
	}
	exemplars_report(&b->ex);
	return &b->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "bic",
	.version = "1.0",
	.description = "BiC: distillation and a held-out bias correction of the new classes' "
		       "logits (Wu et al. 2019)",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
