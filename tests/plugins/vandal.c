/* A test plugin that breaks what the host trusts plugins with, on request: it writes a NaN into
 * whatever one hook may change (the model's parameters, the batch's rows, dlogits, the
 * gradients), hands the host text full of terminal control sequences, or calls a service that
 * cannot return an error with arguments it must refuse. Its constructor also
 * leaves a mark when $LETHE_TEST_CONSTRUCTOR names a file: proof that dlopen ran it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <lethe/lethe.h>

enum { NAN_NONE, NAN_BEFORE_TASK, NAN_BEFORE_EPOCH, NAN_ON_BATCH, NAN_ON_LOGITS,
       NAN_ON_GRADIENT, NAN_AFTER_BATCH, NAN_AFTER_TASK, NAN_ON_FORGET, NAN_UNLEARN };

static const char *const nan_choices[] = { "none", "before_task", "before_epoch", "on_batch",
					   "on_logits", "on_gradient", "after_batch",
					   "after_task", "on_forget", "unlearn", NULL };

enum { TEXT_NONE, TEXT_LOG, TEXT_ERROR };

static const char *const text_choices[] = { "none", "log", "error", NULL };

/* Clears the screen, breaks the line, rings the bell, and returns the cursor, around printable
 * UTF-8 that must come through. */
#define HOSTILE_TEXT "\x1b[2J\nevil\a\r\xc3\xa9t\xc3\xa9"

enum { P_NAN_IN, P_TEXT, P_MISUSE, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "nan_in", LETHE_PARAM_CHOICE, "none", 0, 0, nan_choices,
	  "write a NaN into what this hook may change, the first time it runs" },
	{ sizeof(lethe_param_decl), "text", LETHE_PARAM_CHOICE, "none", 0, 0, text_choices,
	  "log, or fail before the first task with, text holding control characters" },
	{ sizeof(lethe_param_decl), "misuse", LETHE_PARAM_BOOL, "false", 0, 0, NULL,
	  "call saxpy on a NULL vector before each task, then return LETHE_OK" },
};

struct vandal {
	lethe_plugin plugin;
	const lethe_host *host;
	int nan_in;
	int text;
	int misuse;
};

__attribute__((constructor)) static void leave_mark(void)
{
	const char *path = getenv("LETHE_TEST_CONSTRUCTOR");
	FILE *f = path ? fopen(path, "w") : NULL;
	if (f)
		fclose(f);
}

static struct vandal *self(lethe_plugin *p)
{
	return p->plugin_data;
}

/* The first call of hook `which` writes a NaN at v[0] (NULL: the host's parameters). */
static void spoil(struct vandal *v, int which, float *at)
{
	if (v->nan_in != which)
		return;
	v->nan_in = NAN_NONE;
	if (!at)
		at = v->host->model_params(v->host, v->host->model(v->host), NULL);
	at[0] = NAN;
}

static void destroy(lethe_plugin *p)
{
	free(self(p));
}

static int before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct vandal *v = self(p);
	if (v->text == TEXT_LOG && task->index == 0)
		v->host->log(v->host, LETHE_LOG_WARN, HOSTILE_TEXT);
	if (v->text == TEXT_ERROR) {
		v->host->error(v->host, HOSTILE_TEXT);
		return LETHE_ERR;
	}
	if (v->misuse)
		v->host->saxpy(v->host, 1, 1.0f, NULL, NULL);
	spoil(v, NAN_BEFORE_TASK, NULL);
	return LETHE_OK;
}

static int before_epoch(lethe_plugin *p, const lethe_task_info *task, uint32_t epoch,
			int head_only)
{
	(void)task;
	(void)epoch;
	(void)head_only;
	spoil(self(p), NAN_BEFORE_EPOCH, NULL);
	return LETHE_OK;
}

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	spoil(self(p), NAN_ON_BATCH, b->x + (b->n - 1) * b->dim);
	return LETHE_OK;
}

static int on_logits(lethe_plugin *p, const lethe_batch *b, const float *logits, float *dlogits,
		     double *loss)
{
	(void)b;
	(void)logits;
	(void)loss;
	spoil(self(p), NAN_ON_LOGITS, dlogits);
	return LETHE_OK;
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	struct vandal *v = self(p);
	(void)b;
	(void)loss;
	spoil(v, NAN_ON_GRADIENT, v->host->model_grads(v->host, v->host->model(v->host), NULL));
	return LETHE_OK;
}

static int after_batch(lethe_plugin *p, const lethe_batch *b)
{
	(void)b;
	spoil(self(p), NAN_AFTER_BATCH, NULL);
	return LETHE_OK;
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	(void)task;
	spoil(self(p), NAN_AFTER_TASK, NULL);
	return LETHE_OK;
}

static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	(void)req;
	spoil(self(p), NAN_ON_FORGET, NULL);
	return LETHE_OK;
}

static int unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	(void)req;
	spoil(self(p), NAN_UNLEARN, NULL);
	return LETHE_OK;
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *values)
{
	struct vandal *v = calloc(1, sizeof(*v));
	if (!v) {
		host->error(host, "out of memory");
		return NULL;
	}
	v->host = host;
	v->nan_in = (int)values[P_NAN_IN].i;
	v->text = (int)values[P_TEXT].i;
	v->misuse = (int)values[P_MISUSE].i;
	v->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = v,
		.destroy = destroy,
		.before_task = before_task,
		.on_batch = on_batch,
		.on_logits = on_logits,
		.on_gradient = on_gradient,
		.after_batch = after_batch,
		.after_task = after_task,
		.on_forget = on_forget,
		.unlearn = unlearn,
		.before_epoch = before_epoch,
	};
	return &v->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "vandal",
	.version = "1.0",
	.description = "test plugin: writes NaN where a hook may, or hostile text, on request",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
