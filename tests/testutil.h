/* Helpers shared by the Check suites: scratch directories and files, the suite runner, and a
 * double-precision reference of the model that bounds the float model's rounding. */
#ifndef LETHE_TESTUTIL_H
#define LETHE_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "model/model.h"

/* The MLP of sizes[0] inputs, hidden layers sizes[1..n-2] and sizes[n-1] classes, as
 * [model] hidden builds it over 1 x 1 x sizes[0] inputs; parameters zero. -1 with the reason. */
int testutil_mlp(struct model *m, const size_t *sizes, size_t n, struct error *e);
/* Parameterised layer i of m (model_view). */
struct model_view testutil_view(const struct model *m, size_t i);

/* A fresh directory under $TMPDIR (or /tmp); the returned path is malloc'd. */
char *testutil_tmpdir(void);

/* The running test's scratch directory: testutil_setup makes it, testutil_teardown removes it
 * (a checked fixture: tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown)). */
extern char *testutil_dir;
void testutil_setup(void);
void testutil_teardown(void);

#define ck_assert_has(haystack, needle)                                                       \
	ck_assert_msg(strstr((haystack), (needle)) != NULL, "'%s' lacks '%s'", (haystack),      \
		      (needle))
/* Writes size bytes to dir/name and returns the malloc'd path. */
char *testutil_write(const char *dir, const char *name, const void *data, size_t size);
char *testutil_write_text(const char *dir, const char *name, const char *text);
/* Reads a whole file into a malloc'd, NUL-terminated buffer (NULL if it cannot). */
char *testutil_read(const char *path, size_t *size);
/* Removes dir and everything below it. */
void testutil_rmtree(const char *dir);
/* The source tree's top directory ($LETHE_TEST_SRCDIR, else "."). */
const char *testutil_srcdir(void);
/* Runs the suite with Check's normal output and returns the process exit status; 99, with a
 * line saying why, when OpenBLAS's kernel is one this CPU cannot run. */
int testutil_run(Suite *s);

/* ---- the model in double, with bounds on the float model's error ----
 *
 * Float results differ with the BLAS kernel and thread count (the order of each sum), so a test
 * compares them with a reference computed in double, within a bound on the float rounding that
 * holds for every order: a sum of k products computed in float in any order, fused or not, is
 * within gamma(k) = k u / (1 - k u) of the sum of their magnitudes (u = 2^-24; Higham,
 * Accuracy and Stability of Numerical Algorithms, 3.1). ref_mlp carries such a bound beside
 * every value, through the forward and backward passes of an MLP as host/model builds it, whose
 * layout it reads: each layer's W (out x in, row-major), then its b.
 *
 * ReLU's kink: a unit whose pre-activation z lies within its bound ez of 0 is ambiguous, the
 * float pass may have put it on either side. Its activation is bounded either way (ReLU is
 * 1-Lipschitz), and the bound of its delta covers both sides (|g| + eg for dL/da = g), so a
 * check cannot be fooled; away from the kink the float pass took the reference's side. For
 * finite differences, ref_mlp_forward can keep another pass's masks: the loss is then smooth
 * in every parameter and input (the logits affine in each one), whatever the step. */
double ref_gamma(size_t k);

#define REF_LAYERS_MAX 9

struct ref_mlp {
	size_t num_layers, rows, num_params;
	size_t size[REF_LAYERS_MAX + 1], w_off[REF_LAYERS_MAX], b_off[REF_LAYERS_MAX];
	/* Layer l's input a[l] (a[0] the rows of x) and pre-activation z[l], rows x size, with
	 * ea, ez bounding |float - value|; mask and ambiguous for the hidden units (l + 1 <
	 * num_layers), ambiguous counting them in num_ambiguous. */
	double *a[REF_LAYERS_MAX + 1], *ea[REF_LAYERS_MAX + 1];
	double *z[REF_LAYERS_MAX], *ez[REF_LAYERS_MAX];
	uint8_t *mask[REF_LAYERS_MAX], *ambiguous[REF_LAYERS_MAX];
	size_t num_ambiguous;
	/* Added to pre-activation nudge_at of layer nudge_layer by ref_mlp_forward (0 when not
	 * set): finite differences of dL/dz. */
	size_t nudge_layer, nudge_at;
	double nudge;
	/* After ref_mlp_backward: dL/dz per layer, dL/dθ (num_params) and dL/dx, bounded. */
	double *delta[REF_LAYERS_MAX], *edelta[REF_LAYERS_MAX];
	double *grad, *egrad, *dx, *edx;
};

/* For num_sizes layer widths (inputs first, classes last) and rows rows. */
void ref_mlp_init(struct ref_mlp *r, const size_t *sizes, size_t num_sizes, size_t rows);
/* ref_mlp_init for the shape of the host's model m; returns m's parameters in double
 * (malloc'd). */
double *ref_mlp_init_for(struct ref_mlp *r, const struct model *m, size_t rows);
void ref_mlp_free(struct ref_mlp *r);
/* The forward pass on parameters theta and inputs x (rows x size[0]), both taken as the float
 * pass's own values (exact). masks: NULL for the reference's own ReLU masks, else another
 * pass of the same shape whose masks to keep (the bounds are then not computed). */
void ref_mlp_forward(struct ref_mlp *r, const double *theta, const double *x,
		     const struct ref_mlp *masks);
/* Softmax cross-entropy of the last forward's logits against y, over the classes allow[c] != 0
 * (NULL: all): returns scale times the sum over rows, writes dL/dlogits = scale (p - e_y)
 * (rows x classes) into dl with in edl a bound on the float pass's (computed from its logits
 * in double, rounded to float, as host/loss.c and the plugins do), and in *eloss a bound on the
 * float pass's loss. */
double ref_mlp_ce(const struct ref_mlp *r, const int32_t *y, const uint8_t *allow, double scale,
		  double *dl, double *edl, double *eloss);
/* The classes a float pass may predict for row of the last forward's logits, among allow[c] !=
 * 0 (NULL: all): every class whose logit, within its bound, may reach the largest (a tie may go
 * either way). Marks them in can (classes bytes) and returns how many: 1 unless rounding could
 * change the argmax. */
size_t ref_mlp_predict(const struct ref_mlp *r, size_t row, const uint8_t *allow, uint8_t *can);
/* A bound on |p_f - p| for softmax probability p when every logit is within e of its float
 * value: p and 1 - p both change by a factor within exp(+-2e). */
double ref_softmax_error(double p, double e);
/* The backward pass from dl (rows x classes) with bounds edl, after ref_mlp_forward with the
 * reference's own masks: deltas, dL/dθ as host/model sums it (one GEMM over the rows for W, a
 * sum over the rows for b) and dL/dx = delta[0] W_0, each bounded. */
void ref_mlp_backward(struct ref_mlp *r, const double *theta, const double *dl,
		      const double *edl);
/* max_j |dz_j / dt| of row's logits for passes at t + h (up) and t - h (down) that keep one
 * pass's masks: exact, the logits being affine in t. Bounds a central difference's truncation
 * error, which depends on the third derivative of the loss along t. */
double ref_mlp_slope(const struct ref_mlp *up, const struct ref_mlp *down, double h, size_t row);
/* A bound on the error of a central difference (J(t + h) - J(t - h)) / 2h computed in double:
 * truncation, h^2 / 6 times third (a bound on J's third derivative within h of t), plus
 * rounding, twice the double evaluation's error over 2h. That error is the float pass's bound
 * eloss with u = 2^-53 for 2^-24 (the same sums, to first order), so 2^-29 eloss. */
double ref_fd_error(double h, double third, double eloss);

#endif
