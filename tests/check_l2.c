/* The l2 plugin: its gradient against its loss, the head left free, the anchor, the lr guard and
 * its state, on a small synthetic scenario run by the real engine. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/plugin_loader.h"
#include "scenario/scenario.h"
#include "testutil.h"

/* The rest of [train], after lr: batch 50, 2 epochs, so 8 batches a task. */
#define TRAIN "batch_size = 50\nepochs = 2\nseed = 3\n"

/* 4 classes in 2 tasks of 200 training samples. l2 is the only plugin unless `l2` is NULL. */
static char *write_scenario(const char *l2, const char *train, const char *hidden)
{
	char text[4096];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = l2\nprotocol = class-incremental\n%s"
		 "[data]\nsource = synthetic\nclasses = 4\ndim = 8\ntrain_per_class = 100\n"
		 "test_per_class = 20\nspread = 10\n"
		 "[tasks]\nsplit = 2\n[model]\nhidden = %s\n"
		 "[train]\n%s%s%s",
		 l2 ? "plugins = l2\n" : "", hidden ? hidden : "16", train,
		 l2 ? "[l2]\n" : "", l2 ? l2 : "");
	return testutil_write_text(testutil_dir, "l2.ini", text);
}

struct losses {
	double v[64];
	size_t n;
	struct engine *e;
	FILE *state_at_first_batch;
};

static void capture(void *ctx, const struct event *ev)
{
	struct losses *l = ctx;
	struct error err;
	if (ev->kind != EVENT_BATCH)
		return;
	if (l->n == 0 && l->state_at_first_batch)
		ck_assert_msg(engine_plugin_save(l->e, 0, l->state_at_first_batch, &err) == 0, "%s",
			      err.msg);
	if (l->n < 64)
		l->v[l->n++] = ev->loss;
}

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct losses losses;
	struct error err;
	int open_rc, run_rc;
};

static void run_open(struct run *r, const char *l2, const char *train, const char *hidden)
{
	memset(r, 0, sizeof(*r));
	char *path = write_scenario(l2, train, hidden);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &r->err) == 0, "%s", r->err.msg);
	free(path);
	plugin_path_init(&r->pp, getenv("LETHE_BUILD_PLUGINS"));
	r->open_rc = engine_open(&r->e, &r->s, &r->pp, &r->err);
	r->losses.e = &r->e;
	if (r->open_rc == 0)
		engine_add_sink(&r->e, capture, &r->losses);
}

static void run_all(struct run *r, const char *l2)
{
	run_open(r, l2, "lr = 0.05\n" TRAIN, NULL);
	ck_assert_msg(r->open_rc == 0, "%s", r->err.msg);
	r->run_rc = engine_run(&r->e, NULL, &r->err);
	ck_assert_msg(r->run_rc == 0, "%s", r->err.msg);
}

static void run_close(struct run *r)
{
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

/* The penalty's loss with zeroed gradients, as the engine would add it. */
static double penalty(struct run *r)
{
	struct engine_plugin *p = &r->e.plugins[0];
	double loss = 0;
	memset(r->e.model.grads, 0, r->e.model.num_params * sizeof(float));
	ck_assert_int_eq(p->hooks.on_gradient(p->inst, &r->e.batch, &loss), LETHE_OK);
	return loss;
}

static double metric(const struct engine *e, const char *key)
{
	const struct services_ctx *c = &e->plugins[0].svc;
	for (size_t i = 0; i < c->num_metrics; i++)
		if (!strcmp(c->metrics[i].key, key))
			return c->metrics[i].value;
	ck_abort_msg("no figure '%s'", key);
	return 0;
}

/* After the run the anchor is the final weights; move away from it and compare the gradient
 * with central differences of the loss, the head included or not (_i). */
START_TEST(test_gradient_matches_loss)
{
	const double lambda = 0.7;
	char l2[128];
	snprintf(l2, sizeof(l2), "lambda = %g\ninclude_head = %s\n", lambda, _i ? "true" : "false");
	struct run r;
	run_all(&r, l2);
	struct model *m = &r.e.model;
	size_t P = m->num_params, head = model_head_offset(m);
	ck_assert_uint_eq(metric(&r.e, "state_bytes"), P * sizeof(float));

	float *anchor = malloc(P * sizeof(float)), *grad = malloc(P * sizeof(float));
	memcpy(anchor, m->params, P * sizeof(float));
	double want = 0;
	for (size_t i = 0; i < P; i++) {
		m->params[i] += 0.01f * (float)((int)(i * 7919 % 13) - 6);
		double d = (double)m->params[i] - anchor[i];
		if (i < head || _i)
			want += lambda * d * d;
	}
	double loss = penalty(&r);
	ck_assert_msg(fabs(loss - want) <= 1e-6 * want, "loss %.9g, want %.9g", loss, want);
	memcpy(grad, m->grads, P * sizeof(float));

	size_t nonzero_head = 0, nonzero_trunk = 0;
	for (size_t i = 0; i < P; i++) {
		if (i < head)
			nonzero_trunk += grad[i] != 0.0f;
		else
			nonzero_head += grad[i] != 0.0f;
	}
	ck_assert_uint_gt(nonzero_trunk, 0);
	if (_i)
		ck_assert_uint_gt(nonzero_head, 0);
	else
		ck_assert_uint_eq(nonzero_head, 0);

	const float h = 1.0f / 64; /* exact in float: theta +- h rounds little */
	for (size_t i = 0; i < P; i += 7) {
		float theta = m->params[i];
		m->params[i] = theta + h;
		double up = penalty(&r);
		m->params[i] = theta - h;
		double down = penalty(&r);
		m->params[i] = theta;
		double fd = (up - down) / ((double)(theta + h) - (double)(theta - h));
		ck_assert_msg(fabs(fd - grad[i]) <= 1e-4 * fabs(fd) + 1e-6,
			      "parameter %zu: gradient %.9g, finite difference %.9g", i, grad[i],
			      fd);
	}
	free(anchor);
	free(grad);
	run_close(&r);
}
END_TEST

/* Before task 1 the anchor is the initial weights: the penalty is zero on the first batch, so its
 * loss and update match a run without the plugin; from the second batch on it is not. */
START_TEST(test_anchor_starts_at_initial_weights)
{
	struct run a, b;
	run_open(&a, "lambda = 5\n", "lr = 0.05\n" TRAIN, NULL);
	ck_assert_msg(a.open_rc == 0, "%s", a.err.msg);
	size_t P = a.e.model.num_params;
	float *initial = malloc(P * sizeof(float));
	memcpy(initial, a.e.model.params, P * sizeof(float));
	a.losses.state_at_first_batch = tmpfile();
	ck_assert_msg(engine_run(&a.e, NULL, &a.err) == 0, "%s", a.err.msg);
	run_all(&b, NULL);

	ck_assert(a.losses.v[0] == b.losses.v[0]);
	ck_assert_msg(a.losses.v[1] > b.losses.v[1], "%g <= %g", a.losses.v[1], b.losses.v[1]);

	FILE *f = a.losses.state_at_first_batch;
	uint32_t version;
	uint64_t len, count;
	rewind(f);
	ck_assert_uint_eq(fread(&version, sizeof(version), 1, f), 1);
	ck_assert_uint_eq(fread(&len, sizeof(len), 1, f), 1);
	ck_assert_uint_eq(fread(&count, sizeof(count), 1, f), 1);
	ck_assert_uint_eq(version, 1);
	ck_assert_uint_eq(count, P);
	ck_assert_uint_eq(len, sizeof(count) + P * sizeof(float));
	float *anchor = malloc(P * sizeof(float));
	ck_assert_uint_eq(fread(anchor, sizeof(float), P, f), P);
	ck_assert(memcmp(anchor, initial, P * sizeof(float)) == 0);
	fclose(f);
	free(anchor);
	free(initial);
	run_close(&a);
	run_close(&b);
}
END_TEST

/* lr 2 lambda must stay below 2 (1 + momentum). */
START_TEST(test_lr_guard)
{
	struct run r;
	run_open(&r, "lambda = 2\n", "lr = 0.5\n" TRAIN, NULL);
	ck_assert_int_eq(r.open_rc, -1);
	ck_assert_has(r.err.msg, "plugin l2: create failed");
	ck_assert_has(r.err.msg, "lambda = 2 with train.lr = 0.5");
	ck_assert_has(r.err.msg, "use lambda < 2");
	run_close(&r);
	run_open(&r, "lambda = 1.99\n", "lr = 0.5\n" TRAIN, NULL);
	ck_assert_msg(r.open_rc == 0, "%s", r.err.msg);
	run_close(&r);
	run_open(&r, "lambda = 2\n", "lr = 0.5\nmomentum = 0.5\n" TRAIN, NULL);
	ck_assert_msg(r.open_rc == 0, "%s", r.err.msg);
	run_close(&r);
	run_open(&r, "lambda = 3\n", "lr = 0.5\nmomentum = 0.5\n" TRAIN, NULL);
	ck_assert_int_eq(r.open_rc, -1);
	ck_assert_has(r.err.msg, "use lambda < 3");
	run_close(&r);
}
END_TEST

static char *saved(struct run *r, size_t *size)
{
	char *buf;
	FILE *f = open_memstream(&buf, size);
	ck_assert_msg(engine_plugin_save(&r->e, 0, f, &r->err) == 0, "%s", r->err.msg);
	fclose(f);
	return buf;
}

static int load(struct run *r, const char *state, size_t size)
{
	FILE *f = fmemopen((void *)state, size, "rb");
	int rc = engine_plugin_load(&r->e, 0, f, &r->err);
	fclose(f);
	return rc;
}

START_TEST(test_state_round_trip)
{
	struct run a, b, c;
	run_all(&a, "lambda = 0.1\n");
	size_t size, again_size;
	char *state = saved(&a, &size);

	run_open(&b, "lambda = 0.1\n", "lr = 0.05\n" TRAIN, NULL);
	ck_assert_msg(load(&b, state, size) == 0, "%s", b.err.msg);
	char *again = saved(&b, &again_size);
	ck_assert_uint_eq(again_size, size);
	ck_assert(memcmp(again, state, size) == 0);
	/* It is the anchor that came back: the penalty at the trained weights is zero. */
	memcpy(b.e.model.params, a.e.model.params, a.e.model.num_params * sizeof(float));
	ck_assert(penalty(&b) == 0.0);

	/* Cut short, or for another model: refused. */
	ck_assert_int_eq(load(&b, state, size - 4), -1);
	ck_assert_has(b.err.msg, "plugin l2: load failed");
	run_open(&c, "lambda = 0.1\n", "lr = 0.05\n" TRAIN, "17");
	ck_assert_msg(c.open_rc == 0, "%s", c.err.msg);
	ck_assert_int_eq(load(&c, state, size), -1);
	ck_assert_has(c.err.msg, "parameters");

	free(state);
	free(again);
	run_close(&a);
	run_close(&b);
	run_close(&c);
}
END_TEST

static Suite *l2_suite(void)
{
	Suite *s = suite_create("l2");
	TCase *tc = tcase_create("l2");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_loop_test(tc, test_gradient_matches_loss, 0, 2);
	tcase_add_test(tc, test_anchor_starts_at_initial_weights);
	tcase_add_test(tc, test_lr_guard);
	tcase_add_test(tc, test_state_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(l2_suite());
}
