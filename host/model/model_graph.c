/* From a description to the graph: each item becomes its layers (a BasicBlock nine), with the
 * shapes checked and the parameters and state laid out; then the plan of the buffers. */
#include "model/model_impl.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PyTorch's BatchNorm defaults. */
#define BN_EPS	    1e-5
#define BN_MOMENTUM 0.1
/* The most layers an item becomes: a BasicBlock with a projection shortcut. */
#define LAYERS_PER_ITEM 9

struct builder {
	const struct model_desc *d;
	size_t item;
	struct model_layer *layer;
	struct model_node *node;
	size_t num; /* layers so far; the last node is num */
	size_t params, state;
	struct error *e;
};

static int fail(const struct builder *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(const struct builder *b, const char *fmt, ...)
{
	char why[ERROR_MSG_MAX], text[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	model_item_render(&b->d->item[b->item], text, sizeof(text));
	return error_set(b->e, "%s item %zu '%s': %s", b->d->origin, b->item + 1, text, why);
}

static const char *shape_text(struct model_shape s, char *buf, size_t size)
{
	snprintf(buf, size, "%zux%zux%zu", s.c, s.h, s.w);
	return buf;
}

/* c h w, or 0 beyond INT_MAX (BLAS's dimensions and the kernels' sample sizes are ints). */
static size_t shape_len(struct model_shape s)
{
	if (s.c == 0 || s.h == 0 || s.w == 0 || s.c > INT_MAX || s.h > INT_MAX / s.c ||
	    s.w > INT_MAX / (s.c * s.h))
		return 0;
	return s.c * s.h * s.w;
}

/* Appends l, of output shape out (no larger a sample than the input, or checked by the
 * layer's geometry); its output node. */
static size_t push(struct builder *b, struct model_layer l, struct model_shape out)
{
	size_t len = shape_len(out);
	l.item = b->item;
	l.in_shape = b->node[l.in].shape;
	l.in_len = b->node[l.in].len;
	l.out_shape = out;
	l.out_len = len;
	b->layer[b->num++] = l;
	b->node[b->num] = (struct model_node){.shape = out, .len = len, .root = b->num};
	return b->num;
}

/* Lays out count weights and count_b biases for l; -1 when they do not fit in memory. */
static int take_params(struct builder *b, struct model_layer *l, size_t count, size_t count_b)
{
	if (count > SIZE_MAX / sizeof(float) - count_b ||
	    count + count_b > SIZE_MAX / sizeof(float) - b->params)
		return fail(b, "too many parameters");
	l->w_off = b->params;
	l->w_count = count;
	l->b_off = b->params + count;
	l->b_count = count_b;
	b->params += count + count_b;
	return 0;
}

static size_t add_dense(struct builder *b, size_t in, size_t n)
{
	struct model_layer l = {.kind = MODEL_DENSE, .in = in};
	if (n > INT_MAX)
		return fail(b, "%zu outputs: more than %d", n, INT_MAX), 0;
	if (take_params(b, &l, b->node[in].len * n, n) < 0)
		return 0;
	return push(b, l, (struct model_shape){n, 1, 1});
}

static size_t add_conv(struct builder *b, size_t in, size_t cout, size_t k, size_t stride,
		       size_t pad, int bias)
{
	struct model_shape s = b->node[in].shape;
	struct model_layer l = {.kind = MODEL_CONV, .in = in};
	char buf[64], padded[64] = "";
	if (k > s.h + 2 * pad || k > s.w + 2 * pad) {
		if (pad)
			snprintf(padded, sizeof(padded), " (padded by %zu)", pad);
		return fail(b, "input %s%s is smaller than the kernel %zux%zu",
			    shape_text(s, buf, sizeof(buf)), padded, k, k), 0;
	}
	l.conv = (struct conv_geom){.cin = s.c, .h = s.h, .w = s.w, .cout = cout, .k = k,
				    .stride = stride, .pad = pad};
	struct error why;
	if (conv_geom_init(&l.conv, &why) < 0)
		return fail(b, "%s", why.msg), 0;
	if (take_params(b, &l, l.conv.num_weights, bias ? cout : 0) < 0)
		return 0;
	return push(b, l, (struct model_shape){cout, l.conv.hout, l.conv.wout});
}

static size_t add_bn(struct builder *b, size_t in)
{
	struct model_shape s = b->node[in].shape;
	struct model_layer l = {.kind = MODEL_BATCHNORM, .in = in};
	l.norm = (struct norm_geom){
		.channels = s.c, .pixels = s.h * s.w, .eps = BN_EPS, .momentum = BN_MOMENTUM};
	struct error why;
	if (norm_geom_init(&l.norm, &why) < 0)
		return fail(b, "%s", why.msg), 0;
	if (take_params(b, &l, s.c, s.c) < 0)
		return 0;
	l.s_off = b->state;
	b->state += 2 * s.c;
	return push(b, l, s);
}

static size_t add_pool(struct builder *b, enum model_kind kind, size_t in, size_t k,
		       size_t stride)
{
	struct model_shape s = b->node[in].shape;
	struct model_layer l = {.kind = kind, .in = in};
	char buf[64];
	if (k > s.h || k > s.w)
		return fail(b, "input %s is smaller than the window",
			    shape_text(s, buf, sizeof(buf))), 0;
	l.pool = (struct pool_geom){.c = s.c, .h = s.h, .w = s.w, .k = k, .stride = stride};
	struct error why;
	if (pool_geom_init(&l.pool, &why) < 0)
		return fail(b, "%s", why.msg), 0;
	return push(b, l, (struct model_shape){s.c, l.pool.hout, l.pool.wout});
}

static size_t add_plain(struct builder *b, enum model_kind kind, size_t in, size_t in2,
			struct model_shape out)
{
	return push(b, (struct model_layer){.kind = kind, .in = in, .in2 = in2}, out);
}

/* conv3x3(s) bn relu conv3x3 bn, + x or conv1x1(s) bn of x, relu: torchvision's and Mammoth's
 * order, which the parameters follow (conv1, bn1, conv2, bn2, then the shortcut's). */
static size_t add_block(struct builder *b, size_t x, size_t n, size_t stride)
{
	size_t y = add_conv(b, x, n, 3, stride, 1, 0);
	y = y ? add_bn(b, y) : 0;
	y = y ? add_plain(b, MODEL_RELU, y, 0, b->node[y].shape) : 0;
	y = y ? add_conv(b, y, n, 3, 1, 1, 0) : 0;
	y = y ? add_bn(b, y) : 0;
	if (!y)
		return 0;
	/* The shortcut: x itself (which may be node 0), or its projection. */
	size_t sc = x;
	if (stride != 1 || b->node[x].shape.c != n) {
		sc = add_conv(b, x, n, 1, stride, 0, 0);
		if (!sc || !(sc = add_bn(b, sc)))
			return 0;
	}
	y = add_plain(b, MODEL_ADD, y, sc, b->node[y].shape);
	return add_plain(b, MODEL_RELU, y, 0, b->node[y].shape);
}

static size_t add_item(struct builder *b, size_t x, size_t classes)
{
	const struct model_item *it = &b->d->item[b->item];
	struct model_shape s = b->node[x].shape;
	int last = b->item + 1 == b->d->num_items;
	switch (it->kind) {
	case MODEL_ITEM_CONV:
		return add_conv(b, x, it->n, it->k, it->stride, it->pad, it->bias);
	case MODEL_ITEM_DENSE:
		if (!it->n && !last)
			return fail(b, "a dense layer without a size (the classes) may only be "
				       "the last item"), 0;
		if (last && it->n && it->n != classes)
			return fail(b, "%zu outputs, but the head (the last item) makes the %zu "
				       "classes' logits",
				    it->n, classes), 0;
		return add_dense(b, x, it->n ? it->n : classes);
	case MODEL_ITEM_RELU:
		return add_plain(b, MODEL_RELU, x, 0, s);
	case MODEL_ITEM_MAXPOOL:
		return add_pool(b, MODEL_MAXPOOL, x, it->k, it->stride);
	case MODEL_ITEM_AVGPOOL:
		return add_pool(b, MODEL_AVGPOOL, x, it->k, it->stride);
	case MODEL_ITEM_GAP:
		return add_plain(b, MODEL_GLOBALPOOL, x, 0, (struct model_shape){s.c, 1, 1});
	case MODEL_ITEM_BN:
		return add_bn(b, x);
	case MODEL_ITEM_FLATTEN:
		return add_plain(b, MODEL_FLATTEN, x, 0, (struct model_shape){b->node[x].len, 1, 1});
	case MODEL_ITEM_RES:
		return add_block(b, x, it->n, it->stride);
	}
	return 0;
}

int graph_expand(const struct model_desc *d, struct model_shape in, size_t classes,
		 struct model_layer **layers, size_t *num_layers, struct model_node **nodes,
		 size_t *num_params, size_t *num_state, struct model_summary *s, struct error *e)
{
	if (d->num_items == 0 || d->num_items > MODEL_ITEMS_MAX)
		return error_set(e, "%s: %zu items, not 1 to %d", d->origin, d->num_items,
				 MODEL_ITEMS_MAX);
	if (!shape_len(in))
		return error_set(e, "an input of %zux%zux%zu: sizes of 1 or more, at most %d "
				    "values a sample",
				 in.c, in.h, in.w, INT_MAX);
	if (classes == 0 || classes > INT_MAX)
		return error_set(e, "%zu classes: out of range [1, %d]", classes, INT_MAX);
	size_t cap = d->num_items * LAYERS_PER_ITEM;
	struct builder b = {.d = d, .e = e};
	b.layer = calloc(cap, sizeof(*b.layer));
	b.node = calloc(cap + 1, sizeof(*b.node));
	if (!b.layer || !b.node) {
		free(b.layer);
		free(b.node);
		return error_set(e, "cannot allocate the layers of %zu items", d->num_items);
	}
	b.node[0] = (struct model_node){.shape = in, .len = shape_len(in)};
	size_t x = 0;
	for (; b.item < d->num_items; b.item++) {
		size_t params = b.params;
		if (b.item + 1 == d->num_items && d->item[b.item].kind != MODEL_ITEM_DENSE) {
			fail(&b, "the last item must be dense: the head, over the %zu classes",
			     classes);
			x = 0;
			break;
		}
		if (!(x = add_item(&b, x, classes)))
			break;
		if (s) {
			s->out[b.item] = b.node[x].shape;
			s->params[b.item] = b.params - params;
		}
	}
	if (!x) {
		free(b.layer);
		free(b.node);
		return -1;
	}
	if (s) {
		s->num_params = b.params;
		s->num_state = b.state;
		s->num_layers = b.num;
	}
	*layers = b.layer;
	*num_layers = b.num;
	*nodes = b.node;
	*num_params = b.params;
	*num_state = b.state;
	return 0;
}

int model_desc_check(const struct model_desc *d, struct model_shape in, size_t classes,
		     struct model_summary *s, struct error *e)
{
	struct model_layer *layers;
	struct model_node *nodes;
	size_t num_layers, num_params, num_state;
	if (graph_expand(d, in, classes, &layers, &num_layers, &nodes, &num_params, &num_state,
			 s, e) < 0)
		return -1;
	if (s) {
		graph_plan(layers, num_layers, nodes);
		s->row_floats = graph_row_floats(layers, num_layers, nodes);
	}
	free(layers);
	free(nodes);
	return 0;
}

/* ---- the plan ---- */

/* A layer whose output shares its input's buffers, and writes no gradient of its own. */
static int aliases(const struct model_layer *l, const struct model_node *nodes, size_t out)
{
	return l->kind == MODEL_FLATTEN ||
	       (l->kind == MODEL_RELU && nodes[out].root == nodes[l->in].root);
}

/* Whether a layer after i writes the gradient of root: backward meets it first. */
static int written_after(const struct model_layer *layers, size_t num,
			 const struct model_node *nodes, size_t i, size_t root)
{
	for (size_t k = i + 1; k < num; k++) {
		const struct model_layer *l = &layers[k];
		if (aliases(l, nodes, k + 1))
			continue;
		if (nodes[l->in].root == root ||
		    (l->kind == MODEL_ADD && nodes[l->in2].root == root))
			return 1;
	}
	return 0;
}

size_t graph_row_floats(const struct model_layer *layers, size_t num_layers,
			const struct model_node *nodes)
{
	/* The input's gradient and a norm, then the layers'. */
	size_t floats = nodes[0].len + 2, max_in = 0, dense_out = 0;
	for (size_t i = 0; i < num_layers; i++) {
		const struct model_layer *l = &layers[i];
		if (nodes[i + 1].root == i + 1)
			floats += (nodes[i + 1].bare ? 1 : 2) * l->out_len;
		if (l->kind == MODEL_MAXPOOL && l->fused)
			floats += (l->out_len + sizeof(float) - 1) / sizeof(float);
		else if (l->kind == MODEL_MAXPOOL)
			floats += l->out_len * sizeof(uint32_t) / sizeof(float);
		if (l->kind == MODEL_DENSE) {
			max_in = l->in_len > max_in ? l->in_len : max_in;
			dense_out += l->out_len;
		}
	}
	return floats + max_in + dense_out;
}

/* conv (layer i), relu in place on it, and maybe a 2x2 stride-2 max-pool of the relu alone:
 * what fuse.h does in one pass. */
static void plan_fusion(struct model_layer *layers, size_t num_layers, struct model_node *nodes,
			size_t i)
{
	struct model_layer *relu = i + 1 < num_layers ? &layers[i + 1] : NULL;
	struct model_layer *pool = i + 2 < num_layers ? &layers[i + 2] : NULL;
	if (!relu || relu->kind != MODEL_RELU || relu->in != i + 1 || nodes[i + 2].root != i + 1)
		return;
	layers[i].fuse = relu->fused = MODEL_FUSE_RELU;
	if (!pool || pool->kind != MODEL_MAXPOOL || pool->in != i + 2 ||
	    nodes[i + 2].consumers != 1 || pool->pool.k != 2 || pool->pool.stride != 2)
		return;
	layers[i].fuse = relu->fused = pool->fused = MODEL_FUSE_POOL;
	nodes[i + 1].bare = 1;
}

void graph_plan(struct model_layer *layers, size_t num_layers, struct model_node *nodes)
{
	for (size_t j = 0; j <= num_layers; j++)
		nodes[j].consumers = 0;
	for (size_t i = 0; i < num_layers; i++) {
		nodes[layers[i].in].consumers++;
		if (layers[i].kind == MODEL_ADD)
			nodes[layers[i].in2].consumers++;
	}
	/* A ReLU works in place when nothing else reads its input, which is its own buffer
	 * (not the caller's x, nor another node's). */
	nodes[0].root = 0;
	for (size_t i = 0; i < num_layers; i++) {
		const struct model_layer *l = &layers[i];
		const struct model_node *src = &nodes[l->in];
		if (l->kind == MODEL_FLATTEN)
			nodes[i + 1].root = src->root;
		else if (l->kind == MODEL_RELU && l->in != 0 && src->root == l->in &&
			 src->consumers == 1)
			nodes[i + 1].root = l->in;
		else
			nodes[i + 1].root = i + 1;
	}
	for (size_t i = 0; i < num_layers; i++) {
		struct model_layer *l = &layers[i];
		size_t r = nodes[l->in].root;
		if (aliases(l, nodes, i + 1))
			continue; /* writes no gradient */
		l->acc_in = written_after(layers, num_layers, nodes, i, r);
		if (l->kind == MODEL_ADD)
			l->acc_in2 = r == nodes[l->in2].root ||
				     written_after(layers, num_layers, nodes, i, nodes[l->in2].root);
	}
	for (size_t i = 0; i < num_layers; i++)
		if (layers[i].kind == MODEL_CONV)
			plan_fusion(layers, num_layers, nodes, i);
}
