/* Class-balanced exemplar sets chosen by herding (iCaRL, Rebuffi et al. 2017, Algorithms 4 and
 * 5), shared by icarl and bic. A group is a (task, class) pair: a class under class- and
 * task-incremental splits, as in the paper; under domain-incremental learning every task brings
 * each class again and each (task, class) gets its own set. The cap samples are shared equally
 * over the groups so far: adding a task's groups cuts each earlier one to the first
 * floor(cap / groups) of its herding order. Samples are kept as the host stores them (raw
 * bytes, label, id, task), group after group, each in herding order.
 *
 * A spread mixes stored rows into a task's training as one data set with its samples: each
 * epoch a fresh random order of the rows, batch i of nb getting the slice [i E / nb,
 * (i+1) E / nb), so each row is met once an epoch. */
#ifndef PLUGINS_EXEMPLARS_H
#define PLUGINS_EXEMPLARS_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/lethe.h>

struct exemplars {
	const lethe_host *host;
	size_t cap, count, dim, classes, feat; /* feat: the head's input width */
	uint8_t *pixels;  /* cap x dim */
	int32_t *y;
	uint64_t *id;
	uint32_t *task;
	size_t groups, max_groups;
	uint32_t *g_task;
	int32_t *g_class;
	size_t *g_count;  /* group g holds the g_count[g] rows after groups 0..g-1 */
	size_t chunk;	  /* rows per forward */
	float *x, *logits, *f; /* workspace: chunk x dim, chunk x classes, features */
	size_t f_rows;
};

struct spread {
	size_t *rows;	  /* exemplar slots, in this epoch's order */
	size_t n, batches;
};

int exemplars_init(struct exemplars *ex, const lethe_host *h, size_t cap);
void exemplars_free(struct exemplars *ex);

/* L2-normalises the n rows of f (d floats each); a zero row stays zero. */
void exemplars_normalize(float *f, size_t n, size_t d);

/* Herding over n normalised rows of f (d floats each): writes min(m, n) row indices to order,
 * each the row that brings the mean of those chosen closest to the mean of all; returns how
 * many. */
size_t exemplars_herd(const float *f, size_t n, size_t d, size_t m, size_t *order);

/* Nearest mean of exemplars: scores (n x C) = minus the distance of each of the n rows of f (F
 * floats, normalised here into row, F floats of scratch) to each class's mean (C x F), -FLT_MAX
 * for a class without one (have[c] = 0). */
void exemplars_nme(const float *f, size_t n, size_t F, const float *means, const uint8_t *have,
		   size_t C, float *row, float *scores);

/* The share of each group once there are `groups`. */
size_t exemplars_share(const struct exemplars *ex, size_t groups);

/* Herds the task's classes on the host model's current features (evaluation mode) and cuts the
 * earlier groups to the new share. */
int exemplars_add_task(struct exemplars *ex, const lethe_task_info *task);

/* The normalised features (the head's input, evaluation mode) of n training rows of task k
 * (positions; NULL: slots first..first+n-1 of the store instead), into ex->f, grown as needed. */
int exemplars_features(struct exemplars *ex, uint32_t k, const uint64_t *positions,
		       size_t first, size_t n);

/* The first row of group g. */
size_t exemplars_start(const struct exemplars *ex, size_t g);

/* Appends stored slot to the batch (its task's transform, label, task, id). */
int exemplars_append(const struct exemplars *ex, lethe_batch *b, size_t slot);

/* Drops every row req lists; returns how many went. */
size_t exemplars_forget(struct exemplars *ex, const lethe_forget_request *req);

/* stored_samples and stored_bytes. */
void exemplars_report(const struct exemplars *ex);

/* Native byte order: uint64 cap, dim, count, groups; the groups' tasks, classes and counts;
 * then count x dim bytes, int32 labels, uint64 ids, uint32 tasks. */
int exemplars_save(const struct exemplars *ex, const lethe_ostream *out);
int exemplars_load(struct exemplars *ex, const lethe_istream *in);

/* A spread of the given slots over `batches` batches (n <= ex->cap). */
void spread_start(struct spread *s, const size_t *slots, size_t n, size_t batches);
/* A fresh order, from the host's generator. */
void spread_epoch(struct spread *s, const lethe_host *h);
/* Ends the task's spread (after_task, on_forget): the exemplars change after it, so the slots
 * it holds no longer name them, and a saved state must not keep them. */
void spread_stop(struct spread *s);
/* Rows for batch b: appended. */
int spread_append(const struct spread *s, const struct exemplars *ex, lethe_batch *b);
/* uint64 n, batches, then the n slots. */
int spread_save(const struct spread *s, const lethe_ostream *out);
int spread_load(struct spread *s, size_t cap, const lethe_istream *in);

#endif
