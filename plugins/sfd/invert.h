/* sfd's input synthesis: inputs that a frozen classifier takes for chosen classes, found by
 * inverting it. From a starting point (noise), gradient descent on
 *
 *	J_i(x) = -log p(c_i | x) + (l2 / 2) ||x||^2 + (tv / 2) sum_{neighbours a, b} (x_a - x_b)^2
 *
 * with x clamped to [0, 1] after every step. The neighbours are the pixels left-right and
 * up-down of each other within each channel of the input image (invert_shape), and dJ/dx comes
 * from the host's model_backward_input, whatever the model's layers. */
#ifndef SFD_INVERT_H
#define SFD_INVERT_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/lethe.h>

struct invert_spec {
	uint32_t steps;
	double lr;
	double l2; /* weight of the L2 prior */
	double tv; /* weight of the smoothness prior */
};

/* Working memory for up to `rows` inputs, allocated once by invert_work_init. */
struct invert_work {
	size_t rows, dim, classes;
	size_t channels, height, width; /* the planes of the smoothness prior */
	float *logits;	/* rows x classes */
	float *dlogits; /* rows x classes */
	float *grad;	/* rows x dim: dJ_i/dx_i */
};

/* For model m of the host h (its input width and classes). Returns a lethe_status; on failure
 * *w is left empty, safe to free. */
int invert_work_init(struct invert_work *w, const lethe_host *h, lethe_model *m, size_t rows);
void invert_work_free(struct invert_work *w);

/* The mean of J_i over n <= w->rows inputs x (n x dim) with targets c, and in w->grad each
 * row's gradient dJ_i/dx_i. */
int invert_objective(const lethe_host *h, lethe_model *m, const struct invert_spec *s,
		     const int32_t *c, size_t n, const float *x, struct invert_work *w,
		     double *mean);

/* The planes of the smoothness prior for the run's inputs: input_channels planes of
 * input_height x input_width values, except that an input of 1 x 1 x dim (synthetic data,
 * which has no shape of its own) is one square image when dim is a square, else a 1-D signal. */
void invert_shape(const lethe_run_info *run, size_t *channels, size_t *height, size_t *width);

/* The step size at which descent on the priors alone starts to diverge, for planes of height x
 * width: 2 over their largest curvature, l2 + 8 tv on an image, l2 + 4 tv on a 1-D signal. */
double invert_lr_limit(const struct invert_spec *s, size_t height, size_t width);

/* Runs s->steps steps on x in place, from whatever x holds. */
int invert_run(const lethe_host *h, lethe_model *m, const struct invert_spec *s,
	       const int32_t *c, size_t n, float *x, struct invert_work *w);

#endif
