#include "data/tasks.h"

#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

/* Stream bases for the task seed: task k draws from base + k, so permutations and subsets never
 * share a stream even when given the same seed. */
#define STREAM_PERM 0x100
#define STREAM_LIMIT 0x200

static int tasks_init(struct task_list *tl, const struct dataset *train,
		      const struct dataset *test, size_t num_tasks, struct error *e)
{
	memset(tl, 0, sizeof(*tl));
	if (num_tasks < 1 || num_tasks > TASKS_MAX)
		return error_set(e, "%zu tasks: there must be 1 to %d", num_tasks, TASKS_MAX);
	if (train->dim != test->dim)
		return error_set(e, "train samples have %zu values but test samples %zu",
				 train->dim, test->dim);
	if (train->dim == 0)
		return error_set(e, "the samples have no values");
	if (train->n > UINT32_MAX || test->n > UINT32_MAX)
		return error_set(e, "too many samples for 32-bit positions");
	if ((size_t)train->channels * train->rows * train->cols != train->dim)
		return error_set(e, "samples of %zu values are not %u x %u x %u images", train->dim,
				 train->channels, train->rows, train->cols);
	tl->count = num_tasks;
	tl->train = train;
	tl->test = test;
	tl->dim = train->dim;
	for (size_t k = 0; k < num_tasks; k++)
		tl->t[k] = (struct task){ .index = (uint32_t)k, .channels = train->channels,
					  .rows = train->rows, .cols = train->cols };
	return 0;
}

static void tasks_add_class(struct task *t, int32_t c)
{
	t->classes[t->num_classes++] = c;
	t->class_mask[c] = 1;
}

static void class_histogram(const struct dataset *d, size_t *count)
{
	memset(count, 0, CLASSES_MAX * sizeof(*count));
	for (size_t i = 0; i < d->n; i++)
		count[d->y[i]]++;
}

static int tasks_fail(struct task_list *tl)
{
	tasks_free(tl);
	return -1;
}

/* Gives each listed class to its task (owner) and counts the tasks' samples. */
static int tasks_assign(struct task_list *tl, const int32_t *const *classes,
			const size_t *counts, int *owner, struct error *e)
{
	size_t train_count[CLASSES_MAX], test_count[CLASSES_MAX];

	class_histogram(tl->train, train_count);
	class_histogram(tl->test, test_count);
	for (size_t c = 0; c < CLASSES_MAX; c++)
		owner[c] = -1;

	for (size_t k = 0; k < tl->count; k++) {
		struct task *t = &tl->t[k];
		if (counts[k] < 1 || counts[k] > CLASSES_MAX)
			return error_set(e, "task %zu has %zu classes: it needs 1 to %d", k + 1,
					 counts[k], CLASSES_MAX);
		for (size_t i = 0; i < counts[k]; i++) {
			int32_t c = classes[k][i];
			if (c < 0 || c >= CLASSES_MAX || train_count[c] == 0)
				return error_set(e, "task %zu: class %d is not in the data "
						 "(classes 0..%d)", k + 1, c,
						 tl->train->num_classes - 1);
			if (owner[c] == (int)k)
				return error_set(e, "task %zu lists class %d twice", k + 1, c);
			if (owner[c] >= 0)
				return error_set(e, "task %zu: class %d is already in task %d",
						 k + 1, c, owner[c] + 1);
			owner[c] = (int)k;
			tasks_add_class(t, c);
			t->num_train += train_count[c];
			t->num_test += test_count[c];
		}
		if (t->num_test == 0)
			return error_set(e, "task %zu has no test samples", k + 1);
	}
	return 0;
}

int tasks_by_classes(struct task_list *tl, const struct dataset *train,
		     const struct dataset *test, size_t num_tasks, const int32_t *const *classes,
		     const size_t *counts, struct error *e)
{
	int owner[CLASSES_MAX];

	if (tasks_init(tl, train, test, num_tasks, e) < 0)
		return -1;
	if (tasks_assign(tl, classes, counts, owner, e) < 0)
		return tasks_fail(tl);

	for (size_t k = 0; k < num_tasks; k++) {
		struct task *t = &tl->t[k];
		t->train = malloc(t->num_train * sizeof(*t->train));
		t->test = malloc(t->num_test * sizeof(*t->test));
		if (!t->train || !t->test) {
			tasks_fail(tl);
			return error_set(e, "out of memory for the samples of task %zu", k + 1);
		}
		t->num_train = t->num_test = 0;
	}
	/* One pass per split, so every list comes out in ascending order. */
	for (size_t i = 0; i < train->n; i++) {
		int k = owner[train->y[i]];
		if (k >= 0)
			tl->t[k].train[tl->t[k].num_train++] = (uint32_t)i;
	}
	for (size_t i = 0; i < test->n; i++) {
		int k = owner[test->y[i]];
		if (k >= 0)
			tl->t[k].test[tl->t[k].num_test++] = (uint32_t)i;
	}
	return 0;
}

static uint32_t *positions_all(size_t n)
{
	uint32_t *p = malloc(n * sizeof(*p));
	if (p)
		for (size_t i = 0; i < n; i++)
			p[i] = (uint32_t)i;
	return p;
}

int tasks_permuted(struct task_list *tl, const struct dataset *train, const struct dataset *test,
		   size_t num_tasks, int first_identity, uint64_t seed, struct error *e)
{
	if (tasks_init(tl, train, test, num_tasks, e) < 0)
		return -1;
	if (train->n == 0 || test->n == 0)
		return error_set(e, "permuted tasks need train and test samples");
	int classes = train->num_classes > test->num_classes ? train->num_classes :
								 test->num_classes;

	for (size_t k = 0; k < num_tasks; k++) {
		struct task *t = &tl->t[k];
		for (int32_t c = 0; c < classes; c++)
			tasks_add_class(t, c);
		t->num_train = train->n;
		t->num_test = test->n;
		t->train = positions_all(train->n);
		t->test = positions_all(test->n);
		if (!t->train || !t->test)
			goto oom;
		if (k == 0 && first_identity)
			continue;
		t->perm = positions_all(tl->dim);
		if (!t->perm)
			goto oom;
		struct rng r;
		rng_seed(&r, seed, STREAM_PERM + k);
		rng_shuffle_u32(&r, t->perm, tl->dim);
	}
	return 0;

oom:
	tasks_fail(tl);
	return error_set(e, "out of memory for %zu permuted tasks", num_tasks);
}

/* Selection sampling (Knuth's algorithm S): keeps exactly max of the n positions, each subset
 * equally likely, and leaves them in their original order. */
static size_t positions_sample(uint32_t *p, size_t n, size_t max, struct rng *r)
{
	if (max == 0 || n <= max)
		return n;
	size_t kept = 0;
	for (size_t i = 0; i < n && kept < max; i++)
		if (rng_below(r, n - i) < max - kept)
			p[kept++] = p[i];
	return kept;
}

void tasks_limit(struct task_list *tl, size_t max_train, size_t max_test, uint64_t seed)
{
	for (size_t k = 0; k < tl->count; k++) {
		struct task *t = &tl->t[k];
		struct rng r;
		rng_seed(&r, seed, STREAM_LIMIT + k);
		t->num_train = positions_sample(t->train, t->num_train, max_train, &r);
		t->num_test = positions_sample(t->test, t->num_test, max_test, &r);
	}
}

int tasks_normalise(struct task_list *tl, const double *mean, const double *std,
		    struct error *e)
{
	uint32_t channels = tl->train->channels;
	float *lut = malloc((size_t)channels * 256 * sizeof(*lut));

	if (!lut)
		return error_set(e, "out of memory for the normalisation of %u channels", channels);
	for (uint32_t c = 0; c < channels; c++) {
		if (!(std[c] > 0)) {
			free(lut);
			return error_set(e, "channel %u: a standard deviation of %g", c + 1,
					 std[c]);
		}
		/* torchvision's ToTensor divides by 255, Normalize subtracts the mean then
		 * divides by the std, each in float: the same roundings, so the same values. */
		float m = (float)mean[c], sd = (float)std[c];
		for (int p = 0; p < 256; p++)
			lut[c * 256 + p] = ((float)p / 255.0f - m) / sd;
	}
	free(tl->lut);
	tl->lut = lut;
	for (size_t k = 0; k < tl->count; k++)
		tl->t[k].lut = lut;
	return 0;
}

/* GCC at -O2 vectorises a loop only if it leaves no scalar remainder, so the conversion runs on
 * whole BLOCKs (a multiple of every vector width), then once on the rest. */
#define BLOCK 16

static void convert_span(float *restrict x, const uint8_t *restrict pixels, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = pixels[i] / 255.0f;
}

/* One sample through the task's normalisation and permutation. */
static void convert_normalised(const struct task *t, const uint8_t *pixels, size_t dim,
			       float *x)
{
	size_t plane = dim / t->channels;

	if (t->perm) {
		for (size_t j = 0; j < dim; j++)
			x[j] = t->lut[t->perm[j] / plane * 256 + pixels[t->perm[j]]];
		return;
	}
	for (size_t c = 0; c < t->channels; c++) {
		const float *lut = t->lut + c * 256;
		for (size_t j = c * plane; j < (c + 1) * plane; j++)
			x[j] = lut[pixels[j]];
	}
}

void tasks_convert(const struct task *t, const uint8_t *pixels, size_t n, size_t dim, float *x)
{
	if (t->lut) {
		for (size_t i = 0; i < n; i++, pixels += dim, x += dim)
			convert_normalised(t, pixels, dim, x);
		return;
	}
	if (!t->perm) {
		size_t i = 0, count = n * dim;
		for (; i + BLOCK <= count; i += BLOCK)
			convert_span(x + i, pixels + i, BLOCK);
		convert_span(x + i, pixels + i, count - i);
		return;
	}
	const uint32_t *perm = t->perm;
	for (size_t i = 0; i < n; i++, pixels += dim, x += dim)
		for (size_t j = 0; j < dim; j++)
			x[j] = pixels[perm[j]] / 255.0f;
}

void tasks_augment_draw(struct rng *r, uint32_t pad, int flip, struct tasks_augment *a)
{
	*a = (struct tasks_augment){ .pad = pad, .top = pad, .left = pad };
	if (pad) {
		a->top = (uint32_t)rng_below(r, 2 * (uint64_t)pad + 1);
		a->left = (uint32_t)rng_below(r, 2 * (uint64_t)pad + 1);
	}
	if (flip)
		a->flip = rng_below(r, 2) == 1;
}

/* The pixel at (row i, column j) of channel c of the augmented image: 0 in the padding. */
static uint8_t augmented_pixel(const struct task *t, const uint8_t *pixels,
			       const struct tasks_augment *a, size_t c, size_t i, size_t j)
{
	size_t col = a->flip ? t->cols - 1 - j : j;
	/* In the padded image's coordinates, whose pad first rows and columns are black. */
	size_t pi = i + a->top, pj = col + a->left;
	if (pi < a->pad || pi - a->pad >= t->rows || pj < a->pad || pj - a->pad >= t->cols)
		return 0;
	return pixels[(c * t->rows + pi - a->pad) * t->cols + pj - a->pad];
}

static float pixel_value(const struct task *t, size_t c, uint8_t p)
{
	return t->lut ? t->lut[c * 256 + p] : p / 255.0f;
}

void tasks_convert_augmented(const struct task *t, const uint8_t *pixels,
			     const struct tasks_augment *a, float *x)
{
	size_t plane = (size_t)t->rows * t->cols, dim = t->channels * plane;

	if (t->perm) {
		for (size_t j = 0; j < dim; j++) {
			size_t q = t->perm[j], c = q / plane;
			uint8_t p = augmented_pixel(t, pixels, a, c, q % plane / t->cols,
						    q % t->cols);
			x[j] = pixel_value(t, c, p);
		}
		return;
	}
	for (size_t c = 0; c < t->channels; c++)
		for (size_t i = 0; i < t->rows; i++)
			for (size_t j = 0; j < t->cols; j++)
				*x++ = pixel_value(t, c, augmented_pixel(t, pixels, a, c, i, j));
}

void tasks_convert_train(const struct task_list *tl, uint32_t k, const uint8_t *pixels,
			 struct rng *r, float *x)
{
	const struct task *t = &tl->t[k];
	struct tasks_augment a;

	if (!tl->crop && !tl->flip) {
		tasks_convert(t, pixels, 1, tl->dim, x);
		return;
	}
	tasks_augment_draw(r, tl->crop, tl->flip, &a);
	tasks_convert_augmented(t, pixels, &a, x);
}

void tasks_gather(const struct task *t, const struct dataset *split, const uint32_t *positions,
		  size_t n, float *x, int32_t *y)
{
	size_t dim = split->dim;

	for (size_t i = 0; i < n; i++) {
		tasks_convert(t, split->x + (size_t)positions[i] * dim, 1, dim, x + i * dim);
		y[i] = split->y[positions[i]];
	}
}

void tasks_free(struct task_list *tl)
{
	for (size_t k = 0; k < tl->count; k++) {
		free(tl->t[k].train);
		free(tl->t[k].test);
		free(tl->t[k].perm);
	}
	free(tl->lut);
	memset(tl, 0, sizeof(*tl));
}

int tasks_has_train(const struct task *t, uint32_t p)
{
	size_t lo = 0, hi = t->num_train;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->train[mid] < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->num_train && t->train[lo] == p;
}
