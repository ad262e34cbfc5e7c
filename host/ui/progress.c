#include "ui/progress.h"

#include <string.h>

#include "results/metrics.h"


void progress_init(struct progress *p, FILE *out, int tty, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->tty = tty;
	p->quiet = quiet;
}

static void format_duration(double s, char *buf, size_t size)
{
	long t = s > 0 ? (long)(s + 0.5) : 0;
	if (t >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

void progress_format_batch(const struct progress *p, const struct event *ev, char *buf,
			   size_t size)
{
	const struct engine *e = ev->engine;
	double dt = ev->elapsed - p->step_start;
	double rate = dt > 0 ? (double)(ev->samples_done - p->step_samples) / dt : 0;
	char eta[32] = "?";
	if (ev->batches_done > 0)
		format_duration(ev->elapsed / (double)ev->batches_done *
					(double)(ev->batches_total - ev->batches_done),
				eta, sizeof(eta));
	snprintf(buf, size, "step %zu/%zu  epoch %zu/%zu  batch %zu/%zu  loss %.4f  %.0f samples/s  "
		 "ETA %s", ev->step + 1, e->tasks.count, ev->epoch + 1, e->s->epochs, ev->batch + 1,
		 ev->batches, ev->loss, rate, eta);
}

void progress_format_forget(const struct event *ev, char *buf, size_t size)
{
	snprintf(buf, size, "forgetting: %s reference, batch %llu of %llu", ev->source,
		 (unsigned long long)ev->reference_done, (unsigned long long)ev->reference_total);
}

void progress_format_step(const struct event *ev, char *buf, size_t size)
{
	const struct engine *e = ev->engine;
	size_t T = e->tasks.count, step = ev->step;
	const double *row = e->R + step * T;
	size_t len = (size_t)snprintf(buf, size, "step %zu/%zu  task %zu (classes", step + 1, T,
				      step + 1);
	const struct task *t = &e->tasks.t[step];
	for (uint32_t c = 0; c < t->num_classes && len < size; c++)
		len += (size_t)snprintf(buf + len, size - len, "%s%d", c ? "," : " ",
					t->classes[c]);
	struct metrics_summary m;
	metrics_summarise(e->R, e->b, T, step + 1, &m);
	if (len < size)
		len += (size_t)snprintf(buf + len, size - len, ")  %.1f s  accuracy",
					e->step_seconds[step]);
	for (size_t j = 0; j <= step && len < size; j++)
		len += (size_t)snprintf(buf + len, size - len, " %.3f", row[j]);
	if (len < size)
		snprintf(buf + len, size - len, "  ACC %.4f", m.acc);
}

void progress_format_summary(const struct event *ev, char *buf, size_t size)
{
	const struct engine *e = ev->engine;
	struct metrics_summary m;
	metrics_summarise(e->R, e->b, e->tasks.count, e->rows_done, &m);
	snprintf(buf, size, "%s, %zu tasks: ACC %.4f  BWT %.4f  FWT %.4f  forgetting %.4f  (%.1f s)",
		 scenario_protocol_name(e->s->protocol), e->tasks.count, m.acc, m.bwt, m.fwt,
		 m.forgetting, ev->elapsed);
}

static void close_line(struct progress *p)
{
	if (p->line_open) {
		fputs("\r\033[K", p->out);
		p->line_open = 0;
	}
}

void progress_event(void *ctx, const struct event *ev)
{
	struct progress *p = ctx;
	char line[1024];
	switch (ev->kind) {
	case EVENT_STEP_START:
		p->step_start = ev->elapsed;
		p->step_samples = ev->samples_done;
		break;
	case EVENT_BATCH:
		if (!p->tty || p->quiet || ev->elapsed - p->last_draw < PROGRESS_REDRAW_SECONDS)
			break;
		p->last_draw = ev->elapsed;
		progress_format_batch(p, ev, line, sizeof(line));
		fprintf(p->out, "\r\033[K%s", line);
		fflush(p->out);
		p->line_open = 1;
		break;
	case EVENT_FORGET_PROGRESS:
		if (!p->tty || p->quiet || ev->elapsed - p->last_draw < PROGRESS_REDRAW_SECONDS)
			break;
		p->last_draw = ev->elapsed;
		progress_format_forget(ev, line, sizeof(line));
		fprintf(p->out, "\r\033[K%s", line);
		fflush(p->out);
		p->line_open = 1;
		break;
	case EVENT_STEP_END:
		if (p->quiet)
			break;
		close_line(p);
		progress_format_step(ev, line, sizeof(line));
		fprintf(p->out, "%s\n", line);
		fflush(p->out);
		break;
	case EVENT_LOG:
		if (ev->level == LETHE_LOG_DEBUG || (p->quiet && ev->level < LETHE_LOG_WARN))
			break;
		close_line(p);
		fprintf(p->out, "%s%s: %s\n", ev->level == LETHE_LOG_WARN ? "warning: " : "",
			ev->source, ev->msg);
		fflush(p->out);
		break;
	case EVENT_RUN_END:
		close_line(p);
		if (!p->quiet) {
			progress_format_summary(ev, line, sizeof(line));
			fprintf(p->out, "%s\n", line);
		}
		break;
	case EVENT_RUN_START:
	case EVENT_FORGET_END:
		close_line(p);
		break;
	case EVENT_EPOCH_EVALUATED:
		break;
	}
}
