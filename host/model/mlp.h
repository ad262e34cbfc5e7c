/* The model: a multi-layer perceptron, ReLU between dense layers, logits out. Row-major and
 * batch-first; all parameters in one flat vector (layer by layer: W as out x in, then b), and
 * the gradients in a parallel one, so regularisers and checkpoints see a single array. Every
 * matrix product goes through cblas_sgemm. */
#ifndef LETHE_MLP_H
#define LETHE_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/rng.h"

#define MLP_LAYERS_MAX 9

struct mlp_layer {
	size_t in, out;
	size_t w_off, b_off; /* into params / grads */
};

struct mlp {
	size_t num_layers;
	struct mlp_layer layer[MLP_LAYERS_MAX];
	size_t num_params;
	float *params;
	float *grads;

	/* Workspace for up to `capacity` rows, grown (never per batch in steady state) when a
	 * larger batch arrives. act[0] points at the caller's input of the last forward; act[l]
	 * (l >= 1) is layer l-1's output after ReLU (the logits for the last layer are written to
	 * the caller's buffer, and also kept in act[num_layers]). delta[l] is dL/d(pre-activation)
	 * of layer l. */
	size_t capacity;
	size_t rows; /* rows of the last forward */
	const float *act[MLP_LAYERS_MAX + 1];
	float *act_buf[MLP_LAYERS_MAX + 1];
	float *delta[MLP_LAYERS_MAX];
};

/* sizes[0] is the input dimension, sizes[n-1] the number of classes; n >= 2. */
int mlp_init(struct mlp *m, const size_t *sizes, size_t n, struct error *e);
/* He (Kaiming normal, fan-in) weights, zero biases. */
void mlp_init_he(struct mlp *m, struct rng *r);
/* A deep copy of the parameters and shape; empty workspace, zero gradients. */
int mlp_clone(struct mlp *dst, const struct mlp *src, struct error *e);
/* Grows the workspace to at least rows. */
int mlp_reserve(struct mlp *m, size_t rows, struct error *e);
void mlp_free(struct mlp *m);

size_t mlp_inputs(const struct mlp *m);
size_t mlp_outputs(const struct mlp *m);

/* Forward on n rows of x (n x inputs); writes n x outputs logits. Calls mlp_reserve if needed
 * (the only allocation, and only when n exceeds every earlier batch). x must stay valid until
 * mlp_backward. */
int mlp_forward(struct mlp *m, const float *x, size_t n, float *logits, struct error *e);
/* Backward for the last forward: dlogits (n x outputs) is dL/dlogits; overwrites grads. Leaves
 * every layer's input in act[l] and its delta in delta[l]; dL/dx is not computed. */
void mlp_backward(struct mlp *m, const float *dlogits);
/* The same without dL/dθ: every layer's delta only, grads untouched (per-sample statistics). */
void mlp_backward_deltas(struct mlp *m, const float *dlogits);
/* Backward into the head (last layer) alone, the trunk taken as frozen: the head's delta and
 * gradients; the trunk's gradients are zeroed. */
void mlp_backward_head(struct mlp *m, const float *dlogits);

/* Mean softmax cross-entropy of n rows of logits against labels y. mask, if not NULL, gives
 * per row a class mask (num_classes bytes, 1 = allowed): masked-out classes get probability 0
 * (task-incremental). Writes dL/dlogits of the mean loss into dlogits (may be NULL). Returns the
 * loss; a non-finite loss is returned as is for the caller to report. */
double loss_softmax_ce(const float *logits, size_t n, size_t num_classes, const int32_t *y,
		       const uint8_t *const *mask, float *dlogits);

/* Predicted class of one row, among the allowed classes of mask (NULL = all); the lowest index
 * wins a tie, and -1 means mask allows no class. */
int32_t mlp_predict(const float *row, size_t num_classes, const uint8_t *mask);

/* How many of v[0..n) are NaN or infinite: one vectorised pass, cheap next to a batch's
 * products, so the engine can check the model after the hooks that may change it. */
size_t mlp_count_nonfinite(const float *v, size_t n);

/* SGD as PyTorch defines it: g = grad + weight_decay * θ; v = momentum * v + g (v = g on the
 * first step); θ -= lr * v. */
struct sgd {
	double lr, momentum, weight_decay;
	float *velocity; /* NULL when momentum == 0 */
	size_t num_params;
	int started;
};
int sgd_init(struct sgd *o, size_t num_params, double lr, double momentum, double weight_decay,
	     struct error *e);
void sgd_step(struct sgd *o, float *params, const float *grads, size_t num_params);
/* The same step on params[first, first + count) only (the rest, velocity included, untouched). */
void sgd_step_range(struct sgd *o, float *params, const float *grads, size_t first,
		    size_t count);
void sgd_free(struct sgd *o);

#endif
