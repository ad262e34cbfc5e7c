/* er_ace: experience replay with the asymmetric cross-entropy (Caccia et al., "New Insights on
 * Reducing Abrupt Representation Change in Online Continual Learning", ICLR 2022).
 *
 * Memory: a reservoir of max_stored samples (../common/reservoir.h), each training sample
 * offered once, after its batch's draw. From the second task on every batch gains replay_batch
 * rows drawn from it without replacement, and the loss is two means:
 *
 *	L = mean over the incoming rows of CE restricted to the classes not masked
 *	  + mean over the replayed rows of the full CE.
 *
 * The incoming rows' CE leaves out the logits of classes seen before but absent from the
 * incoming batch, so that new data does not push old classes' logits down; classes no batch
 * has shown yet stay in, as in the authors' code (and mammoth's): its mask is present ∪
 * unseen. In the first task nothing is masked (no old class exists, nor memory). Under
 * task-incremental the host's mask (the row's task) applies too.
 *
 * The host's loss weighs every row 1/n; on_logits moves each row to its share above, adding
 * the difference to dlogits (../common/xent.h). Rows other plugins appended keep the host's.
 *
 * Defaults: max_stored 500, the rehearsal scenarios' budget; replay_batch = train.batch_size,
 * as the paper (and mammoth's minibatch_size = batch_size) draws a memory batch as large as the
 * incoming one.
 *
 * Forget requests drop every stored sample they list. Figures: stored_samples, stored_bytes.
 *
 * State, version 1, native byte order: the memory (reservoir_save), then num_classes bytes of
 * the classes seen so far. */
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/reservoir.h"
#include "../common/xent.h"

enum { P_MAX_STORED, P_REPLAY_BATCH, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "max_stored", LETHE_PARAM_INT, "500", 1, 1e7, NULL,
	  "samples stored, over all tasks (500: the rehearsal scenarios' budget)" },
	{ sizeof(lethe_param_decl), "replay_batch", LETHE_PARAM_INT, "0", 0, 1e6, NULL,
	  "stored samples replayed with every batch (0: train.batch_size, as the paper)" },
};

struct er_ace {
	lethe_plugin plugin;
	const lethe_host *host;
	struct reservoir mem;
	size_t replay_batch, classes;
	uint8_t *masks;	  /* the host's per-task masks, or NULL (xent_masks) */
	uint8_t *seen;	  /* classes: shown by some incoming batch so far */
	uint8_t *allow;	  /* classes: the incoming rows' mask of this batch */
	size_t first, drawn; /* this batch's replayed rows: [first, first + drawn) */
};

static struct er_ace *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	struct er_ace *e = self(p);
	size_t fresh = b->n_host;
	e->first = b->n;
	e->drawn = b->task ? reservoir_draw(&e->mem, e->replay_batch) : 0;
	int rc = LETHE_OK;
	for (size_t i = 0; i < e->drawn && rc == LETHE_OK; i++)
		rc = reservoir_append(&e->mem, b, e->mem.order[i]);
	/* Offered after the draw, so that a batch never replays its own samples. */
	for (size_t i = 0; i < fresh && b->epoch == 0 && rc == LETHE_OK; i++)
		if (b->tasks[i] == b->task)
			rc = reservoir_offer(&e->mem, b->ids[i], b->tasks[i], NULL);
	return rc;
}

static int on_logits(lethe_plugin *p, const lethe_batch *b, const float *logits, float *dlogits,
		     double *loss)
{
	struct er_ace *e = self(p);
	size_t C = e->classes, m = b->n_host;
	memset(e->allow, 0, C);
	for (size_t i = 0; i < m; i++)
		e->allow[b->y[i]] = 1;
	for (size_t j = 0; j < C; j++) {
		e->seen[j] |= e->allow[j];
		e->allow[j] |= !e->seen[j];
	}
	if (b->task == 0)
		return LETHE_OK;
	double n = (double)b->n, added = 0.0;
	uint8_t *row = e->allow + C; /* allow's second half: one row's mask */
	for (size_t i = 0; i < m; i++) {
		const float *z = logits + i * C;
		float *dz = dlogits + i * C;
		const uint8_t *host = xent_row_mask(e->masks, b, i, C);
		for (size_t j = 0; j < C; j++)
			row[j] = e->allow[j] && (!host || host[j]);
		added += xent_add(z, C, b->y[i], host, -1.0 / n, dz);
		added += xent_add(z, C, b->y[i], row, 1.0 / (double)m, dz);
	}
	for (size_t i = e->first; i < e->first + e->drawn; i++)
		added += xent_add(logits + i * C, C, b->y[i], xent_row_mask(e->masks, b, i, C),
				  1.0 / (double)e->drawn - 1.0 / n, dlogits + i * C);
	*loss += added;
	return LETHE_OK;
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	(void)task;
	reservoir_report(&self(p)->mem);
	return LETHE_OK;
}

static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct er_ace *e = self(p);
	size_t dropped = reservoir_forget(&e->mem, req);
	reservoir_report(&e->mem);
	lethe_log(e->host, LETHE_LOG_INFO, "forget: dropped %zu stored samples, %zu left", dropped,
		  e->mem.count);
	return LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct er_ace *e = self(p);
	int rc = reservoir_save(&e->mem, out);
	if (rc == LETHE_OK && out->write(out, e->seen, e->classes) != LETHE_OK)
		rc = lethe_fail(e->host, LETHE_ERR_IO, "cannot write the classes seen");
	return rc;
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct er_ace *e = self(p);
	if (version != 1)
		return lethe_fail(e->host, LETHE_ERR_INVALID, "state encoding %u is unknown (this "
				  "plugin reads 1)", version);
	int rc = reservoir_load(&e->mem, in);
	if (rc == LETHE_OK && in->read(in, e->seen, e->classes) != LETHE_OK)
		rc = lethe_fail(e->host, LETHE_ERR_IO, "the state is truncated in its classes");
	for (size_t j = 0; j < e->classes && rc == LETHE_OK; j++)
		if (e->seen[j] > 1)
			rc = lethe_fail(e->host, LETHE_ERR_INVALID, "the state's class flags are "
					"malformed");
	if (rc == LETHE_OK)
		reservoir_report(&e->mem);
	return rc;
}

static void destroy(lethe_plugin *p)
{
	struct er_ace *e = self(p);
	reservoir_free(&e->mem);
	free(e->masks);
	free(e->seen);
	free(e->allow);
	free(e);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	const lethe_run_info *run = host->run_info(host);
	struct er_ace *e = calloc(1, sizeof(*e));
	if (!e) {
		host->error(host, "out of memory");
		return NULL;
	}
	e->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = e,
		.destroy = destroy,
		.on_batch = on_batch,
		.on_logits = on_logits,
		.after_task = after_task,
		.on_forget = on_forget,
		.save = save,
		.load = load,
	};
	e->host = host;
	e->classes = run->num_classes;
	e->replay_batch = (size_t)(v[P_REPLAY_BATCH].i ? v[P_REPLAY_BATCH].i : run->batch_size);
	if (reservoir_init(&e->mem, host, (size_t)v[P_MAX_STORED].i, 0) != LETHE_OK) {
		destroy(&e->plugin);
		return NULL;
	}
	e->seen = calloc(e->classes, 1);
	e->allow = calloc(2 * e->classes, 1);
	if (!e->seen || !e->allow || xent_masks(host, &e->masks) != LETHE_OK) {
		host->error(host, "out of memory");
		destroy(&e->plugin);
		return NULL;
	}
	if (host->batch_reserve(host, e->replay_batch) != LETHE_OK) {
		destroy(&e->plugin);
		return NULL;
	}
	reservoir_report(&e->mem);
	return &e->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "er_ace",
	.version = "1.0",
	.description = "experience replay with the asymmetric cross-entropy (Caccia et al. 2022)",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
