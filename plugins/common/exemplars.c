/* Herding and the class-balanced exemplar sets of icarl and bic: see exemplars.h. */
#include "exemplars.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/util.h>

int exemplars_init(struct exemplars *ex, const lethe_host *h, size_t cap)
{
	const lethe_run_info *run = h->run_info(h);
	lethe_model *m = h->model(h);
	lethe_layer head = { .struct_size = sizeof(head) };
	*ex = (struct exemplars){ .host = h, .cap = cap, .dim = run->input_dim,
				  .classes = run->num_classes, .chunk = 256 };
	if (h->model_layer(h, m, h->model_num_layers(h, m) - 1, &head) != LETHE_OK)
		return LETHE_ERR_INVALID;
	ex->feat = head.in;
	ex->max_groups = (size_t)run->num_tasks * run->num_classes;
	ex->pixels = malloc(cap * ex->dim);
	ex->y = malloc(cap * sizeof(*ex->y));
	ex->id = malloc(cap * sizeof(*ex->id));
	ex->task = malloc(cap * sizeof(*ex->task));
	ex->g_task = malloc(ex->max_groups * sizeof(*ex->g_task));
	ex->g_class = malloc(ex->max_groups * sizeof(*ex->g_class));
	ex->g_count = malloc(ex->max_groups * sizeof(*ex->g_count));
	ex->x = malloc(ex->chunk * ex->dim * sizeof(float));
	ex->logits = malloc(ex->chunk * ex->classes * sizeof(float));
	if (ex->pixels && ex->y && ex->id && ex->task && ex->g_task && ex->g_class && ex->g_count &&
	    ex->x && ex->logits)
		return LETHE_OK;
	exemplars_free(ex);
	return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for max_stored = %zu samples", cap);
}

void exemplars_free(struct exemplars *ex)
{
	free(ex->pixels);
	free(ex->y);
	free(ex->id);
	free(ex->task);
	free(ex->g_task);
	free(ex->g_class);
	free(ex->g_count);
	free(ex->x);
	free(ex->logits);
	free(ex->f);
	memset(ex, 0, sizeof(*ex));
}

void exemplars_normalize(float *f, size_t n, size_t d)
{
	for (size_t i = 0; i < n; i++) {
		double s = 0.0;
		for (size_t j = 0; j < d; j++)
			s += (double)f[i * d + j] * f[i * d + j];
		double norm = sqrt(s) > 1e-12 ? sqrt(s) : 1e-12;
		for (size_t j = 0; j < d; j++)
			f[i * d + j] = (float)(f[i * d + j] / norm);
	}
}

size_t exemplars_herd(const float *f, size_t n, size_t d, size_t m, size_t *order)
{
	size_t k = m < n ? m : n;
	double *mu = calloc(d, sizeof(double)), *total = calloc(d, sizeof(double));
	unsigned char *taken = calloc(n ? n : 1, 1);
	if (!mu || !total || !taken) {
		free(mu);
		free(total);
		free(taken);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			mu[j] += f[i * d + j];
	for (size_t j = 0; j < d; j++)
		mu[j] /= (double)n;
	for (size_t s = 1; s <= k; s++) {
		size_t best = n;
		double best_d = INFINITY;
		for (size_t i = 0; i < n; i++) {
			if (taken[i])
				continue;
			double dist = 0.0;
			for (size_t j = 0; j < d; j++) {
				double e = mu[j] - (total[j] + f[i * d + j]) / (double)s;
				dist += e * e;
			}
			if (dist < best_d) {
				best_d = dist;
				best = i;
			}
		}
		order[s - 1] = best;
		taken[best] = 1;
		for (size_t j = 0; j < d; j++)
			total[j] += f[best * d + j];
	}
	free(mu);
	free(total);
	free(taken);
	return k;
}

void exemplars_nme(const float *f, size_t n, size_t F, const float *means, const uint8_t *have,
		   size_t C, float *row, float *scores)
{
	for (size_t i = 0; i < n; i++) {
		memcpy(row, f + i * F, F * sizeof(float));
		exemplars_normalize(row, 1, F);
		for (size_t j = 0; j < C; j++) {
			double d = 0.0;
			for (size_t k = 0; k < F && have[j]; k++) {
				double e = (double)row[k] - means[j * F + k];
				d += e * e;
			}
			scores[i * C + j] = have[j] ? (float)-sqrt(d) : -FLT_MAX;
		}
	}
}

size_t exemplars_share(const struct exemplars *ex, size_t groups)
{
	return groups ? ex->cap / groups : ex->cap;
}

size_t exemplars_start(const struct exemplars *ex, size_t g)
{
	size_t at = 0;
	for (size_t i = 0; i < g; i++)
		at += ex->g_count[i];
	return at;
}

static int features_grow(struct exemplars *ex, size_t n)
{
	if (n <= ex->f_rows)
		return LETHE_OK;
	float *f = realloc(ex->f, n * ex->feat * sizeof(float));
	if (!f)
		return lethe_fail(ex->host, LETHE_ERR_NOMEM, "out of memory for the features "
				  "of %zu samples", n);
	ex->f = f;
	ex->f_rows = n;
	return LETHE_OK;
}

int exemplars_features(struct exemplars *ex, uint32_t k, const uint64_t *positions, size_t first,
		       size_t n)
{
	const lethe_host *h = ex->host;
	lethe_model *m = h->model(h);
	int rc = features_grow(ex, n); /* a hook's forward on the host's model evaluates */
	lethe_layer head = { .struct_size = sizeof(head) };
	for (size_t at = 0; at < n && rc == LETHE_OK; at += ex->chunk) {
		size_t c = n - at < ex->chunk ? n - at : ex->chunk;
		if (positions)
			rc = h->task_load(h, k, LETHE_SPLIT_TRAIN, positions + at, c, ex->x, NULL,
					  NULL);
		for (size_t i = 0; !positions && i < c && rc == LETHE_OK; i++) {
			size_t s = first + at + i;
			rc = h->task_convert(h, ex->task[s], ex->pixels + s * ex->dim, 1,
					     ex->x + i * ex->dim);
		}
		if (rc == LETHE_OK)
			rc = h->model_forward(h, m, ex->x, c, ex->logits);
		if (rc == LETHE_OK)
			rc = h->model_layer(h, m, h->model_num_layers(h, m) - 1, &head);
		if (rc == LETHE_OK)
			memcpy(ex->f + at * ex->feat, head.input, c * ex->feat * sizeof(float));
	}
	if (rc == LETHE_OK)
		exemplars_normalize(ex->f, n, ex->feat);
	return rc;
}

/* Keeps the first `share` rows of every group, in place. */
static void exemplars_cut(struct exemplars *ex, size_t share)
{
	size_t from = 0, to = 0, kept = 0;
	for (size_t g = 0; g < ex->groups; g++) {
		size_t c = ex->g_count[g] < share ? ex->g_count[g] : share;
		for (size_t i = 0; i < c; i++) {
			size_t s = from + i, t = to + i;
			memmove(ex->pixels + t * ex->dim, ex->pixels + s * ex->dim, ex->dim);
			ex->y[t] = ex->y[s];
			ex->id[t] = ex->id[s];
			ex->task[t] = ex->task[s];
		}
		from += ex->g_count[g];
		to += c;
		if (c) {
			ex->g_task[kept] = ex->g_task[g];
			ex->g_class[kept] = ex->g_class[g];
			ex->g_count[kept++] = c;
		}
	}
	ex->groups = kept;
	ex->count = to;
}

int exemplars_add_task(struct exemplars *ex, const lethe_task_info *task)
{
	const lethe_host *h = ex->host;
	size_t share = exemplars_share(ex, ex->groups + task->num_classes);
	exemplars_cut(ex, share);
	uint64_t *pos = malloc((task->num_train ? task->num_train : 1) * sizeof(*pos));
	size_t *order = malloc((share ? share : 1) * sizeof(*order));
	int rc = pos && order ? LETHE_OK : lethe_fail(h, LETHE_ERR_NOMEM, "out of memory herding");
	for (uint32_t j = 0; j < task->num_classes && share && rc == LETHE_OK; j++) {
		int32_t c = task->classes[j];
		size_t n = 0;
		for (uint64_t i = 0; i < task->num_train && rc == LETHE_OK; i++) {
			const uint8_t *px;
			int32_t y;
			uint64_t id;
			rc = h->task_raw(h, task->index, i, &px, &y, &id);
			if (y == c)
				pos[n++] = i;
		}
		if (rc != LETHE_OK || n == 0)
			continue;
		rc = exemplars_features(ex, task->index, pos, 0, n);
		if (rc != LETHE_OK)
			break;
		size_t k = exemplars_herd(ex->f, n, ex->feat, share, order);
		if (k == 0)
			rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory herding");
		for (size_t i = 0; i < k && rc == LETHE_OK; i++) {
			const uint8_t *px;
			size_t s = ex->count + i;
			rc = h->task_raw(h, task->index, pos[order[i]], &px, &ex->y[s], &ex->id[s]);
			if (rc == LETHE_OK)
				memcpy(ex->pixels + s * ex->dim, px, ex->dim);
			ex->task[s] = task->index;
		}
		if (rc == LETHE_OK && k) {
			ex->g_task[ex->groups] = task->index;
			ex->g_class[ex->groups] = c;
			ex->g_count[ex->groups++] = k;
			ex->count += k;
		}
	}
	free(pos);
	free(order);
	exemplars_report(ex);
	return rc;
}

int exemplars_append(const struct exemplars *ex, lethe_batch *b, size_t slot)
{
	if (b->n >= b->capacity)
		return lethe_fail(ex->host, LETHE_ERR_INVALID, "no room for an exemplar in a "
				  "batch of %zu rows with capacity %zu", b->n, b->capacity);
	int rc = ex->host->task_convert(ex->host, ex->task[slot], ex->pixels + slot * ex->dim, 1,
					b->x + b->n * b->dim);
	if (rc != LETHE_OK)
		return rc;
	b->y[b->n] = ex->y[slot];
	b->tasks[b->n] = ex->task[slot];
	b->ids[b->n] = ex->id[slot];
	b->n++;
	return LETHE_OK;
}

size_t exemplars_forget(struct exemplars *ex, const lethe_forget_request *req)
{
	size_t t = 0, s = 0, kept = 0, before = ex->count;
	for (size_t g = 0; g < ex->groups; g++) {
		size_t c = 0;
		for (size_t i = 0; i < ex->g_count[g]; i++, s++) {
			if (lethe_forget_covers(req, ex->id[s]))
				continue;
			memmove(ex->pixels + t * ex->dim, ex->pixels + s * ex->dim, ex->dim);
			ex->y[t] = ex->y[s];
			ex->id[t] = ex->id[s];
			ex->task[t++] = ex->task[s];
			c++;
		}
		if (c) {
			ex->g_task[kept] = ex->g_task[g];
			ex->g_class[kept] = ex->g_class[g];
			ex->g_count[kept++] = c;
		}
	}
	ex->groups = kept;
	ex->count = t;
	exemplars_report(ex);
	return before - t;
}

void exemplars_report(const struct exemplars *ex)
{
	ex->host->report(ex->host, "stored_samples", (double)ex->count);
	ex->host->report(ex->host, "stored_bytes", (double)(ex->count * ex->dim));
}

int exemplars_save(const struct exemplars *ex, const lethe_ostream *out)
{
	uint64_t head[4] = { ex->cap, ex->dim, ex->count, ex->groups };
	size_t n = ex->count, g = ex->groups;
	uint64_t *counts = malloc((g ? g : 1) * sizeof(*counts));
	if (!counts)
		return lethe_fail(ex->host, LETHE_ERR_NOMEM, "out of memory saving the exemplars");
	for (size_t i = 0; i < g; i++)
		counts[i] = ex->g_count[i];
	int rc = out->write(out, head, sizeof(head));
	if (rc == LETHE_OK)
		rc = out->write(out, ex->g_task, g * sizeof(*ex->g_task));
	if (rc == LETHE_OK)
		rc = out->write(out, ex->g_class, g * sizeof(*ex->g_class));
	if (rc == LETHE_OK)
		rc = out->write(out, counts, g * sizeof(*counts));
	if (rc == LETHE_OK)
		rc = out->write(out, ex->pixels, n * ex->dim);
	if (rc == LETHE_OK)
		rc = out->write(out, ex->y, n * sizeof(*ex->y));
	if (rc == LETHE_OK)
		rc = out->write(out, ex->id, n * sizeof(*ex->id));
	if (rc == LETHE_OK)
		rc = out->write(out, ex->task, n * sizeof(*ex->task));
	free(counts);
	return rc == LETHE_OK ? rc
			      : lethe_fail(ex->host, LETHE_ERR_IO, "cannot write the exemplars");
}

int exemplars_load(struct exemplars *ex, const lethe_istream *in)
{
	const lethe_host *h = ex->host;
	uint64_t head[4];
	if (in->read(in, head, sizeof(head)) != LETHE_OK)
		return lethe_fail(h, LETHE_ERR_IO, "the exemplars are truncated in their header");
	if (head[0] != ex->cap || head[1] != ex->dim || head[2] > ex->cap ||
	    head[3] > ex->max_groups)
		return lethe_fail(h, LETHE_ERR_INVALID, "the state holds %llu exemplars of %llu "
				  "bytes in %llu groups, not up to %zu of %zu", (unsigned long long)
				  head[2], (unsigned long long)head[1], (unsigned long long)head[3],
				  ex->cap, ex->dim);
	size_t n = (size_t)head[2], g = (size_t)head[3], sum = 0;
	uint64_t *counts = malloc((g ? g : 1) * sizeof(*counts));
	if (!counts)
		return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory loading the exemplars");
	int rc = LETHE_OK;
	if (in->read(in, ex->g_task, g * sizeof(*ex->g_task)) != LETHE_OK ||
	    in->read(in, ex->g_class, g * sizeof(*ex->g_class)) != LETHE_OK ||
	    in->read(in, counts, g * sizeof(*counts)) != LETHE_OK ||
	    in->read(in, ex->pixels, n * ex->dim) != LETHE_OK ||
	    in->read(in, ex->y, n * sizeof(*ex->y)) != LETHE_OK ||
	    in->read(in, ex->id, n * sizeof(*ex->id)) != LETHE_OK ||
	    in->read(in, ex->task, n * sizeof(*ex->task)) != LETHE_OK)
		rc = lethe_fail(h, LETHE_ERR_IO, "the exemplars are truncated");
	for (size_t i = 0; i < g && rc == LETHE_OK; i++) {
		ex->g_count[i] = (size_t)counts[i];
		sum += ex->g_count[i];
	}
	for (size_t i = 0; i < n && rc == LETHE_OK; i++)
		if (ex->y[i] < 0 || (size_t)ex->y[i] >= ex->classes)
			rc = lethe_fail(h, LETHE_ERR_INVALID, "the exemplars' labels are "
					"malformed");
	if (rc == LETHE_OK && sum != n)
		rc = lethe_fail(h, LETHE_ERR_INVALID, "the exemplar groups hold %zu rows, not %zu",
				sum, n);
	free(counts);
	ex->count = rc == LETHE_OK ? n : 0;
	ex->groups = rc == LETHE_OK ? g : 0;
	if (rc == LETHE_OK)
		exemplars_report(ex);
	return rc;
}

void spread_start(struct spread *s, const size_t *slots, size_t n, size_t batches)
{
	memmove(s->rows, slots, n * sizeof(*slots));
	s->n = n;
	s->batches = batches ? batches : 1;
}

void spread_epoch(struct spread *s, const lethe_host *h)
{
	for (size_t i = s->n; i > 1; i--) {
		uint64_t limit = UINT64_MAX - UINT64_MAX % i, v;
		do
			v = h->rng_u64(h);
		while (v >= limit);
		size_t j = (size_t)(v % i), t = s->rows[i - 1];
		s->rows[i - 1] = s->rows[j];
		s->rows[j] = t;
	}
}

void spread_stop(struct spread *s)
{
	s->n = 0;
}

int spread_append(const struct spread *s, const struct exemplars *ex, lethe_batch *b)
{
	size_t i = b->index < s->batches - 1 ? b->index : s->batches - 1;
	size_t lo = i * s->n / s->batches, hi = (i + 1) * s->n / s->batches;
	int rc = LETHE_OK;
	for (size_t r = lo; r < hi && rc == LETHE_OK; r++)
		rc = exemplars_append(ex, b, s->rows[r]);
	return rc;
}

int spread_save(const struct spread *s, const lethe_ostream *out)
{
	uint64_t head[2] = { s->n, s->batches };
	int rc = out->write(out, head, sizeof(head));
	for (size_t i = 0; i < s->n && rc == LETHE_OK; i++) {
		uint64_t v = s->rows[i];
		rc = out->write(out, &v, sizeof(v));
	}
	return rc;
}

int spread_load(struct spread *s, size_t cap, const lethe_istream *in)
{
	uint64_t head[2];
	if (in->read(in, head, sizeof(head)) != LETHE_OK || head[0] > cap || head[1] == 0)
		return LETHE_ERR_INVALID;
	s->n = (size_t)head[0];
	s->batches = (size_t)head[1];
	for (size_t i = 0; i < s->n; i++) {
		uint64_t v;
		if (in->read(in, &v, sizeof(v)) != LETHE_OK || v >= cap)
			return LETHE_ERR_INVALID;
		s->rows[i] = (size_t)v;
	}
	return LETHE_OK;
}
