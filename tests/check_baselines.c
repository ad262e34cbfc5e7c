/* The baseline plugins si, mas, lwf, er_ace, der and derpp, each on a small synthetic scenario
 * run by the real engine: what each adds to the loss against an independent computation of the
 * paper's loss from its definition (and its gradient against finite differences of that loss),
 * SI's importance against one computed by hand from the run's gradients, MAS's against each
 * sample's own gradient (the double reference on the MLP, a row at a time on a CNN), and the
 * stability guards. Bad parameters are refused by the catalogue (tests/bad_inputs/180-185,
 * 200-205). */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "data/tasks.h"
#include "model/loss.h"
#include "scenario/scenario.h"
#include "testutil.h"

#define CLASSES 4
#define LR 0.05

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;
	int open_rc;
	/* The sink's: what the test watches while the run goes. */
	void (*watch)(struct run *r, const struct event *ev);
	double *omega;	  /* si: Σ lr g² per parameter over the first step */
	double *bound;	  /* si: a bound on the plugin's rounding in ω */
	float *params;	  /* the parameters when the first step ended */
	float *bn_state;  /* mas: the model's state then */
	FILE *state;	  /* plugin 0's state at the second step's first batch */
};

static void run_sink(void *ctx, const struct event *ev)
{
	struct run *r = ctx;
	if (r->watch)
		r->watch(r, ev);
}

/* 4 classes of dim-long inputs in `tasks` tasks under protocol, model's [model] line;
 * plugin's section `section`. */
static void run_open_with(struct run *r, const char *plugin, const char *section, int tasks,
			  const char *protocol, const char *model, int dim)
{
	memset(r, 0, sizeof(*r));
	char text[2048];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = baselines\nprotocol = %s\nplugins = %s\n"
		 "[data]\nsource = synthetic\nclasses = %d\ndim = %d\ntrain_per_class = 60\n"
		 "test_per_class = 10\nspread = 10\n[tasks]\nsplit = %d\n[model]\n%s\n"
		 "[train]\nlr = %g\nbatch_size = 20\nepochs = 2\nseed = 5\n[%s]\n%s",
		 protocol, plugin, CLASSES, dim, tasks, model, LR, plugin, section);
	char *path = testutil_write_text(testutil_dir, "b.ini", text);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &r->err) == 0, "%s", r->err.msg);
	free(path);
	plugin_path_init(&r->pp, getenv("LETHE_BUILD_PLUGINS"));
	r->open_rc = engine_open(&r->e, &r->s, &r->pp, &r->err);
	ck_assert_msg(r->open_rc == 0, "%s", r->err.msg);
	engine_add_sink(&r->e, run_sink, r);
}

/* 4 classes in `tasks` tasks, class-incremental, a 6-unit MLP; plugin's section `section`. */
static void run_open(struct run *r, const char *plugin, const char *section, int tasks)
{
	run_open_with(r, plugin, section, tasks, "class-incremental", "hidden = 6", 8);
}

static void run_close(struct run *r)
{
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
	free(r->omega);
	free(r->bound);
	free(r->params);
	free(r->bn_state);
	if (r->state)
		fclose(r->state);
}

/* Plugin 0's state, less the engine's framing (uint32 version, uint64 length). */
static unsigned char *state_of(struct run *r, size_t *size)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_msg(engine_plugin_save(&r->e, 0, f, &r->err) == 0, "%s", r->err.msg);
	fclose(f);
	ck_assert_uint_ge(len, 12);
	*size = len - 12;
	memmove(buf, buf + 12, len - 12);
	return (unsigned char *)buf;
}

/* ---- si ---- */

static void si_watch(struct run *r, const struct event *ev)
{
	struct model *m = &r->e.model;
	size_t P = m->num_params;
	if (ev->kind == EVENT_BATCH && ev->step == 0) {
		/* Plain SGD: the step is −lr g, so −g·Δθ = lr g², and float rounds θ by half an ulp. */
		for (size_t i = 0; i < P; i++) {
			double g = m->grads[i];
			r->omega[i] += LR * g * g;
			r->bound[i] += fabs(g) * (fabs(m->params[i]) + LR * fabs(g)) * 0x1p-23;
		}
	}
	if (ev->kind == EVENT_STEP_END && ev->step == 0) {
		r->params = malloc(P * sizeof(float));
		memcpy(r->params, m->params, P * sizeof(float));
	}
	if (ev->kind == EVENT_BATCH && ev->step == 1 && !r->state) {
		struct error err;
		r->state = tmpfile();
		ck_assert_msg(engine_plugin_save(&r->e, 0, r->state, &err) == 0, "%s", err.msg);
	}
}

/* The state's Ω and θ* (si's encoding: uint32 tasks, uint64 P, Ω[P], θ*[P], ...). */
static void si_read(FILE *f, size_t P, uint32_t *tasks, float *omega, float *anchor)
{
	uint32_t version;
	uint64_t len, count;
	rewind(f);
	ck_assert_uint_eq(fread(&version, sizeof(version), 1, f), 1);
	ck_assert_uint_eq(fread(&len, sizeof(len), 1, f), 1);
	ck_assert_uint_eq(fread(tasks, sizeof(*tasks), 1, f), 1);
	ck_assert_uint_eq(fread(&count, sizeof(count), 1, f), 1);
	ck_assert_uint_eq(count, P);
	ck_assert_uint_eq(fread(omega, sizeof(float), P, f), P);
	ck_assert_uint_eq(fread(anchor, sizeof(float), P, f), P);
}

/* The penalty's loss with zeroed gradients, as the engine would add it. */
static double si_penalty(struct run *r)
{
	struct engine_plugin *p = &r->e.plugins[0];
	double loss = 0;
	memset(r->e.model.grads, 0, r->e.model.num_params * sizeof(float));
	ck_assert_int_eq(p->hooks.on_gradient(p->inst, &r->e.batch, &loss), LETHE_OK);
	return loss;
}

/* Ω after the first task against Σ lr g² / (Δ² + ξ) from the run's own gradients; then the
 * penalty c Σ Ω (θ − θ*)² and its gradient against finite differences. */
START_TEST(test_si_importance_and_penalty)
{
	const double c = 0.3, xi = 0.01;
	char section[128];
	snprintf(section, sizeof(section), "lambda = %g\nxi = %g\n", c, xi);
	struct run r;
	run_open(&r, "si", section, 2);
	struct model *m = &r.e.model;
	size_t P = m->num_params;
	float *initial = malloc(P * sizeof(float));
	memcpy(initial, m->params, P * sizeof(float));
	r.omega = calloc(P, sizeof(double));
	r.bound = calloc(P, sizeof(double));
	r.watch = si_watch;
	ck_assert_msg(engine_run(&r.e, NULL, &r.err) == 0, "%s", r.err.msg);
	ck_assert_ptr_nonnull(r.state);

	uint32_t tasks;
	float *omega = malloc(P * sizeof(float)), *anchor = malloc(P * sizeof(float));
	si_read(r.state, P, &tasks, omega, anchor);
	ck_assert_uint_eq(tasks, 1);
	ck_assert(memcmp(anchor, r.params, P * sizeof(float)) == 0);
	size_t positive = 0;
	for (size_t i = 0; i < P; i++) {
		double d = (double)r.params[i] - initial[i], den = d * d + xi;
		double want = r.omega[i] / den;
		/* ω's rounding, then float sums of ~12 terms and the float Ω. */
		double tol = r.bound[i] / den + 1e-5 * fabs(want) + 1e-12;
		ck_assert_msg(fabs(omega[i] - want) <= tol, "Ω[%zu] = %.9g, by hand %.9g (± %.3g)",
			      i, omega[i], want, tol);
		positive += want > 0;
	}
	ck_assert_uint_gt(positive, P / 2);

	/* The penalty, away from θ*. */
	for (size_t i = 0; i < P; i++)
		m->params[i] = anchor[i] + 0.05f * (float)((int)(i * 7919 % 13) - 6);
	double want = 0;
	for (size_t i = 0; i < P; i++) {
		double d = (double)m->params[i] - anchor[i];
		want += c * omega[i] * d * d;
	}
	/* The plugin holds Ω after the whole run now (both tasks): reload the first task's. */
	rewind(r.state);
	ck_assert_msg(engine_plugin_load(&r.e, 0, r.state, &r.err) == 0, "%s", r.err.msg);
	double loss = si_penalty(&r);
	ck_assert_msg(fabs(loss - want) <= 1e-5 * want, "penalty %.9g, by hand %.9g", loss, want);
	float *grad = malloc(P * sizeof(float));
	memcpy(grad, m->grads, P * sizeof(float));
	const float h = 1.0f / 64;
	for (size_t i = 0; i < P; i += 3) {
		float theta = m->params[i];
		m->params[i] = theta + h;
		double up = si_penalty(&r);
		m->params[i] = theta - h;
		double down = si_penalty(&r);
		m->params[i] = theta;
		double fd = (up - down) / ((double)(theta + h) - (double)(theta - h));
		ck_assert_msg(fabs(fd - grad[i]) <= 1e-4 * fabs(fd) + 1e-6 * fabs(want) + 1e-9,
			      "parameter %zu: gradient %.9g, finite difference %.9g", i, grad[i], fd);
	}
	free(grad);
	free(initial);
	free(omega);
	free(anchor);
	run_close(&r);
}
END_TEST

/* guard = refuse stops the run where lr·2c·Ω reaches 2 and names a safe lambda; guard = cap
 * leaves every Ω in [0, 0.5 · 2 / (lr 2c)]. */
START_TEST(test_si_guard)
{
	struct run r;
	run_open(&r, "si", "lambda = 1e6\nguard = refuse\n", 2);
	ck_assert_int_ne(engine_run(&r.e, NULL, &r.err), 0);
	ck_assert_msg(strstr(r.err.msg, "SGD would diverge; use lambda <"), "%s", r.err.msg);
	run_close(&r);

	const double c = 1e6;
	run_open(&r, "si", "lambda = 1e6\nguard = cap\n", 2);
	size_t P = r.e.model.num_params;
	r.omega = calloc(P, sizeof(double));
	r.bound = calloc(P, sizeof(double));
	r.watch = si_watch;
	ck_assert_msg(engine_run(&r.e, NULL, &r.err) == 0, "%s", r.err.msg);
	uint32_t tasks;
	float *omega = malloc(P * sizeof(float)), *anchor = malloc(P * sizeof(float));
	si_read(r.state, P, &tasks, omega, anchor);
	double cap = 0.5 * 2.0 / (LR * 2.0 * c);
	size_t at_cap = 0;
	for (size_t i = 0; i < P; i++) {
		ck_assert_msg(omega[i] >= 0.0f && omega[i] <= cap * (1 + 1e-6), "Ω[%zu] = %g", i,
			      omega[i]);
		at_cap += omega[i] >= (float)cap;
	}
	ck_assert_uint_gt(at_cap, 0);
	for (size_t i = 0; i < P; i++)
		ck_assert(isfinite(r.e.model.params[i]));
	free(omega);
	free(anchor);
	run_close(&r);
}
END_TEST

/* ---- the replayed losses ---- */

/* −log softmax(z)_y over the classes allow permits (NULL: all), and its gradient times scale
 * into d: the definition, in double. */
static double ref_ce(const float *z, int32_t y, const uint8_t *allow, double scale, double *d)
{
	double max = -INFINITY, sum = 0;
	for (int j = 0; j < CLASSES; j++)
		if (!allow || allow[j])
			max = fmax(max, z[j]);
	for (int j = 0; j < CLASSES; j++)
		if (!allow || allow[j])
			sum += exp(z[j] - max);
	for (int j = 0; d && j < CLASSES; j++)
		if (!allow || allow[j])
			d[j] += scale * (exp(z[j] - max) / sum - (j == y));
	return max + log(sum) - z[y];
}

/* The stored logits of sample id, from the reservoir's encoding (reservoir.h). */
static const float *stored_logits(const unsigned char *st, uint64_t id)
{
	uint32_t dim, width;
	uint64_t count;
	memcpy(&dim, st, 4);
	memcpy(&width, st + 4, 4);
	memcpy(&count, st + 8, 8);
	ck_assert_uint_eq(width, CLASSES);
	const unsigned char *ids = st + 24 + count * dim + count * 4;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t v;
		memcpy(&v, ids + i * 8, 8);
		if (v == id)
			return (const float *)(ids + count * 8 + count * 4 + i * width * 4);
	}
	ck_abort_msg("sample %llu is not stored", (unsigned long long)id);
	return NULL;
}

struct replay {
	const char *plugin;
	double alpha, beta; /* der, derpp */
	int draws;	    /* replay draws a batch */
};

/* The loss the paper writes, over the batch the plugin built: the incoming rows' mean CE (ER-ACE:
 * over present ∪ unseen classes, here every class having been seen), each draw's rows' mean
 * CE, or for der's first draw alpha · the mean squared difference to the stored logits. */
static double ref_loss(const struct replay *rp, const lethe_batch *b, const float *z,
		       const unsigned char *st, size_t r, double *d)
{
	size_t m = b->n_host;
	double loss = 0;
	uint8_t present[CLASSES] = { 0 };
	for (size_t i = 0; i < m; i++)
		present[b->y[i]] = 1;
	int ace = !strcmp(rp->plugin, "er_ace");
	for (size_t i = 0; i < m; i++)
		loss += ref_ce(z + i * CLASSES, b->y[i], ace ? present : NULL, 1.0 / (double)m,
			       d ? d + i * CLASSES : NULL) / (double)m;
	for (size_t i = m; i < m + r; i++) {
		const float *zi = z + i * CLASSES;
		if (ace) {
			loss += ref_ce(zi, b->y[i], NULL, 1.0 / (double)r,
				       d ? d + i * CLASSES : NULL) / (double)r;
			continue;
		}
		const float *s = stored_logits(st, b->ids[i]);
		double scale = rp->alpha / ((double)r * CLASSES);
		for (int j = 0; j < CLASSES; j++) {
			double diff = (double)zi[j] - s[j];
			loss += scale * diff * diff;
			if (d)
				d[i * CLASSES + j] += 2 * scale * diff;
		}
	}
	for (size_t i = m + r; i < b->n; i++)
		loss += rp->beta * ref_ce(z + i * CLASSES, b->y[i], NULL, rp->beta / (double)r,
					  d ? d + i * CLASSES : NULL) / (double)r;
	return loss;
}

static const struct replay replays[] = {
	{ "er_ace", 0, 0, 1 },
	{ "der", 0.7, 0, 1 },
	{ "derpp", 0.7, 0.4, 2 },
};

/* After a run, a batch of the last task built by on_batch, random logits, the host's
 * cross-entropy, then on_logits: the loss and dlogits are the paper's (ref_loss), and dlogits
 * its finite differences. */
START_TEST(test_replay_loss)
{
	const struct replay *rp = &replays[_i];
	char section[256];
	const size_t r = 7;
	snprintf(section, sizeof(section), "max_stored = 50\nreplay_batch = %zu\n%s%s", r,
		 rp->alpha > 0 ? "alpha = 0.7\n" : "", rp->beta > 0 ? "beta = 0.4\n" : "");
	struct run run;
	run_open(&run, rp->plugin, section, 2);
	ck_assert_msg(engine_run(&run.e, NULL, &run.err) == 0, "%s", run.err.msg);
	struct engine_plugin *p = &run.e.plugins[0];
	lethe_batch *b = &run.e.batch;
	b->n = b->n_host;
	b->epoch = 1; /* offers nothing: the memory stays as the state shows it */
	ck_assert_uint_eq(b->task, 1);
	ck_assert_int_eq(p->hooks.on_batch(p->inst, b), LETHE_OK);
	ck_assert_uint_eq(b->n, b->n_host + (size_t)rp->draws * r);
	size_t size, n = b->n;
	unsigned char *st = state_of(&run, &size);
	if (!strcmp(rp->plugin, "er_ace")) /* its state ends in the classes seen: all of them */
		for (int j = 0; j < CLASSES; j++)
			ck_assert_uint_eq(st[size - CLASSES + j], 1);

	float *z = malloc(n * CLASSES * sizeof(float)), *dz = malloc(n * CLASSES * sizeof(float));
	double *want = calloc(n * CLASSES, sizeof(double));
	uint64_t seed = 12345;
	for (size_t i = 0; i < n * CLASSES; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		z[i] = (float)((double)(seed >> 40) / (double)(1 << 24) * 6.0 - 3.0);
	}
	double loss = loss_softmax_ce(z, n, CLASSES, b->y, NULL, dz);
	ck_assert_int_eq(p->hooks.on_logits(p->inst, b, z, dz, &loss), LETHE_OK);
	double ref = ref_loss(rp, b, z, st, r, want);
	ck_assert_msg(fabs(loss - ref) <= 1e-9 * (1 + fabs(ref)) + 1e-6 * ref, "loss %.9g, the "
		      "paper's %.9g", loss, ref);
	for (size_t i = 0; i < n * CLASSES; i++) {
		ck_assert_msg(fabs(dz[i] - want[i]) <= 1e-6, "dlogits[%zu] = %.9g, want %.9g", i,
			      dz[i], want[i]);
		const float h = 1.0f / 256;
		float zi = z[i];
		z[i] = zi + h;
		double up = ref_loss(rp, b, z, st, r, NULL);
		z[i] = zi - h;
		double down = ref_loss(rp, b, z, st, r, NULL);
		z[i] = zi;
		double fd = (up - down) / ((double)(zi + h) - (double)(zi - h));
		/* The third derivative of these losses is below 1: h² / 6 bounds the error. */
		ck_assert_msg(fabs(fd - want[i]) <= h * h / 6 * (1 + rp->alpha) + 1e-9,
			      "logit %zu: gradient %.9g, finite difference %.9g", i, want[i], fd);
	}
	free(z);
	free(dz);
	free(want);
	free(st);
	run_close(&run);
}
END_TEST

/* ---- lwf ---- */

static void lwf_watch(struct run *r, const struct event *ev)
{
	if (ev->kind == EVENT_STEP_END && ev->step == 0) {
		size_t P = r->e.model.num_params;
		r->params = malloc(P * sizeof(float));
		memcpy(r->params, r->e.model.params, P * sizeof(float));
	}
}

/* −Σ_c q_c log p_c over classes 0 and 1 (the first task's), q and p softmax(·/T). */
static double ref_distill(const float *t, const float *s, double temp, double scale, double *d)
{
	double tmax = fmax(t[0], t[1]) / temp, smax = fmax(s[0], s[1]) / temp, ts = 0, ss = 0;
	for (int j = 0; j < 2; j++) {
		ts += exp(t[j] / temp - tmax);
		ss += exp(s[j] / temp - smax);
	}
	double ce = 0;
	for (int j = 0; j < 2; j++) {
		double q = exp(t[j] / temp - tmax) / ts, lp = s[j] / temp - smax - log(ss);
		ce -= q * lp;
		if (d)
			d[j] += scale * (exp(lp) - q);
	}
	return ce;
}

/* The teacher is the model as the first task left it; the term is λ/n Σ soft CE, its gradient
 * λ/(T n) (p − q), checked against the definition and finite differences. */
START_TEST(test_lwf_distillation)
{
	const double lambda = 0.8, temp = 2.5;
	char section[128];
	snprintf(section, sizeof(section), "lambda = %g\ntemperature = %g\n", lambda, temp);
	struct run r;
	run_open(&r, "lwf", section, 2);
	r.watch = lwf_watch;
	ck_assert_msg(engine_run(&r.e, NULL, &r.err) == 0, "%s", r.err.msg);
	struct model *m = &r.e.model;
	size_t P = m->num_params, size;
	unsigned char *st = state_of(&r, &size);
	uint32_t task;
	uint64_t count;
	memcpy(&task, st, 4);
	memcpy(&count, st + 4, 8);
	ck_assert_uint_eq(task, 1);
	ck_assert_uint_eq(count, P);
	ck_assert(memcmp(st + 12, r.params, P * sizeof(float)) == 0);

	lethe_batch *b = &r.e.batch;
	size_t n = b->n;
	float *t = malloc(n * CLASSES * sizeof(float)), *s = malloc(n * CLASSES * sizeof(float));
	float *dz = calloc(n * CLASSES, sizeof(float)), *now = malloc(P * sizeof(float));
	double *want = calloc(n * CLASSES, sizeof(double));
	/* The teacher's logits: the host's model with its weights. */
	memcpy(now, m->params, P * sizeof(float));
	memcpy(m->params, r.params, P * sizeof(float));
	ck_assert_msg(model_forward(m, b->x, n, t, &r.err) == 0, "%s", r.err.msg);
	memcpy(m->params, now, P * sizeof(float));
	for (size_t i = 0; i < n * CLASSES; i++)
		s[i] = t[i] + 0.3f * (float)((int)(i * 31 % 11) - 5);

	struct engine_plugin *p = &r.e.plugins[0];
	double loss = 0, ref = 0;
	ck_assert_int_eq(p->hooks.on_logits(p->inst, b, s, dz, &loss), LETHE_OK);
	for (size_t i = 0; i < n; i++)
		ref += lambda / (double)n * ref_distill(t + i * CLASSES, s + i * CLASSES, temp,
							 lambda / (temp * (double)n),
							 want + i * CLASSES);
	ck_assert_msg(fabs(loss - ref) <= 1e-5 * ref, "loss %.9g, the paper's %.9g", loss, ref);
	for (size_t i = 0; i < n * CLASSES; i++) {
		ck_assert_msg(fabs(dz[i] - want[i]) <= 1e-6, "dlogits[%zu] = %.9g, want %.9g", i,
			      dz[i], want[i]);
		if (i % CLASSES >= 2)
			continue; /* the new classes take no distillation */
		const float h = 1.0f / 256;
		size_t row = i / CLASSES * CLASSES;
		float si = s[i];
		s[i] = si + h;
		double up = ref_distill(t + row, s + row, temp, 0, NULL);
		s[i] = si - h;
		double down = ref_distill(t + row, s + row, temp, 0, NULL);
		s[i] = si;
		double fd = lambda / (double)n * (up - down) / ((double)(si + h) - (double)(si - h));
		ck_assert_msg(fabs(fd - want[i]) <= h * h / 6 + 1e-9, "logit %zu: gradient %.9g, "
			      "finite difference %.9g", i, want[i], fd);
	}
	free(t);
	free(s);
	free(dz);
	free(now);
	free(want);
	free(st);
	run_close(&r);
}
END_TEST

/* ---- mas ---- */

static void mas_watch(struct run *r, const struct event *ev)
{
	struct model *m = &r->e.model;
	if (ev->kind == EVENT_STEP_END && ev->step == 0) {
		r->params = malloc(m->num_params * sizeof(float));
		memcpy(r->params, m->params, m->num_params * sizeof(float));
		r->bn_state = malloc((m->num_state ? m->num_state : 1) * sizeof(float));
		memcpy(r->bn_state, m->state, m->num_state * sizeof(float));
	}
	if (ev->kind == EVENT_BATCH && ev->step == 1 && !r->state) {
		struct error err;
		r->state = tmpfile();
		ck_assert_msg(engine_plugin_save(&r->e, 0, r->state, &err) == 0, "%s", err.msg);
	}
}

/* The state's Ω and θ* (mas's encoding: uint32 tasks, uint64 P, Ω[P], θ*[P]). */
static void mas_read(FILE *f, size_t P, float *omega, float *anchor)
{
	uint32_t version, tasks;
	uint64_t len, count;
	rewind(f);
	ck_assert_uint_eq(fread(&version, sizeof(version), 1, f), 1);
	ck_assert_uint_eq(fread(&len, sizeof(len), 1, f), 1);
	ck_assert_uint_eq(fread(&tasks, sizeof(tasks), 1, f), 1);
	ck_assert_uint_eq(tasks, 1);
	ck_assert_uint_eq(fread(&count, sizeof(count), 1, f), 1);
	ck_assert_uint_eq(count, P);
	ck_assert_uint_eq(fread(omega, sizeof(float), P, f), P);
	ck_assert_uint_eq(fread(anchor, sizeof(float), P, f), P);
}

/* The classes of f for task 0: all, or under task-incremental learning the task's. */
static void mas_allowed(const struct engine *e, uint8_t *allowed)
{
	const struct task *t = &e->tasks.t[0];
	for (size_t j = 0; j < CLASSES; j++)
		allowed[j] = e->s->protocol == LETHE_TASK_INCREMENTAL ? t->class_mask[j] : 1;
}

/* 1/N Σ_n |∂‖f(x_n)‖²/∂θ| over task 0's N rows at θ, each row's gradient from the double
 * reference (dL/dlogits = 2 f on the allowed classes), and into bound a bound on the plugin's
 * float result: each row's gradient's bound, then the float sum over N rows and the scale. */
static void mas_reference_mlp(struct engine *e, const float *theta, double *want, double *bound)
{
	const struct model *m = &e->model;
	const struct task *t = &e->tasks.t[0];
	size_t P = m->num_params, N = t->num_train, dim = e->train.dim;
	uint8_t allowed[CLASSES];
	mas_allowed(e, allowed);
	double *mag = calloc(P, sizeof(double)), *x = malloc(dim * sizeof(double));
	float *xf = malloc(dim * sizeof(float));
	memset(want, 0, P * sizeof(double));
	memset(bound, 0, P * sizeof(double));
	for (size_t n = 0; n < N; n++) {
		struct ref_mlp ref;
		double *th = ref_mlp_init_for(&ref, m, 1), dl[CLASSES], edl[CLASSES];
		for (size_t i = 0; i < P; i++)
			th[i] = theta[i];
		int32_t y;
		tasks_gather(t, &e->train, &t->train[n], 1, xf, &y);
		for (size_t i = 0; i < dim; i++)
			x[i] = xf[i];
		ref_mlp_forward(&ref, th, x, NULL);
		size_t last = ref.num_layers - 1;
		for (size_t j = 0; j < CLASSES; j++) {
			dl[j] = allowed[j] ? 2.0 * ref.z[last][j] : 0.0;
			edl[j] = allowed[j] ? 2.0 * ref.ez[last][j] : 0.0;
		}
		ref_mlp_backward(&ref, th, dl, edl);
		for (size_t i = 0; i < P; i++) {
			want[i] += fabs(ref.grad[i]) / (double)N;
			bound[i] += ref.egrad[i] / (double)N;
		}
		ref_mlp_free(&ref);
		free(th);
	}
	for (size_t i = 0; i < P; i++)
		bound[i] += ref_gamma(N + 4) * (want[i] + bound[i]);
	free(mag);
	free(x);
	free(xf);
}

/* The same from the host's float model, a row at a time through its full backward (not the
 * per-sample statistics the plugin takes), in evaluation mode with the state the plugin saw. */
static void mas_reference_rows(struct run *r, double *want)
{
	struct engine *e = &r->e;
	struct model *m = &e->model;
	const struct task *t = &e->tasks.t[0];
	size_t P = m->num_params, N = t->num_train;
	uint8_t allowed[CLASSES];
	mas_allowed(e, allowed);
	memcpy(m->params, r->params, P * sizeof(float));
	memcpy(m->state, r->bn_state, m->num_state * sizeof(float));
	m->training = 0;
	float *x = malloc(e->train.dim * sizeof(float)), z[CLASSES];
	memset(want, 0, P * sizeof(double));
	for (size_t n = 0; n < N; n++) {
		int32_t y;
		tasks_gather(t, &e->train, &t->train[n], 1, x, &y);
		ck_assert_msg(model_forward(m, x, 1, z, &r->err) == 0, "%s", r->err.msg);
		for (size_t j = 0; j < CLASSES; j++)
			z[j] = allowed[j] ? 2.0f * z[j] : 0.0f;
		model_backward(m, z);
		for (size_t i = 0; i < P; i++)
			want[i] += fabs(m->grads[i]) / (double)N;
	}
	free(x);
}

/* Ω after the first task against each row's own gradient of ‖f(x)‖², computed independently:
 * on the MLP by the double reference within its bound (class- and task-incremental), on a CNN
 * with batch norm by the host's backward a row at a time. Then (MLP) the penalty
 * λ Σ Ω (θ − θ*)² and its gradient against finite differences. */
START_TEST(test_mas_importance)
{
	static const struct {
		const char *protocol, *model;
		int dim, reference;
	} cases[] = {
		{ "class-incremental", "hidden = 6", 8, 1 },
		{ "task-incremental", "hidden = 6", 8, 1 },
		{ "class-incremental",
		  "layers = conv 3 k3 p1, bn, relu, conv 4 k3 s2 p1, relu, flatten, dense 6, relu, "
		  "dense", 16, 0 },
	};
	const double lambda = 0.7;
	char section[64];
	snprintf(section, sizeof(section), "lambda = %g\n", lambda);
	struct run r;
	run_open_with(&r, "mas", section, 2, cases[_i].protocol, cases[_i].model, cases[_i].dim);
	r.watch = mas_watch;
	ck_assert_msg(engine_run(&r.e, NULL, &r.err) == 0, "%s", r.err.msg);
	ck_assert_ptr_nonnull(r.state);
	struct model *m = &r.e.model;
	size_t P = m->num_params;
	float *omega = malloc(P * sizeof(float)), *anchor = malloc(P * sizeof(float));
	mas_read(r.state, P, omega, anchor);
	ck_assert(memcmp(anchor, r.params, P * sizeof(float)) == 0);
	double *want = malloc(P * sizeof(double)), *bound = malloc(P * sizeof(double)), top = 0;
	if (cases[_i].reference) {
		mas_reference_mlp(&r.e, r.params, want, bound);
	} else {
		mas_reference_rows(&r, want);
		for (size_t i = 0; i < P; i++)
			top = fmax(top, want[i]);
		/* Two float routes to each row's gradient, their sums (a few hundred products at
		 * most, γ ≈ 3e-5 of their magnitudes) in other orders: 1e-3 relative, and 1e-5
		 * of the largest for parameters whose products cancel. */
		for (size_t i = 0; i < P; i++)
			bound[i] = 1e-3 * want[i] + 1e-5 * top;
	}
	size_t positive = 0;
	for (size_t i = 0; i < P; i++) {
		ck_assert_msg(fabs(omega[i] - want[i]) <= bound[i] + 0x1p-24 * want[i],
			      "Ω[%zu] = %.9g, per sample %.9g (± %.3g)", i, omega[i], want[i],
			      bound[i]);
		positive += want[i] > 0;
	}
	ck_assert_uint_gt(positive, P / 3); /* not a trivial Ω: dead ReLUs give some zeros */
	if (_i == 0) {
		/* The penalty, away from θ*, with the first task's Ω reloaded. */
		for (size_t i = 0; i < P; i++)
			m->params[i] = anchor[i] + 0.05f * (float)((int)(i * 7919 % 13) - 6);
		double pen = 0;
		for (size_t i = 0; i < P; i++) {
			double d = (double)m->params[i] - anchor[i];
			pen += lambda * omega[i] * d * d;
		}
		rewind(r.state);
		ck_assert_msg(engine_plugin_load(&r.e, 0, r.state, &r.err) == 0, "%s", r.err.msg);
		double loss = si_penalty(&r);
		ck_assert_msg(fabs(loss - pen) <= 1e-5 * pen, "penalty %.9g, by hand %.9g", loss,
			      pen);
		float *grad = malloc(P * sizeof(float));
		memcpy(grad, m->grads, P * sizeof(float));
		const float h = 1.0f / 64;
		for (size_t i = 0; i < P; i += 3) {
			float theta = m->params[i];
			m->params[i] = theta + h;
			double up = si_penalty(&r);
			m->params[i] = theta - h;
			double down = si_penalty(&r);
			m->params[i] = theta;
			double fd = (up - down) / ((double)(theta + h) - (double)(theta - h));
			ck_assert_msg(fabs(fd - grad[i]) <= 1e-4 * fabs(fd) + 1e-6 * pen + 1e-9,
				      "parameter %zu: gradient %.9g, finite difference %.9g", i,
				      grad[i], fd);
		}
		free(grad);
	}
	free(want);
	free(bound);
	free(omega);
	free(anchor);
	run_close(&r);
}
END_TEST

/* guard = cap leaves every Ω in [0, 0.9 · 2 / (lr 2λ)], some at the cap, and the run finite
 * (guard = refuse: tests/bad_inputs/205). */
START_TEST(test_mas_guard)
{
	const double lambda = 1e6;
	struct run r;
	run_open(&r, "mas", "lambda = 1e6\nguard = cap\n", 2);
	r.watch = mas_watch;
	ck_assert_msg(engine_run(&r.e, NULL, &r.err) == 0, "%s", r.err.msg);
	size_t P = r.e.model.num_params;
	float *omega = malloc(P * sizeof(float)), *anchor = malloc(P * sizeof(float));
	mas_read(r.state, P, omega, anchor);
	double cap = 0.9 * 2.0 / (LR * 2.0 * lambda);
	size_t at_cap = 0;
	for (size_t i = 0; i < P; i++) {
		ck_assert_msg(omega[i] >= 0.0f && omega[i] <= cap * (1 + 1e-6), "Ω[%zu] = %g", i,
			      omega[i]);
		at_cap += omega[i] >= (float)cap;
	}
	ck_assert_uint_gt(at_cap, 0);
	for (size_t i = 0; i < P; i++)
		ck_assert(isfinite(r.e.model.params[i]));
	free(omega);
	free(anchor);
	run_close(&r);
}
END_TEST

static Suite *baselines_suite(void)
{
	Suite *s = suite_create("baselines");
	TCase *si = tcase_create("si");
	tcase_add_checked_fixture(si, testutil_setup, testutil_teardown);
	tcase_add_test(si, test_si_importance_and_penalty);
	tcase_add_test(si, test_si_guard);
	suite_add_tcase(s, si);
	TCase *lwf = tcase_create("lwf");
	tcase_add_checked_fixture(lwf, testutil_setup, testutil_teardown);
	tcase_add_test(lwf, test_lwf_distillation);
	suite_add_tcase(s, lwf);
	TCase *replay = tcase_create("er_ace, der, derpp");
	tcase_add_checked_fixture(replay, testutil_setup, testutil_teardown);
	tcase_add_loop_test(replay, test_replay_loss, 0, (int)(sizeof(replays) / sizeof(*replays)));
	suite_add_tcase(s, replay);
	TCase *mas = tcase_create("mas");
	tcase_add_checked_fixture(mas, testutil_setup, testutil_teardown);
	tcase_add_loop_test(mas, test_mas_importance, 0, 3);
	tcase_add_test(mas, test_mas_guard);
	suite_add_tcase(s, mas);
	return s;
}

int main(void)
{
	return testutil_run(baselines_suite());
}
