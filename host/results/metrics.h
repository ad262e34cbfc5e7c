/* Continual-learning metrics over the accuracy matrix, exactly as METHODS.md defines them.
 * R is T x T row-major, R[i*T + j] = test accuracy on task j after learning step i; b holds the
 * untrained accuracies. */
#ifndef LETHE_METRICS_H
#define LETHE_METRICS_H

#include <stddef.h>

/* ACC = (1/T) sum_j R[T][j]. */
double metrics_average_accuracy(const double *R, size_t T);
/* BWT = 1/(T-1) sum_{j<T} (R[T][j] - R[j][j]); 0 when T == 1. */
double metrics_bwt(const double *R, size_t T);
/* FWT = 1/(T-1) sum_{j>=2} (R[j-1][j] - b_j); 0 when T == 1. */
double metrics_fwt(const double *R, const double *b, size_t T);
/* F = 1/(T-1) sum_{j<T} max_{l<T} (R[l][j] - R[T][j]); 0 when T == 1. per_task, if not NULL,
 * receives the T-1 terms (and 0 for the last task). */
double metrics_forgetting(const double *R, size_t T, double *per_task);
/* metrics_forgetting on the leading rows x rows block (R's row stride stays T), as if step rows
 * were the last; per_task, if not NULL, receives rows terms. */
double metrics_forgetting_rows(const double *R, size_t T, size_t rows, double *per_task);
/* Avalanche's "last minus first": 1/(T-1) sum_{j<T} (R[j][j] - R[T][j]). */
double metrics_forgetting_last_first(const double *R, size_t T);

/* The metrics of the first `rows` steps of a run of T tasks (rows <= T), treating step rows as
 * the last: what the dashboard and partial results show mid-run. Same formulas on the leading
 * rows x rows block. */
struct metrics_summary {
	double acc, bwt, fwt, forgetting, forgetting_last_first;
};
void metrics_summarise(const double *R, const double *b, size_t T, size_t rows,
		       struct metrics_summary *out);

/* The figures of a model after a forget step (METHODS.md), SalUn's and SCRUB's conventions:
 * unlearn.c measures them. */
struct forget_figures {
	double ua;		 /* 1 - accuracy on D_f */
	double ra;		 /* accuracy on D_r */
	double ta;		 /* accuracy on the test set of struct forget_sets.test */
	double forget_test_acc;	 /* accuracy on forget_test (NaN when empty) */
	double mia;		 /* MIA-efficacy: fraction of D_f the attack calls non-member */
	double relearn_epochs;	 /* epochs (fractional, by batches) until D_f's CE < relearn_loss;
				  * relearn_max_epochs + 1 when never */
	double seconds;		 /* the method's wall time (filled by the caller; unlearn_measure
				  * leaves it as it is) */
};

/* Mean |a - b| over UA, RA, TA and MIA: the average gap to retrain. */
double metrics_gap(const struct forget_figures *a, const struct forget_figures *b);

#endif
