/* A forget request's data, as the unlearning plugins (neggrad, l1sparse, scrub, salun,
 * badteacher, ssd) see it: D_f, the request's samples of the tasks learned so far (the rest
 * never reached the model), and D_r, every other training sample of those tasks, numbered
 * task by task so that a draw over them needs no list. Rows of either are loaded into a
 * working batch (struct forget_rows) with their labels and tasks. */
#ifndef PLUGINS_FORGET_SET_H
#define PLUGINS_FORGET_SET_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/lethe.h>

struct forget_sample {
	const uint8_t *pixels; /* the host's */
	int32_t y;
	uint32_t task;
};

struct forget_set {
	const lethe_host *h;
	const lethe_forget_request *req;
	uint32_t learned;	/* tasks 0..learned-1 have been learned */
	size_t dim, C;
	uint64_t *starts;	/* learned + 1: where task k begins in the numbering of the learned
				 * tasks' samples; starts[learned] their count, D_f included */
	uint8_t *masks;		/* task-incremental: num_tasks x C allowed classes, else NULL */
	uint8_t *seen;		/* C: 1 for the classes of the learned tasks */
	struct forget_sample *forget; /* D_f in id order */
	size_t num_forget;
	uint64_t num_retain;	/* |D_r| */
};

/* A working batch of up to cap rows. */
struct forget_rows {
	size_t cap, n;
	float *x, *logits, *dlogits;
	int32_t *y;
	uint32_t *task;
};

/* Reads req: checks its ids (sorted, each a training sample), gathers D_f and counts D_r.
 * num_forget is 0 when no sample of the request was learned (nothing to do). Says why on
 * failure; forget_set_close is safe after any outcome. */
int forget_set_open(struct forget_set *s, const lethe_host *h, const lethe_forget_request *req);
void forget_set_close(struct forget_set *s);

/* LETHE_OK when D_r has samples; else LETHE_ERR_INVALID with a line naming the plugin, the
 * request and `why` the method needs them. */
int forget_set_need_retain(const struct forget_set *s, const char *plugin, const char *why);

int forget_rows_init(struct forget_rows *r, const struct forget_set *s, size_t cap);
void forget_rows_free(struct forget_rows *r);

/* Appends D_f's sample i. */
int forget_rows_add_forget(struct forget_rows *r, const struct forget_set *s, size_t i);
/* Appends the learned tasks' sample `pos` of the numbering (D_f's included); *covered (may
 * be NULL) says whether it belongs to D_f. */
int forget_rows_add_position(struct forget_rows *r, const struct forget_set *s, uint64_t pos,
			     int *covered);
/* Appends a retained sample drawn uniformly (D_r must not be empty). */
int forget_rows_add_retain(struct forget_rows *r, const struct forget_set *s);

/* The class mask of row i (NULL: every class). */
const uint8_t *forget_rows_mask(const struct forget_rows *r, const struct forget_set *s,
				size_t i);

/* A uniform draw in [0, n), n > 0, from the plugin's stream. */
uint64_t forget_draw(const lethe_host *h, uint64_t n);
/* Fisher-Yates over v[0..n). */
void forget_shuffle(const lethe_host *h, size_t *v, size_t n);

#endif
