#include "model/parallel.h"

#include <pthread.h>
#include <stdlib.h>

struct worker {
	pthread_t id;
	struct parallel *p;
	size_t t;
};

struct parallel {
	size_t threads;
	struct worker *worker; /* threads - 1, indices 1 to threads - 1 */
	size_t started;	       /* workers running */
	pthread_barrier_t barrier;

	/* A run is published under the lock by bumping generation; the workers count down
	 * pending as they finish, the last one signals done. */
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	unsigned long generation;
	size_t pending;
	int quit;
	void (*fn)(void *ctx, size_t t);
	void *ctx;
};

static void *worker_main(void *arg)
{
	const struct worker *w = arg;
	struct parallel *p = w->p;
	/* No run before the pool existed: a worker that starts late still sees the first. */
	unsigned long seen = 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->generation == seen && !p->quit)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->quit)
			break;
		seen = p->generation;
		pthread_mutex_unlock(&p->lock);
		p->fn(p->ctx, w->t);
		pthread_mutex_lock(&p->lock);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
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
	if (pthread_barrier_init(&p->barrier, NULL, (unsigned)threads) != 0) {
		pthread_cond_destroy(&p->done);
		pthread_cond_destroy(&p->work);
		pthread_mutex_destroy(&p->lock);
		free(p->worker);
		free(p);
		error_set(e, "cannot set up a barrier for %zu threads", threads);
		return NULL;
	}
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
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->started; i++)
		pthread_join(p->worker[i].id, NULL);
	pthread_barrier_destroy(&p->barrier);
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
	pthread_mutex_lock(&p->lock);
	p->fn = fn;
	p->ctx = ctx;
	p->pending = p->threads - 1;
	p->generation++;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	fn(ctx, 0);
	pthread_mutex_lock(&p->lock);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void parallel_barrier(struct parallel *p)
{
	if (p)
		pthread_barrier_wait(&p->barrier);
}

void parallel_range(size_t n, size_t t, size_t threads, size_t *lo, size_t *hi)
{
	/* n t / threads, floored, without forming n t. */
	*lo = n / threads * t + n % threads * t / threads;
	*hi = n / threads * (t + 1) + n % threads * (t + 1) / threads;
}
