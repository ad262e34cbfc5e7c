/* The task sequence: which samples of the data set each task trains and tests on, and the
 * input transform (a pixel permutation, for domain-incremental permuted tasks). */
#ifndef LETHE_TASKS_H
#define LETHE_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "util/error.h"

#define TASKS_MAX 64
#define CLASSES_MAX 256

struct task {
	uint32_t index;
	uint32_t num_classes;
	int32_t classes[CLASSES_MAX];
	uint8_t class_mask[CLASSES_MAX]; /* 1 for the task's classes */
	uint32_t *train;		 /* positions in the train split */
	size_t num_train;
	uint32_t *test;			 /* positions in the test split */
	size_t num_test;
	uint32_t *perm;			 /* dim entries: x[j] = pixel[perm[j]]; NULL = identity */
};

struct task_list {
	size_t count;
	struct task t[TASKS_MAX];
	const struct dataset *train; /* borrowed */
	const struct dataset *test;
	size_t dim;
};

/* Tasks each with an explicit class list: the samples of those classes. classes[k] holds
 * counts[k] classes. Every class must exist in the data; a class may appear in only one task. */
int tasks_by_classes(struct task_list *tl, const struct dataset *train,
		     const struct dataset *test, size_t num_tasks, const int32_t *const *classes,
		     const size_t *counts, struct error *e);

/* `num_tasks` tasks over the same (all) classes, each with its own seeded pixel permutation;
 * the first task keeps the identity when first_identity is set. */
int tasks_permuted(struct task_list *tl, const struct dataset *train, const struct dataset *test,
		   size_t num_tasks, int first_identity, uint64_t seed, struct error *e);

/* Keeps a seeded random subset of at most max_train / max_test samples per task (0 = all):
 * small slices for fast runs. */
void tasks_limit(struct task_list *tl, size_t max_train, size_t max_test, uint64_t seed);

/* The sample id the SDK promises: (task << 32) | position in the train split. */
static inline uint64_t tasks_sample_id(uint32_t task, uint32_t position)
{
	return ((uint64_t)task << 32) | position;
}

/* Whether dataset position p is among the task's training samples (binary search). */
int tasks_has_train(const struct task *t, uint32_t p);

/* Converts n rows of uint8 pixels into floats in [0, 1], applying the task's permutation.
 * The only place data becomes float: called per batch. */
void tasks_convert(const struct task *t, const uint8_t *pixels, size_t n, size_t dim, float *x);

/* Gathers the given positions of `split` (the task's train or test data set) into x (floats)
 * and y. positions index the data set directly, not the task's list. */
void tasks_gather(const struct task *t, const struct dataset *split, const uint32_t *positions,
		  size_t n, float *x, int32_t *y);

void tasks_free(struct task_list *tl);

#endif
