/* Continual-learning metrics over the accuracy matrix, exactly as METHODS.md defines them.
 * R is T x T row-major, R[i*T + j] = test accuracy on task j after learning step i; b holds the
 * untrained accuracies. */
#ifndef LETHE_METRICS_H
#define LETHE_METRICS_H

#include <stddef.h>

/* The metrics of the first `rows` steps of a run of T tasks (rows <= T), treating step rows as
 * the last (what the dashboard and partial results show mid-run); with rows = T, the run's:
 *	ACC = (1/T) sum_j R[T][j]
 *	BWT = 1/(T-1) sum_{j<T} (R[T][j] - R[j][j]), 0 when T == 1
 *	FWT = 1/(T-1) sum_{j>=2} (R[j-1][j] - b_j), 0 when T == 1
 *	F = 1/(T-1) sum_{j<T} max_{l<T} (R[l][j] - R[T][j]), 0 when T == 1
 *	Avalanche's "last minus first" = 1/(T-1) sum_{j<T} (R[j][j] - R[T][j])
 * on the leading rows x rows block (R's row stride stays T). */
struct metrics_summary {
	double acc, bwt, fwt, forgetting, forgetting_last_first;
};
void metrics_summarise(const double *R, const double *b, size_t T, size_t rows,
		       struct metrics_summary *out);

/* F on the leading rows x rows block, as metrics_summarise; per_task, if not NULL, receives the
 * rows terms (0 for the last task). */
double metrics_forgetting_rows(const double *R, size_t T, size_t rows, double *per_task);

/* The sets a forget step's outputs are compared on: D_f, D_r, the test set. */
enum { FORGET_ON_FORGET, FORGET_ON_RETAIN, FORGET_ON_TEST, FORGET_ON_SETS };
/* The SVC-style membership attacks (core/evidence.h: one per feature, then all four). */
#define FORGET_ATTACKS 5
/* The headline MIA-efficacy is SalUn's: the SVC attack on the confidence (evidence.h's
 * EVIDENCE_CONFIDENCE). The threshold attack swings far more across seeds. */
#define FORGET_MIA_ATTACK 1

/* The figures of a model after a forget step (METHODS.md, docs/unlearning.md), SalUn's and
 * SCRUB's conventions: unlearn.c measures them. */
struct forget_figures {
	double ua;		 /* 1 - accuracy on D_f */
	double ra;		 /* accuracy on D_r */
	double ta;		 /* accuracy on the test set of struct forget_sets.test */
	double forget_test_acc;	 /* accuracy on forget_test (NaN when empty) */
	double mia_threshold;	 /* the threshold attack on the NLL: fraction of D_f it calls
				  * non-member (reported, not in the gap) */
	double relearn_epochs;	 /* epochs (fractional, by batches) until D_f's CE < relearn_loss;
				  * relearn_max_epochs + 1 when never */
	double seconds;		 /* the method's wall time (filled by the caller; unlearn_measure
				  * leaves it as it is) */
	double svc_mia[FORGET_ATTACKS]; /* per attack, the fraction of D_f it calls non-member */
	double loss_auc;	 /* P(a D_f loss is below a held-out one), ties half */
	/* Against retrain's model, NaN without one: per set, the mean KL(retrain || model) and
	 * JS of the outputs and the mean l2 distance of the softmax outputs (SCRUB's activation
	 * distance); the l2 distance of the parameters, and that over retrain's norm. */
	double kl[FORGET_ON_SETS], js[FORGET_ON_SETS], activation[FORGET_ON_SETS];
	double param_distance, param_distance_rel;
};

/* MIA-efficacy: the fraction of D_f the SVC confidence attack calls non-member. */
static inline double metrics_mia(const struct forget_figures *f)
{
	return f->svc_mia[FORGET_MIA_ATTACK];
}

/* Mean |a - b| over UA, RA, TA and MIA-efficacy: the average gap to retrain. */
double metrics_gap(const struct forget_figures *a, const struct forget_figures *b);

/* Every figure NaN: a method that did not finish. */
void metrics_figures_unknown(struct forget_figures *f);

#endif
