#include "model/model.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model/model_impl.h"

/* In the order of enum model_item_kind. */
static const struct model_item_syntax grammar[] = {
	{"conv", "conv N k K [s S] [p P] [nobias]",
	 "2-D convolution: N output channels, a K x K kernel, stride S (1), zero padding P (0), "
	 "a bias unless nobias"},
	{"dense", "dense [N]",
	 "dense layer of N outputs on the flattened input; without N the classes (last item "
	 "only)"},
	{"relu", "relu", "ReLU"},
	{"maxpool", "maxpool K [s S]", "max pooling over K x K windows, stride S (K), no padding"},
	{"avgpool", "avgpool K [s S]",
	 "average pooling over K x K windows, stride S (K), no padding"},
	{"gap", "gap", "global average pooling: C x H x W to C x 1 x 1"},
	{"bn", "bn",
	 "batch normalisation per channel (eps 1e-5, momentum 0.1; 1-D on a 1 x 1 input)"},
	{"flatten", "flatten", "C x H x W to C H W x 1 x 1"},
	{"res", "res N [s S]",
	 "a residual BasicBlock of N channels, stride S (1): conv3x3(S) bn relu conv3x3 bn, "
	 "plus the input (or conv1x1(S) bn of it, if S is not 1 or the channels change), relu"},
};
#define NUM_KINDS (sizeof(grammar) / sizeof(grammar[0]))

/* Sizes, kernels, strides and padding: at most 2^24, so that products of two fit anywhere. */
#define VALUE_MAX 16777216u
/* An item's text, and its words. */
#define ITEM_TEXT_MAX 128
#define WORDS_MAX     12

const struct model_item_syntax *model_desc_grammar(size_t *count)
{
	*count = NUM_KINDS;
	return grammar;
}

size_t model_item_render(const struct model_item *it, char *buf, size_t size)
{
	const char *name = grammar[it->kind].name;
	switch (it->kind) {
	case MODEL_ITEM_CONV: {
		char s[32] = "", p[32] = "";
		if (it->stride != 1)
			snprintf(s, sizeof(s), " s%zu", it->stride);
		if (it->pad)
			snprintf(p, sizeof(p), " p%zu", it->pad);
		return (size_t)snprintf(buf, size, "conv %zu k%zu%s%s%s", it->n, it->k, s, p,
					it->bias ? "" : " nobias");
	}
	case MODEL_ITEM_DENSE:
		return it->n ? (size_t)snprintf(buf, size, "dense %zu", it->n)
			     : (size_t)snprintf(buf, size, "dense");
	case MODEL_ITEM_MAXPOOL:
	case MODEL_ITEM_AVGPOOL:
		return it->stride != it->k
			       ? (size_t)snprintf(buf, size, "%s %zu s%zu", name, it->k, it->stride)
			       : (size_t)snprintf(buf, size, "%s %zu", name, it->k);
	case MODEL_ITEM_RES:
		return it->stride != 1
			       ? (size_t)snprintf(buf, size, "res %zu s%zu", it->n, it->stride)
			       : (size_t)snprintf(buf, size, "res %zu", it->n);
	default:
		return (size_t)snprintf(buf, size, "%s", name);
	}
}

size_t model_desc_render(const struct model_desc *d, char *buf, size_t size)
{
	size_t len = 0;
	for (size_t i = 0; i < d->num_items; i++) {
		if (i)
			len += (size_t)snprintf(len < size ? buf + len : NULL,
						len < size ? size - len : 0, ", ");
		len += model_item_render(&d->item[i], len < size ? buf + len : NULL,
					 len < size ? size - len : 0);
	}
	if (d->num_items == 0 && size)
		buf[0] = '\0';
	return len;
}

/* ---- parsing ---- */

struct parse {
	const char *origin;
	size_t index; /* 1-based, for messages */
	const char *text;
	struct error *e;
};

static int refuse(const struct parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int refuse(const struct parse *p, const char *fmt, ...)
{
	char why[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return error_set(p->e, "%s item %zu '%s': %s", p->origin, p->index, p->text, why);
}

/* A whole word of digits within [min, VALUE_MAX]. */
static int number(const struct parse *p, const char *word, const char *what, size_t min,
		  size_t *out)
{
	size_t v = 0;
	if (!*word)
		return refuse(p, "%s is missing", what);
	for (const char *c = word; *c; c++) {
		if (!isdigit((unsigned char)*c) || v > VALUE_MAX)
			return refuse(p, "%s '%s' is not a whole number in [%zu, %u]", what, word,
				      min, VALUE_MAX);
		v = v * 10 + (size_t)(*c - '0');
	}
	if (v < min || v > VALUE_MAX)
		return refuse(p, "%s %s is out of range [%zu, %u]", what, word, min, VALUE_MAX);
	*out = v;
	return 0;
}

/* The item's options from word i on: k (kernel), s (stride), p (padding) among `allowed`, each
 * once, written "k3" or "k 3", and nobias where allowed ('b'). */
static int options(const struct parse *p, char **word, size_t count, size_t i,
		   const char *allowed, struct model_item *it)
{
	static const char *const what[] = {['k'] = "kernel", ['s'] = "stride", ['p'] = "padding"};
	char seen[4] = "";
	for (; i < count; i++) {
		const char *w = word[i];
		if (strchr(allowed, 'b') && strcmp(w, "nobias") == 0) {
			if (!it->bias)
				return refuse(p, "nobias given twice");
			it->bias = 0;
			continue;
		}
		char opt = w[0];
		if (!opt || !strchr("ksp", opt) || !strchr(allowed, opt) ||
		    (w[1] && !isdigit((unsigned char)w[1])))
			return refuse(p, "unexpected '%s' (%s)", w, grammar[it->kind].syntax);
		if (strchr(seen, opt))
			return refuse(p, "%s given twice", what[(int)opt]);
		seen[strlen(seen)] = opt;
		const char *value = w + 1;
		if (!*value) {
			if (i + 1 == count)
				return refuse(p, "%s has no value (%s)", what[(int)opt],
					      grammar[it->kind].syntax);
			value = word[++i];
		}
		size_t *field = opt == 'k' ? &it->k : opt == 's' ? &it->stride : &it->pad;
		if (number(p, value, what[(int)opt], opt == 'p' ? 0 : 1, field) < 0)
			return -1;
	}
	if (strchr(allowed, 'k') && !strchr(seen, 'k'))
		return refuse(p, "the kernel is missing (%s)", grammar[it->kind].syntax);
	return 0;
}

/* One item's words into it. */
static int parse_item(const struct parse *p, char **word, size_t count, struct model_item *it)
{
	size_t kind = 0;
	while (kind < NUM_KINDS && strcmp(word[0], grammar[kind].name) != 0)
		kind++;
	if (kind == NUM_KINDS) {
		char names[256] = "";
		for (size_t i = 0; i < NUM_KINDS; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", grammar[i].name);
		return refuse(p, "unknown layer '%s' (one of %s)", word[0], names);
	}
	*it = (struct model_item){.kind = (enum model_item_kind)kind, .stride = 1, .bias = 1};
	const char *syntax = grammar[kind].syntax;
	switch (it->kind) {
	case MODEL_ITEM_CONV:
		if (count < 2 || number(p, word[1], "the output channels", 1, &it->n) < 0)
			return count < 2 ? refuse(p, "the output channels are missing (%s)", syntax)
					 : -1;
		return options(p, word, count, 2, "kspb", it);
	case MODEL_ITEM_RES:
		if (count < 2 || number(p, word[1], "the channels", 1, &it->n) < 0)
			return count < 2 ? refuse(p, "the channels are missing (%s)", syntax) : -1;
		return options(p, word, count, 2, "s", it);
	case MODEL_ITEM_MAXPOOL:
	case MODEL_ITEM_AVGPOOL:
		if (count < 2 || number(p, word[1], "the window", 1, &it->k) < 0)
			return count < 2 ? refuse(p, "the window is missing (%s)", syntax) : -1;
		it->stride = 0;
		if (options(p, word, count, 2, "s", it) < 0)
			return -1;
		if (!it->stride)
			it->stride = it->k;
		return 0;
	case MODEL_ITEM_DENSE:
		if (count > 2)
			return refuse(p, "unexpected '%s' (%s)", word[2], syntax);
		return count == 2 ? number(p, word[1], "the outputs", 1, &it->n) : 0;
	default:
		if (count > 1)
			return refuse(p, "%s takes no arguments", word[0]);
		return 0;
	}
}

int model_desc_parse(struct model_desc *d, const char *text, struct error *e)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->origin, sizeof(d->origin), "layers");
	const char *at = text;
	for (size_t index = 1;; index++) {
		const char *end = strchr(at, ',');
		size_t len = end ? (size_t)(end - at) : strlen(at);
		while (len && isspace((unsigned char)*at)) {
			at++;
			len--;
		}
		while (len && isspace((unsigned char)at[len - 1]))
			len--;
		char buf[ITEM_TEXT_MAX];
		if (len >= sizeof(buf))
			return error_set(e, "%s item %zu '%.20s...': longer than %zu characters",
					 d->origin, index, at, sizeof(buf) - 1);
		memcpy(buf, at, len);
		buf[len] = '\0';
		struct parse p = {d->origin, index, buf, e};
		if (len == 0) {
			if (index == 1 && !end)
				return error_set(e, "%s: no items", d->origin);
			return error_set(e, "%s item %zu is empty", d->origin, index);
		}
		if (d->num_items == MODEL_ITEMS_MAX)
			return error_set(e, "%s: more than %d items", d->origin, MODEL_ITEMS_MAX);
		/* The words, split in a copy, since p quotes the item's text. */
		char copy[ITEM_TEXT_MAX], *word[WORDS_MAX], *save;
		memcpy(copy, buf, len + 1);
		size_t count = 0;
		for (char *w = strtok_r(copy, " \t\n\r\f\v", &save); w;
		     w = strtok_r(NULL, " \t\n\r\f\v", &save)) {
			if (count == WORDS_MAX)
				return refuse(&p, "more than %d words", WORDS_MAX);
			word[count++] = w;
		}
		if (parse_item(&p, word, count, &d->item[d->num_items]) < 0)
			return -1;
		d->num_items++;
		if (!end)
			return 0;
		at = end + 1;
	}
}

/* ---- presets ---- */

static void preset(struct model_desc *d, const char *origin)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->origin, sizeof(d->origin), "%s", origin);
}

static void add(struct model_desc *d, enum model_item_kind kind, size_t n, size_t k,
		size_t stride, size_t pad, int bias)
{
	d->item[d->num_items++] = (struct model_item){
		.kind = kind, .n = n, .k = k, .stride = stride, .pad = pad, .bias = bias};
}

int model_desc_mlp(struct model_desc *d, const size_t *hidden, size_t num_hidden,
		   struct error *e)
{
	preset(d, "mlp");
	if (2 * num_hidden + 1 > MODEL_ITEMS_MAX)
		return error_set(e, "mlp: %zu hidden layers, more than %d", num_hidden,
				 (MODEL_ITEMS_MAX - 1) / 2);
	for (size_t i = 0; i < num_hidden; i++) {
		if (hidden[i] == 0 || hidden[i] > VALUE_MAX)
			return error_set(e, "mlp: hidden size %zu is out of range [1, %u]",
					 hidden[i], VALUE_MAX);
		add(d, MODEL_ITEM_DENSE, hidden[i], 0, 1, 0, 1);
		add(d, MODEL_ITEM_RELU, 0, 0, 1, 0, 1);
	}
	add(d, MODEL_ITEM_DENSE, 0, 0, 1, 0, 1);
	return 0;
}

void model_desc_cnn(struct model_desc *d)
{
	preset(d, "cnn");
	add(d, MODEL_ITEM_CONV, 32, 3, 1, 1, 1);
	add(d, MODEL_ITEM_RELU, 0, 0, 1, 0, 1);
	add(d, MODEL_ITEM_MAXPOOL, 0, 2, 2, 0, 1);
	add(d, MODEL_ITEM_CONV, 64, 3, 1, 1, 1);
	add(d, MODEL_ITEM_RELU, 0, 0, 1, 0, 1);
	add(d, MODEL_ITEM_MAXPOOL, 0, 2, 2, 0, 1);
	add(d, MODEL_ITEM_FLATTEN, 0, 0, 1, 0, 1);
	add(d, MODEL_ITEM_DENSE, 256, 0, 1, 0, 1);
	add(d, MODEL_ITEM_RELU, 0, 0, 1, 0, 1);
	add(d, MODEL_ITEM_DENSE, 0, 0, 1, 0, 1);
}

int model_desc_resnet18(struct model_desc *d, size_t width, struct error *e)
{
	preset(d, "resnet18");
	if (width == 0 || width > VALUE_MAX / 8)
		return error_set(e, "resnet18: width %zu is out of range [1, %u]", width,
				 VALUE_MAX / 8);
	add(d, MODEL_ITEM_CONV, width, 3, 1, 1, 0);
	add(d, MODEL_ITEM_BN, 0, 0, 1, 0, 1);
	add(d, MODEL_ITEM_RELU, 0, 0, 1, 0, 1);
	for (size_t stage = 0; stage < 4; stage++)
		for (size_t block = 0; block < 2; block++)
			add(d, MODEL_ITEM_RES, width << stage, 0, stage && !block ? 2 : 1, 0, 1);
	add(d, MODEL_ITEM_GAP, 0, 0, 1, 0, 1);
	add(d, MODEL_ITEM_DENSE, 0, 0, 1, 0, 1);
	return 0;
}

/* ---- the summary ---- */

void model_summary_print(FILE *f, const struct model_desc *d, struct model_shape in,
			 const struct model_summary *s)
{
	fprintf(f, "%-4s %-28s %16zux%zux%zu\n", "", "input", in.c, in.h, in.w);
	for (size_t i = 0; i < d->num_items; i++) {
		char text[ITEM_TEXT_MAX], shape[64];
		model_item_render(&d->item[i], text, sizeof(text));
		snprintf(shape, sizeof(shape), "%zux%zux%zu", s->out[i].c, s->out[i].h,
			 s->out[i].w);
		fprintf(f, "%4zu %-28s %20s %12zu\n", i + 1, text, shape, s->params[i]);
	}
	fprintf(f, "%zu parameters, %zu state values (batch norm's running statistics), %zu "
		   "layers, %zu floats of workspace a batch row\n",
		s->num_params, s->num_state, s->num_layers, s->row_floats);
}
