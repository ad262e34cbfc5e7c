/* The EWC plugin, loaded from the build tree: its Fisher against a brute-force per-sample
 * computation, the penalty's running sums against the per-task form and finite differences of
 * its loss, online EWC's recursion, the divergence guard, and its state, old encodings
 * included. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "model/loss.h"
#include "model/model.h"
#include "model/sgd.h"
#include "scenario/scenario.h"
#include "util/rng.h"
#include "testutil.h"

#define SEED 5
#define LR 0.1
#define BATCH 32
#define WIDTH_MAX 16 /* classes and input values, for the brute force's row buffers */
#define STEPS_MAX 3  /* the most any test here runs */

static const char *plugin_dir;

static void setup(void)
{
	const char *d = getenv("LETHE_BUILD_PLUGINS");
	plugin_dir = d && *d ? d : "plugins";
	testutil_setup();
}

/* Two classes a task, 60 training samples a class, 6 inputs, one hidden layer: 2 epochs of 4
 * batches per task, the last one short. */
static char *write_scenario(const char *protocol, const char *hidden, unsigned tasks,
			    const char *ewc)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = ewc\nprotocol = %s\nplugins = ewc\n"
		 "[data]\nsource = synthetic\nclasses = %u\ndim = 6\ntrain_per_class = 60\n"
		 "test_per_class = 10\nspread = 30\n"
		 "[tasks]\nsplit = %u\n[model]\nhidden = %s\n"
		 "[train]\nlr = %g\nbatch_size = %d\nepochs = 2\nseed = %d\n"
		 "[ewc]\n%s",
		 protocol, 2 * tasks, tasks, hidden, LR, BATCH, SEED, ewc);
	return testutil_write_text(testutil_dir, "ewc.ini", text);
}

/* ---- the state, parsed as ewc.c documents its encoding 3 ---- */

struct state {
	unsigned char *bytes; /* the framed record engine_plugin_save writes */
	size_t size;
	uint32_t mode, tasks;
	uint64_t P;
	float *S, *anchor, *C; /* P each; C zeros when online or before the first task */
};

static void state_save(struct engine *e, struct state *st)
{
	struct error err;
	memset(st, 0, sizeof(*st));
	FILE *f = tmpfile();
	ck_assert_msg(engine_plugin_save(e, 0, f, &err) == 0, "%s", err.msg);
	st->size = (size_t)ftell(f);
	rewind(f);
	st->bytes = malloc(st->size);
	ck_assert_uint_eq(fread(st->bytes, 1, st->size, f), st->size);
	fclose(f);

	uint32_t version;
	uint64_t len;
	ck_assert_uint_ge(st->size, 12 + 16);
	memcpy(&version, st->bytes, 4);
	memcpy(&len, st->bytes + 4, 8);
	ck_assert_uint_eq(version, 3);
	ck_assert_uint_eq(len, st->size - 12);
	memcpy(&st->mode, st->bytes + 12, 4);
	memcpy(&st->tasks, st->bytes + 16, 4);
	memcpy(&st->P, st->bytes + 20, 8);
	ck_assert_uint_eq(st->P, e->model.num_params);
	size_t arrays = st->tasks ? 2 + (st->mode == 0) : 0, P = st->P;
	ck_assert_uint_eq(len, 16 + arrays * P * sizeof(float) + sizeof(double));
	st->S = calloc(P, sizeof(float));
	st->anchor = calloc(P, sizeof(float));
	st->C = calloc(P, sizeof(float));
	float *const dst[] = { st->S, st->anchor, st->C };
	for (size_t a = 0; a < arrays; a++)
		memcpy(dst[a], st->bytes + 28 + a * P * sizeof(float), P * sizeof(float));
}

static void state_free(struct state *st)
{
	free(st->bytes);
	free(st->S);
	free(st->anchor);
	free(st->C);
}

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;
	char log[16][512];
	size_t log_count;
	int run_rc;
	/* At the end of each step: the state, and the weights, the step's anchor θ*. */
	struct state step[STEPS_MAX];
	float *theta[STEPS_MAX];
	size_t steps;
};

static void capture(void *ctx, const struct event *ev)
{
	struct run *r = ctx;
	if (ev->kind == EVENT_LOG && r->log_count < 16)
		snprintf(r->log[r->log_count++], sizeof(r->log[0]), "%s: %s", ev->source, ev->msg);
	if (ev->kind == EVENT_STEP_END && r->steps < STEPS_MAX) {
		size_t P = r->e.model.num_params;
		state_save(&r->e, &r->step[r->steps]);
		r->theta[r->steps] = malloc(P * sizeof(float));
		memcpy(r->theta[r->steps++], r->e.model.params, P * sizeof(float));
	}
}

static void run_tasks(struct run *r, unsigned tasks, const char *protocol, const char *hidden,
		      const char *ewc, int run)
{
	memset(r, 0, sizeof(*r));
	char *path = write_scenario(protocol, hidden, tasks, ewc);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &r->err) == 0, "%s", r->err.msg);
	free(path);
	plugin_path_init(&r->pp, plugin_dir);
	ck_assert_msg(engine_open(&r->e, &r->s, &r->pp, &r->err) == 0, "%s", r->err.msg);
	engine_add_sink(&r->e, capture, r);
	if (run)
		r->run_rc = engine_run(&r->e, NULL, &r->err);
}

static void run_start(struct run *r, const char *protocol, const char *hidden, const char *ewc,
		      int run)
{
	run_tasks(r, 2, protocol, hidden, ewc, run);
}

static void run_end(struct run *r)
{
	for (size_t k = 0; k < r->steps; k++) {
		state_free(&r->step[k]);
		free(r->theta[k]);
	}
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

/* Task k's own Fisher, F_k = S_k − S_{k−1} from the states after steps k and k − 1: exact for
 * the first task, within the rounding of S_k for the others, and only while no cap has scaled
 * S (the tests that use it check that the log names none). */
static double task_fisher(const struct run *r, size_t k, size_t i)
{
	return (double)r->step[k].S[i] - (k ? r->step[k - 1].S[i] : 0.0f);
}

static double reported(const struct run *r, const char *key)
{
	const struct services_ctx *c = &r->e.plugins[0].svc;
	for (size_t i = 0; i < c->num_metrics; i++)
		if (!strcmp(c->metrics[i].key, key))
			return c->metrics[i].value;
	ck_abort_msg("the plugin reported no %s", key);
	return 0.0;
}

static int logged(const struct run *r, const char *text)
{
	for (size_t i = 0; i < r->log_count; i++)
		if (strstr(r->log[i], text))
			return 1;
	return 0;
}

/* ---- the brute force: per-sample gradients, in double on the model's reference ----
 *
 * Beside each Fisher value, a bound on how far fisher.c's float computation of it can be, under
 * any BLAS kernel: the float deltas and inputs are within the reference's bounds (and the
 * dlogits within theirs, below), and the float Fisher sums nonnegative products of their squares
 * with at most K = 2 n + m + 8 roundings each (the squares, the sums over the factor's columns,
 * the rows, the chunks, the scale): gamma(K) of the sum of the bounding magnitudes. */

enum kind { EXACT, SAMPLED, EMPIRICAL, BATCHED };
static const char *const kind_names[] = { "exact", "sampled", "empirical", "batched" };

/* Algorithm S as fisher.h documents it. */
static size_t draw_subset(struct rng *r, size_t n, size_t m, uint64_t *out)
{
	size_t kept = 0;
	for (size_t t = 0; t < n; t++)
		if ((double)(n - t) * rng_uniform(r) < (double)(m - kept))
			out[kept++] = t;
	return kept;
}

/* One sample's softmax over the allowed classes from its reference logits, and per class a bound
 * on fisher.h's float p (from the float logits, rounded to float). */
static void softmax(const struct ref_mlp *ref, size_t row, const uint8_t *allowed, double *p,
		    double *ep)
{
	size_t L = ref->num_layers - 1, c = ref->size[L + 1];
	const double *z = ref->z[L] + row * c, *ez = ref->ez[L] + row * c;
	double max = -INFINITY, sum = 0.0, e = 0.0;
	for (size_t j = 0; j < c; j++)
		if (allowed[j]) {
			max = fmax(max, z[j]);
			e = fmax(e, ez[j]);
		}
	for (size_t j = 0; j < c; j++)
		sum += allowed[j] ? exp(z[j] - max) : 0.0;
	for (size_t j = 0; j < c; j++) {
		p[j] = allowed[j] ? exp(z[j] - max) / sum : 0.0;
		ep[j] = allowed[j] ? ref_softmax_error(p[j], e) + 0x1p-23 * p[j] : 0.0;
	}
}

/* The classes the plugin may draw at u (fisher.h's inverse CDF on its float p, within ep of p):
 * those whose running sums straddle u give or take the sums' bounds. Returns how many went into
 * out, the reference's own draw first (the last class, should u pass the total). */
static size_t draw(const double *p, const double *ep, size_t c, double u, int32_t *out)
{
	double sum = 0.0, err = 0x1p-50;
	size_t n = 0;
	int32_t mine = -1, last = 0;
	for (size_t j = 0; j < c; j++) {
		if (p[j] == 0.0)
			continue;
		double below = sum - err;
		sum += p[j];
		err += ep[j];
		last = (int32_t)j;
		if (mine < 0 && u < sum)
			mine = last;
		if (u >= below && u < sum + err)
			out[1 + n++] = last;
	}
	if (u >= sum - err)
		out[1 + n++] = last;
	out[0] = mine < 0 ? last : mine;
	mine = out[0];
	size_t kept = 1;
	for (size_t i = 1; i <= n; i++)
		if (out[i] != mine)
			out[kept++] = out[i];
	return kept;
}

/* The backward of one sample (the reference's last forward, one row) from dlogits p - e_y,
 * rounded as fisher.c's label rows are (p to float, then the subtraction). */
static void label_backward(struct ref_mlp *ref, const double *theta, const double *p,
			   const double *ep, int32_t y)
{
	size_t c = ref->size[ref->num_layers];
	double dl[WIDTH_MAX], edl[WIDTH_MAX];
	for (size_t j = 0; j < c; j++) {
		dl[j] = p[j] - ((size_t)y == j);
		edl[j] = ep[j] + 0x1p-24 * (fabs(dl[j]) + ep[j]);
	}
	ref_mlp_backward(ref, theta, dl, edl);
}

/* A Fisher under way: the values, and the two parts of their bounds, lin (from the bounds of
 * the float gradients) and mag (the magnitudes gamma(K) scales). */
struct sums {
	double *out, *lin, *mag;
};

/* Adds weight g_i^2 for the gradient of the reference's last backward, and its bounds. */
static void add_squared_gradient(const struct ref_mlp *ref, double weight, struct sums *s)
{
	for (size_t i = 0; i < ref->num_params; i++) {
		double g = ref->grad[i], eg = ref->egrad[i], big = (fabs(g) + eg) * (fabs(g) + eg);
		s->out[i] += weight * g * g;
		s->lin[i] += weight * (big - g * g);
		s->mag[i] += weight * big;
	}
}

/* The empirical or sampled Fisher's share of one sample (the reference's last forward), for the
 * label the plugin draws at u (sampled) or y: another class it may have drawn adds its square,
 * anywhere from 0 to its bound's, instead of the reference's. */
static void label_fisher(struct ref_mlp *ref, const double *theta, const double *p,
			 const double *ep, int sampled, double u, int32_t y, double weight,
			 double *alt, struct sums *s)
{
	int32_t cand[WIDTH_MAX + 2] = { y };
	size_t options = sampled ? draw(p, ep, ref->size[ref->num_layers], u, cand) : 1;
	label_backward(ref, theta, p, ep, cand[0]);
	memcpy(alt, ref->grad, ref->num_params * sizeof(double));
	add_squared_gradient(ref, weight, s);
	for (size_t o = 1; o < options; o++) {
		label_backward(ref, theta, p, ep, cand[o]);
		for (size_t i = 0; i < ref->num_params; i++) {
			double g = fabs(ref->grad[i]) + ref->egrad[i];
			s->lin[i] += weight * fmax(g * g, alt[i] * alt[i]);
			s->mag[i] += weight * g * g;
		}
	}
}

/* The exact Fisher's share of one sample: by its definition, sum_c p_c g_c^2. The plugin sums
 * the squares of m - 1 gradients instead, one per column l_r of its factor; each entry of l_r
 * is at most sqrt(p_c), and within (3 rho + u) of it for p's relative error rho (fisher.h's
 * formulas, in double from the float p, rounded to float). So the network of |W| (abs_theta)
 * from sqrt(p) bounds every column's gradient by G, and their float error by EG. */
static void exact_fisher(struct ref_mlp *ref, const double *theta, const double *abs_theta,
			 const double *p, const double *ep, const uint8_t *allowed, double weight,
			 struct sums *s)
{
	size_t C = ref->size[ref->num_layers], P = ref->num_params;
	double sq[WIDTH_MAX], esq[WIDTH_MAX], rho = 0.0, cols = -1.0;
	for (size_t c = 0; c < C; c++) {
		if (!allowed[c])
			continue;
		cols++;
		label_backward(ref, theta, p, ep, (int32_t)c);
		for (size_t i = 0; i < P; i++)
			s->out[i] += weight * p[c] * ref->grad[i] * ref->grad[i];
		if (p[c] > 0.0)
			rho = fmax(rho, ep[c] / p[c]);
	}
	for (size_t j = 0; j < C; j++) {
		sq[j] = allowed[j] ? sqrt(p[j]) : 0.0;
		esq[j] = (3.0 * rho + 0x1p-24) * sq[j];
	}
	ref_mlp_backward(ref, abs_theta, sq, esq);
	for (size_t i = 0; i < P; i++) {
		double G = fabs(ref->grad[i]), EG = ref->egrad[i];
		s->lin[i] += weight * cols * (2.0 * G * EG + EG * EG);
		s->mag[i] += weight * cols * (G + EG) * (G + EG);
	}
}

/* The batched Fisher's share of one batch (the reference's last forward): the square of the
 * batch mean's gradient, from rows (p - e_y) / rows rounded as fisher.c's are (p, the
 * subtraction, 1 / rows and the product, 4u). */
static void batch_fisher(struct ref_mlp *ref, const double *theta, const uint8_t *allowed,
			 const int32_t *y, double weight, struct sums *s)
{
	size_t rows = ref->rows, C = ref->size[ref->num_layers];
	double p[WIDTH_MAX], ep[WIDTH_MAX], *dl = malloc(rows * C * sizeof(double));
	double *edl = malloc(rows * C * sizeof(double));
	for (size_t row = 0; row < rows; row++) {
		softmax(ref, row, allowed, p, ep);
		for (size_t j = 0; j < C; j++) {
			double d = (p[j] - ((size_t)y[row] == j)) / (double)rows;
			dl[row * C + j] = d;
			edl[row * C + j] = ep[j] / rows + 0x1p-22 * (fabs(d) + ep[j] / rows);
		}
	}
	ref_mlp_backward(ref, theta, dl, edl);
	add_squared_gradient(ref, weight, s);
	free(dl);
	free(edl);
}

/* Task k's Fisher of the given kind at weights theta, over its samples at `positions` (n of
 * them), into out, and the bound on the plugin's into bound. r replays the plugin's draws. */
static void brute_fisher(struct engine *e, uint32_t k, const float *theta, enum kind kind,
			 struct rng *r, const uint64_t *positions, size_t n, double *out,
			 double *bound)
{
	const struct model *m = &e->model;
	size_t P = m->num_params, C = e->num_classes, dim = e->train.dim, classes = 0;
	ck_assert(C <= WIDTH_MAX && dim <= WIDTH_MAX);
	const struct task *t = &e->tasks.t[k];
	uint8_t allowed[WIDTH_MAX];
	for (size_t j = 0; j < C; j++) {
		allowed[j] = e->s->protocol == LETHE_TASK_INCREMENTAL ? t->class_mask[j] : 1;
		classes += allowed[j];
	}
	/* The per-sample kinds take a row at a time, the batched kind a batch. */
	size_t B = kind == BATCHED ? e->s->batch_size : 1, batches = (n + B - 1) / B;
	double *abs_th = malloc(P * sizeof(double)), *alt = malloc(P * sizeof(double));
	double *x = malloc(B * dim * sizeof(double));
	float *xf = malloc(B * dim * sizeof(float));
	int32_t *y = malloc(B * sizeof(int32_t));
	struct sums s = { out, calloc(P, sizeof(double)), calloc(P, sizeof(double)) };
	memset(out, 0, P * sizeof(double));
	for (size_t at = 0; at < n; at += B) {
		size_t rows = n - at < B ? n - at : B;
		struct ref_mlp ref;
		double *th = ref_mlp_init_for(&ref, m, rows);
		for (size_t i = 0; i < P; i++) {
			th[i] = theta[i];
			abs_th[i] = fabs(th[i]);
		}
		for (size_t row = 0; row < rows; row++) {
			uint32_t pos = t->train[positions[at + row]];
			tasks_gather(t, &e->train, &pos, 1, xf + row * dim, y + row);
		}
		for (size_t i = 0; i < rows * dim; i++)
			x[i] = xf[i];
		ref_mlp_forward(&ref, th, x, NULL);
		double p[WIDTH_MAX], ep[WIDTH_MAX];
		if (kind == BATCHED) {
			batch_fisher(&ref, th, allowed, y, 1.0 / (double)batches, &s);
		} else {
			softmax(&ref, 0, allowed, p, ep);
			if (kind == EXACT)
				exact_fisher(&ref, th, abs_th, p, ep, allowed, 1.0 / (double)n, &s);
			else
				label_fisher(&ref, th, p, ep, kind == SAMPLED,
					     kind == SAMPLED ? rng_uniform(r) : 0.0, y[0],
					     1.0 / (double)n, alt, &s);
		}
		ref_mlp_free(&ref);
		free(th);
	}
	for (size_t i = 0; i < P; i++)
		bound[i] = s.lin[i] + ref_gamma(2 * n + classes + 8) * s.mag[i];
	free(abs_th);
	free(alt);
	free(x);
	free(xf);
	free(y);
	free(s.lin);
	free(s.mag);
}

/* The largest ratio of the plugin's task k Fisher's distance from the reference to its bound:
 * F_k = S_k - S_{k-1} from the plugin's running sums recovers the plugin's own within u S_k. */
static double bound_ratio(const struct run *r, size_t k, const double *ref, const double *bound,
			  size_t P)
{
	double worst = 0.0;
	for (size_t i = 0; i < P; i++) {
		double F = task_fisher(r, k, i);
		double slack = bound[i] + (k ? 0x1p-24 * r->step[k].S[i] : 0.0);
		if (slack == 0.0)
			ck_assert_msg(F == ref[i], "F[%zu] = %g, the reference %g", i, F, ref[i]);
		else
			worst = fmax(worst, fabs(F - ref[i]) / slack);
	}
	return worst;
}

static void check_fisher(struct run *r, enum kind kind, size_t samples)
{
	struct rng rng;
	rng_seed(&rng, SEED, 100); /* the stream services.c gives plugin 0 */
	size_t P = r->e.model.num_params;
	ck_assert_uint_eq(r->steps, 2);
	ck_assert(!logged(r, "capped"));
	double *ref = malloc(P * sizeof(double)), *bound = malloc(P * sizeof(double));
	size_t most = r->e.tasks.t[0].num_train > r->e.tasks.t[1].num_train
			      ? r->e.tasks.t[0].num_train : r->e.tasks.t[1].num_train;
	uint64_t *positions = malloc(most * sizeof(uint64_t));
	for (uint32_t k = 0; k < 2; k++) {
		size_t N = r->e.tasks.t[k].num_train, n = N;
		if (samples && samples < N)
			n = draw_subset(&rng, N, samples, positions);
		else
			for (size_t i = 0; i < N; i++)
				positions[i] = i;
		ck_assert_uint_eq(n, samples ? samples : N);
		brute_fisher(&r->e, k, r->theta[k], kind, &rng, positions, n, ref, bound);
		double err = bound_ratio(r, k, ref, bound, P);
		ck_assert_msg(err <= 1.0, "%s Fisher of task %u: %g times its rounding bound away",
			      kind_names[kind], k + 1, err);
		char want[128];
		snprintf(want, sizeof(want), "ewc: %s Fisher of task %u: %zu samples in ",
			 kind_names[kind], k + 1, n);
		ck_assert_msg(logged(r, want), "no log line '%s'", want);
	}
	free(ref);
	free(bound);
	free(positions);
}

/* ---- the Fisher ---- */

static const char *const protocols[] = { "class-incremental", "task-incremental" };

/* Every kind under both likelihoods: the softmax over every class, and over the task's. */
START_TEST(test_fisher_brute_force)
{
	enum kind kind = (enum kind)(_i / 2);
	char ewc[128];
	snprintf(ewc, sizeof(ewc), "lambda = 1\nfisher = %s\nchunk = 16\n", kind_names[kind]);
	struct run r;
	run_start(&r, protocols[_i % 2], "5", ewc, 1);
	ck_assert_msg(r.run_rc == 0, "%s", r.err.msg);
	const struct state *st = &r.step[1];
	ck_assert_uint_eq(st->mode, 0);
	ck_assert_uint_eq(st->tasks, 2);
	/* The first task's anchor is the weights it ended with. */
	ck_assert(!memcmp(r.step[0].anchor, r.theta[0], st->P * sizeof(float)));
	check_fisher(&r, kind, 0);
	ck_assert_double_eq(reported(&r, "state_bytes"), 3.0 * st->P * sizeof(float));
	ck_assert(reported(&r, "fisher_seconds") > 0.0);
	run_end(&r);
}
END_TEST

/* A subset is drawn first, then the labels: the whole draw order replays. */
START_TEST(test_fisher_subset)
{
	struct run r;
	run_start(&r, "class-incremental", "5", "lambda = 1\nfisher = sampled\nsamples = 50\n", 1);
	ck_assert_msg(r.run_rc == 0, "%s", r.err.msg);
	check_fisher(&r, SAMPLED, 50);
	run_end(&r);
}
END_TEST

/* The exact Fisher does not depend on how the rows are chunked: a row at a time, or all of a
 * task's at once, it is the brute force's within the rounding bound. */
START_TEST(test_fisher_chunks)
{
	static const char *const chunks[] = { "lambda = 1\nchunk = 1\n",
					      "lambda = 1\nchunk = 1000\n" };
	for (size_t i = 0; i < 2; i++) {
		struct run r;
		run_start(&r, "class-incremental", "5", chunks[i], 1);
		ck_assert_msg(r.run_rc == 0, "%s", r.err.msg);
		check_fisher(&r, EXACT, 0);
		run_end(&r);
	}
}
END_TEST

/* ---- the penalty ---- */

/* The hook's loss on the model's current weights, as the engine calls it: gradients zeroed. */
static double penalty(struct run *r)
{
	struct engine_plugin *p = &r->e.plugins[0];
	double loss = 0.0;
	memset(r->e.model.grads, 0, r->e.model.num_params * sizeof(float));
	ck_assert_int_eq(p->hooks.on_gradient(p->inst, &r->e.batch, &loss), LETHE_OK);
	return loss;
}

/* Against the per-task form, (λ/2) Σ_k F_k (θ − θ*_k)² and its gradient λ Σ_k F_k (θ − θ*_k)
 * over T tasks, in double, at θ = θ*_T + spread · N(0, 1): the value to a relative 1e-5, each
 * gradient to 1e-5 of the size of its terms, F_k (|θ − θ*_k| + |θ*_k|). Returns the largest
 * gradient; the model's grads hold the hook's. */
static double check_penalty(struct run *r, double lambda, double spread, size_t T,
			    double *const F[], float *const anchor[])
{
	size_t P = r->e.model.num_params;
	float *theta = r->e.model.params;
	struct rng rng;
	rng_seed(&rng, 9, 0);
	for (size_t i = 0; i < P; i++)
		theta[i] = anchor[T - 1][i] + (float)(spread * rng_normal(&rng));
	double want = 0.0, gmax = 0.0;
	double *want_grad = calloc(P, sizeof(double)), *size = calloc(P, sizeof(double));
	for (size_t k = 0; k < T; k++)
		for (size_t i = 0; i < P; i++) {
			double d = (double)theta[i] - anchor[k][i];
			want += 0.5 * lambda * F[k][i] * d * d;
			want_grad[i] += lambda * F[k][i] * d;
			size[i] += lambda * F[k][i] * (fabs(d) + fabs(anchor[k][i]));
		}
	double loss = penalty(r);
	ck_assert_msg(want > 0.0 && fabs(loss - want) <= 1e-5 * want,
		      "spread %g: loss %.9g, want %.9g", spread, loss, want);
	const float *grad = r->e.model.grads;
	for (size_t i = 0; i < P; i++) {
		gmax = fmax(gmax, fabs(want_grad[i]));
		ck_assert_msg(fabs(grad[i] - want_grad[i]) <= 1e-5 * size[i] + 1e-12,
			      "spread %g: grad[%zu] = %g, want %g", spread, i, grad[i],
			      want_grad[i]);
	}
	ck_assert(gmax > 0.0);
	free(want_grad);
	free(size);
	return gmax;
}

/* After 3 tasks the running sums give the per-task form's value and gradient, far from the
 * anchors and near them (where λ (S θ − Σ_k F_k θ*_k) would cancel). */
START_TEST(test_penalty_gradient)
{
	struct run r;
	run_tasks(&r, 3, "class-incremental", "5", "lambda = 3\n", 1);
	ck_assert_msg(r.run_rc == 0, "%s", r.err.msg);
	ck_assert_uint_eq(r.steps, 3);
	ck_assert_uint_eq(r.step[2].tasks, 3);
	ck_assert(!logged(&r, "capped"));
	size_t P = r.e.model.num_params;
	double *F[3];
	for (size_t k = 0; k < 3; k++) {
		F[k] = malloc(P * sizeof(double));
		for (size_t i = 0; i < P; i++)
			F[k][i] = task_fisher(&r, k, i);
	}
	check_penalty(&r, 3.0, 1e-3, 3, F, r.theta);
	double gmax = check_penalty(&r, 3.0, 0.3, 3, F, r.theta);
	for (size_t k = 0; k < 3; k++)
		free(F[k]);

	/* The gradient against central differences of the loss: exact for a quadratic, up to
	 * the float rounding of the steps and the loss. */
	float *theta = r.e.model.params, *grad = malloc(P * sizeof(float));
	memcpy(grad, r.e.model.grads, P * sizeof(float));
	for (size_t i = 0; i < P; i++) {
		float keep = theta[i];
		theta[i] = keep + 1e-2f;
		double up = penalty(&r), hi = theta[i];
		theta[i] = keep - 1e-2f;
		double down = penalty(&r), lo = theta[i];
		theta[i] = keep;
		double fd = (up - down) / (hi - lo);
		ck_assert_msg(fabs(fd - grad[i]) <= 1e-4 * gmax,
			      "parameter %zu: gradient %g, finite difference %g", i, grad[i], fd);
	}
	free(grad);
	run_end(&r);
}
END_TEST

/* With the penalty, task 2 moves the weights less in task 1's Fisher metric. */
START_TEST(test_penalty_holds_weights)
{
	struct run free_run, held;
	run_start(&free_run, "class-incremental", "5", "lambda = 0\n", 1);
	run_start(&held, "class-incremental", "5", "lambda = 50\n", 1);
	ck_assert_msg(free_run.run_rc == 0 && held.run_rc == 0, "%s%s", free_run.err.msg,
		      held.err.msg);
	const struct state *a = &free_run.step[0], *b = &held.step[0];
	/* Task 1 trained alike in both runs: no penalty applies during it. */
	ck_assert(!memcmp(a->anchor, b->anchor, a->P * sizeof(float)));
	ck_assert(!memcmp(a->S, b->S, a->P * sizeof(float)));
	double drift_free = 0.0, drift_held = 0.0;
	for (size_t i = 0; i < a->P; i++) {
		double df = (double)free_run.theta[1][i] - a->anchor[i];
		double dh = (double)held.theta[1][i] - b->anchor[i];
		drift_free += a->S[i] * df * df;
		drift_held += a->S[i] * dh * dh;
	}
	ck_assert_msg(drift_held < 0.2 * drift_free, "drift %g with the penalty, %g without",
		      drift_held, drift_free);
	run_end(&free_run);
	run_end(&held);
}
END_TEST

/* Online EWC after two tasks holds γ F_1 + F_2 and θ*_2, and no C. With one task stored, both
 * modes train task 2 alike, so a separate run gives F_1, F_2 and θ*_2 to compare with. */
START_TEST(test_online_recursion)
{
	struct run sep, onl;
	run_start(&sep, "class-incremental", "5", "lambda = 5\nmode = separate\n", 1);
	run_start(&onl, "class-incremental", "5", "lambda = 5\nmode = online\ngamma = 0.5\n", 1);
	ck_assert_msg(sep.run_rc == 0 && onl.run_rc == 0, "%s%s", sep.err.msg, onl.err.msg);
	ck_assert(!logged(&sep, "capped"));
	const struct state *o = &onl.step[1];
	size_t P = o->P;
	ck_assert_uint_eq(o->mode, 1);
	ck_assert_uint_eq(o->tasks, 2);
	ck_assert(!memcmp(o->anchor, sep.theta[1], P * sizeof(float)));
	/* Both runs computed the same F_2, bit for bit: online's γ S + F_2 rounds once (u of
	 * it), and the separate run's S_2 − S_1 gives F_2 within u S_2 <= 2u of want. */
	for (size_t i = 0; i < P; i++) {
		double want = 0.5 * task_fisher(&sep, 0, i) + task_fisher(&sep, 1, i);
		ck_assert_msg(fabs(o->S[i] - want) <= 4 * 0x1p-24 * want,
			      "F[%zu] = %.9g, want %.9g", i, o->S[i], want);
	}
	ck_assert_double_eq(reported(&onl, "state_bytes"), 2.0 * P * sizeof(float));
	run_end(&sep);
	run_end(&onl);
}
END_TEST

/* ---- the divergence guard ---- */

START_TEST(test_guard_names_lambda)
{
	struct run r;
	run_start(&r, "class-incremental", "5", "lambda = 1e9\nguard = refuse\n", 1);
	ck_assert_int_eq(r.run_rc, -1);
	ck_assert_has(r.err.msg, "plugin ewc: after_task failed");
	ck_assert_has(r.err.msg, "lambda = 1e+09 makes lr·lambda·max F = ");
	ck_assert_has(r.err.msg, "(>= 2): SGD would diverge; use lambda < ");
	ck_assert_uint_eq(r.e.rows_done, 0);

	/* The advice is safe, and not needlessly so. */
	struct state st;
	state_save(&r.e, &st);
	ck_assert_uint_eq(st.tasks, 1);
	double max = 0.0, advice;
	for (size_t i = 0; i < st.P; i++)
		max = fmax(max, st.S[i]);
	ck_assert_int_eq(sscanf(strstr(r.err.msg, "use lambda < ") + 13, "%lf", &advice), 1);
	double limit = 2.0 / (LR * max);
	ck_assert_msg(advice <= limit && advice > 0.9 * limit, "advice %g, limit %g", advice,
		      limit);
	state_free(&st);
	run_end(&r);
}
END_TEST

/* guard = cap (the default): the same lambda trains to the end; after the first task (the
 * last is never capped: nothing is learned under it) every parameter's lr·lambda·F is held at
 * 0.9 of SGD's bound, and the log says how many were capped. */
START_TEST(test_guard_caps)
{
	struct run r;
	run_start(&r, "class-incremental", "5", "lambda = 1e9\n", 1);
	ck_assert_msg(r.run_rc == 0, "%s", r.err.msg);
	const struct state *st = &r.step[0];
	ck_assert_uint_eq(r.step[1].tasks, 2);
	double bound = 0.9 * 2.0 / (LR * 1e9), worst = 0.0;
	for (size_t i = 0; i < st->P; i++)
		worst = fmax(worst, st->S[i]);
	ck_assert_msg(worst <= bound * (1 + 1e-5) && worst > 0.99 * bound,
		      "largest F of task 1 %g, cap %g", worst, bound);
	ck_assert(logged(&r, "capped the Fisher of "));
	for (size_t k = 0; k < r.e.tasks.count; k++)
		ck_assert(isfinite(r.e.R[(r.e.tasks.count - 1) * r.e.tasks.count + k]));
	run_end(&r);
}
END_TEST

START_TEST(test_gamma_zero_refused)
{
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;
	char *path = write_scenario("class-incremental", "5", 2, "mode = online\ngamma = 0\n");
	ck_assert_msg(scenario_load(&s, path, NULL, 0, &err) == 0, "%s", err.msg);
	free(path);
	plugin_path_init(&pp, plugin_dir);
	ck_assert_int_eq(engine_open(&e, &s, &pp, &err), -1);
	ck_assert_has(err.msg, "plugin ewc: create failed: gamma = 0");
	engine_close(&e);
	plugin_path_free(&pp);
	scenario_free(&s);
}
END_TEST

/* ---- state ---- */

static FILE *bytes_file(const unsigned char *bytes, size_t size)
{
	FILE *f = tmpfile();
	ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
	rewind(f);
	return f;
}

/* Loads bytes into a fresh engine of this shape and mode; returns engine_plugin_load's result. */
static int load_into(struct run *r, const char *hidden, const char *ewc,
		     const unsigned char *bytes, size_t size)
{
	run_start(r, "class-incremental", hidden, ewc, 0);
	FILE *f = bytes_file(bytes, size);
	int rc = engine_plugin_load(&r->e, 0, f, &r->err);
	fclose(f);
	return rc;
}

START_TEST(test_state_round_trip)
{
	struct run a, b;
	run_start(&a, "class-incremental", "5", "lambda = 1\n", 1);
	ck_assert_msg(a.run_rc == 0, "%s", a.err.msg);
	struct state sa, sb;
	state_save(&a.e, &sa);
	ck_assert_msg(load_into(&b, "5", "", sa.bytes, sa.size) == 0, "%s", b.err.msg);
	state_save(&b.e, &sb);
	ck_assert_uint_eq(sb.size, sa.size);
	ck_assert(!memcmp(sa.bytes, sb.bytes, sa.size));
	ck_assert_double_eq(reported(&b, "state_bytes"), 3.0 * sa.P * sizeof(float));
	state_free(&sb);
	run_end(&b);

	/* Cut in the header, then in the arrays. */
	ck_assert_int_eq(load_into(&b, "5", "", sa.bytes, 12 + 10), -1);
	ck_assert_has(b.err.msg, "plugin ewc: load failed");
	ck_assert_has(b.err.msg, "truncated");
	run_end(&b);
	size_t cut = sa.size - 7;
	uint64_t len = cut - 12;
	unsigned char *short_state = malloc(cut);
	memcpy(short_state, sa.bytes, cut);
	memcpy(short_state + 4, &len, sizeof(len));
	ck_assert_int_eq(load_into(&b, "5", "", short_state, cut), -1);
	ck_assert_has(b.err.msg, "truncated");
	free(short_state);
	run_end(&b);
	state_free(&sa);
	run_end(&a);
}
END_TEST

START_TEST(test_state_mismatch)
{
	struct run a, b;
	run_start(&a, "class-incremental", "5", "lambda = 1\n", 1);
	ck_assert_msg(a.run_rc == 0, "%s", a.err.msg);
	struct state sa;
	state_save(&a.e, &sa);
	char want[128];
	snprintf(want, sizeof(want), "the state holds %llu parameters, but the model has %llu",
		 (unsigned long long)sa.P, (unsigned long long)(6 * 7 + 7 + 7 * 4 + 4));
	ck_assert_int_eq(load_into(&b, "7", "", sa.bytes, sa.size), -1);
	ck_assert_has(b.err.msg, want);
	run_end(&b);
	ck_assert_int_eq(load_into(&b, "5", "mode = online\n", sa.bytes, sa.size), -1);
	ck_assert_has(b.err.msg, "saved with mode = separate, but this run has mode = online");
	run_end(&b);
	/* A negative Fisher is corruption. */
	float minus = -1.0f;
	memcpy(sa.bytes + 28, &minus, sizeof(minus));
	ck_assert_int_eq(load_into(&b, "5", "", sa.bytes, sa.size), -1);
	ck_assert_has(b.err.msg, "negative or non-finite");
	run_end(&b);
	state_free(&sa);
	run_end(&a);
}
END_TEST

/* An encoding 1 or 2 state of some tasks in T pairs (F[T][P], then θ*[T][P]: online keeps one)
 * and, from 2, the seconds. */
static unsigned char *old_state(uint32_t version, uint32_t mode, uint32_t tasks, size_t T,
				uint64_t P, const float *F, const float *anchor, double seconds,
				size_t *size)
{
	uint64_t len = 16 + 2 * T * P * sizeof(float) + (version == 2 ? sizeof(double) : 0);
	unsigned char *b = malloc(12 + len), *at = b;
	memcpy(at, &version, 4);
	memcpy(at + 4, &len, 8);
	memcpy(at + 12, &mode, 4);
	memcpy(at + 16, &tasks, 4);
	memcpy(at + 20, &P, 8);
	at += 28;
	memcpy(at, F, T * P * sizeof(float));
	memcpy(at + T * P * sizeof(float), anchor, T * P * sizeof(float));
	if (version == 2)
		memcpy(at + 2 * T * P * sizeof(float), &seconds, sizeof(seconds));
	*size = 12 + len;
	return b;
}

/* Encodings 1 and 2 held each task's pair: separate folds them into running sums that give the
 * per-task penalty, online's one pair is its S and Ā as they were. */
START_TEST(test_state_old_encodings)
{
	struct run b;
	run_start(&b, "class-incremental", "5", "", 0);
	size_t P = b.e.model.num_params;
	run_end(&b);
	float *F = malloc(2 * P * sizeof(float)), *anchor = malloc(2 * P * sizeof(float));
	struct rng rng;
	rng_seed(&rng, 3, 0);
	for (size_t i = 0; i < 2 * P; i++) {
		/* Some parameters unweighed by one task, or by both. */
		F[i] = i % 5 == 0 || (i < P && i % 7 == 0) ? 0.0f : (float)rng_uniform(&rng);
		anchor[i] = (float)rng_normal(&rng);
	}
	size_t size;
	unsigned char *bytes = old_state(2, 0, 2, 2, P, F, anchor, 1.5, &size);
	ck_assert_msg(load_into(&b, "5", "lambda = 3\n", bytes, size) == 0, "%s", b.err.msg);
	free(bytes);
	ck_assert_double_eq(reported(&b, "state_bytes"), 3.0 * P * sizeof(float));
	struct state st;
	state_save(&b.e, &st);
	ck_assert_uint_eq(st.tasks, 2);
	double seconds;
	memcpy(&seconds, st.bytes + st.size - sizeof(seconds), sizeof(seconds));
	ck_assert_double_eq(seconds, 1.5);
	state_free(&st);
	double *Fk[2] = { malloc(P * sizeof(double)), malloc(P * sizeof(double)) };
	float *anchors[2] = { anchor, anchor + P };
	for (size_t i = 0; i < 2 * P; i++)
		Fk[i / P][i % P] = F[i];
	check_penalty(&b, 3.0, 1e-3, 2, Fk, anchors);
	check_penalty(&b, 3.0, 0.3, 2, Fk, anchors);
	free(Fk[0]);
	free(Fk[1]);
	run_end(&b);

	bytes = old_state(1, 1, 2, 1, P, F, anchor, 0.0, &size);
	ck_assert_msg(load_into(&b, "5", "mode = online\n", bytes, size) == 0, "%s", b.err.msg);
	free(bytes);
	state_save(&b.e, &st);
	ck_assert_uint_eq(st.tasks, 2);
	ck_assert(!memcmp(st.S, F, P * sizeof(float)));
	ck_assert(!memcmp(st.anchor, anchor, P * sizeof(float)));
	ck_assert_double_eq(reported(&b, "state_bytes"), 2.0 * P * sizeof(float));
	state_free(&st);
	run_end(&b);
	free(F);
	free(anchor);
}
END_TEST

static Suite *ewc_suite(void)
{
	Suite *s = suite_create("ewc");
	TCase *tc = tcase_create("fisher");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_add_loop_test(tc, test_fisher_brute_force, 0, 8);
	tcase_add_test(tc, test_fisher_subset);
	tcase_add_test(tc, test_fisher_chunks);
	suite_add_tcase(s, tc);

	tc = tcase_create("penalty");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_add_test(tc, test_penalty_gradient);
	tcase_add_test(tc, test_penalty_holds_weights);
	tcase_add_test(tc, test_online_recursion);
	tcase_add_test(tc, test_guard_names_lambda);
	tcase_add_test(tc, test_guard_caps);
	tcase_add_test(tc, test_gamma_zero_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, testutil_teardown);
	tcase_add_test(tc, test_state_round_trip);
	tcase_add_test(tc, test_state_mismatch);
	tcase_add_test(tc, test_state_old_encodings);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(ewc_suite());
}
