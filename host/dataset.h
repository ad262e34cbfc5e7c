/* Labelled image data kept as uint8 (the idx form), converted to floats one batch at a time. */
#ifndef LETHE_DATASET_H
#define LETHE_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* One split (train or test) of a data set. */
struct dataset {
	size_t n;	   /* samples */
	size_t dim;	   /* values per sample (rows * cols for images) */
	uint8_t *x;	   /* n x dim */
	uint8_t *y;	   /* n labels */
	int num_classes;   /* 1 + the largest label */
};

/* Reads an idx3 image file and an idx1 label file, each plain or gzip-compressed (one member or
 * several joined; anything after the last member is refused). Validates the magic numbers, the
 * dimensions, that the counts agree, that the files are neither truncated nor longer than their
 * header says, and that labels are < 256 classes.
 * Errors name the file and what is wrong. Returns 0, or -1 with e set. */
int dataset_load_idx(struct dataset *d, const char *images_path, const char *labels_path,
		     struct error *e);

/* Loads a data set directory holding the four standard files
 * (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...). A missing directory or
 * file yields a message that says how to install Fashion-MNIST (apt-get install
 * dataset-fashion-mnist). */
int dataset_load_dir(struct dataset *train, struct dataset *test, const char *dir,
		     struct error *e);

/* Seeded Gaussian clusters: num_classes centres drawn uniformly in [64, 192]^dim, samples drawn
 * around them with standard deviation `spread` (in pixel units), rounded and clamped to uint8.
 * Train and test come from the same centres; the same arguments give the same bytes. */
struct synth_spec {
	int num_classes;
	size_t dim;
	size_t train_per_class;
	size_t test_per_class;
	double spread;
	uint64_t seed;
};
int dataset_synth(struct dataset *train, struct dataset *test, const struct synth_spec *spec,
		  struct error *e);

void dataset_free(struct dataset *d);

#endif
