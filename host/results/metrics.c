#include "results/metrics.h"

#include <math.h>

/*
 * Every formula works on the leading n x n block of R, whose row stride stays T: the whole
 * matrix is the block n = T, a run stopped after step n the block n. In 0-based terms the last
 * row is n - 1 and METHODS.md's "j < T" becomes j < n - 1.
 */

static double at(const double *R, size_t T, size_t i, size_t j)
{
	return R[i * T + j];
}

static double average_accuracy(const double *R, size_t T, size_t n)
{
	double sum = 0;
	for (size_t j = 0; j < n; j++)
		sum += at(R, T, n - 1, j);
	return sum / (double)n;
}

static double bwt(const double *R, size_t T, size_t n)
{
	if (n < 2)
		return 0;
	double sum = 0;
	for (size_t j = 0; j < n - 1; j++)
		sum += at(R, T, n - 1, j) - at(R, T, j, j);
	return sum / (double)(n - 1);
}

static double fwt(const double *R, const double *b, size_t T, size_t n)
{
	if (n < 2)
		return 0;
	double sum = 0;
	for (size_t j = 1; j < n; j++)
		sum += at(R, T, j - 1, j) - b[j];
	return sum / (double)(n - 1);
}

static double forgetting_last_first(const double *R, size_t T, size_t n)
{
	if (n < 2)
		return 0;
	double sum = 0;
	for (size_t j = 0; j < n - 1; j++)
		sum += at(R, T, j, j) - at(R, T, n - 1, j);
	return sum / (double)(n - 1);
}

double metrics_forgetting_rows(const double *R, size_t T, size_t rows, double *per_task)
{
	double sum = 0;
	for (size_t j = 0; j + 1 < rows; j++) {
		/* Over every earlier row, those before task j was learnt included (Chaudhry et al.). */
		double best = at(R, T, 0, j);
		for (size_t l = 1; l < rows - 1; l++)
			if (at(R, T, l, j) > best)
				best = at(R, T, l, j);
		double f = best - at(R, T, rows - 1, j);
		if (per_task)
			per_task[j] = f;
		sum += f;
	}
	if (per_task && rows > 0)
		per_task[rows - 1] = 0;
	return rows < 2 ? 0 : sum / (double)(rows - 1);
}

void metrics_summarise(const double *R, const double *b, size_t T, size_t rows,
		       struct metrics_summary *out)
{
	out->acc = average_accuracy(R, T, rows);
	out->bwt = bwt(R, T, rows);
	out->fwt = fwt(R, b, T, rows);
	out->forgetting = metrics_forgetting_rows(R, T, rows, NULL);
	out->forgetting_last_first = forgetting_last_first(R, T, rows);
}

void metrics_figures_unknown(struct forget_figures *f)
{
	*f = (struct forget_figures){ .ua = NAN, .ra = NAN, .ta = NAN, .forget_test_acc = NAN,
				      .mia_threshold = NAN, .relearn_epochs = NAN,
				      .seconds = NAN, .loss_auc = NAN, .param_distance = NAN,
				      .param_distance_rel = NAN };
	for (int a = 0; a < FORGET_ATTACKS; a++)
		f->svc_mia[a] = NAN;
	for (int s = 0; s < FORGET_ON_SETS; s++)
		f->kl[s] = f->js[s] = f->activation[s] = NAN;
}

double metrics_gap(const struct forget_figures *a, const struct forget_figures *b)
{
	return (fabs(a->ua - b->ua) + fabs(a->ra - b->ra) + fabs(a->ta - b->ta) +
		fabs(metrics_mia(a) - metrics_mia(b))) / 4.0;
}
