/* The task sequence: which samples of the data set each task trains and tests on, and how a
 * sample becomes the model's input: its pixels, perhaps augmented (a random crop and flip, on
 * training batches alone), become floats, normalised per channel when the scenario says so, and
 * are permuted for domain-incremental permuted tasks. */
#ifndef LETHE_TASKS_H
#define LETHE_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "util/error.h"
#include "util/rng.h"

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
	uint32_t channels, rows, cols;	 /* a sample's shape: C x H x W, channel-major */
	const float *lut;		 /* channels x 256: a pixel's value by its channel
					  * (tasks_normalise); NULL: pixel / 255 */
};

struct task_list {
	size_t count;
	struct task t[TASKS_MAX];
	const struct dataset *train; /* borrowed */
	const struct dataset *test;
	size_t dim;
	float *lut; /* the tasks' normalisation, NULL for none */
	uint32_t crop; /* training augmentation (tasks_convert_train): the crop's padding, */
	int flip;      /* and flips */
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

/* Normalises every task's conversion per channel: a pixel p of channel c becomes
 * (p / 255 - mean[c]) / std[c] (mean and std hold a value per channel of the data, std > 0),
 * in float arithmetic step by step, as torchvision's ToTensor then Normalize compute it. */
int tasks_normalise(struct task_list *tl, const double *mean, const double *std,
		    struct error *e);

/* Converts n rows of uint8 pixels into floats: pixel / 255 in [0, 1], or normalised
 * (tasks_normalise), then the task's permutation, which moves each value to its place in the
 * whole C x H x W vector and keeps its own channel's normalisation. The only place data becomes
 * float, with tasks_convert_augmented: called per batch. */
void tasks_convert(const struct task *t, const uint8_t *pixels, size_t n, size_t dim, float *x);

/* A training sample's augmentation, as torchvision's RandomCrop(size, padding = pad) and
 * RandomHorizontalFlip draw it: the crop's top-left corner in the image zero-padded by pad
 * pixels on every side (top and left in 0..2 pad; pad, pad is the image itself), and whether
 * the crop is mirrored left to right. */
struct tasks_augment {
	uint32_t pad, top, left;
	int flip;
};

/* Draws one sample's augmentation from r: top, then left (each rng_below(2 pad + 1)) when pad
 * is not 0, then the flip (rng_below(2) == 1) when flip is set; nothing else. */
void tasks_augment_draw(struct rng *r, uint32_t pad, int flip, struct tasks_augment *a);

/* tasks_convert of one sample seen through a: each channel's rows x cols image cropped from
 * its version padded with black pixels (0, so normalised as a 0 pixel would be), mirrored when
 * a->flip, then normalised and permuted as tasks_convert does. */
void tasks_convert_augmented(const struct task *t, const uint8_t *pixels,
			     const struct tasks_augment *a, float *x);

/* One training sample of task k: tasks_convert_augmented with an augmentation drawn from r
 * (tasks_augment_draw with tl's crop and flip) when tl augments, else tasks_convert, r left
 * alone. */
void tasks_convert_train(const struct task_list *tl, uint32_t k, const uint8_t *pixels,
			 struct rng *r, float *x);

/* Gathers the given positions of `split` (the task's train or test data set) into x (floats)
 * and y. positions index the data set directly, not the task's list. */
void tasks_gather(const struct task *t, const struct dataset *split, const uint32_t *positions,
		  size_t n, float *x, int32_t *y);

void tasks_free(struct task_list *tl);

#endif
