/* A run's training curves: the loss every [train] curve_every batches and at the end of every
 * epoch, the terms plugins report from their per-batch hooks at those batches, and each task's
 * accuracy after every epoch. Kept in memory as named points in the order they came, and
 * DIR/curves.csv in long format ("step,epoch,batch,name,value", each 1-based; %.17g, so values
 * read back bit for bit), written through the results module (results_write) with the rest. */
#ifndef LETHE_CURVES_H
#define LETHE_CURVES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

#define CURVES_FILE "curves.csv"
/* The names the engine gives its own series; a plugin's term is "PLUGIN.KEY". */
#define CURVES_LOSS "loss"
#define CURVES_ACCURACY "accuracy_task_" /* and the 1-based task */
#define CURVES_NAME_MAX 96

struct curves_point {
	uint32_t step, epoch, batch; /* 1-based; an accuracy's batch is the epoch's last */
	uint32_t name;		     /* index into names */
	double value;
};

struct curves {
	size_t num_names, names_cap;
	char **names;
	size_t count, cap;
	struct curves_point *points;
};

/* The index of name, added if new: 0, or -1 out of memory or for a name that is empty, longer
 * than CURVES_NAME_MAX - 1 or holds a comma, a quote or a control character. */
int curves_name(struct curves *c, const char *name, uint32_t *index, struct error *err);
int curves_add(struct curves *c, uint32_t step, uint32_t epoch, uint32_t batch, uint32_t name,
	       double value, struct error *err);
/* Makes room for n more points, so that adding them allocates nothing. */
int curves_reserve(struct curves *c, size_t n, struct error *err);
/* Drops every point and name. */
void curves_clear(struct curves *c);
void curves_free(struct curves *c);

/* The index of name, or -1 when it has none. */
long curves_find(const struct curves *c, const char *name);

/* curves.csv's text into f, in the C locale: files_replace's writer (data: struct curves). */
int curves_dump(FILE *f, const void *data, struct error *err);

/* Reads a curves.csv strictly: the header, then rows of three positive integers, a name and a
 * number (or "nan"); an error names the file, the line and what is wrong. errno is ENOENT
 * when the file does not exist. */
int curves_read(const char *path, struct curves *c, struct error *err);

#endif
