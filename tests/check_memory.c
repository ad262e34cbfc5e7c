/* The memory estimate against figures worked out by hand for a small MLP, the refusal's words,
 * and what the process is told is available under a limit. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "core/engine.h"
#include "core/memory.h"
#include "testutil.h"

/* 4 classes of 4 values, 8 training and 4 test samples each: 32 and 16; two tasks of 2 classes
 * (16 training and 8 test samples each); MLP 4-8-4, batch 4. */
static const char tiny[] = "[scenario]\nname = t\nplugins = %s\n[data]\nsource = synthetic\n"
			   "classes = 4\ndim = 4\ntrain_per_class = 8\ntest_per_class = 4\n"
			   "[tasks]\nsplit = 2\n[model]\nhidden = 8\n[train]\nlr = 0.1\n"
			   "batch_size = 4\n%s";

/* The estimate of tiny with these plugins and the extra text appended ([train] keys, more
 * sections). */
static void estimate(const char *plugins, const char *extra, struct memory_estimate *m)
{
	char text[2048];
	snprintf(text, sizeof(text), tiny, plugins, extra);
	char *path = testutil_write_text(testutil_dir, "tiny.ini", text);
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;

	ck_assert_msg(scenario_load(&s, path, NULL, 0, &err) == 0, "%s", err.msg);
	plugin_path_init(&pp, getenv("LETHE_BUILD_PLUGINS"));
	ck_assert_msg(engine_open(&e, &s, &pp, &err) == 0, "%s", err.msg);
	engine_estimate_memory(&e, m);
	engine_close(&e);
	plugin_path_free(&pp);
	scenario_free(&s);
	free(path);
}

/* Shared by the figures below: P = (4 + 1) 8 + (8 + 1) 4 = 76 parameters, 8 + 4 = 12
 * activations a row. data: 48 samples of 4 pixels and a label, 240, and their positions in the
 * tasks' lists, 4 x 48 = 192. */
#define DATA 432
/* The model and its initial copy, parameters and gradients: 4 x 76 floats. */
#define MODEL 1216
/* Rows through the model: the batch (4) or a task's 8 test samples: 2 x 8 x 12 floats = 768;
 * the batch: 4 rows of inputs, logits and their gradients (4 + 4 + 4 floats) and 24 bytes of
 * label, task, id and mask: 288; the step's order, 16 samples of 8 bytes: 128; an evaluation
 * pass of 8 rows of inputs and logits (8 floats) and labels: 288. */
#define WORKSPACE (768 + 288 + 128 + 288)

START_TEST(test_plain)
{
	struct memory_estimate m;
	estimate("", "", &m);
	ck_assert_uint_eq(m.data, DATA);
	ck_assert_uint_eq(m.model, MODEL);
	ck_assert_uint_eq(m.workspace, WORKSPACE);
	ck_assert_uint_eq(m.plugins, 0);
	ck_assert_uint_eq(m.forget, 0);
	ck_assert_uint_eq(m.reading, 0);
	ck_assert_uint_eq(m.total, 3120);
}
END_TEST

/* Momentum's velocity and l2's anchor: 76 floats each. */
START_TEST(test_momentum_l2)
{
	struct memory_estimate m;
	estimate("l2", "momentum = 0.9\n", &m);
	ck_assert_uint_eq(m.model, MODEL + 304);
	ck_assert_uint_eq(m.plugins, 304);
	ck_assert_uint_eq(m.total, 3120 + 2 * 304);
}
END_TEST

/* EWC (separate): S, Ā and C, 3 x 304 bytes held; after_task's Fisher (304) and its scratch of
 * 256 rows of the input (4), the widest layer input (8), the activations (12), four figures a
 * class (16) and three more: 256 x 43 floats. The model then takes 256 rows at once:
 * activations and deltas 2 x 256 x 12 floats = 24576 instead of 768. */
START_TEST(test_ewc)
{
	struct memory_estimate m;
	estimate("ewc", "", &m);
	ck_assert_uint_eq(m.workspace, WORKSPACE - 768 + 24576);
	ck_assert_uint_eq(m.plugins, 3 * 304 + 304 + 256 * 43 * 4);
	ck_assert_uint_eq(m.total, DATA + MODEL + WORKSPACE - 768 + 24576 + 912 + 44336);
}
END_TEST

/* A forget step with the finetune reference: its sets (ids, D_f and D_r of 32 training
 * samples, 16 bytes each; the test sets, 8 x 16), then the reference's model (a copy with a
 * workspace of the batch: 608 + 2 x 4 x 12 floats = 992) kept while it is measured: a copy
 * evaluated 1000 rows at a time (608 + 2 x 1000 x 12 floats = 96608), its batches (1000 rows of
 * 12 floats and 12 bytes: 60000), relearning's snapshot (304), every sample's loss (8 x 48). */
START_TEST(test_forget)
{
	struct memory_estimate m;
	estimate("", "[forget1]\nafter = 2\nwhat = class\nclasses = 0\nreferences = finetune\n", &m);
	uint64_t measure = 96608 + 60000 + 304 + 384;
	ck_assert_uint_eq(m.forget, 512 + 128 + 992 + measure);
	ck_assert_uint_eq(m.total, 3120 + m.forget);
}
END_TEST

/* hidden = 65536,65536 over the tiny data: about 4 x 4.3e9 floats. */
START_TEST(test_huge)
{
	struct memory_estimate m;
	struct memory_available a = { (uint64_t)3 << 30, "RLIMIT_AS" };
	struct error err = { "" };
	char text[2048];
	snprintf(text, sizeof(text), tiny, "", "");
	char *path = testutil_write_text(testutil_dir, "huge.ini", text);
	struct scenario s;
	const char *set = "model.hidden=65536,65536";

	ck_assert_msg(scenario_load(&s, path, &set, 1, &err) == 0, "%s", err.msg);
	/* Weighed without opening an engine, which would refuse it. */
	struct engine e = { .s = &s, .num_classes = 4 };
	ck_assert_int_eq(scenario_open_data(&s, &e.train, &e.test, &e.tasks, &err), 0);
	engine_estimate_memory(&e, &m);
	uint64_t P = 5ull * 65536 + 65537ull * 65536 + 65537ull * 4;
	ck_assert_uint_eq(m.model, 16 * P);
	ck_assert_int_eq(memory_check(&m, &a, "huge.ini", &err), -1);
	ck_assert_has(err.msg, "huge.ini: the run needs about 64.0 GiB at its peak (model 64.0 GiB");
	ck_assert_has(err.msg, "more than the 3.0 GiB available (RLIMIT_AS)");
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	a.bytes = m.total;
	ck_assert_int_eq(memory_check(&m, &a, "huge.ini", &err), 0);
	tasks_free(&e.tasks);
	dataset_free(&e.train);
	dataset_free(&e.test);
	scenario_free(&s);
	free(path);
}
END_TEST

START_TEST(test_format)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 48 << 10, "48 KiB" },
		{ 312ull << 20, "312 MiB" },
		{ (uint64_t)(70.3 * (1ull << 30)), "70.3 GiB" },
		{ 3ull << 40, "3.0 TiB" },
	};
	char out[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		memory_format(cases[i].bytes, out, sizeof(out));
		ck_assert_str_eq(out, cases[i].text);
	}
}
END_TEST

/* ASan reserves terabytes of address space up front, so none can be capped under it. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_ADDRESS_SPACE_LIMIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_ADDRESS_SPACE_LIMIT 1
#endif
#endif

/* MemAvailable, and under RLIMIT_AS what the limit leaves beside what is mapped. */
START_TEST(test_available)
{
	struct memory_available a;
	ck_assert_int_eq(memory_available(&a), 0);
	ck_assert_uint_gt(a.bytes, 0);
#ifndef NO_ADDRESS_SPACE_LIMIT
	int status;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		FILE *f = fopen("/proc/self/statm", "r");
		unsigned long pages = 0;
		if (!f || fscanf(f, "%lu", &pages) != 1)
			_exit(2);
		fclose(f);
		rlim_t spare = (rlim_t)64 << 20;
		struct rlimit lim = { pages * (rlim_t)sysconf(_SC_PAGESIZE) + spare, RLIM_INFINITY };
		if (setrlimit(RLIMIT_AS, &lim) != 0 || memory_available(&a) != 0)
			_exit(3);
		_exit(a.bytes <= spare && a.bytes > spare / 2 && strstr(a.source, "RLIMIT_AS")
			      ? 0
			      : 4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
#endif
}
END_TEST

int main(void)
{
	Suite *s = suite_create("memory");
	TCase *tc = tcase_create("estimate");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_momentum_l2);
	tcase_add_test(tc, test_ewc);
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_huge);
	suite_add_tcase(s, tc);
	tc = tcase_create("machine");
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_available);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
