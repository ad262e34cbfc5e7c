#include "data/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

#define SYNTH_CLASSES_MAX 256
#define SYNTH_DIM_MAX (1u << 20)
#define SYNTH_SAMPLES_MAX (1u << 28)

/* Streams of the spec's seed: the centres, then each split. */
enum { STREAM_CENTRES, STREAM_TRAIN, STREAM_TEST };

static int synth_check(const struct synth_spec *s, struct error *e)
{
	if (s->num_classes < 2 || s->num_classes > SYNTH_CLASSES_MAX)
		return error_set(e, "synthetic data: classes must be 2..%d, not %d",
				 SYNTH_CLASSES_MAX, s->num_classes);
	if (s->dim < 1 || s->dim > SYNTH_DIM_MAX)
		return error_set(e, "synthetic data: dim must be 1..%u, not %zu", SYNTH_DIM_MAX,
				 s->dim);
	if (s->train_per_class < 1 || s->test_per_class < 1)
		return error_set(e, "synthetic data: train_per_class and test_per_class must be "
				 "at least 1 (got %zu and %zu)", s->train_per_class,
				 s->test_per_class);
	size_t most = SYNTH_SAMPLES_MAX / (size_t)s->num_classes;
	if (s->train_per_class > most || s->test_per_class > most)
		return error_set(e, "synthetic data: at most %zu samples per class with %d "
				 "classes", most, s->num_classes);
	if (!(s->spread >= 0 && isfinite(s->spread)))
		return error_set(e, "synthetic data: spread must be a number >= 0, not %g",
				 s->spread);
	return 0;
}

/* Sample i has class i % num_classes, so every prefix of a split is balanced. */
static int synth_labels(struct dataset *d, const struct synth_spec *s, size_t per_class,
			struct error *e)
{
	size_t classes = (size_t)s->num_classes;

	d->n = per_class * classes;
	d->dim = s->dim;
	d->channels = 1;
	d->rows = 1;
	d->cols = (uint32_t)s->dim;
	d->num_classes = s->num_classes;
	d->y = malloc(d->n);
	if (!d->y)
		return error_set(e, "synthetic data: out of memory for %zu labels", d->n);
	for (size_t i = 0; i < d->n; i++)
		d->y[i] = (uint8_t)(i % classes);
	return 0;
}

static int synth_pixels(struct dataset *d, const struct synth_spec *s, const float *centres,
			uint64_t stream, struct error *e)
{
	struct rng r;
	size_t classes = (size_t)s->num_classes;

	d->x = malloc(d->n * d->dim);
	if (!d->x)
		return error_set(e, "synthetic data: out of memory for %zu samples of %zu values",
				 d->n, d->dim);
	rng_seed(&r, s->seed, stream);
	for (size_t i = 0; i < d->n; i++) {
		const float *centre = centres + (i % classes) * d->dim;
		uint8_t *x = d->x + i * d->dim;
		for (size_t j = 0; j < d->dim; j++) {
			double v = round(centre[j] + s->spread * rng_normal(&r));
			x[j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
	}
	return 0;
}

int dataset_open_synthetic(struct dataset *train, struct dataset *test,
			   const struct synth_spec *spec, struct error *e)
{
	memset(train, 0, sizeof(*train));
	memset(test, 0, sizeof(*test));
	if (synth_check(spec, e) < 0)
		return -1;
	if (synth_labels(train, spec, spec->train_per_class, e) < 0 ||
	    synth_labels(test, spec, spec->test_per_class, e) < 0) {
		dataset_free(train);
		dataset_free(test);
		return -1;
	}
	return 0;
}

int dataset_draw_synthetic(struct dataset *train, struct dataset *test,
			   const struct synth_spec *spec, struct error *e)
{
	size_t size = (size_t)spec->num_classes * spec->dim;
	float *centres = malloc(size * sizeof(*centres));
	if (!centres)
		return error_set(e, "synthetic data: out of memory for %d centres of %zu values",
				 spec->num_classes, spec->dim);
	struct rng r;
	rng_seed(&r, spec->seed, STREAM_CENTRES);
	for (size_t i = 0; i < size; i++)
		centres[i] = (float)(64.0 + 128.0 * rng_uniform(&r));

	int rc = synth_pixels(train, spec, centres, STREAM_TRAIN, e);
	if (rc == 0)
		rc = synth_pixels(test, spec, centres, STREAM_TEST, e);
	free(centres);
	return rc;
}

int dataset_make_synthetic(struct dataset *train, struct dataset *test,
			   const struct synth_spec *spec, struct error *e)
{
	if (dataset_open_synthetic(train, test, spec, e) < 0)
		return -1;
	if (dataset_draw_synthetic(train, test, spec, e) < 0) {
		dataset_free(train);
		dataset_free(test);
		return -1;
	}
	return 0;
}
