/* A forget request's data for the unlearning plugins: see forget_set.h. */
#include "forget_set.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/util.h>

#include "xent.h"

/* How many of the ids name samples of the first `learned` tasks: a prefix, ids being sorted
 * by task first. */
static size_t ids_below(const lethe_forget_request *req, uint32_t learned)
{
	size_t n = 0;
	while (n < req->num_ids && req->ids[n] >> 32 < learned)
		n++;
	return n;
}

int forget_set_open(struct forget_set *s, const lethe_host *h, const lethe_forget_request *req)
{
	const lethe_run_info *run = h->run_info(h);
	*s = (struct forget_set){ .h = h, .req = req, .dim = run->input_dim,
				  .C = run->num_classes };
	for (size_t i = 1; i < req->num_ids; i++)
		if (req->ids[i] <= req->ids[i - 1])
			return lethe_fail(h, LETHE_ERR_INVALID, "the request's ids are not sorted "
					  "ascending at %zu", i);
	/* A request from before tasks_learned: every task counts as learned. */
	int knows_learned = req->struct_size >= offsetof(lethe_forget_request, tasks_learned) +
						     sizeof(req->tasks_learned);
	s->learned = knows_learned && req->tasks_learned < run->num_tasks ? req->tasks_learned
									  : run->num_tasks;
	s->num_forget = ids_below(req, s->learned);
	if (s->num_forget == 0)
		return LETHE_OK;
	s->starts = calloc((size_t)s->learned + 1, sizeof(*s->starts));
	s->seen = calloc(s->C, 1);
	s->forget = calloc(s->num_forget, sizeof(*s->forget));
	if (!s->starts || !s->seen || !s->forget || xent_masks(h, &s->masks) != LETHE_OK)
		return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for a request of %zu samples",
				  s->num_forget);
	for (uint32_t k = 0; k < s->learned; k++) {
		const lethe_task_info *t = h->task_info(h, k);
		s->starts[k + 1] = s->starts[k] + t->num_train;
		for (uint32_t j = 0; j < t->num_classes; j++)
			s->seen[t->classes[j]] = 1;
	}
	for (size_t i = 0; i < s->num_forget; i++) {
		uint64_t id = req->ids[i];
		struct forget_sample *f = &s->forget[i];
		if (h->sample_raw(h, id, &f->pixels, &f->y) != LETHE_OK)
			return lethe_fail(h, LETHE_ERR_INVALID, "id %#llx of the request names no "
					  "training sample", (unsigned long long)id);
		f->task = (uint32_t)(id >> 32);
	}
	/* Valid distinct ids of learned tasks: |D_r| is the rest. */
	s->num_retain = s->starts[s->learned] - s->num_forget;
	return LETHE_OK;
}

void forget_set_close(struct forget_set *s)
{
	free(s->starts);
	free(s->masks);
	free(s->seen);
	free(s->forget);
	s->starts = NULL;
	s->masks = s->seen = NULL;
	s->forget = NULL;
}

int forget_set_need_retain(const struct forget_set *s, const char *plugin, const char *why)
{
	if (s->num_retain > 0)
		return LETHE_OK;
	const lethe_forget_request *req = s->req;
	char what[96];
	if (req->kind == LETHE_FORGET_CLASS)
		snprintf(what, sizeof(what), "%zu classes", req->num_classes);
	else if (req->kind == LETHE_FORGET_TASK)
		snprintf(what, sizeof(what), "task %u", req->task + 1);
	else
		snprintf(what, sizeof(what), "samples of task %u", req->task + 1);
	return lethe_fail(s->h, LETHE_ERR_INVALID, "%s cannot serve this request (%s, %zu samples): "
			  "it covers every training sample of the %u tasks learned, and %s needs "
			  "retained data (%s)", plugin, what, s->num_forget, s->learned, plugin, why);
}

int forget_rows_init(struct forget_rows *r, const struct forget_set *s, size_t cap)
{
	*r = (struct forget_rows){ .cap = cap };
	r->x = malloc(cap * s->dim * sizeof(float));
	r->logits = malloc(cap * s->C * sizeof(float));
	r->dlogits = malloc(cap * s->C * sizeof(float));
	r->y = malloc(cap * sizeof(int32_t));
	r->task = malloc(cap * sizeof(uint32_t));
	if (!r->x || !r->logits || !r->dlogits || !r->y || !r->task)
		return lethe_fail(s->h, LETHE_ERR_NOMEM, "out of memory for batches of %zu rows",
				  cap);
	return LETHE_OK;
}

void forget_rows_free(struct forget_rows *r)
{
	free(r->x);
	free(r->logits);
	free(r->dlogits);
	free(r->y);
	free(r->task);
	*r = (struct forget_rows){ 0 };
}

static int rows_add(struct forget_rows *r, const struct forget_set *s, const uint8_t *pixels,
		    int32_t y, uint32_t task)
{
	if (r->n >= r->cap)
		return lethe_fail(s->h, LETHE_ERR_INVALID, "a batch of %zu rows is full", r->cap);
	r->y[r->n] = y;
	r->task[r->n] = task;
	int rc = s->h->task_convert(s->h, task, pixels, 1, r->x + r->n * s->dim);
	if (rc == LETHE_OK)
		r->n++;
	return rc;
}

int forget_rows_add_forget(struct forget_rows *r, const struct forget_set *s, size_t i)
{
	const struct forget_sample *f = &s->forget[i];
	return rows_add(r, s, f->pixels, f->y, f->task);
}

int forget_rows_add_position(struct forget_rows *r, const struct forget_set *s, uint64_t pos,
			     int *covered)
{
	const lethe_host *h = s->h;
	const uint8_t *pixels;
	int32_t y;
	uint64_t id;
	uint32_t k = 0;
	while (pos >= s->starts[k + 1])
		k++;
	int rc = h->task_raw(h, k, pos - s->starts[k], &pixels, &y, &id);
	if (rc != LETHE_OK)
		return rc;
	if (covered)
		*covered = lethe_forget_covers(s->req, id);
	return rows_add(r, s, pixels, y, k);
}

int forget_rows_add_retain(struct forget_rows *r, const struct forget_set *s)
{
	const lethe_host *h = s->h;
	for (;;) {
		const uint8_t *pixels;
		int32_t y;
		uint64_t id, pos = forget_draw(h, s->starts[s->learned]);
		uint32_t k = 0;
		while (pos >= s->starts[k + 1])
			k++;
		int rc = h->task_raw(h, k, pos - s->starts[k], &pixels, &y, &id);
		if (rc != LETHE_OK)
			return rc;
		if (!lethe_forget_covers(s->req, id))
			return rows_add(r, s, pixels, y, k);
	}
}

const uint8_t *forget_rows_mask(const struct forget_rows *r, const struct forget_set *s,
				size_t i)
{
	return s->masks ? s->masks + (size_t)r->task[i] * s->C : NULL;
}

uint64_t forget_draw(const lethe_host *h, uint64_t n)
{
	uint64_t v = (uint64_t)(h->rng_uniform(h) * (double)n);
	return v < n ? v : n - 1;
}

void forget_shuffle(const lethe_host *h, size_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)forget_draw(h, i), t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}
