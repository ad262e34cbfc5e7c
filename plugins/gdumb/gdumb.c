/* gdumb: GDumb (Prabhu, Torr and Dokania, "GDumb: A Simple Approach that Questions Our Progress
 * in Continual Learning", ECCV 2020).
 *
 * Memory (the paper's greedy class-balanced sampler): every training sample of the task being
 * learned is offered once, in the task's first epoch; while fewer than max_stored are held it is
 * stored; otherwise, if its class holds fewer than max_stored / |Y| samples (|Y|: the classes
 * met so far, its own included), a random stored sample of the class holding the most (the
 * lowest class among ties) gives it its slot.
 *
 * After every task, before its evaluation, the host's model is set back to the run's initial
 * model (model_initial) and trained from scratch on the memory alone: `epochs` epochs over it,
 * each in a fresh random order, batches of `batch`, the protocol's loss (masked under
 * task-incremental), batch norm in training mode, SGD with lr and the scenario's momentum and
 * weight decay (PyTorch's SGD), all on a clone that then replaces the host's parameters and
 * state. The host's own training on the stream is thus overwritten at every task's end, as the
 * paper's protocol has it (GDumb learns from its memory only). The paper's SGDR schedule, cutmix
 * and masking of the logits to the classes in memory are not kept.
 *
 * Defaults: max_stored 500, the memory scenarios' budget; epochs 10; lr = train.lr and batch =
 * train.batch_size, the scenario's training (the paper trains its own schedule, 256 epochs for
 * its largest settings: too long for the default).
 *
 * Forget requests drop every stored sample they list. Figures: stored_samples, stored_bytes.
 *
 * State, version 1, native byte order: uint64 cap, uint64 dim, uint64 count, num_classes bytes
 * of the classes met, then count x dim pixel bytes, count int32 labels, count uint32 tasks and
 * count uint64 ids. */
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/xent.h"

enum { P_MAX_STORED, P_EPOCHS, P_LR, P_BATCH, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "max_stored", LETHE_PARAM_INT, "500", 1, 1e7, NULL,
	  "samples stored, over all tasks (500: the memory scenarios' budget)" },
	{ sizeof(lethe_param_decl), "epochs", LETHE_PARAM_INT, "10", 1, 1e5, NULL,
	  "epochs of the training from scratch on the memory (10; the paper's longest is 256)" },
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0", 0, 10, NULL,
	  "its learning rate (0: train.lr)" },
	{ sizeof(lethe_param_decl), "batch", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "its batch size (0: train.batch_size)" },
};

struct gdumb {
	lethe_plugin plugin;
	const lethe_host *host;
	size_t cap, count, dim, classes, P, epochs, batch;
	double lr, momentum, decay;
	uint8_t *pixels; /* cap x dim */
	int32_t *y;
	uint32_t *task;
	uint64_t *id;
	size_t *per_class;
	uint8_t *met;	 /* classes met so far */
	uint8_t *masks;	 /* xent_masks */
	lethe_model *net; /* the clone trained from scratch */
	float *x, *logits, *dlogits, *velocity;
	int32_t *batch_y;
	size_t *order;
};

static struct gdumb *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static void report(struct gdumb *g)
{
	g->host->report(g->host, "stored_samples", (double)g->count);
	g->host->report(g->host, "stored_bytes", (double)(g->count * g->dim));
}

/* Uniform in [0, n), n > 0, without modulo bias. */
static uint64_t below(const lethe_host *h, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
	do
		v = h->rng_u64(h);
	while (v >= limit);
	return v % n;
}

static int offer(struct gdumb *g, uint64_t id, uint32_t task)
{
	const uint8_t *pixels;
	int32_t y;
	int rc = g->host->sample_raw(g->host, id, &pixels, &y);
	if (rc != LETHE_OK)
		return rc;
	g->met[y] = 1;
	size_t slot = g->count;
	if (g->count == g->cap) {
		size_t met = 0, largest = 0;
		for (size_t c = 0; c < g->classes; c++) {
			met += g->met[c];
			largest = g->per_class[c] > g->per_class[largest] ? c : largest;
		}
		if (g->per_class[y] * met >= g->cap) /* its class holds cap / |Y| already */
			return LETHE_OK;
		uint64_t r = below(g->host, g->per_class[largest]);
		for (slot = 0; slot < g->count; slot++)
			if ((size_t)g->y[slot] == largest && r-- == 0)
				break;
		g->per_class[largest]--;
	} else {
		g->count++;
	}
	memcpy(g->pixels + slot * g->dim, pixels, g->dim);
	g->y[slot] = y;
	g->task[slot] = task;
	g->id[slot] = id;
	g->per_class[y]++;
	return LETHE_OK;
}

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	struct gdumb *g = self(p);
	int rc = LETHE_OK;
	for (size_t i = 0; i < b->n_host && b->epoch == 0 && rc == LETHE_OK; i++)
		if (b->tasks[i] == b->task)
			rc = offer(g, b->ids[i], b->tasks[i]);
	return rc;
}

/* One SGD step (PyTorch's: weight decay into the gradient, then momentum) of net on memory rows
 * order[at, at + n). */
static int train_batch(struct gdumb *g, size_t at, size_t n, int first)
{
	const lethe_host *h = g->host;
	size_t C = g->classes;
	int32_t *y = g->batch_y;
	for (size_t i = 0; i < n; i++) {
		size_t s = g->order[at + i];
		int rc = h->task_convert(h, g->task[s], g->pixels + s * g->dim, 1, g->x + i * g->dim);
		if (rc != LETHE_OK)
			return rc;
		y[i] = g->y[s];
	}
	int rc = h->model_forward(h, g->net, g->x, n, g->logits);
	if (rc != LETHE_OK)
		return rc;
	memset(g->dlogits, 0, n * C * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		const uint8_t *mask = g->masks ? g->masks + g->task[g->order[at + i]] * C : NULL;
		xent_add(g->logits + i * C, C, y[i], mask, 1.0 / (double)n, g->dlogits + i * C);
	}
	rc = h->model_backward(h, g->net, g->dlogits, n);
	if (rc != LETHE_OK)
		return rc;
	float *theta = h->model_params(h, g->net, NULL), *grad = h->model_grads(h, g->net, NULL);
	for (size_t i = 0; i < g->P; i++) {
		float d = grad[i] + (float)g->decay * theta[i];
		if (g->momentum > 0)
			d = g->velocity[i] = first ? d : (float)g->momentum * g->velocity[i] + d;
		theta[i] -= (float)g->lr * d;
	}
	return LETHE_OK;
}

/* The model trained from scratch on the memory, into the host's. */
static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct gdumb *g = self(p);
	const lethe_host *h = g->host;
	int rc = h->model_copy(h, g->net, h->model_initial(h));
	if (rc == LETHE_OK)
		rc = h->model_set_training(h, g->net, 1);
	int first = 1;
	for (size_t e = 0; e < g->epochs && rc == LETHE_OK && g->count; e++) {
		for (size_t i = 0; i < g->count; i++)
			g->order[i] = i;
		for (size_t i = g->count - 1; i > 0; i--) {
			size_t j = (size_t)below(h, i + 1), t = g->order[i];
			g->order[i] = g->order[j];
			g->order[j] = t;
		}
		for (size_t at = 0; at < g->count && rc == LETHE_OK; at += g->batch) {
			size_t n = g->count - at < g->batch ? g->count - at : g->batch;
			rc = train_batch(g, at, n, first);
			first = 0;
		}
	}
	if (rc == LETHE_OK)
		rc = h->model_set_training(h, g->net, 0);
	if (rc == LETHE_OK)
		rc = h->model_copy(h, h->model(h), g->net);
	if (rc == LETHE_OK)
		lethe_log(h, LETHE_LOG_INFO, "after task %u: trained from scratch on %zu stored "
			  "samples", task->index + 1, g->count);
	report(g);
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
	struct gdumb *g = self(p);
	size_t kept = 0;
	for (size_t i = 0; i < g->count; i++) {
		if (listed(req, g->id[i])) {
			g->per_class[g->y[i]]--;
			continue;
		}
		memmove(g->pixels + kept * g->dim, g->pixels + i * g->dim, g->dim);
		g->y[kept] = g->y[i];
		g->task[kept] = g->task[i];
		g->id[kept] = g->id[i];
		kept++;
	}
	lethe_log(g->host, LETHE_LOG_INFO, "forget: dropped %zu stored samples, %zu left",
		  g->count - kept, kept);
	g->count = kept;
	report(g);
	return LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct gdumb *g = self(p);
	uint64_t head[3] = { g->cap, g->dim, g->count };
	size_t n = g->count;
	int rc = out->write(out, head, sizeof(head));
	if (rc == LETHE_OK)
		rc = out->write(out, g->met, g->classes);
	if (rc == LETHE_OK)
		rc = out->write(out, g->pixels, n * g->dim);
	if (rc == LETHE_OK)
		rc = out->write(out, g->y, n * sizeof(*g->y));
	if (rc == LETHE_OK)
		rc = out->write(out, g->task, n * sizeof(*g->task));
	if (rc == LETHE_OK)
		rc = out->write(out, g->id, n * sizeof(*g->id));
	return rc == LETHE_OK ? rc : lethe_fail(g->host, LETHE_ERR_IO, "cannot write the memory");
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct gdumb *g = self(p);
	if (version != 1)
		return lethe_fail(g->host, LETHE_ERR_INVALID, "state encoding %u is unknown (this "
				  "plugin reads 1)", version);
	uint64_t head[3];
	if (in->read(in, head, sizeof(head)) != LETHE_OK)
		return lethe_fail(g->host, LETHE_ERR_IO, "the state is truncated in its header");
	if (head[0] != g->cap || head[1] != g->dim || head[2] > g->cap)
		return lethe_fail(g->host, LETHE_ERR_INVALID, "the state holds %llu of %llu samples "
				  "of %llu bytes, not up to %zu of %zu", (unsigned long long)head[2],
				  (unsigned long long)head[0], (unsigned long long)head[1], g->cap,
				  g->dim);
	size_t n = g->count = (size_t)head[2];
	if (in->read(in, g->met, g->classes) != LETHE_OK ||
	    in->read(in, g->pixels, n * g->dim) != LETHE_OK ||
	    in->read(in, g->y, n * sizeof(*g->y)) != LETHE_OK ||
	    in->read(in, g->task, n * sizeof(*g->task)) != LETHE_OK ||
	    in->read(in, g->id, n * sizeof(*g->id)) != LETHE_OK)
		return lethe_fail(g->host, LETHE_ERR_IO, "the state is truncated");
	memset(g->per_class, 0, g->classes * sizeof(*g->per_class));
	for (size_t i = 0; i < n; i++) {
		if (g->y[i] < 0 || (size_t)g->y[i] >= g->classes)
			return lethe_fail(g->host, LETHE_ERR_INVALID, "the state's labels are "
					  "malformed");
		g->per_class[g->y[i]]++;
	}
	report(g);
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct gdumb *g = self(p);
	g->host->model_free(g->host, g->net);
	free(g->pixels);
	free(g->y);
	free(g->task);
	free(g->id);
	free(g->per_class);
	free(g->met);
	free(g->masks);
	free(g->x);
	free(g->logits);
	free(g->dlogits);
	free(g->velocity);
	free(g->batch_y);
	free(g->order);
	free(g);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	const lethe_run_info *run = host->run_info(host);
	struct gdumb *g = calloc(1, sizeof(*g));
	if (!g) {
		host->error(host, "out of memory");
		return NULL;
	}
	g->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = g,
		.destroy = destroy,
		.on_batch = on_batch,
		.after_task = after_task,
		.on_forget = on_forget,
		.save = save,
		.load = load,
	};
	g->host = host;
	g->cap = (size_t)v[P_MAX_STORED].i;
	g->epochs = (size_t)v[P_EPOCHS].i;
	g->lr = v[P_LR].f > 0 ? v[P_LR].f : run->lr;
	g->batch = (size_t)(v[P_BATCH].i ? v[P_BATCH].i : run->batch_size);
	g->momentum = run->momentum;
	g->decay = run->weight_decay;
	g->dim = run->input_dim;
	g->classes = run->num_classes;
	uint64_t P;
	host->model_params(host, host->model(host), &P);
	g->P = (size_t)P;
	g->pixels = malloc(g->cap * g->dim);
	g->y = malloc(g->cap * sizeof(*g->y));
	g->task = malloc(g->cap * sizeof(*g->task));
	g->id = malloc(g->cap * sizeof(*g->id));
	g->order = malloc(g->cap * sizeof(*g->order));
	g->per_class = calloc(g->classes, sizeof(*g->per_class));
	g->met = calloc(g->classes, 1);
	g->x = malloc(g->batch * g->dim * sizeof(float));
	g->logits = malloc(g->batch * g->classes * sizeof(float));
	g->dlogits = malloc(g->batch * g->classes * sizeof(float));
	g->velocity = malloc(g->P * sizeof(float));
	g->batch_y = malloc(g->batch * sizeof(int32_t));
	g->net = host->model_clone(host, host->model_initial(host));
	if (!g->pixels || !g->y || !g->task || !g->id || !g->order || !g->per_class || !g->met ||
	    !g->x || !g->logits || !g->dlogits || !g->velocity || !g->batch_y || !g->net ||
	    xent_masks(host, &g->masks) != LETHE_OK) {
		lethe_fail(host, LETHE_ERR_NOMEM, "out of memory for max_stored = %zu samples",
			   g->cap);
		destroy(&g->plugin);
		return NULL;
	}
	report(g);
	return &g->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "gdumb",
	.version = "1.0",
	.description = "GDumb: a class-balanced greedy memory and a model trained from scratch on "
		       "it before each evaluation (Prabhu et al. 2020)",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
