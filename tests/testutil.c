#define _GNU_SOURCE
#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/loss.h"
#include "model/model.h"
#include "model/sgd.h"
#include "util/blas.h"

char *testutil_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;
	if (asprintf(&path, "%s/lethe-test-XXXXXX", base && *base ? base : "/tmp") < 0)
		abort();
	if (!mkdtemp(path))
		abort();
	return path;
}

char *testutil_dir;

void testutil_setup(void)
{
	testutil_dir = testutil_tmpdir();
}

void testutil_teardown(void)
{
	testutil_rmtree(testutil_dir);
	free(testutil_dir);
	testutil_dir = NULL;
}

char *testutil_write(const char *dir, const char *name, const void *data, size_t size)
{
	char *path;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	return path;
}

char *testutil_write_text(const char *dir, const char *name, const char *text)
{
	return testutil_write(dir, name, text, strlen(text));
}

char *testutil_read(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (cap - len < 2)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	buf[len] = '\0';
	if (size)
		*size = len;
	return buf;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void testutil_rmtree(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *testutil_srcdir(void)
{
	const char *d = getenv("LETHE_TEST_SRCDIR");
	return d && *d ? d : ".";
}

int testutil_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	/* A kernel this CPU cannot run would kill every test with SIGILL: one line says why. */
	if (blas_check_runnable(stderr) != 0) {
		srunner_free(sr);
		return 99; /* Automake's hard error: the suite could not run at all */
	}
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- the model in double ---- */

double ref_gamma(size_t k)
{
	double ku = (double)k * 0x1p-24;
	return ku / (1.0 - ku);
}

void ref_mlp_init(struct ref_mlp *r, const size_t *sizes, size_t num_sizes, size_t rows)
{
	ck_assert(num_sizes >= 2 && num_sizes <= REF_LAYERS_MAX + 1);
	memset(r, 0, sizeof(*r));
	r->num_layers = num_sizes - 1;
	r->rows = rows;
	memcpy(r->size, sizes, num_sizes * sizeof(size_t));
	for (size_t l = 0; l <= r->num_layers; l++) {
		r->a[l] = calloc(rows * sizes[l], sizeof(double));
		r->ea[l] = calloc(rows * sizes[l], sizeof(double));
	}
	for (size_t l = 0; l < r->num_layers; l++) {
		size_t out = sizes[l + 1];
		r->w_off[l] = r->num_params;
		r->b_off[l] = r->num_params + out * sizes[l];
		r->num_params = r->b_off[l] + out;
		r->z[l] = calloc(rows * out, sizeof(double));
		r->ez[l] = calloc(rows * out, sizeof(double));
		r->delta[l] = calloc(rows * out, sizeof(double));
		r->edelta[l] = calloc(rows * out, sizeof(double));
		r->mask[l] = calloc(rows * out, 1);
		r->ambiguous[l] = calloc(rows * out, 1);
	}
	r->grad = calloc(r->num_params, sizeof(double));
	r->egrad = calloc(r->num_params, sizeof(double));
	r->dx = calloc(rows * sizes[0], sizeof(double));
	r->edx = calloc(rows * sizes[0], sizeof(double));
}

int testutil_mlp(struct model *m, const size_t *sizes, size_t n, struct error *e)
{
	struct model_desc d;
	memset(m, 0, sizeof(*m));
	if (n < 2)
		return error_set(e, "an MLP needs inputs and classes");
	if (model_desc_mlp(&d, sizes + 1, n - 2, e) != 0)
		return -1;
	return model_build(m, &d, (struct model_shape){ 1, 1, sizes[0] }, sizes[n - 1], e);
}

struct model_view testutil_view(const struct model *m, size_t i)
{
	struct model_view v;
	ck_assert_uint_lt(i, model_num_views(m));
	model_view(m, i, &v);
	return v;
}

double *ref_mlp_init_for(struct ref_mlp *r, const struct model *m, size_t rows)
{
	size_t sizes[MODEL_ITEMS_MAX + 1], layers = model_num_views(m);
	for (size_t l = 0; l < layers; l++) {
		sizes[l] = testutil_view(m, l).in;
		sizes[l + 1] = testutil_view(m, l).out;
	}
	ref_mlp_init(r, sizes, layers + 1, rows);
	ck_assert_uint_eq(r->num_params, m->num_params);
	double *theta = malloc(m->num_params * sizeof(double));
	for (size_t i = 0; i < m->num_params; i++)
		theta[i] = m->params[i];
	return theta;
}

void ref_mlp_free(struct ref_mlp *r)
{
	for (size_t l = 0; l <= r->num_layers; l++) {
		free(r->a[l]);
		free(r->ea[l]);
	}
	for (size_t l = 0; l < r->num_layers; l++) {
		free(r->z[l]);
		free(r->ez[l]);
		free(r->delta[l]);
		free(r->edelta[l]);
		free(r->mask[l]);
		free(r->ambiguous[l]);
	}
	free(r->grad);
	free(r->egrad);
	free(r->dx);
	free(r->edx);
	memset(r, 0, sizeof(*r));
}

void ref_mlp_forward(struct ref_mlp *r, const double *theta, const double *x,
		     const struct ref_mlp *masks)
{
	memcpy(r->a[0], x, r->rows * r->size[0] * sizeof(double));
	r->num_ambiguous = 0;
	for (size_t l = 0; l < r->num_layers; l++) {
		size_t in = r->size[l], out = r->size[l + 1];
		const double *w = theta + r->w_off[l], *b = theta + r->b_off[l];
		int hidden = l + 1 < r->num_layers;
		for (size_t row = 0; row < r->rows; row++)
			for (size_t j = 0; j < out; j++) {
				const double *a = r->a[l] + row * in, *ea = r->ea[l] + row * in;
				double z = b[j], mag = fabs(b[j]), carried = 0.0;
				for (size_t k = 0; k < in; k++) {
					z += w[j * in + k] * a[k];
					mag += fabs(w[j * in + k]) * (fabs(a[k]) + ea[k]);
					carried += fabs(w[j * in + k]) * ea[k];
				}
				size_t at = row * out + j;
				if (l == r->nudge_layer && at == r->nudge_at)
					z += r->nudge;
				/* The bias is one more term of the sum. */
				double ez = masks ? 0.0 : ref_gamma(in + 1) * mag + carried;
				r->z[l][at] = z;
				r->ez[l][at] = ez;
				if (!hidden)
					continue;
				if (masks) {
					r->mask[l][at] = masks->mask[l][at];
				} else {
					r->mask[l][at] = z > 0.0;
					r->ambiguous[l][at] = z > -ez && z <= ez;
					r->num_ambiguous += r->ambiguous[l][at];
				}
				r->a[l + 1][at] = r->mask[l][at] ? z : 0.0;
				/* Below -ez the float z is not positive: its ReLU is 0 too. */
				r->ea[l + 1][at] = z > -ez ? ez : 0.0;
			}
	}
}

size_t ref_mlp_predict(const struct ref_mlp *r, size_t row, const uint8_t *allow, uint8_t *can)
{
	size_t L = r->num_layers - 1, C = r->size[L + 1], n = 0;
	const double *z = r->z[L] + row * C, *ez = r->ez[L] + row * C;
	double floor = -INFINITY;
	for (size_t j = 0; j < C; j++)
		if (!allow || allow[j])
			floor = fmax(floor, z[j] - ez[j]);
	for (size_t j = 0; j < C; j++) {
		can[j] = (!allow || allow[j]) && z[j] + ez[j] >= floor;
		n += can[j];
	}
	return n;
}

double ref_softmax_error(double p, double e)
{
	return fmin(p, 1.0 - p) * expm1(2.0 * e);
}

double ref_mlp_ce(const struct ref_mlp *r, const int32_t *y, const uint8_t *allow, double scale,
		  double *dl, double *edl, double *eloss)
{
	size_t L = r->num_layers - 1, C = r->size[r->num_layers];
	double loss = 0.0;
	*eloss = 0.0;
	for (size_t row = 0; row < r->rows; row++) {
		const double *z = r->z[L] + row * C, *ez = r->ez[L] + row * C;
		double max = -INFINITY, e = 0.0, sum = 0.0;
		for (size_t j = 0; j < C; j++)
			if (!allow || allow[j]) {
				max = fmax(max, z[j]);
				e = fmax(e, ez[j]);
			}
		for (size_t j = 0; j < C; j++)
			sum += !allow || allow[j] ? exp(z[j] - max) : 0.0;
		loss += scale * (max + log(sum) - z[y[row]]);
		/* The log-sum-exp and the label's logit each move by at most e. */
		*eloss += fabs(scale) * 2.0 * e;
		for (size_t j = 0; j < C; j++) {
			int in = !allow || allow[j];
			double p = in ? exp(z[j] - max) / sum : 0.0;
			double d = scale * (p - ((size_t)y[row] == j));
			dl[row * C + j] = d;
			/* p's error, then the rounding to float (u) and the double arithmetic. */
			double ep = in ? fabs(scale) * ref_softmax_error(p, e) : 0.0;
			edl[row * C + j] = ep + 0x1p-24 * (fabs(d) + ep) + 0x1p-50 * fabs(scale);
		}
	}
	*eloss += 0x1p-50 * fabs(loss);
	return loss;
}

/* dL/da of layer l's input rows, sum_j delta_j W_jk, into g with bound eg. */
static void input_gradient(const struct ref_mlp *r, const double *theta, size_t l, double *g,
			   double *eg)
{
	size_t in = r->size[l], out = r->size[l + 1];
	const double *w = theta + r->w_off[l];
	for (size_t row = 0; row < r->rows; row++)
		for (size_t k = 0; k < in; k++) {
			const double *d = r->delta[l] + row * out, *ed = r->edelta[l] + row * out;
			double s = 0.0, mag = 0.0, carried = 0.0;
			for (size_t j = 0; j < out; j++) {
				double wk = fabs(w[j * in + k]);
				s += d[j] * w[j * in + k];
				mag += (fabs(d[j]) + ed[j]) * wk;
				carried += ed[j] * wk;
			}
			g[row * in + k] = s;
			eg[row * in + k] = ref_gamma(out) * mag + carried;
		}
}

void ref_mlp_backward(struct ref_mlp *r, const double *theta, const double *dl,
		      const double *edl)
{
	size_t last = r->num_layers - 1, n = r->rows;
	memcpy(r->delta[last], dl, n * r->size[last + 1] * sizeof(double));
	memcpy(r->edelta[last], edl, n * r->size[last + 1] * sizeof(double));
	for (size_t l = last + 1; l-- > 0;) {
		size_t in = r->size[l], out = r->size[l + 1];
		const double *d = r->delta[l], *ed = r->edelta[l], *a = r->a[l], *ea = r->ea[l];
		for (size_t j = 0; j < out; j++) {
			/* W's gradient is one GEMM over the rows, b's a sum over them. */
			for (size_t k = 0; k < in; k++) {
				double s = 0.0, mag = 0.0, carried = 0.0;
				for (size_t row = 0; row < n; row++) {
					double dj = d[row * out + j], e = ed[row * out + j];
					double ak = a[row * in + k], eak = ea[row * in + k];
					s += dj * ak;
					mag += (fabs(dj) + e) * (fabs(ak) + eak);
					carried += e * (fabs(ak) + eak) + fabs(dj) * eak;
				}
				r->grad[r->w_off[l] + j * in + k] = s;
				r->egrad[r->w_off[l] + j * in + k] = ref_gamma(n) * mag + carried;
			}
			double s = 0.0, mag = 0.0, carried = 0.0;
			for (size_t row = 0; row < n; row++) {
				s += d[row * out + j];
				mag += fabs(d[row * out + j]) + ed[row * out + j];
				carried += ed[row * out + j];
			}
			r->grad[r->b_off[l] + j] = s;
			r->egrad[r->b_off[l] + j] = ref_gamma(n) * mag + carried;
		}
		if (l == 0) {
			input_gradient(r, theta, 0, r->dx, r->edx);
			break;
		}
		double *g = r->delta[l - 1], *eg = r->edelta[l - 1];
		input_gradient(r, theta, l, g, eg);
		for (size_t i = 0; i < n * in; i++) {
			/* Ambiguous: the float pass may have passed g or 0. */
			if (r->ambiguous[l - 1][i])
				eg[i] += fabs(g[i]);
			else if (!r->mask[l - 1][i])
				eg[i] = 0.0;
			if (!r->mask[l - 1][i])
				g[i] = 0.0;
		}
	}
}

double ref_mlp_slope(const struct ref_mlp *up, const struct ref_mlp *down, double h, size_t row)
{
	size_t L = up->num_layers - 1, C = up->size[L + 1];
	double most = 0.0;
	for (size_t j = 0; j < C; j++)
		most = fmax(most, fabs(up->z[L][row * C + j] - down->z[L][row * C + j]));
	return most / (2.0 * h);
}

double ref_fd_error(double h, double third, double eloss)
{
	return h * h / 6.0 * third + ldexp(eloss, -29) / h;
}
