/* EWC and online EWC (Kirkpatrick et al. 2017; Schwarz et al. 2018).
 *
 * After each task, the diagonal Fisher F_t at the task's final weights θ*_t (fisher.c). While
 * learning later tasks, the penalty (λ/2) Σ_k Σ_i F_k,i (θ_i − θ*_k,i)² joins the loss and its
 * gradient λ Σ_k F_k ⊙ (θ − θ*_k) the parameters' gradient. mode = separate keeps (F_k, θ*_k)
 * for every task: 2·T·P floats. mode = online keeps F̃_t = γ F̃_{t−1} + F_t and the latest
 * anchor: 2·P floats.
 *
 * There is no on_forget: the plugin keeps no samples, only Fisher diagonals and weights, which
 * are the model's own statistics just as its weights are; making the weights forget is the
 * unlearning plugin's job.
 *
 * State encoding 2, in native byte order:
 *	uint32 mode      0 separate, 1 online
 *	uint32 tasks     tasks whose Fisher the state holds (online: folded into one)
 *	uint64 P         the model's parameter count
 *	float  F[S][P]   each task's Fisher (online: F̃)
 *	float  θ*[S][P]  the anchors
 *	double seconds   the Fisher's time so far (the figure fisher_seconds)
 * with S = tasks (separate) or min(tasks, 1) (online), and F and θ* in the model's flat
 * parameter layout. Encoding 1 is the same without seconds. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>

#include "fisher.h"

#define STATE_VERSION 2

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
	uint32_t tasks;	   /* see the state encoding */
	size_t slots_cap;  /* (F, θ*) pairs allocated */
	float *F, *anchor; /* slots x P each */
	double fisher_seconds;
};

static struct ewc *self(lethe_plugin *p)
{
	return p->plugin_data;
}

__attribute__((format(printf, 3, 4)))
static int fail(const struct ewc *e, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->host->error(e->host, msg);
	return rc;
}

static uint64_t num_params(const struct ewc *e)
{
	uint64_t count;
	e->host->model_params(e->host, e->host->model(e->host), &count);
	return count;
}

static size_t slots(const struct ewc *e)
{
	return e->mode == MODE_ONLINE ? e->tasks > 0 : e->tasks;
}

static void report_state(const struct ewc *e, uint64_t P)
{
	e->host->report(e->host, "state_bytes", (double)(2 * slots(e) * P * sizeof(float)));
}

/* GCC at -O2 vectorises a loop only when it leaves no scalar remainder, so the penalty runs on
 * whole SPANs (a multiple of every vector width), then once on the rest. */
#define SPAN 16

/* grad += λ Σ_k F_k ⊙ (θ − θ*_k) over one span, every task's pair in turn while the span of
 * grad stays in cache: θ and grad cross memory once a batch, not once per task. lanes gathers
 * F ⊙ (θ − θ*)², a lane per element of the span. */
static void penalty_span(float *restrict grad, float *restrict lanes, const float *restrict theta,
			 const float *restrict F, const float *restrict anchor, size_t stride,
			 size_t slots, float lambda, size_t n)
{
	for (size_t k = 0; k < slots; k++, F += stride, anchor += stride)
		for (size_t i = 0; i < n; i++) {
			float d = theta[i] - anchor[i], fd = F[i] * d;
			grad[i] += lambda * fd;
			lanes[i] += fd * d;
		}
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	struct ewc *e = self(p);
	const lethe_host *h = e->host;
	(void)b;
	size_t S = slots(e);
	if (S == 0 || e->lambda == 0.0)
		return LETHE_OK;
	uint64_t P;
	lethe_model *m = h->model(h);
	const float *theta = h->model_params(h, m, &P);
	float *grad = h->model_grads(h, m, NULL);
	float lanes[SPAN] = { 0 }, lambda = (float)e->lambda;
	size_t i = 0;
	for (; i + SPAN <= P; i += SPAN)
		penalty_span(grad + i, lanes, theta + i, e->F + i, e->anchor + i, P, S, lambda,
			     SPAN);
	penalty_span(grad + i, lanes, theta + i, e->F + i, e->anchor + i, P, S, lambda, P - i);
	double sum = 0.0;
	for (size_t j = 0; j < SPAN; j++)
		sum += lanes[j];
	*loss += 0.5 * e->lambda * sum;
	return LETHE_OK;
}

/* Room for the pair the task about to end adds. */
static int grow(struct ewc *e, uint64_t P)
{
	size_t want = e->mode == MODE_ONLINE ? 1 : (size_t)e->tasks + 1;
	if (want <= e->slots_cap)
		return LETHE_OK;
	float *F = realloc(e->F, want * P * sizeof(float));
	if (F)
		e->F = F;
	float *anchor = realloc(e->anchor, want * P * sizeof(float));
	if (anchor)
		e->anchor = anchor;
	if (!F || !anchor)
		return fail(e, LETHE_ERR_NOMEM, "out of memory for %zu Fisher matrices of %llu "
			    "parameters", want, (unsigned long long)P);
	e->slots_cap = want;
	return LETHE_OK;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + 1e-9 * (double)(now.tv_nsec - t0->tv_nsec);
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
		return fail(e, LETHE_ERR_NUMERIC, "the Fisher of task %u is not finite",
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

/* The penalty alone is a quadratic of curvature λ Σ_k F_k,i along θ_i; SGD with momentum μ on
 * it diverges once lr times the largest curvature reaches 2(1 + μ). guard = refuse stops the
 * run there, naming the largest safe λ; guard = cap (the default) scales every task's F_i of
 * the few parameters past 0.9 of the bound down to it, a safe step that keeps the penalty as
 * strong as SGD can follow there, and logs how many it capped. */
static int check_stable(struct ewc *e, const lethe_task_info *task, uint64_t P)
{
	const lethe_run_info *run = e->host->run_info(e->host);
	if (task->index + 1 >= run->num_tasks)
		return LETHE_OK; /* no task is left to learn under the penalty */
	size_t S = slots(e);
	double limit = 2.0 * (1.0 + run->momentum), cap = 0.9 * limit / (run->lr * e->lambda);
	double max = 0.0;
	uint64_t capped = 0;
	for (uint64_t i = 0; i < P; i++) {
		double sum = 0.0;
		for (size_t k = 0; k < S; k++)
			sum += e->F[k * P + i];
		max = sum > max ? sum : max;
		if (e->guard != GUARD_CAP || sum <= cap)
			continue;
		float scale = (float)(cap / sum);
		for (size_t k = 0; k < S; k++)
			e->F[k * P + i] *= scale;
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
	return fail(e, LETHE_ERR_INVALID, "lambda = %g makes lr·lambda·max F = %.2g (>= %g): SGD "
		    "would diverge; use lambda < %g or guard = cap", e->lambda, product, limit,
		    safe_lambda(limit / (run->lr * max)));
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct ewc *e = self(p);
	const lethe_host *h = e->host;
	uint64_t P, used;
	const float *theta = h->model_params(h, h->model(h), &P);
	int rc = grow(e, P);
	if (rc != LETHE_OK)
		return rc;
	/* Online, the old anchor is dead once F_t is known: its buffer holds F_t meanwhile. */
	float *Ft = e->mode == MODE_ONLINE ? e->anchor : e->F + (size_t)e->tasks * P;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = fisher_compute(&e->fisher, task, Ft, &used);
	double seconds = seconds_since(&t0);
	if (rc == LETHE_OK)
		rc = log_fisher(e, task, Ft, P, used, seconds);
	if (rc != LETHE_OK)
		return rc;
	if (e->mode == MODE_ONLINE && e->tasks > 0)
		for (uint64_t i = 0; i < P; i++)
			e->F[i] = (float)e->gamma * e->F[i] + Ft[i];
	else if (e->mode == MODE_ONLINE)
		memcpy(e->F, Ft, P * sizeof(float));
	memcpy(e->mode == MODE_ONLINE ? e->anchor : e->anchor + (size_t)e->tasks * P, theta,
	       P * sizeof(float));
	e->tasks++;
	e->fisher_seconds += seconds;
	h->report(h, "fisher_seconds", e->fisher_seconds);
	report_state(e, P);
	return check_stable(e, task, P);
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct ewc *e = self(p);
	uint32_t mode = (uint32_t)e->mode;
	uint64_t P = num_params(e), floats = slots(e) * P;
	int rc = out->write(out, &mode, sizeof(mode));
	if (rc == LETHE_OK)
		rc = out->write(out, &e->tasks, sizeof(e->tasks));
	if (rc == LETHE_OK)
		rc = out->write(out, &P, sizeof(P));
	if (rc == LETHE_OK && floats)
		rc = out->write(out, e->F, floats * sizeof(float));
	if (rc == LETHE_OK && floats)
		rc = out->write(out, e->anchor, floats * sizeof(float));
	if (rc == LETHE_OK)
		rc = out->write(out, &e->fisher_seconds, sizeof(e->fisher_seconds));
	return rc == LETHE_OK ? rc : fail(e, rc, "cannot write the state");
}

/* A Fisher is finite and nonnegative, an anchor finite: anything else is a corrupt state. */
static int state_valid(const float *F, const float *anchor, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(F[i] >= 0.0f && isfinite(F[i])) || !isfinite(anchor[i]))
			return 0;
	return 1;
}

/* The arrays of a state whose header holds S pairs of P floats, into fresh buffers. */
static int load_arrays(const struct ewc *e, const lethe_istream *in, size_t S, uint64_t P,
		       float **F, float **anchor)
{
	size_t n = S * P;
	*F = malloc(n * sizeof(float));
	*anchor = malloc(n * sizeof(float));
	if (!*F || !*anchor)
		return fail(e, LETHE_ERR_NOMEM, "out of memory for the state");
	if (in->read(in, *F, n * sizeof(float)) != LETHE_OK ||
	    in->read(in, *anchor, n * sizeof(float)) != LETHE_OK)
		return fail(e, LETHE_ERR_IO, "the state is truncated: %zu tasks of %llu parameters "
			    "need %zu bytes of Fisher and anchors", S, (unsigned long long)P,
			    2 * n * sizeof(float));
	if (!state_valid(*F, *anchor, n))
		return fail(e, LETHE_ERR_INVALID, "the state holds a negative or non-finite value");
	return LETHE_OK;
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct ewc *e = self(p);
	const lethe_run_info *run = e->host->run_info(e->host);
	if (version != 1 && version != STATE_VERSION)
		return fail(e, LETHE_ERR_INVALID, "state encoding %u is unknown (this plugin "
			    "reads 1 and %d)", version, STATE_VERSION);
	uint32_t mode, tasks;
	uint64_t P, want = num_params(e);
	if (in->read(in, &mode, sizeof(mode)) != LETHE_OK ||
	    in->read(in, &tasks, sizeof(tasks)) != LETHE_OK ||
	    in->read(in, &P, sizeof(P)) != LETHE_OK)
		return fail(e, LETHE_ERR_IO, "the state is truncated in its header");
	if (mode != MODE_SEPARATE && mode != MODE_ONLINE)
		return fail(e, LETHE_ERR_INVALID, "the state's mode %u is neither separate (0) nor "
			    "online (1)", mode);
	if ((int)mode != e->mode)
		return fail(e, LETHE_ERR_INVALID, "the state was saved with mode = %s, but this "
			    "run has mode = %s", mode_choices[mode], mode_choices[e->mode]);
	if (P != want)
		return fail(e, LETHE_ERR_INVALID, "the state holds %llu parameters, but the model "
			    "has %llu: it comes from another model shape",
			    (unsigned long long)P, (unsigned long long)want);
	if (tasks > run->num_tasks)
		return fail(e, LETHE_ERR_INVALID, "the state holds %u tasks, but the scenario has "
			    "%u", tasks, run->num_tasks);
	size_t S = mode == MODE_ONLINE ? tasks > 0 : tasks;
	float *F = NULL, *anchor = NULL;
	double seconds = 0.0;
	int rc = S ? load_arrays(e, in, S, P, &F, &anchor) : LETHE_OK;
	if (rc == LETHE_OK && version == STATE_VERSION &&
	    in->read(in, &seconds, sizeof(seconds)) != LETHE_OK)
		rc = fail(e, LETHE_ERR_IO, "the state is truncated in its seconds");
	if (rc == LETHE_OK && !(seconds >= 0.0))
		rc = fail(e, LETHE_ERR_INVALID, "the state's seconds are %g", seconds);
	if (rc != LETHE_OK) {
		free(F);
		free(anchor);
		return rc;
	}
	free(e->F);
	free(e->anchor);
	e->F = F;
	e->anchor = anchor;
	e->slots_cap = S;
	e->tasks = tasks;
	e->fisher_seconds = seconds;
	report_state(e, P);
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct ewc *e = self(p);
	fisher_free(&e->fisher);
	free(e->F);
	free(e->anchor);
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
