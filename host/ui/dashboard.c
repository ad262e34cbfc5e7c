#include "ui/dashboard.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ui/progress.h"

/* Seconds of active time a samples/s figure spans. */
#define RATE_WINDOW 1.0

void dashboard_init(struct dashboard *d, const struct engine *e)
{
	memset(d, 0, sizeof(*d));
	d->e = e;
	d->loss_group = 1;
	d->loss = NAN;
}

double dashboard_active(const struct dashboard *d, double now)
{
	double t = now - d->paused_seconds - (d->paused ? now - d->pause_start : 0);
	return t > 0 ? t : 0;
}

double dashboard_eta(const struct dashboard *d, double now)
{
	if (d->run >= DASHBOARD_FINISHED)
		return 0;
	if (d->batches_done == 0 || d->batches_total < d->batches_done)
		return -1;
	return dashboard_active(d, now) / (double)d->batches_done *
	       (double)(d->batches_total - d->batches_done);
}

void dashboard_set_paused(struct dashboard *d, int paused, double now)
{
	if (paused == d->paused)
		return;
	if (paused)
		d->pause_start = now;
	else
		d->paused_seconds += now - d->pause_start;
	d->paused = paused;
}

void dashboard_select(struct dashboard *d, long delta)
{
	long last = (long)d->e->tasks.count - 1, k = (long)d->selected + delta;
	d->selected = (size_t)(k < 0 ? 0 : k > last ? last : k);
	d->selected_by_user = 1;
}

void dashboard_toggle_confusion(struct dashboard *d)
{
	d->show_confusion = !d->show_confusion;
	if (!d->show_confusion)
		dashboard_status(d, "the accuracy matrix");
	else if (d->rows_done)
		dashboard_status(d, "the class confusion after step %zu", d->rows_done);
	else
		dashboard_status(d, "the class confusion: shown once a step has finished");
}

void dashboard_status(struct dashboard *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->status, sizeof(d->status), fmt, ap);
	va_end(ap);
}

void dashboard_forget_asked(struct dashboard *d, size_t task)
{
	d->forget_pending = 1;
	d->run = DASHBOARD_FORGETTING;
	d->forget_note_warn = 0;
	snprintf(d->forget_note, sizeof(d->forget_note), "forgetting task %zu...", task + 1);
	dashboard_status(d, "forgetting task %zu: training waits", task + 1);
}

void dashboard_write_asked(struct dashboard *d)
{
	d->write_pending = 1;
	dashboard_status(d, "writing the results so far");
}

void dashboard_settled(struct dashboard *d)
{
	d->write_pending = 0;
	if (!d->forget_pending)
		return;
	d->forget_pending = 0;
	if (d->run == DASHBOARD_FORGETTING)
		d->run = DASHBOARD_TRAINING;
}

static void log_push(struct dashboard *d, lethe_log_level level, double elapsed,
		     const char *source, const char *msg)
{
	struct dashboard_log *l = &d->log[d->log_count++ % DASHBOARD_LOG_MAX];
	l->level = level;
	l->elapsed = elapsed;
	snprintf(l->source, sizeof(l->source), "%s", source ? source : "");
	snprintf(l->msg, sizeof(l->msg), "%s", msg ? msg : "");
}

void dashboard_finish(struct dashboard *d, int rc, const char *error)
{
	/* A pause the run ended in ends with it: the time shown stops at the last event. */
	if (d->paused)
		dashboard_set_paused(d, 0, d->elapsed > d->pause_start ? d->elapsed : d->pause_start);
	d->overlay = DASHBOARD_OVERLAY_NONE;
	if (rc < 0) {
		d->run = DASHBOARD_FAILED;
		const char *msg = error ? error : "the run failed";
		dashboard_status(d, "%s", msg);
		char line[DASHBOARD_TEXT_MAX];
		snprintf(line, sizeof(line), "error: %s", msg);
		log_push(d, LETHE_LOG_INFO, d->elapsed, "lethe", line);
	} else {
		d->run = rc == ENGINE_STOPPED ? DASHBOARD_STOPPED : DASHBOARD_FINISHED;
	}
}

const struct dashboard_log *dashboard_log_at(const struct dashboard *d, size_t back)
{
	if (back >= d->log_count || back >= DASHBOARD_LOG_MAX)
		return NULL;
	return &d->log[(d->log_count - 1 - back) % DASHBOARD_LOG_MAX];
}

static void loss_push(struct dashboard *d, double loss)
{
	if (!isfinite(loss))
		return;
	d->loss_sum += loss;
	if (++d->loss_pending < d->loss_group)
		return;
	if (d->num_loss == DASHBOARD_LOSS_MAX) {
		for (size_t i = 0; i < DASHBOARD_LOSS_MAX / 2; i++)
			d->loss_points[i] = (d->loss_points[2 * i] + d->loss_points[2 * i + 1]) / 2;
		d->num_loss = DASHBOARD_LOSS_MAX / 2;
		d->loss_group *= 2;
	}
	d->loss_points[d->num_loss++] = d->loss_sum / (double)d->loss_pending;
	d->loss_sum = 0;
	d->loss_pending = 0;
}

static void rate_restart(struct dashboard *d, const struct event *ev)
{
	d->rate_start = dashboard_active(d, ev->elapsed);
	d->rate_samples = ev->samples_done;
}

static void rate_update(struct dashboard *d, const struct event *ev)
{
	double dt = dashboard_active(d, ev->elapsed) - d->rate_start;
	/* A first figure early in the run, then one per window. */
	if (dt >= RATE_WINDOW || (d->rate == 0 && dt >= RATE_WINDOW / 5)) {
		d->rate = (double)(ev->samples_done - d->rate_samples) / dt;
		rate_restart(d, ev);
	}
}


/* The step's line joins the messages, as the headless run prints it. */
static void step_ended(struct dashboard *d, const struct event *ev)
{
	const struct engine *e = d->e;
	char line[DASHBOARD_TEXT_MAX];
	size_t T = e->tasks.count;
	d->rows_done = e->rows_done;
	metrics_summarise(e->R, e->b, T, d->rows_done, &d->summary);
	metrics_forgetting_rows(e->R, T, d->rows_done, d->forgetting);
	progress_format_step(ev, line, sizeof(line));
	log_push(d, LETHE_LOG_INFO, ev->elapsed, "lethe", line);
	for (size_t f = 0; f < e->s->num_forgets; f++)
		if (e->s->forgets[f].after == d->rows_done) {
			d->run = DASHBOARD_FORGETTING;
			dashboard_status(d, "[%s]: forgetting as the scenario asks",
					 e->s->forgets[f].section);
			break;
		}
}

static void forget_ended(struct dashboard *d)
{
	const struct engine *e = d->e;
	d->num_unlearning = e->num_unlearning;
	if (d->run == DASHBOARD_FORGETTING)
		d->run = DASHBOARD_TRAINING;
	if (!d->num_unlearning)
		return;
	const struct results_unlearning *u = &e->unlearning[d->num_unlearning - 1];
	const struct forget_figures *f = &u->figures;
	char text[DASHBOARD_TEXT_MAX];
	snprintf(text, sizeof(text), "[%s] done: UA %.3f RA %.3f TA %.3f MIA %.3f in %.1f s",
		 u->forget ? u->forget->section : "forget", f->ua, f->ra, f->ta, metrics_mia(f),
		 f->seconds);
	if (d->forget_pending) {
		snprintf(d->forget_note, sizeof(d->forget_note), "%s", text);
		d->forget_note_warn = 0;
	}
	dashboard_status(d, "%s", text);
}

void dashboard_event(struct dashboard *d, const struct event *ev)
{
	char line[DASHBOARD_TEXT_MAX];
	d->elapsed = ev->elapsed;
	d->batches_done = ev->batches_done;
	d->batches_total = ev->batches_total;
	d->samples_done = ev->samples_done;
	switch (ev->kind) {
	case EVENT_RUN_START:
		d->run = DASHBOARD_STARTING;
		break;
	case EVENT_STEP_START:
		d->run = DASHBOARD_TRAINING;
		d->step = ev->step;
		d->epoch = d->batch = d->batches = 0;
		if (!d->selected_by_user)
			d->selected = ev->step;
		rate_restart(d, ev);
		break;
	case EVENT_BATCH:
		d->step = ev->step;
		d->epoch = ev->epoch;
		d->batch = ev->batch;
		d->batches = ev->batches;
		d->loss = ev->loss;
		loss_push(d, ev->loss);
		rate_update(d, ev);
		break;
	case EVENT_STEP_END:
		step_ended(d, ev);
		break;
	case EVENT_EPOCH_EVALUATED:
		break;
	case EVENT_FORGET_PROGRESS:
		d->run = DASHBOARD_FORGETTING;
		progress_format_forget(ev, line, sizeof(line));
		dashboard_status(d, "%s (keys wait for it)", line);
		break;
	case EVENT_FORGET_END:
		forget_ended(d);
		rate_restart(d, ev);
		break;
	case EVENT_RUN_END:
		d->run = DASHBOARD_FINISHED;
		progress_format_summary(ev, line, sizeof(line));
		log_push(d, LETHE_LOG_INFO, ev->elapsed, "lethe", line);
		break;
	case EVENT_LOG:
		if (ev->level == LETHE_LOG_DEBUG)
			break;
		log_push(d, ev->level, ev->elapsed, ev->source, ev->msg);
		if (d->write_pending) {
			d->write_pending = 0;
			dashboard_status(d, "%s%s", ev->level == LETHE_LOG_WARN ? "warning: " : "",
					 ev->msg);
		} else if (ev->level == LETHE_LOG_WARN) {
			dashboard_status(d, "warning: %s", ev->msg);
			if (d->forget_pending) {
				snprintf(d->forget_note, sizeof(d->forget_note), "%s", ev->msg);
				d->forget_note_warn = 1;
			}
		}
		break;
	}
}

void dashboard_toggle_evidence(struct dashboard *d)
{
	d->evidence = !d->evidence;
}
