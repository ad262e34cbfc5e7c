#include "invert.h"

#include <math.h>
#include <stdlib.h>

/* The planes the smoothness prior runs over: the input's channels of height x width values.
 * An input of 1 x 1 x dim values (synthetic data) has no shape of its own: a square dim is
 * read as one square image, anything else as a 1-D signal. */
void invert_shape(const lethe_run_info *run, size_t *channels, size_t *height, size_t *width)
{
	*channels = run->input_channels;
	*height = run->input_height;
	*width = run->input_width;
	if (*channels == 1 && *height == 1) {
		size_t dim = *width, side = (size_t)llround(sqrt((double)dim));
		*height = side * side == dim ? side : 1;
		*width = dim / *height;
	}
}

double invert_lr_limit(const struct invert_spec *s, size_t height, size_t width)
{
	/* The smoothness term's Laplacian has eigenvalues up to twice a value's neighbours. */
	double neighbours = (height > 1) * 2 + (width > 1) * 2;
	return 2.0 / (s->l2 + 2 * neighbours * s->tv);
}

int invert_work_init(struct invert_work *w, const lethe_host *h, lethe_model *m, size_t rows)
{
	const lethe_run_info *run = h->run_info(h);
	lethe_layer head = { .struct_size = sizeof(head) };
	*w = (struct invert_work){ 0 };
	int rc = h->model_layer(h, m, h->model_num_layers(h, m) - 1, &head);
	if (rc != LETHE_OK)
		return rc;
	*w = (struct invert_work){
		.rows = rows,
		.dim = run->input_dim,
		.classes = head.out,
		.logits = malloc(rows * head.out * sizeof(float)),
		.dlogits = malloc(rows * head.out * sizeof(float)),
		.grad = malloc(rows * run->input_dim * sizeof(float)),
	};
	invert_shape(run, &w->channels, &w->height, &w->width);
	if (w->logits && w->dlogits && w->grad)
		return LETHE_OK;
	invert_work_free(w);
	return LETHE_ERR_NOMEM;
}

void invert_work_free(struct invert_work *w)
{
	free(w->logits);
	free(w->dlogits);
	free(w->grad);
	*w = (struct invert_work){ 0 };
}

/* -log softmax(z)[c] of one row, and its gradient softmax(z) - onehot(c) into d. */
static double nll_row(const float *z, size_t classes, int32_t c, float *d)
{
	double max = z[0], sum = 0;
	for (size_t j = 1; j < classes; j++)
		max = fmax(max, z[j]);
	for (size_t j = 0; j < classes; j++)
		sum += exp(z[j] - max);
	for (size_t j = 0; j < classes; j++)
		d[j] = (float)(exp(z[j] - max) / sum - ((size_t)c == j));
	return max + log(sum) - z[c];
}

/* The priors of one row, channel plane by plane: returns their value and adds their gradient
 * to g. */
static double priors_row(const float *x, const struct invert_work *w, double l2, double tv,
			 float *g)
{
	double norm = 0, rough = 0;
	float fl2 = (float)l2, ftv = (float)tv;
	size_t width = w->width, plane = w->height * width;
	for (size_t i = 0; i < w->dim; i++) {
		size_t at = i % plane;
		norm += (double)x[i] * x[i];
		g[i] += fl2 * x[i];
		if ((at + 1) % width) {
			float d = x[i + 1] - x[i];
			rough += (double)d * d;
			g[i + 1] += ftv * d;
			g[i] -= ftv * d;
		}
		if (at + width < plane) {
			float d = x[i + width] - x[i];
			rough += (double)d * d;
			g[i + width] += ftv * d;
			g[i] -= ftv * d;
		}
	}
	return 0.5 * (l2 * norm + tv * rough);
}

int invert_objective(const lethe_host *h, lethe_model *m, const struct invert_spec *s,
		     const int32_t *c, size_t n, const float *x, struct invert_work *w,
		     double *mean)
{
	size_t classes = w->classes, dim = w->dim;
	int rc = h->model_forward(h, m, x, n, w->logits);
	if (rc != LETHE_OK)
		return rc;
	double total = 0;
	for (size_t i = 0; i < n; i++)
		total += nll_row(w->logits + i * classes, classes, c[i], w->dlogits + i * classes);
	rc = h->model_backward_input(h, m, w->dlogits, n, w->grad);
	if (rc != LETHE_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		total += priors_row(x + i * dim, w, s->l2, s->tv, w->grad + i * dim);
	*mean = n ? total / (double)n : 0.0;
	return LETHE_OK;
}

int invert_run(const lethe_host *h, lethe_model *m, const struct invert_spec *s,
	       const int32_t *c, size_t n, float *x, struct invert_work *w)
{
	float lr = (float)s->lr;
	for (uint32_t step = 0; step < s->steps; step++) {
		double mean;
		int rc = invert_objective(h, m, s, c, n, x, w, &mean);
		if (rc != LETHE_OK)
			return rc;
		for (size_t i = 0; i < n * w->dim; i++)
			x[i] = fminf(fmaxf(x[i] - lr * w->grad[i], 0.0f), 1.0f);
	}
	return LETHE_OK;
}
