/* The model: a graph of layers over images with channels, described by a list of items (a
 * preset, mlp, cnn or resnet18, or a free list such as "conv 32 k3 p1, relu, maxpool 2, flatten,
 * dense 256, relu, dense"), built for an input shape and a number of classes.
 *
 * Layout, PyTorch's: a sample is C x H x W floats, row-major (NCHW), a batch its samples one
 * after another. Nodes hold the tensors: node 0 is the model's input, node i + 1 the output of
 * layer i; each layer reads earlier nodes only, so the list is in topological order, forward runs
 * it in order and backward in reverse. All parameters live in one flat vector, layer by layer,
 * each parameterised layer's weights then its biases (batch norm: gamma then beta); the gradients
 * in a parallel one; batch norm's running mean then running variance, per layer in order, in a
 * flat `state` vector (model state: not trained, but cloned, copied and checkpointed).
 *
 * Every product goes through cblas_sgemm (convolutions lowered onto it, see model/conv.h). Built
 * as an MLP (model_desc_mlp), with he initialisation and one thread, the model computes exactly
 * what lethe's MLP computed before the graph replaced it: the same rng draws, the same sgemm
 * calls and the same element-wise arithmetic, so the shipped MLP scenarios keep their bits.
 *
 * Mode: in training (m->training set) batch norm normalises by the batch's statistics and moves
 * its running statistics towards them; in evaluation (the default, and a clone's) it uses the
 * running statistics. The mode is read at each forward. */
#ifndef LETHE_MODEL_MODEL_H
#define LETHE_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"
#include "util/rng.h"

struct model_shape {
	size_t c, h, w;
};

/* ---- descriptions ----
 *
 * The free list's grammar: items separated by commas, each a name and its arguments separated by
 * spaces (an option's value may follow its letter directly or after a space: "k3" or "k 3"):
 *   conv N k K [s S] [p P] [nobias]   N output channels, a K x K kernel, stride S (1), zero
 *                                     padding P (0), a bias unless nobias
 *   dense [N]                         N outputs; without N the classes, last item only
 *   relu | gap | bn | flatten         ReLU; global average pooling (C x H x W to C x 1 x 1);
 *                                     batch norm per channel; C x H x W to CHW x 1 x 1
 *   maxpool K [s S] | avgpool K [s S] K x K windows, stride S (K), no padding
 *   res N [s S]                       a BasicBlock (He et al.) of N channels, stride S (1):
 *                                     conv3x3(s) bn relu conv3x3 bn, plus the input or, when
 *                                     S != 1 or the channels change, conv1x1(s) bn of it; relu
 * The last item must be dense, its outputs the classes: that layer is the head. A dense layer
 * flattens its input. */
enum model_item_kind {
	MODEL_ITEM_CONV,
	MODEL_ITEM_DENSE,
	MODEL_ITEM_RELU,
	MODEL_ITEM_MAXPOOL,
	MODEL_ITEM_AVGPOOL,
	MODEL_ITEM_GAP,
	MODEL_ITEM_BN,
	MODEL_ITEM_FLATTEN,
	MODEL_ITEM_RES,
};

struct model_item {
	enum model_item_kind kind;
	size_t n;	       /* conv, res: output channels; dense: outputs, 0 for the classes */
	size_t k, stride, pad; /* conv: kernel; maxpool, avgpool: window; res: stride */
	int bias;	       /* conv */
};

#define MODEL_ITEMS_MAX	  64
#define MODEL_ORIGIN_SIZE 16

struct model_desc {
	char origin[MODEL_ORIGIN_SIZE]; /* names the list in errors: "layers", "cnn", ... */
	size_t num_items;
	struct model_item item[MODEL_ITEMS_MAX];
};

/* One line of the grammar per item name, for the manual page and error messages. */
struct model_item_syntax {
	const char *name, *syntax, *help;
};
const struct model_item_syntax *model_desc_grammar(size_t *count);

/* A free list (origin "layers"); -1 with "layers item I 'TEXT': why" for a malformed item. */
int model_desc_parse(struct model_desc *d, const char *text, struct error *e);
/* Presets: dense layers of the given widths with ReLU between them, then the classes; the CNN
 * (conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1, relu, maxpool 2, flatten, dense 256, relu,
 * dense); ResNet-18 as the CIFAR variants of DER/Mammoth and GEM build it (a 3x3 stem without
 * bias or max-pool, bn, relu, BasicBlocks [2, 2, 2, 2] of width, 2, 4 and 8 times width, the
 * first of stages 2 to 4 at stride 2, global average pooling, dense). */
int model_desc_mlp(struct model_desc *d, const size_t *hidden, size_t num_hidden,
		   struct error *e);
void model_desc_cnn(struct model_desc *d);
int model_desc_resnet18(struct model_desc *d, size_t width, struct error *e);

/* The free-list text of d (which model_desc_parse reads back to the same items), snprintf
 * style: the length it needs, written in part when size is too small. */
size_t model_desc_render(const struct model_desc *d, char *buf, size_t size);

/* What d builds into on an input shape with classes classes. */
struct model_summary {
	struct model_shape out[MODEL_ITEMS_MAX]; /* each item's output */
	size_t params[MODEL_ITEMS_MAX];		 /* each item's parameters */
	size_t num_params, num_state, num_layers;
	/* The workspace a batch row takes, in floats: activations, gradients, max pooling's
	 * choices and the per-sample statistics' buffers (a model or a clone holds one of
	 * capacity rows; its threads' own buffers do not grow with the batch). */
	size_t row_floats;
};
/* Checks that d fits the shape: -1 with "ORIGIN item I 'TEXT': why", naming the shape that does
 * not fit (e.g. "layers item 4 'maxpool 2': input 64x1x1 is smaller than the window"). s may
 * be NULL. */
int model_desc_check(const struct model_desc *d, struct model_shape in, size_t classes,
		     struct model_summary *s, struct error *e);
/* A table of the items, their output shapes and parameters, and the totals. */
void model_summary_print(FILE *f, const struct model_desc *d, struct model_shape in,
			 const struct model_summary *s);

/* ---- the built model ---- */

enum model_kind {
	MODEL_DENSE,
	MODEL_CONV,
	MODEL_BATCHNORM,
	MODEL_RELU,
	MODEL_MAXPOOL,
	MODEL_AVGPOOL,
	MODEL_GLOBALPOOL,
	MODEL_ADD,
	MODEL_FLATTEN,
};

struct model_layer;  /* model_impl.h */
struct model_node;   /* model_impl.h */
struct model_thread; /* model_impl.h */
struct parallel;

struct model {
	struct model_desc desc;
	struct model_shape input;
	size_t classes;

	size_t num_params;
	float *params, *grads;
	size_t num_state;
	float *state;
	int training;

	size_t num_layers;
	struct model_layer *layer;
	struct model_node *node; /* num_layers + 1 */
	size_t head;		 /* the head: the last layer, dense */

	/* Workspace for up to capacity rows, grown (never per batch in steady state) when a larger
	 * batch arrives. */
	size_t capacity;
	size_t rows;		/* rows of the last forward */
	int forward_training;	/* its mode */
	double *bn_sums;	/* a batch's sums, combined from the threads' */
	/* Per-sample statistics: every dense layer's |δ|^p summed over the passes (a block of
	 * capacity x out each, in layer order), one dense layer's |a|^p, a layer's norms. */
	float *sq_out, *sq_in;
	double *sample_norms;
	size_t dense_out, max_in; /* Σ of the dense layers' outputs; the widest one's inputs */

	size_t threads;
	struct parallel *pool; /* NULL for one thread */
	struct model_thread *thread;
};

/* The model d describes on inputs of shape in, with classes outputs: parameters zero (see
 * model_init_params), running means 0 and variances 1, one thread, evaluation mode, empty
 * workspace. -1 with the reason (model_desc_check's, or out of memory). */
int model_build(struct model *m, const struct model_desc *d, struct model_shape in,
		size_t classes, struct error *e);
void model_free(struct model *m);

/* A deep copy of the architecture, parameters and state, with the same thread count; empty
 * workspace, zero gradients, evaluation mode. */
int model_clone(struct model *dst, const struct model *src, struct error *e);
/* The parameters and state of src into dst, of the same architecture (-1 otherwise). */
int model_copy(struct model *dst, const struct model *src, struct error *e);
/* Grows the workspace to at least rows. */
int model_reserve(struct model *m, size_t rows, struct error *e);

/* Splits every pass over threads threads (1: the single-thread code, exactly). Each thread takes
 * a fixed contiguous range of a batch's samples through every layer; the parameter gradients of
 * the threads' ranges are summed in thread order, and so are batch norm's sums, so a result
 * depends on the thread count but never on timing. OpenBLAS must then run one thread inside
 * each (the caller's openblas_set_num_threads(1) when threads > 1): the model's threads already
 * take the cores. */
int model_set_threads(struct model *m, size_t threads, struct error *e);

size_t model_inputs(const struct model *m);  /* c h w of the input */
size_t model_outputs(const struct model *m); /* the classes */
/* The head's first parameter: [model_head_offset, num_params) are the head's. */
size_t model_head_offset(const struct model *m);

/* ---- initialisation ----
 * he: He normal, fan-in (weights sd √(2 / fan_in) N(0, 1), zero biases); torch: PyTorch's
 * defaults for nn.Linear and nn.Conv2d (weights and biases U(±1/√fan_in), kaiming_uniform with
 * a = √5); xavier: Glorot uniform (weights U(±√(6 / (fan_in + fan_out))), zero biases). A dense
 * layer's fan_in is its inputs, fan_out its outputs; a conv's Cin k k and Cout k k. Batch norm:
 * gamma 1, beta 0, whatever the scheme.
 *
 * Draws: layer by layer in parameter order, each dense or conv layer's weights in their flat
 * order (he: one rng_normal each; torch, xavier: one rng_uniform each, w = bound (2 u - 1)),
 * then, for torch, its biases likewise. he on an MLP makes exactly the draws lethe's MLP always made. */
enum model_init {
	MODEL_INIT_HE,
	MODEL_INIT_TORCH,
	MODEL_INIT_XAVIER,
};
/* "he", "torch" or "xavier"; -1 for another name. */
int model_init_from_name(const char *name, enum model_init *how);
const char *model_init_name(enum model_init how);
void model_init_params(struct model *m, enum model_init how, struct rng *r);

/* ---- passes ---- */

/* Forward on n rows of x (n x inputs), n x classes logits out. Reserves the workspace if n
 * exceeds every earlier batch (the only allocation). In training mode, batch norm needs more
 * than one value per channel (n H W > 1). x must stay valid until the backward. */
int model_forward(struct model *m, const float *x, size_t n, float *logits, struct error *e);
/* Backward for the last forward from dlogits (n x classes, dL/dlogits): overwrites grads, and
 * leaves every layer's delta (see model_view). */
void model_backward(struct model *m, const float *dlogits);
/* The head's delta and gradients alone, the trunk taken as frozen: the trunk's gradients are
 * zeroed. */
void model_backward_head(struct model *m, const float *dlogits);
/* Every layer's delta, gradients untouched. */
void model_backward_deltas(struct model *m, const float *dlogits);
/* dL/dx (n x inputs) into dx, with every layer's delta; gradients untouched. */
void model_backward_input(struct model *m, const float *dlogits, float *dx);

/* The gradient of m's parameters on n rows of x, computed in work (a model of m's architecture
 * whose parameters, gradients and mode are left as they were; its workspace, activations and
 * running statistics are overwritten): a forward in training mode with m's parameters (batch
 * norm on the rows' own statistics), the mean cross-entropy against y under masks (as
 * loss_softmax_ce) into *loss, its dL/dlogits into dlogits and dL/dθ into grad (num_params).
 * logits and dlogits hold n x classes. m is not touched. -1 if the architectures differ or the
 * forward refuses (a batch of 1 through batch norm). */
int model_rows_gradient(struct model *work, const struct model *m, const float *x, size_t n,
			const int32_t *y, const uint8_t *const *masks, float *logits,
			float *dlogits, float *grad, double *loss, struct error *e);

/* Per-sample gradient statistics for the last forward, over passes backward passes: dlogits
 * holds passes blocks of n x classes, and with g_ip sample i's own gradient of the parameters
 * in pass p (that of row i of block p alone), acc (num_params) += scale Σ_p Σ_i |g_ip|^power
 * element-wise, power 1 or 2; norms, if not NULL, gets Σ_p |g_ip|² per sample (n doubles).
 * Dense layers by the GEMM trick, (Σ_p |δ_p|^p)ᵀ |a|^p: the passes' |δ|^p summed first (in
 * pass order, a float sum), then one product, as an exact Fisher over classes wants; a single
 * pass is (|δ|^p)ᵀ |a|^p; convolutions by a product per sample and pass, batch norm from each
 * sample's sums. In evaluation mode g_ip is exact; in training mode batch norm's batch
 * statistics are taken as constants (a sample's gradient does not flow through the mean and
 * variance it shares with the batch). Leaves the last pass's deltas in the views; gradients
 * untouched. -1 if n is not the last forward's rows, passes is 0 or power is neither 1 nor
 * 2. */
int model_grad_stats(struct model *m, const float *dlogits, size_t n, size_t passes, int power,
		     float scale, float *acc, double *norms, struct error *e);

/* ---- views: the parameterised layers (dense, conv, batch norm) in order, for plugins ---- */
enum model_view_kind {
	MODEL_VIEW_DENSE = 0, /* the values of ABI 1.2's LETHE_LAYER_* */
	MODEL_VIEW_CONV2D = 1,
	MODEL_VIEW_BATCHNORM = 2,
};

struct model_view {
	enum model_view_kind kind;
	struct model_shape in_shape, out_shape;
	size_t in, out;		       /* floats per sample: c h w of each */
	size_t kernel, stride, padding; /* conv; 0 otherwise */
	size_t weight_offset, weight_count, bias_offset, bias_count; /* into params */
	int is_head;
	/* For the last forward's rows: the layer's input (n x in) and, after a backward, dL/d
	 * its output (n x out). For an MLP, the dense layer's input and pre-activation gradient. */
	const float *input, *delta;
};

size_t model_num_views(const struct model *m);
/* i < model_num_views(m). */
void model_view(const struct model *m, size_t i, struct model_view *v);

#endif
