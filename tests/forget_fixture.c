/* The unlearning plugins' fixture: see forget_fixture.h. */
#define _GNU_SOURCE
#include "forget_fixture.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/services.h"
#include "model/loss.h"
#include "testutil.h"

#define DIM 8
#define CLASSES 4

int fixture_open(struct fixture *f, const char *plugin, const char *params, const char *model)
{
	char text[2048];
	memset(f, 0, sizeof(*f));
	snprintf(text, sizeof(text),
		 "[scenario]\nname = fixture\nprotocol = class-incremental\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = %d\ndim = %d\ntrain_per_class = 60\n"
		 "test_per_class = 50\nspread = 100\n[tasks]\nsplit = 2\n[model]\n%s\n"
		 "[train]\nbaseline = joint\nlr = 0.2\nbatch_size = 32\nepochs = 20\nseed = 3\n"
		 "[%s]\n%s",
		 plugin, CLASSES, DIM, model ? model : "hidden = 64", plugin, params);
	char *path = testutil_write_text(testutil_dir, "fixture.ini", text);
	ck_assert_msg(scenario_load(&f->s, path, NULL, 0, &f->err) == 0, "%s", f->err.msg);
	free(path);
	plugin_path_init(&f->pp, getenv("LETHE_BUILD_PLUGINS"));
	return engine_open(&f->e, &f->s, &f->pp, &f->err);
}

void fixture_learn(struct fixture *f, const char *plugin, const char *params, const char *model)
{
	ck_assert_msg(fixture_open(f, plugin, params, model) == 0, "%s", f->err.msg);
	ck_assert_msg(engine_run(&f->e, NULL, &f->err) == 0, "%s", f->err.msg);
}

void fixture_close(struct fixture *f)
{
	engine_close(&f->e);
	plugin_path_free(&f->pp);
	scenario_free(&f->s);
}

static int by_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void request(struct fixture *f, lethe_forget_kind kind, uint32_t task, size_t n)
{
	qsort(f->ids, n, sizeof(uint64_t), by_id);
	f->req = (lethe_forget_request){
		.struct_size = sizeof(f->req),
		.kind = kind,
		.task = task,
		.ids = f->ids,
		.num_ids = n,
		.tasks_learned = 2,
	};
}

void fixture_request_samples(struct fixture *f, uint32_t task, size_t every)
{
	const struct task *t = &f->e.tasks.t[task];
	size_t n = 0;
	for (size_t i = 0; i < t->num_train; i += every) {
		ck_assert_uint_lt(n, FIXTURE_IDS_MAX);
		f->ids[n++] = tasks_sample_id(task, t->train[i]);
	}
	request(f, LETHE_FORGET_SAMPLES, task, n);
}

void fixture_request_all(struct fixture *f)
{
	size_t n = 0;
	for (uint32_t k = 0; k < f->e.tasks.count; k++)
		for (size_t i = 0; i < f->e.tasks.t[k].num_train; i++) {
			ck_assert_uint_lt(n, FIXTURE_IDS_MAX);
			f->ids[n++] = tasks_sample_id(k, f->e.tasks.t[k].train[i]);
		}
	request(f, LETHE_FORGET_TASK, 0, n);
}

int fixture_unlearn(struct fixture *f)
{
	struct engine_plugin *p = &f->e.plugins[0];
	p->svc.has_error = 0;
	return p->hooks.unlearn(p->inst, &f->req);
}

const char *fixture_error(const struct fixture *f)
{
	return f->e.plugins[0].svc.error;
}

static int correct(struct fixture *f, const struct task *t, const struct dataset *d,
		   uint32_t pos)
{
	float x[DIM], logits[CLASSES];
	int32_t y;
	tasks_gather(t, d, &pos, 1, x, &y);
	ck_assert_int_eq(model_forward(&f->e.model, x, 1, logits, &f->err), 0);
	return loss_argmax(logits, CLASSES, NULL) == y;
}

double fixture_forget_accuracy(struct fixture *f)
{
	size_t hits = 0;
	for (size_t i = 0; i < f->req.num_ids; i++) {
		uint64_t id = f->ids[i];
		hits += correct(f, &f->e.tasks.t[id >> 32], &f->e.train, (uint32_t)id);
	}
	return (double)hits / (double)f->req.num_ids;
}

double fixture_test_accuracy(struct fixture *f)
{
	size_t hits = 0, seen = 0;
	for (uint32_t k = 0; k < f->e.tasks.count; k++) {
		const struct task *t = &f->e.tasks.t[k];
		for (size_t i = 0; i < t->num_test; i++, seen++)
			hits += correct(f, t, &f->e.test, t->test[i]);
	}
	return (double)hits / (double)seen;
}

double fixture_reported(const struct fixture *f, const char *key)
{
	const struct services_ctx *c = &f->e.plugins[0].svc;
	for (size_t m = 0; m < c->num_metrics; m++)
		if (!strcmp(c->metrics[m].key, key))
			return c->metrics[m].value;
	return NAN;
}
