/* A replay memory filled by reservoir sampling (Vitter's algorithm R), shared by er_ace, der
 * and derpp so that their memories hold the same samples for the same budget as rehearsal's
 * reservoir: a sample is kept as the host stores it (input_dim raw bytes, label, id, task),
 * never as floats, with `width` floats beside it (der's logits; 0 for none).
 *
 * Each sample id is offered once, by the plugin, from the rows of the task being learned in
 * the first epoch; the n-th offer takes a random slot with probability cap / n. Draws are
 * without replacement (a partial Fisher-Yates shuffle of `order`). */
#ifndef PLUGINS_RESERVOIR_H
#define PLUGINS_RESERVOIR_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/lethe.h>

struct reservoir {
	const lethe_host *host;
	size_t cap, count;
	size_t dim;	  /* bytes of a raw sample */
	size_t width;	  /* floats kept beside each sample */
	uint64_t seen;	  /* offers so far */
	uint8_t *pixels;  /* cap x dim */
	int32_t *y;
	uint64_t *id;
	uint32_t *task;
	float *extra;	  /* cap x width, or NULL */
	size_t *order;	  /* a permutation of the slots; draws come to its front */
};

/* Room for cap samples of the run's input_dim bytes and `width` floats each. Says why on
 * failure. */
int reservoir_init(struct reservoir *r, const lethe_host *h, size_t cap, size_t width);
void reservoir_free(struct reservoir *r);

/* Algorithm R for the training sample `id` of task `task`, with its `width` floats (NULL when
 * width = 0). */
int reservoir_offer(struct reservoir *r, uint64_t id, uint32_t task, const float *extra);

/* Moves min(k, count) random slots, without replacement, to the front of order; returns how
 * many. */
size_t reservoir_draw(struct reservoir *r, size_t k);

/* Appends the sample in `slot` to the batch (its task's input transform, label, task, id). */
int reservoir_append(const struct reservoir *r, lethe_batch *b, size_t slot);

/* Drops every sample req lists, keeping the others in order (and seen as it is); returns how
 * many went. */
size_t reservoir_forget(struct reservoir *r, const lethe_forget_request *req);

/* stored_samples and stored_bytes, the figures rehearsal reports. */
void reservoir_report(const struct reservoir *r);

/* The memory in native byte order: uint32 dim, uint32 width, uint64 count, uint64 seen, then
 * count x dim pixel bytes, int32 labels, uint64 ids, uint32 tasks, count x width floats and the
 * count uint64 entries of order (a draw's order is part of what continues exactly). */
int reservoir_save(const struct reservoir *r, const lethe_ostream *out);
int reservoir_load(struct reservoir *r, const lethe_istream *in);

#endif
