#include "ui/events.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "results/metrics.h"
#include "results/results.h"
#include "ui/progress.h"
#include "util/json_io.h"

static const char *const level_names[] = {
	[LETHE_LOG_DEBUG] = "debug", [LETHE_LOG_INFO] = "info", [LETHE_LOG_WARN] = "warn"
};

void events_init(struct events *s, FILE *out)
{
	memset(s, 0, sizeof(*s));
	s->out = out;
	s->last_loss = -PROGRESS_REDRAW_SECONDS;
}

/* Sends o, stolen, as one line with "event" and "elapsed" first. */
static void send(struct events *s, const char *name, const struct event *ev, json_t *o)
{
	json_t *line = json_pack("{s:s, s:o}", "event", name, "elapsed", json_io_real(ev->elapsed));
	char *text = NULL;
	if (o && line && json_object_update(line, o) == 0)
		text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
	if (!text || fprintf(s->out, "%s\n", text) < 0 || fflush(s->out) != 0)
		s->failed = 1;
	free(text);
	json_decref(line);
	json_decref(o);
}

static json_t *row(const double *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_io_real(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* The step's class confusion matrix, rows the true classes: metrics.json's. */
static json_t *confusion(const struct engine *e, size_t step)
{
	size_t C = e->num_classes;
	json_t *m = json_array();
	for (size_t c = 0; m && c < C; c++) {
		const uint64_t *counts = e->class_confusion + ((step - 1) * C + c) * C;
		json_t *r = json_array();
		for (size_t p = 0; r && p < C; p++)
			if (json_array_append_new(r, json_integer((json_int_t)counts[p])) != 0) {
				json_decref(r);
				r = NULL;
			}
		if (!r || json_array_append_new(m, r) != 0) {
			json_decref(m);
			m = NULL;
		}
	}
	return m;
}

/* The accuracy on every task after step `step` (1-based; 0: untrained), and ACC so far; after
 * a step, its class confusion matrix. */
static void evaluation(struct events *s, const struct event *ev, size_t step)
{
	const struct engine *e = ev->engine;
	size_t T = e->tasks.count;
	struct metrics_summary m = { 0 };
	if (step)
		metrics_summarise(e->R, e->b, T, step, &m);
	json_t *o = json_pack("{s:I, s:o, s:o}", "step", (json_int_t)step, "accuracy",
			      row(step ? e->R + (step - 1) * T : e->b, T), "average_accuracy",
			      step ? json_io_real(m.acc) : json_null());
	if (o && step && json_object_set_new(o, "confusion", confusion(e, step)) != 0) {
		json_decref(o);
		o = NULL;
	}
	send(s, "evaluation", ev, o);
}

static void batch(struct events *s, const struct event *ev)
{
	json_int_t step = (json_int_t)ev->step + 1, epoch = (json_int_t)ev->epoch + 1;
	if (s->step != ev->step + 1 || s->epoch != ev->epoch + 1) {
		s->step = ev->step + 1;
		s->epoch = ev->epoch + 1;
		send(s, "epoch_start", ev, json_pack("{s:I, s:I, s:I}", "step", step, "epoch",
						     epoch, "batches", (json_int_t)ev->batches));
	}
	int last = ev->batch + 1 >= ev->batches;
	if (last || ev->elapsed - s->last_loss >= PROGRESS_REDRAW_SECONDS) {
		s->last_loss = ev->elapsed;
		send(s, "loss", ev, json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I}", "step",
					      step, "epoch", epoch, "batch",
					      (json_int_t)ev->batch + 1, "batches",
					      (json_int_t)ev->batches, "loss", json_io_real(ev->loss),
					      "batches_done", (json_int_t)ev->batches_done,
					      "batches_total", (json_int_t)ev->batches_total,
					      "samples_done", (json_int_t)ev->samples_done));
	}
	if (last) {
		send(s, "epoch_end", ev, json_pack("{s:I, s:I, s:o}", "step", step, "epoch", epoch,
						   "loss", json_io_real(ev->loss)));
		s->epoch = 0;
	}
}

void events_event(void *ctx, const struct event *ev)
{
	struct events *s = ctx;
	const struct engine *e = ev->engine;
	json_int_t step = (json_int_t)ev->step + 1;
	struct metrics_summary m;
	switch (ev->kind) {
	case EVENT_RUN_START:
		send(s, "run_start", ev, json_pack("{s:s, s:s, s:I, s:I, s:I}", "scenario",
						   e->s->name, "protocol",
						   scenario_protocol_name(e->s->protocol), "tasks",
						   (json_int_t)e->tasks.count, "steps_done",
						   (json_int_t)e->rows_done, "batches_total",
						   (json_int_t)ev->batches_total));
		s->evaluated = e->rows_done > 0; /* resumed: the untrained row was sent before */
		break;
	case EVENT_STEP_START:
		if (!s->evaluated)
			evaluation(s, ev, 0);
		s->evaluated = 1;
		send(s, "step_start", ev, json_pack("{s:I, s:I}", "step", step, "steps",
						    (json_int_t)e->tasks.count));
		break;
	case EVENT_BATCH:
		batch(s, ev);
		break;
	case EVENT_EPOCH_EVALUATED:
		send(s, "epoch_evaluation", ev, json_pack("{s:I, s:I, s:o}", "step", step, "epoch",
							  (json_int_t)ev->epoch + 1, "accuracy",
							  row(ev->accuracy, e->tasks.count)));
		break;
	case EVENT_STEP_END:
		evaluation(s, ev, ev->step + 1);
		send(s, "step_end", ev, json_pack("{s:I, s:o}", "step", step, "seconds",
						  json_io_real(e->step_seconds[ev->step])));
		break;
	case EVENT_FORGET_PROGRESS:
		if (ev->elapsed - s->last_loss < PROGRESS_REDRAW_SECONDS)
			break;
		s->last_loss = ev->elapsed;
		send(s, "forget_progress", ev, json_pack("{s:s, s:I, s:I}", "reference",
							 ev->source, "batch",
							 (json_int_t)ev->reference_done, "batches",
							 (json_int_t)ev->reference_total));
		break;
	case EVENT_FORGET_END:
		/* The step's entry of metrics.json's "unlearning", as it is there. */
		send(s, "forget", ev, results_unlearning_json(&e->unlearning[e->num_unlearning - 1]));
		break;
	case EVENT_LOG:
		send(s, "log", ev, json_pack("{s:s, s:s, s:s}", "source", ev->source, "level",
					     (size_t)ev->level < sizeof(level_names) / sizeof(*level_names) ? level_names[ev->level] : "info",
					     "message", ev->msg));
		break;
	case EVENT_RUN_END:
		metrics_summarise(e->R, e->b, e->tasks.count, e->rows_done, &m);
		send(s, "run_end", ev, json_pack("{s:o, s:o, s:o, s:o, s:o}", "average_accuracy",
						 json_io_real(m.acc), "bwt", json_io_real(m.bwt),
						 "fwt", json_io_real(m.fwt), "forgetting",
						 json_io_real(m.forgetting), "seconds",
						 json_io_real(e->total_seconds)));
		break;
	}
}
