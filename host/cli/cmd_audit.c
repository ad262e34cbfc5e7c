/* lethe audit DIR: what a data owner can check of a run's forget steps. The samples forgotten
 * are the tasks' training lists as the scenario (DIR/scenario.ini) builds them less those the
 * checkpoint still trains on; none may remain, by id or by its bytes, in any file of DIR, the
 * checkpoint and its plugins' saved states included. Then each step's membership attacks and
 * divergences from retrain on the forgotten samples, as metrics.json holds them. */
#define _GNU_SOURCE
#include "cli/cmd.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/checkpoint.h"
#include "core/engine.h"
#include "util/status.h"

static const char audit_help[] =
	"usage: lethe audit DIR [--plugin-path DIRS] [--quiet]\n"
	"\n"
	"Shows that the samples the run in DIR forgot are gone: none of them, by its id\n"
	"(8 bytes, little-endian, task << 32 | position; ids of the first task, small\n"
	"integers that any file holds, are left to the bytes) or by its bytes (its pixels,\n"
	"or the float row a plugin is handed), is in DIR's checkpoint, its plugins' saved\n"
	"states or any other file of DIR. Then prints each forget step's membership\n"
	"attacks and its outputs' divergence from retrain's on the forgotten samples.\n"
	"\n"
	"  --plugin-path DIRS   colon-separated directories searched first for plugins\n"
	"  --quiet              print the trace or errors only\n"
	"\n"
	"Exit status: 0 clean, 1 a trace found (one line: the file, the offset and the\n"
	"sample), 2 bad usage or input.\n";

/* One thing to look for: an id's 8 bytes, or a row's bytes, of forgotten sample id. */
struct needle {
	uint64_t hash;
	const unsigned char *bytes;
	size_t len;
	uint64_t id;
	const char *what;
};

struct haystack {
	struct needle *v;
	size_t n, cap;
	float *rows;	/* the converted rows and ids the needles point into */
	uint64_t *ids;
};

#define HASH_BASE 1099511628211ull

static uint64_t hash_of(const unsigned char *b, size_t len)
{
	uint64_t h = 0;
	for (size_t i = 0; i < len; i++)
		h = h * HASH_BASE + b[i];
	return h;
}

static int needle_cmp(const void *a, const void *b)
{
	const struct needle *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return (x->hash > y->hash) - (x->hash < y->hash);
}

static int add(struct haystack *h, const void *bytes, size_t len, uint64_t id, const char *what)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		struct needle *v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = (struct needle){ hash_of(bytes, len), bytes, len, id, what };
	return 0;
}

/* The first needle of length len in data, by a rolling hash: 0 and *at, *found; 1 none. */
static int search_len(const struct haystack *h, const unsigned char *data, size_t size,
		      size_t len, size_t *at, const struct needle **found)
{
	struct needle key = { .len = len };
	size_t lo = 0, hi = h->n;
	if (len == 0 || size < len)
		return 1;
	uint64_t top = 1, cur = hash_of(data, len);
	for (size_t i = 1; i < len; i++)
		top *= HASH_BASE;
	for (size_t off = 0;; off++) {
		key.hash = cur;
		const struct needle *n = bsearch(&key, h->v + lo, hi - lo, sizeof(key), needle_cmp);
		if (n) {
			while (n > h->v && needle_cmp(n - 1, &key) == 0)
				n--;
			for (; n < h->v + h->n && needle_cmp(n, &key) == 0; n++)
				if (!memcmp(n->bytes, data + off, len)) {
					*at = off;
					*found = n;
					return 0;
				}
		}
		if (off + len >= size)
			return 1;
		cur = (cur - top * data[off]) * HASH_BASE + data[off + len];
	}
}

/* The earliest trace in data of any needle: 0 and *at, *found; 1 none. */
static int search(const struct haystack *h, const unsigned char *data, size_t size,
		  size_t *at, const struct needle **found)
{
	int rc = 1;
	for (size_t i = 0; i < h->n; i++) {
		if (i > 0 && h->v[i].len == h->v[i - 1].len)
			continue;
		size_t off = 0;
		const struct needle *n = NULL;
		if (search_len(h, data, size, h->v[i].len, &off, &n) == 0 && (rc || off < *at)) {
			*at = off;
			*found = n;
			rc = 0;
		}
	}
	return rc;
}

static int in_span(const struct checkpoint_span *s, uint32_t p)
{
	size_t lo = 0, hi = s->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t v;
		memcpy(&v, s->data + mid * sizeof(v), sizeof(v));
		if (v < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t v = 0;
	if (lo < s->count)
		memcpy(&v, s->data + lo * sizeof(v), sizeof(v));
	return lo < s->count && v == p;
}

/* The needles of every sample the checkpoint no longer trains on. */
static int gather(struct haystack *h, const struct engine *e, const struct checkpoint_view *v,
		  size_t *forgotten)
{
	size_t dim = e->train.dim, n = 0;
	for (size_t k = 0; k < e->tasks.count; k++)
		for (size_t i = 0; i < e->tasks.t[k].num_train; i++)
			n += !in_span(&v->train[k], e->tasks.t[k].train[i]);
	*forgotten = n;
	h->rows = malloc((n + 1) * dim * sizeof(float));
	h->ids = malloc((n + 1) * sizeof(*h->ids));
	if (!h->rows || !h->ids)
		return -1;
	n = 0;
	for (size_t k = 0; k < e->tasks.count; k++) {
		const struct task *t = &e->tasks.t[k];
		for (size_t i = 0; i < t->num_train; i++) {
			uint32_t p = t->train[i];
			if (in_span(&v->train[k], p))
				continue;
			uint64_t id = tasks_sample_id((uint32_t)k, p);
			const uint8_t *pixels = e->train.x + (size_t)p * dim;
			h->ids[n] = id;
			float *row = h->rows + n * dim;
			tasks_convert(t, pixels, 1, dim, row);
			if (add(h, pixels, dim, id, "its pixels") != 0 ||
			    add(h, row, dim * sizeof(float), id, "its row") != 0 ||
			    (k > 0 && add(h, &h->ids[n], sizeof(id), id, "its id") != 0))
				return -1;
			n++;
		}
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Searches DIR's regular files, the checkpoint first, then by name: 1 with the first trace
 * (said on stderr), 0 clean, -1 an error (said). */
static int search_dir(const char *dir, const struct haystack *h, size_t *files)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "lethe: %s: cannot read the directory\n", dir);
		return -1;
	}
	char *names[256];
	size_t n = 0;
	struct dirent *ent;
	while ((ent = readdir(d)) && n < 256)
		if (ent->d_name[0] != '.' && strcmp(ent->d_name, RESULTS_CHECKPOINT) != 0)
			names[n++] = strdup(ent->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	int rc = 0;
	*files = 0;
	for (size_t i = 0; i <= n && rc == 0; i++) {
		const char *name = i == 0 ? RESULTS_CHECKPOINT : names[i - 1];
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue; /* a lock, a FIFO: nothing a run wrote data into */
		unsigned char *data = NULL;
		size_t size = 0, got;
		unsigned char buf[65536];
		while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
			unsigned char *grown = realloc(data, size + got);
			if (!grown) {
				rc = -1;
				break;
			}
			data = grown;
			memcpy(data + size, buf, got);
			size += got;
		}
		fclose(f);
		size_t at = 0;
		const struct needle *found = NULL;
		(*files)++;
		if (rc == 0 && search(h, data, size, &at, &found) == 0) {
			fprintf(stderr, "lethe: %s: offset %zu: forgotten sample %#llx (task %llu, "
				"position %llu): %s\n", path, at, (unsigned long long)found->id,
				(unsigned long long)(found->id >> 32) + 1,
				(unsigned long long)(uint32_t)found->id, found->what);
			rc = 1;
		}
		free(data);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return rc;
}

static double number(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Each forget step's attacks and divergences on D_f, from DIR/metrics.json. */
static void print_evidence(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, RESULTS_METRICS);
	json_t *root = json_load_file(path, 0, NULL);
	json_t *steps = json_object_get(root, "unlearning");
	printf("%-14s %8s %6s %6s %6s %8s %8s\n", "forget step", "samples", "mia", "thr", "auc",
	       "kl_f", "js_f");
	for (size_t i = 0; i < json_array_size(steps); i++) {
		const json_t *u = json_array_get(steps, i);
		const json_t *to = json_object_get(u, "to_retrain");
		printf("%-14s %8.0f %6.3f %6.3f %6.3f %8.4f %8.4f\n",
		       json_string_value(json_object_get(u, "section")),
		       number(u, "forget_samples", NULL), number(u, "mia", NULL),
		       number(u, "mia_threshold", NULL), number(u, "loss_auc", NULL),
		       number(json_object_get(to, "kl"), "forget", NULL),
		       number(json_object_get(to, "js"), "forget", NULL));
	}
	json_decref(root);
}

static int exec_audit(const struct args *a)
{
	const char *dir = a->positional[0];
	char ini[PATH_MAX], ck[PATH_MAX];
	snprintf(ini, sizeof(ini), "%s/%s", dir, RESULTS_SCENARIO);
	snprintf(ck, sizeof(ck), "%s/%s", dir, RESULTS_CHECKPOINT);
	struct error err;
	struct scenario s;
	struct plugin_path pp;
	struct engine *e = calloc(1, sizeof(*e));
	struct checkpoint_view *v = malloc(sizeof(*v));
	struct haystack h = { 0 };
	unsigned char *data = NULL;
	size_t size, forgotten = 0, files = 0;
	int opened = 0, rc = STATUS_BAD_INPUT;
	plugin_path_init(&pp, args_get(a, "--plugin-path"));
	if (!e || !v) {
		fprintf(stderr, "lethe: out of memory\n");
		goto out;
	}
	if (scenario_load(&s, ini, NULL, 0, &err) != 0) {
		fprintf(stderr, "lethe: %s\n", err.msg);
		goto out;
	}
	opened = 1;
	if (!(data = checkpoint_read(ck, &size, &err))) {
		fprintf(stderr, "lethe: %s\n", err.msg);
		goto out;
	}
	if (checkpoint_parse(data, size, v, &err) != 0) {
		fprintf(stderr, "lethe: %s: %s\n", ck, err.msg);
		goto out;
	}
	if (engine_open(e, &s, &pp, &err) != 0) {
		fprintf(stderr, "lethe: %s\n", err.msg);
		goto out;
	}
	if (v->num_tasks != e->tasks.count || v->num_samples != e->train.n) {
		fprintf(stderr, "lethe: %s: made for %llu tasks of %llu samples, not %s's\n", ck,
			(unsigned long long)v->num_tasks, (unsigned long long)v->num_samples, ini);
		goto out;
	}
	if (gather(&h, e, v, &forgotten) != 0) {
		fprintf(stderr, "lethe: out of memory\n");
		goto out;
	}
	qsort(h.v, h.n, sizeof(*h.v), needle_cmp);
	int found = search_dir(dir, &h, &files);
	if (found < 0)
		goto out;
	if (found > 0) {
		rc = STATUS_RUN_FAILED;
		goto out;
	}
	if (args_has(a, "--quiet")) {
		rc = STATUS_OK;
		goto out;
	}
	print_evidence(dir);
	printf("clean: none of the %zu forgotten samples is in the %zu files of %s\n", forgotten,
	       files, dir);
	rc = STATUS_OK;
out:
	free(h.v);
	free(h.rows);
	free(h.ids);
	free(data);
	free(v);
	if (e && e->tasks.count)
		engine_close(e);
	free(e);
	if (opened)
		scenario_free(&s);
	plugin_path_free(&pp);
	return rc;
}

static const struct args_option audit_options[] = {
	{ "--plugin-path", ARGS_VALUE },
	{ "--quiet", ARGS_FLAG },
	{ NULL, ARGS_FLAG },
};

const struct cmd_entry cmd_audit_entry = {
	.name = "audit",
	.args = { "audit", audit_options, 1, 1, "needs a run's results directory" },
	.help = audit_help,
	.exec = exec_audit,
};
