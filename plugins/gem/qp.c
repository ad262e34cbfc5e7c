/* GEM's dual QP: see qp.h. */
#include "qp.h"

#include <math.h>
#include <string.h>

size_t qp_work_size(size_t t)
{
	return t * t + 5 * t;
}

/* s (t) receives the solution of Q_FF s_F = -c_F for the free set F, zero elsewhere; a is
 * t x t scratch, b and idx t each. Gaussian elimination with partial pivoting; a pivot below
 * tiny (a rank-deficient Q, gradients in a linear relation) leaves its variable at zero. */
static void solve_free(const double *Q, const double *c, size_t t, const double *free_, double *s,
		       double *a, double *b, double *idx, double tiny)
{
	size_t k = 0;
	for (size_t i = 0; i < t; i++)
		if (free_[i])
			idx[k++] = (double)i;
	for (size_t r = 0; r < k; r++) {
		size_t i = (size_t)idx[r];
		for (size_t q = 0; q < k; q++)
			a[r * k + q] = Q[i * t + (size_t)idx[q]];
		b[r] = -c[i];
	}
	for (size_t col = 0; col < k; col++) {
		size_t piv = col;
		for (size_t r = col + 1; r < k; r++)
			if (fabs(a[r * k + col]) > fabs(a[piv * k + col]))
				piv = r;
		if (piv != col) {
			for (size_t q = 0; q < k; q++) {
				double tmp = a[col * k + q];
				a[col * k + q] = a[piv * k + q];
				a[piv * k + q] = tmp;
			}
			double tmp = b[col];
			b[col] = b[piv];
			b[piv] = tmp;
		}
		double p = a[col * k + col];
		if (fabs(p) <= tiny)
			continue;
		for (size_t r = col + 1; r < k; r++) {
			double f = a[r * k + col] / p;
			for (size_t q = col; q < k; q++)
				a[r * k + q] -= f * a[col * k + q];
			b[r] -= f * b[col];
		}
	}
	memset(s, 0, t * sizeof(double));
	for (size_t r = k; r-- > 0;) {
		double p = a[r * k + r], v = b[r];
		for (size_t q = r + 1; q < k; q++)
			v -= a[r * k + q] * b[q];
		b[r] = fabs(p) <= tiny ? 0.0 : v / p;
		s[(size_t)idx[r]] = b[r];
	}
}

int qp_solve(const double *Q, const double *c, size_t t, double *u, double *work)
{
	/* free_: Lawson and Hanson's set P, 1 for a free variable */
	double *a = work, *s = a + t * t, *b = s + t, *idx = b + t, *w = idx + t, *free_ = w + t;
	double scale = 1e-300;
	for (size_t i = 0; i < t * t; i++)
		scale = fabs(Q[i]) > scale ? fabs(Q[i]) : scale;
	for (size_t i = 0; i < t; i++)
		scale = fabs(c[i]) > scale ? fabs(c[i]) : scale;
	double tol = 1e-12 * scale * (double)(t ? t : 1);
	memset(u, 0, t * sizeof(double));
	memset(free_, 0, t * sizeof(double));
	for (size_t iter = 0; iter < 30 * t + 30; iter++) {
		size_t best = t;
		for (size_t i = 0; i < t; i++) {
			double g = c[i];
			for (size_t j = 0; j < t; j++)
				g += Q[i * t + j] * u[j];
			w[i] = -g;
			if (!free_[i] && w[i] > tol && (best == t || w[i] > w[best]))
				best = i;
		}
		if (best == t)
			return 0;
		free_[best] = 1;
		for (;;) {
			solve_free(Q, c, t, free_, s, a, b, idx, 1e-13 * scale);
			double alpha = 1.0;
			int inside = 1;
			for (size_t i = 0; i < t; i++) {
				if (!free_[i] || s[i] > 0)
					continue;
				inside = 0;
				double r = u[i] > s[i] ? u[i] / (u[i] - s[i]) : 0.0;
				alpha = r < alpha ? r : alpha;
			}
			if (inside) {
				memcpy(u, s, t * sizeof(double));
				break;
			}
			int any = 0;
			for (size_t i = 0; i < t; i++) {
				u[i] += alpha * (s[i] - u[i]);
				free_[i] = free_[i] && u[i] > tol;
				if (!free_[i])
					u[i] = 0.0;
				any |= free_[i] != 0;
			}
			if (!any)
				break;
		}
	}
	return -1;
}
