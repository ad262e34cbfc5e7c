/* The rehearsal plugin: its schedules' formulas, what it stores and replays, forget requests,
 * its state and figures, and that it helps, on small synthetic scenarios run by the engine. */
#define _GNU_SOURCE
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/plugin_loader.h"
#include "scenario/scenario.h"
#include "testutil.h"

#include "../plugins/rehearsal/schedule.h"

/* ---- the schedules ---- */

START_TEST(test_schedule_formulas)
{
	struct schedule s = { .kind = SCHEDULE_POWER_LAW, .n0 = 1, .d0 = 10, .a = 5.6 };
	const double power[4] = { 1.0, 0.5864, 0.3602, 0.2301 };
	for (uint32_t d = 0; d < 4; d++) {
		double n = schedule_rate(&s, d, 3, 12345);
		ck_assert_double_eq_tol(n, power[d], 5e-5);
		ck_assert_double_eq_tol(n, pow(1.0 + d / 10.0, -5.6), 1e-12);
	}
	/* N0 from the task's size; counts rounded to nearest. */
	s.n0 = 0;
	s.n0_fraction = 0.5;
	ck_assert_double_eq_tol(schedule_rate(&s, 1, 1, 6000), 3000 * pow(1.1, -5.6), 1e-9);
	ck_assert_uint_eq(schedule_count(&s, 1, 1, 6000), 1759); /* 1759.2 */
	ck_assert_uint_eq(schedule_count(&s, 3, 1, 6000), 690);	 /* 690.4 */

	s = (struct schedule){ .kind = SCHEDULE_EXPONENTIAL, .n0 = 100, .beta = 2 };
	ck_assert_double_eq_tol(schedule_rate(&s, 0, 1, 0), 100.0, 1e-12);
	ck_assert_double_eq_tol(schedule_rate(&s, 1, 1, 0), 60.6531, 1e-4);
	ck_assert_double_eq_tol(schedule_rate(&s, 2, 1, 0), 36.7879, 1e-4);
	ck_assert_uint_eq(schedule_count(&s, 3, 1, 0), 22); /* 22.31 */

	/* uniform: budget / past, the remainder to the most recent; exact over all. */
	s = (struct schedule){ .kind = SCHEDULE_UNIFORM, .budget = 500 };
	ck_assert_double_eq_tol(schedule_rate(&s, 1, 3, 0), 500.0 / 3, 1e-12);
	ck_assert_uint_eq(schedule_count(&s, 1, 3, 0), 167);
	ck_assert_uint_eq(schedule_count(&s, 2, 3, 0), 167);
	ck_assert_uint_eq(schedule_count(&s, 3, 3, 0), 166);
	ck_assert_uint_eq(schedule_count(&s, 1, 4, 0) + schedule_count(&s, 2, 4, 0) +
				  schedule_count(&s, 3, 4, 0) + schedule_count(&s, 4, 4, 0),
			  500);
	ck_assert_uint_eq(schedule_count(&s, 1, 0, 0), 0);
}
END_TEST

/* ---- runs ---- */

#define DATA_SMALL "classes = 6\ndim = 8\ntrain_per_class = 60\ntest_per_class = 20\nspread = 10\n"
#define TRAIN_SMALL "lr = 0.05\nbatch_size = 20\nepochs = 2\nseed = 3\n"

/* rehearsal is the only plugin unless its section is NULL. */
static char *write_scenario(const char *protocol, const char *data, const char *tasks,
			    const char *train, const char *rehearsal)
{
	char text[4096];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = rehearsal\nprotocol = %s\n%s"
		 "[data]\nsource = synthetic\n%s[tasks]\n%s[model]\nhidden = 16\n[train]\n%s%s%s",
		 protocol, rehearsal ? "plugins = rehearsal\n" : "", data, tasks, train,
		 rehearsal ? "[rehearsal]\n" : "", rehearsal ? rehearsal : "");
	return testutil_write_text(testutil_dir, "rehearsal.ini", text);
}

/* The plugin's state, decoded as rehearsal.c documents it. */
struct buffer {
	uint32_t dim;
	uint64_t count, seen;
	uint8_t *pixels;
	int32_t *y;
	uint64_t *id;
	uint32_t *task;
};

static void buffer_free(struct buffer *b)
{
	free(b->pixels);
	free(b->y);
	free(b->id);
	free(b->task);
}

static size_t buffer_of_task(const struct buffer *b, uint32_t k)
{
	size_t n = 0;
	for (size_t i = 0; i < b->count; i++)
		n += b->task[i] == k;
	return n;
}

static char *state_save(struct engine *e, size_t *size)
{
	char *buf;
	struct error err;
	FILE *f = open_memstream(&buf, size);
	ck_assert_msg(engine_plugin_save(e, 0, f, &err) == 0, "%s", err.msg);
	fclose(f);
	return buf;
}

static int state_load(struct engine *e, const char *state, size_t size, struct error *err)
{
	FILE *f = fmemopen((void *)state, size, "rb");
	int rc = engine_plugin_load(e, 0, f, err);
	fclose(f);
	return rc;
}

static void take(void *dst, const char **p, size_t size)
{
	memcpy(dst, *p, size);
	*p += size;
}

/* Decodes the state, and checks every sample against the data set its id names. */
static void buffer_read(struct engine *e, struct buffer *b)
{
	size_t size;
	char *raw = state_save(e, &size);
	const char *p = raw;
	uint32_t version;
	uint64_t len;
	take(&version, &p, sizeof(version));
	take(&len, &p, sizeof(len));
	take(&b->dim, &p, sizeof(b->dim));
	take(&b->count, &p, sizeof(b->count));
	take(&b->seen, &p, sizeof(b->seen));
	ck_assert_uint_eq(version, 2);
	ck_assert_uint_eq(b->dim, e->train.dim);
	/* The buffer, then the task under way. */
	ck_assert_uint_gt(len, 4 + 8 + 8 + b->count * (b->dim + 16));
	ck_assert_uint_eq(size, 4 + 8 + len);
	size_t n = b->count;
	b->pixels = malloc(n * b->dim + 1);
	b->y = malloc(n * sizeof(*b->y) + 1);
	b->id = malloc(n * sizeof(*b->id) + 1);
	b->task = malloc(n * sizeof(*b->task) + 1);
	take(b->pixels, &p, n * b->dim);
	take(b->y, &p, n * sizeof(*b->y));
	take(b->id, &p, n * sizeof(*b->id));
	take(b->task, &p, n * sizeof(*b->task));
	free(raw);
	for (size_t i = 0; i < n; i++) {
		uint64_t pos = b->id[i] & 0xffffffffu;
		ck_assert_uint_eq(b->id[i] >> 32, b->task[i]);
		ck_assert_uint_lt(pos, e->train.n);
		ck_assert_int_eq(b->y[i], e->train.y[pos]);
		ck_assert(memcmp(b->pixels + i * b->dim, e->train.x + pos * b->dim, b->dim) == 0);
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(b->id[j] != b->id[i], "sample %llx stored twice",
				      (unsigned long long)b->id[i]);
	}
}

/* What the sink sees: the buffer after each step, and every replayed row (past the host's). */
#define STEPS_MAX 8
#define ROWS_MAX 100000

struct replayed {
	uint32_t step, epoch, batch, task;
	uint64_t id;
	int32_t y;
	int x_ok;	    /* x is the stored pixels under the row's own task's transform */
	int x_as_current; /* x would be the same under the current task's transform */
};

struct record {
	struct engine *e;
	size_t steps;
	size_t stored[STEPS_MAX][STEPS_MAX]; /* after step s, of task k */
	size_t total[STEPS_MAX];
	double stored_samples[STEPS_MAX];    /* the reported figure */
	struct replayed *rows;
	size_t num_rows;
	size_t batches[STEPS_MAX];
};

static double figure(const struct engine *e, const char *key)
{
	const struct services_ctx *c = &e->plugins[0].svc;
	for (size_t i = 0; i < c->num_metrics; i++)
		if (!strcmp(c->metrics[i].key, key))
			return c->metrics[i].value;
	ck_abort_msg("no figure '%s'", key);
	return 0;
}

static void record_batch(struct record *r, const struct event *ev)
{
	const struct engine *e = ev->engine;
	const lethe_batch *b = &e->batch;
	size_t dim = b->dim;
	float *x = malloc(2 * dim * sizeof(float));
	/* The host's rows come first: batch_size of them, fewer in an epoch's last batch. */
	size_t bs = e->s->batch_size, left = e->tasks.t[b->task].num_train - ev->batch * bs;
	size_t fresh = left < bs ? left : bs;
	r->batches[ev->step]++;
	for (size_t i = fresh; i < b->n; i++) {
		ck_assert_uint_lt(r->num_rows, ROWS_MAX);
		const uint8_t *pixels = e->train.x + (b->ids[i] & 0xffffffffu) * dim;
		tasks_convert(&e->tasks.t[b->tasks[i]], pixels, 1, dim, x);
		tasks_convert(&e->tasks.t[b->task], pixels, 1, dim, x + dim);
		r->rows[r->num_rows++] = (struct replayed){
			.step = (uint32_t)ev->step,
			.epoch = (uint32_t)ev->epoch,
			.batch = (uint32_t)ev->batch,
			.task = b->tasks[i],
			.id = b->ids[i],
			.y = b->y[i],
			.x_ok = !memcmp(x, b->x + i * dim, dim * sizeof(float)),
			.x_as_current = !memcmp(x + dim, b->x + i * dim, dim * sizeof(float)),
		};
	}
	free(x);
}

static void record_step(struct record *r, const struct event *ev)
{
	struct buffer b = { 0 };
	buffer_read(r->e, &b);
	for (uint32_t k = 0; k < STEPS_MAX; k++)
		r->stored[ev->step][k] = buffer_of_task(&b, k);
	r->total[ev->step] = b.count;
	r->stored_samples[ev->step] = figure(r->e, "stored_samples");
	r->steps = ev->step + 1;
	buffer_free(&b);
}

static void record(void *ctx, const struct event *ev)
{
	struct record *r = ctx;
	if (ev->kind == EVENT_BATCH)
		record_batch(r, ev);
	else if (ev->kind == EVENT_STEP_END)
		record_step(r, ev);
}

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct record rec;
	struct error err;
};

static void run_open(struct run *r, const char *protocol, const char *data, const char *tasks,
		     const char *train, const char *rehearsal)
{
	memset(r, 0, sizeof(*r));
	char *path = write_scenario(protocol, data, tasks, train, rehearsal);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &r->err) == 0, "%s", r->err.msg);
	free(path);
	plugin_path_init(&r->pp, getenv("LETHE_BUILD_PLUGINS"));
	ck_assert_msg(engine_open(&r->e, &r->s, &r->pp, &r->err) == 0, "%s", r->err.msg);
	if (rehearsal) {
		r->rec.e = &r->e;
		r->rec.rows = malloc(ROWS_MAX * sizeof(*r->rec.rows));
		engine_add_sink(&r->e, record, &r->rec);
	}
}

static void run_go(struct run *r, const char *out)
{
	ck_assert_msg(engine_run(&r->e, out, &r->err) == 0, "%s", r->err.msg);
}

static void run_close(struct run *r)
{
	free(r->rec.rows);
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

/* ---- storage ---- */

static const char *const shared_schedules[] = { "power-law", "uniform", "exponential" };

/* 4 tasks of 120 samples, max_stored 50: after task t, every task holds 50 / t. */
START_TEST(test_equal_shares)
{
	char section[128];
	snprintf(section, sizeof(section), "schedule = %s\nmax_stored = 50\n",
		 shared_schedules[_i]);
	struct run r;
	run_open(&r, "class-incremental", "classes = 8\ndim = 8\ntrain_per_class = 60\n"
		 "test_per_class = 10\nspread = 10\n", "split = 4\n", TRAIN_SMALL, section);
	run_go(&r, NULL);
	ck_assert_uint_eq(r.rec.steps, 4);
	for (size_t s = 0; s < 4; s++) {
		size_t share = 50 / (s + 1);
		for (uint32_t k = 0; k < 4; k++)
			ck_assert_uint_eq(r.rec.stored[s][k], k <= s ? share : 0);
		ck_assert_uint_le(r.rec.total[s], 50);
		ck_assert_uint_eq(r.rec.stored_samples[s], r.rec.total[s]);
	}
	run_close(&r);
}
END_TEST

/* 5 tasks of 400 samples through a reservoir of 200, 2 epochs: each sample is offered once, and
 * each task keeps about 200/5 = 40 (sd 5.4), whatever its place in the stream. */
START_TEST(test_reservoir_uniform)
{
	struct run r;
	run_open(&r, "class-incremental", "classes = 10\ndim = 4\ntrain_per_class = 200\n"
		 "test_per_class = 10\nspread = 10\n", "split = 5\n",
		 "lr = 0.05\nbatch_size = 50\nepochs = 2\nseed = 5\n",
		 "max_stored = 200\nreplay_batch = 10\n");
	run_go(&r, NULL);
	struct buffer b = { 0 };
	buffer_read(&r.e, &b);
	ck_assert_uint_eq(b.seen, 2000);
	ck_assert_uint_eq(b.count, 200);
	for (uint32_t k = 0; k < 5; k++) {
		size_t n = buffer_of_task(&b, k);
		ck_assert_msg(n >= 24 && n <= 56, "task %u keeps %zu of 200", k, n);
	}
	/* It fills before it samples: after task 1 it holds 200 of task 1's 400. */
	ck_assert_uint_eq(r.rec.stored[0][0], 200);
	buffer_free(&b);
	run_close(&r);
}
END_TEST

/* ---- replay ---- */

/* Every replayed row is the stored sample under its own task: id, label, class and transform. */
static void check_rows(const struct run *r)
{
	const struct engine *e = &r->e;
	for (size_t i = 0; i < r->rec.num_rows; i++) {
		const struct replayed *row = &r->rec.rows[i];
		uint64_t pos = row->id & 0xffffffffu;
		ck_assert_uint_le(row->task, row->step);
		ck_assert_uint_eq(row->id >> 32, row->task);
		ck_assert_int_eq(row->y, e->train.y[pos]);
		ck_assert(e->tasks.t[row->task].class_mask[row->y]);
		ck_assert(row->x_ok);
	}
}

/* Task-incremental split: reservoir rows, min(replay_batch, stored) in every batch from the
 * second task on. The buffer takes the current task's samples too, and replays them. */
START_TEST(test_reservoir_rows)
{
	struct run r;
	run_open(&r, "task-incremental", DATA_SMALL, "split = 3\n", TRAIN_SMALL,
		 "max_stored = 30\nreplay_batch = 7\n");
	run_go(&r, NULL);
	check_rows(&r);
	/* 3 tasks x 2 epochs x 6 batches; 7 rows in each of the last 24. */
	ck_assert_uint_eq(r.rec.batches[0] + r.rec.batches[1] + r.rec.batches[2], 36);
	ck_assert_uint_eq(r.rec.num_rows, 24 * 7);
	ck_assert_uint_eq(r.rec.rows[0].step, 1);
	run_close(&r);
}
END_TEST

/* Power-law, N0 = a quarter of the task's 120 samples, 6 batches an epoch: task 3 replays
 * round(30 x 1.2^-5.6) = 11 of task 1 and round(30 x 1.1^-5.6) = 18 of task 2 every epoch,
 * without replacement (each holds 30), in batches of ceil(29 / 6) = 5 rows and a last of 4. */
START_TEST(test_power_law_rows)
{
	struct run r;
	run_open(&r, "task-incremental", DATA_SMALL, "split = 3\n", TRAIN_SMALL,
		 "schedule = power-law\nmax_stored = 60\nn0_fraction = 0.25\n");
	run_go(&r, NULL);
	check_rows(&r);
	size_t per_batch[2][6] = { { 0 } }, of_task[2][2] = { { 0 } };
	for (size_t i = 0; i < r.rec.num_rows; i++) {
		const struct replayed *row = &r.rec.rows[i];
		if (row->step != 2)
			continue;
		ck_assert_uint_lt(row->task, 2);
		per_batch[row->epoch][row->batch]++;
		of_task[row->epoch][row->task]++;
		for (size_t j = 0; j < i; j++)
			ck_assert(r.rec.rows[j].step != 2 || r.rec.rows[j].epoch != row->epoch ||
				  r.rec.rows[j].id != row->id);
	}
	for (size_t ep = 0; ep < 2; ep++) {
		for (size_t bi = 0; bi < 6; bi++)
			ck_assert_uint_eq(per_batch[ep][bi], bi < 5 ? 5 : 4);
		ck_assert_uint_eq(of_task[ep][0], 11);
		ck_assert_uint_eq(of_task[ep][1], 18);
	}
	run_close(&r);
}
END_TEST

/* Permuted tasks: a replayed row takes its own task's permutation, not the current one's. */
START_TEST(test_permuted_rows)
{
	struct run r;
	run_open(&r, "domain-incremental", DATA_SMALL, "permuted = 3\n", TRAIN_SMALL,
		 "schedule = uniform\nmax_stored = 30\nbudget = 40\n");
	run_go(&r, NULL);
	check_rows(&r);
	size_t differ = 0;
	for (size_t i = 0; i < r.rec.num_rows; i++)
		differ += !r.rec.rows[i].x_as_current;
	ck_assert_uint_eq(r.rec.num_rows, 2 * 40 + 2 * 40);
	ck_assert_uint_gt(differ, r.rec.num_rows / 2);
	run_close(&r);
}
END_TEST

/* ---- forget ---- */

static const char *const forget_sections[] = {
	"max_stored = 60\n",
	"schedule = power-law\nmax_stored = 60\n",
};

/* Forgetting class 2 (task 2's first) leaves no sample of it in the buffer. */
START_TEST(test_forget_class)
{
	struct run r;
	run_open(&r, "class-incremental", DATA_SMALL, "split = 3\n", TRAIN_SMALL,
		 forget_sections[_i]);
	run_go(&r, NULL);
	struct buffer before = { 0 }, after = { 0 };
	buffer_read(&r.e, &before);
	size_t of_class = 0;
	for (size_t i = 0; i < before.count; i++)
		of_class += before.y[i] == 2;
	ck_assert_uint_gt(of_class, 0);

	const struct task *t = &r.e.tasks.t[1];
	ck_assert_int_eq(t->classes[0], 2);
	uint64_t *ids = malloc(t->num_train * sizeof(*ids));
	size_t n = 0;
	for (size_t i = 0; i < t->num_train; i++)
		if (r.e.train.y[t->train[i]] == 2)
			ids[n++] = tasks_sample_id(1, t->train[i]);
	for (size_t i = 1; i < n; i++) /* insertion sort: the host wants them ascending */
		for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
			uint64_t v = ids[j];
			ids[j] = ids[j - 1];
			ids[j - 1] = v;
		}
	int32_t cls = 2;
	lethe_forget_request req = { .struct_size = sizeof(req), .kind = LETHE_FORGET_CLASS,
				     .classes = &cls, .num_classes = 1, .ids = ids, .num_ids = n };
	ck_assert_msg(engine_forget(&r.e, &req, &r.err) == 0, "%s", r.err.msg);

	buffer_read(&r.e, &after);
	ck_assert_uint_eq(after.count, before.count - of_class);
	for (size_t i = 0; i < after.count; i++)
		ck_assert_int_ne(after.y[i], 2);
	ck_assert_uint_eq(figure(&r.e, "stored_samples"), after.count);
	ck_assert_uint_eq(figure(&r.e, "stored_bytes"), after.count * (8 + 16));
	free(ids);
	buffer_free(&before);
	buffer_free(&after);
	run_close(&r);
}
END_TEST

/* ---- state and figures ---- */

START_TEST(test_state_round_trip)
{
	struct run a, b, c;
	const char *section = "max_stored = 40\n";
	run_open(&a, "class-incremental", DATA_SMALL, "split = 3\n", TRAIN_SMALL, section);
	run_go(&a, NULL);
	size_t size, again_size;
	char *state = state_save(&a.e, &size);

	run_open(&b, "class-incremental", DATA_SMALL, "split = 3\n", TRAIN_SMALL, section);
	ck_assert_msg(state_load(&b.e, state, size, &b.err) == 0, "%s", b.err.msg);
	char *again = state_save(&b.e, &again_size);
	ck_assert_uint_eq(again_size, size);
	ck_assert(memcmp(again, state, size) == 0);
	ck_assert_uint_eq(figure(&b.e, "stored_samples"), 40);

	/* Cut short, a label out of range, or samples of another size: refused. */
	ck_assert_int_eq(state_load(&b.e, state, size - 1, &b.err), -1);
	ck_assert_has(b.err.msg, "plugin rehearsal: load failed");
	char *bad = malloc(size);
	memcpy(bad, state, size);
	int32_t label = 99;
	memcpy(bad + 12 + 20 + 40 * 8, &label, sizeof(label));
	ck_assert_int_eq(state_load(&b.e, bad, size, &b.err), -1);
	ck_assert_has(b.err.msg, "label 99");
	run_open(&c, "class-incremental", "classes = 6\ndim = 9\ntrain_per_class = 60\n"
		 "test_per_class = 20\nspread = 10\n", "split = 3\n", TRAIN_SMALL, section);
	ck_assert_int_eq(state_load(&c.e, state, size, &c.err), -1);
	ck_assert_has(c.err.msg, "of 8 values");

	free(bad);
	free(state);
	free(again);
	run_close(&a);
	run_close(&b);
	run_close(&c);
}
END_TEST

START_TEST(test_stored_bytes_in_metrics)
{
	struct run r;
	run_open(&r, "class-incremental", DATA_SMALL, "split = 3\n", TRAIN_SMALL,
		 "max_stored = 45\n");
	run_go(&r, testutil_dir);
	char path[4200];
	snprintf(path, sizeof(path), "%s/metrics.json", testutil_dir);
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	ck_assert_msg(root != NULL, "%s", jerr.text);
	json_t *fig = json_object_get(json_object_get(root, "plugin_metrics"), "rehearsal");
	/* 45 samples of 8 pixels, an int32 label, a uint64 id and a uint32 task. */
	ck_assert_double_eq(json_number_value(json_object_get(fig, "stored_samples")), 45);
	ck_assert_double_eq(json_number_value(json_object_get(fig, "stored_bytes")), 45 * 24);
	json_decref(root);
	run_close(&r);
}
END_TEST

/* ---- it helps ---- */

#define DATA_HELPS "classes = 10\ndim = 32\ntrain_per_class = 200\ntest_per_class = 50\n" \
		   "spread = 30\n"

static double average_accuracy(const char *rehearsal)
{
	struct run r;
	run_open(&r, "class-incremental", DATA_HELPS, "split = 5\n",
		 "lr = 0.1\nbatch_size = 32\nepochs = 5\nseed = 1\n", rehearsal);
	run_go(&r, NULL);
	size_t T = r.e.tasks.count;
	double acc = 0;
	for (size_t j = 0; j < T; j++)
		acc += r.e.R[(T - 1) * T + j] / T;
	run_close(&r);
	return acc;
}

/* Class-incremental, 5 tasks of 2 classes: naive ends at 0.20 (only the last task), a reservoir
 * of 200 at 0.86 (0.65 to 0.86 over seeds 1 to 4, naive 0.20 on each). */
START_TEST(test_rehearsal_helps)
{
	double naive = average_accuracy(NULL);
	double reservoir = average_accuracy("max_stored = 200\n");
	ck_assert_msg(reservoir > naive + 0.4, "naive %.4f, reservoir %.4f", naive, reservoir);
}
END_TEST

static Suite *rehearsal_suite(void)
{
	Suite *s = suite_create("rehearsal");
	TCase *tc = tcase_create("schedule");
	tcase_add_test(tc, test_schedule_formulas);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_loop_test(tc, test_equal_shares, 0, 3);
	tcase_add_test(tc, test_reservoir_uniform);
	tcase_add_test(tc, test_reservoir_rows);
	tcase_add_test(tc, test_power_law_rows);
	tcase_add_test(tc, test_permuted_rows);
	tcase_add_loop_test(tc, test_forget_class, 0, 2);
	tcase_add_test(tc, test_state_round_trip);
	tcase_add_test(tc, test_stored_bytes_in_metrics);
	tcase_add_test(tc, test_rehearsal_helps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(rehearsal_suite());
}
