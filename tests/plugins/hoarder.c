/* A test plugin that breaks the promise of unlearning on purpose: it keeps the first training
 * rows it sees (their ids and their bytes as the batch holds them), forgets nothing when asked
 * to, and saves them with its state, so that `lethe audit` must find a forgotten sample. With
 * keep = 0 it keeps nothing and is an honest no-op unlearner. */
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>

#define ROWS_MAX 8

enum { P_KEEP, P_COUNT };

static const lethe_param_decl params[] = {
	{ .struct_size = sizeof(lethe_param_decl), .key = "keep", .type = LETHE_PARAM_INT,
	  .default_value = "4", .min = 0,
	  .max = ROWS_MAX, .help = "training rows kept for ever" },
};

struct hoarder {
	lethe_plugin plugin;
	uint32_t keep, kept, dim;
	uint64_t ids[ROWS_MAX];
	float *rows;
};

static void destroy(lethe_plugin *p)
{
	struct hoarder *h = p->plugin_data;
	free(h->rows);
	free(h);
}

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	struct hoarder *h = p->plugin_data;
	if (!h->rows && h->keep) {
		h->rows = calloc((size_t)h->keep * b->dim, sizeof(float));
		if (!h->rows)
			return LETHE_ERR_NOMEM;
		h->dim = b->dim;
	}
	for (size_t i = 0; i < b->n_host && h->kept < h->keep; i++, h->kept++) {
		h->ids[h->kept] = b->ids[i];
		memcpy(h->rows + (size_t)h->kept * h->dim, b->x + i * b->dim,
		       h->dim * sizeof(float));
	}
	return LETHE_OK;
}

static int unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	(void)p;
	(void)req;
	return LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct hoarder *h = p->plugin_data;
	uint32_t head[2] = { h->kept, h->dim };
	if (out->write(out, head, sizeof(head)) != LETHE_OK ||
	    out->write(out, h->ids, sizeof(h->ids)) != LETHE_OK)
		return LETHE_ERR_IO;
	if (h->kept && out->write(out, h->rows, (uint64_t)h->kept * h->dim * sizeof(float)) !=
			       LETHE_OK)
		return LETHE_ERR_IO;
	return LETHE_OK;
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct hoarder *h = p->plugin_data;
	uint32_t head[2];
	(void)version;
	if (in->read(in, head, sizeof(head)) != LETHE_OK || head[0] > h->keep ||
	    in->read(in, h->ids, sizeof(h->ids)) != LETHE_OK)
		return LETHE_ERR_IO;
	h->kept = head[0];
	h->dim = head[1];
	if (h->kept) {
		free(h->rows);
		h->rows = calloc((size_t)h->keep * h->dim, sizeof(float));
		if (!h->rows)
			return LETHE_ERR_NOMEM;
		if (in->read(in, h->rows, (uint64_t)h->kept * h->dim * sizeof(float)) != LETHE_OK)
			return LETHE_ERR_IO;
	}
	return LETHE_OK;
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *values)
{
	struct hoarder *h = calloc(1, sizeof(*h));
	if (!h) {
		host->error(host, "out of memory");
		return NULL;
	}
	h->keep = (uint32_t)values[P_KEEP].i;
	h->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = h,
		.destroy = destroy,
		.on_batch = on_batch,
		.unlearn = unlearn,
		.save = save,
		.load = load,
	};
	return &h->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "hoarder",
	.version = "1.0",
	.description = "test plugin: keeps its first training rows through every forget request",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
