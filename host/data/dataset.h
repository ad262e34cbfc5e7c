/* Labelled image data kept as uint8, C x H x W per sample (the idx form; CIFAR's records hold
 * it so too), converted to floats one batch at a time. */
#ifndef LETHE_DATASET_H
#define LETHE_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* The CIFAR binary formats (dataset_open_cifar), by the labels they yield. */
enum dataset_cifar {
	DATASET_CIFAR10 = 1,	 /* data_batch_1..5.bin, test_batch.bin: 10 classes */
	DATASET_CIFAR100_FINE,	 /* train.bin, test.bin: the 100 fine classes */
	DATASET_CIFAR100_COARSE, /* the same files: the 20 coarse classes (superclasses) */
};

#define DATASET_FILES_MAX 5 /* record files of one split: CIFAR-10's five training batches */

/* One split (train or test) of a data set. */
struct dataset {
	size_t n;	   /* samples */
	size_t dim;	   /* values per sample: channels * rows * cols */
	uint8_t *x;	   /* n x dim; NULL until the pixels are read (dataset_read_pixels) */
	uint8_t *y;	   /* n labels */
	int num_classes;   /* 1 + the largest label */
	uint32_t channels; /* the images' shape, channel-major (CHW) within a sample: */
	uint32_t rows, cols; /* idx: 1 x rows x cols; CIFAR: 3 x 32 x 32; synthetic: 1 x 1 x dim */
	/* Where x is to be read from, until it is: an idx file, or CIFAR record files. */
	char *images;
	enum dataset_cifar cifar; /* 0: not CIFAR */
	char *files[DATASET_FILES_MAX];
	size_t file_records[DATASET_FILES_MAX]; /* the records each held when opened */
	size_t reading; /* bytes held beside the pixels while they are read: a gzip-compressed idx
			 * file's size, CIFAR's read buffer; else 0 */
};

/* Reads an idx3 image file and an idx1 label file, each plain or gzip-compressed (one member or
 * several joined; anything after the last member is refused). Validates the magic numbers, the
 * dimensions, that the counts agree, that the files are neither truncated nor longer than their
 * header says, and that labels are < 256 classes. Each header is read first, and no more than
 * it announces is ever read or inflated.
 * Errors name the file and what is wrong. Returns 0, or -1 with e set. */
int dataset_load_idx(struct dataset *d, const char *images_path, const char *labels_path,
		     struct error *e);

/* Opens a data set directory holding the four standard files
 * (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...): every header checked
 * (the counts of each split agree, the train and test images have one shape), the labels read
 * and checked (the classes are 0..K-1, K the distinct labels of both splits: a label past them
 * is refused, naming its file and index), the pixels not read yet: what a run weighs before
 * the bulk arrives. A missing directory or file yields a message that says how to install
 * Fashion-MNIST (apt-get install dataset-fashion-mnist); any other failure to reach one, its
 * cause. */
int dataset_open_dir(struct dataset *train, struct dataset *test, const char *dir,
		     struct error *e);

/* Opens the CIFAR-10 or CIFAR-100 binary distribution (https://www.cs.toronto.edu/~kriz/cifar.html,
 * "binary version") in dir, or in its cifar-10-batches-bin/ or cifar-100-binary/, where the
 * archive unpacks: the labels read and checked, the pixels not yet (dataset_read_pixels), as
 * dataset_open_dir does. A file must hold a whole number of records (label bytes, then 3072
 * pixels: 32 x 32 red, green, then blue, each row-major, so CHW as they are) and at least one,
 * every label byte within its classes (CIFAR-100's coarse and fine both), and no more than its
 * size is ever read. The classes are the format's: 10, 100 or 20. A missing directory or file
 * yields a message that says where to get the files and where to unpack them; any other
 * failure, its file and cause. */
int dataset_open_cifar(struct dataset *train, struct dataset *test, const char *dir,
		       enum dataset_cifar format, struct error *e);

/* Reads the pixels of a split dataset_open_dir or dataset_open_cifar opened (nothing when they
 * are in). */
int dataset_read_pixels(struct dataset *d, struct error *e);

/* dataset_open_dir, then both splits' pixels. */
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
int dataset_make_synthetic(struct dataset *train, struct dataset *test,
			   const struct synth_spec *spec, struct error *e);
/* The same in two stages, as dataset_open_dir and dataset_read_pixels: the labels and shapes,
 * then the pixels of both splits. */
int dataset_open_synthetic(struct dataset *train, struct dataset *test,
			   const struct synth_spec *spec, struct error *e);
int dataset_draw_synthetic(struct dataset *train, struct dataset *test,
			   const struct synth_spec *spec, struct error *e);

void dataset_free(struct dataset *d);

#endif
