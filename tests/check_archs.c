/* Every shipped plugin, and sdk/example's LwF, on models beyond the MLP: a tiny convolutional
 * net with batch norm and a tiny residual net (free lists over synthetic data, 1 x 1 x 16
 * inputs), each learning two tasks of a few batches with the plugin, the unlearning plugins
 * through a forget step. Each run must succeed and leave its parameters and batch norm's
 * running statistics finite; the plugins' arithmetic is checked against references on the MLP
 * in their own suites. And train.threads = 2 repeats its bits, and ABI 1.2's services describe
 * the residual net's layers and state. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "model/elementwise.h"
#include "scenario/scenario.h"
#include "testutil.h"

static const char *const models[] = {
	"layers = conv 4 k3 p1, bn, relu, conv 6 k3 s2 p1, relu, flatten, dense 8, relu, dense",
	"layers = conv 4 k3 p1 nobias, bn, relu, res 4, res 6 s2, gap, dense",
};

/* A plugin and its section; for an unlearning plugin, the forget step that calls it. */
static const struct {
	const char *plugin, *section;
	int unlearns;
} cases[] = {
	{ "ewc", "fisher = exact\n", 0 },
	{ "ewc", "fisher = sampled\n", 0 },
	{ "ewc", "fisher = empirical\nmode = online\n", 0 },
	{ "ewc", "fisher = batched\n", 0 },
	{ "l2", "lambda = 0.1\n", 0 },
	{ "rehearsal", "max_stored = 16\n", 0 },
	{ "ovor", "", 0 },
	{ "lwf", "", 0 },
	{ "gem", "memory_per_task = 12\n", 0 },
	{ "agem", "max_stored = 16\n", 0 },
	{ "gdumb", "max_stored = 16\nepochs = 1\n", 0 },
	{ "icarl", "max_stored = 16\n", 0 },
	{ "bic", "max_stored = 16\nbias_epochs = 2\n", 0 },
	{ "sfd", "synth = 16\n", 1 },
	{ "repulsion", "unlearn_steps = 5\n", 1 },
	{ "neggrad", "epochs = 1\n", 1 },
	{ "l1sparse", "epochs = 2\n", 1 },
	{ "scrub", "epochs = 2\nmsteps = 1\nlr = 0.005\n", 1 },
	{ "salun", "epochs = 1\n", 1 },
	{ "badteacher", "retain_fraction = 0.2\n", 1 },
	{ "ssd", "", 1 },
};
#define NUM_CASES (sizeof(cases) / sizeof(cases[0]))

/* Opens and runs the scenario `text` (its plugins from the build tree and tests/plugins);
 * returns the engine, still open. */
static struct engine *run_text(const char *text, struct scenario *s, struct plugin_path *pp)
{
	char dirs[8400];
	char *ini = testutil_write_text(testutil_dir, "arch.ini", text);
	struct error err;
	ck_assert_msg(scenario_load(s, ini, NULL, 0, &err) == 0, "%s", err.msg);
	free(ini);
	snprintf(dirs, sizeof(dirs), "%s:%s", getenv("LETHE_BUILD_PLUGINS"),
		 getenv("LETHE_TEST_PLUGINS"));
	plugin_path_init(pp, dirs);
	struct engine *e = malloc(sizeof(*e));
	ck_assert_msg(engine_open(e, s, pp, &err) == 0, "%s", err.msg);
	ck_assert_msg(engine_run(e, testutil_dir, &err) == 0, "%s", err.msg);
	return e;
}

static void close_run(struct engine *e, struct scenario *s, struct plugin_path *pp)
{
	engine_close(e);
	free(e);
	plugin_path_free(pp);
	scenario_free(s);
}

static void run_case(size_t model, size_t c)
{
	char text[4096];
	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = class-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 16\ntrain_per_class = 24\n"
		 "test_per_class = 6\n[tasks]\nsplit = 2\n[model]\n%s\n"
		 "[train]\nlr = 0.05\nbatch_size = 12\nepochs = 1\n[%s]\n%s%s%s",
		 cases[c].plugin, models[model], cases[c].plugin, cases[c].section,
		 cases[c].unlearns ? "[forget1]\nafter = 2\nwhat = class\nclasses = 1\nplugin = " : "",
		 cases[c].unlearns ? cases[c].plugin : "");
	if (cases[c].unlearns)
		strcat(text, "\nreferences = finetune\n");
	struct scenario s;
	struct plugin_path pp;
	struct engine *e = run_text(text, &s, &pp);
	ck_assert_uint_gt(e->model.num_state, 0);
	ck_assert_uint_eq(elementwise_count_nonfinite(e->model.params, e->model.num_params), 0);
	ck_assert_uint_eq(elementwise_count_nonfinite(e->model.state, e->model.num_state), 0);
	close_run(e, &s, &pp);
}

START_TEST(test_plugin_on_cnn)
{
	run_case(0, (size_t)_i);
}
END_TEST

START_TEST(test_plugin_on_resnet)
{
	run_case(1, (size_t)_i);
}
END_TEST

/* Two threads split every batch (the residual net's convolutions, batch norm's sums, the dense
 * layers' gradients): a second run gives the same parameters and state, bit for bit. */
START_TEST(test_threads_repeat)
{
	char text[4096];
	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = class-incremental\nplugins = ewc\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 16\ntrain_per_class = 24\n"
		 "test_per_class = 6\n[tasks]\nsplit = 2\n[model]\n%s\n"
		 "[train]\nlr = 0.05\nbatch_size = 12\nepochs = 1\nthreads = 2\n", models[1]);
	struct scenario s1, s2;
	struct plugin_path p1, p2;
	struct engine *a = run_text(text, &s1, &p1), *b = run_text(text, &s2, &p2);
	ck_assert_uint_eq(a->model.threads, 2);
	ck_assert(!memcmp(a->model.params, b->model.params, a->model.num_params * sizeof(float)));
	ck_assert(!memcmp(a->model.state, b->model.state, a->model.num_state * sizeof(float)));
	close_run(a, &s1, &p1);
	close_run(b, &s2, &p2);
}
END_TEST

/* ABI 1.2 on the residual net: every layer's kind, shapes and blocks; the state; the modes
 * (the host's model not settable, a clone's is); copies; the input's gradient. */
START_TEST(test_services_describe_net)
{
	char text[4096];
	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = class-incremental\nplugins = l2\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 16\ntrain_per_class = 24\n"
		 "test_per_class = 6\n[tasks]\nsplit = 2\n[model]\n%s\n"
		 "[train]\nlr = 0.05\nbatch_size = 12\nepochs = 1\n", models[1]);
	struct scenario s;
	struct plugin_path pp;
	struct engine *e = run_text(text, &s, &pp);
	const lethe_host *h = &e->plugins[0].host;
	struct services_ctx *c = &e->plugins[0].svc;
	const lethe_run_info *run = h->run_info(h);
	ck_assert_uint_eq(run->input_channels, 1);
	ck_assert_uint_eq(run->input_height, 1);
	ck_assert_uint_eq(run->input_width, 16);
	lethe_model *m = h->model(h);
	/* conv, bn; res 4: two convs and bns; res 6 s2: two and a 1x1 shortcut's; the head. */
	ck_assert_uint_eq(h->model_num_layers(h, m), 13);
	lethe_layer l = { .struct_size = sizeof(l) };
	ck_assert_int_eq(h->model_layer(h, m, 0, &l), LETHE_OK);
	ck_assert_int_eq(l.kind, LETHE_LAYER_CONV2D);
	ck_assert(l.in_shape.c == 1 && l.in_shape.h == 1 && l.in_shape.w == 16);
	ck_assert(l.out_shape.c == 4 && l.out_shape.h == 1 && l.out_shape.w == 16);
	ck_assert(l.kernel == 3 && l.stride == 1 && l.padding == 1);
	ck_assert_uint_eq(l.weight_count, 4 * 1 * 3 * 3);
	ck_assert_uint_eq(l.bias_count, 0);
	ck_assert_uint_eq(l.in, 16);
	ck_assert_uint_eq(l.out, 64);
	ck_assert_int_eq(h->model_layer(h, m, 1, &l), LETHE_OK);
	ck_assert_int_eq(l.kind, LETHE_LAYER_BATCHNORM);
	ck_assert(l.weight_count == 4 && l.bias_count == 4 && l.kernel == 0);
	ck_assert_int_eq(h->model_layer(h, m, 12, &l), LETHE_OK);
	ck_assert_int_eq(l.kind, LETHE_LAYER_DENSE);
	ck_assert(l.is_head && l.in == 6 && l.out == 4 && l.weight_count == 24);
	uint64_t count;
	float *state = h->model_state(h, m, &count);
	ck_assert_uint_eq(count, 2 * (4 + 2 * 4 + 3 * 6));
	ck_assert_ptr_eq(state, e->model.state);

	services_enter(c);
	ck_assert_int_eq(h->model_is_training(h, m), 0);
	ck_assert_int_eq(h->model_set_training(h, m, 1), LETHE_ERR_INVALID);
	ck_assert_has(c->error, "the host sets its own model's mode");
	lethe_model *clone = h->model_clone(h, m);
	ck_assert_ptr_nonnull(clone);
	ck_assert_int_eq(h->model_is_training(h, clone), 0);
	ck_assert_int_eq(h->model_set_training(h, clone, 1), LETHE_OK);
	ck_assert_int_eq(h->model_is_training(h, clone), 1);
	float *cstate = h->model_state(h, clone, NULL);
	ck_assert(!memcmp(cstate, state, count * sizeof(float)));
	cstate[0] += 1.0f;
	ck_assert_int_eq(h->model_copy(h, clone, m), LETHE_OK);
	ck_assert(!memcmp(cstate, state, count * sizeof(float)));

	/* A forward in training mode moves the clone's running statistics, and the input's
	 * gradient comes back for every value. */
	float x[2 * 16], logits[2 * 4], dx[2 * 16];
	for (size_t i = 0; i < 32; i++)
		x[i] = (float)(i % 5) / 4.0f;
	ck_assert_int_eq(h->model_forward(h, clone, x, 2, logits), LETHE_OK);
	ck_assert(memcmp(cstate, state, count * sizeof(float)) != 0);
	for (size_t i = 0; i < 8; i++)
		logits[i] = i % 4 == 1 ? -1.0f : 0.25f;
	ck_assert_int_eq(h->model_backward_input(h, clone, logits, 2, dx), LETHE_OK);
	ck_assert_uint_eq(elementwise_count_nonfinite(dx, 32), 0);
	ck_assert_int_eq(h->model_backward_input(h, clone, logits, 2, NULL), LETHE_ERR_INVALID);
	ck_assert_has(c->error, "model_backward_input: dx is NULL");
	ck_assert_int_eq(h->model_grad_stats(h, clone, logits, 1, 1, 2, 1.0f, dx, NULL),
			 LETHE_ERR_INVALID);
	ck_assert_has(c->error, "n differs from the last forward");
	h->model_free(h, clone);
	close_run(e, &s, &pp);
}
END_TEST

static Suite *archs_suite(void)
{
	Suite *s = suite_create("archs");
	TCase *tc = tcase_create("plugins");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_loop_test(tc, test_plugin_on_cnn, 0, NUM_CASES);
	tcase_add_loop_test(tc, test_plugin_on_resnet, 0, NUM_CASES);
	tcase_add_test(tc, test_threads_repeat);
	tcase_add_test(tc, test_services_describe_net);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(archs_suite());
}
