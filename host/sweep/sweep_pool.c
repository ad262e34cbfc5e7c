#define _GNU_SOURCE
#include "sweep/sweep_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_GRACE_SECONDS 10.0

static int wake[2] = { -1, -1 };	    /* the self-pipe */
static volatile sig_atomic_t stop_signals; /* SIGINT and SIGTERM received */
static struct sigaction saved[3];
static const int caught[3] = { SIGCHLD, SIGINT, SIGTERM };

static void on_signal(int sig)
{
	int saved_errno = errno;
	if (sig != SIGCHLD)
		stop_signals++;
	if (write(wake[1], "", 1) < 0) {
		/* full pipe: a wake-up is pending anyway */
	}
	errno = saved_errno;
}

double sweep_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int sweep_pool_open(struct sweep_pool *p, const struct sweep_job *job, size_t jobs,
		    struct error *e)
{
	memset(p, 0, sizeof(*p));
	p->job = job;
	p->jobs = jobs;
	p->slots = calloc(jobs, sizeof(*p->slots));
	if (!p->slots)
		return error_set(e, "out of memory");
	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(p->slots);
		return error_set(e, "pipe: %s", strerror(errno));
	}
	stop_signals = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++) {
		sa.sa_flags = SA_RESTART | (caught[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
		sigaction(caught[i], &sa, &saved[i]);
	}
	return 0;
}

int sweep_pool_start(struct sweep_pool *p, size_t run, struct error *e)
{
	size_t i = 0;
	while (i < p->jobs && p->slots[i].pid)
		i++;
	if (i == p->jobs)
		return error_set(e, "no free slot for a run (a bug)");
	int resume = sweep_child_state(p->job, run) == SWEEP_RUN_RESUMABLE;
	pid_t pid = sweep_child_start(p->job, run, resume, e);
	if (pid < 0)
		return -1;
	p->slots[i] = (struct sweep_slot){ .pid = pid, .run = run, .resumed = resume,
					   .t0 = sweep_now() };
	p->running++;
	return 0;
}

/* Starts a run whose checkpoint was refused again from scratch, in the same slot. */
static int restart(struct sweep_pool *p, struct sweep_slot *s)
{
	char dir[4096], from[4200], to[4200];
	struct error e;
	sweep_child_dir(p->job, s->run, dir, sizeof(dir));
	snprintf(from, sizeof(from), "%s/run.log", dir);
	snprintf(to, sizeof(to), "%s/resume.log", dir);
	rename(from, to);
	pid_t pid = sweep_child_start(p->job, s->run, 0, &e);
	if (pid < 0)
		return -1;
	s->pid = pid;
	s->resumed = 0;
	return 0;
}

/* Reaps one ended child, if any. */
static int reap(struct sweep_pool *p, struct sweep_outcome *o)
{
	for (size_t i = 0; i < p->jobs; i++) {
		struct sweep_slot *s = &p->slots[i];
		int ws;
		if (!s->pid || waitpid(s->pid, &ws, WNOHANG) != s->pid)
			continue;
		if (s->resumed && WIFEXITED(ws) && WEXITSTATUS(ws) == 2 && restart(p, s) == 0)
			continue;
		o->run = s->run;
		o->seconds = sweep_now() - s->t0;
		o->message[0] = '\0';
		o->ok = sweep_child_record(p->job, s->run, ws, o->message, sizeof(o->message));
		s->pid = 0;
		p->running--;
		return 1;
	}
	return 0;
}

static void drain(void)
{
	char buf[64];
	while (read(wake[0], buf, sizeof(buf)) > 0)
		;
}

int sweep_pool_wait(struct sweep_pool *p, int timeout_ms, struct sweep_outcome *o)
{
	double deadline = sweep_now() + timeout_ms / 1000.0;
	for (;;) {
		if (stop_signals) {
			p->interrupted = 1;
			return -1;
		}
		if (reap(p, o))
			return 1;
		double left = deadline - sweep_now();
		if (left <= 0)
			return 0;
		struct pollfd pfd = { .fd = wake[0], .events = POLLIN };
		if (poll(&pfd, 1, (int)(left * 1000) + 1) > 0)
			drain();
	}
}

void sweep_pool_stop(struct sweep_pool *p)
{
	double deadline = sweep_now() + STOP_GRACE_SECONDS;
	int killed = 0;
	sig_atomic_t seen = stop_signals;
	for (size_t i = 0; i < p->jobs; i++)
		if (p->slots[i].pid)
			kill(p->slots[i].pid, SIGINT);
	while (p->running) {
		for (size_t i = 0; i < p->jobs; i++) {
			struct sweep_slot *s = &p->slots[i];
			if (s->pid && waitpid(s->pid, NULL, WNOHANG) == s->pid) {
				s->pid = 0;
				p->running--;
			}
		}
		if (!killed && p->running && (stop_signals > seen || sweep_now() > deadline)) {
			for (size_t i = 0; i < p->jobs; i++)
				if (p->slots[i].pid)
					kill(p->slots[i].pid, SIGKILL);
			killed = 1;
		}
		struct pollfd pfd = { .fd = wake[0], .events = POLLIN };
		if (p->running && poll(&pfd, 1, 100) > 0)
			drain();
	}
}

void sweep_pool_close(struct sweep_pool *p)
{
	for (int i = 0; i < 3; i++)
		sigaction(caught[i], &saved[i], NULL);
	close(wake[0]);
	close(wake[1]);
	wake[0] = wake[1] = -1;
	free(p->slots);
	p->slots = NULL;
}
