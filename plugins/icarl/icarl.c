/* icarl: iCaRL (Rebuffi, Kolesnikov, Sperl and Lampert, "iCaRL: Incremental Classifier and
 * Representation Learning", CVPR 2017).
 *
 * Exemplars (../common/exemplars.h): max_stored samples in all (the paper's K), shared equally
 * over the classes seen, each class's chosen by herding on the L2-normalised features (the
 * head's input) of its training samples at the end of its task (Algorithm 4), the earlier
 * classes cut to their first share (Algorithm 5).
 *
 * Training (Algorithm 3): a task's training set is its samples and every exemplar, spread over
 * each epoch's batches. The loss replaces the protocol's: sigmoid binary cross-entropy over the
 * classes seen so far, summed over classes and averaged over the batch's rows,
 *
 *	L = 1/n Σ_rows Σ_{c seen} BCE(z_c, t_c),  dL/dz_c = (σ(z_c) − t_c) / n,
 *
 * t_c = [y = c] for a class of the current task (or not seen before), σ(old model's z_c) for a
 * class of an earlier task (the old model: a frozen copy from the end of the previous task, in
 * evaluation mode, on the same rows): the paper's distillation. Under domain-incremental
 * learning every class is the current task's: plain BCE (the paper has no such protocol).
 *
 * Evaluation through on_predict: with nme (Algorithm 1) the scores are minus the distances of
 * the rows' normalised features to each class's mean of normalised exemplar features
 * (normalised again, computed after each task); classes without exemplars score -FLT_MAX (the
 * twin's -inf; on_predict's logits must stay finite). nme = false keeps the head's logits. In
 * both, classes not seen yet score -FLT_MAX (the paper's head has no outputs for them). The
 * paper also averages each exemplar's flipped image into the means; lethe does not flip.
 *
 * Default: max_stored 2000, the paper's K (the scenarios set 500, the memory scenarios' budget).
 *
 * Forget requests drop the listed exemplars; the means are recomputed from those left.
 * Figures: stored_samples, stored_bytes.
 *
 * State, version 1, native byte order: num_classes bytes of classes seen, as many of old
 * classes; the exemplars (exemplars_save), the spread (spread_save); uint8 whether means are
 * held, then num_classes x features floats and num_classes bytes of classes with a mean; uint8
 * whether an old model is held, then its parameters and state as floats. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/exemplars.h"

enum { P_MAX_STORED, P_NME, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "max_stored", LETHE_PARAM_INT, "2000", 1, 1e7, NULL,
	  "exemplars in all, shared over the classes seen (2000: the paper's K)" },
	{ sizeof(lethe_param_decl), "nme", LETHE_PARAM_BOOL, "true", 0, 1, NULL,
	  "classify by the nearest mean of exemplars (the paper's); false: the network's head" },
};

struct icarl {
	lethe_plugin plugin;
	const lethe_host *host;
	struct exemplars ex;
	struct spread spread;
	size_t classes, feat;
	int nme, has_means;
	uint8_t *seen, *old_classes, *have;
	float *means;	     /* classes x feat */
	float *row;	     /* feat: one normalised row */
	lethe_model *old;    /* NULL on the first task */
	float *old_logits;   /* rows x classes */
	size_t old_rows;
	size_t *slots;	     /* cap */
};

static struct icarl *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static int before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct icarl *c = self(p);
	const lethe_host *h = c->host;
	int any_old = 0;
	memcpy(c->old_classes, c->seen, c->classes);
	for (uint32_t j = 0; j < task->num_classes; j++) {
		c->old_classes[task->classes[j]] = 0;
		c->seen[task->classes[j]] = 1;
	}
	for (size_t j = 0; j < c->classes; j++)
		any_old |= c->old_classes[j];
	h->model_free(h, c->old);
	c->old = NULL;
	if (any_old && !(c->old = h->model_clone(h, h->model(h))))
		return lethe_fail(h, LETHE_ERR_NOMEM, "cannot copy the model for the old model");
	for (size_t i = 0; i < c->ex.count; i++)
		c->slots[i] = i;
	spread_start(&c->spread, c->slots, c->ex.count, task->batches);
	return h->batch_reserve(h, (c->ex.count + c->spread.batches - 1) / c->spread.batches);
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

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	struct icarl *c = self(p);
	return spread_append(&c->spread, &c->ex, b);
}

static int on_logits(lethe_plugin *p, const lethe_batch *b, const float *logits, float *dlogits,
		     double *loss)
{
	struct icarl *c = self(p);
	const lethe_host *h = c->host;
	size_t C = c->classes, n = b->n;
	if (c->old) {
		if (n > c->old_rows) { /* the first batch: capacity stays within a task */
			float *z = realloc(c->old_logits, b->capacity * C * sizeof(float));
			if (!z)
				return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the old "
						  "model's logits");
			c->old_logits = z;
			c->old_rows = b->capacity;
		}
		int rc = h->model_forward(h, c->old, b->x, n, c->old_logits);
		if (rc != LETHE_OK)
			return rc;
	}
	double sum = 0.0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < C; j++) {
			size_t k = i * C + j;
			if (!c->seen[j]) {
				dlogits[k] = 0.0f;
				continue;
			}
			double z = logits[k], t = b->y[i] == (int32_t)j;
			if (c->old && c->old_classes[j])
				t = 1.0 / (1.0 + exp(-(double)c->old_logits[k]));
			sum += fmax(z, 0.0) - z * t + log1p(exp(-fabs(z)));
			dlogits[k] = (float)((1.0 / (1.0 + exp(-z)) - t) / (double)n);
		}
	*loss = sum / (double)n;
	return LETHE_OK;
}

/* The normalised mean of each class's normalised exemplar features, on the current model. */
static int means_compute(struct icarl *c)
{
	size_t C = c->classes, F = c->feat;
	double *sums = calloc(C * F, sizeof(double));
	size_t *counts = calloc(C, sizeof(size_t));
	int rc = sums && counts ? LETHE_OK : lethe_fail(c->host, LETHE_ERR_NOMEM, "out of memory "
							 "for the class means");
	for (size_t g = 0, at = 0; g < c->ex.groups && rc == LETHE_OK; at += c->ex.g_count[g++]) {
		rc = exemplars_features(&c->ex, 0, NULL, at, c->ex.g_count[g]);
		size_t y = (size_t)c->ex.g_class[g];
		for (size_t i = 0; i < c->ex.g_count[g] && rc == LETHE_OK; i++)
			for (size_t j = 0; j < F; j++)
				sums[y * F + j] += c->ex.f[i * F + j];
		counts[y] += c->ex.g_count[g];
	}
	for (size_t y = 0; y < C && rc == LETHE_OK; y++) {
		c->have[y] = counts[y] > 0;
		for (size_t j = 0; j < F; j++)
			c->means[y * F + j] =
				counts[y] ? (float)(sums[y * F + j] / counts[y]) : 0.0f;
		exemplars_normalize(c->means + y * F, 1, F);
	}
	c->has_means = rc == LETHE_OK;
	free(sums);
	free(counts);
	return rc;
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct icarl *c = self(p);
	spread_stop(&c->spread);
	int rc = exemplars_add_task(&c->ex, task);
	return rc == LETHE_OK ? means_compute(c) : rc;
}

static int on_predict(lethe_plugin *p, const lethe_predict *pb, float *logits)
{
	struct icarl *c = self(p);
	const lethe_host *h = c->host;
	size_t C = c->classes, F = c->feat;
	int any = 0;
	for (size_t j = 0; j < C; j++)
		any |= c->seen[j];
	if (!any)
		return LETHE_OK;
	if (!c->nme || !c->has_means) {
		for (size_t i = 0; i < pb->n; i++)
			for (size_t j = 0; j < C; j++)
				if (!c->seen[j])
					logits[i * C + j] = -FLT_MAX;
		return LETHE_OK;
	}
	lethe_model *m = h->model(h);
	lethe_layer head = { .struct_size = sizeof(head) };
	int rc = h->model_layer(h, m, h->model_num_layers(h, m) - 1, &head);
	if (rc != LETHE_OK)
		return rc;
	exemplars_nme(head.input, pb->n, F, c->means, c->have, C, c->row, logits);
	return LETHE_OK;
}

static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct icarl *c = self(p);
	spread_stop(&c->spread);
	size_t dropped = exemplars_forget(&c->ex, req);
	lethe_log(c->host, LETHE_LOG_INFO, "forget: dropped %zu exemplars, %zu left", dropped,
		  c->ex.count);
	return c->has_means ? means_compute(c) : LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct icarl *c = self(p);
	uint8_t flags[2] = { (uint8_t)c->has_means, c->old != NULL };
	int rc = out->write(out, c->seen, c->classes);
	if (rc == LETHE_OK)
		rc = out->write(out, c->old_classes, c->classes);
	if (rc == LETHE_OK)
		rc = exemplars_save(&c->ex, out);
	if (rc == LETHE_OK)
		rc = spread_save(&c->spread, out);
	if (rc == LETHE_OK)
		rc = out->write(out, flags, sizeof(flags));
	if (rc == LETHE_OK && c->has_means)
		rc = out->write(out, c->means, c->classes * c->feat * sizeof(float));
	if (rc == LETHE_OK && c->has_means)
		rc = out->write(out, c->have, c->classes);
	if (rc == LETHE_OK && c->old)
		rc = lethe_model_io(c->host, c->old, out, NULL);
	return rc == LETHE_OK ? rc : lethe_fail(c->host, LETHE_ERR_IO, "cannot write the state");
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct icarl *c = self(p);
	const lethe_host *h = c->host;
	if (version != 1)
		return lethe_fail(h, LETHE_ERR_INVALID, "state encoding %u is unknown (this plugin "
				  "reads 1)", version);
	uint8_t flags[2];
	if (in->read(in, c->seen, c->classes) != LETHE_OK ||
	    in->read(in, c->old_classes, c->classes) != LETHE_OK)
		return lethe_fail(h, LETHE_ERR_IO, "the state is truncated");
	int rc = exemplars_load(&c->ex, in);
	if (rc != LETHE_OK)
		return rc;
	if (spread_load(&c->spread, c->ex.cap, in) != LETHE_OK || c->spread.n > c->ex.count)
		return lethe_fail(h, LETHE_ERR_INVALID, "the state's spread is malformed");
	if (in->read(in, flags, sizeof(flags)) != LETHE_OK || flags[0] > 1 || flags[1] > 1)
		return lethe_fail(h, LETHE_ERR_IO, "the state is truncated");
	c->has_means = flags[0];
	if (c->has_means && (in->read(in, c->means, c->classes * c->feat * sizeof(float)) !=
			     LETHE_OK || in->read(in, c->have, c->classes) != LETHE_OK))
		return lethe_fail(h, LETHE_ERR_IO, "the state is truncated in its means");
	if (flags[1]) {
		if (!(c->old = h->model_clone(h, h->model(h))))
			return lethe_fail(h, LETHE_ERR_NOMEM, "cannot copy the model for the old "
					  "model");
		if (lethe_model_io(c->host, c->old, NULL, in) != LETHE_OK)
			return lethe_fail(h, LETHE_ERR_IO, "the state is truncated in its old "
					  "model");
	}
	if (c->spread.n)
		return h->batch_reserve(h, (c->spread.n + c->spread.batches - 1) /
					   c->spread.batches);
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct icarl *c = self(p);
	c->host->model_free(c->host, c->old);
	exemplars_free(&c->ex);
	free(c->seen);
	free(c->old_classes);
	free(c->have);
	free(c->means);
	free(c->row);
	free(c->old_logits);
	free(c->slots);
	free(c->spread.rows);
	free(c);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	struct icarl *c = calloc(1, sizeof(*c));
	if (!c) {
		host->error(host, "out of memory");
		return NULL;
	}
	c->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = c,
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
	c->host = host;
	c->nme = (int)v[P_NME].i;
	if (exemplars_init(&c->ex, host, (size_t)v[P_MAX_STORED].i) != LETHE_OK) {
		free(c);
		return NULL;
	}
	c->classes = c->ex.classes;
	c->feat = c->ex.feat;
	c->seen = calloc(c->classes, 1);
	c->old_classes = calloc(c->classes, 1);
	c->have = calloc(c->classes, 1);
	c->means = calloc(c->classes * c->feat, sizeof(float));
	c->row = malloc(c->feat * sizeof(float));
	c->slots = malloc(c->ex.cap * sizeof(size_t));
	c->spread.rows = malloc(c->ex.cap * sizeof(size_t));
	if (!c->seen || !c->old_classes || !c->have || !c->means || !c->row || !c->slots ||
	    !c->spread.rows) {
		host->error(host, "out of memory");
		destroy(&c->plugin);
		return NULL;
	}
	exemplars_report(&c->ex);
	return &c->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "icarl",
	.version = "1.0",
	.description = "iCaRL: herding exemplars, sigmoid distillation, nearest mean of exemplars "
		       "(Rebuffi et al. 2017)",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
