/* lethe SDK: the services the host offers a plugin.
 *
 * Each plugin instance receives its own lethe_host (its log lines carry its name, its RNG stream
 * is its own). The table and everything it points to belong to the host and live until the
 * plugin is destroyed. All services are called from the thread that called the hook; none may be
 * called from another thread. Buffers a service returns are the host's: never free them.
 *
 * A service given arguments it cannot use (a NULL host or buffer, a model that is neither
 * model() nor a live clone, n rows that overflow, BLAS sizes above INT_MAX or a leading
 * dimension below its row) does nothing and says why, in the calling hook's error reason: one
 * that returns a status returns LETHE_ERR_INVALID; one that returns a pointer or a count
 * returns NULL or 0 and logs the reason as a warning too; one that cannot say it failed (sgemm,
 * saxpy, sdot, log, error, report, the RNG) makes the calling hook fail even if it returns
 * LETHE_OK.
 *
 * Sample layout: inputs are float rows of lethe_run_info.input_dim values in [0, 1], row-major,
 * batch-first; since ABI 1.2 a row is an image of input_channels x input_height x input_width
 * values, channel-major (PyTorch's NCHW: every pixel of channel 0, then of channel 1, ...); labels are int32 class indices in [0, num_classes). Each training sample has a
 * 64-bit id, (task << 32) | index in the data set's training split, stable for a whole run:
 * forget requests name samples by these ids. Test samples' ids have the top bit set as well
 * (LETHE_TEST_ID), so they never collide with training ids. */
#ifndef LETHE_HOST_H
#define LETHE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LETHE_TEST_ID (UINT64_C(1) << 63)

typedef enum lethe_protocol {
	LETHE_CLASS_INCREMENTAL = 0,  /* one growing head, no task id at test time */
	LETHE_TASK_INCREMENTAL = 1,   /* task id given: logits outside the task's classes masked */
	LETHE_DOMAIN_INCREMENTAL = 2  /* same labels every task, the inputs shift */
} lethe_protocol;

typedef enum lethe_log_level {
	LETHE_LOG_DEBUG = 0,
	LETHE_LOG_INFO = 1,
	LETHE_LOG_WARN = 2
} lethe_log_level;

typedef enum lethe_split {
	LETHE_SPLIT_TRAIN = 0,
	LETHE_SPLIT_TEST = 1
} lethe_split;

/* The run as a whole: fixed from start to end. */
typedef struct lethe_run_info {
	uint32_t struct_size;
	lethe_protocol protocol;
	uint32_t num_tasks;    /* learning steps in the scenario */
	uint32_t num_classes;  /* width of the output layer */
	uint32_t input_dim;
	uint32_t batch_size;   /* samples drawn from the task per training batch */
	uint32_t epochs;       /* per task */
	uint64_t seed;
	double lr;            /* SGD, as PyTorch defines it */
	double momentum;
	double weight_decay;
	/* ABI 1.2: the input's shape, input_channels x input_height x input_width = input_dim (1 x
	 * 28 x 28 for Fashion-MNIST, 3 x 32 x 32 for CIFAR, 1 x 1 x dim for synthetic data). */
	uint32_t input_channels;
	uint32_t input_height;
	uint32_t input_width;
} lethe_run_info;

/* One task of the scenario. classes points into host memory. */
typedef struct lethe_task_info {
	uint32_t struct_size;
	uint32_t index;        /* 0-based position in the task sequence */
	uint32_t num_classes;
	const int32_t *classes;
	uint64_t num_train;    /* samples in the task's training split (after any forget request) */
	uint64_t num_test;
	uint32_t batches;      /* batches in every epoch of the step that learns this task (over
				* every task so far under baseline joint) */
} lethe_task_info;

/* A layer of a model with parameters. ABI 1.0 and 1.1 know dense layers only: y = W a + b, W is
 * out x in row-major. Offsets index the model's flat parameter (and gradient) vector. After
 * model_forward on n samples input holds the layer's n x in input activations a (the head's are
 * the features); after a backward too, delta holds the n x out gradients, with respect to its
 * outputs before any activation, of whatever loss the dlogits given to the backward belong to
 * (rows of p - onehot give per-sample gradients; the host's training batches pass those of the
 * batch-mean loss). Both stay valid until the next forward or backward on the same model.
 *
 * ABI 1.2 appends the layer's kind and shape. The list (model_num_layers, model_layer) holds
 * every layer with parameters, in the order of the flat vector: dense layers, convolutions and
 * batch norms; the head is the last, always dense. Every layer's in and out count the floats of
 * one sample's input and output (c h w of in_shape and out_shape), so input is n x in and delta
 * n x out whatever the kind, a sample's values in NCHW order:
 * - LETHE_LAYER_DENSE: weights out x in (the input flattened), then out biases.
 * - LETHE_LAYER_CONV2D: a kernel x kernel cross-correlation of stride and zero padding, as
 *   PyTorch's nn.Conv2d: weights out_shape.c x in_shape.c x kernel x kernel, then out_shape.c
 *   biases (bias_count 0 without them).
 * - LETHE_LAYER_BATCHNORM: per channel, gamma (weight_count = channels) then beta (bias_count);
 *   in_shape = out_shape. Its running statistics are model state (model_state), not
 *   parameters.
 * A plugin built against 1.0 or 1.1 that asks for a layer which is not dense is refused with
 * LETHE_ERR_INVALID and a reason: on an MLP, the only model those versions knew, it sees what
 * it always saw. */
typedef enum lethe_layer_kind {
	LETHE_LAYER_DENSE = 0,
	LETHE_LAYER_CONV2D = 1,
	LETHE_LAYER_BATCHNORM = 2
} lethe_layer_kind;

/* A sample's shape at a layer's input or output: channels x height x width (1 x 1 x n for the
 * output of a dense layer). */
typedef struct lethe_shape {
	uint32_t c, h, w;
} lethe_shape;

typedef struct lethe_layer {
	uint32_t struct_size;
	uint32_t in;
	uint32_t out;
	uint64_t weight_offset;
	uint64_t bias_offset;
	int is_head;           /* nonzero for the classifier (last) layer */
	const float *input;
	const float *delta;
	/* ABI 1.2 */
	lethe_layer_kind kind;
	lethe_shape in_shape;
	lethe_shape out_shape;
	uint32_t kernel;       /* conv: the kernel's side, its stride and zero padding; 0 else */
	uint32_t stride;
	uint32_t padding;
	uint64_t weight_count; /* floats at weight_offset */
	uint64_t bias_count;   /* floats at bias_offset (0: none) */
} lethe_layer;

typedef struct lethe_model lethe_model; /* opaque, owned by the host */

typedef struct lethe_host {
	uint32_t struct_size;
	lethe_version abi;     /* the host's ABI version */
	const char *plugin_name;
	void *host_data;       /* host's; do not touch */

	/* ---- messages ---- */

	/* A line for the log (dashboard, stderr). msg needs no newline. Plugin text stays on one
	 * line and sends no terminal control: control characters (C0, DEL, the C1 range) and bytes
	 * that are not UTF-8 are shown as \n, \r, \t or \xHH; printable UTF-8 is shown as is. */
	void (*log)(const struct lethe_host *h, lethe_log_level level, const char *msg);
	/* Sets the reason for the error status the calling hook is about to return; the host shows
	 * it with the plugin's and the hook's name, escaped as log's text is. */
	void (*error)(const struct lethe_host *h, const char *msg);

	/* Reports a figure of the plugin's (e.g. "stored_bytes"): the last value given for a key
	 * lands in metrics.json under "plugin_metrics" and its name. key is [a-z0-9_]+, at most
	 * 31 characters, and at most 16 keys per plugin; others are dropped with a warning. A key
	 * reported from a per-batch hook (a loss term) also lands in the run's curves.csv as
	 * "PLUGIN.KEY" at the batches its loss curve samples. */
	void (*report)(const struct lethe_host *h, const char *key, double value);

	/* ---- the run ---- */

	const lethe_run_info *(*run_info)(const struct lethe_host *h);
	/* Task k (0 <= k < num_tasks), or NULL if k is out of range. Valid until the next hook. */
	const lethe_task_info *(*task_info)(const struct lethe_host *h, uint32_t k);

	/* ---- random numbers: the plugin's own stream, seeded from the scenario seed ---- */

	uint64_t (*rng_u64)(const struct lethe_host *h);
	double (*rng_uniform)(const struct lethe_host *h); /* in [0, 1) */
	double (*rng_normal)(const struct lethe_host *h);  /* N(0, 1) */

	/* ---- data ---- */

	/* Loads n samples of task k's split, by position i in [0, num_train) or [0, num_test),
	 * converted to floats with the task's input transform. x is n x input_dim, y and ids have n
	 * entries; y and ids may be NULL. */
	int (*task_load)(const struct lethe_host *h, uint32_t k, lethe_split split,
			 const uint64_t *positions, size_t n, float *x, int32_t *y, uint64_t *ids);
	/* The stored form of training sample `position` of task k: input_dim bytes of raw pixels
	 * (before the task's transform; channel-major, as the floats), its label and id. For plugins that keep samples. */
	int (*task_raw)(const struct lethe_host *h, uint32_t k, uint64_t position,
			const uint8_t **pixels, int32_t *y, uint64_t *id);
	/* The stored form of the training sample with this id (from a batch's ids, say): its raw
	 * pixels and label. LETHE_ERR_INVALID for an id that names no training sample of that task
	 * (a test id, or a sample a forget request removed). */
	int (*sample_raw)(const struct lethe_host *h, uint64_t id, const uint8_t **pixels,
			  int32_t *y);
	/* Converts n rows of raw pixels of task k into floats, applying the task's transform. */
	int (*task_convert)(const struct lethe_host *h, uint32_t k, const uint8_t *pixels, size_t n,
			    float *x);

	/* Makes room in every training batch for `extra` samples beyond batch_size, for a plugin
	 * that appends to batches (see lethe_plugin.on_batch). Each call replaces the plugin's
	 * earlier reservation; the batch holds batch_size plus every plugin's. Call it from create
	 * or before_task, never from a per-batch hook: the host allocates here so training need
	 * not. A batch of more than INT_MAX rows is refused. */
	int (*batch_reserve)(const struct lethe_host *h, size_t extra);

	/* ---- models ---- */

	/* The model being trained. Every hook may read it; only before_task, before_epoch,
	 * after_task, on_forget and unlearn may run forward or backward on it or change its
	 * parameters (on_gradient changes its gradients), as lethe_plugin documents. */
	lethe_model *(*model)(const struct lethe_host *h);
	/* A deep copy (parameters and state, not gradients or momentum; in evaluation mode), or
	 * NULL on failure, with working
	 * memory for as many rows as the source has seen, so forwards of batch size allocate
	 * nothing. Free it with model_free; the host frees any left when the plugin is
	 * destroyed. A clone is this plugin's alone: another plugin's host refuses it. */
	lethe_model *(*model_clone)(const struct lethe_host *h, const lethe_model *m);
	/* m NULL does nothing; m not a live clone of this plugin's is ignored with a warning. */
	void (*model_free)(const struct lethe_host *h, lethe_model *m);
	/* The flat parameter vector and its gradient, both of *count floats. */
	float *(*model_params)(const struct lethe_host *h, lethe_model *m, uint64_t *count);
	float *(*model_grads)(const struct lethe_host *h, lethe_model *m, uint64_t *count);
	uint32_t (*model_num_layers)(const struct lethe_host *h, const lethe_model *m);
	int (*model_layer)(const struct lethe_host *h, const lethe_model *m, uint32_t i,
			   lethe_layer *out);
	/* Forward pass on n rows of x; writes n x num_classes logits. Keeps the activations for a
	 * following model_backward. */
	int (*model_forward)(const struct lethe_host *h, lethe_model *m, const float *x, size_t n,
			     float *logits);
	/* Backward pass for the last forward, given dL/dlogits (n x num_classes). Overwrites the
	 * model's gradients with dL/dθ. May be called several times after one forward, with
	 * other dlogits (one pass per class, say). */
	int (*model_backward)(const struct lethe_host *h, lethe_model *m, const float *dlogits,
			      size_t n);
	/* As model_backward, but only the layers' deltas (lethe_layer.delta): the gradients are
	 * left untouched. A third cheaper, for per-sample statistics built from the deltas
	 * (a Fisher, gradient norms). */
	int (*model_backward_deltas)(const struct lethe_host *h, lethe_model *m,
				     const float *dlogits, size_t n);

	/* ---- BLAS (single precision, row-major), so a plugin need not link one ---- */

	/* C = alpha op(A) op(B) + beta C; op(X) = X, or its transpose when trans_X is nonzero. */
	void (*sgemm)(const struct lethe_host *h, int trans_a, int trans_b, size_t m, size_t n,
		      size_t k, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
		      float beta, float *c, size_t ldc);
	void (*saxpy)(const struct lethe_host *h, size_t n, float alpha, const float *x, float *y);
	float (*sdot)(const struct lethe_host *h, size_t n, const float *x, const float *y);

	/* ---- ABI 1.2: models beyond the MLP ---- */

	/* Per-sample gradient statistics for the last forward on m, over `passes` backward passes:
	 * dlogits holds passes blocks of n x num_classes rows, and with g_ip the gradient of the
	 * parameters that row i of block p alone gives, acc (the parameter count of floats, in the
	 * flat layout) += scale Σ_p Σ_i |g_ip|^power element-wise, power 1 or 2; norms, if not
	 * NULL, receives Σ_p |g_ip|² per sample (n doubles). So a diagonal Fisher, a sum of
	 * gradient magnitudes or per-sample gradient norms need no knowledge of the layers. Dense
	 * layers by one product over the rows, ((Σ_p |δ_p|^power)ᵀ |a|^power: the passes' |δ|^power
	 * summed first, in pass order), convolutions by a product per sample, batch norm from each
	 * sample's sums. Exact in evaluation mode; in training mode batch norm's batch statistics
	 * count as constants. The layers' deltas are left as the last pass made them; the
	 * gradients are untouched. */
	int (*model_grad_stats)(const struct lethe_host *h, lethe_model *m, const float *dlogits,
				size_t n, size_t passes, int power, float scale, float *acc,
				double *norms);
	/* Batch norm's mode: in training (on nonzero) a forward normalises by the batch's
	 * statistics and moves the running ones towards them; in evaluation by the running
	 * statistics. The host's model trains in training mode and is in evaluation mode in
	 * every hook; a clone starts in evaluation mode. No effect on a model without batch
	 * norm. */
	int (*model_set_training)(const struct lethe_host *h, lethe_model *m, int on);
	int (*model_is_training)(const struct lethe_host *h, const lethe_model *m);
	/* The model's state: batch norm's running means then running variances, layer by layer,
	 * *count floats (0, and a pointer that must not be read, for a model without batch norm).
	 * Not trained, but cloned, copied and checkpointed with the parameters. */
	float *(*model_state)(const struct lethe_host *h, lethe_model *m, uint64_t *count);
	/* The parameters and state of src into dst, two models of one architecture (the host's
	 * model and its clones): restoring a snapshot without a new clone. */
	int (*model_copy)(const struct lethe_host *h, lethe_model *dst, const lethe_model *src);
	/* dL/dx for the last forward on m: dx (n x input_dim) receives the gradient of the loss
	 * whose dL/dlogits is given (n x num_classes) with respect to the inputs, as a data-free
	 * inversion needs. Every layer's delta is left as for model_backward_deltas; the
	 * gradients are untouched. */
	int (*model_backward_input)(const struct lethe_host *h, lethe_model *m,
				    const float *dlogits, size_t n, float *dx);

	/* ---- ABI 1.3: gradients on other rows, the initial model ---- */

	/* The gradient of model m's parameters (grad: the parameter count of floats, overwritten)
	 * and, in *loss (may be NULL), the mean softmax cross-entropy of m on n rows of x with
	 * labels y, masked as the protocol masks: tasks (n entries, may be NULL) gives each row's
	 * task, whose classes alone count under task-incremental learning; NULL masks nothing.
	 * Batch norm normalises by these rows' statistics (as training does) without moving the
	 * running ones. m's training state is left alone: its parameters, gradients, running
	 * statistics, and the activations and deltas of the batch under way, so this may be called
	 * in every hook, on_gradient included (GEM's and A-GEM's reference gradients), on the host's
	 * model or a clone. It runs in a workspace of its own (a model of m's architecture, built
	 * on first use and grown to the largest n asked): call it once from create or before_task
	 * with the largest n to keep the per-batch hooks allocation-free. With batch norm after a
	 * dense layer, n must be at least 2. */
	int (*model_rows_gradient)(const struct lethe_host *h, lethe_model *m, const float *x,
				   const int32_t *y, const uint32_t *tasks, size_t n, float *grad,
				   double *loss);
	/* The run's initial model: its parameters and state before any training, as the retrain
	 * reference starts from (the same on --resume). Read-only: it is accepted wherever a
	 * service takes a const lethe_model * (model_copy's src, model_clone, model_layer,
	 * model_num_layers, model_is_training) and refused elsewhere.
	 * model_copy(h, model(h), model_initial(h)) re-initialises the host's model (GDumb); a
	 * clone of it is an untrained model. */
	const lethe_model *(*model_initial)(const struct lethe_host *h);
} lethe_host;

#ifdef __cplusplus
}
#endif

#endif
