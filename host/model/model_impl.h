/* The model's private parts, shared by host/model's model_*.c: the layers and nodes of the
 * graph, the threads' workspace, and the passes the files call in one another. */
#ifndef LETHE_MODEL_MODEL_IMPL_H
#define LETHE_MODEL_MODEL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "model/conv.h"
#include "model/model.h"
#include "model/norm.h"
#include "model/pool.h"

struct model_layer {
	enum model_kind kind;
	size_t item;	  /* the description's item it comes from */
	size_t in, in2;	  /* input nodes (in2: ADD's second); the output is node index + 1 */
	size_t in_len, out_len; /* floats per sample */
	struct model_shape in_shape, out_shape;
	/* Parameters: weights (BN: gamma) then biases (BN: beta); counts 0 when none. State (BN):
	 * running mean then running variance, channels each from s_off. */
	size_t w_off, w_count, b_off, b_count, s_off;
	struct conv_geom conv;
	struct pool_geom pool;
	struct norm_geom norm;
	/* Backward: whether the input gradients add onto what a later layer (in the graph's
	 * order) wrote there, or overwrite. Only DENSE, CONV and ADD read a node that another
	 * layer reads too, and add. */
	int acc_in, acc_in2;
	/* CONV: what it does in the pass that stores its product (fuse.h), MODEL_FUSE_*; the RELU
	 * (and MAXPOOL) after it then have `fused` set to the same, and are done by it. */
	int fuse, fused;
	double *mean, *invstd; /* BN: the statistics of the last forward */
	uint32_t *arg;	       /* MAXPOOL: capacity out_len, where each output came from */
	uint8_t *window;       /* MAXPOOL fused: capacity out_len, the position each took */
};

enum {
	MODEL_FUSE_RELU = 1, /* conv, relu: the ReLU in the store, not in a pass of its own */
	MODEL_FUSE_POOL = 2, /* conv, relu, maxpool 2: the pooled output only (both ways) */
};

/* A node's buffers are its root's: its own, or, for the output of a FLATTEN or of a RELU working
 * in place, those of the node it reads. The input (root 0) has the caller's x as activations. */
struct model_node {
	struct model_shape shape;
	size_t len; /* floats per sample */
	size_t root, consumers;
	int bare; /* no activations kept: a conv's output, fused into its pooling */
	float *act, *grad; /* capacity rows; act of root 0 is the last forward's x */
};

struct model_thread {
	float *scratch;	 /* conv_scratch_floats of the largest conv */
	float *partial;	 /* num_params: threads >= 1's parameter gradients (thread 0 writes
			    grads) and statistics (thread 0 adds onto the caller's acc) */
	double *sums;	 /* NORM_SUMS of the widest batch norm */
	size_t lo, hi;	 /* the range of the pass running */
};

/* model_desc.c: an item's text as the free list writes it, snprintf style. */
size_t model_item_render(const struct model_item *it, char *buf, size_t size);

/* model_graph.c: the layers d describes on in with classes outputs, nodes' shapes included
 * (*layers malloc'd, num_layers + 1 nodes in *nodes), parameters and state laid out; s, if not
 * NULL, summarised. */
int graph_expand(const struct model_desc *d, struct model_shape in, size_t classes,
		 struct model_layer **layers, size_t *num_layers, struct model_node **nodes,
		 size_t *num_params, size_t *num_state, struct model_summary *s, struct error *e);
/* Roots, consumers and the backward's accumulate flags of built layers. */
void graph_plan(struct model_layer *layers, size_t num_layers, struct model_node *nodes);
/* model_summary's row_floats of planned layers: what model_reserve allocates a row. */
size_t graph_row_floats(const struct model_layer *layers, size_t num_layers,
			const struct model_node *nodes);

/* model.c: a backward pass for the last forward. */
enum {
	PASS_PARAMS = 1, /* parameter gradients (into grads) */
	PASS_HEAD = 2,	 /* the head alone */
	PASS_INPUT = 4,	 /* dL/dx into node 0's gradient */
	PASS_STATS = 8,	 /* batch norm's statistics as constants */
};
void model_backward_pass(struct model *m, const float *dlogits, int flags);

/* The layer's parameterised view index order: DENSE, CONV and BATCHNORM. */
int model_layer_has_params(const struct model_layer *l);

/* The activations (NULL for a bare node) and gradient of node j for rows starting at row. */
float *model_act(const struct model *m, size_t j, size_t row);
float *model_grad(const struct model *m, size_t j, size_t row);

/* In a thread t of a pass: the sum of the threads' parameter blocks [w_off, w_off + count) of
 * every layer in [first, last] that has_params, thread 0's in dst, the others' in partial,
 * added in thread order; the work split between the threads. Call after a barrier. */
void model_reduce(struct model *m, size_t t, float *dst, size_t first, size_t last,
		  int (*has_params)(const struct model_layer *l));

#endif
