/* ovor: virtual outlier regularisation (Huang et al., "OVOR: OnePrompt with Virtual Outlier
 * Regularization for Rehearsal-Free Class-Incremental Learning", ICLR 2024).
 *
 * Each task's epochs split into E1, normal training, then E2, the last round(head_fraction x
 * epochs) epochs: at least 1 when head_fraction > 0, and at most epochs - 1 unless head_fraction
 * is 1, so the trunk always trains (our rounding; 5 epochs at 0.2 give the paper's 20%). In E2
 * the host freezes the trunk and fits the head alone on its features h.
 *
 * At the start of each E2 epoch the plugin synthesises virtual outliers from the task's training
 * features (outliers.h): per class, the `boundary` points farthest from their k-th neighbour,
 * `candidates` draws b + sigma eps around each, the `per_class` farthest from the data kept. The
 * trunk is frozen through E2, so the features are computed once, at its first epoch. In E2 the
 * loss gains w [mean over the batch's rows of the task of Huber(ReLU(E(h) - tau_id)) + mean over
 * the outliers of Huber(ReLU(tau_ood - E(h_ood)))], E(h) = -log sum_{c in the task} exp f_c(h):
 * the first term through the batch's logits (on_logits), the second through the head's
 * parameters, its logits on the outliers computed here (on_gradient).
 *
 * Thresholds: the paper's -15 and -3 suit a ViT's logits; an MLP's differ, so by default
 * (thresholds = calibrated, ours) tau_id is, at the first E2 epoch of each task, the
 * `percentile`-th percentile (linear between order statistics) of the energies of the task's
 * training samples, and tau_ood = tau_id + gap.
 *
 * task_loss: the cross-entropy of the task's rows over the task's classes alone (every epoch),
 * as prompt-based class-incremental learners train; rows of other tasks (rehearsal, joint) keep
 * the host's. Under task-incremental the host's loss is that already.
 *
 * Defaults: the paper's K = 50, 50 boundary points, 40 outliers per class and Huber delta 1.
 * Ours, where METHODS leaves them open or an MLP differs: head_fraction 0.2 (the paper's ~20%),
 * 10 candidates per boundary point, sigma 0.1 (0.05 and 0.3 did no better), thresholds
 * calibrated at percentile 5 with gap 12, and weight 1 rather than the paper's 0.1: on split
 * Fashion-MNIST with this MLP and l2, average accuracy was 0.38 at 0.1, 0.47 at 1, 0.44 at 3.
 * Both energy terms are means (over the batch's rows of the task, over the outliers), as the
 * host's cross-entropy is a mean over the batch. Past delta a Huber's slope is delta: an
 * outlier far below tau_ood is pushed at a constant rate, so the gap matters only once outliers
 * near it.
 *
 * Between tasks the plugin holds the last task's features and outliers, derived from its
 * samples: a forget request wipes them.
 *
 * Figures: outliers (the last synthesis), tau_id, tau_ood, synthesis_seconds (features and
 * outliers, over the run).
 *
 * State, version 2, native byte order: double tau_id, tau_ood, synthesis_seconds; uint64
 * outliers: the figures, so a resumed run reports what an uninterrupted one would (all of
 * version 1). Then what a checkpoint within a task needs to go on as if never stopped: uint64
 * classes C, int32 slot[C] (each class's position in the task being learned, -1 for none),
 * and the task's features and outliers as outliers_save writes them. Version 1 loads as a
 * state between tasks. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "outliers.h"

#define STATE_VERSION 2
#define CHUNK 256 /* rows per forward pass while computing features */

static const char *const threshold_choices[] = { "calibrated", "fixed", NULL };

enum { TH_CALIBRATED, TH_FIXED };

enum { P_HEAD_FRACTION, P_TASK_LOSS, P_WEIGHT, P_DELTA, P_THRESHOLDS, P_TAU_ID, P_TAU_OOD,
       P_PERCENTILE, P_GAP, P_K, P_BOUNDARY, P_CANDIDATES, P_PER_CLASS, P_SIGMA, P_ORIGIN,
       P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "head_fraction", LETHE_PARAM_FLOAT, "0.2", 0, 1, NULL,
	  "fraction of each task's epochs that train the head alone, with the outliers" },
	{ sizeof(lethe_param_decl), "task_loss", LETHE_PARAM_BOOL, "true", 0, 0, NULL,
	  "cross-entropy of the task's rows over the task's classes only" },
	{ sizeof(lethe_param_decl), "weight", LETHE_PARAM_FLOAT, "1", 0, 1e6, NULL,
	  "weight w of the energy terms (the paper's 0.1 is for a ViT)" },
	{ sizeof(lethe_param_decl), "huber_delta", LETHE_PARAM_FLOAT, "1", 1e-6, 1e6, NULL,
	  "delta of the Huber loss on the energy hinges" },
	{ sizeof(lethe_param_decl), "thresholds", LETHE_PARAM_CHOICE, "calibrated", 0, 0,
	  threshold_choices, "thresholds from each task's energies after E1, or tau_id/tau_ood" },
	{ sizeof(lethe_param_decl), "tau_id", LETHE_PARAM_FLOAT, "-15", -1e6, 1e6, NULL,
	  "fixed: real data's energies are pushed below this" },
	{ sizeof(lethe_param_decl), "tau_ood", LETHE_PARAM_FLOAT, "-3", -1e6, 1e6, NULL,
	  "fixed: the outliers' energies are pushed above this" },
	{ sizeof(lethe_param_decl), "percentile", LETHE_PARAM_FLOAT, "5", 0, 100, NULL,
	  "calibrated: tau_id is this percentile of the task's energies" },
	{ sizeof(lethe_param_decl), "gap", LETHE_PARAM_FLOAT, "12", 0, 1e6, NULL,
	  "calibrated: tau_ood = tau_id + gap" },
	{ sizeof(lethe_param_decl), "k", LETHE_PARAM_INT, "50", 1, 10000, NULL,
	  "the K of the K-th nearest neighbour distance" },
	{ sizeof(lethe_param_decl), "boundary", LETHE_PARAM_INT, "50", 1, 100000, NULL,
	  "boundary points per class" },
	{ sizeof(lethe_param_decl), "candidates", LETHE_PARAM_INT, "10", 1, 10000, NULL,
	  "candidates drawn around each boundary point" },
	{ sizeof(lethe_param_decl), "per_class", LETHE_PARAM_INT, "40", 1, 100000, NULL,
	  "outliers kept per class" },
	{ sizeof(lethe_param_decl), "sigma", LETHE_PARAM_FLOAT, "0.1", 0, 100, NULL,
	  "std of the candidates' noise per dimension, in the L2-normalised feature space" },
	{ sizeof(lethe_param_decl), "origin", LETHE_PARAM_BOOL, "false", 0, 0, NULL,
	  "draw candidates around the origin (the released code) instead of boundary points" },
};

struct ovor {
	lethe_plugin plugin;
	const lethe_host *host;
	double head_fraction, weight, delta, percentile, gap;
	int task_loss, calibrated;
	double tau_id, tau_ood;

	/* The model. */
	uint32_t classes, input_dim, head;
	lethe_layer layer; /* the head: its shape and offsets (input is fetched anew) */

	/* The task being learned. */
	int32_t *slot;   /* classes: a class's position in the task, or -1 */
	uint8_t *mask;   /* classes: 1 for the task's */
	int have_features;
	struct outliers out;

	/* Per batch: the outliers' logits and their gradient, max outliers x classes. */
	float *z, *dz;

	uint64_t outliers; /* figures */
	double synthesis_seconds;
};

static struct ovor *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void report_figures(const struct ovor *o)
{
	const lethe_host *h = o->host;
	h->report(h, "outliers", (double)o->outliers);
	h->report(h, "tau_id", o->tau_id);
	h->report(h, "tau_ood", o->tau_ood);
	h->report(h, "synthesis_seconds", o->synthesis_seconds);
}

static int before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct ovor *o = self(p);
	for (uint32_t c = 0; c < o->classes; c++)
		o->slot[c] = -1;
	for (uint32_t i = 0; i < task->num_classes; i++) {
		int32_t c = task->classes[i];
		if (c < 0 || (uint32_t)c >= o->classes)
			return lethe_fail(o->host, LETHE_ERR_INVALID,
					  "task %u has class %d; the head has %u", task->index + 1,
					  c, o->classes);
		o->slot[c] = (int32_t)i;
	}
	for (uint32_t c = 0; c < o->classes; c++)
		o->mask[c] = o->slot[c] >= 0;
	o->have_features = 0;
	o->out.count = 0;
	return LETHE_OK;
}

static uint32_t head_epochs(lethe_plugin *p, const lethe_task_info *task, uint32_t epochs)
{
	struct ovor *o = self(p);
	(void)task;
	if (o->head_fraction <= 0.0 || epochs == 0)
		return 0;
	uint32_t n = (uint32_t)floor(o->head_fraction * epochs + 0.5);
	if (n < 1)
		n = 1;
	if (o->head_fraction < 1.0 && n >= epochs)
		n = epochs - 1;
	return n;
}

static int compare_floats(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* The q-th percentile of v[0, n) (n >= 1), linear between order statistics; sorts v. */
static double percentile(float *v, size_t n, double q)
{
	qsort(v, n, sizeof(*v), compare_floats);
	double at = q / 100.0 * (double)(n - 1), lo = floor(at);
	size_t i = (size_t)lo;
	return i + 1 < n ? v[i] + (at - lo) * ((double)v[i + 1] - v[i]) : v[i];
}

/* The task's training positions grouped by class (counts[s] of its s-th class). */
static int group_by_class(struct ovor *o, const lethe_task_info *task, uint64_t *order,
			  size_t *counts, int32_t *labels)
{
	const lethe_host *h = o->host;
	size_t n = task->num_train;
	for (size_t i = 0; i < n; i++) {
		int rc = h->task_raw(h, task->index, i, NULL, &labels[i], NULL);
		if (rc != LETHE_OK)
			return rc;
		int32_t y = labels[i];
		if (y < 0 || (uint32_t)y >= o->classes || o->slot[y] < 0)
			return lethe_fail(o->host, LETHE_ERR_INVALID,
					  "task %u's sample %zu has label %d, not one of the "
					  "task's classes", task->index + 1, i, y);
		counts[o->slot[y]]++;
	}
	size_t *at = calloc(task->num_classes, sizeof(*at));
	if (!at)
		return lethe_fail(o->host, LETHE_ERR_NOMEM, "out of memory");
	for (uint32_t s = 1; s < task->num_classes; s++)
		at[s] = at[s - 1] + counts[s - 1];
	for (size_t i = 0; i < n; i++)
		order[at[o->slot[labels[i]]]++] = i;
	free(at);
	return LETHE_OK;
}

/* Runs the model over the positions in order, putting the head's inputs into the outlier
 * synthesis and the rows' energies into energies. */
static int extract(struct ovor *o, const lethe_task_info *task, const uint64_t *order,
		   float *energies)
{
	const lethe_host *h = o->host;
	lethe_model *m = h->model(h);
	size_t n = task->num_train, C = o->classes;
	float *x = malloc((size_t)CHUNK * o->input_dim * sizeof(float));
	float *logits = malloc((size_t)CHUNK * C * sizeof(float));
	int rc = x && logits ? LETHE_OK : lethe_fail(o->host, LETHE_ERR_NOMEM, "out of memory");
	for (size_t i0 = 0; i0 < n && rc == LETHE_OK; i0 += CHUNK) {
		size_t rows = n - i0 < CHUNK ? n - i0 : CHUNK;
		rc = h->task_load(h, task->index, LETHE_SPLIT_TRAIN, order + i0, rows, x, NULL,
				  NULL);
		if (rc == LETHE_OK)
			rc = h->model_forward(h, m, x, rows, logits);
		lethe_layer layer = { .struct_size = sizeof(layer) };
		if (rc == LETHE_OK)
			rc = h->model_layer(h, m, o->head, &layer);
		if (rc != LETHE_OK)
			break;
		outliers_put(&o->out, i0, layer.input, rows);
		for (size_t i = 0; i < rows; i++)
			energies[i0 + i] = (float)energy(logits + i * C, C, o->mask);
	}
	free(x);
	free(logits);
	return rc;
}

/* The task's features into the synthesis, and the thresholds calibrated from its energies. */
static int features(struct ovor *o, const lethe_task_info *task)
{
	size_t n = task->num_train;
	uint64_t *order = malloc(n * sizeof(*order));
	size_t *counts = calloc(task->num_classes, sizeof(*counts));
	int32_t *labels = malloc(n * sizeof(*labels));
	float *energies = malloc(n * sizeof(*energies));
	int rc = order && counts && labels && energies ? LETHE_OK
						       : lethe_fail(o->host, LETHE_ERR_NOMEM,
								    "out of memory");
	if (rc == LETHE_OK)
		rc = group_by_class(o, task, order, counts, labels);
	if (rc == LETHE_OK && outliers_begin(&o->out, task->num_classes, counts) != LETHE_OK)
		rc = lethe_fail(o->host, LETHE_ERR_NOMEM, "out of memory for %zu features of %zu "
				"values", n, o->out.dim);
	if (rc == LETHE_OK)
		rc = extract(o, task, order, energies);
	if (rc == LETHE_OK && o->calibrated) {
		o->tau_id = percentile(energies, n, o->percentile);
		o->tau_ood = o->tau_id + o->gap;
		lethe_log(o->host, LETHE_LOG_INFO, "task %u: tau_id = %.3f (percentile %g of %zu "
			  "training energies), tau_ood = %.3f", task->index + 1, o->tau_id,
			  o->percentile, n, o->tau_ood);
	}
	free(order);
	free(counts);
	free(labels);
	free(energies);
	return rc;
}

static int before_epoch(lethe_plugin *p, const lethe_task_info *task, uint32_t epoch,
			int head_only)
{
	struct ovor *o = self(p);
	if (!head_only)
		return LETHE_OK;
	if (task->num_train == 0) {
		/* A forget request emptied the task: nothing to fit, nothing to push away from. */
		o->out.count = 0;
		return LETHE_OK;
	}
	double t0 = now();
	if (!o->have_features) {
		int rc = features(o, task);
		if (rc != LETHE_OK)
			return rc;
		o->have_features = 1;
	}
	double t1 = now();
	outliers_synthesise(&o->out, o->host);
	double t2 = now();
	o->synthesis_seconds += t2 - t0;
	o->outliers = o->out.count;
	lethe_log(o->host, LETHE_LOG_INFO, "task %u, epoch %u: %zu outliers from %zu features "
		  "(features %.3f s, synthesis %.3f s)", task->index + 1, epoch + 1, o->out.count,
		  o->out.n, t1 - t0, t2 - t1);
	report_figures(o);
	return LETHE_OK;
}

/* Moves one row's cross-entropy from every class to the task's: adds scale (p_task - p) to dz
 * and returns scale (LSE_task - LSE); the label's logit cancels out. */
static double task_ce_shift(const float *z, size_t C, const uint8_t *mask, double scale,
			    float *dz)
{
	double max = -INFINITY, max_task = -INFINITY, sum = 0.0, sum_task = 0.0;
	for (size_t j = 0; j < C; j++) {
		max = z[j] > max ? z[j] : max;
		if (mask[j] && z[j] > max_task)
			max_task = z[j];
	}
	for (size_t j = 0; j < C; j++) {
		sum += exp(z[j] - max);
		sum_task += mask[j] ? exp(z[j] - max_task) : 0.0;
	}
	for (size_t j = 0; j < C; j++) {
		double p = exp(z[j] - max) / sum;
		double p_task = mask[j] ? exp(z[j] - max_task) / sum_task : 0.0;
		dz[j] += (float)(scale * (p_task - p));
	}
	return scale * ((max_task + log(sum_task)) - (max + log(sum)));
}

static int on_logits(lethe_plugin *p, const lethe_batch *b, const float *logits, float *dlogits,
		     double *loss)
{
	struct ovor *o = self(p);
	const lethe_host *h = o->host;
	int shift = o->task_loss && h->run_info(h)->protocol != LETHE_TASK_INCREMENTAL;
	int hinge = b->head_only && o->weight > 0.0;
	if (!shift && !hinge)
		return LETHE_OK;
	size_t C = o->classes, rows = 0;
	for (size_t i = 0; i < b->n; i++)
		rows += b->tasks[i] == b->task;
	double added = 0.0;
	for (size_t i = 0; i < b->n; i++) {
		if (b->tasks[i] != b->task)
			continue;
		const float *z = logits + i * C;
		float *dz = dlogits + i * C;
		if (shift)
			added += task_ce_shift(z, C, o->mask, 1.0 / (double)b->n, dz);
		if (hinge)
			added += energy_hinge(z, C, o->mask, o->tau_id, 1, o->delta,
					      o->weight / (double)rows, dz);
	}
	*loss += added;
	return LETHE_OK;
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	struct ovor *o = self(p);
	const lethe_host *h = o->host;
	size_t M = o->out.count, C = o->classes, d = o->layer.in;
	if (!b->head_only || M == 0 || o->weight == 0.0)
		return LETHE_OK;
	lethe_model *m = h->model(h);
	const float *theta = h->model_params(h, m, NULL);
	float *grad = h->model_grads(h, m, NULL);
	const float *W = theta + o->layer.weight_offset, *bias = theta + o->layer.bias_offset;
	h->sgemm(h, 0, 1, M, C, d, 1.0f, o->out.points, d, W, d, 0.0f, o->z, C);
	memset(o->dz, 0, M * C * sizeof(float));
	double added = 0.0;
	for (size_t i = 0; i < M; i++) {
		float *z = o->z + i * C;
		for (size_t j = 0; j < C; j++)
			z[j] += bias[j];
		added += energy_hinge(z, C, o->mask, o->tau_ood, -1, o->delta,
				      o->weight / (double)M, o->dz + i * C);
	}
	/* dW += dzᵀ h_ood, db += the column sums of dz. */
	h->sgemm(h, 1, 0, C, d, M, 1.0f, o->dz, C, o->out.points, d, 1.0f,
		 grad + o->layer.weight_offset, d);
	float *gb = grad + o->layer.bias_offset;
	for (size_t i = 0; i < M; i++)
		for (size_t j = 0; j < C; j++)
			gb[j] += o->dz[i * C + j];
	*loss += added;
	return LETHE_OK;
}

/* The last task's features and outliers come from its samples: any request drops them (the
 * next head-only epoch makes them again from what is left). */
static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct ovor *o = self(p);
	(void)req;
	outliers_wipe(&o->out);
	o->have_features = 0;
	return LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct ovor *o = self(p);
	double figures[3] = { o->tau_id, o->tau_ood, o->synthesis_seconds };
	uint64_t classes = o->classes;
	int rc = out->write(out, figures, sizeof(figures));
	if (rc == LETHE_OK)
		rc = out->write(out, &o->outliers, sizeof(o->outliers));
	if (rc == LETHE_OK)
		rc = out->write(out, &classes, sizeof(classes));
	if (rc == LETHE_OK)
		rc = out->write(out, o->slot, o->classes * sizeof(*o->slot));
	if (rc == LETHE_OK)
		rc = outliers_save(&o->out, o->have_features, out);
	return rc == LETHE_OK ? rc : lethe_fail(o->host, rc, "cannot write the state");
}

/* Version 2's task under way: its classes, features and outliers. */
static int load_task(struct ovor *o, const lethe_istream *in)
{
	uint64_t classes;
	if (in->read(in, &classes, sizeof(classes)) != LETHE_OK)
		return lethe_fail(o->host, LETHE_ERR_IO, "the state is truncated");
	if (classes != o->classes)
		return lethe_fail(o->host, LETHE_ERR_INVALID, "the state is for a head of %llu "
				  "classes, this one has %u", (unsigned long long)classes,
				  o->classes);
	if (in->read(in, o->slot, o->classes * sizeof(*o->slot)) != LETHE_OK)
		return lethe_fail(o->host, LETHE_ERR_IO, "the state is truncated");
	for (uint32_t c = 0; c < o->classes; c++) {
		if (o->slot[c] < -1 || o->slot[c] >= (int32_t)o->out.max_classes)
			return lethe_fail(o->host, LETHE_ERR_INVALID,
					  "the state puts class %u at %d of a task", c, o->slot[c]);
		o->mask[c] = o->slot[c] >= 0;
	}
	int rc = outliers_load(&o->out, in, &o->have_features);
	if (rc == LETHE_OK)
		return LETHE_OK;
	return lethe_fail(o->host, rc, rc == LETHE_ERR_IO ? "the state is truncated"
			  : rc == LETHE_ERR_NOMEM ? "out of memory for the state's features"
			  : "its features or outliers are malformed");
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct ovor *o = self(p);
	if (version != 1 && version != STATE_VERSION)
		return lethe_fail(o->host, LETHE_ERR_INVALID, "state encoding %u is unknown (this "
				  "plugin reads 1 and %d)", version, STATE_VERSION);
	double figures[3];
	uint64_t count;
	if (in->read(in, figures, sizeof(figures)) != LETHE_OK ||
	    in->read(in, &count, sizeof(count)) != LETHE_OK)
		return lethe_fail(o->host, LETHE_ERR_IO, "the state is truncated");
	if (!isfinite(figures[0]) || !isfinite(figures[1]) || !(figures[2] >= 0.0) ||
	    count > o->out.cfg.per_class * o->out.max_classes)
		return lethe_fail(o->host, LETHE_ERR_INVALID, "the state holds an impossible "
				  "figure");
	int rc = version == STATE_VERSION ? load_task(o, in) : LETHE_OK;
	if (rc != LETHE_OK)
		return rc;
	o->tau_id = figures[0];
	o->tau_ood = figures[1];
	o->synthesis_seconds = figures[2];
	o->outliers = count;
	report_figures(o);
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct ovor *o = self(p);
	outliers_free(&o->out);
	free(o->slot);
	free(o->mask);
	free(o->z);
	free(o->dz);
	free(o);
}

/* The head layer, and the most classes any task has. */
static int inspect(struct ovor *o, uint32_t *max_classes)
{
	const lethe_host *h = o->host;
	lethe_model *m = h->model(h);
	const lethe_run_info *run = h->run_info(h);
	o->classes = run->num_classes;
	o->input_dim = run->input_dim;
	o->head = h->model_num_layers(h, m) - 1;
	o->layer = (lethe_layer){ .struct_size = sizeof(o->layer) };
	int rc = h->model_layer(h, m, o->head, &o->layer);
	if (rc != LETHE_OK)
		return rc;
	if (!o->layer.is_head || o->layer.out != o->classes)
		return lethe_fail(o->host, LETHE_ERR_INVALID, "the last layer is not a head of %u "
				  "classes", o->classes);
	for (uint32_t k = 0; k < run->num_tasks; k++) {
		const lethe_task_info *t = h->task_info(h, k);
		if (t && t->num_classes > *max_classes)
			*max_classes = t->num_classes;
	}
	return LETHE_OK;
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	struct outliers_config cfg = {
		.k = (size_t)v[P_K].i,
		.boundary = (size_t)v[P_BOUNDARY].i,
		.candidates = (size_t)v[P_CANDIDATES].i,
		.per_class = (size_t)v[P_PER_CLASS].i,
		.sigma = (float)v[P_SIGMA].f,
		.origin = (int)v[P_ORIGIN].i,
	};
	if (cfg.per_class > cfg.boundary * cfg.candidates) {
		char msg[160];
		snprintf(msg, sizeof(msg), "per_class = %zu exceeds the %zu candidates per class "
			 "(boundary x candidates)", cfg.per_class, cfg.boundary * cfg.candidates);
		host->error(host, msg);
		return NULL;
	}
	struct ovor *o = calloc(1, sizeof(*o));
	if (!o) {
		host->error(host, "out of memory");
		return NULL;
	}
	o->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = o,
		.destroy = destroy,
		.before_task = before_task,
		.on_logits = on_logits,
		.on_gradient = on_gradient,
		.on_forget = on_forget,
		.save = save,
		.load = load,
		.head_epochs = head_epochs,
		.before_epoch = before_epoch,
	};
	o->host = host;
	o->head_fraction = v[P_HEAD_FRACTION].f;
	o->task_loss = (int)v[P_TASK_LOSS].i;
	o->weight = v[P_WEIGHT].f;
	o->delta = v[P_DELTA].f;
	o->calibrated = v[P_THRESHOLDS].i == TH_CALIBRATED;
	o->tau_id = v[P_TAU_ID].f;
	o->tau_ood = v[P_TAU_OOD].f;
	o->percentile = v[P_PERCENTILE].f;
	o->gap = v[P_GAP].f;
	uint32_t max_classes = 1;
	int rc = inspect(o, &max_classes);
	if (rc == LETHE_OK) {
		size_t M = cfg.per_class * max_classes;
		o->slot = malloc(o->classes * sizeof(*o->slot));
		o->mask = malloc(o->classes);
		o->z = malloc(M * o->classes * sizeof(float));
		o->dz = malloc(M * o->classes * sizeof(float));
		if (outliers_init(&o->out, &cfg, o->layer.in, max_classes) != LETHE_OK ||
		    !o->slot || !o->mask || !o->z || !o->dz)
			rc = lethe_fail(o->host, LETHE_ERR_NOMEM, "out of memory");
	}
	/* No task yet: no class has a place in one (the state saves these). */
	for (uint32_t c = 0; rc == LETHE_OK && c < o->classes; c++) {
		o->slot[c] = -1;
		o->mask[c] = 0;
	}
	if (rc != LETHE_OK) {
		destroy(&o->plugin);
		return NULL;
	}
	report_figures(o);
	return &o->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "ovor",
	.version = "1.0",
	.description = "virtual outlier regularisation of the head in a head-only phase (OVOR)",
	.params = params,
	.num_params = P_COUNT,
	.state_version = STATE_VERSION,
	.create = create,
};
