/* si: Synaptic Intelligence (Zenke, Poole & Ganguli, "Continual Learning Through Synaptic
 * Intelligence", ICML 2017).
 *
 * While a task is learned each parameter's path integral ω_k accumulates −g_k Δθ_k over every
 * step: g the gradient the step follows, Δθ the step's change. on_gradient copies g (before the
 * plugin's own penalty joins it: the paper's and its authors' code take the unregularised
 * loss's gradient; a term an earlier-listed plugin added is part of it) and θ; after_batch, once
 * the optimiser stepped, adds −g ⊙ (θ_now − θ_before). At the task's end
 *
 *	Ω += ω / (Δ² + ξ),	Δ = θ_end − θ_task_start,	θ* = θ_end,
 *
 * and while later tasks are learned the penalty c Σ_k Ω_k (θ_k − θ*_k)² joins the loss, its
 * gradient 2 c Ω ⊙ (θ − θ*) the parameters' gradient. Only the flat parameter and gradient
 * vectors are used: any architecture, head-only epochs included (their Δθ is zero off the head).
 *
 * Stability. The penalty is a quadratic of curvature 2 c Ω_k along θ_k: SGD with momentum μ
 * diverges on it once lr · 2 c Ω_k reaches 2 (1 + μ), and a negative Ω_k (ω < 0: noise, or
 * momentum carrying a step against the gradient) makes it a hill that pushes θ_k away from
 * θ*_k without bound. guard = cap (the default) sets those Ω_k to 0 and caps the others at half
 * the bound, logging how many: the other half is left to the loss's own curvature (at 0.9, as
 * EWC caps, SI with DER++'s replay terms diverged on the kill test's scenario, where Ω grows
 * task after task). guard = refuse stops the run, naming the largest safe lambda.
 *
 * Defaults: lambda (the paper's c) = 1 and xi = 1e-3, the paper's for split MNIST (it used
 * c = 0.1 on permuted MNIST; the permuted scenario says which it uses).
 *
 * There is no on_forget: the plugin keeps no samples, only per-parameter statistics of the
 * training path, as EWC keeps its Fisher; making the weights forget is the unlearning plugin's
 * job.
 *
 * State, version 1, native byte order: uint32 tasks (whose Ω the state holds), uint64 P, then
 * float Ω[P], θ*[P], ω[P] (the task under way's path so far) and θ_task_start[P]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

enum { GUARD_CAP, GUARD_REFUSE };

static const char *const guard_choices[] = { "cap", "refuse", NULL };

enum { P_LAMBDA, P_XI, P_GUARD, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "lambda", LETHE_PARAM_FLOAT, "1", 0, 1e9, NULL,
	  "c, weight of the penalty (1: the paper's for split MNIST)" },
	{ sizeof(lethe_param_decl), "xi", LETHE_PARAM_FLOAT, "0.001", 1e-12, 1e6, NULL,
	  "damping of Ω = ω/(Δ²+xi), above 0 (0.001: the paper's)" },
	{ sizeof(lethe_param_decl), "guard", LETHE_PARAM_CHOICE, "cap", 0, 0, guard_choices,
	  "where lr·2·lambda·Ω would make SGD diverge, or Ω < 0: cap those Ω, or refuse" },
};

enum { OMEGA, ANCHOR, PATH, START, GRAD, BEFORE, ARRAYS };
#define SAVED 4 /* OMEGA to START */

struct si {
	lethe_plugin plugin;
	const lethe_host *host;
	double lambda, xi;
	int guard;
	uint32_t tasks;
	uint64_t P;
	float *v[ARRAYS]; /* P floats each */
};

static struct si *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static float *theta(const struct si *s)
{
	return s->host->model_params(s->host, s->host->model(s->host), NULL);
}

static int before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct si *s = self(p);
	(void)task;
	memcpy(s->v[START], theta(s), s->P * sizeof(float));
	memset(s->v[PATH], 0, s->P * sizeof(float));
	return LETHE_OK;
}

/* grad += 2 c Ω ⊙ (θ − θ*) over one span; lanes gathers Ω ⊙ (θ − θ*)², a lane per element. */
static void penalty_span(float *restrict grad, float *restrict lanes, const float *restrict th,
			 const float *restrict omega, const float *restrict anchor, float twice_c,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float d = th[i] - anchor[i], od = omega[i] * d;
		grad[i] += twice_c * od;
		lanes[i] += od * d;
	}
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	struct si *s = self(p);
	const lethe_host *h = s->host;
	(void)b;
	lethe_model *m = h->model(h);
	const float *th = h->model_params(h, m, NULL);
	float *grad = h->model_grads(h, m, NULL);
	memcpy(s->v[GRAD], grad, s->P * sizeof(float));
	memcpy(s->v[BEFORE], th, s->P * sizeof(float));
	if (s->tasks == 0 || s->lambda == 0.0)
		return LETHE_OK;
	float lanes[LETHE_SPAN] = { 0 }, twice_c = (float)(2.0 * s->lambda);
	size_t i = 0, P = (size_t)s->P;
	for (; i + LETHE_SPAN <= P; i += LETHE_SPAN)
		penalty_span(grad + i, lanes, th + i, s->v[OMEGA] + i, s->v[ANCHOR] + i, twice_c,
			     LETHE_SPAN);
	penalty_span(grad + i, lanes, th + i, s->v[OMEGA] + i, s->v[ANCHOR] + i, twice_c, P - i);
	double sum = 0.0;
	for (size_t j = 0; j < LETHE_SPAN; j++)
		sum += lanes[j];
	*loss += s->lambda * sum;
	return LETHE_OK;
}

/* ω −= g ⊙ (θ − θ_before) over one span. */
static void path_span(float *restrict path, const float *restrict g, const float *restrict th,
		      const float *restrict before, size_t n)
{
	for (size_t i = 0; i < n; i++)
		path[i] -= g[i] * (th[i] - before[i]);
}

static int after_batch(lethe_plugin *p, const lethe_batch *b)
{
	struct si *s = self(p);
	(void)b;
	const float *th = theta(s);
	size_t i = 0, P = (size_t)s->P;
	for (; i + LETHE_SPAN <= P; i += LETHE_SPAN)
		path_span(s->v[PATH] + i, s->v[GRAD] + i, th + i, s->v[BEFORE] + i, LETHE_SPAN);
	path_span(s->v[PATH] + i, s->v[GRAD] + i, th + i, s->v[BEFORE] + i, P - i);
	return LETHE_OK;
}

/* A bound rounded down to two significant digits, so the advice is itself safe. */
static double safe_lambda(double limit)
{
	double unit = pow(10.0, floor(log10(limit)) - 1.0);
	return floor(limit / unit) * unit;
}

/* See the stability paragraph above. */
static int check_stable(struct si *s, const lethe_task_info *task)
{
	const lethe_run_info *run = s->host->run_info(s->host);
	if (task->index + 1 >= run->num_tasks || s->lambda == 0.0)
		return LETHE_OK; /* no task is left to learn under the penalty */
	double limit = 2.0 * (1.0 + run->momentum), cap = 0.5 * limit / (run->lr * 2.0 * s->lambda);
	double max = 0.0;
	uint64_t capped = 0, negative = 0;
	float *omega = s->v[OMEGA];
	for (uint64_t i = 0; i < s->P; i++) {
		max = omega[i] > max ? omega[i] : max;
		negative += omega[i] < 0.0f;
		if (s->guard == GUARD_CAP && omega[i] < 0.0f)
			omega[i] = 0.0f;
		else if (s->guard == GUARD_CAP && omega[i] > cap) {
			omega[i] = (float)cap;
			capped++;
		}
	}
	double product = run->lr * 2.0 * s->lambda * max;
	if (s->guard == GUARD_CAP) {
		if (capped || negative)
			lethe_log(s->host, LETHE_LOG_INFO, "set Ω of %llu parameters from below 0 to "
				  "0, capped %llu of %llu where lr·2·lambda·Ω reached %.2g (SGD "
				  "diverges at %g)", (unsigned long long)negative,
				  (unsigned long long)capped, (unsigned long long)s->P, product,
				  limit);
		return LETHE_OK;
	}
	if (negative)
		return lethe_fail(s->host, LETHE_ERR_INVALID, "Ω is negative for %llu parameters "
				  "(the path integral ran against the gradient): the penalty would "
				  "push them away without bound; use guard = cap",
				  (unsigned long long)negative);
	if (product < limit)
		return LETHE_OK;
	return lethe_fail(s->host, LETHE_ERR_INVALID, "lambda = %g makes lr·2·lambda·max Ω = %.2g "
			  "(>= %g): SGD would diverge; use lambda < %g or guard = cap", s->lambda,
			  product, limit, safe_lambda(limit / (run->lr * 2.0 * max)));
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct si *s = self(p);
	const float *th = theta(s);
	double sum = 0.0, max = 0.0;
	for (uint64_t i = 0; i < s->P; i++) {
		double d = (double)th[i] - s->v[START][i];
		float w = (float)(s->v[PATH][i] / (d * d + s->xi));
		s->v[OMEGA][i] += w;
		sum += w;
		max = w > max ? w : max;
	}
	if (!isfinite(sum))
		return lethe_fail(s->host, LETHE_ERR_NUMERIC, "the importance of task %u is not "
				  "finite", task->index + 1);
	memcpy(s->v[ANCHOR], th, s->P * sizeof(float));
	memset(s->v[PATH], 0, s->P * sizeof(float));
	s->tasks++;
	lethe_log(s->host, LETHE_LOG_INFO, "task %u: importance ω/(Δ²+xi) max %.4g, mean %.4g",
		  task->index + 1, max, s->P ? sum / (double)s->P : 0.0);
	return check_stable(s, task);
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct si *s = self(p);
	int rc = out->write(out, &s->tasks, sizeof(s->tasks));
	if (rc == LETHE_OK)
		rc = out->write(out, &s->P, sizeof(s->P));
	for (int a = 0; a < SAVED && rc == LETHE_OK; a++)
		rc = out->write(out, s->v[a], s->P * sizeof(float));
	return rc == LETHE_OK ? rc : lethe_fail(s->host, rc, "cannot write the state");
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct si *s = self(p);
	const lethe_run_info *run = s->host->run_info(s->host);
	if (version != 1)
		return lethe_fail(s->host, LETHE_ERR_INVALID, "state encoding %u is unknown (this "
				  "plugin reads 1)", version);
	uint32_t tasks;
	uint64_t P;
	if (in->read(in, &tasks, sizeof(tasks)) != LETHE_OK ||
	    in->read(in, &P, sizeof(P)) != LETHE_OK)
		return lethe_fail(s->host, LETHE_ERR_IO, "the state is truncated in its header");
	if (P != s->P)
		return lethe_fail(s->host, LETHE_ERR_INVALID, "the state holds %llu parameters, "
				  "but the model has %llu: it comes from another model shape",
				  (unsigned long long)P, (unsigned long long)s->P);
	if (tasks > run->num_tasks)
		return lethe_fail(s->host, LETHE_ERR_INVALID, "the state holds %u tasks, but the "
				  "scenario has %u", tasks, run->num_tasks);
	for (int a = 0; a < SAVED; a++)
		if (in->read(in, s->v[a], P * sizeof(float)) != LETHE_OK)
			return lethe_fail(s->host, LETHE_ERR_IO, "the state is truncated: it needs "
					  "%llu bytes of importance, anchors and path",
					  (unsigned long long)(SAVED * P * sizeof(float)));
	for (uint64_t i = 0; i < SAVED * P; i++)
		if (!isfinite(s->v[i / P][i % P]))
			return lethe_fail(s->host, LETHE_ERR_INVALID, "the state holds a non-finite "
					  "value");
	s->tasks = tasks;
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct si *s = self(p);
	for (int a = 0; a < ARRAYS; a++)
		free(s->v[a]);
	free(s);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	struct si *s = calloc(1, sizeof(*s));
	if (!s) {
		host->error(host, "out of memory");
		return NULL;
	}
	s->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = s,
		.destroy = destroy,
		.before_task = before_task,
		.on_gradient = on_gradient,
		.after_batch = after_batch,
		.after_task = after_task,
		.save = save,
		.load = load,
	};
	s->host = host;
	s->lambda = v[P_LAMBDA].f;
	s->xi = v[P_XI].f;
	s->guard = (int)v[P_GUARD].i;
	host->model_params(host, host->model(host), &s->P);
	for (int a = 0; a < ARRAYS; a++)
		if (!(s->v[a] = calloc(s->P ? s->P : 1, sizeof(float)))) {
			host->error(host, "out of memory for the path integrals");
			destroy(&s->plugin);
			return NULL;
		}
	return &s->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "si",
	.version = "1.0",
	.description = "synaptic intelligence: a path-integral importance per parameter (Zenke "
		       "et al. 2017)",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
