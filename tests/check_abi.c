/* ABI compatibility: plugins built against released SDK headers (tests/abi/) keep loading and
 * working in this host; plugins from a future it cannot know are refused, naming both versions. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/plugin_loader.h"
#include "model/loss.h"
#include "scenario/scenario.h"
#include "testutil.h"

static char plugin_dir[4096];

static void setup(void)
{
	const char *d = getenv("LETHE_TEST_PLUGINS");
	snprintf(plugin_dir, sizeof(plugin_dir), "%s", d && *d ? d : "tests/plugins/.libs");
	testutil_setup();
}

struct capture {
	char last[512];
	size_t logs;
};

static void capture(void *ctx, const struct event *ev)
{
	struct capture *c = ctx;
	if (ev->kind == EVENT_LOG) {
		snprintf(c->last, sizeof(c->last), "%s", ev->msg);
		c->logs++;
	}
}

/* The hooks plugin built against released headers 1.minor runs a whole scenario, every hook
 * included, in this host, on the model `model` describes; the engine is left open in e. */
static void run_old_plugin(struct engine *e, struct scenario *s, struct plugin_path *pp,
			   unsigned minor, const char *model)
{
	char path[4200], text[8192];
	snprintf(path, sizeof(path), "%s/hooks_v1_%u.so", plugin_dir, minor);
	struct plugin_file pf;
	struct error err;
	ck_assert_msg(plugin_file_open(&pf, path, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(pf.plugin_abi.major, 1);
	ck_assert_uint_eq(pf.plugin_abi.minor, minor);
	ck_assert_uint_lt(pf.plugin_abi.minor, LETHE_ABI_MINOR);
	plugin_file_close(&pf);

	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = task-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 50\n"
		 "test_per_class = 10\n[tasks]\nsplit = 2\n[model]\n%s\n"
		 "[train]\nlr = 0.05\nbatch_size = 25\nepochs = 1\n"
		 "[hooks_v1_%u]\nappend = true\npenalty = 0.001\n", path, model, minor);
	char *ini = testutil_write_text(testutil_dir, "abi.ini", text);
	ck_assert_msg(scenario_load(s, ini, NULL, 0, &err) == 0, "%s", err.msg);
	plugin_path_init(pp, NULL);
	ck_assert_msg(engine_open(e, s, pp, &err) == 0, "%s", err.msg);
	struct capture c = { .logs = 0 };
	engine_add_sink(e, capture, &c);
	ck_assert_msg(engine_run(e, testutil_dir, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(c.last, "after_task before_task=2 on_batch=8 on_logits=8 on_gradient=8 "
				 "after_batch=8 after_task=2 on_forget=0 forgotten=0");
	free(ini);
}

static void close_run(struct engine *e, struct scenario *s, struct plugin_path *pp)
{
	engine_close(e);
	plugin_path_free(pp);
	scenario_free(s);
}

START_TEST(test_v1_0_plugin_runs)
{
	struct engine e;
	struct scenario s;
	struct plugin_path pp;
	run_old_plugin(&e, &s, &pp, 0, "hidden = 8");
	/* Built against 1.0, its instance table stops before the 1.1 hooks; the host reads them
	 * as absent. */
	ck_assert_uint_lt(e.plugins[0].inst->struct_size, sizeof(lethe_plugin));
	ck_assert_ptr_null(e.plugins[0].hooks.head_epochs);
	close_run(&e, &s, &pp);
}
END_TEST

/* A 1.1 plugin runs on an MLP and, reading only its head, on a convolutional net with batch
 * norm; asked for a layer that is not dense, the host refuses with the reason. */
START_TEST(test_v1_1_plugin_runs)
{
	struct engine e;
	struct scenario s;
	struct plugin_path pp;
	run_old_plugin(&e, &s, &pp, 1, "hidden = 8");
	close_run(&e, &s, &pp);

	run_old_plugin(&e, &s, &pp, 1, "layers = conv 4 k3 p1, bn, relu, flatten, dense");
	const lethe_host *h = &e.plugins[0].host;
	lethe_model *m = h->model(h);
	ck_assert_uint_eq(h->model_num_layers(h, m), 3);
	/* The 1.1 layer: the fields up to delta. */
	lethe_layer layer = { .struct_size = offsetof(lethe_layer, delta) + sizeof(void *) };
	services_enter(&e.plugins[0].svc);
	ck_assert_int_eq(h->model_layer(h, m, 0, &layer), LETHE_ERR_INVALID);
	ck_assert_has(e.plugins[0].svc.error, "layer 0 is a convolution; the plugin was built "
					      "against ABI 1.1, which knows dense layers only");
	ck_assert_int_eq(h->model_layer(h, m, 1, &layer), LETHE_ERR_INVALID);
	ck_assert_has(e.plugins[0].svc.error, "layer 1 is a batch norm");
	ck_assert_int_eq(h->model_layer(h, m, 2, &layer), LETHE_OK);
	ck_assert_int_eq(layer.is_head, 1);
	ck_assert_uint_eq(layer.in, 4 * 8);
	ck_assert_uint_eq(layer.out, 4);
	close_run(&e, &s, &pp);
}
END_TEST

/* A 1.2 plugin runs on an MLP and on a convolutional net with batch norm, and sees every
 * layer's kind and shape. */
START_TEST(test_v1_2_plugin_runs)
{
	struct engine e;
	struct scenario s;
	struct plugin_path pp;
	run_old_plugin(&e, &s, &pp, 2, "hidden = 8");
	close_run(&e, &s, &pp);

	run_old_plugin(&e, &s, &pp, 2, "layers = conv 4 k3 p1, bn, relu, flatten, dense");
	const lethe_host *h = &e.plugins[0].host;
	lethe_model *m = h->model(h);
	/* The 1.2 layer: the fields up to bias_count. */
	lethe_layer layer = { .struct_size = offsetof(lethe_layer, bias_count) + sizeof(uint64_t) };
	services_enter(&e.plugins[0].svc);
	ck_assert_int_eq(h->model_layer(h, m, 0, &layer), LETHE_OK);
	ck_assert_int_eq(layer.kind, LETHE_LAYER_CONV2D);
	ck_assert_uint_eq(layer.kernel, 3);
	ck_assert_int_eq(h->model_layer(h, m, 1, &layer), LETHE_OK);
	ck_assert_int_eq(layer.kind, LETHE_LAYER_BATCHNORM);
	ck_assert_uint_eq(layer.weight_count, 4);
	close_run(&e, &s, &pp);
}
END_TEST

/* ---- ABI 1.3 ---- */

/* The current hooks plugin on synthetic data (4 classes, 2 tasks) under protocol, its section
 * `section`, on the model `model`: opened, and run when `run` is set. */
static void open_current(struct engine *e, struct scenario *s, struct plugin_path *pp,
			 const char *protocol, const char *model, const char *section, int run)
{
	char text[8192];
	snprintf(text, sizeof(text),
		 "[scenario]\nprotocol = %s\nplugins = %s/hooks.so\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 16\ntrain_per_class = 24\n"
		 "test_per_class = 10\n[tasks]\nsplit = 2\n[model]\n%s\n"
		 "[train]\nlr = 0.05\nbatch_size = 12\nepochs = 1\n[hooks]\n%s\n", protocol,
		 plugin_dir, model, section);
	char *ini = testutil_write_text(testutil_dir, "abi13.ini", text);
	struct error err;
	ck_assert_msg(scenario_load(s, ini, NULL, 0, &err) == 0, "%s", err.msg);
	free(ini);
	plugin_path_init(pp, NULL);
	ck_assert_msg(engine_open(e, s, pp, &err) == 0, "%s", err.msg);
	if (run)
		ck_assert_msg(engine_run(e, testutil_dir, &err) == 0, "%s", err.msg);
}

/* on_predict rewrites every test row's logits to favour class 3: a class-incremental task
 * scores the share of class 3 in its test set (10 of 20, or 0 without it), a task-incremental
 * one the share of the lowest class its mask allows when 3 is not its own (ties go to the
 * lowest index): 0.5 either way. Every row of the matrix, the untrained one included. */
START_TEST(test_on_predict_rewrites_logits)
{
	const char *protocols[] = { "class-incremental", "task-incremental" };
	for (int p = 0; p < 2; p++) {
		struct engine e;
		struct scenario s;
		struct plugin_path pp;
		open_current(&e, &s, &pp, protocols[p], "hidden = 8", "predict_class = 3", 1);
		size_t T = e.tasks.count;
		for (size_t j = 0; j < T; j++) {
			const struct task *t = &e.tasks.t[j];
			int has3 = 0;
			for (uint32_t c = 0; c < t->num_classes; c++)
				has3 |= t->classes[c] == 3;
			double want = has3 || p == 1 ? 0.5 : 0.0;
			ck_assert_double_eq(e.b[j], want);
			for (size_t k = 0; k < T; k++)
				ck_assert_double_eq(e.R[k * T + j], want);
		}
		close_run(&e, &s, &pp);
	}
}
END_TEST

/* The unlearning figures go through on_predict too: with every row predicted class 1, forgetting
 * class 0 after both tasks leaves no forgotten row right (UA 1) and a third of the retained
 * training rows and of the test rows of classes 1-3 right (RA = TA = 1/3, the classes being
 * equal in size), whatever the model learned. */
START_TEST(test_on_predict_in_unlearning_figures)
{
	struct engine e;
	struct scenario s;
	struct plugin_path pp;
	open_current(&e, &s, &pp, "class-incremental", "hidden = 8",
		     "predict_class = 1\n[forget1]\nafter = 2\nclasses = 0\n", 1);
	ck_assert_uint_eq(e.num_unlearning, 1);
	const struct forget_figures *f = &e.unlearning[0].figures;
	ck_assert_double_eq_tol(f->ua, 1.0, 1e-12);
	ck_assert_double_eq_tol(f->ra, 1.0 / 3.0, 1e-12);
	ck_assert_double_eq_tol(f->ta, 1.0 / 3.0, 1e-12);
	close_run(&e, &s, &pp);
}
END_TEST

/* model_initial is the model before the first batch: its clone has those parameters after the
 * run, it is refused where it would be written, and model_copy from it restores them. */
START_TEST(test_model_initial)
{
	struct engine e;
	struct scenario s;
	struct plugin_path pp;
	open_current(&e, &s, &pp, "class-incremental",
		     "layers = conv 3 k3 p1, bn, relu, flatten, dense", "", 0);
	size_t P = e.model.num_params, S = e.model.num_state;
	float *before = malloc((P + S) * sizeof(float));
	memcpy(before, e.model.params, P * sizeof(float));
	memcpy(before + P, e.model.state, S * sizeof(float));
	struct error err;
	ck_assert_msg(engine_run(&e, testutil_dir, &err) == 0, "%s", err.msg);
	ck_assert(memcmp(before, e.model.params, P * sizeof(float)) != 0);

	const lethe_host *h = &e.plugins[0].host;
	services_enter(&e.plugins[0].svc);
	const lethe_model *init = h->model_initial(h);
	ck_assert_ptr_nonnull(init);
	ck_assert_uint_eq(h->model_num_layers(h, init), 3);
	lethe_model *c = h->model_clone(h, init);
	ck_assert_ptr_nonnull(c);
	uint64_t n;
	ck_assert(!memcmp(h->model_params(h, c, &n), before, P * sizeof(float)));
	ck_assert(!memcmp(h->model_state(h, c, &n), before + P, S * sizeof(float)));
	ck_assert_ptr_null(h->model_params(h, (lethe_model *)init, NULL));
	ck_assert_has(e.plugins[0].svc.error, "model_params: m is the initial model, which is "
					      "read-only; model_clone it");
	services_enter(&e.plugins[0].svc);
	ck_assert_int_eq(h->model_copy(h, (lethe_model *)init, h->model(h)), LETHE_ERR_INVALID);
	ck_assert_int_eq(h->model_copy(h, h->model(h), init), LETHE_OK);
	ck_assert(!memcmp(e.model.params, before, P * sizeof(float)));
	ck_assert(!memcmp(e.model.state, before + P, S * sizeof(float)));
	free(before);
	close_run(&e, &s, &pp);
}
END_TEST

/* The host's model's training state in the middle of a batch: what model_rows_gradient must
 * leave alone. */
struct snapshot {
	float *params, *grads, *state, *input, *delta;
	size_t P, S, in, out;
};

static void snapshot_take(struct snapshot *t, const struct model *m)
{
	struct model_view v;
	model_view(m, model_num_views(m) - 1, &v);
	t->P = m->num_params, t->S = m->num_state;
	t->in = m->rows * v.in, t->out = m->rows * v.out;
	t->params = malloc(t->P * sizeof(float));
	t->grads = malloc(t->P * sizeof(float));
	t->state = malloc((t->S + 1) * sizeof(float));
	t->input = malloc(t->in * sizeof(float));
	t->delta = malloc(t->out * sizeof(float));
	memcpy(t->params, m->params, t->P * sizeof(float));
	memcpy(t->grads, m->grads, t->P * sizeof(float));
	memcpy(t->state, m->state, t->S * sizeof(float));
	memcpy(t->input, v.input, t->in * sizeof(float));
	memcpy(t->delta, v.delta, t->out * sizeof(float));
}

static void snapshot_same(const struct snapshot *t, const struct model *m)
{
	struct model_view v;
	model_view(m, model_num_views(m) - 1, &v);
	ck_assert(!memcmp(t->params, m->params, t->P * sizeof(float)));
	ck_assert(!memcmp(t->grads, m->grads, t->P * sizeof(float)));
	ck_assert(!memcmp(t->state, m->state, t->S * sizeof(float)));
	ck_assert(!memcmp(t->input, v.input, t->in * sizeof(float)));
	ck_assert(!memcmp(t->delta, v.delta, t->out * sizeof(float)));
	free(t->params);
	free(t->grads);
	free(t->state);
	free(t->input);
	free(t->delta);
}

/* model_rows_gradient on an MLP and a CNN with batch norm (after a convolution and after a
 * dense layer), task-incremental (masked): in the middle of a batch of the host's model
 * (forward in training mode and backward done), it leaves the model's parameters, gradients,
 * running statistics and the batch's activations and deltas as they were; its gradient and
 * loss are a plain backward's on a clone in training mode (the same arithmetic, to rounding),
 * and its gradient the central differences of its loss. */
START_TEST(test_rows_gradient)
{
	const char *models[] = { "hidden = 8",
				 "layers = conv 3 k3 p1, bn, relu, flatten, dense 6, bn, relu, "
				 "dense" };
	for (int mi = 0; mi < 2; mi++) {
		struct engine e;
		struct scenario s;
		struct plugin_path pp;
		open_current(&e, &s, &pp, "task-incremental", models[mi], "", 1);
		const lethe_host *h = &e.plugins[0].host;
		services_enter(&e.plugins[0].svc);
		lethe_model *m = h->model(h);
		size_t n = 10, nb = 12, D = 16, C = 4, P = e.model.num_params;
		uint64_t pos[12];
		float x[12 * 16], xb[12 * 16], logits[12 * 4], dl[12 * 4];
		int32_t y[12], yb[12];
		uint32_t tasks[12];
		for (size_t i = 0; i < nb; i++)
			pos[i] = 2 * i;
		/* rows of both tasks, and a batch of task 1 under way */
		ck_assert_int_eq(h->task_load(h, 0, LETHE_SPLIT_TRAIN, pos, 5, x, y, NULL), 0);
		ck_assert_int_eq(h->task_load(h, 1, LETHE_SPLIT_TRAIN, pos, 5, x + 5 * D, y + 5,
					      NULL), 0);
		for (size_t i = 0; i < n; i++)
			tasks[i] = i >= 5;
		ck_assert_int_eq(h->task_load(h, 1, LETHE_SPLIT_TRAIN, pos, nb, xb, yb, NULL), 0);
		struct error err;
		e.model.training = 1;
		ck_assert_int_eq(model_forward(&e.model, xb, nb, logits, &err), 0);
		e.model.training = 0;
		loss_softmax_ce(logits, nb, C, yb, NULL, dl);
		model_backward(&e.model, dl);
		struct snapshot snap;
		snapshot_take(&snap, &e.model);

		float *grad = malloc(P * sizeof(float));
		double loss;
		ck_assert_int_eq(h->model_rows_gradient(h, m, x, y, tasks, n, grad, &loss),
				 LETHE_OK);
		snapshot_same(&snap, &e.model);

		/* a plain backward on a clone in training mode */
		lethe_model *c = h->model_clone(h, m);
		ck_assert_int_eq(h->model_set_training(h, c, 1), LETHE_OK);
		ck_assert_int_eq(h->model_forward(h, c, x, n, logits), LETHE_OK);
		const uint8_t *masks[12];
		for (size_t i = 0; i < n; i++)
			masks[i] = e.tasks.t[tasks[i]].class_mask;
		double want = loss_softmax_ce(logits, n, C, y, masks, dl);
		ck_assert_int_eq(h->model_backward(h, c, dl, n), LETHE_OK);
		float *g = h->model_grads(h, c, NULL), gmax = 0;
		for (size_t i = 0; i < P; i++)
			gmax = fabsf(g[i]) > gmax ? fabsf(g[i]) : gmax;
		ck_assert_double_eq_tol(loss, want, 1e-6 * fabs(want));
		for (size_t i = 0; i < P; i++)
			ck_assert_float_eq_tol(grad[i], g[i], 1e-5f * gmax);

		/* Central differences of the loss on a fresh clone's parameters: the float logits'
		 * rounding (~1e-7 of the loss) over 2h = 4e-3 is ~1e-4 at most, the truncation
		 * h^2 / 6 times the third derivative ~1e-6 for O(1) curvatures; a ReLU's kink or
		 * batch norm's variance within h of a step would show up as much larger. */
		lethe_model *f = h->model_clone(h, m);
		float *theta = h->model_params(h, f, NULL), *tmp = malloc(P * sizeof(float));
		const float step = 2e-3f;
		for (size_t k = 0; k < 12; k++) {
			size_t i = (k * 7919) % P;
			float keep = theta[i];
			double up, down;
			theta[i] = keep + step;
			ck_assert_int_eq(h->model_rows_gradient(h, f, x, y, tasks, n, tmp, &up), 0);
			theta[i] = keep - step;
			ck_assert_int_eq(h->model_rows_gradient(h, f, x, y, tasks, n, tmp, &down), 0);
			theta[i] = keep;
			double slope = (up - down) / (2.0 * step);
			ck_assert_msg(fabs(slope - grad[i]) <= 5e-4 + 0.02 * fabs(grad[i]),
				      "model %d parameter %zu: %g against %g", mi, i, slope, grad[i]);
		}
		/* refusals */
		uint32_t bad[12] = { 0 };
		bad[3] = 7;
		ck_assert_int_eq(h->model_rows_gradient(h, m, x, y, bad, n, grad, NULL),
				 LETHE_ERR_INVALID);
		ck_assert_has(e.plugins[0].svc.error, "row 3's task 7 is not a task");
		ck_assert_int_eq(h->model_rows_gradient(h, (lethe_model *)h->model_initial(h), x, y,
							NULL, n, grad, NULL), LETHE_ERR_INVALID);
		ck_assert_has(e.plugins[0].svc.error, "read-only");
		free(grad);
		free(tmp);
		close_run(&e, &s, &pp);
	}
}
END_TEST

START_TEST(test_future_versions_refused)
{
	const char *names[] = { "abi_major", "abi_minor" };
	const char *why[] = { "major versions differ", "the plugin's minor is newer" };
	for (int i = 0; i < 2; i++) {
		char path[4200], host[64];
		snprintf(path, sizeof(path), "%s/%s.so", plugin_dir, names[i]);
		struct plugin_file pf;
		struct error err;
		ck_assert_int_eq(plugin_file_open(&pf, path, &err), -1);
		ck_assert_has(err.msg, path);
		ck_assert_has(err.msg, why[i]);
		snprintf(host, sizeof(host), "this host speaks %d.%d.%d", LETHE_ABI_MAJOR,
			 LETHE_ABI_MINOR, LETHE_ABI_PATCH);
		ck_assert_has(err.msg, host);
	}
}
END_TEST

static Suite *abi_suite(void)
{
	Suite *s = suite_create("abi");
	TCase *tc = tcase_create("versions");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_add_test(tc, test_v1_0_plugin_runs);
	tcase_add_test(tc, test_v1_1_plugin_runs);
	tcase_add_test(tc, test_v1_2_plugin_runs);
	tcase_add_test(tc, test_on_predict_rewrites_logits);
	tcase_add_test(tc, test_on_predict_in_unlearning_figures);
	tcase_add_test(tc, test_model_initial);
	tcase_add_test(tc, test_rows_gradient);
	tcase_add_test(tc, test_future_versions_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(abi_suite());
}
