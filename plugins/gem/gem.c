/* gem: Gradient Episodic Memory (Lopez-Paz and Ranzato, "Gradient Episodic Memory for Continual
 * Learning", NeurIPS 2017).
 *
 * Memory: the last memory_per_task samples of each task's first epoch, in its batches' order (a
 * ring over the task's training rows, as the authors' code fills it), kept as raw bytes with
 * label and id, and as floats under the task's transform once the task is learned. From the
 * second task on, once a batch's gradient g is in (on_gradient), the gradient g_k of the mean
 * cross-entropy on each earlier task k's memory is taken (model_rows_gradient: masked as the
 * protocol masks, batch norm on those rows' statistics, the training state left alone). If some
 * g . g_k < 0, g becomes the closest vector to it in the cone g~ . g_k >= 0 through the dual
 *
 *	min_v 1/2 v^T G G^T v + g^T G^T v   subject to v >= margin,   g~ = G^T v + g
 *
 * (G: the g_k as rows), solved exactly by an active-set QP (qp.h) on v - margin. margin is the
 * authors' memory_strength: the paper's "small constant gamma >= 0" added to v* (section 3),
 * which their code, and this plugin, write as the bound v >= margin; margin 0 is the exact
 * projection. The penalties of plugins listed before this one are projected with the gradient.
 *
 * Defaults: memory_per_task 256 and margin 0.5, the paper's and the authors' code's settings for
 * MNIST. The memory budget in samples is memory_per_task x tasks (the scenarios set it to the
 * other memory methods' 500).
 *
 * Forget requests drop every stored sample they list. Figures: stored_samples, stored_bytes,
 * constrained_batches, projected_batches.
 *
 * State, version 1, native byte order: uint32 tasks, uint32 memory_per_task, uint64 dim, then
 * per task uint64 count and uint64 fill (rows met so far), count x dim pixel bytes, count int32
 * labels, count uint64 ids; then uint64 constrained and projected batches. */
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "qp.h"

enum { P_MEMORY, P_MARGIN, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "memory_per_task", LETHE_PARAM_INT, "256", 1, 1e7, NULL,
	  "samples kept of each task (256: Lopez-Paz and Ranzato's MNIST setting)" },
	{ sizeof(lethe_param_decl), "margin", LETHE_PARAM_FLOAT, "0.5", 0, 1e6, NULL,
	  "memory_strength: the dual variables' lower bound (0.5: the authors' code; 0: the exact "
	  "projection)" },
};

struct gem {
	lethe_plugin plugin;
	const lethe_host *host;
	size_t tasks, m, dim, P;
	double margin;
	size_t *count;	 /* per task */
	uint64_t *fill;	 /* per task: rows met in its first epoch */
	uint8_t *pixels; /* tasks x m x dim */
	int32_t *y;	 /* tasks x m */
	uint64_t *id;	 /* tasks x m */
	float *x;	 /* tasks x m x dim: the learned tasks' rows as floats */
	uint32_t *row_task; /* m */
	float *G;	 /* tasks x P: this batch's memory gradients */
	double *Q, *c, *u, *work;
	uint64_t constrained, projected;
};

static struct gem *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static void report(struct gem *g)
{
	size_t n = 0;
	for (size_t k = 0; k < g->tasks; k++)
		n += g->count[k];
	g->host->report(g->host, "stored_samples", (double)n);
	g->host->report(g->host, "stored_bytes", (double)(n * g->dim));
}

/* Task k's stored rows as floats under its transform. */
static int convert(struct gem *g, size_t k)
{
	if (!g->count[k])
		return LETHE_OK;
	return g->host->task_convert(g->host, (uint32_t)k, g->pixels + k * g->m * g->dim,
				     g->count[k], g->x + k * g->m * g->dim);
}

/* model_rows_gradient's workspace made for the largest memory, so batches allocate nothing. */
static int before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct gem *g = self(p);
	size_t best = 0;
	for (size_t k = 1; k < task->index; k++)
		best = g->count[k] > g->count[best] ? k : best;
	if (task->index == 0 || !g->count[best])
		return LETHE_OK;
	for (size_t i = 0; i < g->count[best]; i++)
		g->row_task[i] = (uint32_t)best;
	return g->host->model_rows_gradient(g->host, g->host->model(g->host),
					    g->x + best * g->m * g->dim, g->y + best * g->m,
					    g->row_task, g->count[best], g->G, NULL);
}

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	struct gem *g = self(p);
	size_t k = b->task;
	for (size_t i = 0; i < b->n_host && b->epoch == 0; i++) {
		if (b->tasks[i] != b->task)
			continue;
		size_t slot = k * g->m + g->fill[k] % g->m;
		const uint8_t *pixels;
		int rc = g->host->sample_raw(g->host, b->ids[i], &pixels, &g->y[slot]);
		if (rc != LETHE_OK)
			return rc;
		memcpy(g->pixels + slot * g->dim, pixels, g->dim);
		g->id[slot] = b->ids[i];
		g->fill[k]++;
		g->count[k] = g->fill[k] < g->m ? g->fill[k] : g->m;
	}
	return LETHE_OK;
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	(void)loss;
	struct gem *g = self(p);
	const lethe_host *h = g->host;
	lethe_model *model = h->model(h);
	float *grad = h->model_grads(h, model, NULL);
	size_t t = 0, P = g->P;
	for (size_t k = 0; k < b->task; k++) {
		if (!g->count[k])
			continue;
		for (size_t i = 0; i < g->count[k]; i++)
			g->row_task[i] = (uint32_t)k;
		int rc = h->model_rows_gradient(h, model, g->x + k * g->m * g->dim, g->y + k * g->m,
						g->row_task, g->count[k], g->G + t * P, NULL);
		if (rc != LETHE_OK)
			return rc;
		t++;
	}
	if (!t)
		return LETHE_OK;
	g->constrained++;
	int violated = 0;
	for (size_t a = 0; a < t; a++) {
		double d = 0.0;
		const float *ga = g->G + a * P;
		for (size_t i = 0; i < P; i++)
			d += (double)ga[i] * grad[i];
		g->c[a] = d;
		violated |= d < 0;
	}
	if (!violated)
		return LETHE_OK;
	for (size_t a = 0; a < t; a++)
		for (size_t q = 0; q <= a; q++) {
			double d = 0.0;
			const float *ga = g->G + a * P, *gq = g->G + q * P;
			for (size_t i = 0; i < P; i++)
				d += (double)ga[i] * gq[i];
			g->Q[a * t + q] = g->Q[q * t + a] = d;
		}
	/* u = v - margin: c = G g + margin Q 1 */
	for (size_t a = 0; a < t; a++)
		for (size_t q = 0; q < t; q++)
			g->c[a] += g->margin * g->Q[a * t + q];
	if (qp_solve(g->Q, g->c, t, g->u, g->work) != 0)
		lethe_log(h, LETHE_LOG_WARN, "the dual QP hit its iteration limit; its last "
			  "feasible point is used");
	for (size_t a = 0; a < t; a++)
		h->saxpy(h, P, (float)(g->u[a] + g->margin), g->G + a * P, grad);
	g->projected++;
	return LETHE_OK;
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct gem *g = self(p);
	int rc = convert(g, task->index);
	report(g);
	g->host->report(g->host, "constrained_batches", (double)g->constrained);
	g->host->report(g->host, "projected_batches", (double)g->projected);
	return rc;
}

/* Whether id is among the request's (sorted) ids. */
static int listed(const lethe_forget_request *req, uint64_t id)
{
	size_t lo = 0, hi = req->num_ids;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (req->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < req->num_ids && req->ids[lo] == id;
}

static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct gem *g = self(p);
	size_t dropped = 0;
	for (size_t k = 0; k < g->tasks; k++) {
		size_t kept = 0, base = k * g->m;
		for (size_t i = 0; i < g->count[k]; i++) {
			size_t from = base + i, to = base + kept;
			if (listed(req, g->id[from])) {
				dropped++;
				continue;
			}
			memmove(g->pixels + to * g->dim, g->pixels + from * g->dim, g->dim);
			memmove(g->x + to * g->dim, g->x + from * g->dim, g->dim * sizeof(float));
			g->y[to] = g->y[from];
			g->id[to] = g->id[from];
			kept++;
		}
		/* The gaps close: a ring still filling goes on from the kept rows. */
		if (kept != g->count[k])
			g->fill[k] = kept;
		g->count[k] = kept;
	}
	report(g);
	lethe_log(g->host, LETHE_LOG_INFO, "forget: dropped %zu stored samples", dropped);
	return LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct gem *g = self(p);
	uint32_t head[2] = { (uint32_t)g->tasks, (uint32_t)g->m };
	uint64_t dim = g->dim;
	int rc = out->write(out, head, sizeof(head));
	if (rc == LETHE_OK)
		rc = out->write(out, &dim, sizeof(dim));
	for (size_t k = 0; k < g->tasks && rc == LETHE_OK; k++) {
		uint64_t n = g->count[k];
		size_t base = k * g->m;
		rc = out->write(out, &n, sizeof(n));
		if (rc == LETHE_OK)
			rc = out->write(out, &g->fill[k], sizeof(g->fill[k]));
		if (rc == LETHE_OK)
			rc = out->write(out, g->pixels + base * g->dim, n * g->dim);
		if (rc == LETHE_OK)
			rc = out->write(out, g->y + base, n * sizeof(int32_t));
		if (rc == LETHE_OK)
			rc = out->write(out, g->id + base, n * sizeof(uint64_t));
	}
	if (rc == LETHE_OK)
		rc = out->write(out, &g->constrained, sizeof(g->constrained));
	if (rc == LETHE_OK)
		rc = out->write(out, &g->projected, sizeof(g->projected));
	return rc == LETHE_OK ? rc : lethe_fail(g->host, LETHE_ERR_IO, "cannot write the memory");
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct gem *g = self(p);
	if (version != 1)
		return lethe_fail(g->host, LETHE_ERR_INVALID, "state encoding %u is unknown (this "
				  "plugin reads 1)", version);
	uint32_t head[2];
	uint64_t dim;
	if (in->read(in, head, sizeof(head)) != LETHE_OK || in->read(in, &dim, sizeof(dim)))
		return lethe_fail(g->host, LETHE_ERR_IO, "the state is truncated in its header");
	if (head[0] != g->tasks || head[1] != g->m || dim != g->dim)
		return lethe_fail(g->host, LETHE_ERR_INVALID, "the state is of %u tasks of %u "
				  "samples of %llu bytes, not %zu of %zu of %zu", head[0], head[1],
				  (unsigned long long)dim, g->tasks, g->m, g->dim);
	for (size_t k = 0; k < g->tasks; k++) {
		uint64_t n;
		size_t base = k * g->m;
		if (in->read(in, &n, sizeof(n)) != LETHE_OK ||
		    in->read(in, &g->fill[k], sizeof(g->fill[k])) != LETHE_OK)
			return lethe_fail(g->host, LETHE_ERR_IO, "the state is truncated");
		if (n > g->m || n > g->fill[k])
			return lethe_fail(g->host, LETHE_ERR_INVALID, "task %zu's memory holds %llu "
					  "samples: malformed", k, (unsigned long long)n);
		g->count[k] = (size_t)n;
		if (in->read(in, g->pixels + base * g->dim, n * g->dim) != LETHE_OK ||
		    in->read(in, g->y + base, n * sizeof(int32_t)) != LETHE_OK ||
		    in->read(in, g->id + base, n * sizeof(uint64_t)) != LETHE_OK)
			return lethe_fail(g->host, LETHE_ERR_IO, "the state is truncated");
		int rc = convert(g, k);
		if (rc != LETHE_OK)
			return rc;
	}
	if (in->read(in, &g->constrained, sizeof(g->constrained)) != LETHE_OK ||
	    in->read(in, &g->projected, sizeof(g->projected)) != LETHE_OK)
		return lethe_fail(g->host, LETHE_ERR_IO, "the state is truncated in its counts");
	report(g);
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct gem *g = self(p);
	free(g->count);
	free(g->fill);
	free(g->pixels);
	free(g->y);
	free(g->id);
	free(g->x);
	free(g->row_task);
	free(g->G);
	free(g->Q);
	free(g->c);
	free(g->u);
	free(g->work);
	free(g);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	const lethe_run_info *run = host->run_info(host);
	struct gem *g = calloc(1, sizeof(*g));
	if (!g) {
		host->error(host, "out of memory");
		return NULL;
	}
	g->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = g,
		.destroy = destroy,
		.before_task = before_task,
		.on_batch = on_batch,
		.on_gradient = on_gradient,
		.after_task = after_task,
		.on_forget = on_forget,
		.save = save,
		.load = load,
	};
	g->host = host;
	g->tasks = run->num_tasks;
	g->m = (size_t)v[P_MEMORY].i;
	g->margin = v[P_MARGIN].f;
	g->dim = run->input_dim;
	uint64_t P;
	host->model_params(host, host->model(host), &P);
	g->P = (size_t)P;
	size_t T = g->tasks, rows = T * g->m;
	g->count = calloc(T, sizeof(*g->count));
	g->fill = calloc(T, sizeof(*g->fill));
	g->pixels = malloc(rows * g->dim);
	g->y = malloc(rows * sizeof(*g->y));
	g->id = malloc(rows * sizeof(*g->id));
	g->x = malloc(rows * g->dim * sizeof(float));
	g->row_task = malloc(g->m * sizeof(*g->row_task));
	g->G = malloc(T * g->P * sizeof(float));
	g->Q = malloc(T * T * sizeof(double));
	g->c = malloc(T * sizeof(double));
	g->u = malloc(T * sizeof(double));
	g->work = malloc(qp_work_size(T) * sizeof(double));
	if (!g->count || !g->fill || !g->pixels || !g->y || !g->id || !g->x || !g->row_task ||
	    !g->G || !g->Q || !g->c || !g->u || !g->work) {
		lethe_fail(host, LETHE_ERR_NOMEM, "out of memory for %zu tasks of memory_per_task = "
			   "%zu samples", T, g->m);
		destroy(&g->plugin);
		return NULL;
	}
	report(g);
	return &g->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "gem",
	.version = "1.0",
	.description = "gradient episodic memory: the exact projection on earlier tasks' memory "
		       "gradients (Lopez-Paz and Ranzato 2017)",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
