/* The repulsion plugin. Its term's gradient against finite differences, for NL2, EL2 and IL2:
 * the plugin's source is compiled in for its static functions. Then, loaded from the build tree
 * on a small synthetic scenario the real engine learns, its unlearn hook called directly with
 * a class request built by hand: the class forgotten and the rest kept, under two protocols;
 * stage 1's models carrying the forget set; determinism; tasks not yet learned left alone;
 * bad requests refused; NL2's divergence stopped with a clear error. And once through a
 * scenario's forget step, beside retrain. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "model/loss.h"
#include "scenario/scenario.h"
#include "util/rng.h"
#include "testutil.h"

#include "../plugins/repulsion/repulsion.c"

/* ---- the term, in isolation ---- */

#define TERM_P 15
#define TERM_K 3

/* d(θ) as METHODS.md defines it: the mean over models and tensors of the mean squared
 * difference. */
static double distance_by_definition(const struct tensor *tensors, uint32_t T,
				     float models[TERM_K][TERM_P], const float *theta)
{
	double d = 0.0;
	for (int k = 0; k < TERM_K; k++)
		for (uint32_t t = 0; t < T; t++) {
			uint64_t end = tensors[t].off + tensors[t].len;
			double sum = 0.0;
			for (uint64_t i = tensors[t].off; i < end; i++) {
				double diff = (double)theta[i] - models[k][i];
				sum += diff * diff;
			}
			d += sum / (double)tensors[t].len;
		}
	return d / (TERM_K * T);
}

static double term_loss(int kind, const struct target *t, const float *theta, double *slope)
{
	return term_value(kind, 0.7, 1.5, target_distance(t, theta), slope);
}

/* The mean-and-spread form of d equals its definition; a step of lr 1 on a zero CE gradient
 * moves θ by minus the term's gradient, which matches central differences of the term, for
 * each kind (_i); and the step returns d at the new θ. */
START_TEST(test_term_gradient)
{
	struct tensor tensors[] = { { 0, 6 }, { 6, 2 }, { 8, 7 } };
	const uint32_t T = 3;
	float theta0[TERM_P], models[TERM_K][TERM_P], theta[TERM_P], mean[TERM_P] = { 0 };
	float stepped[TERM_P], zero[TERM_P] = { 0 };
	double sq[3] = { 0 };
	struct rng r;
	rng_seed(&r, 11, 0);
	for (int i = 0; i < TERM_P; i++) {
		theta0[i] = (float)(0.5 * rng_normal(&r));
		theta[i] = theta0[i] + (float)(0.4 * rng_normal(&r));
	}
	struct target t = { tensors, T, mean, sq, 0.0 };
	for (int k = 0; k < TERM_K; k++) {
		for (int i = 0; i < TERM_P; i++)
			models[k][i] = theta0[i] + (float)(0.3 * rng_normal(&r));
		target_add(&t, models[k], theta0, TERM_K);
	}
	target_finish(&t, theta0, TERM_K);
	double want = distance_by_definition(tensors, T, models, theta);
	double d = target_distance(&t, theta);
	ck_assert_msg(fabs(d - want) <= 1e-5 * want, "d = %.9g, by definition %.9g", d, want);

	double slope;
	term_loss(_i, &t, theta, &slope);
	memcpy(stepped, theta, sizeof(theta));
	double next = target_step(&t, stepped, zero, slope, 1.0f);
	want = target_distance(&t, stepped);
	ck_assert_msg(fabs(next - want) <= 1e-5 * want, "the step's d %.9g, d after it %.9g", next,
		      want);
	const float h = 1.0f / 256;
	for (int i = 0; i < TERM_P; i++) {
		float at = theta[i];
		theta[i] = at + h;
		double up = term_loss(_i, &t, theta, &slope);
		theta[i] = at - h;
		double down = term_loss(_i, &t, theta, &slope);
		theta[i] = at;
		double fd = (up - down) / ((double)(at + h) - (double)(at - h));
		double grad = (double)theta[i] - stepped[i];
		ck_assert_msg(fabs(fd - grad) <= 1e-3 * fabs(fd) + 1e-6,
			      "%s, parameter %d: gradient %.9g, finite difference %.9g",
			      kind_choices[_i], i, grad, fd);
	}
}
END_TEST

/* ---- the plugin in the engine ---- */

/* 4 classes in 2 tasks of 200 training samples, learned jointly so the model knows them all,
 * and unlearned at the lr the defaults were tuned for (the push of a step goes with lr c).
 * params holds the other [repulsion] lines, and any sections that follow. */
static char *write_scenario(const char *protocol, int seed, const char *params)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = repulsion\nprotocol = %s\nplugins = repulsion\n"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 100\n"
		 "test_per_class = 50\nspread = 12\n"
		 "[tasks]\nsplit = 2\n[model]\nhidden = 16\n"
		 "[train]\nbaseline = joint\nlr = 0.2\nbatch_size = 32\nepochs = 10\nseed = %d\n"
		 "[repulsion]\nlr = 0.01\n%s",
		 protocol, seed, params);
	return testutil_write_text(testutil_dir, "repulsion.ini", text);
}

/* The defaults' stage 2 is tuned on Fashion-MNIST; this toy model's repair takes longer. */
#define TOY_STEPS "unlearn_steps = 200\n"

#define LOG_MAX 8

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;
	char log[LOG_MAX][512];
	size_t log_count;
	uint64_t ids[400];
	lethe_forget_request req;
};

static void capture(void *ctx, const struct event *ev)
{
	struct run *r = ctx;
	if (ev->kind == EVENT_LOG && r->log_count < LOG_MAX)
		snprintf(r->log[r->log_count++], sizeof(r->log[0]), "%s: %s", ev->source, ev->msg);
}

/* Learns both tasks with the plugin loaded from the build tree. */
static void run_learn(struct run *r, const char *protocol, int seed, const char *params)
{
	memset(r, 0, sizeof(*r));
	char *path = write_scenario(protocol, seed, params);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &r->err) == 0, "%s", r->err.msg);
	free(path);
	plugin_path_init(&r->pp, getenv("LETHE_BUILD_PLUGINS"));
	ck_assert_msg(engine_open(&r->e, &r->s, &r->pp, &r->err) == 0, "%s", r->err.msg);
	ck_assert_msg(engine_run(&r->e, NULL, &r->err) == 0, "%s", r->err.msg);
	engine_add_sink(&r->e, capture, r);
}

static void run_close(struct run *r)
{
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

/* r->req: every training sample of the classes listed (-1 ends the list), as the host builds
 * a class request, with the tasks learned so far. */
static void request_classes(struct run *r, const int *classes, uint32_t learned)
{
	size_t n = 0;
	for (uint32_t k = 0; k < r->e.tasks.count; k++) {
		const struct task *t = &r->e.tasks.t[k];
		for (size_t i = 0; i < t->num_train; i++)
			for (const int *c = classes; *c >= 0; c++)
				if (r->e.train.y[t->train[i]] == *c)
					r->ids[n++] = tasks_sample_id(k, t->train[i]);
	}
	r->req = (lethe_forget_request){
		.struct_size = sizeof(r->req),
		.kind = LETHE_FORGET_CLASS,
		.ids = r->ids,
		.num_ids = n,
		.tasks_learned = learned,
	};
}

static int unlearn(struct run *r)
{
	struct engine_plugin *p = &r->e.plugins[0];
	p->svc.has_error = 0;
	return p->hooks.unlearn(p->inst, &r->req);
}

static double figure(const struct run *r, const char *key)
{
	const struct services_ctx *c = &r->e.plugins[0].svc;
	for (size_t i = 0; i < c->num_metrics; i++)
		if (!strcmp(c->metrics[i].key, key))
			return c->metrics[i].value;
	ck_abort_msg("no figure '%s'", key);
	return 0;
}

/* Accuracy of the model on the class's samples of a split, as the engine evaluates (logits
 * masked to the task's classes under task-incremental). */
static double class_accuracy(struct run *r, lethe_split split, int cls)
{
	struct engine *e = &r->e;
	const struct dataset *d = split == LETHE_SPLIT_TRAIN ? &e->train : &e->test;
	float x[8], logits[4];
	int32_t y;
	size_t seen = 0, correct = 0;
	for (size_t k = 0; k < e->tasks.count; k++) {
		const struct task *t = &e->tasks.t[k];
		const uint32_t *pos = split == LETHE_SPLIT_TRAIN ? t->train : t->test;
		size_t n = split == LETHE_SPLIT_TRAIN ? t->num_train : t->num_test;
		int masked = r->s.protocol == LETHE_TASK_INCREMENTAL;
		const uint8_t *mask = masked ? t->class_mask : NULL;
		for (size_t i = 0; i < n; i++) {
			if (d->y[pos[i]] != cls)
				continue;
			tasks_gather(t, d, pos + i, 1, x, &y);
			ck_assert_int_eq(model_forward(&e->model, x, 1, logits, &r->err), 0);
			correct += loss_argmax(logits, 4, mask) == y;
			seen++;
		}
	}
	ck_assert_uint_gt(seen, 0);
	return (double)correct / (double)seen;
}

static const char *const protocols[] = { "class-incremental", "task-incremental" };

/* Class 1 goes (test and training accuracy at most 0.05), the other classes stay within a few
 * points, under class- and task-incremental (_i) protocols. */
START_TEST(test_forgets_class)
{
	struct run r;
	run_learn(&r, protocols[_i], 3, TOY_STEPS);
	double before[4];
	for (int c = 0; c < 4; c++) {
		before[c] = class_accuracy(&r, LETHE_SPLIT_TEST, c);
		ck_assert_msg(before[c] > 0.9, "class %d learned to %.3f only", c, before[c]);
	}
	request_classes(&r, (const int[]){ 1, -1 }, 2);
	ck_assert_msg(unlearn(&r) == LETHE_OK, "%s", r.e.plugins[0].svc.error);
	double forget_test = class_accuracy(&r, LETHE_SPLIT_TEST, 1);
	double forget_train = class_accuracy(&r, LETHE_SPLIT_TRAIN, 1);
	ck_assert_msg(forget_test <= 0.05 && forget_train <= 0.05,
		      "class 1 still at %.3f (test), %.3f (train)", forget_test, forget_train);
	for (int c = 0; c < 4; c++) {
		double after = class_accuracy(&r, LETHE_SPLIT_TEST, c);
		ck_assert_msg(c == 1 || after >= before[c] - 0.05,
			      "class %d fell from %.3f to %.3f", c, before[c], after);
	}
	ck_assert(figure(&r, "state_bytes") > 2.0 * r.e.model.num_params * sizeof(float));
	ck_assert(figure(&r, "seconds") > 0.0);
	ck_assert_uint_eq(r.log_count, 1);
	ck_assert_has(r.log[0], "repulsion: forgot 100 samples");
	run_close(&r);
}
END_TEST

/* With no stage 2 the host's model is untouched, and the figures show the adapted models fit
 * the forget set better than the model before: lower cross-entropy, no lower accuracy. The
 * anchor is weakened and the steps more: the default pins most of so small and sure a model. */
START_TEST(test_adapted_models_carry_forget_set)
{
	struct run r;
	run_learn(&r, "class-incremental", 3,
		  "unlearn_steps = 0\nadapt_steps = 30\newc_lambda = 100\n");
	size_t P = r.e.model.num_params;
	float *theta0 = malloc(P * sizeof(float));
	memcpy(theta0, r.e.model.params, P * sizeof(float));
	request_classes(&r, (const int[]){ 2, -1 }, 2);
	ck_assert_msg(unlearn(&r) == LETHE_OK, "%s", r.e.plugins[0].svc.error);
	ck_assert(memcmp(theta0, r.e.model.params, P * sizeof(float)) == 0);
	double ce0 = figure(&r, "forget_ce_before"), ce1 = figure(&r, "forget_ce_adapted");
	ck_assert_msg(ce1 < 0.8 * ce0, "forget-set CE %.4g adapted, %.4g before", ce1, ce0);
	ck_assert(figure(&r, "forget_acc_adapted") >= figure(&r, "forget_acc_before"));
	free(theta0);
	run_close(&r);
}
END_TEST

/* The same seed gives the same bytes; a second request in the same run draws on from the
 * plugin's stream, so its result differs. */
START_TEST(test_deterministic)
{
	struct run a, b;
	run_learn(&a, "class-incremental", 5, "");
	run_learn(&b, "class-incremental", 5, "");
	size_t P = a.e.model.num_params;
	float *theta0 = malloc(P * sizeof(float)), *first = malloc(P * sizeof(float));
	memcpy(theta0, a.e.model.params, P * sizeof(float));
	request_classes(&a, (const int[]){ 0, -1 }, 2);
	request_classes(&b, (const int[]){ 0, -1 }, 2);
	ck_assert_int_eq(unlearn(&a), LETHE_OK);
	ck_assert_int_eq(unlearn(&b), LETHE_OK);
	ck_assert(memcmp(a.e.model.params, b.e.model.params, P * sizeof(float)) == 0);
	memcpy(first, a.e.model.params, P * sizeof(float));
	memcpy(a.e.model.params, theta0, P * sizeof(float));
	ck_assert_int_eq(unlearn(&a), LETHE_OK);
	ck_assert(memcmp(a.e.model.params, first, P * sizeof(float)) != 0);
	free(theta0);
	free(first);
	run_close(&a);
	run_close(&b);
}
END_TEST

/* After one task, a request's samples of the second are not the model's to forget: alone they
 * leave it untouched; beside the first task's they are left out of D_f. */
START_TEST(test_unlearned_tasks_left_alone)
{
	struct run r;
	run_learn(&r, "class-incremental", 3, "");
	size_t P = r.e.model.num_params;
	float *theta0 = malloc(P * sizeof(float));
	memcpy(theta0, r.e.model.params, P * sizeof(float));
	request_classes(&r, (const int[]){ 3, -1 }, 1);
	ck_assert_int_eq(unlearn(&r), LETHE_OK);
	ck_assert(memcmp(theta0, r.e.model.params, P * sizeof(float)) == 0);
	ck_assert_has(r.log[0], "no sample of the request was learned");
	request_classes(&r, (const int[]){ 0, 3, -1 }, 1);
	ck_assert_uint_eq(r.req.num_ids, 200);
	ck_assert_int_eq(unlearn(&r), LETHE_OK);
	ck_assert_has(r.log[1], "forgot 100 samples");
	free(theta0);
	run_close(&r);
}
END_TEST

START_TEST(test_bad_requests)
{
	struct run r;
	run_learn(&r, "class-incremental", 3, "");
	request_classes(&r, (const int[]){ 1, -1 }, 2);
	uint64_t first = r.ids[0];
	r.ids[0] = r.ids[1];
	ck_assert_int_eq(unlearn(&r), LETHE_ERR_INVALID);
	ck_assert_has(r.e.plugins[0].svc.error, "not sorted ascending at 1");
	r.ids[0] = first;
	r.ids[r.req.num_ids - 1] |= 0x7fffffu; /* a position past the data set */
	ck_assert_int_eq(unlearn(&r), LETHE_ERR_INVALID);
	ck_assert_has(r.e.plugins[0].svc.error, "names no training sample");
	request_classes(&r, (const int[]){ 0, 1, 2, 3, -1 }, 2);
	ck_assert_int_eq(unlearn(&r), LETHE_ERR_INVALID);
	ck_assert_has(r.e.plugins[0].svc.error, "nothing is left to retrain on");
	run_close(&r);
}
END_TEST

/* Through a scenario's forget step, which the host runs before the data leaves: the class goes,
 * and the figures sit near retrain's. */
START_TEST(test_forget_step)
{
	struct run r;
	run_learn(&r, "class-incremental", 3,
		  TOY_STEPS "[forget1]\nafter = 2\nwhat = class\nclasses = 1\nplugin = repulsion\n"
		  "references = retrain\nrelearn_max_epochs = 0\n");
	ck_assert_uint_eq(r.e.num_unlearning, 1);
	const struct results_unlearning *u = &r.e.unlearning[0];
	const struct forget_figures *f = &u->figures, *retrain = &u->reference[REFERENCE_RETRAIN];
	ck_assert_str_eq(u->plugin, "repulsion");
	ck_assert_uint_eq(u->num_forget, 100);
	ck_assert_msg(f->ua >= 0.95 && f->forget_test_acc <= 0.05, "UA %.3f, forget test %.3f",
		      f->ua, f->forget_test_acc);
	ck_assert_msg(fabs(f->ta - retrain->ta) <= 0.05, "TA %.3f, retrain's %.3f", f->ta,
		      retrain->ta);
	ck_assert_msg(fabs(metrics_mia(f) - metrics_mia(retrain)) <= 0.05, "MIA %.3f, retrain's %.3f",
		      metrics_mia(f), metrics_mia(retrain));
	run_close(&r);
}
END_TEST

/* NL2 is unbounded below: with a huge gamma the weights run off to infinity, and the request
 * stops with an error that names the cure. */
START_TEST(test_nl2_divergence)
{
	struct run r;
	run_learn(&r, "class-incremental", 3, "kind = nl2\ngamma = 1e9\n");
	request_classes(&r, (const int[]){ 1, -1 }, 2);
	ck_assert_int_eq(unlearn(&r), LETHE_ERR_NUMERIC);
	const char *msg = r.e.plugins[0].svc.error;
	ck_assert_has(msg, "stage 2, step ");
	ck_assert_has(msg, "kind = nl2 is unbounded below and gamma = 1e+09");
	ck_assert_has(msg, "use kind = el2");
	run_close(&r);
}
END_TEST

static Suite *repulsion_suite(void)
{
	Suite *s = suite_create("repulsion");
	TCase *tc = tcase_create("repulsion");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_loop_test(tc, test_term_gradient, KIND_NL2, KIND_IL2 + 1);
	tcase_add_loop_test(tc, test_forgets_class, 0, 2);
	tcase_add_test(tc, test_adapted_models_carry_forget_set);
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_unlearned_tasks_left_alone);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_forget_step);
	tcase_add_test(tc, test_nl2_divergence);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(repulsion_suite());
}
