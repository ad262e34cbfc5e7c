#include "model/parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct worker {
	pthread_t id;
	struct parallel *p;
	size_t t;
};

/* Every wait first spins, for up to SPIN_NS, on the value it waits for, then sleeps on a
 * condition variable. A thread that sleeps must be woken by the other (on a VM, an interrupt to
 * a halted virtual CPU), which took tens of microseconds to milliseconds a hand-over here; the
 * model's passes hand over several times a batch, with short serial gaps between (the loss, the
 * batch's assembly), which a spinning thread bridges awake. */
#define SPIN_NS 200000

struct parallel {
	size_t threads;
	struct worker *worker; /* threads - 1, indices 1 to threads - 1 */
	size_t started;	       /* workers running */

	/* A run is published by bumping generation (under the lock, for the sleepers); the
	 * workers count down pending as they finish, the last one signals done. A barrier
	 * counts arrivals, and the last to arrive bumps its phase. The counters are read
	 * outside the lock while spinning, hence atomics. */
	pthread_mutex_t lock;
	pthread_cond_t work, done, turn;
	unsigned long generation, phase, pending, arrived;
	int quit;
	void (*fn)(void *ctx, size_t t);
	void *ctx;
};

static unsigned long load(const unsigned long *v)
{
	return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Spins until (*v == x) == equal, for SPIN_NS at most; whether it came. */
static int spin(const unsigned long *v, unsigned long x, int equal)
{
	double t0 = 0.0;
	for (unsigned i = 1;; i++) {
		if ((load(v) == x) == equal)
			return 1;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
		if (i % 256 == 0) {
			double t = now_ns();
			if (t0 == 0.0)
				t0 = t;
			else if (t - t0 > SPIN_NS)
				return 0;
		}
	}
}

/* Wakes the sleepers on cond, once the value they wait for has changed: taking the lock, so
 * that none is between its check and its sleep. */
static void wake(struct parallel *p, pthread_cond_t *cond)
{
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(cond);
	pthread_mutex_unlock(&p->lock);
}

/* Sets *v to x where the spinners and the sleepers on cond see it. */
static void publish(struct parallel *p, unsigned long *v, unsigned long x, pthread_cond_t *cond)
{
	__atomic_store_n(v, x, __ATOMIC_RELEASE);
	wake(p, cond);
}

/* Waits until (*v == x) == equal: spinning, then asleep on cond. */
static void wait_for(struct parallel *p, const unsigned long *v, unsigned long x, int equal,
		     pthread_cond_t *cond)
{
	if (spin(v, x, equal))
		return;
	pthread_mutex_lock(&p->lock);
	while ((load(v) == x) != equal)
		pthread_cond_wait(cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

static void *worker_main(void *arg)
{
	const struct worker *w = arg;
	struct parallel *p = w->p;
	/* No run before the pool existed: a worker that starts late still sees the first. */
	unsigned long seen = 0;
	for (;;) {
		wait_for(p, &p->generation, seen, 0, &p->work);
		/* quit is set with generation bumped, under the lock. */
		pthread_mutex_lock(&p->lock);
		int quit = p->quit;
		pthread_mutex_unlock(&p->lock);
		if (quit)
			break;
		seen = load(&p->generation);
		p->fn(p->ctx, w->t);
		/* The caller may start the next run once pending is 0: nothing is stored after. */
		if (__atomic_sub_fetch(&p->pending, 1, __ATOMIC_ACQ_REL) == 0)
			wake(p, &p->done);
	}
	return NULL;
}

struct parallel *parallel_create(size_t threads, struct error *e)
{
	struct parallel *p = calloc(1, sizeof(*p));
	if (!p || threads < 2 || !(p->worker = calloc(threads - 1, sizeof(*p->worker)))) {
		free(p);
		error_set(e, threads < 2 ? "a pool needs 2 threads or more, not %zu"
					 : "cannot allocate a pool of %zu threads",
			  threads);
		return NULL;
	}
	p->threads = threads;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	pthread_cond_init(&p->turn, NULL);
	for (; p->started + 1 < threads; p->started++) {
		struct worker *w = &p->worker[p->started];
		w->p = p;
		w->t = p->started + 1;
		if (pthread_create(&w->id, NULL, worker_main, w) != 0)
			break;
	}
	if (p->started + 1 < threads) {
		error_set(e, "cannot start %zu threads", threads - 1);
		parallel_free(p);
		return NULL;
	}
	return p;
}

void parallel_free(struct parallel *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->quit = 1;
	pthread_mutex_unlock(&p->lock);
	publish(p, &p->generation, p->generation + 1, &p->work);
	for (size_t i = 0; i < p->started; i++)
		pthread_join(p->worker[i].id, NULL);
	pthread_cond_destroy(&p->turn);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p->worker);
	free(p);
}

size_t parallel_threads(const struct parallel *p)
{
	return p ? p->threads : 1;
}

void parallel_run(struct parallel *p, void (*fn)(void *ctx, size_t t), void *ctx)
{
	if (!p) {
		fn(ctx, 0);
		return;
	}
	/* Published by generation's release: a worker that sees it sees these. */
	p->fn = fn;
	p->ctx = ctx;
	__atomic_store_n(&p->pending, p->threads - 1, __ATOMIC_RELAXED);
	publish(p, &p->generation, p->generation + 1, &p->work);
	fn(ctx, 0);
	wait_for(p, &p->pending, 0, 1, &p->done);
}

void parallel_barrier(struct parallel *p)
{
	if (!p)
		return;
	unsigned long phase = load(&p->phase);
	/* The last to arrive resets the count for the next barrier, which no thread can reach
	 * before it sees the phase move. */
	if (__atomic_add_fetch(&p->arrived, 1, __ATOMIC_ACQ_REL) == p->threads) {
		__atomic_store_n(&p->arrived, 0, __ATOMIC_RELAXED);
		publish(p, &p->phase, phase + 1, &p->turn);
		return;
	}
	wait_for(p, &p->phase, phase, 0, &p->turn);
}

void parallel_range(size_t n, size_t t, size_t threads, size_t *lo, size_t *hi)
{
	/* n t / threads, floored, without forming n t. */
	*lo = n / threads * t + n % threads * t / threads;
	*hi = n / threads * (t + 1) + n % threads * (t + 1) / threads;
}
