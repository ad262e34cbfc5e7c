/* The replay memory of er_ace, der and derpp: see reservoir.h. */
#include "reservoir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/util.h>

/* Uniform in [0, n), n > 0, without modulo bias. */
static uint64_t reservoir_below(const struct reservoir *r, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
	do
		v = r->host->rng_u64(r->host);
	while (v >= limit);
	return v % n;
}

int reservoir_init(struct reservoir *r, const lethe_host *h, size_t cap, size_t width)
{
	*r = (struct reservoir){ .host = h, .cap = cap, .width = width };
	r->dim = h->run_info(h)->input_dim;
	r->pixels = malloc(cap * r->dim);
	r->y = malloc(cap * sizeof(*r->y));
	r->id = malloc(cap * sizeof(*r->id));
	r->task = malloc(cap * sizeof(*r->task));
	r->order = malloc(cap * sizeof(*r->order));
	r->extra = width ? malloc(cap * width * sizeof(float)) : NULL;
	if (r->pixels && r->y && r->id && r->task && r->order && (r->extra || !width))
		return LETHE_OK;
	reservoir_free(r);
	return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for max_stored = %zu samples", cap);
}

void reservoir_free(struct reservoir *r)
{
	free(r->pixels);
	free(r->y);
	free(r->id);
	free(r->task);
	free(r->extra);
	free(r->order);
	r->pixels = NULL;
	r->y = NULL;
	r->id = NULL;
	r->task = NULL;
	r->extra = NULL;
	r->order = NULL;
}

static void reservoir_put(struct reservoir *r, size_t slot, const uint8_t *pixels, int32_t y,
			  uint64_t id, uint32_t task, const float *extra)
{
	memmove(r->pixels + slot * r->dim, pixels, r->dim);
	r->y[slot] = y;
	r->id[slot] = id;
	r->task[slot] = task;
	if (r->width)
		memmove(r->extra + slot * r->width, extra, r->width * sizeof(float));
}

int reservoir_offer(struct reservoir *r, uint64_t id, uint32_t task, const float *extra)
{
	const uint8_t *pixels;
	int32_t y;
	int rc = r->host->sample_raw(r->host, id, &pixels, &y);
	if (rc != LETHE_OK)
		return rc;
	r->seen++;
	size_t slot;
	if (r->count < r->cap) {
		slot = r->count;
		r->order[r->count++] = slot;
	} else {
		uint64_t j = reservoir_below(r, r->seen);
		if (j >= r->cap)
			return LETHE_OK;
		slot = (size_t)j;
	}
	reservoir_put(r, slot, pixels, y, id, task, extra);
	return LETHE_OK;
}

size_t reservoir_draw(struct reservoir *r, size_t k)
{
	k = k < r->count ? k : r->count;
	for (size_t i = 0; i < k; i++) {
		size_t j = i + (size_t)reservoir_below(r, r->count - i), t = r->order[i];
		r->order[i] = r->order[j];
		r->order[j] = t;
	}
	return k;
}

int reservoir_append(const struct reservoir *r, lethe_batch *b, size_t slot)
{
	if (b->n >= b->capacity)
		return lethe_fail(r->host, LETHE_ERR_INVALID, "no room for a replayed row in a batch "
				  "of %zu rows with capacity %zu", b->n, b->capacity);
	int rc = r->host->task_convert(r->host, r->task[slot], r->pixels + slot * r->dim, 1,
				       b->x + b->n * b->dim);
	if (rc != LETHE_OK)
		return rc;
	b->y[b->n] = r->y[slot];
	b->tasks[b->n] = r->task[slot];
	b->ids[b->n] = r->id[slot];
	b->n++;
	return LETHE_OK;
}

size_t reservoir_forget(struct reservoir *r, const lethe_forget_request *req)
{
	size_t kept = 0, before = r->count;
	for (size_t i = 0; i < r->count; i++) {
		if (lethe_forget_covers(req, r->id[i]))
			continue;
		if (kept != i)
			reservoir_put(r, kept, r->pixels + i * r->dim, r->y[i], r->id[i], r->task[i],
				      r->width ? r->extra + i * r->width : NULL);
		kept++;
	}
	/* The slots moved: draws start again from the identity. */
	for (size_t i = 0; i < kept; i++)
		r->order[i] = i;
	r->count = kept;
	return before - kept;
}

void reservoir_report(const struct reservoir *r)
{
	size_t per = r->dim + sizeof(*r->y) + sizeof(*r->id) + sizeof(*r->task) +
		     r->width * sizeof(float);
	r->host->report(r->host, "stored_samples", (double)r->count);
	r->host->report(r->host, "stored_bytes", (double)(r->count * per));
}

int reservoir_save(const struct reservoir *r, const lethe_ostream *out)
{
	uint32_t head[2] = { (uint32_t)r->dim, (uint32_t)r->width };
	uint64_t count = r->count;
	int rc = out->write(out, head, sizeof(head));
	if (!rc)
		rc = out->write(out, &count, sizeof(count));
	if (!rc)
		rc = out->write(out, &r->seen, sizeof(r->seen));
	if (!rc)
		rc = out->write(out, r->pixels, count * r->dim);
	if (!rc)
		rc = out->write(out, r->y, count * sizeof(*r->y));
	if (!rc)
		rc = out->write(out, r->id, count * sizeof(*r->id));
	if (!rc)
		rc = out->write(out, r->task, count * sizeof(*r->task));
	if (!rc && r->width)
		rc = out->write(out, r->extra, count * r->width * sizeof(float));
	for (size_t i = 0; i < r->count && !rc; i++) {
		uint64_t slot = r->order[i];
		rc = out->write(out, &slot, sizeof(slot));
	}
	return rc ? lethe_fail(r->host, rc, "cannot write the replay memory") : LETHE_OK;
}

/* Every stored sample names a task and a class of this run, its floats are finite, and order
 * is a permutation of the slots. */
static int reservoir_check(const struct reservoir *r, size_t count, const uint64_t *order)
{
	const lethe_run_info *run = r->host->run_info(r->host);
	for (size_t i = 0; i < count; i++)
		if (r->task[i] >= run->num_tasks || r->y[i] < 0 ||
		    (uint32_t)r->y[i] >= run->num_classes)
			return lethe_fail(r->host, LETHE_ERR_INVALID, "stored sample %zu has task %u "
					  "and label %d, not of this run", i, r->task[i], r->y[i]);
	for (size_t i = 0; i < count * r->width; i++)
		if (!isfinite(r->extra[i]))
			return lethe_fail(r->host, LETHE_ERR_INVALID, "the state's stored logits "
					  "are not finite");
	uint8_t *hit = calloc(count ? count : 1, 1);
	if (!hit)
		return lethe_fail(r->host, LETHE_ERR_NOMEM, "out of memory");
	int rc = LETHE_OK;
	for (size_t i = 0; i < count && !rc; i++) {
		if (order[i] >= count || hit[order[i]])
			rc = lethe_fail(r->host, LETHE_ERR_INVALID, "the state's draw order is not "
					"a permutation of its %zu samples", count);
		else
			hit[order[i]] = 1;
	}
	free(hit);
	return rc;
}

int reservoir_load(struct reservoir *r, const lethe_istream *in)
{
	uint32_t head[2];
	uint64_t count, seen;
	int rc = in->read(in, head, sizeof(head));
	if (!rc)
		rc = in->read(in, &count, sizeof(count));
	if (!rc)
		rc = in->read(in, &seen, sizeof(seen));
	if (rc)
		return lethe_fail(r->host, rc, "the state is truncated in its header");
	if (head[0] != r->dim || head[1] != r->width || count > r->cap || seen < count)
		return lethe_fail(r->host, LETHE_ERR_INVALID, "the state holds %llu samples of %u "
				  "bytes and %u floats; this run stores at most %zu of %zu and %zu",
				  (unsigned long long)count, head[0], head[1], r->cap, r->dim,
				  r->width);
	size_t n = (size_t)count;
	uint64_t *order = malloc((n ? n : 1) * sizeof(*order));
	if (!order)
		return lethe_fail(r->host, LETHE_ERR_NOMEM, "out of memory");
	rc = in->read(in, r->pixels, n * r->dim);
	if (!rc)
		rc = in->read(in, r->y, n * sizeof(*r->y));
	if (!rc)
		rc = in->read(in, r->id, n * sizeof(*r->id));
	if (!rc)
		rc = in->read(in, r->task, n * sizeof(*r->task));
	if (!rc && r->width)
		rc = in->read(in, r->extra, n * r->width * sizeof(float));
	if (!rc)
		rc = in->read(in, order, n * sizeof(*order));
	if (rc)
		rc = lethe_fail(r->host, rc, "the state is truncated in its %llu samples",
				(unsigned long long)count);
	if (!rc)
		rc = reservoir_check(r, n, order);
	for (size_t i = 0; i < n && !rc; i++)
		r->order[i] = (size_t)order[i];
	free(order);
	if (rc) {
		r->count = 0;
		return rc;
	}
	r->count = n;
	r->seen = seen;
	return LETHE_OK;
}
