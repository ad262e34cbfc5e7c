#include "sweep/sweep_progress.h"

#include <stdio.h>
#include <string.h>

void sweep_progress_init(struct sweep_progress *p, FILE *out, int tty, int quiet, size_t total,
			 size_t skipped)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->tty = tty;
	p->quiet = quiet;
	p->total = total;
	p->skipped = p->done = skipped;
	p->t0 = p->last_draw = sweep_now();
}

static void format_eta(double s, char *buf, size_t size)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else if (t >= 60)
		snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, size, "%lds", t);
}

void sweep_progress_format(const struct sweep_progress *p, char *buf, size_t size)
{
	char eta[32] = "?";
	size_t left = p->total - p->done - p->failed;
	/* The pace of this sweep's runs: elapsed time per run ended, parallel runs included. */
	if (p->ended && left)
		format_eta((sweep_now() - p->t0) / (double)p->ended * (double)left, eta,
			   sizeof(eta));
	int n = snprintf(buf, size, "%zu/%zu runs done", p->done, p->total);
	if (n >= 0 && (size_t)n < size && p->failed)
		n += snprintf(buf + n, size - (size_t)n, ", %zu failed", p->failed);
	if (n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ", %zu running%s%s", p->running,
			 left ? ", ETA " : "", left ? eta : "");
}

static void clear(struct sweep_progress *p)
{
	if (p->line_open)
		fputs("\r\033[K", p->out);
	p->line_open = 0;
}

static void draw(struct sweep_progress *p)
{
	char line[256];
	sweep_progress_format(p, line, sizeof(line));
	clear(p);
	fprintf(p->out, "lethe sweep: %s", line);
	p->line_open = 1;
	p->last_draw = sweep_now();
	fflush(p->out);
}

void sweep_progress_started(struct sweep_progress *p)
{
	p->running++;
}

void sweep_progress_ended(struct sweep_progress *p, const struct sweep_outcome *o,
			  const char *path)
{
	p->running--;
	p->ended++;
	if (o->ok)
		p->done++;
	else
		p->failed++;
	clear(p);
	if (!o->ok)
		fprintf(p->out, "lethe sweep: %s failed: %s\n", path, o->message);
	if (p->quiet)
		return;
	if (p->tty) {
		draw(p);
		return;
	}
	char line[256];
	sweep_progress_format(p, line, sizeof(line));
	if (o->ok)
		fprintf(p->out, "lethe sweep: %s done in %.1f s; %s\n", path, o->seconds, line);
	else
		fprintf(p->out, "lethe sweep: %s\n", line);
}

void sweep_progress_tick(struct sweep_progress *p)
{
	if (p->tty && !p->quiet && sweep_now() - p->last_draw >= 1.0)
		draw(p);
}

void sweep_progress_end(struct sweep_progress *p)
{
	clear(p);
	fflush(p->out);
}
