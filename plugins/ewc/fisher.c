#include "fisher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/util.h>

/* Rows (p_n - e_{y_n}) scale. model_backward takes them as dL/dlogits, so with scale 1 every
 * row's deltas are that sample's own gradient, not a share of a mean. */
static void label_rows(float *d, const float *p, const int32_t *y, size_t n, size_t c,
		       float scale)
{
	for (size_t i = 0; i < n; i++, d += c, p += c)
		for (size_t j = 0; j < c; j++)
			d[j] = (p[j] - ((size_t)y[i] == j ? 1.0f : 0.0f)) * scale;
}

/* Per row, the m classes of the likelihood in the order the factor below takes them: ascending,
 * the most probable (the first of equals) moved last. */
static void order_rows(struct fisher *f, size_t n, size_t c)
{
	const float *p = f->prob;
	uint32_t *order = f->order, m = f->num_allowed;
	for (size_t i = 0; i < n; i++, p += c, order += m) {
		uint32_t top = 0, k = 0;
		for (uint32_t j = 1; j < m; j++)
			top = p[f->classes[j]] > p[f->classes[top]] ? j : top;
		for (uint32_t j = 0; j < m; j++)
			if (j != top)
				order[k++] = f->classes[j];
		order[k] = f->classes[top];
	}
}

/* Rows l_r of each sample, column r of the factor of Σ_y p_y (p - e_y)(p - e_y)ᵀ that fisher.h
 * gives. The most probable class being last, the tail T_{r+1} is at least about 1/m. */
static void factor_rows(struct fisher *f, size_t r, size_t n, size_t c)
{
	const float *p = f->prob;
	const uint32_t *order = f->order;
	float *d = f->dlogits + r * n * c;
	uint32_t m = f->num_allowed;
	for (size_t i = 0; i < n; i++, p += c, d += c, order += m) {
		double tail = 0.0, pr = p[order[r]];
		for (uint32_t s = r + 1; s < m; s++)
			tail += p[order[s]];
		double total = pr + tail, off = sqrt(pr / (total * tail));
		memset(d, 0, c * sizeof(float));
		d[order[r]] = (float)sqrt(pr * tail / total);
		for (uint32_t s = r + 1; s < m; s++)
			d[order[s]] = (float)(-p[order[s]] * off);
	}
}

static void scratch_free(struct fisher *f)
{
	free(f->x);
	free(f->logits);
	free(f->prob);
	free(f->dlogits);
	free(f->y);
	free(f->allowed);
	free(f->classes);
	free(f->order);
	free(f->run);
	f->x = f->logits = f->prob = f->dlogits = NULL;
	f->y = NULL;
	f->allowed = NULL;
	f->classes = f->order = NULL;
	f->run = NULL;
}

static int scratch_alloc(struct fisher *f)
{
	if (f->x)
		return LETHE_OK;
	const lethe_host *h = f->host;
	const lethe_run_info *run = h->run_info(h);
	size_t rows = f->kind == FISHER_BATCHED ? run->batch_size : f->chunk;
	size_t c = run->num_classes;
	/* The exact Fisher's dlogits: a block per column of the factor, at most c - 1. */
	size_t blocks = f->kind == FISHER_EXACT && c > 1 ? c - 1 : 1;
	f->x = malloc(rows * run->input_dim * sizeof(float));
	f->logits = malloc(rows * c * sizeof(float));
	f->prob = malloc(rows * c * sizeof(float));
	f->dlogits = malloc(blocks * rows * c * sizeof(float));
	f->y = malloc(rows * sizeof(int32_t));
	f->allowed = malloc(c);
	f->classes = malloc(c * sizeof(uint32_t));
	f->order = f->kind == FISHER_EXACT ? malloc(rows * c * sizeof(uint32_t)) : NULL;
	f->run = malloc(rows * sizeof(uint64_t));
	if (!f->x || !f->logits || !f->prob || !f->dlogits || !f->y || !f->allowed ||
	    !f->classes || !f->run || (f->kind == FISHER_EXACT && !f->order)) {
		scratch_free(f);
		h->error(h, "out of memory for the Fisher's scratch buffers");
		return LETHE_ERR_NOMEM;
	}
	f->rows = rows;
	return LETHE_OK;
}

static void allow_classes(struct fisher *f, const lethe_task_info *task)
{
	const lethe_run_info *run = f->host->run_info(f->host);
	int masked = run->protocol == LETHE_TASK_INCREMENTAL;
	memset(f->allowed, !masked, run->num_classes);
	for (uint32_t j = 0; masked && j < task->num_classes; j++)
		if (task->classes[j] >= 0 && (uint32_t)task->classes[j] < run->num_classes)
			f->allowed[task->classes[j]] = 1;
	f->num_allowed = 0;
	for (uint32_t j = 0; j < run->num_classes; j++)
		if (f->allowed[j])
			f->classes[f->num_allowed++] = j;
}

/* The seeded subset of m of the task's n positions, in ascending order (see fisher.h). */
static int pick_subset(struct fisher *f, uint64_t n, uint64_t m)
{
	const lethe_host *h = f->host;
	if (m > f->subset_cap) {
		uint64_t *grown = realloc(f->subset, m * sizeof(*grown));
		if (!grown) {
			h->error(h, "out of memory for the Fisher's sample positions");
			return LETHE_ERR_NOMEM;
		}
		f->subset = grown;
		f->subset_cap = m;
	}
	uint64_t kept = 0;
	for (uint64_t t = 0; t < n; t++)
		if ((double)(n - t) * h->rng_uniform(h) < (double)(m - kept))
			f->subset[kept++] = t;
	return LETHE_OK;
}

/* Loads n samples and leaves their softmax in f->prob and their labels in f->y. */
static int forward(struct fisher *f, lethe_model *m, uint32_t task, const uint64_t *pos,
		   size_t n)
{
	const lethe_host *h = f->host;
	size_t c = h->run_info(h)->num_classes;
	int rc = h->task_load(h, task, LETHE_SPLIT_TRAIN, pos, n, f->x, f->y, NULL);
	if (rc == LETHE_OK)
		rc = h->model_forward(h, m, f->x, n, f->logits);
	for (size_t i = 0; i < n && rc == LETHE_OK; i++)
		lethe_softmax(f->logits + i * c, c, f->allowed, f->prob + i * c);
	return rc;
}

/* The per-sample kinds on one chunk; alpha = 1/N makes the sum over chunks a mean. The host
 * sums every row's squared gradient (model_grad_stats), whatever the model's layers. */
static int chunk_pass(struct fisher *f, lethe_model *m, uint32_t task, const uint64_t *pos,
		      size_t n, float alpha, float *F)
{
	const lethe_host *h = f->host;
	size_t c = h->run_info(h)->num_classes;
	int rc = forward(f, m, task, pos, n);
	if (rc != LETHE_OK)
		return rc;
	if (f->kind == FISHER_EXACT) {
		/* A backward pass per column of the factor, one block of dlogits each. */
		order_rows(f, n, c);
		for (size_t r = 0; r + 1 < f->num_allowed; r++)
			factor_rows(f, r, n, c);
		if (f->num_allowed < 2)
			return LETHE_OK;
		return h->model_grad_stats(h, m, f->dlogits, n, f->num_allowed - 1, 2, alpha, F,
					   NULL);
	}
	if (f->kind == FISHER_SAMPLED)
		for (size_t i = 0; i < n; i++)
			f->y[i] = (int32_t)lethe_draw_class(f->prob + i * c, c, h->rng_uniform(h));
	label_rows(f->dlogits, f->prob, f->y, n, c, 1.0f);
	return h->model_grad_stats(h, m, f->dlogits, n, 1, 2, alpha, F, NULL);
}

/* One batch of the batched kind: F += scale g², g the gradient of the batch's mean loss. */
static int batch_pass(struct fisher *f, lethe_model *m, uint32_t task, const uint64_t *pos,
		      size_t n, float scale, float *F)
{
	const lethe_host *h = f->host;
	size_t c = h->run_info(h)->num_classes;
	int rc = forward(f, m, task, pos, n);
	if (rc != LETHE_OK)
		return rc;
	label_rows(f->dlogits, f->prob, f->y, n, c, 1.0f / (float)n);
	rc = h->model_backward(h, m, f->dlogits, n);
	if (rc != LETHE_OK)
		return rc;
	uint64_t count;
	const float *g = h->model_grads(h, m, &count);
	lethe_add_squares(F, g, scale, count);
	return LETHE_OK;
}

static const uint64_t *consecutive(uint64_t *pos, uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pos[i] = first + i;
	return pos;
}

void fisher_init(struct fisher *f, const lethe_host *host, enum fisher_kind kind, size_t chunk,
		 uint64_t samples)
{
	memset(f, 0, sizeof(*f));
	f->host = host;
	f->kind = kind;
	f->chunk = chunk;
	f->samples = samples;
}

int fisher_compute(struct fisher *f, const lethe_task_info *task, float *F, uint64_t *used)
{
	const lethe_host *h = f->host;
	lethe_model *m = h->model(h);
	uint64_t count, n = task->num_train;
	h->model_params(h, m, &count);
	memset(F, 0, count * sizeof(float));
	int rc = scratch_alloc(f);
	if (rc != LETHE_OK)
		return rc;
	allow_classes(f, task);
	int subset = f->samples && f->samples < n;
	if (subset) {
		rc = pick_subset(f, n, f->samples);
		n = f->samples;
	}
	*used = n;
	if (n == 0 || rc != LETHE_OK)
		return rc;
	uint64_t passes = (n + f->rows - 1) / f->rows;
	float scale = 1.0f / (float)(f->kind == FISHER_BATCHED ? passes : n);
	for (uint64_t at = 0; at < n && rc == LETHE_OK; at += f->rows) {
		size_t rows = n - at < f->rows ? (size_t)(n - at) : f->rows;
		const uint64_t *pos = subset ? f->subset + at : consecutive(f->run, at, rows);
		if (f->kind == FISHER_BATCHED)
			rc = batch_pass(f, m, task->index, pos, rows, scale, F);
		else
			rc = chunk_pass(f, m, task->index, pos, rows, scale, F);
	}
	return rc;
}

void fisher_free(struct fisher *f)
{
	scratch_free(f);
	free(f->subset);
	f->subset = NULL;
	f->subset_cap = 0;
}
