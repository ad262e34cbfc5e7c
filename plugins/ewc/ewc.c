/* EWC and online EWC (Kirkpatrick et al. 2017; Schwarz et al. 2018).
 *
 * After each task, the diagonal Fisher F_t at the task's final weights θ*_t (fisher.c). While
 * learning later tasks, the penalty (λ/2) Σ_k Σ_i F_k,i (θ_i − θ*_k,i)² joins the loss and its
 * gradient λ Σ_k F_k ⊙ (θ − θ*_k) the parameters' gradient.
 *
 * mode = separate: a sum of quadratics is one quadratic. Per parameter, with S = Σ_k F_k, the
 * Fisher-weighted mean anchor Ā = Σ_k F_k θ*_k / S and C = Σ_k F_k (θ*_k − Ā)²,
 *	Σ_k F_k (θ − θ*_k)² = S (θ − Ā)² + C	and	Σ_k F_k (θ − θ*_k) = S (θ − Ā),
 * so the plugin keeps S, Ā and C: 3·P floats however many tasks, and one pass a batch. Each
 * task folds in by a weighted Welford update (fold), which adds only nonnegative terms: the
 * equivalent λ (S θ − Σ_k F_k θ*_k) would cancel large terms in float. Nothing needs a single
 * task's pair (the figures are totals, and there is no on_forget, below). mode = online keeps
 * F̃_t = γ F̃_{t−1} + F_t and the latest anchor in S and Ā, with no C: 2·P floats.
 *
 * There is no on_forget: the plugin keeps no samples, only Fisher diagonals and weights, which
 * are the model's own statistics just as its weights are; making the weights forget is the
 * unlearning plugin's job.
 *
 * State encoding 3, in native byte order:
 *	uint32 mode      0 separate, 1 online
 *	uint32 tasks     tasks whose Fisher the state holds
 *	uint64 P         the model's parameter count
 *	float  S[P]      when tasks > 0, in the model's flat parameter layout
 *	float  Ā[P]
 *	float  C[P]      separate only
 *	double seconds   the Fisher's time so far (the figure fisher_seconds)
 * Encodings 1 and 2 held every task's pair instead, float F[T][P] then float θ*[T][P] with
 * T = tasks (separate) or min(tasks, 1) (online), and 1 no seconds; they are folded on load. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "fisher.h"

#define STATE_VERSION 3

enum { MODE_SEPARATE, MODE_ONLINE };

static const char *const mode_choices[] = { "separate", "online", NULL };
static const char *const fisher_choices[] = { "exact", "sampled", "empirical", "batched", NULL };

enum { GUARD_CAP, GUARD_REFUSE };

static const char *const guard_choices[] = { "cap", "refuse", NULL };

enum { P_LAMBDA, P_MODE, P_GAMMA, P_FISHER, P_SAMPLES, P_CHUNK, P_GUARD, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "lambda", LETHE_PARAM_FLOAT, "100", 0, 1e9, NULL,
	  "weight of the penalty" },
	{ sizeof(lethe_param_decl), "mode", LETHE_PARAM_CHOICE, "separate", 0, 0, mode_choices,
	  "a Fisher and anchor per task, or online EWC's running one" },
	{ sizeof(lethe_param_decl), "gamma", LETHE_PARAM_FLOAT, "1", 0, 1, NULL,
	  "online: decay of the running Fisher, in (0, 1]" },
	{ sizeof(lethe_param_decl), "fisher", LETHE_PARAM_CHOICE, "exact", 0, 0, fisher_choices,
	  "how the diagonal Fisher is estimated (batched: Avalanche's)" },
	{ sizeof(lethe_param_decl), "samples", LETHE_PARAM_INT, "0", 0, 1e7, NULL,
	  "samples per Fisher, a seeded subset (0 = the whole task)" },
	{ sizeof(lethe_param_decl), "chunk", LETHE_PARAM_INT, "256", 1, 65536, NULL,
	  "rows per pass while computing the Fisher" },
	{ sizeof(lethe_param_decl), "guard", LETHE_PARAM_CHOICE, "cap", 0, 0, guard_choices,
	  "where lr·lambda·F would make SGD diverge: cap those Fisher entries, or refuse" },
};

struct ewc {
	lethe_plugin plugin;
	const lethe_host *host;
	double lambda, gamma;
	int mode, guard;
	struct fisher fisher;
	uint32_t tasks;		  /* see the state encoding */
	float *S, *anchor, *C;	  /* P each once a task has ended; C only when separate */
	double spread;		  /* Σ_i C_i, the penalty's constant */
	double fisher_seconds;
};

static struct ewc *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static uint64_t num_params(const struct ewc *e)
{
	uint64_t count;
	e->host->model_params(e->host, e->host->model(e->host), &count);
	return count;
}

static int separate(const struct ewc *e)
{
	return e->mode == MODE_SEPARATE;
}

/* The arrays a state of some tasks holds: S, Ā and, separate, C. */
static size_t arrays(const struct ewc *e)
{
	return e->tasks ? 2 + (size_t)separate(e) : 0;
}

static void report_state(const struct ewc *e, uint64_t P)
{
	e->host->report(e->host, "state_bytes", (double)(arrays(e) * P * sizeof(float)));
}

/* In index order, so that a resumed run's constant is the uninterrupted run's to the bit. */
static double spread(const float *C, uint64_t P)
{
	double sum = 0.0;
	for (uint64_t i = 0; C && i < P; i++)
		sum += C[i];
	return sum;
}

/* GCC at -O2 vectorises a loop only when it leaves no scalar remainder, so the penalty runs on
 * whole SPANs (a multiple of every vector width), then once on the rest. */
#define SPAN 16

/* grad += λ S ⊙ (θ − Ā) over one span; lanes gathers S ⊙ (θ − Ā)², a lane per element. */
static void penalty_span(float *restrict grad, float *restrict lanes, const float *restrict theta,
			 const float *restrict S, const float *restrict anchor, float lambda,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float d = theta[i] - anchor[i], sd = S[i] * d;
		grad[i] += lambda * sd;
		lanes[i] += sd * d;
	}
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	struct ewc *e = self(p);
	const lethe_host *h = e->host;
	(void)b;
	if (e->tasks == 0 || e->lambda == 0.0)
		return LETHE_OK;
	uint64_t P;
	lethe_model *m = h->model(h);
	const float *theta = h->model_params(h, m, &P);
	float *grad = h->model_grads(h, m, NULL);
	float lanes[SPAN] = { 0 }, lambda = (float)e->lambda;
	size_t i = 0;
	for (; i + SPAN <= P; i += SPAN)
		penalty_span(grad + i, lanes, theta + i, e->S + i, e->anchor + i, lambda, SPAN);
	penalty_span(grad + i, lanes, theta + i, e->S + i, e->anchor + i, lambda, P - i);
	double sum = e->spread;
	for (size_t j = 0; j < SPAN; j++)
		sum += lanes[j];
	*loss += 0.5 * e->lambda * sum;
	return LETHE_OK;
}

/* Zeroed S, Ā and (separate) C of P floats each: no task yet. */
static int alloc_arrays(const struct ewc *e, uint64_t P, float **S, float **anchor, float **C)
{
	*S = calloc(P, sizeof(float));
	*anchor = calloc(P, sizeof(float));
	*C = separate(e) ? calloc(P, sizeof(float)) : NULL;
	if (*S && *anchor && (*C || !separate(e)))
		return LETHE_OK;
	free(*S);
	free(*anchor);
	free(*C);
	*S = *anchor = *C = NULL;
	return lethe_fail(e->host, LETHE_ERR_NOMEM, "out of memory for the Fisher sums of %llu "
			  "parameters", (unsigned long long)P);
}

/* Task (F, θ*) into separate mode's S, Ā and C: with s the old S and w = F / (s + F),
 * Ā += w (θ* − Ā) and C += s w (θ* − Ā)², in double. A parameter no task has weighed yet takes
 * θ* as its anchor, exactly. */
static void fold(float *S, float *anchor, float *C, const float *F, const float *theta,
		 uint64_t P)
{
	for (uint64_t i = 0; i < P; i++) {
		if (S[i] == 0.0f) {
			S[i] = F[i];
			anchor[i] = theta[i];
			continue;
		}
		if (F[i] == 0.0f)
			continue;
		double s = S[i], sum = s + F[i], w = F[i] / sum, d = (double)theta[i] - anchor[i];
		anchor[i] = (float)(anchor[i] + w * d);
		C[i] = (float)(C[i] + s * w * d * d);
		S[i] = (float)sum;
	}
}

static int log_fisher(struct ewc *e, const lethe_task_info *task, const float *F, uint64_t P,
		      uint64_t used, double seconds)
{
	double max = 0.0, sum = 0.0;
	for (uint64_t i = 0; i < P; i++) {
		max = F[i] > max ? F[i] : max;
		sum += F[i];
	}
	if (!isfinite(sum))
		return lethe_fail(e->host, LETHE_ERR_NUMERIC, "the Fisher of task %u is not finite",
				  task->index + 1);
	char msg[256];
	snprintf(msg, sizeof(msg), "%s Fisher of task %u: %llu samples in %.3f s; max %.4g, mean "
		 "%.4g", fisher_choices[e->fisher.kind], task->index + 1, (unsigned long long)used,
		 seconds, max, P ? sum / (double)P : 0.0);
	e->host->log(e->host, LETHE_LOG_INFO, msg);
	return LETHE_OK;
}

/* A bound rounded down to two significant digits, so the advice is itself safe. */
static double safe_lambda(double limit)
{
	double unit = pow(10.0, floor(log10(limit)) - 1.0);
	return floor(limit / unit) * unit;
}

/* The penalty alone is a quadratic of curvature λ S_i along θ_i; SGD with momentum μ on it
 * diverges once lr times the largest curvature reaches 2(1 + μ). guard = refuse stops the run
 * there, naming the largest safe λ; guard = cap (the default) scales S_i (every task's F_i, so
 * C_i too) of the few parameters past 0.9 of the bound down to it, a safe step that keeps the
 * penalty as strong as SGD can follow there, and logs how many it capped. */
static int check_stable(struct ewc *e, const lethe_task_info *task, uint64_t P)
{
	const lethe_run_info *run = e->host->run_info(e->host);
	if (task->index + 1 >= run->num_tasks)
		return LETHE_OK; /* no task is left to learn under the penalty */
	double limit = 2.0 * (1.0 + run->momentum), cap = 0.9 * limit / (run->lr * e->lambda);
	double max = 0.0;
	uint64_t capped = 0;
	for (uint64_t i = 0; i < P; i++) {
		double sum = e->S[i];
		max = sum > max ? sum : max;
		if (e->guard != GUARD_CAP || sum <= cap)
			continue;
		float scale = (float)(cap / sum);
		e->S[i] *= scale;
		if (e->C)
			e->C[i] *= scale;
		capped++;
	}
	double product = run->lr * e->lambda * max;
	if (e->guard == GUARD_CAP) {
		if (capped) {
			char msg[160];
			snprintf(msg, sizeof(msg), "capped the Fisher of %llu of %llu parameters "
				 "where lr·lambda·F reached %.2g (SGD diverges at %g)",
				 (unsigned long long)capped, (unsigned long long)P, product, limit);
			e->host->log(e->host, LETHE_LOG_INFO, msg);
		}
		return LETHE_OK;
	}
	if (product < limit)
		return LETHE_OK;
	return lethe_fail(e->host, LETHE_ERR_INVALID, "lambda = %g makes lr·lambda·max F = %.2g "
			  "(>= %g): SGD would diverge; use lambda < %g or guard = cap", e->lambda,
			  product, limit, safe_lambda(limit / (run->lr * max)));
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct ewc *e = self(p);
	const lethe_host *h = e->host;
	uint64_t P, used;
	const float *theta = h->model_params(h, h->model(h), &P);
	if (!e->S && alloc_arrays(e, P, &e->S, &e->anchor, &e->C) != LETHE_OK)
		return LETHE_ERR_NOMEM;
	float *Ft = malloc(P * sizeof(float));
	if (!Ft)
		return lethe_fail(e->host, LETHE_ERR_NOMEM, "out of memory for a Fisher of %llu "
				  "parameters", (unsigned long long)P);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = fisher_compute(&e->fisher, task, Ft, &used);
	double seconds = lethe_seconds_since(&t0);
	if (rc == LETHE_OK)
		rc = log_fisher(e, task, Ft, P, used, seconds);
	if (rc == LETHE_OK && separate(e)) {
		fold(e->S, e->anchor, e->C, Ft, theta, P);
	} else if (rc == LETHE_OK) {
		for (uint64_t i = 0; i < P; i++)
			e->S[i] = (float)e->gamma * e->S[i] + Ft[i];
		memcpy(e->anchor, theta, P * sizeof(float));
	}
	free(Ft);
	if (rc != LETHE_OK)
		return rc;
	e->tasks++;
	e->fisher_seconds += seconds;
	h->report(h, "fisher_seconds", e->fisher_seconds);
	report_state(e, P);
	rc = check_stable(e, task, P);
	e->spread = spread(e->C, P);
	return rc;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct ewc *e = self(p);
	uint32_t mode = (uint32_t)e->mode;
	uint64_t P = num_params(e);
	float *const array[] = { e->S, e->anchor, e->C };
	int rc = out->write(out, &mode, sizeof(mode));
	if (rc == LETHE_OK)
		rc = out->write(out, &e->tasks, sizeof(e->tasks));
	if (rc == LETHE_OK)
		rc = out->write(out, &P, sizeof(P));
	for (size_t a = 0; a < arrays(e) && rc == LETHE_OK; a++)
		rc = out->write(out, array[a], P * sizeof(float));
	if (rc == LETHE_OK)
		rc = out->write(out, &e->fisher_seconds, sizeof(e->fisher_seconds));
	return rc == LETHE_OK ? rc : lethe_fail(e->host, rc, "cannot write the state");
}

/* A Fisher (or its sum, or C) is finite and nonnegative, an anchor finite: anything else is a
 * corrupt state. */
static int all_nonnegative(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(v[i] >= 0.0f && isfinite(v[i])))
			return 0;
	return 1;
}

static int all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

static int read_floats(const struct ewc *e, const lethe_istream *in, float *v, size_t n,
		       size_t total)
{
	if (in->read(in, v, n * sizeof(float)) != LETHE_OK)
		return lethe_fail(e->host, LETHE_ERR_IO, "the state is truncated: it needs %zu "
				  "bytes of Fisher and anchors", total * sizeof(float));
	return LETHE_OK;
}

/* Encoding 3's arrays, into the zeroed S, Ā and C. */
static int load_sums(const struct ewc *e, const lethe_istream *in, uint64_t P, float *S,
		     float *anchor, float *C)
{
	size_t total = (2 + (size_t)separate(e)) * P;
	int rc = read_floats(e, in, S, P, total);
	if (rc == LETHE_OK)
		rc = read_floats(e, in, anchor, P, total);
	if (rc == LETHE_OK && C)
		rc = read_floats(e, in, C, P, total);
	if (rc == LETHE_OK &&
	    (!all_nonnegative(S, P) || !all_finite(anchor, P) || (C && !all_nonnegative(C, P))))
		rc = lethe_fail(e->host, LETHE_ERR_INVALID, "the state holds a negative or "
				"non-finite value");
	return rc;
}

/* Encodings 1 and 2: T tasks' pairs, folded into the zeroed S, Ā and C as after_task would
 * have (online's one pair is S and Ā already). */
static int load_pairs(const struct ewc *e, const lethe_istream *in, size_t T, uint64_t P,
		      float *S, float *anchor, float *C)
{
	size_t n = T * P;
	float *F = malloc(n * sizeof(float)), *theta = malloc(n * sizeof(float));
	int rc = F && theta ? LETHE_OK : lethe_fail(e->host, LETHE_ERR_NOMEM,
						    "out of memory for the state");
	if (rc == LETHE_OK)
		rc = read_floats(e, in, F, n, 2 * n);
	if (rc == LETHE_OK)
		rc = read_floats(e, in, theta, n, 2 * n);
	if (rc == LETHE_OK && (!all_nonnegative(F, n) || !all_finite(theta, n)))
		rc = lethe_fail(e->host, LETHE_ERR_INVALID, "the state holds a negative or "
				"non-finite value");
	for (size_t k = 0; C && k < T && rc == LETHE_OK; k++)
		fold(S, anchor, C, F + k * P, theta + k * P, P);
	if (rc == LETHE_OK && !C) {
		memcpy(S, F, P * sizeof(float));
		memcpy(anchor, theta, P * sizeof(float));
	}
	free(F);
	free(theta);
	return rc;
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct ewc *e = self(p);
	const lethe_run_info *run = e->host->run_info(e->host);
	if (version < 1 || version > STATE_VERSION)
		return lethe_fail(e->host, LETHE_ERR_INVALID, "state encoding %u is unknown (this "
				  "plugin reads 1 to %d)", version, STATE_VERSION);
	uint32_t mode, tasks;
	uint64_t P, want = num_params(e);
	if (in->read(in, &mode, sizeof(mode)) != LETHE_OK ||
	    in->read(in, &tasks, sizeof(tasks)) != LETHE_OK ||
	    in->read(in, &P, sizeof(P)) != LETHE_OK)
		return lethe_fail(e->host, LETHE_ERR_IO, "the state is truncated in its header");
	if (mode != MODE_SEPARATE && mode != MODE_ONLINE)
		return lethe_fail(e->host, LETHE_ERR_INVALID, "the state's mode %u is neither "
				  "separate (0) nor online (1)", mode);
	if ((int)mode != e->mode)
		return lethe_fail(e->host, LETHE_ERR_INVALID, "the state was saved with mode = %s, "
				  "but this run has mode = %s", mode_choices[mode],
				  mode_choices[e->mode]);
	if (P != want)
		return lethe_fail(e->host, LETHE_ERR_INVALID, "the state holds %llu parameters, "
				  "but the model has %llu: it comes from another model shape",
				  (unsigned long long)P, (unsigned long long)want);
	if (tasks > run->num_tasks)
		return lethe_fail(e->host, LETHE_ERR_INVALID, "the state holds %u tasks, but the "
				  "scenario has %u", tasks, run->num_tasks);
	float *S = NULL, *anchor = NULL, *C = NULL;
	double seconds = 0.0;
	int rc = tasks ? alloc_arrays(e, P, &S, &anchor, &C) : LETHE_OK;
	if (rc == LETHE_OK && tasks && version == STATE_VERSION)
		rc = load_sums(e, in, P, S, anchor, C);
	else if (rc == LETHE_OK && tasks)
		rc = load_pairs(e, in, separate(e) ? tasks : 1, P, S, anchor, C);
	if (rc == LETHE_OK && version >= 2 && in->read(in, &seconds, sizeof(seconds)) != LETHE_OK)
		rc = lethe_fail(e->host, LETHE_ERR_IO, "the state is truncated in its seconds");
	if (rc == LETHE_OK && !(seconds >= 0.0))
		rc = lethe_fail(e->host, LETHE_ERR_INVALID, "the state's seconds are %g", seconds);
	if (rc != LETHE_OK) {
		free(S);
		free(anchor);
		free(C);
		return rc;
	}
	free(e->S);
	free(e->anchor);
	free(e->C);
	e->S = S;
	e->anchor = anchor;
	e->C = C;
	e->tasks = tasks;
	e->spread = spread(C, P);
	e->fisher_seconds = seconds;
	report_state(e, P);
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct ewc *e = self(p);
	fisher_free(&e->fisher);
	free(e->S);
	free(e->anchor);
	free(e->C);
	free(e);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	if (v[P_GAMMA].f <= 0.0) {
		host->error(host, "gamma = 0 would drop every past task's Fisher; use (0, 1]");
		return NULL;
	}
	struct ewc *e = calloc(1, sizeof(*e));
	if (!e) {
		host->error(host, "out of memory");
		return NULL;
	}
	e->host = host;
	e->lambda = v[P_LAMBDA].f;
	e->mode = (int)v[P_MODE].i;
	e->gamma = v[P_GAMMA].f;
	e->guard = (int)v[P_GUARD].i;
	fisher_init(&e->fisher, host, (enum fisher_kind)v[P_FISHER].i, (size_t)v[P_CHUNK].i,
		    (uint64_t)v[P_SAMPLES].i);
	e->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = e,
		.destroy = destroy,
		.on_gradient = on_gradient,
		.after_task = after_task,
		.save = save,
		.load = load,
	};
	return &e->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "ewc",
	.version = "1.0",
	.description = "elastic weight consolidation, per task or online",
	.params = params,
	.num_params = P_COUNT,
	.state_version = STATE_VERSION,
	.create = create,
};
