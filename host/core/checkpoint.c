/* The checkpoint file format (checkpoint.h): a view of a run's state written to a file, and a
 * file parsed back into a view and checked as far as it can be without the run. What a view
 * holds of an engine, and what an engine takes from one, is engine_checkpoint.c's. */
#define _GNU_SOURCE
#include "core/checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libdeflate.h>

#include "util/files.h"

#define NAME_MAX_BYTES 255 /* a plugin's name in the file */

/* ---- the effective settings: the run's identity ---- */

/* The key train.checkpoint_every changes when checkpoints are written, not what a run does. */
static int identity_key(const struct ini_entry *en)
{
	return strcmp(en->section, "train") != 0 || strcmp(en->key, "checkpoint_every") != 0;
}

/* A setting by its name, "section.key": the order the lines are sorted in. */
struct named {
	char name[2 * INI_NAME_MAX];
	const char *value;
};

static int named_order(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

char *checkpoint_settings(const struct ini *ini, size_t *len)
{
	struct named *sorted = malloc((ini->count ? ini->count : 1) * sizeof(*sorted));
	char *text = NULL;
	size_t size = 0;
	FILE *f = sorted ? open_memstream(&text, &size) : NULL;
	if (!f) {
		free(sorted);
		return NULL;
	}
	size_t n = 0;
	for (size_t i = 0; i < ini->count; i++) {
		const struct ini_entry *en = &ini->entries[i];
		if (!identity_key(en))
			continue;
		snprintf(sorted[n].name, sizeof(sorted[n].name), "%s.%s", en->section, en->key);
		sorted[n++].value = en->value;
	}
	qsort(sorted, n, sizeof(*sorted), named_order);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s=%s\n", sorted[i].name, sorted[i].value);
	int bad = ferror(f);
	free(sorted);
	if (fclose(f) != 0 || bad) {
		free(text);
		return NULL;
	}
	*len = size;
	return text;
}

/* One "section.key=value" line of text[*at, len): its name and value, *at past it. */
struct setting {
	const char *name, *value;
	int name_len, value_len;
};

static int next_setting(const char *text, size_t len, size_t *at, struct setting *s)
{
	if (*at >= len)
		return 0;
	const char *line = text + *at, *nl = memchr(line, '\n', len - *at);
	size_t n = nl ? (size_t)(nl - line) : len - *at;
	*at += n + (nl != NULL);
	const char *eq = memchr(line, '=', n);
	size_t name = eq ? (size_t)(eq - line) : n;
	*s = (struct setting){ line, eq ? eq + 1 : line + n, (int)name,
			       (int)(eq ? n - name - 1 : 0) };
	return 1;
}

static int setting_order(const struct setting *a, const struct setting *b)
{
	int c = memcmp(a->name, b->name, (size_t)(a->name_len < b->name_len ? a->name_len
									 : b->name_len));
	return c ? c : a->name_len - b->name_len;
}

/* Names the first setting where the checkpoint's run (was) and this one (now) differ. */
static int settings_differ(const char *was, size_t was_len, const char *now, size_t now_len,
			   struct error *err)
{
	size_t i = 0, j = 0;
	struct setting a, b;
	int has_a = next_setting(was, was_len, &i, &a), has_b = next_setting(now, now_len, &j, &b);
	while (has_a || has_b) {
		int c = !has_a ? 1 : !has_b ? -1 : setting_order(&a, &b);
		if (c < 0)
			return error_set(err, "another scenario: the checkpoint's run set "
					 "%.*s = %.*s, this one does not", a.name_len, a.name,
					 a.value_len, a.value);
		if (c > 0)
			return error_set(err, "another scenario: this run sets %.*s = %.*s, the "
					 "checkpoint's did not", b.name_len, b.name, b.value_len,
					 b.value);
		if (a.value_len != b.value_len || memcmp(a.value, b.value, (size_t)a.value_len))
			return error_set(err, "another scenario: the checkpoint's run has "
					 "%.*s = %.*s, this one %.*s", a.name_len, a.name,
					 a.value_len, a.value, b.value_len, b.value);
		has_a = next_setting(was, was_len, &i, &a);
		has_b = next_setting(now, now_len, &j, &b);
	}
	return error_set(err, "the scenario differs from the checkpoint's");
}

int checkpoint_same_settings(const struct checkpoint_view *v, const struct ini *ini,
			     struct error *err)
{
	size_t len;
	char *now = checkpoint_settings(ini, &len);
	if (!now)
		return error_set(err, "out of memory");
	int rc = len == v->settings.count && !memcmp(now, v->settings.data, len)
			 ? 0
			 : settings_differ((const char *)v->settings.data, v->settings.count, now,
					   len, err);
	free(now);
	return rc;
}

/* ---- writing ---- */

static void put(FILE *f, const void *p, size_t n)
{
	if (n)
		fwrite(p, 1, n, f);
}

static void put_u64(FILE *f, uint64_t v)
{
	put(f, &v, sizeof(v));
}

static void put_f64(FILE *f, double v)
{
	put(f, &v, sizeof(v));
}

static void put_str(FILE *f, const char *s)
{
	put_u64(f, strlen(s));
	put(f, s, strlen(s));
}

static void put_rng(FILE *f, const struct rng *r)
{
	for (int i = 0; i < 4; i++)
		put_u64(f, r->s[i]);
}

/* A forget step's figures: format 3's seven, then (format 4 on) the evidence of forgetting. */
#define FIGURES_V3 7
#define FIGURES (FIGURES_V3 + FORGET_ATTACKS + 1 + 3 * FORGET_ON_SETS + 2)

static void figures_pack(const struct forget_figures *u, double *v)
{
	size_t n = 0;
	const double head[] = { u->ua, u->ra, u->ta, u->forget_test_acc, u->mia_threshold,
				u->relearn_epochs, u->seconds };
	memcpy(v, head, sizeof(head));
	n = FIGURES_V3;
	for (int a = 0; a < FORGET_ATTACKS; a++)
		v[n++] = u->svc_mia[a];
	v[n++] = u->loss_auc;
	for (int s = 0; s < FORGET_ON_SETS; s++) {
		v[n++] = u->kl[s];
		v[n++] = u->js[s];
		v[n++] = u->activation[s];
	}
	v[n++] = u->param_distance;
	v[n++] = u->param_distance_rel;
}

static void figures_unpack(const double *v, struct forget_figures *u)
{
	size_t n = FIGURES_V3;
	*u = (struct forget_figures){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], { 0 }, 0, { 0 },
				      { 0 }, { 0 }, 0, 0 };
	for (int a = 0; a < FORGET_ATTACKS; a++)
		u->svc_mia[a] = v[n++];
	u->loss_auc = v[n++];
	for (int s = 0; s < FORGET_ON_SETS; s++) {
		u->kl[s] = v[n++];
		u->js[s] = v[n++];
		u->activation[s] = v[n++];
	}
	u->param_distance = v[n++];
	u->param_distance_rel = v[n++];
}

static void put_figures(FILE *f, const struct forget_figures *u)
{
	double v[FIGURES];
	figures_pack(u, v);
	put(f, v, sizeof(v));
}

static void put_forget(FILE *f, const struct scenario_forget *g)
{
	put_str(f, g->section);
	put_u64(f, g->after);
	put_u64(f, g->what);
	put_u64(f, g->num_classes);
	for (size_t i = 0; i < g->num_classes; i++)
		put_u64(f, (uint64_t)g->classes[i]);
	put_u64(f, g->task);
	put_f64(f, g->fraction);
	put_str(f, g->plugin);
	put_u64(f, g->references);
	put_u64(f, (uint64_t)g->retrain_joint);
	put_u64(f, g->retrain_epochs);
	put_u64(f, g->finetune_epochs);
	put_u64(f, g->ascent_epochs);
	put_f64(f, g->ascent_lr);
	put_f64(f, g->relearn_loss);
	put_u64(f, g->relearn_max_epochs);
}

static void put_span(FILE *f, const struct checkpoint_span *s, size_t size)
{
	put(f, s->data, s->count * size);
}

static void put_done(FILE *f, const struct checkpoint_forget_done *d)
{
	put_u64(f, d->which);
	put_u64(f, d->num_forget);
	put_u64(f, (uint64_t)d->plugin);
	put_figures(f, &d->figures);
	put_u64(f, d->references);
	for (int r = 0; r < REFERENCE_COUNT; r++)
		put_figures(f, &d->reference[r]);
	put_u64(f, (uint64_t)d->has_cumulative);
	put_u64(f, d->num_forget_cumulative);
	put_figures(f, &d->cumulative);
	for (int r = 0; r < REFERENCE_COUNT; r++)
		put_figures(f, &d->cumulative_reference[r]);
	put_u64(f, d->num_compared);
	for (size_t i = 0; i < d->num_compared; i++) {
		put_u64(f, (uint64_t)d->compared[i]);
		put_str(f, d->compared_failed[i]);
		put_figures(f, &d->compared_figures[i]);
		put_figures(f, &d->cumulative_compared[i]);
	}
}

static void put_curves(FILE *f, const struct curves *c)
{
	put_u64(f, c->num_names);
	for (size_t i = 0; i < c->num_names; i++)
		put_str(f, c->names[i]);
	put_u64(f, c->count);
	for (size_t i = 0; i < c->count; i++) {
		const struct curves_point *p = &c->points[i];
		put_u64(f, p->step);
		put_u64(f, p->epoch);
		put_u64(f, p->batch);
		put_u64(f, p->name);
		put_f64(f, p->value);
	}
}

/* What checkpoint_write is handed: the view, and who writes the plugins' states. */
struct writer {
	const struct checkpoint_view *v;
	checkpoint_save_fn save;
	void *ctx;
};

static int put_payload(const struct writer *w, FILE *f, struct error *err)
{
	const struct checkpoint_view *v = w->v;
	size_t T = v->num_tasks;
	put_u64(f, v->settings.count);
	put_span(f, &v->settings, 1);
	put_u64(f, v->kernel.count);
	put_span(f, &v->kernel, 1);
	put_u64(f, T);
	put_u64(f, v->num_params);
	put_u64(f, v->num_samples);
	put_u64(f, v->num_plugins);

	put_u64(f, v->steps_done);
	put_u64(f, (uint64_t)v->in_step);
	const struct checkpoint_position *at = &v->at;
	const uint64_t position[] = { at->epoch, at->pos, at->batch, at->batches, at->n,
				      at->head_from, (uint64_t)at->shuffled };
	put(f, position, sizeof(position));
	put_f64(f, v->step_seconds_so_far);
	put_u64(f, v->batches_done);
	put_u64(f, v->batches_total);
	put_u64(f, v->samples_done);
	put_f64(f, v->elapsed);
	put_f64(f, v->total_seconds);
	put_u64(f, CHECKPOINT_PHASES);
	put(f, v->phase_seconds, sizeof(v->phase_seconds));
	put_rng(f, &v->rng);
	put_rng(f, &v->aug);

	put_span(f, &v->params, sizeof(float));
	put_u64(f, v->state.count);
	put_span(f, &v->state, sizeof(float));
	put_u64(f, (uint64_t)v->momentum);
	put_u64(f, (uint64_t)v->sgd_started);
	put_span(f, &v->velocity, sizeof(float));
	put_u64(f, v->order.count);
	put_span(f, &v->order, sizeof(uint64_t));
	for (size_t k = 0; k < T; k++) {
		put_u64(f, v->train[k].count);
		put_span(f, &v->train[k], sizeof(uint32_t));
	}
	put_span(f, &v->R, sizeof(double));
	put_span(f, &v->b, sizeof(double));
	put_span(f, &v->step_seconds, sizeof(double));
	put_span(f, &v->confusion, sizeof(double));

	put_u64(f, v->num_asked);
	for (size_t i = 0; i < v->num_asked; i++)
		put_forget(f, &v->asked[i]);
	put_u64(f, v->num_done);
	for (size_t i = 0; i < v->num_done; i++)
		put_done(f, &v->done[i]);

	for (size_t i = 0; i < v->num_plugins; i++) {
		const struct checkpoint_plugin *p = &v->plugins[i];
		put_u64(f, p->name.count);
		put_span(f, &p->name, 1);
		put_rng(f, &p->rng);
		put_u64(f, p->reserved);
		put_u64(f, p->num_metrics);
		for (size_t m = 0; m < p->num_metrics; m++) {
			put_str(f, p->metrics[m].key);
			put_f64(f, p->metrics[m].value);
		}
		put_u64(f, CHECKPOINT_HOOKS);
		put(f, p->hook_seconds, sizeof(p->hook_seconds));
		if (w->save(w->ctx, i, f, err) != 0)
			return -1;
	}
	put_curves(f, v->curves);
	put_u64(f, v->num_classes);
	put_span(f, &v->class_known, 1);
	put_span(f, &v->class_confusion, sizeof(uint64_t));
	return ferror(f) ? error_set(err, "out of memory") : 0;
}

/* n bytes at offset of fd, or -1 with errno. */
static int pwrite_all(int fd, const void *buf, size_t n, off_t offset)
{
	for (const char *p = buf; n > 0;) {
		ssize_t w = pwrite(fd, p, n, offset);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
		offset += w;
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t n, off_t offset)
{
	for (char *p = buf; n > 0;) {
		ssize_t r = pread(fd, p, n, offset);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			errno = r ? errno : EIO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		offset += r;
	}
	return 0;
}

/* CRC-32 arithmetic for mending a CRC, which libdeflate leaves out (zlib's crc32_combine): a
 * CRC is a polynomial over GF(2) modulo the CRC-32 one, its bits reflected, so x^0 is bit 31. */
#define CRC32_POLY 0xedb88320u

/* a * b modulo the polynomial. */
static uint32_t crc32_mul(uint32_t a, uint32_t b)
{
	uint32_t product = 0;

	for (uint32_t m = 1u << 31; m && a; m >>= 1) {
		if (a & m) {
			product ^= b;
			a ^= m;
		}
		b = b & 1 ? (b >> 1) ^ CRC32_POLY : b >> 1;
	}
	return product;
}

/* crc carried over n zero bytes: times x^(8n), by squaring. */
static uint32_t crc32_zeros(uint32_t crc, uint64_t n)
{
	for (uint32_t x8 = 1u << 23; n; n >>= 1, x8 = crc32_mul(x8, x8))
		if (n & 1)
			crc = crc32_mul(x8, crc);
	return crc;
}

/* The payload goes straight to the temporary file, after room for the header, and its CRC-32
 * is computed on the way: no copy of the checkpoint is ever held in memory. Offsets are the
 * payload's. A plugin's state (engine_plugin_save) seeks back to fill in its frame's length
 * once it is written, so a write may land on bytes already counted; the CRC being linear, it
 * is mended by the CRC of the old bytes xor the new, carried over the bytes after them. */
struct payload_file {
	int fd;
	uint64_t pos, end; /* where the next write goes; the bytes written */
	uint32_t crc;	   /* of payload[0, end) */
	int errnum;	   /* the first failure, which every later write repeats */
};

static ssize_t payload_write(void *cookie, const char *buf, size_t n)
{
	struct payload_file *s = cookie;
	size_t done = 0;
	while (!s->errnum && done < n) {
		size_t k = n - done;
		if (s->pos < s->end) {
			unsigned char old[64];
			k = k < sizeof(old) ? k : sizeof(old);
			k = k < s->end - s->pos ? k : (size_t)(s->end - s->pos);
			if (pread_all(s->fd, old, k, CHECKPOINT_HEADER_SIZE + (off_t)s->pos) != 0) {
				s->errnum = errno;
				break;
			}
			uint32_t change = libdeflate_crc32(0, old, k) ^
					  libdeflate_crc32(0, buf + done, k);
			s->crc ^= crc32_zeros(change, s->end - s->pos - k);
		} else {
			s->crc = libdeflate_crc32(s->crc, buf + done, k);
		}
		if (pwrite_all(s->fd, buf + done, k, CHECKPOINT_HEADER_SIZE + (off_t)s->pos) != 0) {
			s->errnum = errno;
			break;
		}
		done += k;
		s->pos += k;
		s->end = s->pos > s->end ? s->pos : s->end;
	}
	if (!s->errnum)
		return (ssize_t)n;
	errno = s->errnum;
	return -1;
}

/* Anywhere within what is written: the payload has no holes. */
static int payload_seek(void *cookie, off64_t *offset, int whence)
{
	struct payload_file *s = cookie;
	off64_t to = *offset + (whence == SEEK_CUR ? (off64_t)s->pos
				: whence == SEEK_END ? (off64_t)s->end : 0);
	if (to < 0 || (uint64_t)to > s->end) {
		errno = EINVAL;
		return -1;
	}
	s->pos = (uint64_t)to;
	*offset = to;
	return 0;
}

/* The header, for a payload of length bytes whose CRC-32 is crc. */
static void make_header(unsigned char *header, uint64_t length, uint32_t crc)
{
	uint32_t version = CHECKPOINT_VERSION, order = CHECKPOINT_BYTE_ORDER;
	memcpy(header, CHECKPOINT_MAGIC, 8);
	memcpy(header + 8, &version, 4);
	memcpy(header + 12, &order, 4);
	memcpy(header + 16, &length, 8);
	memcpy(header + 24, &crc, 4);
}

/* The payload into the temporary file fd, then the header at its start; -1 with err set, or
 * with *errnum set when the file refused a write. */
static int put_file(const struct writer *w, int fd, int *errnum, struct error *err)
{
	struct payload_file s = { fd, 0, 0, 0, 0 };
	FILE *f = fopencookie(&s, "w", (cookie_io_functions_t){ .write = payload_write,
								 .seek = payload_seek });
	if (!f)
		return error_set(err, "out of memory");
	int rc = put_payload(w, f, err);
	if (fclose(f) != 0 && rc == 0)
		rc = error_set(err, "out of memory");
	unsigned char header[CHECKPOINT_HEADER_SIZE];
	make_header(header, s.end, s.crc);
	if (!s.errnum && rc == 0 && pwrite_all(fd, header, sizeof(header), 0) != 0)
		s.errnum = errno;
	*errnum = s.errnum;
	return s.errnum ? -1 : rc;
}

/* files_replace's writer: the checkpoint into the temporary file's descriptor, past the stdio
 * stream (the payload seeks back into what it wrote, and the header goes in last). */
static int write_file(FILE *f, const void *data, struct error *err)
{
	int errnum = 0;
	if (put_file(data, fileno(f), &errnum, err) == 0)
		return 0;
	if (!errnum)
		return error_prefix(err, "cannot write the checkpoint");
	err->msg[0] = '\0'; /* the file's fault, which errno tells */
	errno = errnum;
	return -1;
}

int checkpoint_write(const char *dir, const struct checkpoint_view *v, checkpoint_save_fn save,
		     void *ctx, struct error *err)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, RESULTS_CHECKPOINT) >= sizeof(path))
		return error_set(err, "%s/%s: %s", dir, RESULTS_CHECKPOINT, strerror(ENAMETOOLONG));
	/* The checkpoint may come before the first results. */
	if (files_make_dirs(dir, err) != 0)
		return error_prefix(err, "%s: cannot write the checkpoint", path);
	struct writer w = { v, save, ctx };
	if (files_replace(dir, RESULTS_CHECKPOINT, 0666, write_file, &w, err) == 0)
		return 0;
	if (errno)
		error_set(err, "%s: cannot write the checkpoint: %s; the previous one, if any, is "
			  "intact", path, strerror(errno));
	return -1;
}

/* ---- parsing ---- */

/* Reads the payload; `part` names what is being read, for the message when it runs out. */
struct cursor {
	const unsigned char *p, *end;
	const char *part;
	int short_read;
};

static struct checkpoint_span get_span(struct cursor *c, uint64_t count, size_t size)
{
	if (c->short_read || count > (uint64_t)(c->end - c->p) / size) {
		c->short_read = 1;
		return (struct checkpoint_span){ NULL, 0 };
	}
	struct checkpoint_span s = { c->p, count };
	c->p += count * size;
	return s;
}

static uint64_t get_u64(struct cursor *c)
{
	uint64_t v = 0;
	struct checkpoint_span s = get_span(c, 1, sizeof(v));
	if (s.data)
		memcpy(&v, s.data, sizeof(v));
	return v;
}

static double get_f64(struct cursor *c)
{
	double v = 0;
	struct checkpoint_span s = get_span(c, 1, sizeof(v));
	if (s.data)
		memcpy(&v, s.data, sizeof(v));
	return v;
}

static void get_doubles(struct cursor *c, double *v, size_t n)
{
	struct checkpoint_span s = get_span(c, n, sizeof(*v));
	if (s.data)
		memcpy(v, s.data, n * sizeof(*v));
}

static struct checkpoint_span get_str(struct cursor *c)
{
	return get_span(c, get_u64(c), 1);
}

/* A string into buf (size bytes, NUL included); 0 if it does not fit. */
static int get_name(struct cursor *c, char *buf, size_t size)
{
	struct checkpoint_span s = get_str(c);
	if (c->short_read || s.count >= size)
		return 0;
	memcpy(buf, s.data, s.count);
	buf[s.count] = '\0';
	return 1;
}

static void get_rng(struct cursor *c, struct rng *r)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = get_u64(c);
}

/* Format 3 and before lack the evidence: NaN. */
static void get_figures(struct cursor *c, uint32_t version, struct forget_figures *u)
{
	double v[FIGURES];
	size_t n = version >= 4 ? FIGURES : FIGURES_V3;
	for (size_t i = n; i < FIGURES; i++)
		v[i] = NAN;
	get_doubles(c, v, n);
	figures_unpack(v, u);
}

#define malformed(err, ...) error_set((err), "malformed: " __VA_ARGS__)

/* The i-th forget step asked for at run time (its section is the file's: not for messages). */
static int parse_forget(struct cursor *c, uint32_t version, uint64_t T, size_t i,
			struct scenario_forget *g, struct error *err)
{
	uint64_t what = 0, classes = 0;
	int ok = get_name(c, g->section, sizeof(g->section));
	g->after = get_u64(c);
	what = get_u64(c);
	classes = get_u64(c);
	ok = ok && g->after <= T && what <= FORGET_WHAT_SAMPLES && classes <= CLASSES_MAX;
	g->what = (enum forget_what)what;
	g->num_classes = ok ? classes : 0;
	for (size_t k = 0; k < g->num_classes; k++) {
		uint64_t cls = get_u64(c);
		ok = ok && cls < CLASSES_MAX;
		g->classes[k] = (int32_t)cls;
	}
	g->task = get_u64(c);
	g->fraction = get_f64(c);
	ok = ok && g->task <= T && get_name(c, g->plugin, sizeof(g->plugin));
	uint64_t refs = get_u64(c), joint = get_u64(c);
	if (!ok || refs >= 1u << REFERENCE_COUNT || joint > 1)
		return malformed(err, "forget step %zu asked for", i + 1);
	g->references = (unsigned)refs;
	g->retrain_joint = (int)joint;
	g->retrain_epochs = get_u64(c);
	g->finetune_epochs = get_u64(c);
	g->ascent_epochs = get_u64(c);
	g->ascent_lr = version >= 6 ? get_f64(c) : 0.0; /* before: train.lr */
	g->relearn_loss = get_f64(c);
	g->relearn_max_epochs = get_u64(c);
	return 0;
}

static int parse_done(struct cursor *c, const struct checkpoint_view *v,
		      struct checkpoint_forget_done *d, struct error *err)
{
	d->which = get_u64(c);
	d->num_forget = get_u64(c);
	d->plugin = (int64_t)get_u64(c);
	get_figures(c, v->version, &d->figures);
	uint64_t refs = get_u64(c);
	for (int r = 0; r < REFERENCE_COUNT; r++)
		get_figures(c, v->version, &d->reference[r]);
	uint64_t cumulative = 0;
	if (v->version >= 4) {
		cumulative = get_u64(c);
		d->num_forget_cumulative = get_u64(c);
		get_figures(c, v->version, &d->cumulative);
		for (int r = 0; r < REFERENCE_COUNT; r++)
			get_figures(c, v->version, &d->cumulative_reference[r]);
	}
	d->num_compared = v->version >= 5 ? get_u64(c) : 0;
	if (d->num_compared > SCENARIO_PLUGINS_MAX)
		return malformed(err, "a forget step done");
	for (size_t i = 0; i < d->num_compared; i++) {
		d->compared[i] = (int64_t)get_u64(c);
		int named = v->version < 6 ? (d->compared_failed[i][0] = '\0', 1)
					   : get_name(c, d->compared_failed[i], RESULTS_REASON_MAX);
		get_figures(c, v->version, &d->compared_figures[i]);
		get_figures(c, v->version, &d->cumulative_compared[i]);
		if (!named || d->compared[i] < 0 || d->compared[i] >= (int64_t)v->num_plugins)
			return malformed(err, "a forget step done");
	}
	if (cumulative > 1)
		return malformed(err, "a forget step done");
	d->has_cumulative = (int)cumulative;
	int asked = d->which >= SCENARIO_FORGETS_MAX;
	if (asked && d->which - SCENARIO_FORGETS_MAX >= v->num_asked)
		return malformed(err, "a forget step done refers to one never asked for");
	if (d->plugin < -1 || d->plugin >= (int64_t)v->num_plugins ||
	    refs >= 1u << REFERENCE_COUNT)
		return malformed(err, "a forget step done");
	d->references = (unsigned)refs;
	return 0;
}

static int parse_plugin(struct cursor *c, struct checkpoint_plugin *p, struct error *err)
{
	p->name = get_str(c);
	if (p->name.count == 0 || p->name.count > NAME_MAX_BYTES)
		return malformed(err, "a plugin's name");
	get_rng(c, &p->rng);
	p->reserved = get_u64(c);
	uint64_t metrics = get_u64(c);
	if (metrics > SERVICES_METRICS_MAX)
		return malformed(err, "%llu figures of a plugin", (unsigned long long)metrics);
	p->num_metrics = metrics;
	for (size_t m = 0; m < metrics; m++) {
		if (!get_name(c, p->metrics[m].key, SERVICES_KEY_MAX) || !p->metrics[m].key[0])
			return malformed(err, "a plugin's figure");
		p->metrics[m].value = get_f64(c);
	}
	if (get_u64(c) != CHECKPOINT_HOOKS)
		return malformed(err, "a plugin's hook times");
	get_doubles(c, p->hook_seconds, CHECKPOINT_HOOKS);
	/* The framed record: uint32 version, uint64 length, the bytes. */
	const unsigned char *start = c->p;
	get_span(c, 1, sizeof(uint32_t));
	get_span(c, get_u64(c), 1);
	if (c->short_read)
		return 0;
	p->state = (struct checkpoint_span){ start, (uint64_t)(c->p - start) };
	return 0;
}

/* A curve point's fields, at p. */
static void point_at(const unsigned char *p, uint64_t field[4], double *value)
{
	memcpy(field, p, 4 * sizeof(uint64_t));
	memcpy(value, p + 4 * sizeof(uint64_t), sizeof(*value));
}

/* The curves' names, each a string fit to name one, and points within the run. */
static int parse_curves(struct cursor *c, struct checkpoint_view *v, struct error *err)
{
	v->num_curve_names = get_u64(c);
	const unsigned char *start = c->p;
	for (uint64_t i = 0; i < v->num_curve_names && !c->short_read; i++) {
		struct checkpoint_span name = get_str(c);
		if (!c->short_read && (name.count == 0 || name.count >= CURVES_NAME_MAX ||
				       memchr(name.data, '\0', name.count)))
			return malformed(err, "a curve's name");
	}
	if (c->short_read)
		return 0;
	v->curve_names = (struct checkpoint_span){ start, (uint64_t)(c->p - start) };
	v->curve_points = get_span(c, get_u64(c), CHECKPOINT_POINT_SIZE);
	for (uint64_t i = 0; v->curve_points.data && i < v->curve_points.count; i++) {
		uint64_t field[4];
		double value;
		point_at(v->curve_points.data + i * CHECKPOINT_POINT_SIZE, field, &value);
		if (field[0] == 0 || field[0] > v->num_tasks || field[1] == 0 ||
		    field[1] > UINT32_MAX || field[2] == 0 || field[2] > UINT32_MAX ||
		    field[3] >= v->num_curve_names)
			return malformed(err, "curve point %llu", (unsigned long long)i + 1);
	}
	return 0;
}

int checkpoint_curves(const struct checkpoint_view *v, struct curves *c, struct error *err)
{
	const unsigned char *p = v->curve_names.data;
	for (uint64_t i = 0; i < v->num_curve_names; i++) {
		uint64_t len;
		char name[CURVES_NAME_MAX];
		uint32_t id;
		memcpy(&len, p, sizeof(len));
		memcpy(name, p + sizeof(len), len);
		name[len] = '\0';
		p += sizeof(len) + len;
		if (curves_name(c, name, &id, err) != 0)
			return -1;
		if (id != i)
			return error_set(err, "malformed: the curves' name '%s' twice", name);
	}
	for (uint64_t i = 0; i < v->curve_points.count; i++) {
		uint64_t field[4];
		double value;
		point_at(v->curve_points.data + i * CHECKPOINT_POINT_SIZE, field, &value);
		if (curves_add(c, (uint32_t)field[0], (uint32_t)field[1], (uint32_t)field[2],
			       (uint32_t)field[3], value, err) != 0)
			return -1;
	}
	return 0;
}

/* The header: magic, byte order, version (into *version), length and CRC against the bytes
 * that follow. */
static int parse_header(const unsigned char *b, size_t size, uint32_t *version,
			struct error *err)
{
	if (memcmp(b, CHECKPOINT_MAGIC, size < 8 ? size : 8) != 0)
		return error_set(err, "not a lethe checkpoint");
	if (size < CHECKPOINT_HEADER_SIZE)
		return error_set(err, "truncated: %zu bytes, not even its %d-byte header", size,
				 CHECKPOINT_HEADER_SIZE);
	uint32_t order, crc;
	uint64_t length;
	memcpy(version, b + 8, 4);
	memcpy(&order, b + 12, 4);
	memcpy(&length, b + 16, 8);
	memcpy(&crc, b + 24, 4);
	if (order != CHECKPOINT_BYTE_ORDER)
		return error_set(err, "written by a machine of another byte order");
	if (*version < 1 || *version > CHECKPOINT_VERSION)
		return error_set(err, "checkpoint format %u; this lethe reads formats 1 to %d",
				 *version, CHECKPOINT_VERSION);
	size_t have = size - CHECKPOINT_HEADER_SIZE;
	if (have < length)
		return error_set(err, "truncated: %zu of its %llu bytes", size,
				 (unsigned long long)length + CHECKPOINT_HEADER_SIZE);
	if (have > length)
		return error_set(err, "%zu bytes past the end its header gives",
				 have - (size_t)length);
	if (libdeflate_crc32(0, b + CHECKPOINT_HEADER_SIZE, have) != crc)
		return error_set(err, "corrupt: its CRC-32 does not match its contents");
	return 0;
}

/* Where the run stands; steps done and in_step are read. */
static int parse_position(struct cursor *c, struct checkpoint_view *v, struct error *err)
{
	struct checkpoint_position *at = &v->at;
	uint64_t position[7];
	for (int i = 0; i < 7; i++)
		position[i] = get_u64(c);
	*at = (struct checkpoint_position){ position[0], position[1], position[2], position[3],
					    position[4], position[5], (int)position[6] };
	if (position[6] > 1 || at->pos > at->n || at->batch > at->n)
		return malformed(err, "the position within the step");
	if (!v->in_step && (at->n || at->pos))
		return malformed(err, "a position within a step, between steps");
	v->step_seconds_so_far = get_f64(c);
	v->batches_done = get_u64(c);
	v->batches_total = get_u64(c);
	v->samples_done = get_u64(c);
	v->elapsed = get_f64(c);
	v->total_seconds = get_f64(c);
	/* The clocks restart these many seconds back. */
	if (!(v->elapsed >= 0 && v->elapsed < 1e12) ||
	    !(v->step_seconds_so_far >= 0 && v->step_seconds_so_far <= v->elapsed))
		return malformed(err, "its times");
	if (get_u64(c) != CHECKPOINT_PHASES)
		return malformed(err, "its phases");
	get_doubles(c, v->phase_seconds, CHECKPOINT_PHASES);
	get_rng(c, &v->rng);
	if (v->version >= 3)
		get_rng(c, &v->aug);
	return 0;
}

static int parse_order(struct cursor *c, struct checkpoint_view *v, struct error *err)
{
	uint64_t n = get_u64(c);
	if (n != (v->in_step ? v->at.n : 0))
		return malformed(err, "an order of %llu samples", (unsigned long long)n);
	v->order = get_span(c, n, sizeof(uint64_t));
	for (uint64_t i = 0; v->order.data && i < n; i++) {
		uint64_t entry;
		memcpy(&entry, v->order.data + i * sizeof(entry), sizeof(entry));
		if (entry >> 32 > v->steps_done || (uint32_t)entry >= v->num_samples)
			return malformed(err, "the step's order holds sample %llx",
					 (unsigned long long)entry);
	}
	return 0;
}

/* Each task's training positions: ascending, within the data set. */
static int parse_tasks(struct cursor *c, struct checkpoint_view *v, struct error *err)
{
	for (size_t k = 0; k < v->num_tasks; k++) {
		struct checkpoint_span *s = &v->train[k];
		*s = get_span(c, get_u64(c), sizeof(uint32_t));
		uint32_t prev = 0;
		for (uint64_t i = 0; s->data && i < s->count; i++) {
			uint32_t p;
			memcpy(&p, s->data + i * sizeof(p), sizeof(p));
			if (p >= v->num_samples || (i && p <= prev))
				return malformed(err, "task %zu's training samples", k + 1);
			prev = p;
		}
	}
	return 0;
}

int checkpoint_parse(const void *data, size_t size, struct checkpoint_view *v,
		     struct error *err)
{
	memset(v, 0, sizeof(*v));
	if (parse_header(data, size, &v->version, err) != 0)
		return -1;
	struct cursor c = { (const unsigned char *)data + CHECKPOINT_HEADER_SIZE,
			    (const unsigned char *)data + size, "its settings", 0 };
	int rc = -1;
	v->settings = get_str(&c);
	if (v->version >= 2) {
		c.part = "its BLAS kernel";
		v->kernel = get_str(&c);
		if (v->kernel.count >= CHECKPOINT_KERNEL_MAX ||
		    (v->kernel.count && memchr(v->kernel.data, '\0', v->kernel.count))) {
			malformed(err, "its BLAS kernel's name");
			goto out;
		}
	}
	c.part = "its sizes";
	v->num_tasks = get_u64(&c);
	v->num_params = get_u64(&c);
	v->num_samples = get_u64(&c);
	uint64_t plugins = get_u64(&c);
	v->steps_done = get_u64(&c);
	uint64_t in_step = get_u64(&c);
	if (v->num_tasks == 0 || v->num_tasks > TASKS_MAX || plugins > SCENARIO_PLUGINS_MAX ||
	    v->steps_done > v->num_tasks || in_step > 1 ||
	    (in_step && v->steps_done == v->num_tasks)) {
		malformed(err, "its sizes or steps");
		goto out;
	}
	v->num_plugins = plugins;
	v->in_step = (int)in_step;
	c.part = "its position";
	if (parse_position(&c, v, err) != 0)
		goto out;
	c.part = "the model";
	v->params = get_span(&c, v->num_params, sizeof(float));
	if (v->version >= 3)
		v->state = get_span(&c, get_u64(&c), sizeof(float));
	uint64_t momentum = get_u64(&c), started = get_u64(&c);
	if (momentum > 1 || started > 1) {
		malformed(err, "the optimiser's state");
		goto out;
	}
	v->momentum = (int)momentum;
	v->sgd_started = (int)started;
	v->velocity = get_span(&c, momentum ? v->num_params : 0, sizeof(float));
	c.part = "the step's order";
	if (parse_order(&c, v, err) != 0)
		goto out;
	c.part = "the tasks";
	if (parse_tasks(&c, v, err) != 0)
		goto out;
	c.part = "the results";
	size_t T = v->num_tasks;
	v->R = get_span(&c, T * T, sizeof(double));
	v->b = get_span(&c, T, sizeof(double));
	v->step_seconds = get_span(&c, T, sizeof(double));
	v->confusion = get_span(&c, T, sizeof(double));
	c.part = "the forget steps";
	uint64_t asked = get_u64(&c);
	if (asked > CHECKPOINT_FORGETS_MAX) {
		malformed(err, "%llu forget steps asked for", (unsigned long long)asked);
		goto out;
	}
	v->num_asked = asked;
	for (size_t i = 0; i < v->num_asked; i++)
		if (parse_forget(&c, v->version, T, i, &v->asked[i], err) != 0)
			goto out;
	uint64_t done = get_u64(&c);
	if (done > CHECKPOINT_FORGETS_MAX) {
		malformed(err, "%llu forget steps done", (unsigned long long)done);
		goto out;
	}
	v->num_done = done;
	for (size_t i = 0; i < v->num_done; i++)
		if (parse_done(&c, v, &v->done[i], err) != 0)
			goto out;
	c.part = "the plugins";
	for (size_t i = 0; i < v->num_plugins; i++)
		if (parse_plugin(&c, &v->plugins[i], err) != 0)
			goto out;
	if (v->version >= 4) {
		c.part = "the curves";
		if (parse_curves(&c, v, err) != 0)
			goto out;
		c.part = "the class confusion";
		v->num_classes = get_u64(&c);
		if (v->num_classes == 0 || v->num_classes > CLASSES_MAX) {
			malformed(err, "%llu classes", (unsigned long long)v->num_classes);
			goto out;
		}
		v->class_known = get_span(&c, T, 1);
		for (size_t k = 0; v->class_known.data && k < T; k++) {
			uint8_t known = v->class_known.data[k];
			if (known > 1 || (known && k >= v->steps_done)) {
				malformed(err, "which steps' class confusion is known");
				goto out;
			}
		}
		v->class_confusion = get_span(&c, T * v->num_classes * v->num_classes,
					      sizeof(uint64_t));
	}
	if (!c.short_read && c.p != c.end)
		malformed(err, "%zu bytes after its last part", (size_t)(c.end - c.p));
	else
		rc = 0;
out:
	/* Values read past the end are zeros: what they failed is the end itself. */
	if (c.short_read)
		return malformed(err, "truncated within %s", c.part);
	return rc;
}

/* ---- reading ---- */

unsigned char *checkpoint_read(const char *path, size_t *size, struct error *err)
{
	struct stat st;
	int fd = files_open_regular(path, &st, err);
	if (fd < 0) {
		if (errno == ENOENT)
			error_set(err, "%s: no checkpoint to resume from (%s)", path,
				  strerror(ENOENT));
		return NULL;
	}
	unsigned char *data = NULL;
	size_t got = 0;
	int errnum = 0;
	if (!(data = malloc(st.st_size ? (size_t)st.st_size : 1)))
		errnum = ENOMEM;
	while (!errnum && got < (size_t)st.st_size) {
		ssize_t r = read(fd, data + got, (size_t)st.st_size - got);
		if (r < 0 && errno != EINTR)
			errnum = errno;
		else if (r == 0)
			errnum = EIO; /* it shrank while read */
		else if (r > 0)
			got += (size_t)r;
	}
	close(fd);
	if (errnum) {
		error_set(err, "%s: cannot read it: %s", path, strerror(errnum));
		free(data);
		return NULL;
	}
	*size = got;
	return data;
}
