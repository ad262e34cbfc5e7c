/* What the files implementing dataset.h share, and nothing else includes. */
#ifndef LETHE_DATASET_IMPL_H
#define LETHE_DATASET_IMPL_H

#include "data/dataset.h"
#include "util/error.h"

/* dataset_read_pixels of a split dataset_open_cifar opened (cifar.c). */
int dataset_cifar_pixels(struct dataset *d, struct error *e);

#endif
