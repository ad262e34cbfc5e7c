/* der and derpp: Dark Experience Replay and DER++ (Buzzega et al., "Dark Experience for General
 * Continual Learning: a Strong, Simple Baseline", NeurIPS 2020). One source, two plugins: built
 * with DER_PLUS defined it is derpp.
 *
 * Memory: a reservoir of max_stored samples (../common/reservoir.h), each training sample
 * offered once with the logits z the model gave it in its batch (before that batch's step).
 * Whenever the memory holds something (from the first task's second batch on, as the paper's
 * algorithm) every batch gains replay_batch rows drawn from it without replacement, and derpp
 * a second, independent draw of as many, and the loss is
 *
 *	L = mean over the incoming rows of CE
 *	  + alpha · mean over the first draw's rows and all classes of (h(x') − z')²
 *	  + beta · mean over the second draw's rows of CE (derpp),
 *
 * the paper's, as its code computes it (the MSE a mean over rows x classes). The match is over
 * every logit under every protocol, as stored; the cross-entropies are masked as the host masks.
 * The host's loss weighs every row 1/n; on_logits moves each row to its share above, adding the
 * difference to dlogits (../common/xent.h); the first draw's rows carry no CE. Rows other
 * plugins appended keep the host's.
 *
 * Defaults: max_stored 500, the rehearsal scenarios' budget; replay_batch = train.batch_size;
 * alpha and beta the paper's for a buffer of 500 on sequential and permuted MNIST (its best_args:
 * DER alpha = 1; DER++ alpha = 1, beta = 0.5).
 *
 * Forget requests drop every stored sample they list, logits with it. Figures: stored_samples,
 * stored_bytes (logits included).
 *
 * State, version 1: the memory (reservoir_save, its floats the logits). */
#include <stdlib.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/reservoir.h"
#include "../common/xent.h"

#ifdef DER_PLUS
#define NAME "derpp"
#define DRAWS 2
#else
#define NAME "der"
#define DRAWS 1
#endif

enum { P_MAX_STORED, P_REPLAY_BATCH, P_ALPHA, P_BETA, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "max_stored", LETHE_PARAM_INT, "500", 1, 1e7, NULL,
	  "samples (and their logits) stored, over all tasks (500: the rehearsal scenarios')" },
	{ sizeof(lethe_param_decl), "replay_batch", LETHE_PARAM_INT, "0", 0, 1e6, NULL,
#ifdef DER_PLUS
	  "stored samples in each of the two replay draws a batch (0: train.batch_size)" },
#else
	  "stored samples replayed with every batch (0: train.batch_size)" },
#endif
	{ sizeof(lethe_param_decl), "alpha", LETHE_PARAM_FLOAT, "1", 0, 100, NULL,
	  "weight of the logit match (1: the paper's for a buffer of 500 on MNIST)" },
#ifdef DER_PLUS
	{ sizeof(lethe_param_decl), "beta", LETHE_PARAM_FLOAT, "0.5", 0, 100, NULL,
	  "weight of the replayed cross-entropy (0.5: the paper's for a buffer of 500 on MNIST)" },
#endif
};

#ifdef DER_PLUS
#define NUM_PARAMS P_COUNT
#else
#define NUM_PARAMS P_BETA
#endif

struct der {
	lethe_plugin plugin;
	const lethe_host *host;
	struct reservoir mem;
	size_t replay_batch, classes;
	double alpha, beta;
	uint8_t *masks;	       /* the host's per-task masks, or NULL (xent_masks) */
	size_t *slots;	       /* this batch's first draw: the slot of each row */
	size_t first, drawn[DRAWS]; /* this batch's replayed rows from first: each draw's count */
};

static struct der *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	struct der *d = self(p);
	int rc = LETHE_OK;
	d->first = b->n;
	for (int k = 0; k < DRAWS && rc == LETHE_OK; k++) {
		d->drawn[k] = reservoir_draw(&d->mem, d->replay_batch);
		for (size_t i = 0; i < d->drawn[k] && rc == LETHE_OK; i++) {
			if (k == 0)
				d->slots[i] = d->mem.order[i];
			rc = reservoir_append(&d->mem, b, d->mem.order[i]);
		}
	}
	return rc;
}

/* alpha/(r C) Σ (z − z')² over the first draw's rows, its gradient into dlogits. */
static double der_match(const struct der *d, const float *logits, float *dlogits)
{
	size_t C = d->classes, r = d->drawn[0];
	double scale = d->alpha / ((double)r * (double)C), sum = 0.0;
	for (size_t i = 0; i < r; i++) {
		const float *z = logits + (d->first + i) * C;
		const float *stored = d->mem.extra + d->slots[i] * C;
		float *dz = dlogits + (d->first + i) * C;
		for (size_t j = 0; j < C; j++) {
			double diff = (double)z[j] - stored[j];
			sum += diff * diff;
			dz[j] += (float)(2.0 * scale * diff);
		}
	}
	return scale * sum;
}

static int on_logits(lethe_plugin *p, const lethe_batch *b, const float *logits, float *dlogits,
		     double *loss)
{
	struct der *d = self(p);
	size_t C = d->classes, m = b->n_host, end = d->first;
	double n = (double)b->n, added = 0.0;
	for (int k = 0; k < DRAWS; k++)
		end += d->drawn[k];
	if (end > d->first) {
		for (size_t i = 0; i < m; i++)
			added += xent_add(logits + i * C, C, b->y[i],
					  xent_row_mask(d->masks, b, i, C),
					  1.0 / (double)m - 1.0 / n, dlogits + i * C);
		/* The first draw's rows: the match instead of their CE; derpp's second: beta. */
		for (size_t i = d->first; i < end; i++) {
			double want = i < d->first + d->drawn[0] ? 0.0
								 : d->beta / (double)d->drawn[1 % DRAWS];
			added += xent_add(logits + i * C, C, b->y[i],
					  xent_row_mask(d->masks, b, i, C), want - 1.0 / n,
					  dlogits + i * C);
		}
		if (d->drawn[0])
			added += der_match(d, logits, dlogits);
	}
	*loss += added;
	/* Offered after the draw, with the logits this batch's step starts from. */
	int rc = LETHE_OK;
	for (size_t i = 0; i < m && b->epoch == 0 && rc == LETHE_OK; i++)
		if (b->tasks[i] == b->task)
			rc = reservoir_offer(&d->mem, b->ids[i], b->tasks[i], logits + i * C);
	return rc;
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	(void)task;
	reservoir_report(&self(p)->mem);
	return LETHE_OK;
}

static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct der *d = self(p);
	size_t dropped = reservoir_forget(&d->mem, req);
	reservoir_report(&d->mem);
	lethe_log(d->host, LETHE_LOG_INFO, "forget: dropped %zu stored samples and their logits, "
		  "%zu left", dropped, d->mem.count);
	return LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	return reservoir_save(&self(p)->mem, out);
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct der *d = self(p);
	if (version != 1)
		return lethe_fail(d->host, LETHE_ERR_INVALID, "state encoding %u is unknown (this "
				  "plugin reads 1)", version);
	int rc = reservoir_load(&d->mem, in);
	if (rc == LETHE_OK)
		reservoir_report(&d->mem);
	return rc;
}

static void destroy(lethe_plugin *p)
{
	struct der *d = self(p);
	reservoir_free(&d->mem);
	free(d->masks);
	free(d->slots);
	free(d);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	const lethe_run_info *run = host->run_info(host);
	struct der *d = calloc(1, sizeof(*d));
	if (!d) {
		host->error(host, "out of memory");
		return NULL;
	}
	d->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = d,
		.destroy = destroy,
		.on_batch = on_batch,
		.on_logits = on_logits,
		.after_task = after_task,
		.on_forget = on_forget,
		.save = save,
		.load = load,
	};
	d->host = host;
	d->classes = run->num_classes;
	d->alpha = v[P_ALPHA].f;
#ifdef DER_PLUS
	d->beta = v[P_BETA].f;
#endif
	d->replay_batch = (size_t)(v[P_REPLAY_BATCH].i ? v[P_REPLAY_BATCH].i : run->batch_size);
	if (reservoir_init(&d->mem, host, (size_t)v[P_MAX_STORED].i, d->classes) != LETHE_OK) {
		destroy(&d->plugin);
		return NULL;
	}
	d->slots = malloc(d->replay_batch * sizeof(*d->slots));
	if (!d->slots || xent_masks(host, &d->masks) != LETHE_OK) {
		host->error(host, "out of memory");
		destroy(&d->plugin);
		return NULL;
	}
	if (host->batch_reserve(host, DRAWS * d->replay_batch) != LETHE_OK) {
		destroy(&d->plugin);
		return NULL;
	}
	reservoir_report(&d->mem);
	return &d->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = NAME,
	.version = "1.0",
#ifdef DER_PLUS
	.description = "DER++: replay matching stored logits plus labels (Buzzega et al. 2020)",
#else
	.description = "dark experience replay: replay matching stored logits (Buzzega et al. "
		       "2020)",
#endif
	.params = params,
	.num_params = NUM_PARAMS,
	.state_version = 1,
	.create = create,
};
