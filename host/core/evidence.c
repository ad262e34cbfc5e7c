#include "core/evidence.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The SalUn code's floor under every log of the attack's features. */
#define LOG_FLOOR 1e-30
/* The logistic fit: its ridge, its most Newton steps, the step size that ends it. */
#define LOGIT_RIDGE 1e-4
#define LOGIT_STEPS 100
#define LOGIT_TOL 1e-10

const char *const evidence_attack_names[EVIDENCE_ATTACKS] = {
	"correctness", "confidence", "entropy", "m_entropy", "combined"
};

/* ---- the loss attack's AUC ---- */

struct ranked {
	double v;
	int in_a;
};

static int ranked_cmp(const void *x, const void *y)
{
	double a = ((const struct ranked *)x)->v, b = ((const struct ranked *)y)->v;
	return (a > b) - (a < b);
}

int evidence_auc(const double *a, size_t na, const double *b, size_t nb, double *auc)
{
	*auc = NAN;
	if (na == 0 || nb == 0)
		return 0;
	size_t n = na + nb;
	struct ranked *r = malloc(n * sizeof(*r));
	if (!r)
		return -1;
	for (size_t i = 0; i < n; i++) {
		double v = i < na ? a[i] : b[i - na];
		r[i] = (struct ranked){ isnan(v) ? INFINITY : v, i < na };
	}
	qsort(r, n, sizeof(*r), ranked_cmp);
	/* The sum of a's ranks (1-based, ties at their mid-rank), in halves to stay exact. */
	double twice_ranks = 0.0;
	for (size_t i = 0; i < n;) {
		size_t j = i, in_a = 0;
		for (; j < n && r[j].v == r[i].v; j++)
			in_a += (size_t)r[j].in_a;
		twice_ranks += (double)in_a * (double)(i + 1 + j);
		i = j;
	}
	/* Mann-Whitney: U_a = ranks - na (na + 1)/2 counts the pairs with a above b, ties half. */
	double u = twice_ranks / 2.0 - (double)na * (double)(na + 1) / 2.0;
	*auc = 1.0 - u / ((double)na * (double)nb);
	free(r);
	return 0;
}

/* ---- outputs ---- */

int evidence_log_softmax(const float *z, size_t k, const uint8_t *mask, double *out)
{
	double max = -INFINITY;
	for (size_t j = 0; j < k; j++) {
		if (!isfinite(z[j]))
			return -1;
		if ((!mask || mask[j]) && z[j] > max)
			max = z[j];
	}
	double sum = 0.0;
	for (size_t j = 0; j < k; j++)
		if (!mask || mask[j])
			sum += exp(z[j] - max);
	double log_sum = max + log(sum);
	for (size_t j = 0; j < k; j++)
		out[j] = !mask || mask[j] ? z[j] - log_sum : -INFINITY;
	return 0;
}

/* p log(p / m) with m = (p + q)/2, in logs: 0 where p is. */
static double js_term(double lp, double lq)
{
	if (lp == -INFINITY)
		return 0.0;
	double hi = lp > lq ? lp : lq, lo = lp > lq ? lq : lp;
	double lm = hi + log1p(exp(lo - hi)) - M_LN2;
	return exp(lp) * (lp - lm);
}

void evidence_divergence(const double *lp, const double *lq, size_t k, double *kl, double *js,
			 double *l2)
{
	double d = 0.0, j = 0.0, s = 0.0;
	for (size_t c = 0; c < k; c++) {
		double p = exp(lp[c]), q = exp(lq[c]);
		if (lp[c] != -INFINITY)
			d += p * (lp[c] - lq[c]);
		j += js_term(lp[c], lq[c]) + js_term(lq[c], lp[c]);
		s += (p - q) * (p - q);
	}
	*kl = d;
	*js = j / 2.0;
	*l2 = sqrt(s);
}

static double log_floored(double x)
{
	return log(x > LOG_FLOOR ? x : LOG_FLOOR);
}

void evidence_features(const double *lp, size_t k, const uint8_t *mask, int32_t y,
		       double f[EVIDENCE_FEATURES])
{
	size_t allowed = 0;
	for (size_t c = 0; c < k; c++)
		allowed += !mask || mask[c];
	int known = y >= 0 && (size_t)y < k && (!mask || mask[y]);
	if (!lp || !known) {
		f[EVIDENCE_CORRECTNESS] = 0.0;
		f[EVIDENCE_CONFIDENCE] = 0.0;
		f[EVIDENCE_ENTROPY] = allowed ? log((double)allowed) : 0.0;
		f[EVIDENCE_M_ENTROPY] = -log(LOG_FLOOR);
		return;
	}
	size_t top = k;
	double entropy = 0.0, m_entropy = 0.0, py = exp(lp[y]);
	for (size_t c = 0; c < k; c++) {
		if (mask && !mask[c])
			continue;
		if (top == k || lp[c] > lp[top])
			top = c;
		double p = exp(lp[c]);
		entropy -= p * log_floored(p);
		if (c != (size_t)y)
			m_entropy -= p * log_floored(1.0 - p);
	}
	m_entropy -= (1.0 - py) * log_floored(py);
	f[EVIDENCE_CORRECTNESS] = top == (size_t)y;
	f[EVIDENCE_CONFIDENCE] = py;
	f[EVIDENCE_ENTROPY] = entropy;
	f[EVIDENCE_M_ENTROPY] = m_entropy;
}

/* ---- the attack's classifier ---- */

/* log(1 + e^s) without overflow. */
static double softplus(double s)
{
	return s > 0 ? s + log1p(exp(-s)) : log1p(exp(s));
}

static double logit_score(const struct evidence_logit *c, const double *row,
			  const size_t *feature, const double *w)
{
	double s = w[c->d];
	for (size_t j = 0; j < c->d; j++)
		s += w[j] * (row[feature[j]] - c->mean[j]) / c->scale[j];
	return s;
}

/* The mean log loss plus the ridge of weights w. */
static double logit_objective(const struct evidence_logit *c, const double *w, const double *x,
			      size_t stride, const size_t *feature, const uint8_t *member,
			      size_t n)
{
	double sum = 0.0, ridge = 0.0;
	for (size_t i = 0; i < n; i++) {
		double s = logit_score(c, x + i * stride, feature, w);
		sum += softplus(s) - (member[i] ? s : 0.0);
	}
	for (size_t j = 0; j <= c->d; j++)
		ridge += w[j] * w[j];
	return sum / (double)n + LOGIT_RIDGE / 2.0 * ridge;
}

/* Solves h v = g in place (v in g) by elimination with partial pivoting; h is positive
 * definite (the ridge), so every pivot is nonzero. */
static void solve(double h[][EVIDENCE_FEATURES + 1], double *g, size_t m)
{
	for (size_t col = 0; col < m; col++) {
		size_t piv = col;
		for (size_t r = col + 1; r < m; r++)
			if (fabs(h[r][col]) > fabs(h[piv][col]))
				piv = r;
		for (size_t j = 0; j < m; j++) {
			double t = h[col][j];
			h[col][j] = h[piv][j];
			h[piv][j] = t;
		}
		double t = g[col];
		g[col] = g[piv];
		g[piv] = t;
		for (size_t r = col + 1; r < m; r++) {
			double f = h[r][col] / h[col][col];
			for (size_t j = col; j < m; j++)
				h[r][j] -= f * h[col][j];
			g[r] -= f * g[col];
		}
	}
	for (size_t r = m; r-- > 0;) {
		for (size_t j = r + 1; j < m; j++)
			g[r] -= h[r][j] * g[j];
		g[r] /= h[r][r];
	}
}

int evidence_logit_fit(struct evidence_logit *c, const double *x, size_t stride,
		       const size_t *feature, size_t d, const uint8_t *member, size_t n)
{
	memset(c, 0, sizeof(*c));
	if (n == 0 || d == 0 || d > EVIDENCE_FEATURES)
		return -1;
	c->d = d;
	for (size_t j = 0; j < d; j++) {
		double mean = 0.0, var = 0.0;
		for (size_t i = 0; i < n; i++)
			mean += x[i * stride + feature[j]];
		mean /= (double)n;
		for (size_t i = 0; i < n; i++) {
			double e = x[i * stride + feature[j]] - mean;
			var += e * e;
		}
		double sd = sqrt(var / (double)n);
		c->mean[j] = mean;
		c->scale[j] = sd > 1e-12 ? sd : 1.0;
	}
	size_t m = d + 1;
	double loss = logit_objective(c, c->w, x, stride, feature, member, n);
	for (int step = 0; step < LOGIT_STEPS; step++) {
		double g[EVIDENCE_FEATURES + 1] = { 0 }, h[EVIDENCE_FEATURES + 1][EVIDENCE_FEATURES + 1] = { { 0 } };
		for (size_t i = 0; i < n; i++) {
			const double *row = x + i * stride;
			double z[EVIDENCE_FEATURES + 1];
			for (size_t j = 0; j < d; j++)
				z[j] = (row[feature[j]] - c->mean[j]) / c->scale[j];
			z[d] = 1.0;
			double s = logit_score(c, row, feature, c->w);
			double p = 1.0 / (1.0 + exp(-s)), r = p - (member[i] ? 1.0 : 0.0);
			for (size_t a = 0; a < m; a++) {
				g[a] += r * z[a];
				for (size_t b = 0; b < m; b++)
					h[a][b] += p * (1.0 - p) * z[a] * z[b];
			}
		}
		for (size_t a = 0; a < m; a++) {
			g[a] = g[a] / (double)n + LOGIT_RIDGE * c->w[a];
			for (size_t b = 0; b < m; b++)
				h[a][b] = h[a][b] / (double)n + (a == b ? LOGIT_RIDGE : 0.0);
		}
		solve(h, g, m);
		/* Damped: halve the step until the objective does not rise. */
		double t = 1.0, next[EVIDENCE_FEATURES + 1], moved = 0.0;
		for (int halvings = 0; halvings < 40; halvings++, t /= 2.0) {
			for (size_t a = 0; a < m; a++)
				next[a] = c->w[a] - t * g[a];
			double l = logit_objective(c, next, x, stride, feature, member, n);
			if (l <= loss) {
				loss = l;
				for (size_t a = 0; a < m; a++) {
					moved = fmax(moved, fabs(t * g[a]));
					c->w[a] = next[a];
				}
				break;
			}
		}
		if (moved < LOGIT_TOL)
			break;
	}
	return 0;
}

int evidence_logit_member(const struct evidence_logit *c, const double *row,
			  const size_t *feature)
{
	return logit_score(c, row, feature, c->w) >= 0.0;
}
