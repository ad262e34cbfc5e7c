/* mas: Memory Aware Synapses (Aljundi, Babiloni, Elhoseiny, Rohrbach & Tuytelaars, "Memory
 * Aware Synapses: Learning what (not) to forget", ECCV 2018).
 *
 * After each task, the importance of every parameter
 *
 *	Ω_t = 1/N Σ_n |∂‖f(x_n)‖² / ∂θ|
 *
 * over the task's N training samples (or a seeded subset of `samples`), f the model's output
 * logits (under the task-incremental protocol the task's own classes', its head), the model in
 * evaluation mode: each sample's own gradient, as the paper defines it, not the gradient of a
 * batch's sum. The host's model_grad_stats sums them with power 1 from dL/dlogits = 2 f(x), so
 * any architecture works. Importances add up over tasks (Ω += Ω_t: the paper accumulates them),
 * θ* is the weights at the end of the latest task, and while later tasks are learned the
 * penalty λ Σ_k Ω_k (θ_k − θ*_k)² (the paper's, with no 1/2) joins the loss, its gradient
 * 2 λ Ω ⊙ (θ − θ*) the parameters' gradient.
 *
 * Stability, as EWC's guard: the penalty is a quadratic of curvature 2 λ Ω_k along θ_k, and SGD
 * with momentum μ diverges on it once lr · 2 λ Ω_k reaches 2 (1 + μ). guard = cap (the
 * default) caps those Ω_k at 0.9 of the bound, logging how many; guard = refuse stops the run,
 * naming the largest safe lambda. Ω is never negative.
 *
 * Subset: when samples < N, positions by selection sampling (Knuth's algorithm S) from the
 * plugin's host RNG stream, one rng_uniform per position, as EWC's Fisher draws its subset.
 *
 * Defaults: lambda = 1, the paper's (its object recognition sequences); the whole task's data.
 *
 * There is no on_forget: the plugin keeps no samples, only per-parameter importances and
 * weights, as EWC keeps its Fisher; making the weights forget is the unlearning plugin's job.
 *
 * State, version 1, native byte order: uint32 tasks (whose Ω the state holds), uint64 P, then
 * when tasks > 0 float Ω[P] and θ*[P], in the model's flat parameter layout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#define STATE_VERSION 1

enum { GUARD_CAP, GUARD_REFUSE };

static const char *const guard_choices[] = { "cap", "refuse", NULL };

enum { P_LAMBDA, P_SAMPLES, P_CHUNK, P_GUARD, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "lambda", LETHE_PARAM_FLOAT, "1", 0, 1e9, NULL,
	  "weight of the penalty (1: the paper's)" },
	{ sizeof(lethe_param_decl), "samples", LETHE_PARAM_INT, "0", 0, 1e7, NULL,
	  "samples per importance, a seeded subset (0 = the whole task)" },
	{ sizeof(lethe_param_decl), "chunk", LETHE_PARAM_INT, "256", 1, 65536, NULL,
	  "rows per pass while computing the importance" },
	{ sizeof(lethe_param_decl), "guard", LETHE_PARAM_CHOICE, "cap", 0, 0, guard_choices,
	  "where lr·2·lambda·Ω would make SGD diverge: cap those Ω, or refuse" },
};

struct mas {
	lethe_plugin plugin;
	const lethe_host *host;
	double lambda;
	int guard;
	size_t chunk;
	uint64_t samples;
	uint32_t tasks;
	uint64_t P;
	float *omega, *anchor, *fresh; /* P each: Ω, θ*, and the task's Ω_t while computed */
	/* Scratch of chunk rows, allocated on the first after_task. */
	float *x, *logits;
	uint64_t *pos;
	uint8_t *allowed;
	size_t pos_cap;
};

static struct mas *self(lethe_plugin *p)
{
	return p->plugin_data;
}

/* grad += 2 λ Ω ⊙ (θ − θ*) over one span; lanes gathers Ω ⊙ (θ − θ*)², a lane per element. */
static void penalty_span(float *restrict grad, float *restrict lanes, const float *restrict th,
			 const float *restrict omega, const float *restrict anchor,
			 float twice_lambda, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float d = th[i] - anchor[i], od = omega[i] * d;
		grad[i] += twice_lambda * od;
		lanes[i] += od * d;
	}
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	struct mas *s = self(p);
	const lethe_host *h = s->host;
	(void)b;
	if (s->tasks == 0 || s->lambda == 0.0)
		return LETHE_OK;
	lethe_model *m = h->model(h);
	const float *th = h->model_params(h, m, NULL);
	float *grad = h->model_grads(h, m, NULL);
	float lanes[LETHE_SPAN] = { 0 }, twice_lambda = (float)(2.0 * s->lambda);
	size_t i = 0, P = (size_t)s->P;
	for (; i + LETHE_SPAN <= P; i += LETHE_SPAN)
		penalty_span(grad + i, lanes, th + i, s->omega + i, s->anchor + i, twice_lambda,
			     LETHE_SPAN);
	penalty_span(grad + i, lanes, th + i, s->omega + i, s->anchor + i, twice_lambda, P - i);
	double sum = 0.0;
	for (size_t j = 0; j < LETHE_SPAN; j++)
		sum += lanes[j];
	*loss += s->lambda * sum;
	return LETHE_OK;
}

static int scratch_alloc(struct mas *s)
{
	if (s->x)
		return LETHE_OK;
	const lethe_run_info *run = s->host->run_info(s->host);
	s->x = malloc(s->chunk * run->input_dim * sizeof(float));
	s->logits = malloc(s->chunk * run->num_classes * sizeof(float));
	s->allowed = malloc(run->num_classes);
	if (s->x && s->logits && s->allowed)
		return LETHE_OK;
	return lethe_fail(s->host, LETHE_ERR_NOMEM, "out of memory for the importance's scratch "
			  "buffers");
}

/* The positions of one pass: the subset's, or n consecutive ones from `first`. Grows pos to m
 * (the subset, or a chunk). */
static int positions(struct mas *s, uint64_t m)
{
	if (m <= s->pos_cap)
		return LETHE_OK;
	uint64_t *grown = realloc(s->pos, m * sizeof(*grown));
	if (!grown)
		return lethe_fail(s->host, LETHE_ERR_NOMEM, "out of memory for the importance's "
				  "sample positions");
	s->pos = grown;
	s->pos_cap = m;
	return LETHE_OK;
}

/* The classes of f: every class, or under task-incremental learning the task's own. */
static void allow_classes(struct mas *s, const lethe_task_info *task)
{
	const lethe_run_info *run = s->host->run_info(s->host);
	int masked = run->protocol == LETHE_TASK_INCREMENTAL;
	memset(s->allowed, !masked, run->num_classes);
	for (uint32_t j = 0; masked && j < task->num_classes; j++)
		if (task->classes[j] >= 0 && (uint32_t)task->classes[j] < run->num_classes)
			s->allowed[task->classes[j]] = 1;
}

/* One chunk: dL/dlogits = 2 f(x) on the allowed classes, whose per-row gradients are
 * ∂‖f(x)‖²/∂θ; their magnitudes times alpha into Ω_t. */
static int chunk_pass(struct mas *s, uint32_t task, const uint64_t *pos, size_t n, float alpha)
{
	const lethe_host *h = s->host;
	lethe_model *m = h->model(h);
	size_t c = h->run_info(h)->num_classes;
	int rc = h->task_load(h, task, LETHE_SPLIT_TRAIN, pos, n, s->x, NULL, NULL);
	if (rc == LETHE_OK)
		rc = h->model_forward(h, m, s->x, n, s->logits);
	if (rc != LETHE_OK)
		return rc;
	for (size_t i = 0; i < n * c; i++)
		s->logits[i] = s->allowed[i % c] ? 2.0f * s->logits[i] : 0.0f;
	return h->model_grad_stats(h, m, s->logits, n, 1, 1, alpha, s->fresh, NULL);
}

/* Ω_t of the task into s->fresh; *used is how many samples it averages. */
static int importance(struct mas *s, const lethe_task_info *task, uint64_t *used)
{
	const lethe_host *h = s->host;
	uint64_t n = task->num_train;
	memset(s->fresh, 0, s->P * sizeof(float));
	int rc = scratch_alloc(s);
	if (rc != LETHE_OK)
		return rc;
	allow_classes(s, task);
	int subset = s->samples && s->samples < n;
	rc = positions(s, subset ? s->samples : s->chunk);
	if (rc != LETHE_OK)
		return rc;
	if (subset) {
		uint64_t kept = 0, m = s->samples;
		for (uint64_t t = 0; t < n; t++)
			if ((double)(n - t) * h->rng_uniform(h) < (double)(m - kept))
				s->pos[kept++] = t;
		n = m;
	}
	*used = n;
	float alpha = n ? 1.0f / (float)n : 0.0f;
	for (uint64_t at = 0; at < n && rc == LETHE_OK; at += s->chunk) {
		size_t rows = n - at < s->chunk ? (size_t)(n - at) : s->chunk;
		const uint64_t *pos = s->pos + at;
		if (!subset) {
			for (size_t i = 0; i < rows; i++)
				s->pos[i] = at + i;
			pos = s->pos;
		}
		rc = chunk_pass(s, task->index, pos, rows, alpha);
	}
	return rc;
}

/* A bound rounded down to two significant digits, so the advice is itself safe. */
static double safe_lambda(double limit)
{
	double unit = pow(10.0, floor(log10(limit)) - 1.0);
	return floor(limit / unit) * unit;
}

/* See the stability paragraph above. */
static int check_stable(struct mas *s, const lethe_task_info *task)
{
	const lethe_run_info *run = s->host->run_info(s->host);
	if (task->index + 1 >= run->num_tasks || s->lambda == 0.0)
		return LETHE_OK; /* no task is left to learn under the penalty */
	double limit = 2.0 * (1.0 + run->momentum), cap = 0.9 * limit / (run->lr * 2.0 * s->lambda);
	double max = 0.0;
	uint64_t capped = 0;
	for (uint64_t i = 0; i < s->P; i++) {
		max = s->omega[i] > max ? s->omega[i] : max;
		if (s->guard == GUARD_CAP && s->omega[i] > cap) {
			s->omega[i] = (float)cap;
			capped++;
		}
	}
	double product = run->lr * 2.0 * s->lambda * max;
	if (s->guard == GUARD_CAP) {
		if (capped)
			lethe_log(s->host, LETHE_LOG_INFO, "capped Ω of %llu of %llu parameters where "
				  "lr·2·lambda·Ω reached %.2g (SGD diverges at %g)",
				  (unsigned long long)capped, (unsigned long long)s->P, product,
				  limit);
		return LETHE_OK;
	}
	if (product < limit)
		return LETHE_OK;
	return lethe_fail(s->host, LETHE_ERR_INVALID, "lambda = %g makes lr·2·lambda·max Ω = %.2g "
			  "(>= %g): SGD would diverge; use lambda < %g or guard = cap", s->lambda,
			  product, limit, safe_lambda(limit / (run->lr * 2.0 * max)));
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct mas *s = self(p);
	const lethe_host *h = s->host;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t used;
	int rc = importance(s, task, &used);
	if (rc != LETHE_OK)
		return rc;
	double sum = 0.0, max = 0.0;
	for (uint64_t i = 0; i < s->P; i++) {
		sum += s->fresh[i];
		max = s->fresh[i] > max ? s->fresh[i] : max;
		s->omega[i] += s->fresh[i];
	}
	if (!isfinite(sum))
		return lethe_fail(h, LETHE_ERR_NUMERIC, "the importance of task %u is not finite",
				  task->index + 1);
	memcpy(s->anchor, h->model_params(h, h->model(h), NULL), s->P * sizeof(float));
	s->tasks++;
	lethe_log(h, LETHE_LOG_INFO, "importance of task %u: %llu samples in %.3f s; max %.4g, "
		  "mean %.4g", task->index + 1, (unsigned long long)used, lethe_seconds_since(&t0),
		  max, s->P ? sum / (double)s->P : 0.0);
	return check_stable(s, task);
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct mas *s = self(p);
	int rc = out->write(out, &s->tasks, sizeof(s->tasks));
	if (rc == LETHE_OK)
		rc = out->write(out, &s->P, sizeof(s->P));
	if (rc == LETHE_OK && s->tasks)
		rc = out->write(out, s->omega, s->P * sizeof(float));
	if (rc == LETHE_OK && s->tasks)
		rc = out->write(out, s->anchor, s->P * sizeof(float));
	return rc == LETHE_OK ? rc : lethe_fail(s->host, rc, "cannot write the state");
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct mas *s = self(p);
	const lethe_run_info *run = s->host->run_info(s->host);
	if (version != STATE_VERSION)
		return lethe_fail(s->host, LETHE_ERR_INVALID, "state encoding %u is unknown (this "
				  "plugin reads %d)", version, STATE_VERSION);
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
	/* Read into fresh first (the scratch of after_task), so a bad state leaves Ω alone. */
	float *omega = s->fresh, *anchor = s->fresh;
	if (tasks) {
		if (!(anchor = malloc(P * sizeof(float))))
			return lethe_fail(s->host, LETHE_ERR_NOMEM, "out of memory for the state");
		if (in->read(in, omega, P * sizeof(float)) != LETHE_OK ||
		    in->read(in, anchor, P * sizeof(float)) != LETHE_OK) {
			free(anchor);
			return lethe_fail(s->host, LETHE_ERR_IO, "the state is truncated: it needs "
					  "%llu bytes of importance and anchors",
					  (unsigned long long)(2 * P * sizeof(float)));
		}
		for (uint64_t i = 0; i < P; i++)
			if (!(omega[i] >= 0.0f && isfinite(omega[i]) && isfinite(anchor[i]))) {
				free(anchor);
				return lethe_fail(s->host, LETHE_ERR_INVALID, "the state holds a "
						  "negative or non-finite value");
			}
		memcpy(s->omega, omega, P * sizeof(float));
		memcpy(s->anchor, anchor, P * sizeof(float));
		free(anchor);
	} else {
		memset(s->omega, 0, P * sizeof(float));
		memset(s->anchor, 0, P * sizeof(float));
	}
	s->tasks = tasks;
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct mas *s = self(p);
	free(s->omega);
	free(s->anchor);
	free(s->fresh);
	free(s->x);
	free(s->logits);
	free(s->pos);
	free(s->allowed);
	free(s);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	struct mas *s = calloc(1, sizeof(*s));
	if (!s) {
		host->error(host, "out of memory");
		return NULL;
	}
	s->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = s,
		.destroy = destroy,
		.on_gradient = on_gradient,
		.after_task = after_task,
		.save = save,
		.load = load,
	};
	s->host = host;
	s->lambda = v[P_LAMBDA].f;
	s->samples = (uint64_t)v[P_SAMPLES].i;
	s->chunk = (size_t)v[P_CHUNK].i;
	s->guard = (int)v[P_GUARD].i;
	host->model_params(host, host->model(host), &s->P);
	size_t P = s->P ? (size_t)s->P : 1;
	s->omega = calloc(P, sizeof(float));
	s->anchor = calloc(P, sizeof(float));
	s->fresh = calloc(P, sizeof(float));
	if (!s->omega || !s->anchor || !s->fresh) {
		host->error(host, "out of memory for the importances");
		destroy(&s->plugin);
		return NULL;
	}
	return &s->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "mas",
	.version = "1.0",
	.description = "memory aware synapses: importance from the output norm's gradient "
		       "(Aljundi et al. 2018); keeps no samples",
	.params = params,
	.num_params = P_COUNT,
	.state_version = STATE_VERSION,
	.create = create,
};
