/* agem: Averaged Gradient Episodic Memory (Chaudhry, Ranzato, Rohrbach and Elhoseiny, "Efficient
 * Lifelong Learning with A-GEM", ICLR 2019).
 *
 * Memory: a reservoir of max_stored samples (../common/reservoir.h, as rehearsal, er_ace and der
 * fill theirs), each training sample of the task being learned offered once, in the first
 * epoch, after its batch's draw. From the second task on, each batch draws min(sample_size,
 * stored) memory rows without replacement (on_batch) and, once the batch's gradient g is in
 * (on_gradient), takes the gradient g_ref of the mean cross-entropy on them
 * (model_rows_gradient: masked as the protocol masks, batch norm on those rows' statistics,
 * the training state left alone); if g . g_ref < 0, g becomes
 *
 *	g - (g . g_ref / g_ref . g_ref) g_ref          (the paper's eq. 11)
 *
 * the closest vector to g whose step does not increase the memory's loss to first order. The
 * penalties other plugins listed before this one added to the gradient are projected too.
 *
 * Defaults: max_stored 500, the memory scenarios' budget (counted in samples, as every memory
 * plugin counts it); sample_size = train.batch_size, the reference batch of the authors' code
 * (and Mammoth's agem: minibatch_size = batch_size).
 *
 * Forget requests drop every stored sample they list. Figures: stored_samples, stored_bytes,
 * projected_batches.
 *
 * State, version 1, native byte order: the memory (reservoir_save), then uint64 projections. */
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/reservoir.h"

enum { P_MAX_STORED, P_SAMPLE_SIZE, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "max_stored", LETHE_PARAM_INT, "500", 1, 1e7, NULL,
	  "samples stored, over all tasks (500: the memory scenarios' budget)" },
	{ sizeof(lethe_param_decl), "sample_size", LETHE_PARAM_INT, "0", 0, 1e6, NULL,
	  "memory rows per reference gradient (0: train.batch_size, as the authors' code)" },
};

struct agem {
	lethe_plugin plugin;
	const lethe_host *host;
	struct reservoir mem;
	size_t sample_size, dim, drawn;
	float *x;	 /* sample_size x dim: this batch's reference rows */
	int32_t *y;
	uint32_t *tasks;
	float *ref;	 /* P: their gradient */
	uint64_t projections;
};

static struct agem *self(lethe_plugin *p)
{
	return p->plugin_data;
}

/* Rows x, y, tasks from memory slots order[0..n), slot i % count beyond count. */
static int load_rows(struct agem *a, size_t n)
{
	const struct reservoir *m = &a->mem;
	for (size_t i = 0; i < n; i++) {
		size_t s = m->order[i % m->count];
		a->y[i] = m->y[s];
		a->tasks[i] = m->task[s];
		int rc = a->host->task_convert(a->host, m->task[s], m->pixels + s * m->dim, 1,
					       a->x + i * a->dim);
		if (rc != LETHE_OK)
			return rc;
	}
	return LETHE_OK;
}

/* model_rows_gradient's workspace made for the largest draw, so batches allocate nothing. */
static int before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct agem *a = self(p);
	if (task->index == 0 || a->mem.count == 0)
		return LETHE_OK;
	int rc = load_rows(a, a->sample_size);
	if (rc == LETHE_OK)
		rc = a->host->model_rows_gradient(a->host, a->host->model(a->host), a->x, a->y,
						  a->tasks, a->sample_size, a->ref, NULL);
	return rc;
}

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	struct agem *a = self(p);
	a->drawn = b->task && a->mem.count ? reservoir_draw(&a->mem, a->sample_size) : 0;
	int rc = load_rows(a, a->drawn);
	/* Offered after the draw, so that a batch is never its own reference. */
	for (size_t i = 0; i < b->n_host && b->epoch == 0 && rc == LETHE_OK; i++)
		if (b->tasks[i] == b->task)
			rc = reservoir_offer(&a->mem, b->ids[i], b->tasks[i], NULL);
	return rc;
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	(void)b;
	(void)loss;
	struct agem *a = self(p);
	if (!a->drawn)
		return LETHE_OK;
	const lethe_host *h = a->host;
	lethe_model *m = h->model(h);
	uint64_t P;
	float *g = h->model_grads(h, m, &P);
	int rc = h->model_rows_gradient(h, m, a->x, a->y, a->tasks, a->drawn, a->ref, NULL);
	if (rc != LETHE_OK)
		return rc;
	float dot = h->sdot(h, P, g, a->ref), norm = h->sdot(h, P, a->ref, a->ref);
	if (dot < 0 && norm > 0) {
		h->saxpy(h, P, -dot / norm, a->ref, g);
		a->projections++;
	}
	return LETHE_OK;
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	(void)task;
	struct agem *a = self(p);
	reservoir_report(&a->mem);
	a->host->report(a->host, "projected_batches", (double)a->projections);
	return LETHE_OK;
}

static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct agem *a = self(p);
	size_t dropped = reservoir_forget(&a->mem, req);
	reservoir_report(&a->mem);
	lethe_log(a->host, LETHE_LOG_INFO, "forget: dropped %zu stored samples, %zu left", dropped,
		  a->mem.count);
	return LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct agem *a = self(p);
	int rc = reservoir_save(&a->mem, out);
	if (rc == LETHE_OK && out->write(out, &a->projections, sizeof(a->projections)) != LETHE_OK)
		rc = lethe_fail(a->host, LETHE_ERR_IO, "cannot write the projection count");
	return rc;
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct agem *a = self(p);
	if (version != 1)
		return lethe_fail(a->host, LETHE_ERR_INVALID, "state encoding %u is unknown (this "
				  "plugin reads 1)", version);
	int rc = reservoir_load(&a->mem, in);
	if (rc == LETHE_OK && in->read(in, &a->projections, sizeof(a->projections)) != LETHE_OK)
		rc = lethe_fail(a->host, LETHE_ERR_IO, "the state is truncated in its projection "
				"count");
	if (rc == LETHE_OK)
		reservoir_report(&a->mem);
	return rc;
}

static void destroy(lethe_plugin *p)
{
	struct agem *a = self(p);
	reservoir_free(&a->mem);
	free(a->x);
	free(a->y);
	free(a->tasks);
	free(a->ref);
	free(a);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	const lethe_run_info *run = host->run_info(host);
	struct agem *a = calloc(1, sizeof(*a));
	if (!a) {
		host->error(host, "out of memory");
		return NULL;
	}
	a->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = a,
		.destroy = destroy,
		.before_task = before_task,
		.on_batch = on_batch,
		.on_gradient = on_gradient,
		.after_task = after_task,
		.on_forget = on_forget,
		.save = save,
		.load = load,
	};
	a->host = host;
	a->dim = run->input_dim;
	a->sample_size = (size_t)(v[P_SAMPLE_SIZE].i ? v[P_SAMPLE_SIZE].i : run->batch_size);
	if (reservoir_init(&a->mem, host, (size_t)v[P_MAX_STORED].i, 0) != LETHE_OK) {
		destroy(&a->plugin);
		return NULL;
	}
	uint64_t P;
	host->model_params(host, host->model(host), &P);
	a->x = malloc(a->sample_size * a->dim * sizeof(float));
	a->y = malloc(a->sample_size * sizeof(int32_t));
	a->tasks = malloc(a->sample_size * sizeof(uint32_t));
	a->ref = malloc(P * sizeof(float));
	if (!a->x || !a->y || !a->tasks || !a->ref) {
		host->error(host, "out of memory");
		destroy(&a->plugin);
		return NULL;
	}
	reservoir_report(&a->mem);
	return &a->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "agem",
	.version = "1.0",
	.description = "averaged GEM: one projection on a memory batch's gradient (Chaudhry et al. "
		       "2019)",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
