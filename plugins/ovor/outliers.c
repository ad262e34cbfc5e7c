#include "outliers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/util.h>

/* A scored row, for keeping the best few of many. */
struct pick {
	float score;
	size_t index;
};

static void heap_sift_max(float *heap, size_t n, size_t i)
{
	float v = heap[i];
	for (size_t c; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && heap[c + 1] > heap[c])
			c++;
		if (heap[c] <= v)
			break;
		heap[i] = heap[c];
	}
	heap[i] = v;
}

/* The k-th smallest of row[0, n) without row[skip]: a max-heap of the k smallest so far, so
 * one pass that mostly only compares (k is small next to n). */
static float kth_smallest(const float *row, size_t n, size_t skip, size_t k, float *heap)
{
	size_t filled = 0, j = 0;
	for (; filled < k; j++)
		if (j != skip)
			heap[filled++] = row[j];
	for (size_t i = k / 2; i-- > 0;)
		heap_sift_max(heap, k, i);
	for (; j < n; j++) {
		if (row[j] < heap[0] && j != skip) {
			heap[0] = row[j];
			heap_sift_max(heap, k, 0);
		}
	}
	return heap[0];
}

void knn_kth(const lethe_host *h, const struct knn *s, const float *q, const float *q_sq,
	     size_t nq, size_t self, float *dist)
{
	size_t rows = s->block_floats / s->nref, d = s->dim;
	for (size_t i0 = 0; i0 < nq; i0 += rows) {
		size_t m = nq - i0 < rows ? nq - i0 : rows;
		h->sgemm(h, 0, 1, m, s->nref, d, 2.0f, q + i0 * d, d, s->ref, d, 0.0f, s->block,
			 s->nref);
		for (size_t i = 0; i < m; i++) {
			float *row = s->block + i * s->nref, qs = q_sq[i0 + i];
			for (size_t j = 0; j < s->nref; j++)
				row[j] = qs + s->ref_sq[j] - row[j];
			size_t skip = self == KNN_NO_SELF ? KNN_NO_SELF : self + i0 + i;
			float d2 = kth_smallest(row, s->nref, skip, s->k, s->heap);
			/* Rounding can take a tiny squared distance below zero. */
			dist[i0 + i] = d2 > 0.0f ? sqrtf(d2) : 0.0f;
		}
	}
}

/* Ties go to the lower index, so the choice does not depend on the heap's order. */
static int pick_worse(struct pick a, struct pick b)
{
	return a.score < b.score || (a.score == b.score && a.index > b.index);
}

static void heap_sift_min(struct pick *heap, size_t n, size_t i)
{
	struct pick v = heap[i];
	for (size_t c; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && pick_worse(heap[c + 1], heap[c]))
			c++;
		if (!pick_worse(heap[c], v))
			break;
		heap[i] = heap[c];
	}
	heap[i] = v;
}

/* The indices of the m largest of score[0, n) (1 <= m <= n), best first. */
static void top_m(const float *score, size_t n, size_t m, struct pick *heap, size_t *out)
{
	for (size_t j = 0; j < m; j++)
		heap[j] = (struct pick){ score[j], j };
	for (size_t i = m / 2; i-- > 0;)
		heap_sift_min(heap, m, i);
	for (size_t j = m; j < n; j++) {
		struct pick p = { score[j], j };
		if (pick_worse(heap[0], p)) {
			heap[0] = p;
			heap_sift_min(heap, m, 0);
		}
	}
	for (size_t left = m; left > 0; left--) {
		out[left - 1] = heap[0].index;
		heap[0] = heap[left - 1];
		heap_sift_min(heap, left - 1, 0);
	}
}

static void *grow(void *p, size_t count, size_t size, int *failed)
{
	void *q = realloc(p, (count ? count : 1) * size);
	if (!q) {
		*failed = 1;
		return p;
	}
	return q;
}

int outliers_init(struct outliers *o, const struct outliers_config *cfg, size_t dim,
		  size_t max_classes)
{
	memset(o, 0, sizeof(*o));
	o->cfg = *cfg;
	o->dim = dim;
	o->max_classes = max_classes;
	size_t cands = cfg->boundary * cfg->candidates, kept = cfg->per_class * max_classes;
	size_t best = cfg->boundary > cfg->per_class ? cfg->boundary : cfg->per_class;
	int failed = 0;
	o->start = grow(NULL, max_classes + 1, sizeof(*o->start), &failed);
	o->points = grow(NULL, kept * dim, sizeof(float), &failed);
	o->unit_points = grow(NULL, kept * dim, sizeof(float), &failed);
	o->kth = grow(NULL, kept, sizeof(float), &failed);
	o->source = grow(NULL, kept, sizeof(size_t), &failed);
	o->heap = grow(NULL, cfg->k, sizeof(float), &failed);
	o->cand = grow(NULL, cands * dim, sizeof(float), &failed);
	o->cand_sq = grow(NULL, cands, sizeof(float), &failed);
	o->cand_kth = grow(NULL, cands, sizeof(float), &failed);
	o->cand_src = grow(NULL, cands, sizeof(size_t), &failed);
	o->picked = grow(NULL, best, sizeof(size_t), &failed);
	o->picks = grow(NULL, best, sizeof(struct pick), &failed);
	return failed ? LETHE_ERR_NOMEM : LETHE_OK;
}

int outliers_begin(struct outliers *o, size_t num_classes, const size_t *counts)
{
	if (num_classes > o->max_classes)
		return LETHE_ERR_INVALID;
	size_t n = 0;
	o->start[0] = 0;
	for (size_t c = 0; c < num_classes; c++)
		o->start[c + 1] = n += counts[c];
	o->n = n;
	o->num_classes = num_classes;
	o->count = 0;
	int failed = 0;
	if (n > o->cap_n) {
		o->unit = grow(o->unit, n * o->dim, sizeof(float), &failed);
		o->sq = grow(o->sq, n, sizeof(float), &failed);
		o->norm = grow(o->norm, n, sizeof(float), &failed);
		o->row_kth = grow(o->row_kth, n, sizeof(float), &failed);
		if (failed)
			return LETHE_ERR_NOMEM;
		o->cap_n = n;
	}
	size_t block = n > OUTLIERS_BLOCK ? n : OUTLIERS_BLOCK;
	if (block > o->block_floats) {
		o->block = grow(o->block, block, sizeof(float), &failed);
		if (failed)
			return LETHE_ERR_NOMEM;
		o->block_floats = block;
	}
	return LETHE_OK;
}

void outliers_put(struct outliers *o, size_t row, const float *h, size_t rows)
{
	size_t d = o->dim;
	for (size_t r = 0; r < rows; r++) {
		const float *x = h + r * d;
		float *u = o->unit + (row + r) * d;
		double sum = 0.0;
		for (size_t j = 0; j < d; j++)
			sum += (double)x[j] * x[j];
		float norm = (float)sqrt(sum), inv = norm > 0.0f ? 1.0f / norm : 0.0f, sq = 0.0f;
		for (size_t j = 0; j < d; j++) {
			u[j] = x[j] * inv;
			sq += u[j] * u[j];
		}
		o->norm[row + r] = norm;
		o->sq[row + r] = sq;
	}
}

/* Draws the class's candidates, each around a boundary point (or the origin). */
static size_t draw_candidates(struct outliers *o, const lethe_host *h, size_t first,
			      size_t boundary)
{
	size_t d = o->dim, per = o->cfg.candidates, n = 0;
	for (size_t b = 0; b < boundary; b++) {
		size_t src = first + o->picked[b];
		const float *centre = o->unit + src * d;
		for (size_t t = 0; t < per; t++, n++) {
			float *c = o->cand + n * d, sq = 0.0f;
			for (size_t j = 0; j < d; j++) {
				c[j] = (o->cfg.origin ? 0.0f : centre[j]) +
				       o->cfg.sigma * (float)h->rng_normal(h);
				sq += c[j] * c[j];
			}
			o->cand_sq[n] = sq;
			o->cand_src[n] = o->cfg.origin ? KNN_NO_SELF : src;
		}
	}
	return n;
}

/* Keeps the class's `keep` candidates farthest from the task's rows. */
static void keep_farthest(struct outliers *o, size_t cands, size_t keep, float scale)
{
	size_t d = o->dim;
	top_m(o->cand_kth, cands, keep, o->picks, o->picked);
	for (size_t i = 0; i < keep; i++, o->count++) {
		size_t c = o->picked[i], src = o->cand_src[c];
		float s = src == KNN_NO_SELF ? scale : o->norm[src];
		float *u = o->unit_points + o->count * d, *p = o->points + o->count * d;
		memcpy(u, o->cand + c * d, d * sizeof(float));
		for (size_t j = 0; j < d; j++)
			p[j] = s * u[j];
		o->kth[o->count] = o->cand_kth[c];
		o->source[o->count] = src;
	}
}

void outliers_synthesise(struct outliers *o, const lethe_host *h)
{
	const struct outliers_config *cfg = &o->cfg;
	/* The block as this task needs it, not as an earlier one grew it: the GEMMs then split
	 * the same way in a run resumed from a checkpoint. */
	size_t block = o->n > OUTLIERS_BLOCK ? o->n : OUTLIERS_BLOCK;
	struct knn all = { o->unit, o->sq, o->n, o->dim, cfg->k < o->n ? cfg->k : o->n,
			   o->block, block, o->heap };
	o->count = 0;
	for (size_t c = 0; c < o->num_classes; c++) {
		size_t first = o->start[c], rows = o->start[c + 1] - first;
		if (rows < 2)
			continue;
		struct knn own = { o->unit + first * o->dim, o->sq + first, rows, o->dim,
				   cfg->k < rows ? cfg->k : rows - 1, o->block, block, o->heap };
		knn_kth(h, &own, own.ref, own.ref_sq, rows, 0, o->row_kth);
		size_t boundary = cfg->boundary < rows ? cfg->boundary : rows;
		top_m(o->row_kth, rows, boundary, o->picks, o->picked);
		size_t cands = draw_candidates(o, h, first, boundary);
		knn_kth(h, &all, o->cand, o->cand_sq, cands, KNN_NO_SELF, o->cand_kth);
		double mean_norm = 0.0;
		for (size_t i = first; i < first + rows; i++)
			mean_norm += o->norm[i] / (double)rows;
		keep_farthest(o, cands, cfg->per_class < cands ? cfg->per_class : cands,
			      (float)mean_norm);
	}
}

void outliers_wipe(struct outliers *o)
{
	if (o->n) {
		memset(o->unit, 0, o->n * o->dim * sizeof(float));
		memset(o->sq, 0, o->n * sizeof(float));
		memset(o->norm, 0, o->n * sizeof(float));
	}
	if (o->count) {
		memset(o->points, 0, o->count * o->dim * sizeof(float));
		memset(o->unit_points, 0, o->count * o->dim * sizeof(float));
	}
	o->n = o->count = o->num_classes = 0;
}

static int write_u64(const lethe_ostream *out, uint64_t v)
{
	return out->write(out, &v, sizeof(v));
}

static int write_sizes(const lethe_ostream *out, const size_t *v, size_t n)
{
	int rc = LETHE_OK;
	for (size_t i = 0; i < n && rc == LETHE_OK; i++)
		rc = write_u64(out, v[i]);
	return rc;
}

int outliers_save(const struct outliers *o, int features, const lethe_ostream *out)
{
	size_t n = features ? o->n : 0, d = o->dim, m = o->count;
	int rc = write_u64(out, n);
	if (rc == LETHE_OK && n) {
		rc = write_u64(out, o->num_classes);
		if (rc == LETHE_OK)
			rc = write_sizes(out, o->start, o->num_classes + 1);
		if (rc == LETHE_OK)
			rc = out->write(out, o->unit, n * d * sizeof(float));
		if (rc == LETHE_OK)
			rc = out->write(out, o->sq, n * sizeof(float));
		if (rc == LETHE_OK)
			rc = out->write(out, o->norm, n * sizeof(float));
	}
	if (rc == LETHE_OK)
		rc = write_u64(out, m);
	if (rc == LETHE_OK)
		rc = out->write(out, o->points, m * d * sizeof(float));
	if (rc == LETHE_OK)
		rc = out->write(out, o->unit_points, m * d * sizeof(float));
	if (rc == LETHE_OK)
		rc = out->write(out, o->kth, m * sizeof(float));
	if (rc == LETHE_OK)
		rc = write_sizes(out, o->source, m);
	return rc;
}

static int read_u64(const lethe_istream *in, uint64_t *v)
{
	return in->read(in, v, sizeof(*v));
}

/* The features: their class starts, then outliers_begin sizes the rows, which follow. */
static int load_features(struct outliers *o, const lethe_istream *in, uint64_t n)
{
	uint64_t classes, at = 0;
	int rc = read_u64(in, &classes);
	if (rc != LETHE_OK)
		return rc;
	if (classes == 0 || classes > o->max_classes || n > SIZE_MAX / sizeof(float) / o->dim)
		return LETHE_ERR_INVALID;
	size_t *counts = malloc((size_t)classes * sizeof(*counts));
	if (!counts)
		return LETHE_ERR_NOMEM;
	for (uint64_t c = 0; c <= classes && rc == LETHE_OK; c++) {
		uint64_t start;
		if ((rc = read_u64(in, &start)) != LETHE_OK)
			break;
		if ((c == 0 && start != 0) || start < at || start > n ||
		    (c == classes && start != n))
			rc = LETHE_ERR_INVALID;
		else if (c > 0)
			counts[c - 1] = (size_t)(start - at);
		at = start;
	}
	if (rc == LETHE_OK)
		rc = outliers_begin(o, (size_t)classes, counts);
	free(counts);
	if (rc == LETHE_OK)
		rc = in->read(in, o->unit, n * o->dim * sizeof(float));
	if (rc == LETHE_OK)
		rc = in->read(in, o->sq, n * sizeof(float));
	if (rc == LETHE_OK)
		rc = in->read(in, o->norm, n * sizeof(float));
	return rc;
}

int outliers_load(struct outliers *o, const lethe_istream *in, int *features)
{
	uint64_t n, m;
	int rc = read_u64(in, &n);
	if (rc == LETHE_OK && n)
		rc = load_features(o, in, n);
	else if (rc == LETHE_OK)
		o->n = o->num_classes = 0;
	if (rc == LETHE_OK)
		rc = read_u64(in, &m);
	if (rc != LETHE_OK)
		return rc;
	if (m > o->cfg.per_class * o->max_classes || (m && !n))
		return LETHE_ERR_INVALID;
	size_t d = o->dim;
	rc = in->read(in, o->points, m * d * sizeof(float));
	if (rc == LETHE_OK)
		rc = in->read(in, o->unit_points, m * d * sizeof(float));
	if (rc == LETHE_OK)
		rc = in->read(in, o->kth, m * sizeof(float));
	for (uint64_t i = 0; i < m && rc == LETHE_OK; i++) {
		uint64_t src;
		rc = read_u64(in, &src);
		if (rc == LETHE_OK && src >= n && src != KNN_NO_SELF)
			rc = LETHE_ERR_INVALID;
		o->source[i] = (size_t)src;
	}
	if (rc != LETHE_OK)
		return rc;
	o->count = (size_t)m;
	*features = n > 0;
	return LETHE_OK;
}

void outliers_free(struct outliers *o)
{
	free(o->start);
	free(o->unit);
	free(o->sq);
	free(o->norm);
	free(o->points);
	free(o->unit_points);
	free(o->kth);
	free(o->source);
	free(o->block);
	free(o->heap);
	free(o->row_kth);
	free(o->cand);
	free(o->cand_sq);
	free(o->cand_kth);
	free(o->cand_src);
	free(o->picked);
	free(o->picks);
	memset(o, 0, sizeof(*o));
}

double energy(const float *z, size_t C, const uint8_t *mask)
{
	double sum, max = lethe_logits_max_sum(z, C, mask, &sum);
	return -(max + log(sum));
}

double energy_hinge(const float *z, size_t C, const uint8_t *mask, double tau, int sign,
		    double delta, double scale, float *dz)
{
	double sum, max = lethe_logits_max_sum(z, C, mask, &sum);
	double r = sign * (-(max + log(sum)) - tau);
	if (!(r > 0.0))
		return 0.0;
	double loss = r <= delta ? 0.5 * r * r : delta * (r - 0.5 * delta);
	/* dE/dz_c = -p_c over the mask, and the Huber's slope is min(r, delta). */
	double g = -scale * sign * (r < delta ? r : delta) / sum;
	if (dz)
		for (size_t j = 0; j < C; j++)
			if (mask[j])
				dz[j] += (float)(g * exp(z[j] - max));
	return scale * loss;
}
