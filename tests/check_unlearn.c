/* The unlearning figures and reference methods on small synthetic runs with hand-made forget
 * sets: UA/RA/TA against recounts, the membership attack on hand-made confidences and on a
 * model that memorised its members, relearn time, and what each reference does to a model. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/unlearn.h"
#include "scenario/scenario.h"
#include "alloc_hook.h"
#include "testutil.h"

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct model initial; /* the model's weights before training */
};

/* Synthetic data: `data` completes [data] (classes, dim, sizes, spread), `rest` gives [tasks],
 * [model] and [train]. Trains only when `train` is set. */
static void run_open(struct run *r, const char *protocol, const char *data, const char *rest,
		     int train)
{
	char text[2048];
	struct error err;
	snprintf(text, sizeof(text),
		 "[scenario]\nname = unl\nprotocol = %s\n[data]\nsource = synthetic\n%s\n%s",
		 protocol, data, rest);
	char *path = testutil_write_text(testutil_dir, "unl.ini", text);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &err) == 0, "%s", err.msg);
	free(path);
	plugin_path_init(&r->pp, NULL);
	ck_assert_msg(engine_open(&r->e, &r->s, &r->pp, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(model_clone(&r->initial, &r->e.model, &err), 0);
	if (train)
		ck_assert_msg(engine_run(&r->e, NULL, &err) == 0, "%s", err.msg);
}

static void run_close(struct run *r)
{
	model_free(&r->initial);
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

/* 6 classes in 3 tasks of 2, learned jointly; overlapping enough that accuracy is not 1, with
 * more than one evaluation chunk (1000 rows) of training data. */
static void run_six(struct run *r, const char *protocol)
{
	run_open(r, protocol,
		 "classes = 6\ndim = 16\ntrain_per_class = 250\ntest_per_class = 200\n"
		 "spread = 45",
		 "[tasks]\nsplit = 3\n[model]\nhidden = 32,32\n"
		 "[train]\nbaseline = joint\nlr = 0.1\nbatch_size = 32\nepochs = 2\nseed = 3\n",
		 1);
}

static void push(uint64_t **v, size_t *n, uint64_t id)
{
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	ck_assert_ptr_nonnull(*v);
	(*v)[(*n)++] = id;
}

/* A class request: D_f = the training samples of class c, forget_test its test samples. */
static void sets_class(const struct engine *e, int32_t c, struct forget_sets *fs)
{
	memset(fs, 0, sizeof(*fs));
	for (uint32_t k = 0; k < e->tasks.count; k++) {
		const struct task *t = &e->tasks.t[k];
		for (size_t i = 0; i < t->num_train; i++) {
			uint64_t id = tasks_sample_id(k, t->train[i]);
			if (e->train.y[t->train[i]] == c)
				push(&fs->forget, &fs->num_forget, id);
			else
				push(&fs->retain, &fs->num_retain, id);
		}
		for (size_t i = 0; i < t->num_test; i++) {
			uint64_t id = tasks_sample_id(k, t->test[i]);
			if (e->test.y[t->test[i]] == c)
				push(&fs->forget_test, &fs->num_forget_test, id);
			else
				push(&fs->test, &fs->num_test, id);
		}
	}
}

/* A sample request: D_f = every stride-th training sample of task `task`. */
static void sets_stride(const struct engine *e, uint32_t task, size_t stride,
			struct forget_sets *fs)
{
	memset(fs, 0, sizeof(*fs));
	for (uint32_t k = 0; k < e->tasks.count; k++) {
		const struct task *t = &e->tasks.t[k];
		for (size_t i = 0; i < t->num_train; i++) {
			uint64_t id = tasks_sample_id(k, t->train[i]);
			if (k == task && i % stride == 0)
				push(&fs->forget, &fs->num_forget, id);
			else
				push(&fs->retain, &fs->num_retain, id);
		}
		for (size_t i = 0; i < t->num_test; i++)
			push(&fs->test, &fs->num_test, tasks_sample_id(k, t->test[i]));
	}
}

/* The accuracy of m on the samples ids of split, counted here apart from unlearn.c on the
 * model's double reference: within [lo, hi], a sample whose argmax the float pass's rounding
 * could change (whatever the BLAS kernel) counted both ways. */
struct span {
	double lo, hi;
};

static struct span recount(struct engine *e, const struct model *m, const struct dataset *split,
			   const uint64_t *ids, size_t n)
{
	size_t dim = split->dim, C = e->num_classes, sure = 0, maybe = 0;
	struct ref_mlp ref;
	double *theta = ref_mlp_init_for(&ref, m, n), *x = malloc(n * dim * sizeof(double));
	float *row = malloc(dim * sizeof(float));
	uint8_t *can = malloc(C);
	for (size_t i = 0; i < n; i++) {
		tasks_convert(&e->tasks.t[ids[i] >> 32], split->x + (size_t)(uint32_t)ids[i] * dim,
			      1, dim, row);
		for (size_t j = 0; j < dim; j++)
			x[i * dim + j] = row[j];
	}
	ref_mlp_forward(&ref, theta, x, NULL);
	int masked = e->s->protocol == LETHE_TASK_INCREMENTAL;
	for (size_t i = 0; i < n; i++) {
		const struct task *t = &e->tasks.t[ids[i] >> 32];
		size_t options = ref_mlp_predict(&ref, i, masked ? t->class_mask : NULL, can);
		if (can[split->y[(uint32_t)ids[i]]]) {
			maybe++;
			sure += options == 1;
		}
	}
	free(theta);
	free(x);
	free(row);
	free(can);
	ref_mlp_free(&ref);
	return n ? (struct span){ (double)sure / (double)n, (double)maybe / (double)n }
		 : (struct span){ NAN, NAN };
}

static void assert_within(double v, struct span s, const char *what)
{
	ck_assert_msg(v >= s.lo && v <= s.hi, "%s %.9g, recount [%.9g, %.9g]", what, v, s.lo,
		      s.hi);
}

/* 1 - the accuracy: the unlearning accuracy. */
static struct span complement(struct span s)
{
	return (struct span){ 1 - s.hi, 1 - s.lo };
}

static struct unlearn_spec spec_quick(void)
{
	/* relearn_loss 0 is never beaten: relearning costs nothing and reports 1 epoch. */
	return (struct unlearn_spec){ .retrain_epochs = 2, .finetune_epochs = 1,
				      .ascent_epochs = 1, .lr = 0.1, .ascent_lr = 0.1,
				      .batch_size = 32,
				      .seed = 11, .relearn_loss = 0, .relearn_max_epochs = 0 };
}

static void measure(struct run *r, const struct model *m, const struct forget_sets *fs,
		    const struct unlearn_spec *spec, struct forget_figures *f)
{
	struct error err;
	ck_assert_msg(unlearn_measure(&r->e.unlearn, m, NULL, fs, spec, f, &err) == 0, "%s", err.msg);
}

static void reference(struct run *r, enum forget_reference ref, const struct model *before,
		      const struct forget_sets *fs, const struct unlearn_spec *spec,
		      struct model *out)
{
	struct error err;
	double seconds = -1;
	int rc = unlearn_reference_run(&r->e.unlearn, ref, before, &r->initial, fs, spec, out,
				       &seconds, &err);
	ck_assert_msg(rc == 0, "%s: %s", scenario_reference_name(ref), err.msg);
	ck_assert(seconds >= 0);
}

/* ---- measure ---- */

START_TEST(test_figures_recount)
{
	const char *protocols[] = { "class-incremental", "task-incremental" };
	for (size_t p = 0; p < 2; p++) {
		struct run r;
		run_six(&r, protocols[p]);
		struct model *m = &r.e.model;
		float *saved = malloc(m->num_params * sizeof(float));
		memcpy(saved, m->params, m->num_params * sizeof(float));
		struct unlearn_spec spec = spec_quick();
		struct forget_sets fs;
		struct forget_figures f, again;
		sets_class(&r.e, 1, &fs);
		measure(&r, m, &fs, &spec, &f);
		assert_within(f.ua, complement(recount(&r.e, m, &r.e.train, fs.forget,
							fs.num_forget)), protocols[p]);
		assert_within(f.ra, recount(&r.e, m, &r.e.train, fs.retain, fs.num_retain), "RA");
		assert_within(f.ta, recount(&r.e, m, &r.e.test, fs.test, fs.num_test), "TA");
		assert_within(f.forget_test_acc, recount(&r.e, m, &r.e.test, fs.forget_test,
							 fs.num_forget_test), "forget test");
		ck_assert_msg(f.ra > 0.6 && f.ra < 1, "%s: RA %g", protocols[p], f.ra);
		ck_assert(f.mia_threshold >= 0 && f.mia_threshold <= 1);
		ck_assert(f.relearn_epochs == 1); /* never: relearn_max_epochs + 1 */
		measure(&r, m, &fs, &spec, &again);
		ck_assert(again.ua == f.ua && again.ra == f.ra && again.mia_threshold == f.mia_threshold &&
			  metrics_mia(&again) == metrics_mia(&f));
		ck_assert_int_eq(memcmp(saved, m->params, m->num_params * sizeof(float)), 0);
		unlearn_sets_free(&fs);

		sets_stride(&r.e, 1, 7, &fs);
		measure(&r, m, &fs, &spec, &f);
		assert_within(f.ua, complement(recount(&r.e, m, &r.e.train, fs.forget,
							fs.num_forget)), "UA");
		assert_within(f.ta, recount(&r.e, m, &r.e.test, fs.test, fs.num_test), "TA");
		ck_assert(isnan(f.forget_test_acc));
		unlearn_sets_free(&fs);
		free(saved);
		run_close(&r);
	}
}
END_TEST

START_TEST(test_bad_ids)
{
	struct run r;
	run_six(&r, "class-incremental");
	struct forget_sets fs;
	sets_stride(&r.e, 0, 5, &fs);
	fs.forget[0] = tasks_sample_id(9, 0);
	struct unlearn_spec spec = spec_quick();
	struct forget_figures f;
	struct error err;
	ck_assert_int_eq(unlearn_measure(&r.e.unlearn, &r.e.model, NULL, &fs, &spec, &f, &err), -1);
	ck_assert_msg(strstr(err.msg, "D_f") && strstr(err.msg, "task 9"), "%s", err.msg);
	fs.forget[0] = tasks_sample_id(0, 1u << 30);
	struct model out;
	double seconds;
	ck_assert_int_eq(unlearn_reference_run(&r.e.unlearn, REFERENCE_FINETUNE, &r.e.model,
					       &r.initial, &fs, &spec, &out, &seconds, &err), -1);
	ck_assert_msg(strstr(err.msg, "position 1073741824"), "%s", err.msg);
	ck_assert_ptr_null(out.params);
	unlearn_sets_free(&fs);
	run_close(&r);
}
END_TEST

/* One linear layer whose class-0 logit is 20 x pixel 0 (the other 0), and labels all 0: a
 * sample's confidence p(0|x) rises with its first pixel, which the test sets by hand. */
struct handmade {
	struct run r;
	struct model m;
	struct forget_sets fs;
};

static void handmade_open(struct handmade *h)
{
	run_open(&h->r, "class-incremental",
		 "classes = 2\ndim = 4\ntrain_per_class = 8\ntest_per_class = 8\nspread = 10",
		 "[tasks]\nsplit = 1\n[model]\nhidden = 4\n[train]\nseed = 1\n", 0);
	struct engine *e = &h->r.e;
	memset(e->train.x, 0, e->train.n * e->train.dim);
	memset(e->test.x, 0, e->test.n * e->test.dim);
	memset(e->train.y, 0, e->train.n);
	memset(e->test.y, 0, e->test.n);
	size_t sizes[] = { 4, 2 };
	struct error err;
	ck_assert_int_eq(testutil_mlp(&h->m, sizes, 2, &err), 0);
	h->m.params[testutil_view(&h->m, 0).weight_offset] = 20.0f;
	memset(&h->fs, 0, sizeof(h->fs));
}

/* Sets the first pixel of the listed samples and names them in set. */
static void handmade_set(const struct dataset *split, size_t *next, const int *pixel, size_t n,
			 uint64_t **set, size_t *num)
{
	for (size_t i = 0; i < n; i++, (*next)++) {
		split->x[*next * split->dim] = (uint8_t)pixel[i];
		push(set, num, tasks_sample_id(0, (uint32_t)*next));
	}
}

static double handmade_mia(struct handmade *h, const int *members, const int *nonmembers,
			   size_t n, const int *forget, size_t num_forget)
{
	struct engine *e = &h->r.e;
	unlearn_sets_free(&h->fs);
	size_t train = 0, test = 0;
	handmade_set(&e->train, &train, members, n, &h->fs.retain, &h->fs.num_retain);
	handmade_set(&e->train, &train, forget, num_forget, &h->fs.forget, &h->fs.num_forget);
	handmade_set(&e->test, &test, nonmembers, n, &h->fs.test, &h->fs.num_test);
	struct unlearn_spec spec = spec_quick();
	struct forget_figures f;
	measure(&h->r, &h->m, &h->fs, &spec, &f);
	return f.mia_threshold;
}

START_TEST(test_attack_threshold)
{
	struct handmade h;
	handmade_open(&h);
	/* Cutting after 180 or after 100 both classify 10 of 12 right; the tie goes to the cut
	 * with more members, and the threshold falls halfway (in -log p) between 100 and 90,
	 * near pixel 94. */
	int members[] = { 250, 240, 200, 180, 120, 100 };
	int nonmembers[] = { 150, 130, 90, 60, 40, 20 };
	int inside[] = { 110, 97 }, outside[] = { 91, 50 }, mixed[] = { 255, 93, 96, 0 };
	ck_assert(handmade_mia(&h, members, nonmembers, 6, inside, 2) == 0);
	ck_assert(handmade_mia(&h, members, nonmembers, 6, outside, 2) == 1);
	ck_assert(handmade_mia(&h, members, nonmembers, 6, mixed, 4) == 0.5);
	/* Separable: the threshold sits between 100 and 90 alone. */
	int high[] = { 250, 200, 150, 100 }, low[] = { 90, 60, 30, 0 };
	ck_assert(handmade_mia(&h, high, low, 4, inside, 2) == 0);
	ck_assert(handmade_mia(&h, high, low, 4, outside, 2) == 1);
	/* Members no more confident than non-members: the attack learned nothing and calls
	 * everything a member, however unconfident. */
	int same[] = { 128, 128, 128 }, backwards_m[] = { 20, 40, 60 };
	int backwards_n[] = { 200, 220, 240 }, any[] = { 0, 255 };
	ck_assert(handmade_mia(&h, same, same, 3, any, 2) == 0);
	ck_assert(handmade_mia(&h, backwards_m, backwards_n, 3, any, 2) == 0);
	unlearn_sets_free(&h.fs);
	model_free(&h.m);
	run_close(&h.r);
}
END_TEST

/* Members trained to near-zero loss against test samples never seen: the attack knows the
 * members of D_f, and calls training samples the model never saw non-members. */
START_TEST(test_attack_memorised)
{
	struct run r;
	run_open(&r, "class-incremental",
		 "classes = 4\ndim = 16\ntrain_per_class = 30\ntest_per_class = 100\nspread = 90",
		 "[tasks]\nsplit = 1\n[model]\nhidden = 128,128\n"
		 "[train]\nlr = 0.1\nbatch_size = 16\nepochs = 300\nseed = 5\n",
		 0);
	struct engine *e = &r.e;
	const struct task *t = &e->tasks.t[0];
	uint64_t *unseen = NULL;
	size_t num_unseen = 0;
	for (size_t i = 0; i < t->num_train; i += 4)
		push(&unseen, &num_unseen, tasks_sample_id(0, t->train[i]));
	lethe_forget_request req = { .struct_size = sizeof(req), .kind = LETHE_FORGET_SAMPLES,
				     .ids = unseen, .num_ids = num_unseen, .tasks_learned = 0 };
	struct error err;
	ck_assert_msg(engine_forget(e, &req, &err) == 0, "%s", err.msg);
	ck_assert_msg(engine_run(e, NULL, &err) == 0, "%s", err.msg);

	struct forget_sets fs;
	sets_stride(e, 0, 5, &fs); /* D_f: members */
	struct unlearn_spec spec = spec_quick();
	struct forget_figures f;
	measure(&r, &e->model, &fs, &spec, &f);
	ck_assert_msg(f.ra == 1 && f.ua == 0, "not memorised: RA %g UA %g", f.ra, f.ua);
	ck_assert_msg(f.ta < 0.9, "TA %g: the test samples are too easy", f.ta);
	ck_assert_msg(f.mia_threshold < 0.1 && metrics_mia(&f) < 0.1, "members: MIA %g, %g",
		      f.mia_threshold, metrics_mia(&f));
	free(fs.forget);
	fs.forget = unseen;
	fs.num_forget = num_unseen;
	measure(&r, &e->model, &fs, &spec, &f);
	ck_assert_msg(f.mia_threshold > 0.8 && metrics_mia(&f) > 0.8, "unseen: MIA %g, %g",
		      f.mia_threshold, metrics_mia(&f));
	unlearn_sets_free(&fs);
	run_close(&r);
}
END_TEST

START_TEST(test_relearn)
{
	struct run r;
	run_six(&r, "class-incremental");
	struct forget_sets fs;
	sets_class(&r.e, 1, &fs);
	struct unlearn_spec spec = spec_quick();
	spec.relearn_loss = 0.01;
	spec.relearn_max_epochs = 30;
	struct forget_figures orig, untrained, retrained;
	measure(&r, &r.e.model, &fs, &spec, &orig);
	measure(&r, &r.initial, &fs, &spec, &untrained);
	struct model ref;
	spec.retrain_epochs = 4;
	reference(&r, REFERENCE_RETRAIN, &r.e.model, &fs, &spec, &ref);
	measure(&r, &ref, &fs, &spec, &retrained);
	/* The original gets there within its first epoch, the others take more than one. */
	ck_assert_msg(orig.relearn_epochs > 0 && orig.relearn_epochs < 1, "%g",
		      orig.relearn_epochs);
	ck_assert_msg(orig.relearn_epochs < retrained.relearn_epochs, "%g vs retrained %g",
		      orig.relearn_epochs, retrained.relearn_epochs);
	ck_assert_msg(orig.relearn_epochs < untrained.relearn_epochs, "%g vs untrained %g",
		      orig.relearn_epochs, untrained.relearn_epochs);
	ck_assert(untrained.relearn_epochs > 1 && untrained.relearn_epochs <= 30);
	/* Fractional by batches. */
	double batches = ceil((double)fs.num_forget / (double)spec.batch_size);
	double whole = untrained.relearn_epochs * batches;
	ck_assert_msg(fabs(whole - round(whole)) < 1e-9, "%g", untrained.relearn_epochs);
	/* With momentum, whose velocity the bisection's replays restore as well. */
	spec.momentum = 0.5;
	spec.weight_decay = 1e-4;
	struct forget_figures m0, m1, m2;
	measure(&r, &r.e.model, &fs, &spec, &m0);
	measure(&r, &r.initial, &fs, &spec, &m1);
	measure(&r, &r.initial, &fs, &spec, &m2);
	ck_assert(m1.relearn_epochs == m2.relearn_epochs);
	ck_assert_msg(m0.relearn_epochs < m1.relearn_epochs, "%g vs untrained %g",
		      m0.relearn_epochs, m1.relearn_epochs);
	whole = m1.relearn_epochs * batches;
	ck_assert_msg(fabs(whole - round(whole)) < 1e-9, "%g", m1.relearn_epochs);
	spec.momentum = spec.weight_decay = 0;
	/* Already below: 0; out of reach: relearn_max_epochs + 1. */
	spec.relearn_loss = 100;
	measure(&r, &ref, &fs, &spec, &retrained);
	ck_assert(retrained.relearn_epochs == 0);
	spec.relearn_loss = 1e-30;
	spec.relearn_max_epochs = 2;
	measure(&r, &ref, &fs, &spec, &retrained);
	ck_assert(retrained.relearn_epochs == 3);
	model_free(&ref);
	unlearn_sets_free(&fs);
	run_close(&r);
}
END_TEST

START_TEST(test_gap_and_names)
{
	/* The threshold attack is reported, not in the gap: only the confidence SVC's counts. */
	struct forget_figures a = { .ua = 0.2, .ra = 0.9, .ta = 0.8, .mia_threshold = 0.9,
				    .svc_mia = { [FORGET_MIA_ATTACK] = 0.5 }, .seconds = 9 };
	struct forget_figures b = { .ua = 0.3, .ra = 0.95, .ta = 0.7, .mia_threshold = 0.2,
				    .svc_mia = { [FORGET_MIA_ATTACK] = 0.1, 0.7 } };
	ck_assert_double_eq_tol(metrics_gap(&a, &b), (0.1 + 0.05 + 0.1 + 0.4) / 4, 1e-12);
	ck_assert_double_eq_tol(metrics_gap(&b, &a), metrics_gap(&a, &b), 1e-15);
	ck_assert(metrics_gap(&a, &a) == 0);
	b.mia_threshold = NAN;
	ck_assert(isfinite(metrics_gap(&a, &b)));
	b.svc_mia[FORGET_MIA_ATTACK] = NAN;
	ck_assert(isnan(metrics_gap(&a, &b)));
	ck_assert_str_eq(scenario_reference_name(REFERENCE_RETRAIN), "retrain");
	ck_assert_str_eq(scenario_reference_name(REFERENCE_FINETUNE), "finetune");
	ck_assert_str_eq(scenario_reference_name(REFERENCE_GRADIENT_ASCENT), "gradient_ascent");
	ck_assert_str_eq(scenario_reference_name(REFERENCE_RANDOM_LABELS), "random_labels");
	ck_assert_ptr_null(scenario_reference_name(REFERENCE_COUNT));
	struct forget_sets fs = { 0 };
	unlearn_sets_free(&fs);
	push(&fs.test, &fs.num_test, 1);
	unlearn_sets_free(&fs);
	ck_assert_ptr_null(fs.test);
	ck_assert_uint_eq(fs.num_test, 0);
}
END_TEST

/* ---- references ---- */

static int same_params(const struct model *a, const struct model *b)
{
	return a->num_params == b->num_params &&
	       !memcmp(a->params, b->params, a->num_params * sizeof(float));
}

START_TEST(test_retrain)
{
	struct run r;
	run_six(&r, "class-incremental");
	struct forget_sets fs;
	sets_class(&r.e, 1, &fs);
	struct model before, initial, a, b, c;
	struct error err;
	ck_assert_int_eq(model_clone(&before, &r.e.model, &err), 0);
	ck_assert_int_eq(model_clone(&initial, &r.initial, &err), 0);
	struct unlearn_spec spec = spec_quick();
	spec.retrain_epochs = 8;
	reference(&r, REFERENCE_RETRAIN, &r.e.model, &fs, &spec, &a);
	reference(&r, REFERENCE_RETRAIN, &r.e.model, &fs, &spec, &b);
	ck_assert(same_params(&a, &b));
	ck_assert(same_params(&before, &r.e.model));
	ck_assert(same_params(&initial, &r.initial));
	ck_assert(!same_params(&a, &r.initial));
	spec.seed++;
	reference(&r, REFERENCE_RETRAIN, &r.e.model, &fs, &spec, &c);
	ck_assert(!same_params(&a, &c));
	/* Class 1 never seen: the retrained model gives it to other classes. */
	struct forget_figures f;
	measure(&r, &a, &fs, &spec, &f);
	ck_assert_msg(f.ua > 0.95 && f.forget_test_acc < 0.05 && f.ra > 0.6,
		      "UA %g, forget test %g, RA %g", f.ua, f.forget_test_acc, f.ra);
	/* finetune starts from before and stays deterministic as well. */
	model_free(&b);
	model_free(&c);
	reference(&r, REFERENCE_FINETUNE, &r.e.model, &fs, &spec, &b);
	reference(&r, REFERENCE_FINETUNE, &r.e.model, &fs, &spec, &c);
	ck_assert(same_params(&b, &c));
	ck_assert(!same_params(&b, &before));
	ck_assert(same_params(&before, &r.e.model));
	model_free(&a);
	model_free(&b);
	model_free(&c);
	model_free(&before);
	model_free(&initial);
	unlearn_sets_free(&fs);
	run_close(&r);
}
END_TEST

struct log_watch {
	int warnings;
	char last[ERROR_MSG_MAX];
};

static void watch_log(void *ctx, const struct event *ev)
{
	struct log_watch *w = ctx;
	if (ev->kind != EVENT_LOG || ev->level != LETHE_LOG_WARN)
		return;
	w->warnings++;
	snprintf(w->last, sizeof(w->last), "%s", ev->msg);
}

/* Whether m's logits on the training samples ids are all finite. */
static int finite_outputs(struct engine *e, struct model *m, const uint64_t *ids, size_t n)
{
	size_t dim = e->train.dim, C = e->num_classes;
	float *x = malloc(dim * sizeof(float)), *z = malloc(C * sizeof(float));
	struct error err;
	int finite = 1;
	for (size_t i = 0; i < n; i++) {
		tasks_convert(&e->tasks.t[ids[i] >> 32], e->train.x + (uint32_t)ids[i] * dim, 1,
			      dim, x);
		ck_assert_int_eq(model_forward(m, x, 1, z, &err), 0);
		for (size_t c = 0; c < C; c++)
			finite &= isfinite(z[c]) != 0;
	}
	free(x);
	free(z);
	return finite;
}

START_TEST(test_gradient_ascent)
{
	struct run r;
	run_six(&r, "class-incremental");
	struct log_watch w = { 0 };
	engine_add_sink(&r.e, watch_log, &w);
	struct forget_sets fs;
	sets_stride(&r.e, 0, 3, &fs);
	struct unlearn_spec spec = spec_quick();
	spec.ascent_epochs = 2;
	spec.ascent_lr = 0.05;
	struct forget_figures f0, f1;
	measure(&r, &r.e.model, &fs, &spec, &f0);
	struct model a;
	reference(&r, REFERENCE_GRADIENT_ASCENT, &r.e.model, &fs, &spec, &a);
	measure(&r, &a, &fs, &spec, &f1);
	ck_assert_msg(f1.ua > f0.ua + 0.3, "UA %g before, %g after", f0.ua, f1.ua);
	ck_assert_int_eq(w.warnings, 0);
	model_free(&a);

	/* A step so large that the logits overflow: it stops, keeps a finite model, says so. */
	spec.ascent_lr = 1e30;
	reference(&r, REFERENCE_GRADIENT_ASCENT, &r.e.model, &fs, &spec, &a);
	ck_assert_int_eq(w.warnings, 1);
	ck_assert_msg(strstr(w.last, "gradient_ascent") && strstr(w.last, "finite"), "%s",
		      w.last);
	ck_assert(finite_outputs(&r.e, &a, fs.forget, fs.num_forget));
	measure(&r, &a, &fs, &spec, &f1);
	ck_assert(isfinite(f1.ua) && isfinite(metrics_mia(&f1)));
	model_free(&a);
	unlearn_sets_free(&fs);
	run_close(&r);
}
END_TEST

/* Fitted to its random labels, the model gets every sample of D_f wrong, which it would not if a
 * label could be the true one. */
START_TEST(test_random_labels)
{
	const char *protocols[] = { "class-incremental", "task-incremental" };
	for (size_t p = 0; p < 2; p++) {
		struct run r;
		run_open(&r, protocols[p],
			 "classes = 6\ndim = 16\ntrain_per_class = 40\ntest_per_class = 10\n"
			 "spread = 20",
			 "[tasks]\ntask1 = 0,1,2\ntask2 = 3,4,5\n[model]\nhidden = 64,64\n"
			 "[train]\nbaseline = joint\nlr = 0.1\nbatch_size = 32\nepochs = 20\n"
			 "seed = 2\n",
			 1);
		struct forget_sets fs;
		sets_stride(&r.e, 0, 5, &fs);
		free(fs.retain); /* D_f alone, so that nothing pulls it back to the truth */
		fs.retain = NULL;
		fs.num_retain = 0;
		struct unlearn_spec spec = spec_quick();
		spec.finetune_epochs = 300;
		struct forget_figures f;
		measure(&r, &r.e.model, &fs, &spec, &f);
		ck_assert_msg(f.ua < 0.1, "%s: UA before %g", protocols[p], f.ua);
		struct model a;
		reference(&r, REFERENCE_RANDOM_LABELS, &r.e.model, &fs, &spec, &a);
		measure(&r, &a, &fs, &spec, &f);
		ck_assert_msg(f.ua == 1, "%s: UA %g", protocols[p], f.ua);
		model_free(&a);
		unlearn_sets_free(&fs);
		run_close(&r);
	}
}
END_TEST

START_TEST(test_random_labels_single_class)
{
	struct run r;
	run_open(&r, "task-incremental",
		 "classes = 3\ndim = 8\ntrain_per_class = 20\ntest_per_class = 5\nspread = 20",
		 "[tasks]\ntask1 = 0\ntask2 = 1,2\n[model]\nhidden = 8\n[train]\nseed = 1\n", 0);
	struct forget_sets fs;
	sets_stride(&r.e, 0, 2, &fs);
	struct unlearn_spec spec = spec_quick();
	struct model a;
	double seconds;
	struct error err;
	ck_assert_int_eq(unlearn_reference_run(&r.e.unlearn, REFERENCE_RANDOM_LABELS, &r.e.model,
					       &r.initial, &fs, &spec, &a, &seconds, &err), -1);
	ck_assert_msg(strstr(err.msg, "no wrong label"), "%s", err.msg);
	ck_assert_ptr_null(a.params);
	unlearn_sets_free(&fs);
	run_close(&r);
	/* Under class-incremental any learned class will do. */
	run_open(&r, "class-incremental",
		 "classes = 3\ndim = 8\ntrain_per_class = 20\ntest_per_class = 5\nspread = 20",
		 "[tasks]\ntask1 = 0\ntask2 = 1,2\n[model]\nhidden = 8\n[train]\nseed = 1\n", 0);
	sets_stride(&r.e, 0, 2, &fs);
	reference(&r, REFERENCE_RANDOM_LABELS, &r.e.model, &fs, &spec, &a);
	model_free(&a);
	unlearn_sets_free(&fs);
	run_close(&r);
}
END_TEST

#ifndef ALLOC_HOOK_OFF
/* Allocations of a reference run, or of a measure whose relearning runs all its epochs. */
static size_t allocations(struct run *r, int ref, const struct forget_sets *fs,
			  const struct unlearn_spec *spec)
{
	struct model out;
	struct forget_figures f;
	alloc_count = 0;
	alloc_counting = 1;
	if (ref >= 0)
		reference(r, (enum forget_reference)ref, &r->e.model, fs, spec, &out);
	else
		measure(r, &r->e.model, fs, spec, &f);
	alloc_counting = 0;
	if (ref >= 0)
		model_free(&out);
	return alloc_count;
}

START_TEST(test_no_allocation_per_batch)
{
	struct run r;
	run_six(&r, "task-incremental");
	struct forget_sets fs;
	sets_stride(&r.e, 2, 3, &fs);
	struct unlearn_spec one = spec_quick(), four = spec_quick();
	one.lr = four.lr = 0.01;
	four.retrain_epochs = four.finetune_epochs = four.ascent_epochs = 4;
	one.retrain_epochs = one.finetune_epochs = one.ascent_epochs = 1;
	one.relearn_loss = four.relearn_loss = 1e-30;
	one.relearn_max_epochs = 1;
	four.relearn_max_epochs = 4;
	for (int ref = -1; ref < REFERENCE_COUNT; ref++) {
		size_t a = allocations(&r, ref, &fs, &one), b = allocations(&r, ref, &fs, &four);
		ck_assert_msg(a == b, "%s: %zu allocations for 1 epoch, %zu for 4",
			      ref < 0 ? "measure" : scenario_reference_name(ref), a, b);
	}
	unlearn_sets_free(&fs);
	run_close(&r);
}
END_TEST
#endif

static Suite *unlearn_suite(void)
{
	Suite *s = suite_create("unlearn");
	TCase *tc = tcase_create("measure");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_figures_recount);
	tcase_add_test(tc, test_bad_ids);
	tcase_add_test(tc, test_attack_threshold);
	tcase_add_test(tc, test_attack_memorised);
	tcase_add_test(tc, test_relearn);
	tcase_add_test(tc, test_gap_and_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("references");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_retrain);
	tcase_add_test(tc, test_gradient_ascent);
	tcase_add_test(tc, test_random_labels);
	tcase_add_test(tc, test_random_labels_single_class);
#ifndef ALLOC_HOOK_OFF
	tcase_add_test(tc, test_no_allocation_per_batch);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(unlearn_suite());
}
