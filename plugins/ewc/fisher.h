/* The diagonal Fisher information of the host's model at its current weights, over a task's
 * training data.
 *
 * Every row's own squared gradient comes from the host's model_grad_stats, whatever the model's
 * layers: on a dense layer the per-sample weight gradient is the outer product δ_n a_nᵀ, so the
 * sum of its squares over a chunk of rows is one GEMM, (δ⊙δ)ᵀ(a⊙a), and the exact Fisher's
 * passes sum their squared deltas first, the inputs being the same for every pass; convolutions
 * take a product per sample, batch norm its per-sample sums. The Fisher therefore costs one
 * forward and one backward per chunk (m - 1 backward passes for the exact Fisher, below) plus
 * the products.
 *
 * The exact Fisher, Σ_y p_y g_y g_yᵀ over the m classes of the likelihood, is J G Jᵀ with J the
 * Jacobian of the logits and G = Σ_y p_y (p - e_y)(p - e_y)ᵀ = diag(p) - p pᵀ / Σ_y p_y, which
 * has rank m - 1. Its Cholesky factor (the multinomial covariance's: Tanabe and Sagae, J. R.
 * Stat. Soc. B 54, 1992) has m - 1 columns l_r, so m - 1 backward passes of dlogits rows l_r
 * stand for the m of the classes. Per row, with its classes ordered c_0 .. c_{m-1} (ascending,
 * the most probable moved last) and T_r = p_{c_r} + ... + p_{c_{m-1}} in double:
 * l_r[c_r] = sqrt(p_{c_r} T_{r+1} / T_r), l_r[c_s] = -p_{c_s} sqrt(p_{c_r} / (T_r T_{r+1})) for
 * s > r, and 0 elsewhere.
 *
 * Random draws come from the plugin's host RNG stream, in this order, so that a run can be
 * replayed: first, when `samples` is below the task's N training samples, the subset, by
 * selection sampling (Knuth's algorithm S): one rng_uniform u per position t = 0..N-1, and t is
 * kept when (N - t) u < samples - (positions kept so far). Then, for the sampled Fisher only, one
 * rng_uniform u per kept sample in position order: its label is the first class c whose running
 * sum p_0 + ... + p_c (in double) exceeds u, where p is the float softmax below.
 *
 * The softmax: p_c = exp(z_c - max) / sum of exp(z_j - max), in double from the float logits z,
 * rounded to float. Under the task-incremental protocol the model's likelihood is this softmax
 * over the task's classes only: p is 0 elsewhere, and m counts the task's classes only. */
#ifndef EWC_FISHER_H
#define EWC_FISHER_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/lethe.h>

enum fisher_kind {
	FISHER_EXACT,     /* sum over y of p(y|x) g_y²: m - 1 backward passes, above */
	FISHER_SAMPLED,   /* g_y² for one y drawn from p(.|x) */
	FISHER_EMPIRICAL, /* g_y² for the true label */
	FISHER_BATCHED    /* Avalanche's: the square of each batch-mean gradient, averaged over
			     consecutive batches of the run's batch size */
};

struct fisher {
	const lethe_host *host;
	enum fisher_kind kind;
	size_t chunk;     /* rows per pass of the per-sample kinds */
	uint64_t samples; /* per task; 0 = all of them */

	/* Scratch, sized on the first fisher_compute and kept: rows per pass, and the subset
	 * positions grow only when a larger subset is asked for. */
	size_t rows;
	float *x, *logits, *prob;
	float *dlogits; /* exact: a block of rows x classes per column of the factor */
	int32_t *y;
	uint8_t *allowed;	 /* per class: in the model's likelihood for this task */
	uint32_t *classes;	 /* those classes, ascending: num_allowed of them */
	uint32_t num_allowed;
	uint32_t *order;	 /* exact: per row, its classes in the factor's order */
	uint64_t *run;		 /* consecutive positions of one pass */
	uint64_t *subset;
	size_t subset_cap;
};

void fisher_init(struct fisher *f, const lethe_host *host, enum fisher_kind kind, size_t chunk,
		 uint64_t samples);

/* Overwrites F (the model's parameter count of floats, in its flat parameter layout) with the
 * Fisher over task's training data and sets *used to the number of samples it averages. May run
 * forward and backward on the host's model, so call it only from after_task. Returns a
 * lethe_status, having called host->error on failure. */
int fisher_compute(struct fisher *f, const lethe_task_info *task, float *F, uint64_t *used);

void fisher_free(struct fisher *f);

#endif
