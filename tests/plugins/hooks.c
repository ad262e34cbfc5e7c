/* A test plugin that exercises every hook and most host services, counts the calls, and can be
 * told to fail in any one hook. Its counts reach the tests through log lines and its state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>

enum { FAIL_NONE, FAIL_CREATE, FAIL_BEFORE_TASK, FAIL_ON_BATCH, FAIL_ON_LOGITS, FAIL_ON_GRADIENT,
       FAIL_AFTER_BATCH, FAIL_AFTER_TASK, FAIL_ON_FORGET, FAIL_SAVE, FAIL_LOAD };

static const char *const fail_choices[] = { "none", "create", "before_task", "on_batch",
					    "on_logits", "on_gradient", "after_batch",
					    "after_task", "on_forget", "save", "load", NULL };

#if LETHE_ABI_MINOR >= 3
enum { P_FAIL, P_APPEND, P_PENALTY, P_EXTRA_LOSS, P_NAN, P_HEAD_EPOCHS, P_PREDICT, P_COUNT };
#elif LETHE_ABI_MINOR >= 1
enum { P_FAIL, P_APPEND, P_PENALTY, P_EXTRA_LOSS, P_NAN, P_HEAD_EPOCHS, P_COUNT };
#else
enum { P_FAIL, P_APPEND, P_PENALTY, P_EXTRA_LOSS, P_NAN, P_COUNT };
#endif

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "fail_hook", LETHE_PARAM_CHOICE, "none", 0, 0, fail_choices,
	  "return an error from this hook" },
	{ sizeof(lethe_param_decl), "append", LETHE_PARAM_BOOL, "false", 0, 0, NULL,
	  "append a copy of row 0 to every batch" },
	{ sizeof(lethe_param_decl), "penalty", LETHE_PARAM_FLOAT, "0", 0, 1, NULL,
	  "add penalty/2 * |theta|^2 to the loss and its gradient" },
	{ sizeof(lethe_param_decl), "extra_loss", LETHE_PARAM_FLOAT, "0", 0, 100, NULL,
	  "a constant added to every batch's loss" },
	{ sizeof(lethe_param_decl), "nan_at_batch", LETHE_PARAM_INT, "0", 0, 1000000, NULL,
	  "make the loss NaN at this batch (1-based; 0 = never)" },
#if LETHE_ABI_MINOR >= 1
	{ sizeof(lethe_param_decl), "head_epochs", LETHE_PARAM_INT, "0", 0, 1000, NULL,
	  "ask for this many head-only epochs per task" },
#endif
#if LETHE_ABI_MINOR >= 3
	{ sizeof(lethe_param_decl), "predict_class", LETHE_PARAM_INT, "-1", -1, 1000, NULL,
	  "on_predict: logits 1 for this class and 0 for the others (-1: leave them)" },
#endif
};

struct counts {
	uint64_t before_task, on_batch, on_logits, on_gradient, after_batch, after_task, on_forget,
		forgotten;
};

struct hooks {
	lethe_plugin plugin;
	const lethe_host *host;
	int fail;
	int append;
	double penalty, extra_loss;
	int64_t nan_at;
	struct counts n;
	uint32_t head_epochs;
	uint64_t epochs_seen;
	float *trunk;	  /* the trunk's parameters when the head-only phase began */
	uint64_t trunk_len;
	int64_t predict_class;
	uint64_t predicted; /* rows on_predict saw */
};

static int refuse(struct hooks *h, int which)
{
	if (h->fail != which)
		return LETHE_OK;
	char msg[64];
	snprintf(msg, sizeof(msg), "asked to fail in %s", fail_choices[which]);
	h->host->error(h->host, msg);
	return LETHE_ERR;
}

static struct hooks *self(lethe_plugin *p)
{
	return p->plugin_data;
}

static void say(struct hooks *h, const char *what)
{
	char msg[256];
	snprintf(msg, sizeof(msg),
		 "%s before_task=%llu on_batch=%llu on_logits=%llu on_gradient=%llu "
		 "after_batch=%llu after_task=%llu on_forget=%llu forgotten=%llu",
		 what, (unsigned long long)h->n.before_task, (unsigned long long)h->n.on_batch,
		 (unsigned long long)h->n.on_logits, (unsigned long long)h->n.on_gradient,
		 (unsigned long long)h->n.after_batch, (unsigned long long)h->n.after_task,
		 (unsigned long long)h->n.on_forget, (unsigned long long)h->n.forgotten);
	h->host->log(h->host, LETHE_LOG_INFO, msg);
}

static void destroy(lethe_plugin *p)
{
	free(self(p)->trunk);
	free(self(p));
}

static int before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct hooks *h = self(p);
	h->n.before_task++;
	if (task->num_classes == 0 || task->num_train == 0) {
		h->host->error(h->host, "task_info is empty");
		return LETHE_ERR_INVALID;
	}
	return refuse(h, FAIL_BEFORE_TASK);
}

/* Row 0 must be sample_raw(ids[0]) under its task's transform. */
static int check_row0(struct hooks *h, const lethe_batch *b)
{
	const uint8_t *pixels;
	int32_t y;
	float x[4096];
	if (b->dim > 4096 || h->host->sample_raw(h->host, b->ids[0], &pixels, &y) != LETHE_OK ||
	    h->host->task_convert(h->host, b->tasks[0], pixels, 1, x) != LETHE_OK ||
	    y != b->y[0] || memcmp(x, b->x, b->dim * sizeof(float)) != 0) {
		h->host->error(h->host, "row 0 differs from sample_raw of its id");
		return LETHE_ERR_INVALID;
	}
	return LETHE_OK;
}

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	struct hooks *h = self(p);
	h->n.on_batch++;
	int rc = check_row0(h, b);
	if (rc != LETHE_OK)
		return rc;
	if (h->append) {
		if (b->n + 1 > b->capacity) {
			h->host->error(h->host, "no room reserved in the batch");
			return LETHE_ERR_INVALID;
		}
		memcpy(b->x + b->n * b->dim, b->x, b->dim * sizeof(float));
		b->y[b->n] = b->y[0];
		b->tasks[b->n] = b->tasks[0];
		b->ids[b->n] = b->ids[0];
		b->n++;
	}
	return refuse(h, FAIL_ON_BATCH);
}

static int on_logits(lethe_plugin *p, const lethe_batch *b, const float *logits, float *dlogits,
		     double *loss)
{
	struct hooks *h = self(p);
	(void)dlogits;
	h->n.on_logits++;
	if (!isfinite(logits[0]) || b->n == 0) {
		h->host->error(h->host, "bad logits");
		return LETHE_ERR_NUMERIC;
	}
	*loss += h->extra_loss;
	if (h->nan_at && (int64_t)h->n.on_logits == h->nan_at)
		*loss = NAN;
	return refuse(h, FAIL_ON_LOGITS);
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	struct hooks *h = self(p);
	(void)b;
	h->n.on_gradient++;
	if (h->penalty > 0) {
		uint64_t count;
		lethe_model *m = h->host->model(h->host);
		float *theta = h->host->model_params(h->host, m, &count);
		float *grad = h->host->model_grads(h->host, m, NULL);
		*loss += 0.5 * h->penalty * h->host->sdot(h->host, count, theta, theta);
		h->host->saxpy(h->host, count, (float)h->penalty, theta, grad);
	}
	return refuse(h, FAIL_ON_GRADIENT);
}

static int after_batch(lethe_plugin *p, const lethe_batch *b)
{
	struct hooks *h = self(p);
	(void)b;
	h->n.after_batch++;
	return refuse(h, FAIL_AFTER_BATCH);
}

/* Runs the model services on a clone, as a Fisher computation would. */
static int probe_model(struct hooks *h, const lethe_task_info *task)
{
	const lethe_host *host = h->host;
	const lethe_run_info *run = host->run_info(host);
	size_t n = task->num_train < 4 ? task->num_train : 4;
	uint64_t pos[4] = { 0, 1, 2, 3 };
	float *x = malloc(n * run->input_dim * sizeof(float));
	float *logits = malloc(n * run->num_classes * sizeof(float));
	int32_t y[4];
	int rc = x && logits ? LETHE_OK : LETHE_ERR_NOMEM;
	lethe_model *clone = rc ? NULL : host->model_clone(host, host->model(host));
	if (rc == LETHE_OK && !clone)
		rc = LETHE_ERR_NOMEM;
	if (rc == LETHE_OK)
		rc = host->task_load(host, task->index, LETHE_SPLIT_TRAIN, pos, n, x, y, NULL);
	if (rc == LETHE_OK)
		rc = host->model_forward(host, clone, x, n, logits);
	if (rc == LETHE_OK)
		rc = host->model_backward(host, clone, logits, n);
	lethe_layer layer = { .struct_size = sizeof(layer) };
	uint32_t last = clone ? host->model_num_layers(host, clone) - 1 : 0;
	if (rc == LETHE_OK)
		rc = host->model_layer(host, clone, last, &layer);
	if (rc == LETHE_OK && (!layer.is_head || layer.out != run->num_classes || !layer.delta))
		rc = LETHE_ERR_INVALID;
	if (clone)
		host->model_free(host, clone);
	free(x);
	free(logits);
	if (rc != LETHE_OK)
		host->error(host, "model services misbehaved");
	return rc;
}

/* Nonzero when the trunk moved since the head-only phase began. */
static int trunk_moved(struct hooks *h)
{
	if (!h->trunk)
		return 0;
	float *theta = h->host->model_params(h->host, h->host->model(h->host), NULL);
	int moved = memcmp(theta, h->trunk, h->trunk_len * sizeof(float)) != 0;
	free(h->trunk);
	h->trunk = NULL;
	return moved;
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct hooks *h = self(p);
	h->n.after_task++;
	if (trunk_moved(h)) {
		h->host->error(h->host, "the trunk moved in a head-only epoch");
		return LETHE_ERR_INVALID;
	}
	int rc = probe_model(h, task);
	if (rc != LETHE_OK)
		return rc;
	h->host->report(h->host, "batches", (double)h->n.on_batch);
	h->host->report(h->host, "epochs", (double)h->epochs_seen);
	say(h, "after_task");
	return refuse(h, FAIL_AFTER_TASK);
}

static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct hooks *h = self(p);
	h->n.on_forget++;
	h->n.forgotten += req->num_ids;
	say(h, "on_forget");
	return refuse(h, FAIL_ON_FORGET);
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct hooks *h = self(p);
	int rc = refuse(h, FAIL_SAVE);
	return rc ? rc : out->write(out, &h->n, sizeof(h->n));
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct hooks *h = self(p);
	int rc = refuse(h, FAIL_LOAD);
	if (rc == LETHE_OK && version != 1)
		rc = LETHE_ERR_INVALID;
	if (rc == LETHE_OK)
		rc = in->read(in, &h->n, sizeof(h->n));
	if (rc == LETHE_OK)
		say(h, "loaded");
	return rc;
}

#if LETHE_ABI_MINOR >= 1
static uint32_t head_epochs(lethe_plugin *p, const lethe_task_info *task, uint32_t epochs)
{
	(void)task;
	struct hooks *h = self(p);
	return h->head_epochs < epochs ? h->head_epochs : epochs;
}

/* At the first head-only epoch, keeps the trunk to compare after the task. */
static int before_epoch(lethe_plugin *p, const lethe_task_info *task, uint32_t epoch,
			int head_only)
{
	(void)task;
	(void)epoch;
	struct hooks *h = self(p);
	h->epochs_seen++;
	if (!head_only || h->trunk)
		return LETHE_OK;
	lethe_model *m = h->host->model(h->host);
	lethe_layer head = { .struct_size = sizeof(head) };
	uint32_t last = h->host->model_num_layers(h->host, m) - 1;
	if (h->host->model_layer(h->host, m, last, &head) != LETHE_OK)
		return LETHE_ERR;
	h->trunk_len = head.weight_offset;
	h->trunk = malloc(h->trunk_len * sizeof(float));
	if (!h->trunk)
		return LETHE_ERR_NOMEM;
	memcpy(h->trunk, h->host->model_params(h->host, m, NULL), h->trunk_len * sizeof(float));
	return LETHE_OK;
}
#endif

#if LETHE_ABI_MINOR >= 3
static int on_predict(lethe_plugin *p, const lethe_predict *pb, float *logits)
{
	struct hooks *h = self(p);
	const lethe_run_info *run = h->host->run_info(h->host);
	const lethe_task_info *task = h->host->task_info(h->host, pb->task);
	if (!task || pb->struct_size < sizeof(*pb) || !pb->x || pb->n == 0 ||
	    (run->protocol == LETHE_TASK_INCREMENTAL) != (pb->mask != NULL) ||
	    (pb->mask && !pb->mask[task->classes[0]])) {
		h->host->error(h->host, "bad lethe_predict");
		return LETHE_ERR_INVALID;
	}
	h->predicted += pb->n;
	if (h->predict_class < 0)
		return LETHE_OK;
	for (size_t i = 0; i < pb->n * run->num_classes; i++)
		logits[i] = (int64_t)(i % run->num_classes) == h->predict_class ? 1.0f : 0.0f;
	return LETHE_OK;
}
#endif

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	if (v[P_FAIL].i == FAIL_CREATE) {
		host->error(host, "asked to fail in create");
		return NULL;
	}
	struct hooks *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->host = host;
	h->fail = (int)v[P_FAIL].i;
	h->append = (int)v[P_APPEND].i;
	h->penalty = v[P_PENALTY].f;
	h->extra_loss = v[P_EXTRA_LOSS].f;
	h->nan_at = v[P_NAN].i;
#if LETHE_ABI_MINOR >= 1
	h->head_epochs = (uint32_t)v[P_HEAD_EPOCHS].i;
#endif
#if LETHE_ABI_MINOR >= 3
	h->predict_class = v[P_PREDICT].i;
#endif
	if (h->append && host->batch_reserve(host, 1) != LETHE_OK) {
		free(h);
		return NULL;
	}
	h->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = h,
		.destroy = destroy,
		.before_task = before_task,
		.on_batch = on_batch,
		.on_logits = on_logits,
		.on_gradient = on_gradient,
		.after_batch = after_batch,
		.after_task = after_task,
		.on_forget = on_forget,
		.save = save,
		.load = load,
#if LETHE_ABI_MINOR >= 1
		.head_epochs = head_epochs,
		.before_epoch = before_epoch,
#endif
#if LETHE_ABI_MINOR >= 3
		.on_predict = on_predict,
#endif
	};
	return &h->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "hooks",
	.version = "1.0",
	.description = "test plugin: calls every hook and counts",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
