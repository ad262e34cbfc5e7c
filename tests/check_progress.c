/* The headless progress output: the live line, the per-step line and the closing summary, as
 * text, and what reaches the stream on a terminal and off one. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/progress.h"
#include "testutil.h"

/* A finished two-task run: R = [[0.9, 0.1], [0.5, 0.8]], b = [0.2, 0.1]. */
static struct scenario scen;
static struct engine eng;
static double R[4] = { 0.9, 0.1, 0.5, 0.8 };
static double b[2] = { 0.2, 0.1 };
static double secs[2] = { 1.25, 2.5 };

static void setup(void)
{
	memset(&scen, 0, sizeof(scen));
	memset(&eng, 0, sizeof(eng));
	scen.protocol = LETHE_TASK_INCREMENTAL;
	scen.epochs = 3;
	eng.s = &scen;
	eng.tasks.count = 2;
	for (int k = 0; k < 2; k++) {
		eng.tasks.t[k].num_classes = 2;
		eng.tasks.t[k].classes[0] = 2 * k;
		eng.tasks.t[k].classes[1] = 2 * k + 1;
	}
	eng.R = R;
	eng.b = b;
	eng.step_seconds = secs;
	eng.rows_done = 2;
}

START_TEST(test_batch_line)
{
	struct progress p;
	progress_init(&p, stderr, 1, 0);
	p.step_start = 10.0;
	p.step_samples = 1000;
	struct event ev = { .kind = EVENT_BATCH, .engine = &eng, .step = 1, .epoch = 2,
			    .batch = 9, .batches = 40, .batches_done = 50, .batches_total = 100,
			    .samples_done = 3000, .loss = 0.123456, .elapsed = 20.0 };
	char line[512];
	progress_format_batch(&p, &ev, line, sizeof(line));
	/* 2000 samples in 10 s; 50 of 100 batches in 20 s leaves 20 s. */
	ck_assert_str_eq(line, "step 2/2  epoch 3/3  batch 10/40  loss 0.1235  200 samples/s  "
			       "ETA 0:20");
}
END_TEST

START_TEST(test_step_line)
{
	struct event ev = { .kind = EVENT_STEP_END, .engine = &eng, .step = 1 };
	char line[512];
	progress_format_step(&ev, line, sizeof(line));
	ck_assert_str_eq(line, "step 2/2  task 2 (classes 2,3)  2.5 s  accuracy 0.500 0.800  "
			       "ACC 0.6500");
}
END_TEST

START_TEST(test_forget_line)
{
	struct event ev = { .kind = EVENT_FORGET_PROGRESS, .engine = &eng, .source = "retrain",
			    .reference_done = 140, .reference_total = 1692 };
	char line[512];
	progress_format_forget(&ev, line, sizeof(line));
	ck_assert_str_eq(line, "forgetting: retrain reference, batch 140 of 1692");
}
END_TEST

START_TEST(test_summary_line)
{
	struct event ev = { .kind = EVENT_RUN_END, .engine = &eng, .step = 1, .elapsed = 3.75 };
	char line[512];
	progress_format_summary(&ev, line, sizeof(line));
	/* BWT = 0.5 - 0.9; FWT = R[1][2] - b_2 = 0.1 - 0.1; forgetting = 0.9 - 0.5. */
	ck_assert_str_eq(line, "task-incremental, 2 tasks: ACC 0.6500  BWT -0.4000  FWT 0.0000  "
			       "forgetting 0.4000  (3.8 s)");
}
END_TEST

/* Off a terminal, batches print nothing and each step one line; on one, a live line. */
START_TEST(test_stream_output)
{
	for (int tty = 0; tty < 2; tty++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		struct progress p;
		progress_init(&p, f, tty, 0);
		struct event ev = { .kind = EVENT_BATCH, .engine = &eng, .step = 1, .batches = 4,
				    .batches_done = 1, .batches_total = 8, .elapsed = 1.0 };
		progress_event(&p, &ev);
		ev.kind = EVENT_STEP_END;
		progress_event(&p, &ev);
		ev = (struct event){ .kind = EVENT_LOG, .source = "ewc", .msg = "Fisher ready",
				     .level = LETHE_LOG_INFO };
		progress_event(&p, &ev);
		fclose(f);
		ck_assert_msg((strstr(buf, "\r\033[Kstep 2/2  epoch") != NULL) == tty, "%s", buf);
		ck_assert(strstr(buf, "step 2/2  task 2 (classes 2,3)") != NULL);
		ck_assert(strstr(buf, "ewc: Fisher ready\n") != NULL);
		free(buf);
	}
}
END_TEST

static Suite *progress_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("format");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_batch_line);
	tcase_add_test(tc, test_step_line);
	tcase_add_test(tc, test_forget_line);
	tcase_add_test(tc, test_summary_line);
	suite_add_tcase(s, tc);
	tc = tcase_create("output");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_stream_output);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(progress_suite());
}
