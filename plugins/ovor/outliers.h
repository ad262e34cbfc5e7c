/* OVOR's virtual outliers and energy hinge (Huang et al., ICLR 2024), after NPOS.
 *
 * Synthesis, per class of a task: L2-normalise the features; a class's boundary points are its
 * rows farthest from their K-th nearest neighbour within the class; around each, draw candidates
 * b + sigma eps (eps ~ N(0, I)), or sigma eps around the origin under `origin` (the released
 * code's variant); keep the candidates farthest from the task's data, by their K-th nearest
 * neighbour among every normalised row of the task (so that no class's outlier lands on another
 * class of the same task). A kept outlier goes back to the features' scale, the head's input: times
 * the norm of the boundary point it was drawn around (origin: the class's mean norm).
 *
 * Distances come from GEMMs, |a|^2 + |b|^2 - 2 a.b, over blocks of at most OUTLIERS_BLOCK floats
 * (or one row of the reference set, if longer): never an n x n matrix. All products go through
 * lethe_host.sgemm and all draws through lethe_host.rng_normal, so a test or a benchmark can run
 * this with a host table of its own that fills only those two. Nothing here allocates except
 * outliers_init, outliers_begin and outliers_load. */
#ifndef OVOR_OUTLIERS_H
#define OVOR_OUTLIERS_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/lethe.h>

#define OUTLIERS_BLOCK ((size_t)1 << 20)
#define KNN_NO_SELF SIZE_MAX

/* A reference set for K-th nearest neighbour distances, with its workspace. */
struct knn {
	const float *ref;    /* nref x dim, row-major */
	const float *ref_sq; /* the rows' squared norms */
	size_t nref, dim;
	size_t k;            /* 1 <= k <= the rows that count as neighbours */
	float *block;        /* block_floats >= nref floats */
	size_t block_floats;
	float *heap;         /* k floats */
};

/* dist[i] = the Euclidean distance from row i of q (nq x dim, squared norms q_sq) to its k-th
 * nearest row of s->ref. When self is not KNN_NO_SELF, query i is reference row self + i and is
 * not its own neighbour. */
void knn_kth(const lethe_host *h, const struct knn *s, const float *q, const float *q_sq,
	     size_t nq, size_t self, float *dist);

struct outliers_config {
	size_t k;          /* K of the K-th nearest neighbour */
	size_t boundary;   /* boundary points per class */
	size_t candidates; /* candidates drawn per boundary point */
	size_t per_class;  /* outliers kept per class */
	float sigma;       /* the candidates' noise, per dimension of the normalised space */
	int origin;        /* draw around the origin instead of the boundary points */
};

struct pick;

struct outliers {
	struct outliers_config cfg;
	size_t dim, max_classes;

	/* The task's features (outliers_begin, outliers_put), grouped by class: class c's rows
	 * are start[c] .. start[c + 1] - 1. */
	size_t n, num_classes;
	size_t *start;
	float *unit; /* n x dim, L2-normalised; a zero row stays zero */
	float *sq;   /* their squared norms: 1, or 0 */
	float *norm; /* the rows' norms before normalising */

	/* The last synthesis: at most per_class outliers per class, class by class. A class of
	 * fewer than 2 rows gets none; a K larger than a class allows becomes the largest it
	 * allows. */
	size_t count;
	float *points;      /* count x dim, at the features' scale: the head's inputs */
	float *unit_points; /* count x dim, in the normalised space where they were chosen */
	float *kth;         /* their K-th neighbour distance to the task's normalised rows */
	size_t *source;     /* the row each was drawn around (origin: KNN_NO_SELF) */

	/* Workspace. */
	size_t cap_n, block_floats;
	float *block, *heap, *row_kth, *cand, *cand_sq, *cand_kth;
	size_t *cand_src, *picked;
	struct pick *picks;
};

/* Sizes everything that depends on the settings alone; LETHE_ERR_NOMEM on failure (call
 * outliers_free either way). */
int outliers_init(struct outliers *o, const struct outliers_config *cfg, size_t dim,
		  size_t max_classes);
/* Makes room for a task whose class c has counts[c] rows (num_classes <= max_classes); the rows
 * then come through outliers_put. */
int outliers_begin(struct outliers *o, size_t num_classes, const size_t *counts);
/* Rows row .. row + rows - 1 of the task, from rows x dim features h. */
void outliers_put(struct outliers *o, size_t row, const float *h, size_t rows);
/* Synthesises the outliers of the task given so far. */
void outliers_synthesise(struct outliers *o, const lethe_host *h);
/* Wipes the features and the outliers, which come from the task's samples; keeps the memory. */
void outliers_wipe(struct outliers *o);

/* The task's features (when `features` is set; else none) and the last synthesis, in native
 * byte order: uint64 rows n, and when n > 0 uint64 classes, classes + 1 uint64 class starts
 * and n x dim normalised floats, n squared norms and n norms; then uint64 outliers m, m x dim
 * points, m x dim normalised points, m distances and m uint64 source rows. */
int outliers_save(const struct outliers *o, int features, const lethe_ostream *out);
/* Reads what outliers_save wrote for outliers of the same settings; *features receives whether
 * it held features. LETHE_ERR_IO when it is cut short, LETHE_ERR_INVALID when it does not fit
 * these settings, LETHE_ERR_NOMEM. */
int outliers_load(struct outliers *o, const lethe_istream *in, int *features);
void outliers_free(struct outliers *o);

/* The energy E(z) = -log sum_{c in mask} exp z_c of one row of C logits (mask: C bytes, at
 * least one set). */
double energy(const float *z, size_t C, const uint8_t *mask);

/* OVOR's hinge on one row: scale * Huber_delta(max(0, sign (E(z) - tau))), sign +1 to penalise
 * an energy above tau (real data), -1 below it (outliers). Huber_delta(r) = r^2 / 2 for
 * r <= delta, else delta (r - delta / 2). Adds the gradient with respect to z to dz, if not NULL,
 * and returns the term. */
double energy_hinge(const float *z, size_t C, const uint8_t *mask, double tau, int sign,
		    double delta, double scale, float *dz);

#endif
