#include "model/safetensors.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "util/files.h"

/* The most tensors an item gives: a BasicBlock with a projection, three convs and three bns. */
#define TENSORS_PER_ITEM 18
/* An item's prefix ("12."), a sub-module's ("12.shortcut.0."), a tensor's name: sized for
 * any size_t index, so that no name is cut short. */
#define ITEM_SIZE   24
#define PREFIX_SIZE 40
#define NAME_SIZE   64
#define RANK_MAX	 4
/* A shape read from a file, for messages: more dimensions than that are refused. */
#define FILE_RANK_MAX 8
/* Values encoded or decoded at a time. */
#define CHUNK 4096

enum dtype { DTYPE_F32, DTYPE_I64 };
/* Where a tensor's values live: the parameters, the running statistics, or nowhere (the batch
 * count lethe does not keep). */
enum source { SOURCE_PARAMS, SOURCE_STATE, SOURCE_COUNT };

struct tensor {
	char name[NAME_SIZE];
	enum dtype dtype;
	size_t rank, shape[RANK_MAX];
	enum source source;
	size_t offset, count;
	int variance; /* a running variance: never negative */
	/* Reading: found in the file, and its bytes in the data. */
	int found;
	uint64_t begin, end;
};

struct plan {
	struct tensor *t;
	size_t num;
};

static const char *const dtype_names[] = {[DTYPE_F32] = "F32", [DTYPE_I64] = "I64"};

/* ---- the tensors of a model ---- */

static struct tensor *plan_add(struct plan *p, const char *prefix, const char *leaf,
			       enum source source, size_t offset, size_t rank, const size_t *shape)
{
	struct tensor *t = &p->t[p->num++];
	*t = (struct tensor){.dtype = source == SOURCE_COUNT ? DTYPE_I64 : DTYPE_F32,
			     .rank = rank, .source = source, .offset = offset, .count = 1};
	snprintf(t->name, sizeof(t->name), "%s%s", prefix, leaf);
	for (size_t i = 0; i < rank; i++) {
		t->shape[i] = shape[i];
		t->count *= shape[i];
	}
	return t;
}

static void plan_conv(struct plan *p, const char *prefix, const struct model_view *v)
{
	size_t cout = v->out_shape.c, k = v->kernel;
	plan_add(p, prefix, "weight", SOURCE_PARAMS, v->weight_offset, 4,
		 (size_t[]){cout, v->in_shape.c, k, k});
	if (v->bias_count)
		plan_add(p, prefix, "bias", SOURCE_PARAMS, v->bias_offset, 1, &cout);
}

static void plan_dense(struct plan *p, const char *prefix, const struct model_view *v)
{
	plan_add(p, prefix, "weight", SOURCE_PARAMS, v->weight_offset, 2,
		 (size_t[]){v->out, v->in});
	plan_add(p, prefix, "bias", SOURCE_PARAMS, v->bias_offset, 1, &v->out);
}

/* Batch norm's running statistics follow one another in the state, layer by layer: *state is
 * this layer's. */
static void plan_bn(struct plan *p, const char *prefix, const struct model_view *v,
		    size_t *state)
{
	size_t c = v->out_shape.c;
	plan_add(p, prefix, "weight", SOURCE_PARAMS, v->weight_offset, 1, &c);
	plan_add(p, prefix, "bias", SOURCE_PARAMS, v->bias_offset, 1, &c);
	plan_add(p, prefix, "running_mean", SOURCE_STATE, *state, 1, &c);
	plan_add(p, prefix, "running_var", SOURCE_STATE, *state + c, 1, &c)->variance = 1;
	plan_add(p, prefix, "num_batches_tracked", SOURCE_COUNT, 0, 0, NULL);
	*state += 2 * c;
}

/* The views an item's sub-module takes, named PREFIX.SUB. */
static void plan_view(const struct model *m, struct plan *p, const char *item, const char *sub,
		      size_t *view, size_t *state)
{
	char prefix[PREFIX_SIZE];
	struct model_view v;
	snprintf(prefix, sizeof(prefix), "%s%s", item, sub);
	model_view(m, (*view)++, &v);
	if (v.kind == MODEL_VIEW_CONV2D)
		plan_conv(p, prefix, &v);
	else if (v.kind == MODEL_VIEW_DENSE)
		plan_dense(p, prefix, &v);
	else
		plan_bn(p, prefix, &v, state);
}

static int plan_model(const struct model *m, struct plan *p, struct error *e)
{
	p->num = 0;
	p->t = calloc(m->desc.num_items * TENSORS_PER_ITEM, sizeof(*p->t));
	if (!p->t)
		return error_set(e, "cannot allocate the tensors of %zu items", m->desc.num_items);
	size_t view = 0, state = 0;
	for (size_t i = 0; i < m->desc.num_items; i++) {
		const struct model_item *it = &m->desc.item[i];
		char item[ITEM_SIZE];
		snprintf(item, sizeof(item), "%zu.", i);
		switch (it->kind) {
		case MODEL_ITEM_CONV:
		case MODEL_ITEM_DENSE:
		case MODEL_ITEM_BN:
			plan_view(m, p, item, "", &view, &state);
			break;
		case MODEL_ITEM_RES: {
			struct model_view conv1;
			model_view(m, view, &conv1);
			plan_view(m, p, item, "conv1.", &view, &state);
			plan_view(m, p, item, "bn1.", &view, &state);
			plan_view(m, p, item, "conv2.", &view, &state);
			plan_view(m, p, item, "bn2.", &view, &state);
			/* model/model.h's rule for the projection. */
			if (it->stride != 1 || conv1.in_shape.c != it->n) {
				plan_view(m, p, item, "shortcut.0.", &view, &state);
				plan_view(m, p, item, "shortcut.1.", &view, &state);
			}
			break;
		}
		default:
			break;
		}
	}
	if (view != model_num_views(m) || state != m->num_state) {
		free(p->t);
		return error_set(e, "the model's layers do not follow its description");
	}
	return 0;
}

static float *values(const struct model *m, const struct tensor *t)
{
	return t->source == SOURCE_PARAMS ? m->params + t->offset : m->state + t->offset;
}

static size_t tensor_bytes(const struct tensor *t)
{
	return t->dtype == DTYPE_I64 ? 8 : t->count * sizeof(float);
}

/* "[64, 16, 3, 3]" */
static void shape_text(const size_t *shape, size_t rank, char *buf, size_t size)
{
	size_t len = (size_t)snprintf(buf, size, "[");
	for (size_t i = 0; i < rank && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%zu", i ? ", " : "", shape[i]);
	if (len < size)
		snprintf(buf + len, size - len, "]");
}

/* ---- writing ---- */

struct writing {
	const struct model *m;
	const struct plan *p;
	const char *header;
	size_t header_len;
};

static void put_le(unsigned char *b, uint64_t v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static int write_data(FILE *f, const void *data, struct error *e)
{
	(void)e;
	const struct writing *w = data;
	unsigned char buf[CHUNK * sizeof(float)];
	put_le(buf, w->header_len, 8);
	if (fwrite(buf, 1, 8, f) != 8 || fwrite(w->header, 1, w->header_len, f) != w->header_len)
		return -1;
	for (size_t i = 0; i < w->p->num; i++) {
		const struct tensor *t = &w->p->t[i];
		if (t->dtype == DTYPE_I64) {
			put_le(buf, 0, 8);
			if (fwrite(buf, 1, 8, f) != 8)
				return -1;
			continue;
		}
		const float *v = values(w->m, t);
		for (size_t at = 0; at < t->count; at += CHUNK) {
			size_t n = t->count - at < CHUNK ? t->count - at : CHUNK;
			for (size_t j = 0; j < n; j++) {
				uint32_t bits;
				memcpy(&bits, &v[at + j], sizeof(bits));
				put_le(buf + 4 * j, bits, 4);
			}
			if (fwrite(buf, 4, n, f) != n)
				return -1;
		}
	}
	return 0;
}

/* The metadata's values; NULL when out of memory or a class name is not UTF-8 (named in e). */
static json_t *metadata(const struct model *m, const char *const *classes, struct error *e)
{
	size_t len = model_desc_render(&m->desc, NULL, 0);
	char *layers = malloc(len + 1), input[96];
	json_t *meta = json_object(), *names = json_array();
	char *names_text = NULL;
	size_t utf8 = m->classes; /* the class whose name is not UTF-8 */
	if (!layers || !meta || !names)
		goto fail;
	model_desc_render(&m->desc, layers, len + 1);
	snprintf(input, sizeof(input), "%zux%zux%zu", m->input.c, m->input.h, m->input.w);
	for (size_t c = 0; c < m->classes; c++) {
		char label[32];
		snprintf(label, sizeof(label), "%zu", c);
		json_t *name = json_string(classes ? classes[c] : label);
		if (!name) {
			utf8 = c;
			goto fail;
		}
		json_array_append_new(names, name);
	}
	names_text = json_dumps(names, JSON_COMPACT);
	if (!names_text || json_object_set_new(meta, "format", json_string(SAFETENSORS_FORMAT)) ||
	    json_object_set_new(meta, "layers", json_string(layers)) ||
	    json_object_set_new(meta, "input", json_string(input)) ||
	    json_object_set_new(meta, "classes", json_string(names_text)))
		goto fail;
	free(layers);
	free(names_text);
	json_decref(names);
	return meta;
fail:
	if (utf8 < m->classes)
		error_set(e, "class %zu's name is not UTF-8", utf8);
	else
		error_set(e, "out of memory");
	free(layers);
	free(names_text);
	json_decref(names);
	json_decref(meta);
	return NULL;
}

/* The header's text, padded with spaces so that the data starts 8-byte aligned, as the
 * reference writer does. */
static char *header(const struct model *m, const struct plan *p, const char *const *classes,
		    size_t *len, struct error *e)
{
	json_t *meta = metadata(m, classes, e);
	if (!meta)
		return NULL;
	json_t *root = json_object();
	if (!root || json_object_set_new(root, "__metadata__", meta)) {
		json_decref(root);
		return error_set(e, "out of memory"), NULL;
	}
	uint64_t at = 0;
	for (size_t i = 0; i < p->num; i++) {
		const struct tensor *t = &p->t[i];
		json_t *shape = json_array();
		for (size_t d = 0; d < t->rank; d++)
			json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
		uint64_t end = at + tensor_bytes(t);
		json_t *entry = json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype_names[t->dtype],
					  "shape", shape, "data_offsets", (json_int_t)at,
					  (json_int_t)end);
		if (!entry || json_object_set_new(root, t->name, entry)) {
			json_decref(root);
			return error_set(e, "out of memory"), NULL;
		}
		at = end;
	}
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		return error_set(e, "out of memory"), NULL;
	size_t n = strlen(text), padded = (n + 7) / 8 * 8;
	char *out = realloc(text, padded);
	if (!out) {
		free(text);
		return error_set(e, "out of memory"), NULL;
	}
	memset(out + n, ' ', padded - n);
	*len = padded;
	return out;
}

int safetensors_write(const struct model *m, const char *const *classes, const char *path,
		      struct error *e)
{
	/* files_replace takes the directory and the name apart. */
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	char dir[PATH_MAX] = ".";
	if (!*name)
		return error_set(e, "%s: not a file name", path);
	if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if (slash && (size_t)(slash - path) >= sizeof(dir))
		return error_set(e, "%s: %s", path, strerror(ENAMETOOLONG));
	else if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);

	struct plan p;
	struct error why = {""};
	if (plan_model(m, &p, &why) < 0)
		return error_set(e, "%s: %s", path, why.msg);
	struct writing w = {.m = m, .p = &p};
	char *text = header(m, &p, classes, &w.header_len, &why);
	int rc = -1;
	if (!text)
		error_set(e, "%s: %s", path, why.msg);
	else {
		w.header = text;
		rc = files_replace(dir, name, 0666, write_data, &w, e);
	}
	free(text);
	free(p.t);
	return rc;
}

/* ---- reading ---- */

/* A name from the file, fit for a one-line message: control characters as '?', cut short. */
static const char *shown(const char *s, char buf[72])
{
	size_t i = 0;
	for (; s[i] && i < 64; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i])
		memcpy(buf + i, "...", 4);
	else
		buf[i] = '\0';
	return buf;
}

struct reading {
	const char *path;
	int fd;
	uint64_t data_at, data_len; /* where the data starts in the file, and its bytes */
	struct error *e;
};

/* count bytes at offset of the file. */
static int read_at(const struct reading *r, void *buf, size_t count, uint64_t offset)
{
	unsigned char *b = buf;
	while (count) {
		ssize_t got = pread(r->fd, b, count, (off_t)offset);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return error_set(r->e, "%s: %s", r->path,
					 got < 0 ? strerror(errno) : "truncated while read");
		b += got;
		count -= (size_t)got;
		offset += (uint64_t)got;
	}
	return 0;
}

/* The bytes of an element of a safetensors dtype; 0 for a name the format lacks. */
static size_t dtype_size(const char *name)
{
	static const struct {
		const char *name;
		size_t size;
	} table[] = {
		{"BOOL", 1}, {"U8", 1},	 {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
		{"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
		{"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].size;
	return 0;
}

/* A non-negative JSON integer. */
static int natural(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* Checks the file's entry for t (dtype, shape, offsets within the data and matching them)
 * against the format, then against the model, and records its offsets. */
static int read_entry(const struct reading *r, const json_t *entry, struct tensor *t)
{
	const char *path = r->path, *name = t->name;
	json_t *dtype = json_object_get(entry, "dtype"), *shape = json_object_get(entry, "shape"),
	       *offsets = json_object_get(entry, "data_offsets");
	if (!json_is_object(entry) || !json_is_string(dtype) || !json_is_array(shape) ||
	    !json_is_array(offsets))
		return error_set(r->e, "%s: tensor %s is not {\"dtype\": string, \"shape\": [...], "
				       "\"data_offsets\": [begin, end]}",
				 path, name);
	char buf[72];
	size_t elem = dtype_size(json_string_value(dtype));
	if (!elem)
		return error_set(r->e, "%s: tensor %s has an unknown dtype '%s'", path, name,
				 shown(json_string_value(dtype), buf));
	size_t rank = json_array_size(shape);
	if (rank > FILE_RANK_MAX)
		return error_set(r->e, "%s: tensor %s has %zu dimensions, more than %d", path, name,
				 rank, FILE_RANK_MAX);
	size_t dims[FILE_RANK_MAX];
	uint64_t bytes = elem;
	for (size_t d = 0; d < rank; d++) {
		uint64_t v;
		if (natural(json_array_get(shape, d), &v) < 0 || v > SIZE_MAX)
			return error_set(r->e, "%s: tensor %s: its shape's dimension %zu is not a "
					       "whole number",
					 path, name, d);
		dims[d] = (size_t)v;
		/* Past the data, the product may stop: the sizes cannot match. */
		bytes = v && bytes > r->data_len / v ? r->data_len + 1 : bytes * v;
	}
	uint64_t begin, end;
	if (json_array_size(offsets) != 2 || natural(json_array_get(offsets, 0), &begin) < 0 ||
	    natural(json_array_get(offsets, 1), &end) < 0 || begin > end)
		return error_set(r->e, "%s: tensor %s: data_offsets is not [begin, end], 0 <= begin "
				       "<= end",
				 path, name);
	if (end > r->data_len)
		return error_set(r->e, "%s: tensor %s: data_offsets [%llu, %llu] run past the "
				       "data's %llu bytes",
				 path, name, (unsigned long long)begin, (unsigned long long)end,
				 (unsigned long long)r->data_len);
	if (bytes != end - begin)
		return error_set(r->e, "%s: tensor %s: data_offsets [%llu, %llu] hold %llu bytes, "
				       "its shape and dtype %s%llu",
				 path, name, (unsigned long long)begin, (unsigned long long)end,
				 (unsigned long long)(end - begin),
				 bytes > r->data_len ? "more than " : "",
				 (unsigned long long)(bytes > r->data_len ? r->data_len : bytes));
	if (strcmp(json_string_value(dtype), dtype_names[t->dtype]) != 0)
		return error_set(r->e, "%s: tensor %s is %s, the model wants %s", path, name,
				 json_string_value(dtype), dtype_names[t->dtype]);
	int same = rank == t->rank;
	for (size_t d = 0; same && d < rank; d++)
		same = dims[d] == t->shape[d];
	if (!same) {
		char got[160], want[160];
		shape_text(dims, rank, got, sizeof(got));
		shape_text(t->shape, t->rank, want, sizeof(want));
		return error_set(r->e, "%s: tensor %s has shape %s, the model wants %s", path, name,
				 got, want);
	}
	t->found = 1;
	t->begin = begin;
	t->end = end;
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct tensor *x = *(const struct tensor *const *)a,
			    *y = *(const struct tensor *const *)b;
	return x->begin != y->begin ? (x->begin > y->begin) - (x->begin < y->begin)
				    : (x->end > y->end) - (x->end < y->end);
}

/* The format's rule: the tensors tile the data, no overlap, no hole, nothing after. */
static int check_cover(const struct reading *r, const struct plan *p)
{
	const struct tensor **order = malloc(p->num * sizeof(*order));
	if (!order)
		return error_set(r->e, "%s: out of memory", r->path);
	for (size_t i = 0; i < p->num; i++)
		order[i] = &p->t[i];
	qsort(order, p->num, sizeof(*order), by_offset);
	uint64_t at = 0;
	int rc = 0;
	for (size_t i = 0; i < p->num && rc == 0; i++) {
		if (order[i]->begin < at)
			rc = error_set(r->e, "%s: tensors %s and %s overlap", r->path,
				       order[i - 1]->name, order[i]->name);
		else if (order[i]->begin > at)
			rc = error_set(r->e, "%s: bytes %llu to %llu of the data are in no tensor",
				       r->path, (unsigned long long)at,
				       (unsigned long long)order[i]->begin);
		at = order[i]->end;
	}
	if (rc == 0 && at != r->data_len)
		rc = error_set(r->e, "%s: bytes %llu to %llu of the data are in no tensor", r->path,
			       (unsigned long long)at, (unsigned long long)r->data_len);
	free(order);
	return rc;
}

/* The header's tensors against the model's plan; metadata strings only. root is an object:
 * the header starts with '{'. */
static int check_header(const struct reading *r, const json_t *root, struct plan *p)
{
	const char *key;
	json_t *value;
	char buf[72];
	json_object_foreach((json_t *)root, key, value) {
		if (strcmp(key, "__metadata__") == 0) {
			const char *k;
			json_t *v;
			if (!json_is_object(value))
				return error_set(r->e, "%s: __metadata__ is not an object", r->path);
			json_object_foreach(value, k, v)
				if (!json_is_string(v))
					return error_set(r->e, "%s: __metadata__ %s is not a string",
							 r->path, shown(k, buf));
			continue;
		}
		size_t i = 0;
		while (i < p->num && strcmp(p->t[i].name, key) != 0)
			i++;
		if (i == p->num)
			return error_set(r->e, "%s: unexpected tensor %s: the model has none of "
					       "that name",
					 r->path, shown(key, buf));
		if (read_entry(r, value, &p->t[i]) < 0)
			return -1;
	}
	for (size_t i = 0; i < p->num; i++)
		if (!p->t[i].found)
			return error_set(r->e, "%s: tensor %s is missing", r->path, p->t[i].name);
	return check_cover(r, p);
}

/* A tensor's floats into dst, decoded from little-endian, each checked. */
static int read_floats(const struct reading *r, const struct tensor *t, float *dst)
{
	unsigned char buf[CHUNK * sizeof(float)];
	for (size_t at = 0; at < t->count; at += CHUNK) {
		size_t n = t->count - at < CHUNK ? t->count - at : CHUNK;
		if (read_at(r, buf, 4 * n, r->data_at + t->begin + 4 * at) < 0)
			return -1;
		for (size_t j = 0; j < n; j++) {
			uint32_t bits = (uint32_t)buf[4 * j] | (uint32_t)buf[4 * j + 1] << 8 |
					(uint32_t)buf[4 * j + 2] << 16 |
					(uint32_t)buf[4 * j + 3] << 24;
			float v;
			memcpy(&v, &bits, sizeof(v));
			if (!isfinite(v) || (t->variance && v < 0))
				return error_set(r->e, "%s: tensor %s holds %g at [%zu]%s", r->path,
						 t->name, (double)v, at + j,
						 isfinite(v) ? ", a negative variance" : "");
			dst[at + j] = v;
		}
	}
	return 0;
}

/* The header, parsed: its length checked against the file before anything is allocated. */
static json_t *read_header(struct reading *r, struct stat *st)
{
	unsigned char len_bytes[8];
	uint64_t size = (uint64_t)st->st_size, n = 0;
	if (size < 8)
		return error_set(r->e, "%s: %llu bytes, too short for the 8-byte header length",
				 r->path, (unsigned long long)size), NULL;
	if (read_at(r, len_bytes, 8, 0) < 0)
		return NULL;
	for (size_t i = 0; i < 8; i++)
		n |= (uint64_t)len_bytes[i] << (8 * i);
	if (n > size - 8)
		return error_set(r->e, "%s: a header of %llu bytes runs past the end of the file "
				       "(%llu bytes)",
				 r->path, (unsigned long long)n, (unsigned long long)size), NULL;
	if (n > SAFETENSORS_HEADER_MAX)
		return error_set(r->e, "%s: a header of %llu bytes, more than %u", r->path,
				 (unsigned long long)n, SAFETENSORS_HEADER_MAX), NULL;
	r->data_at = 8 + n;
	r->data_len = size - 8 - n;
	char *text = malloc(n ? n : 1);
	if (!text)
		return error_set(r->e, "%s: cannot allocate a header of %llu bytes", r->path,
				 (unsigned long long)n), NULL;
	if (read_at(r, text, n, 8) < 0) {
		free(text);
		return NULL;
	}
	if (n == 0 || text[0] != '{') {
		free(text);
		return error_set(r->e, "%s: the header does not start with '{'", r->path), NULL;
	}
	json_error_t je;
	json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!root) {
		char buf[72];
		error_set(r->e, "%s: the header is not JSON: %s at byte %d", r->path,
			  shown(je.text, buf), je.position);
	}
	return root;
}

int safetensors_read(struct model *m, const char *path, struct error *e)
{
	struct stat st;
	struct reading r = {.path = path, .e = e};
	struct plan p = {NULL, 0};
	float *params = NULL, *state = NULL;
	json_t *root = NULL;
	int rc = -1;
	if ((r.fd = files_open_regular(path, &st, e)) < 0)
		return -1;
	struct error why = {""};
	if (!(root = read_header(&r, &st)))
		goto done;
	if (plan_model(m, &p, &why) < 0) {
		error_set(e, "%s: %s", path, why.msg);
		goto done;
	}
	if (check_header(&r, root, &p) < 0)
		goto done;
	/* All or none: the values go to copies, which replace the model's once all are read. */
	params = malloc((m->num_params ? m->num_params : 1) * sizeof(float));
	state = malloc((m->num_state ? m->num_state : 1) * sizeof(float));
	if (!params || !state) {
		error_set(e, "%s: cannot allocate the model's %zu parameters", path, m->num_params);
		goto done;
	}
	memcpy(params, m->params, m->num_params * sizeof(float));
	memcpy(state, m->state, m->num_state * sizeof(float));
	for (size_t i = 0; i < p.num; i++) {
		const struct tensor *t = &p.t[i];
		if (t->source != SOURCE_COUNT &&
		    read_floats(&r, t, (t->source == SOURCE_PARAMS ? params : state) + t->offset) < 0)
			goto done;
	}
	memcpy(m->params, params, m->num_params * sizeof(float));
	memcpy(m->state, state, m->num_state * sizeof(float));
	rc = 0;
done:
	free(params);
	free(state);
	free(p.t);
	json_decref(root);
	close(r.fd);
	return rc;
}

int safetensors_metadata(const char *path, const char *key, char **value, struct error *e)
{
	struct stat st;
	struct reading r = {.path = path, .e = e};
	if ((r.fd = files_open_regular(path, &st, e)) < 0)
		return -1;
	json_t *root = read_header(&r, &st);
	close(r.fd);
	if (!root)
		return -1;
	json_t *meta = json_object_get(root, "__metadata__"),
	       *v = json_is_object(meta) ? json_object_get(meta, key) : NULL;
	int rc = 0;
	*value = NULL;
	if (meta && !json_is_object(meta))
		rc = error_set(e, "%s: __metadata__ is not an object", path);
	else if (v && !json_is_string(v))
		rc = error_set(e, "%s: __metadata__ %s is not a string", path, key);
	else if (v) {
		size_t n = strlen(json_string_value(v)) + 1;
		if (!(*value = malloc(n)))
			rc = error_set(e, "%s: out of memory", path);
		else
			rc = 1, memcpy(*value, json_string_value(v), n);
	}
	json_decref(root);
	return rc;
}
