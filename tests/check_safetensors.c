/* The safetensors suite: round trips bit for bit (an MLP, the CNN, a small ResNet), the bytes of a
 * tiny model against a layout worked out by hand, and every refusal of a bad file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/model.h"
#include "model/safetensors.h"
#include "util/rng.h"
#include "testutil.h"

static struct model_shape shape(size_t c, size_t h, size_t w)
{
	return (struct model_shape){c, h, w};
}

static void build(struct model *m, const char *layers, struct model_shape in, size_t classes)
{
	struct model_desc d;
	struct error e = {""};
	ck_assert_msg(model_desc_parse(&d, layers, &e) == 0, "%s", e.msg);
	ck_assert_msg(model_build(m, &d, in, classes, &e) == 0, "%s", e.msg);
}

/* Every parameter and running statistic drawn (variances positive), so that a tensor put in
 * another's place shows. */
static void fill(struct model *m, uint64_t seed)
{
	struct rng r;
	rng_seed(&r, seed, 0);
	for (size_t i = 0; i < m->num_params; i++)
		m->params[i] = (float)(2 * rng_uniform(&r) - 1);
	for (size_t i = 0; i < m->num_state; i++)
		m->state[i] = (float)(rng_uniform(&r) + 0.25);
}

static char *path_of(const char *name)
{
	char *p = malloc(strlen(testutil_dir) + strlen(name) + 2);
	sprintf(p, "%s/%s", testutil_dir, name);
	return p;
}

/* Writes m, reads it into a model built alike, and compares the bits. */
static void round_trip(struct model *m)
{
	struct model back;
	struct error e = {""};
	char *path = path_of("model.safetensors");
	ck_assert_msg(safetensors_write(m, NULL, path, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(model_build(&back, &m->desc, m->input, m->classes, &e), 0);
	ck_assert_msg(safetensors_read(&back, path, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(back.num_params, m->num_params);
	ck_assert_uint_eq(back.num_state, m->num_state);
	ck_assert(memcmp(back.params, m->params, m->num_params * sizeof(float)) == 0);
	ck_assert(memcmp(back.state, m->state, m->num_state * sizeof(float)) == 0);
	model_free(&back);
	free(path);
}

START_TEST(test_round_trip_mlp)
{
	struct model m;
	struct model_desc d;
	struct error e;
	const size_t hidden[] = {32, 16};
	ck_assert_int_eq(model_desc_mlp(&d, hidden, 2, &e), 0);
	ck_assert_int_eq(model_build(&m, &d, shape(1, 8, 8), 10, &e), 0);
	fill(&m, 1);
	round_trip(&m);
	model_free(&m);
}
END_TEST

START_TEST(test_round_trip_cnn)
{
	struct model m;
	struct model_desc d;
	struct error e;
	model_desc_cnn(&d);
	ck_assert_int_eq(model_build(&m, &d, shape(1, 8, 8), 10, &e), 0);
	fill(&m, 2);
	round_trip(&m);
	model_free(&m);
}
END_TEST

/* A stem, a block without and one with a projection, batch norm on a 1 x 1 input. */
static const char resnet[] = "conv 4 k3 p1 nobias, bn, relu, res 4, res 8 s2, gap, bn, dense";

static const char *const resnet_names[] = {
	"0.weight",
	"1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
	"3.conv1.weight",
	"3.bn1.weight", "3.bn1.bias", "3.bn1.running_mean", "3.bn1.running_var",
	"3.bn1.num_batches_tracked",
	"3.conv2.weight",
	"3.bn2.weight", "3.bn2.bias", "3.bn2.running_mean", "3.bn2.running_var",
	"3.bn2.num_batches_tracked",
	"4.conv1.weight",
	"4.bn1.weight", "4.bn1.bias", "4.bn1.running_mean", "4.bn1.running_var",
	"4.bn1.num_batches_tracked",
	"4.conv2.weight",
	"4.bn2.weight", "4.bn2.bias", "4.bn2.running_mean", "4.bn2.running_var",
	"4.bn2.num_batches_tracked",
	"4.shortcut.0.weight",
	"4.shortcut.1.weight", "4.shortcut.1.bias", "4.shortcut.1.running_mean",
	"4.shortcut.1.running_var", "4.shortcut.1.num_batches_tracked",
	"6.weight", "6.bias", "6.running_mean", "6.running_var", "6.num_batches_tracked",
	"7.weight", "7.bias",
};

/* The file's header (its length checked against the file), parsed; *data its data. */
static json_t *header_of(const char *path, unsigned char **file, size_t *size, size_t *data_at)
{
	*file = (unsigned char *)testutil_read(path, size);
	ck_assert_ptr_nonnull(*file);
	ck_assert_uint_ge(*size, 8);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | (*file)[i];
	ck_assert_uint_le(n, *size - 8);
	json_error_t je;
	json_t *root = json_loadb((const char *)*file + 8, n, JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(root != NULL, "%s", je.text);
	*data_at = 8 + n;
	return root;
}

START_TEST(test_round_trip_resnet)
{
	struct model m;
	build(&m, resnet, shape(3, 8, 8), 5);
	fill(&m, 3);
	round_trip(&m);

	/* Mammoth's BasicBlock names, one Sequential index an item, in state_dict order. */
	char *path = path_of("model.safetensors");
	unsigned char *file;
	size_t size, data_at;
	json_t *root = header_of(path, &file, &size, &data_at);
	size_t count = sizeof(resnet_names) / sizeof(resnet_names[0]), i = 0;
	ck_assert_uint_eq(json_object_size(root), count + 1);
	const char *key;
	json_t *value;
	json_object_foreach(root, key, value) {
		if (strcmp(key, "__metadata__") == 0)
			continue;
		ck_assert_str_eq(key, resnet_names[i++]);
	}
	ck_assert_uint_eq(i, count);
	json_t *v = json_object_get(root, "4.shortcut.0.weight");
	ck_assert_str_eq(json_string_value(json_object_get(v, "dtype")), "F32");
	json_t *s = json_object_get(v, "shape");
	const json_int_t want[] = {8, 4, 1, 1};
	ck_assert_uint_eq(json_array_size(s), 4);
	for (size_t d = 0; d < 4; d++)
		ck_assert_int_eq(json_integer_value(json_array_get(s, d)), want[d]);
	json_decref(root);
	free(file);
	free(path);
	model_free(&m);
}
END_TEST

/* ---- the bytes, worked out by hand ---- */

/* 1x3x3 in; conv 2 k2: 2x2x2 out, weights [2, 1, 2, 2]; bn over 2 channels; flatten to 8; dense
 * 3: [3, 8]; the head: [2, 3]. Parameters layer by layer, weights then biases (model/model.h):
 * conv w 0-7, b 8-9; bn gamma 10-11, beta 12-13; dense w 14-37, b 38-40; head w 41-46, b
 * 47-48. State: bn's means 0-1, variances 2-3. */
static const char tiny[] = "conv 2 k2, bn, relu, flatten, dense 3, dense";

struct expect {
	const char *name, *dtype;
	size_t rank;
	json_int_t shape[4];
	int state;	   /* from the state, else the parameters (I64: none) */
	size_t from, count; /* floats */
};

static const struct expect tiny_tensors[] = {
	{"0.weight", "F32", 4, {2, 1, 2, 2}, 0, 0, 8},
	{"0.bias", "F32", 1, {2}, 0, 8, 2},
	{"1.weight", "F32", 1, {2}, 0, 10, 2},
	{"1.bias", "F32", 1, {2}, 0, 12, 2},
	{"1.running_mean", "F32", 1, {2}, 1, 0, 2},
	{"1.running_var", "F32", 1, {2}, 1, 2, 2},
	{"1.num_batches_tracked", "I64", 0, {0}, 0, 0, 0},
	{"4.weight", "F32", 2, {3, 8}, 0, 14, 24},
	{"4.bias", "F32", 1, {3}, 0, 38, 3},
	{"5.weight", "F32", 2, {2, 3}, 0, 41, 6},
	{"5.bias", "F32", 1, {2}, 0, 47, 2},
};
#define TINY_TENSORS (sizeof(tiny_tensors) / sizeof(tiny_tensors[0]))

static void tiny_model(struct model *m)
{
	build(m, tiny, shape(1, 3, 3), 2);
	ck_assert_uint_eq(m->num_params, 49);
	ck_assert_uint_eq(m->num_state, 4);
	fill(m, 4);
}

static uint32_t le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

START_TEST(test_layout)
{
	struct model m;
	struct error e = {""};
	tiny_model(&m);
	char *path = path_of("tiny.safetensors");
	const char *const classes[] = {"cat", "dog"};
	ck_assert_msg(safetensors_write(&m, classes, path, &e) == 0, "%s", e.msg);

	unsigned char *file;
	size_t size, data_at;
	json_t *root = header_of(path, &file, &size, &data_at);
	ck_assert_uint_eq(data_at % 8, 0);
	json_t *meta = json_object_get(root, "__metadata__");
	ck_assert_str_eq(json_string_value(json_object_get(meta, "format")), "lethe");
	ck_assert_str_eq(json_string_value(json_object_get(meta, "layers")), tiny);
	ck_assert_str_eq(json_string_value(json_object_get(meta, "input")), "1x3x3");
	ck_assert_str_eq(json_string_value(json_object_get(meta, "classes")),
			 "[\"cat\",\"dog\"]");
	ck_assert_uint_eq(json_object_size(meta), 4);
	ck_assert_uint_eq(json_object_size(root), TINY_TENSORS + 1);

	size_t at = 0;
	for (size_t i = 0; i < TINY_TENSORS; i++) {
		const struct expect *x = &tiny_tensors[i];
		json_t *t = json_object_get(root, x->name);
		ck_assert_msg(t != NULL, "%s is missing", x->name);
		ck_assert_uint_eq(json_object_size(t), 3);
		ck_assert_str_eq(json_string_value(json_object_get(t, "dtype")), x->dtype);
		json_t *s = json_object_get(t, "shape"), *o = json_object_get(t, "data_offsets");
		ck_assert_uint_eq(json_array_size(s), x->rank);
		for (size_t d = 0; d < x->rank; d++)
			ck_assert_int_eq(json_integer_value(json_array_get(s, d)), x->shape[d]);
		size_t bytes = x->count ? 4 * x->count : 8;
		ck_assert_uint_eq(json_array_size(o), 2);
		ck_assert_int_eq(json_integer_value(json_array_get(o, 0)), (json_int_t)at);
		ck_assert_int_eq(json_integer_value(json_array_get(o, 1)), (json_int_t)(at + bytes));
		const unsigned char *b = file + data_at + at;
		if (!x->count) {
			for (size_t k = 0; k < 8; k++)
				ck_assert_uint_eq(b[k], 0);
		}
		for (size_t k = 0; k < x->count; k++) {
			float want = (x->state ? m.state : m.params)[x->from + k];
			uint32_t bits;
			memcpy(&bits, &want, sizeof(bits));
			ck_assert_msg(le32(b + 4 * k) == bits, "%s[%zu]", x->name, k);
		}
		at += bytes;
	}
	ck_assert_uint_eq(data_at + at, size);
	json_decref(root);
	free(file);
	free(path);
	model_free(&m);
}
END_TEST

/* ---- refusals ---- */

/* A file of the header length n (as written, whatever the header's size), header and data. */
static char *put(const char *name, uint64_t n, const char *header, size_t header_len,
		 const unsigned char *data, size_t data_len)
{
	size_t size = 8 + header_len + data_len;
	unsigned char *bytes = malloc(size);
	for (size_t i = 0; i < 8; i++)
		bytes[i] = (unsigned char)(n >> (8 * i));
	memcpy(bytes + 8, header, header_len);
	if (data_len)
		memcpy(bytes + 8 + header_len, data, data_len);
	char *path = testutil_write(testutil_dir, name, bytes, size);
	free(bytes);
	return path;
}

/* The tiny model's file, its header edited by edit (NULL: as it is) and extra bytes of data
 * added; read back into the tiny model, which must refuse it with a message containing want
 * (after "PATH: ") and stay as it was. */
static void refuse_edit(void (*edit)(json_t *root), size_t extra, const char *want)
{
	struct model m;
	struct error e = {""};
	tiny_model(&m);
	char *good = path_of("good.safetensors");
	ck_assert_msg(safetensors_write(&m, NULL, good, &e) == 0, "%s", e.msg);
	unsigned char *file;
	size_t size, data_at;
	json_t *root = header_of(good, &file, &size, &data_at);
	if (edit)
		edit(root);
	char *text = json_dumps(root, JSON_COMPACT);
	size_t data_len = size - data_at + extra;
	unsigned char *data = calloc(data_len, 1);
	memcpy(data, file + data_at, size - data_at);
	char *bad = put("bad.safetensors", strlen(text), text, strlen(text), data, data_len);

	float *params = malloc(m.num_params * sizeof(float));
	memcpy(params, m.params, m.num_params * sizeof(float));
	memset(m.params, 0, m.num_params * sizeof(float));
	ck_assert_int_eq(safetensors_read(&m, bad, &e), -1);
	char prefix[4096];
	snprintf(prefix, sizeof(prefix), "%s: ", bad);
	ck_assert_msg(strncmp(e.msg, prefix, strlen(prefix)) == 0, "'%s' does not name the file",
		      e.msg);
	ck_assert_has(e.msg, want);
	ck_assert_ptr_null(strchr(e.msg, '\n'));
	for (size_t i = 0; i < m.num_params; i++)
		ck_assert_float_eq(m.params[i], 0);
	/* The edit is what makes it bad: the good file reads. */
	ck_assert_msg(safetensors_read(&m, good, &e) == 0, "%s", e.msg);
	ck_assert(memcmp(m.params, params, m.num_params * sizeof(float)) == 0);

	free(params);
	free(data);
	free(text);
	free(file);
	json_decref(root);
	free(good);
	free(bad);
	model_free(&m);
}

static void set_offsets(json_t *root, const char *name, json_int_t begin, json_int_t end)
{
	json_object_set_new(json_object_get(root, name), "data_offsets",
			    json_pack("[I, I]", begin, end));
}

static json_int_t offset(json_t *root, const char *name, size_t which)
{
	json_t *o = json_object_get(json_object_get(root, name), "data_offsets");
	return json_integer_value(json_array_get(o, which));
}

static void past_the_data(json_t *root)
{
	set_offsets(root, "5.bias", offset(root, "5.bias", 0), offset(root, "5.bias", 1) + 4);
}

static void overlapping(json_t *root)
{
	set_offsets(root, "1.running_mean", offset(root, "1.weight", 0),
		    offset(root, "1.weight", 1));
}

static void wrong_dtype(json_t *root)
{
	json_object_set_new(json_object_get(root, "0.weight"), "dtype", json_string("I32"));
}

static void unknown_dtype(json_t *root)
{
	json_object_set_new(json_object_get(root, "0.weight"), "dtype", json_string("Q4"));
}

static void missing(json_t *root)
{
	json_object_del(root, "5.bias");
}

static void unexpected(json_t *root)
{
	json_object_set(root, "6.weight", json_object_get(root, "5.bias"));
}

static void wrong_size(json_t *root)
{
	json_object_set_new(json_object_get(root, "0.weight"), "shape",
			    json_pack("[i, i, i, i]", 2, 1, 2, 3));
}

static void not_an_entry(json_t *root)
{
	json_object_set_new(root, "0.bias", json_string("F32"));
}

static void bad_metadata(json_t *root)
{
	json_object_set_new(json_object_get(root, "__metadata__"), "format", json_integer(1));
}

static void negative_dimension(json_t *root)
{
	json_object_set_new(json_object_get(root, "0.bias"), "shape", json_pack("[i]", -2));
}

static void reversed_offsets(json_t *root)
{
	set_offsets(root, "0.bias", offset(root, "0.bias", 1), offset(root, "0.bias", 0));
}

START_TEST(test_refuse_header)
{
	refuse_edit(past_the_data, 0, "tensor 5.bias: data_offsets [");
	refuse_edit(overlapping, 0, "tensors 1.weight and 1.running_mean overlap");
	refuse_edit(NULL, 4, "bytes 220 to 224 of the data are in no tensor");
	refuse_edit(wrong_dtype, 0, "tensor 0.weight is I32, the model wants F32");
	refuse_edit(unknown_dtype, 0, "tensor 0.weight has an unknown dtype 'Q4'");
	refuse_edit(missing, 0, "tensor 5.bias is missing");
	refuse_edit(unexpected, 0, "unexpected tensor 6.weight");
	refuse_edit(wrong_size, 0, "tensor 0.weight: data_offsets [0, 32] hold 32 bytes, its "
				   "shape and dtype 48");
	refuse_edit(not_an_entry, 0, "tensor 0.bias is not {");
	refuse_edit(bad_metadata, 0, "__metadata__ format is not a string");
	refuse_edit(negative_dimension, 0, "tensor 0.bias: its shape's dimension 0");
	refuse_edit(reversed_offsets, 0, "tensor 0.bias: data_offsets is not [begin, end]");
}
END_TEST

/* A file of raw bytes, read into the tiny model: refused with want. */
static void refuse_bytes(uint64_t n, const char *header, size_t data_len, const char *want)
{
	struct model m;
	struct error e = {""};
	tiny_model(&m);
	unsigned char data[16] = {0};
	ck_assert_uint_le(data_len, sizeof(data));
	char *bad = put("bad.safetensors", n, header, strlen(header), data, data_len);
	ck_assert_int_eq(safetensors_read(&m, bad, &e), -1);
	ck_assert_has(e.msg, bad);
	ck_assert_has(e.msg, want);
	ck_assert_ptr_null(strchr(e.msg, '\n'));
	free(bad);
	model_free(&m);
}

START_TEST(test_refuse_bytes)
{
	/* A header longer than the file, by a little and by 2^64 - 1: nothing allocated. */
	refuse_bytes(100, "{}", 0, "a header of 100 bytes runs past the end of the file (10 "
				   "bytes)");
	refuse_bytes(UINT64_MAX, "{}", 0, "a header of 18446744073709551615 bytes runs past");
	refuse_bytes(3, "{\"a", 0, "the header is not JSON");
	refuse_bytes(10, "{\"0.weight\"", 0, "the header is not JSON");
	refuse_bytes(2, "[]", 0, "the header does not start with '{'");
	refuse_bytes(0, "", 4, "the header does not start with '{'");
	/* A control character in the text quoted: still one line. */
	refuse_bytes(4, "{\"\n\"", 0, "the header is not JSON");
	refuse_bytes(2, "{}", 0, "tensor 0.weight is missing");
	refuse_bytes(16, "{\"a\": 1, \"a\": 2}", 0, "the header is not JSON");

	/* Shorter than the length itself. */
	struct model m;
	struct error e = {""};
	tiny_model(&m);
	char *bad = testutil_write(testutil_dir, "short.safetensors", "\x02\0\0", 3);
	ck_assert_int_eq(safetensors_read(&m, bad, &e), -1);
	ck_assert_has(e.msg, "3 bytes, too short for the 8-byte header length");
	free(bad);
	bad = path_of("absent.safetensors");
	ck_assert_int_eq(safetensors_read(&m, bad, &e), -1);
	ck_assert_has(e.msg, bad);
	free(bad);
	model_free(&m);
}
END_TEST

START_TEST(test_refuse_shape)
{
	struct model m, other;
	struct error e = {""};
	tiny_model(&m);
	build(&other, "conv 3 k2, bn, relu, flatten, dense 3, dense", shape(1, 3, 3), 2);
	char *path = path_of("other.safetensors");
	ck_assert_int_eq(safetensors_write(&other, NULL, path, &e), 0);
	ck_assert_int_eq(safetensors_read(&m, path, &e), -1);
	char want[4096];
	snprintf(want, sizeof(want), "%s: tensor 0.weight has shape [3, 1, 2, 2], the model wants "
				     "[2, 1, 2, 2]",
		 path);
	ck_assert_str_eq(e.msg, want);
	model_free(&other);

	/* Batch norm where the model has a dense layer: the shapes differ. */
	build(&other, "conv 2 k2, bn, relu, flatten, bn, dense 3, dense", shape(1, 3, 3), 2);
	ck_assert_int_eq(safetensors_write(&other, NULL, path, &e), 0);
	ck_assert_int_eq(safetensors_read(&m, path, &e), -1);
	ck_assert_has(e.msg, "tensor 4.weight has shape [8], the model wants [3, 8]");
	model_free(&other);
	free(path);
	model_free(&m);
}
END_TEST

/* Values the model cannot run on, refused, the model left as it was. */
START_TEST(test_refuse_values)
{
	struct model m, back;
	struct error e = {""};
	tiny_model(&m);
	build(&back, tiny, shape(1, 3, 3), 2);
	memset(back.params, 0, back.num_params * sizeof(float));
	char *path = path_of("values.safetensors");

	m.params[47] = NAN; /* the head's bias, read last */
	ck_assert_int_eq(safetensors_write(&m, NULL, path, &e), 0);
	ck_assert_int_eq(safetensors_read(&back, path, &e), -1);
	ck_assert_has(e.msg, "tensor 5.bias holds nan at [0]");
	m.params[47] = INFINITY;
	ck_assert_int_eq(safetensors_write(&m, NULL, path, &e), 0);
	ck_assert_int_eq(safetensors_read(&back, path, &e), -1);
	ck_assert_has(e.msg, "tensor 5.bias holds inf at [0]");
	m.params[47] = 0;
	m.state[3] = -0.5f;
	ck_assert_int_eq(safetensors_write(&m, NULL, path, &e), 0);
	ck_assert_int_eq(safetensors_read(&back, path, &e), -1);
	ck_assert_has(e.msg, "tensor 1.running_var holds -0.5 at [1], a negative variance");
	for (size_t i = 0; i < back.num_params; i++)
		ck_assert_float_eq(back.params[i], 0);
	free(path);
	model_free(&back);
	model_free(&m);
}
END_TEST

START_TEST(test_write_errors)
{
	struct model m;
	struct error e = {""};
	tiny_model(&m);
	char *path = path_of("no/such/dir/model.safetensors");
	ck_assert_int_eq(safetensors_write(&m, NULL, path, &e), -1);
	ck_assert_has(e.msg, "model.safetensors");
	free(path);
	path = path_of("dir/");
	ck_assert_int_eq(safetensors_write(&m, NULL, path, &e), -1);
	ck_assert_has(e.msg, "not a file name");
	free(path);
	const char *const classes[] = {"ok", "\xff"};
	path = path_of("model.safetensors");
	ck_assert_int_eq(safetensors_write(&m, classes, path, &e), -1);
	ck_assert_has(e.msg, "class 1's name is not UTF-8");
	free(path);
	model_free(&m);
}
END_TEST

static Suite *safetensors_suite(void)
{
	Suite *s = suite_create("safetensors");
	TCase *tc = tcase_create("round trip");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_round_trip_mlp);
	tcase_add_test(tc, test_round_trip_cnn);
	tcase_add_test(tc, test_round_trip_resnet);
	tcase_add_test(tc, test_layout);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusals");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_refuse_header);
	tcase_add_test(tc, test_refuse_bytes);
	tcase_add_test(tc, test_refuse_shape);
	tcase_add_test(tc, test_refuse_values);
	tcase_add_test(tc, test_write_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(safetensors_suite());
}
