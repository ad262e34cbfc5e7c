/* The engine end to end on synthetic data: protocols, baselines, determinism, results files,
 * and a training loop that allocates nothing per batch. */
#define _GNU_SOURCE
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/engine.h"
#include "scenario/scenario.h"
#include "alloc_hook.h"
#include "testutil.h"

/* 6 well-separated classes in 3 tasks; the [tasks] and [train] lines vary per test. */
static char *write_scenario(const char *protocol, const char *tasks, const char *train)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = syn\nprotocol = %s\n"
		 "[data]\nsource = synthetic\nclasses = 6\ndim = 16\ntrain_per_class = 150\n"
		 "test_per_class = 40\nspread = 25\n"
		 "[tasks]\n%s\n[model]\nhidden = 32,32\n"
		 "[train]\nlr = 0.2\nbatch_size = 32\nepochs = 2\nseed = 7\n%s",
		 protocol, tasks, train ? train : "");
	return testutil_write_text(testutil_dir, "syn.ini", text);
}

struct outcome {
	double R[TASKS_MAX * TASKS_MAX];
	double b[TASKS_MAX];
	size_t T;
	char err[ERROR_MSG_MAX];
	int rc;
};

static void run_scenario(const char *path, const char *const *overrides, size_t n,
			 const char *out, struct outcome *o)
{
	struct scenario s;
	struct error err;
	struct plugin_path pp;
	struct engine e;
	memset(o, 0, sizeof(*o));
	ck_assert_msg(scenario_load(&s, path, overrides, n, &err) == 0, "%s", err.msg);
	plugin_path_init(&pp, getenv("LETHE_BUILD_PLUGINS"));
	o->rc = engine_open(&e, &s, &pp, &err);
	if (o->rc == 0)
		o->rc = engine_run(&e, out, &err);
	if (o->rc == 0) {
		o->T = e.tasks.count;
		memcpy(o->R, e.R, o->T * o->T * sizeof(double));
		memcpy(o->b, e.b, o->T * sizeof(double));
	} else {
		snprintf(o->err, sizeof(o->err), "%s", err.msg);
	}
	engine_close(&e);
	plugin_path_free(&pp);
	scenario_free(&s);
}

/* A scenario and the engine opened on it, for the tests that reach into the engine. */
struct engine_fixture {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
};

static void open_engine(struct engine_fixture *o, const char *path)
{
	struct error err;
	ck_assert_msg(scenario_load(&o->s, path, NULL, 0, &err) == 0, "%s", err.msg);
	plugin_path_init(&o->pp, getenv("LETHE_BUILD_PLUGINS"));
	ck_assert_msg(engine_open(&o->e, &o->s, &o->pp, &err) == 0, "%s", err.msg);
}

static void close_engine(struct engine_fixture *o)
{
	engine_close(&o->e);
	plugin_path_free(&o->pp);
	scenario_free(&o->s);
}

/* ---- run ---- */

START_TEST(test_class_incremental_forgets)
{
	char *path = write_scenario("class-incremental", "split = 3", NULL);
	struct outcome o;
	run_scenario(path, NULL, 0, testutil_dir, &o);
	ck_assert_msg(o.rc == 0, "%s", o.err);
	ck_assert_uint_eq(o.T, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_msg(o.R[i * 3 + i] > 0.9, "R[%zu][%zu] = %g", i, i, o.R[i * 3 + i]);
	/* The last task overwrites the first under one shared head. */
	ck_assert_msg(o.R[2 * 3 + 0] < 0.5, "R[3][1] = %g", o.R[6]);
	free(path);
}
END_TEST

/* Inter-task confusion against a recount from the model's own predictions, on its double
 * reference: the share of errors that land in another task's classes. A sample whose argmax
 * rounding could change (under whatever BLAS kernel) may count any of its ways, so the recount
 * is the set of (errors, across) pairs the float pass could reach. */
START_TEST(test_inter_task_confusion)
{
	char *path = write_scenario("class-incremental", "split = 3", NULL);
	struct engine_fixture fix;
	struct error err;
	open_engine(&fix, path);
	struct engine *e = &fix.e;
	ck_assert_msg(engine_run(e, NULL, &err) == 0, "%s", err.msg);
	size_t C = e->num_classes, dim = e->test.dim, n = 0;
	for (size_t j = 0; j < e->tasks.count; j++)
		n += e->tasks.t[j].num_test;
	struct ref_mlp ref;
	double *theta = ref_mlp_init_for(&ref, &e->model, n), *x = malloc(n * dim * sizeof(double));
	int32_t *y = malloc(n * sizeof(int32_t));
	float row[16];
	ck_assert_uint_le(dim, 16);
	for (size_t j = 0, i = 0; j < e->tasks.count; j++)
		for (size_t k = 0; k < e->tasks.t[j].num_test; k++, i++) {
			const struct task *t = &e->tasks.t[j];
			tasks_gather(t, &e->test, t->test + k, 1, row, &y[i]);
			for (size_t d = 0; d < dim; d++)
				x[i * dim + d] = row[d];
		}
	ref_mlp_forward(&ref, theta, x, NULL);
	/* reach[errors * (n + 1) + across]: a pair the float pass may count. */
	uint8_t *reach = calloc((n + 1) * (n + 1), 1), *next = malloc((n + 1) * (n + 1));
	reach[0] = 1;
	for (size_t i = 0; i < n; i++) {
		uint8_t can[6];
		ck_assert_uint_le(C, 6);
		ref_mlp_predict(&ref, i, NULL, can);
		memset(next, 0, (n + 1) * (n + 1));
		for (size_t at = 0; at < (n + 1) * (n + 1); at++)
			for (size_t c = 0; reach[at] && c < C; c++)
				if (can[c] && (int32_t)c == y[i])
					next[at] = 1;
				else if (can[c]) /* split = 3: classes 2k, 2k+1 */
					next[at + (n + 1) + (c / 2 != (size_t)y[i] / 2)] = 1;
		memcpy(reach, next, (n + 1) * (n + 1));
	}
	int found = 0;
	for (size_t errors = 1; errors <= n && !found; errors++)
		for (size_t across = 0; across <= errors && !found; across++)
			found = reach[errors * (n + 1) + across] &&
				e->confusion[2] == (double)across / (double)errors;
	ck_assert_msg(found, "confusion %g is no recount's", e->confusion[2]);
	/* Naive forgetting: the last task takes the old classes. */
	ck_assert(e->confusion[2] > 0.9);
	free(reach);
	free(next);
	free(theta);
	free(x);
	free(y);
	ref_mlp_free(&ref);
	close_engine(&fix);
	free(path);

	path = write_scenario("task-incremental", "split = 3", NULL);
	struct outcome o;
	run_scenario(path, NULL, 0, testutil_dir, &o);
	ck_assert_msg(o.rc == 0, "%s", o.err);
	char file[4200];
	snprintf(file, sizeof(file), "%s/metrics.json", testutil_dir);
	char *json = testutil_read(file, NULL);
	ck_assert_has(json, "\"inter_task_confusion\": null");
	free(json);
	free(path);
}
END_TEST

START_TEST(test_joint_remembers)
{
	char *path = write_scenario("class-incremental", "split = 3", "baseline = joint\n");
	struct outcome o;
	run_scenario(path, NULL, 0, NULL, &o);
	ck_assert_msg(o.rc == 0, "%s", o.err);
	for (size_t j = 0; j < 3; j++)
		ck_assert_msg(o.R[2 * 3 + j] > 0.85, "R[3][%zu] = %g", j, o.R[6 + j]);
	free(path);
}
END_TEST

START_TEST(test_task_incremental_masks)
{
	char *path = write_scenario("task-incremental", "split = 3", NULL);
	struct outcome o;
	run_scenario(path, NULL, 0, NULL, &o);
	ck_assert_msg(o.rc == 0, "%s", o.err);
	/* With the task id given, each well-separated binary task stays solved to the end. */
	for (size_t j = 0; j < 3; j++)
		ck_assert_msg(o.R[2 * 3 + j] > 0.8, "R[3][%zu] = %g", j, o.R[6 + j]);
	free(path);
}
END_TEST

START_TEST(test_domain_incremental_permuted)
{
	char *path = write_scenario("domain-incremental", "permuted = 3", NULL);
	struct outcome o;
	run_scenario(path, NULL, 0, NULL, &o);
	ck_assert_msg(o.rc == 0, "%s", o.err);
	ck_assert_uint_eq(o.T, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_msg(o.R[i * 3 + i] > 0.8, "R[%zu][%zu] = %g", i, i, o.R[i * 3 + i]);
	free(path);
}
END_TEST

/* ---- forget steps ---- */

/* What the forget step's progress events said, reference by reference. */
struct references_seen {
	const char *name[8];
	uint64_t done[8], total[8];
	size_t count;
	int out_of_order; /* a count that did not follow the one before, or passed its total */
};

static void follow_references(void *ctx, const struct event *ev)
{
	struct references_seen *r = ctx;
	if (ev->kind != EVENT_FORGET_PROGRESS)
		return;
	size_t k = r->count;
	if (k == 0 || strcmp(r->name[k - 1], ev->source) != 0) {
		ck_assert_uint_lt(k, 8);
		r->name[k] = ev->source;
		r->total[k] = ev->reference_total;
		r->count = ++k;
	}
	r->out_of_order |= ev->reference_done != r->done[k - 1] + 1 ||
			   ev->reference_total != r->total[k - 1] ||
			   ev->reference_done > ev->reference_total;
	r->done[k - 1] = ev->reference_done;
}

/* A class forgotten after step 1 of a joint run: every reference runs, the figures land in
 * metrics.json, and the later joint step never trains on the class again. */
START_TEST(test_forget_step)
{
	char *path = write_scenario("class-incremental", "split = 3",
				    "baseline = joint\n"
				    "[forget1]\nafter = 1\nwhat = class\nclasses = 1\n"
				    "references = retrain, finetune, gradient_ascent, "
				    "random_labels\nrelearn_max_epochs = 3\n");
	struct engine_fixture fix;
	struct error err;
	open_engine(&fix, path);
	struct engine *e = &fix.e;
	struct references_seen seen = { .count = 0 };
	engine_add_sink(e, follow_references, &seen);
	size_t before = e->tasks.t[0].num_train;
	ck_assert_msg(engine_run(e, testutil_dir, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(e->num_unlearning, 1);
	/* Every reference reported each batch it trained; all but gradient ascent, which stops
	 * where the loss overflows, trained every batch they planned. */
	ck_assert_msg(seen.count == 4, "%zu references reported progress", seen.count);
	ck_assert(!seen.out_of_order);
	for (size_t k = 0; k < seen.count; k++)
		if (strcmp(seen.name[k], "gradient_ascent") != 0)
			ck_assert_msg(seen.done[k] == seen.total[k] && seen.total[k] > 0,
				      "%s: %llu of %llu", seen.name[k],
				      (unsigned long long)seen.done[k],
				      (unsigned long long)seen.total[k]);
	const struct results_unlearning *u = &e->unlearning[0];
	ck_assert_uint_eq(u->num_forget, 150);
	ck_assert_uint_eq(e->tasks.t[0].num_train, before - 150);
	for (size_t i = 0; i < e->tasks.t[0].num_train; i++)
		ck_assert_int_ne(e->train.y[e->tasks.t[0].train[i]], 1);
	ck_assert_uint_eq(u->references, 0xf);
	/* Retrain never saw the class; the joint steps after it never see it again either. */
	ck_assert_msg(u->reference[REFERENCE_RETRAIN].ua > 0.95, "retrain UA %g",
		      u->reference[REFERENCE_RETRAIN].ua);
	ck_assert_msg(u->reference[REFERENCE_RETRAIN].forget_test_acc < 0.05, "%g",
		      u->reference[REFERENCE_RETRAIN].forget_test_acc);
	ck_assert_msg(e->R[2 * 3 + 0] < 0.6, "class 1 still recognised: R[3][1] = %g",
		      e->R[2 * 3 + 0]);
	close_engine(&fix);

	char file[4200];
	snprintf(file, sizeof(file), "%s/metrics.json", testutil_dir);
	json_error_t jerr;
	json_t *j = json_load_file(file, 0, &jerr);
	ck_assert_msg(j != NULL, "%s", jerr.text);
	json_t *un = json_object_get(j, "unlearning");
	ck_assert_uint_eq(json_array_size(un), 1);
	json_t *step = json_array_get(un, 0);
	ck_assert_str_eq(json_string_value(json_object_get(step, "what")), "class");
	ck_assert_int_eq(json_integer_value(json_object_get(step, "forget_samples")), 150);
	const char *keys[] = { "ua", "ra", "ta", "mia", "relearn_epochs", "seconds",
			       "gap_to_retrain" };
	for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++)
		ck_assert_msg(json_is_number(json_object_get(step, keys[k])), "%s", keys[k]);
	json_t *refs = json_object_get(step, "references");
	ck_assert_uint_eq(json_object_size(refs), 4);
	ck_assert(json_is_null(json_object_get(json_object_get(refs, "retrain"),
						"gap_to_retrain")));
	ck_assert(json_is_number(json_object_get(json_object_get(refs, "finetune"),
						  "gap_to_retrain")));
	json_decref(j);
	free(path);
}
END_TEST

/* ---- determinism ---- */

START_TEST(test_same_seed_same_bits)
{
	char *path = write_scenario("class-incremental", "split = 3", NULL);
	struct outcome a, b, c;
	run_scenario(path, NULL, 0, NULL, &a);
	run_scenario(path, NULL, 0, NULL, &b);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert_int_eq(memcmp(a.R, b.R, sizeof(a.R)), 0);
	ck_assert_int_eq(memcmp(a.b, b.b, sizeof(a.b)), 0);
	const char *seed2[] = { "train.seed=2" };
	run_scenario(path, seed2, 1, NULL, &c);
	ck_assert_int_eq(c.rc, 0);
	ck_assert_int_ne(memcmp(a.R, c.R, sizeof(a.R)), 0);
	free(path);
}
END_TEST

/* ---- results ---- */

START_TEST(test_results_files)
{
	char *path = write_scenario("class-incremental", "split = 3", NULL);
	struct outcome o;
	run_scenario(path, NULL, 0, testutil_dir, &o);
	ck_assert_msg(o.rc == 0, "%s", o.err);
	char file[4200];
	snprintf(file, sizeof(file), "%s/metrics.json", testutil_dir);
	json_error_t jerr;
	json_t *j = json_load_file(file, 0, &jerr);
	ck_assert_msg(j != NULL, "%s", jerr.text);
	ck_assert_str_eq(json_string_value(json_object_get(j, "protocol")), "class-incremental");
	json_t *R = json_object_get(j, "accuracy_matrix");
	ck_assert_uint_eq(json_array_size(R), 3);
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; k < 3; k++)
			ck_assert(json_real_value(json_array_get(json_array_get(R, i), k)) ==
				  o.R[i * 3 + k]);
	json_t *tasks = json_object_get(j, "tasks");
	ck_assert_uint_eq(json_array_size(tasks), 3);
	json_t *classes = json_object_get(json_array_get(tasks, 2), "classes");
	ck_assert_int_eq(json_integer_value(json_array_get(classes, 0)), 4);
	ck_assert_int_eq(json_integer_value(json_array_get(classes, 1)), 5);
	double acc = (o.R[6] + o.R[7] + o.R[8]) / 3;
	ck_assert(json_real_value(json_object_get(j, "average_accuracy")) == acc);
	ck_assert(json_is_true(json_object_get(j, "complete")));
	ck_assert(json_integer_value(json_object_get(j, "peak_rss_bytes")) > 0);
	json_decref(j);
	snprintf(file, sizeof(file), "%s/accuracy.csv", testutil_dir);
	char *csv = testutil_read(file, NULL);
	ck_assert_ptr_nonnull(csv);
	ck_assert_has(csv, "step,task_1,task_2,task_3\nuntrained,");
	free(csv);
	free(path);
}
END_TEST

/* ---- control: what the dashboard asks of a running engine ---- */

struct script {
	uint64_t at_batch;	    /* the request comes after this many batches (run-wide) */
	enum engine_request request;
	size_t task;
	int served;		    /* the request went out */
	int refused_logged;	    /* a warning came back */
	int skipped_logged;	    /* a scenario forget step was skipped */
	int bad_label_after;	    /* a batch after the forget held the forgotten classes */
	int forgot;		    /* EVENT_FORGET_END seen */
	int file_after_write;	    /* metrics.json existed at the poll after a write */
	const char *dir;
};

/* The protocol line of write_scenario, with an unlearning plugin loaded after it. */
#define WITH_REPULSION "class-incremental\nplugins = repulsion"

static enum engine_request scripted(void *ctx, struct engine *e, size_t *task)
{
	struct script *sc = ctx;
	if (sc->served == 1 && sc->request == ENGINE_REQ_WRITE) {
		char file[4200];
		snprintf(file, sizeof(file), "%s/metrics.json", sc->dir);
		sc->file_after_write = access(file, F_OK) == 0;
		sc->served = 2;
	}
	if (sc->served || e->batches_done < sc->at_batch)
		return ENGINE_REQ_NONE;
	sc->served = 1;
	*task = sc->task;
	return sc->request;
}

static void observe(void *ctx, const struct event *ev)
{
	struct script *sc = ctx;
	if (ev->kind == EVENT_FORGET_END)
		sc->forgot = 1;
	if (ev->kind == EVENT_LOG && ev->level == LETHE_LOG_WARN && strstr(ev->msg, "not done"))
		sc->refused_logged = 1;
	if (ev->kind == EVENT_LOG && ev->level == LETHE_LOG_WARN && strstr(ev->msg, "skipped"))
		sc->skipped_logged = 1;
	if (ev->kind == EVENT_BATCH && sc->forgot)
		for (size_t i = 0; i < ev->engine->batch.n; i++)
			sc->bad_label_after |= ev->engine->batch.y[i] < 2;
}

/* Runs the scenario at path with a scripted control; returns engine_run's status. */
static int run_scripted(const char *path, struct script *sc, size_t *unlearned, size_t *rows)
{
	struct engine_fixture fix;
	struct error err;
	open_engine(&fix, path);
	struct engine *e = &fix.e;
	engine_add_sink(e, observe, sc);
	engine_set_control(e, &(struct engine_control){ scripted, sc });
	sc->dir = testutil_dir;
	int rc = engine_run(e, testutil_dir, &err);
	ck_assert_msg(rc >= 0, "%s", err.msg);
	*unlearned = e->num_unlearning;
	*rows = e->rows_done;
	if (e->num_unlearning) {
		ck_assert_str_eq(e->unlearning[0].forget->section, "forget-now-1");
		ck_assert_uint_eq(e->tasks.t[0].num_train, 0);
	}
	close_engine(&fix);
	return rc;
}

static json_t *load_metrics(void)
{
	char file[4200];
	snprintf(file, sizeof(file), "%s/metrics.json", testutil_dir);
	json_error_t jerr;
	json_t *j = json_load_file(file, 0, &jerr);
	ck_assert_msg(j != NULL, "%s", jerr.text);
	return j;
}

/* Quit in the middle of step 2: the first step's row stays, marked incomplete. */
START_TEST(test_control_quit)
{
	char *path = write_scenario("class-incremental", "split = 3", NULL);
	struct script sc = { .at_batch = 35, .request = ENGINE_REQ_QUIT };
	size_t unlearned, rows;
	ck_assert_int_eq(run_scripted(path, &sc, &unlearned, &rows), ENGINE_STOPPED);
	ck_assert_uint_eq(rows, 1);
	json_t *j = load_metrics();
	ck_assert(json_is_false(json_object_get(j, "complete")));
	ck_assert_uint_eq(json_array_size(json_object_get(j, "accuracy_matrix")), 1);
	json_decref(j);
	free(path);
}
END_TEST

START_TEST(test_control_write)
{
	char *path = write_scenario("class-incremental", "split = 3", NULL);
	struct script sc = { .at_batch = 3, .request = ENGINE_REQ_WRITE };
	size_t unlearned, rows;
	ck_assert_int_eq(run_scripted(path, &sc, &unlearned, &rows), 0);
	ck_assert_msg(sc.file_after_write, "no metrics.json right after the write request");
	ck_assert_uint_eq(rows, 3);
	free(path);
}
END_TEST

/* Task 1 forgotten by repulsion in the middle of joint step 2: the rest of the run never trains
 * on its classes, and the figures join the run's. */
START_TEST(test_control_forget_now)
{
	char *path = write_scenario(WITH_REPULSION, "split = 3", "baseline = joint\n");
	struct script sc = { .at_batch = 35, .request = ENGINE_REQ_FORGET, .task = 0 };
	size_t unlearned, rows;
	ck_assert_int_eq(run_scripted(path, &sc, &unlearned, &rows), 0);
	ck_assert(sc.forgot);
	ck_assert_uint_eq(unlearned, 1);
	ck_assert_msg(!sc.bad_label_after, "a batch after the forget held a forgotten class");
	json_t *j = load_metrics();
	json_t *u = json_array_get(json_object_get(j, "unlearning"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(u, "section")), "forget-now-1");
	ck_assert_int_eq(json_integer_value(json_object_get(u, "after")), 2);
	ck_assert(json_is_object(json_object_get(json_object_get(u, "references"), "retrain")));
	json_decref(j);
	free(path);
}
END_TEST

/* A [forgetN] naming data the user already forgot at run time is skipped with a warning. */
START_TEST(test_control_forget_before_scenario)
{
	char *path = write_scenario(WITH_REPULSION, "split = 3",
				    "[forget1]\nafter = 3\nwhat = class\nclasses = 0\n"
				    "plugin = repulsion\nreferences = finetune\n");
	struct script sc = { .at_batch = 35, .request = ENGINE_REQ_FORGET, .task = 0 };
	size_t unlearned, rows;
	ck_assert_int_eq(run_scripted(path, &sc, &unlearned, &rows), 0);
	ck_assert_uint_eq(unlearned, 1);
	ck_assert_uint_eq(rows, 3);
	ck_assert(sc.skipped_logged);
	free(path);
}
END_TEST

/* A task not learned yet, or a scenario without an unlearning plugin: a warning, no change. */
START_TEST(test_control_forget_refused)
{
	char *path = write_scenario(WITH_REPULSION, "split = 3", NULL);
	struct script sc = { .at_batch = 35, .request = ENGINE_REQ_FORGET, .task = 2 };
	size_t unlearned, rows;
	ck_assert_int_eq(run_scripted(path, &sc, &unlearned, &rows), 0);
	ck_assert(sc.refused_logged);
	ck_assert_uint_eq(unlearned, 0);
	free(path);

	path = write_scenario("class-incremental", "split = 3", NULL);
	sc = (struct script){ .at_batch = 35, .request = ENGINE_REQ_FORGET, .task = 0 };
	ck_assert_int_eq(run_scripted(path, &sc, &unlearned, &rows), 0);
	ck_assert(sc.refused_logged);
	ck_assert_uint_eq(unlearned, 0);
	free(path);
}
END_TEST

/* Where the time went: every phase is in metrics.json, and they sum to about the total. */
START_TEST(test_phase_seconds)
{
	char *path = write_scenario("class-incremental\nplugins = rehearsal, repulsion", "split = 3",
				    "[forget1]\nafter = 3\nwhat = class\nclasses = 1\n"
				    "plugin = repulsion\nreferences = finetune\n");
	struct outcome o;
	run_scenario(path, NULL, 0, testutil_dir, &o);
	ck_assert_msg(o.rc == 0, "%s", o.err);
	json_t *j = load_metrics();
	json_t *sec = json_object_get(j, "seconds"), *ph = json_object_get(sec, "phases");
	double sum = 0;
	const char *names[] = { "train", "evaluate", "hooks", "forget", "checkpoint" };
	for (size_t i = 0; i < 5; i++) {
		json_t *v = json_object_get(ph, names[i]);
		ck_assert_msg(json_is_number(v), "phase %s", names[i]);
		sum += json_number_value(v);
	}
	for (size_t i = 0; i < 4; i++)
		ck_assert_msg(json_number_value(json_object_get(ph, names[i])) > 0, "%s", names[i]);
	double total = json_number_value(json_object_get(sec, "total"));
	/* Loose bounds: on a loaded machine the untimed glue (events, ordering) grows too. */
	ck_assert_msg(sum <= total * 1.05 + 0.05 && sum >= total * 0.5, "phases %g, total %g", sum,
		      total);
	json_t *rep = json_object_get(json_object_get(sec, "hooks"), "repulsion");
	ck_assert(json_is_number(json_object_get(rep, "unlearn")));
	json_decref(j);
	free(path);
}
END_TEST

/* ---- allocation: the training loop allocates nothing per batch ---- */

#ifndef ALLOC_HOOK_OFF
struct alloc_watch {
	size_t step;
	size_t at_last_batch;
	int seen;
	unsigned long batches_checked, offending;
};

static void watch(void *ctx, const struct event *ev)
{
	struct alloc_watch *w = ctx;
	if (ev->kind != EVENT_BATCH)
		return;
	if (w->seen && w->step == ev->step) {
		w->batches_checked++;
		if (alloc_count != w->at_last_batch)
			w->offending++;
	}
	w->seen = 1;
	w->step = ev->step;
	w->at_last_batch = alloc_count;
}

START_TEST(test_no_allocation_per_batch)
{
	char *path = write_scenario("task-incremental", "split = 3", NULL);
	struct engine_fixture fix;
	struct error err;
	open_engine(&fix, path);
	struct engine *e = &fix.e;
	struct alloc_watch w = { 0 };
	engine_add_sink(e, watch, &w);
	alloc_counting = 1;
	int rc = engine_run(e, NULL, &err);
	alloc_counting = 0;
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert(w.batches_checked > 50);
	ck_assert_msg(w.offending == 0, "%lu of %lu batches allocated", w.offending,
		      w.batches_checked);
	close_engine(&fix);
	free(path);
}
END_TEST
#endif

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("run");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_class_incremental_forgets);
	tcase_add_test(tc, test_joint_remembers);
	tcase_add_test(tc, test_inter_task_confusion);
	tcase_add_test(tc, test_task_incremental_masks);
	tcase_add_test(tc, test_domain_incremental_permuted);
	suite_add_tcase(s, tc);

	tc = tcase_create("forget");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_forget_step);
	suite_add_tcase(s, tc);

	tc = tcase_create("determinism");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_same_seed_same_bits);
	suite_add_tcase(s, tc);

	tc = tcase_create("results");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_results_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("control");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_control_quit);
	tcase_add_test(tc, test_control_write);
	tcase_add_test(tc, test_control_forget_now);
	tcase_add_test(tc, test_control_forget_refused);
	tcase_add_test(tc, test_control_forget_before_scenario);
	tcase_add_test(tc, test_phase_seconds);
	suite_add_tcase(s, tc);

#ifndef ALLOC_HOOK_OFF
	tc = tcase_create("allocation");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_no_allocation_per_batch);
	suite_add_tcase(s, tc);
#endif
	return s;
}

int main(void)
{
	return testutil_run(engine_suite());
}
