/* Evidence of forgetting beyond UA/RA/TA/MIA, as docs/unlearning.md defines it: a loss attack's
 * exact AUC, the output divergences of a model from retrain's (KL, JS, SCRUB's activation
 * distance), the features of the SalUn code's membership attack (Song & Mittal's correctness,
 * confidence, entropy and modified entropy) and the classifier that attack trains. Pure
 * functions of numbers: unlearn.c feeds them a model's outputs. */
#ifndef LETHE_EVIDENCE_H
#define LETHE_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

/* The attack's features, in this order, and the classifiers it trains: one per feature, then
 * one on all four. */
enum {
	EVIDENCE_CORRECTNESS,
	EVIDENCE_CONFIDENCE,
	EVIDENCE_ENTROPY,
	EVIDENCE_M_ENTROPY,
	EVIDENCE_FEATURES,
	EVIDENCE_COMBINED = EVIDENCE_FEATURES,
	EVIDENCE_ATTACKS
};

/* The keys metrics.json names them by ("correctness", ..., "combined"). */
extern const char *const evidence_attack_names[EVIDENCE_ATTACKS];

/* P(a < b) + P(a = b) / 2 for a drawn from a[0..na) and b from b[0..nb), exactly (by ranking,
 * ties at their mid-rank): the AUC of calling the lower score a member. NaN when either is
 * empty; -1 out of memory. Infinities rank as the largest values (and tie with each other). */
int evidence_auc(const double *a, size_t na, const double *b, size_t nb, double *auc);

/* Softmax log-probabilities of logits z (k classes) in double, classes outside mask (when not
 * NULL) at -inf. 0, or -1 when a logit is not finite (the row's outputs are then undefined). */
int evidence_log_softmax(const float *z, size_t k, const uint8_t *mask, double *out);

/* For log-probabilities lp (the reference, retrain) and lq (the model) over k classes:
 * KL(p || q), JS(p, q) = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2, both in nats, and the
 * l2 distance ||p - q||. */
void evidence_divergence(const double *lp, const double *lq, size_t k, double *kl, double *js,
			 double *l2);

/* Song & Mittal's features of a row with log-probabilities lp and true class y: correctness
 * (1 when y is the top class, ties to the lowest index), confidence p_y, entropy -sum p log p
 * and modified entropy -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i), logs clamped at
 * log 1e-30 as the SalUn code clamps them. lp NULL (outputs not finite): a row that knows
 * nothing, 0, 0, log(allowed classes), -log 1e-30. */
void evidence_features(const double *lp, size_t k, const uint8_t *mask, int32_t y,
		       double f[EVIDENCE_FEATURES]);

/* L2-regularised logistic regression on d <= EVIDENCE_FEATURES standardised features, fitted
 * by damped Newton steps from zero: convex, so its optimum is unique and found the same way
 * on every machine, with no seed and no kernel width to choose. */
struct evidence_logit {
	size_t d;
	double mean[EVIDENCE_FEATURES], scale[EVIDENCE_FEATURES];
	double w[EVIDENCE_FEATURES + 1]; /* weights, then the bias */
};

/* Fits c to rows x (n x stride doubles, features at offsets feature[0..d)) labelled member[i]
 * (1 member, 0 not). 0, or -1 when n is 0. */
int evidence_logit_fit(struct evidence_logit *c, const double *x, size_t stride,
		       const size_t *feature, size_t d, const uint8_t *member, size_t n);

/* Whether c calls the row (stride doubles, features at feature[0..c->d)) a member. */
int evidence_logit_member(const struct evidence_logit *c, const double *row,
			  const size_t *feature);

#endif
