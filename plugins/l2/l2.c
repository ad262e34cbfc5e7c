/* l2: an L2 pull towards the weights at the end of the previous task (Smith et al., "A Closer
 * Look at Rehearsal-Free Continual Learning").
 *
 * Loss of task t: CE + lambda sum_i (theta_i - theta*_i)^2, a plain sum of squares, and its
 * gradient 2 lambda (theta - theta*) added in on_gradient. theta* is one slot of P floats: the
 * initial weights at before_task of the first task, then the weights after every task. As in
 * the paper only the trunk (every layer but the classifier head) is pulled, unless include_head.
 * create refuses a lambda of (1 + momentum) / train.lr or more, where SGD on the pull alone
 * would diverge. Figure: state_bytes, the anchor's size.
 *
 * State, version 1, native byte order: uint64 P, then the P floats of the anchor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>

enum { P_LAMBDA, P_INCLUDE_HEAD, P_COUNT };

static const lethe_param_decl l2_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "lambda", LETHE_PARAM_FLOAT, "0.01", 0, 1e9, NULL,
	  "weight of the sum of squares to the previous task's weights" },
	{ sizeof(lethe_param_decl), "include_head", LETHE_PARAM_BOOL, "false", 0, 0, NULL,
	  "pull the classifier head too (the paper leaves it free)" },
};

/* A run of the flat parameter vector that the penalty covers. */
struct span {
	uint64_t off, len;
};

struct l2 {
	lethe_plugin plugin;
	const lethe_host *host;
	double lambda;
	uint64_t count; /* P */
	float *anchor;
	struct span *spans;
	uint32_t num_spans;
};

static struct l2 *l2_of(lethe_plugin *p)
{
	return p->plugin_data;
}

static void l2_destroy(lethe_plugin *p)
{
	struct l2 *l = l2_of(p);
	free(l->anchor);
	free(l->spans);
	free(l);
}

static void l2_anchor(struct l2 *l)
{
	const lethe_host *h = l->host;
	memcpy(l->anchor, h->model_params(h, h->model(h), NULL), l->count * sizeof(float));
}

static int l2_before_task(lethe_plugin *p, const lethe_task_info *task)
{
	if (task->index == 0)
		l2_anchor(l2_of(p));
	return LETHE_OK;
}

static int l2_after_task(lethe_plugin *p, const lethe_task_info *task)
{
	(void)task;
	l2_anchor(l2_of(p));
	return LETHE_OK;
}

/* GCC at -O2 vectorises a loop only when it leaves no scalar remainder, so the pull runs on
 * whole SPANs (a multiple of every vector width), then once on the rest; the squares gather in
 * a lane per element of the span, not in one chain of dependent additions. */
#define SPAN 16

/* grad += 2 lambda (θ - θ*); lanes gathers (θ - θ*)². */
static void pull_span(float *restrict grad, double *restrict lanes, const float *restrict theta,
		      const float *restrict anchor, float two_lambda, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float diff = theta[i] - anchor[i];
		lanes[i] += (double)diff * diff;
		grad[i] += two_lambda * diff;
	}
}

static int l2_on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	struct l2 *l = l2_of(p);
	const lethe_host *h = l->host;
	lethe_model *m = h->model(h);
	const float *theta = h->model_params(h, m, NULL);
	float *grad = h->model_grads(h, m, NULL);
	float two_lambda = (float)(2.0 * l->lambda);
	double lanes[SPAN] = { 0 }, sum = 0.0;
	(void)b;
	for (uint32_t s = 0; s < l->num_spans; s++) {
		uint64_t i = l->spans[s].off, end = i + l->spans[s].len;
		for (; i + SPAN <= end; i += SPAN)
			pull_span(grad + i, lanes, theta + i, l->anchor + i, two_lambda, SPAN);
		pull_span(grad + i, lanes, theta + i, l->anchor + i, two_lambda, end - i);
	}
	for (size_t j = 0; j < SPAN; j++)
		sum += lanes[j];
	*loss += l->lambda * sum;
	return LETHE_OK;
}

static int l2_save(lethe_plugin *p, const lethe_ostream *out)
{
	struct l2 *l = l2_of(p);
	int rc = out->write(out, &l->count, sizeof(l->count));
	return rc ? rc : out->write(out, l->anchor, l->count * sizeof(float));
}

static int l2_load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct l2 *l = l2_of(p);
	uint64_t count;
	char msg[160];
	if (version != 1) {
		snprintf(msg, sizeof(msg), "state version %u is not 1", version);
		l->host->error(l->host, msg);
		return LETHE_ERR_INVALID;
	}
	int rc = in->read(in, &count, sizeof(count));
	if (rc)
		return rc;
	if (count != l->count) {
		snprintf(msg, sizeof(msg), "the saved anchor has %llu parameters, the model %llu",
			 (unsigned long long)count, (unsigned long long)l->count);
		l->host->error(l->host, msg);
		return LETHE_ERR_INVALID;
	}
	return in->read(in, l->anchor, count * sizeof(float));
}

/* Adds a span, merging it into the last when they touch (an MLP's trunk is one run). */
static void l2_cover(struct l2 *l, uint64_t off, uint64_t len)
{
	struct span *last = l->num_spans ? &l->spans[l->num_spans - 1] : NULL;
	if (last && last->off + last->len == off)
		last->len += len;
	else
		l->spans[l->num_spans++] = (struct span){ off, len };
}

static int l2_find_spans(struct l2 *l, int include_head)
{
	const lethe_host *h = l->host;
	lethe_model *m = h->model(h);
	uint32_t n = h->model_num_layers(h, m);
	l->spans = malloc(2 * (size_t)n * sizeof(*l->spans));
	if (!l->spans)
		return LETHE_ERR_NOMEM;
	for (uint32_t i = 0; i < n; i++) {
		lethe_layer layer = { .struct_size = sizeof(layer) };
		int rc = h->model_layer(h, m, i, &layer);
		if (rc)
			return rc;
		if (layer.is_head && !include_head)
			continue;
		l2_cover(l, layer.weight_offset, layer.weight_count);
		l2_cover(l, layer.bias_offset, layer.bias_count);
	}
	return LETHE_OK;
}

/* The penalty alone is a quadratic of curvature 2 lambda along every parameter: SGD with
 * momentum mu on it diverges once lr times that reaches 2 (1 + mu). */
static int l2_check_stable(const lethe_host *h, double lambda)
{
	const lethe_run_info *run = h->run_info(h);
	double limit = 2.0 * (1.0 + run->momentum), product = run->lr * 2.0 * lambda;
	if (product < limit)
		return 0;
	char msg[256];
	snprintf(msg, sizeof(msg), "lambda = %g with train.lr = %g makes lr·2·lambda = %g (>= %g): "
		 "SGD would diverge; use lambda < %g", lambda, run->lr, product, limit,
		 limit / (2.0 * run->lr));
	h->error(h, msg);
	return -1;
}

static lethe_plugin *l2_create(const lethe_host *host, const lethe_param_value *v)
{
	if (l2_check_stable(host, v[P_LAMBDA].f) != 0)
		return NULL;
	struct l2 *l = calloc(1, sizeof(*l));
	if (!l) {
		host->error(host, "out of memory");
		return NULL;
	}
	l->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = l,
		.destroy = l2_destroy,
		.before_task = l2_before_task,
		.on_gradient = l2_on_gradient,
		.after_task = l2_after_task,
		.save = l2_save,
		.load = l2_load,
	};
	l->host = host;
	l->lambda = v[P_LAMBDA].f;
	host->model_params(host, host->model(host), &l->count);
	l->anchor = calloc(l->count, sizeof(float));
	int rc = l->anchor ? l2_find_spans(l, (int)v[P_INCLUDE_HEAD].i) : LETHE_ERR_NOMEM;
	if (rc) {
		if (rc == LETHE_ERR_NOMEM)
			host->error(host, "out of memory");
		l2_destroy(&l->plugin);
		return NULL;
	}
	host->report(host, "state_bytes", (double)(l->count * sizeof(float)));
	return &l->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "l2",
	.version = "1.0",
	.description = "L2 pull of the trunk towards the previous task's weights (Smith et al.)",
	.params = l2_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = l2_create,
};
