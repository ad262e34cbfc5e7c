#define _GNU_SOURCE
#include "bench_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "scenario/scenario.h"

#define FASHION_MNIST "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

double bench_cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int bench_scenario_write(struct bench_scenario *b, const char *name, const char *text,
			 const char *fashion_data, const char *synthetic_data)
{
	b->fashion = access(FASHION_MNIST, R_OK) == 0;
	snprintf(b->dir, sizeof(b->dir), "/tmp/bench-%s-XXXXXX", name);
	if (!mkdtemp(b->dir)) {
		fprintf(stderr, "%s: mkdtemp: ", name);
		perror(NULL);
		return -1;
	}
	snprintf(b->ini, sizeof(b->ini), "%s/%s.ini", b->dir, name);
	FILE *f = fopen(b->ini, "w");
	int written = f && fprintf(f, "%s%s", text, b->fashion ? fashion_data : synthetic_data) > 0;
	if ((f && fclose(f) != 0) || !written) {
		fprintf(stderr, "%s: writing %s: ", name, b->ini);
		perror(NULL);
		bench_scenario_remove(b);
		return -1;
	}
	return 0;
}

void bench_scenario_remove(const struct bench_scenario *b)
{
	remove(b->ini);
	rmdir(b->dir);
}

int bench_engine_run(const char *name, const struct bench_scenario *b,
		     const char *const *overrides, size_t num_overrides,
		     const struct plugin_path *pp, void (*sink)(void *, const struct event *),
		     void (*done)(const struct engine *, void *), void *ctx)
{
	struct scenario *s = calloc(1, sizeof(*s));
	struct engine *e = calloc(1, sizeof(*e));
	struct error err;
	if (!s || !e || scenario_load(s, b->ini, overrides, num_overrides, &err) != 0) {
		fprintf(stderr, "%s: %s\n", name, s && e ? err.msg : "out of memory");
		free(s);
		free(e);
		return -1;
	}
	int rc = engine_open(e, s, pp, &err);
	if (rc == 0) {
		engine_add_sink(e, sink, ctx);
		rc = engine_run(e, NULL, &err);
	}
	if (rc == 0)
		done(e, ctx);
	else
		fprintf(stderr, "%s: %s\n", name, err.msg);
	engine_close(e);
	scenario_free(s);
	free(e);
	free(s);
	return rc;
}
