/* A plugin that does nothing in every hook, for the hook dispatch figure of
 * bench/bench_scenarios.sh: a scenario with eight of these against one with none. A scenario
 * lists a plugin once, so the Makefile builds this one source under eight names (NOOP_NAME). */
#include <stdlib.h>

#include <lethe/lethe.h>

#ifndef NOOP_NAME
#error "build with -DNOOP_NAME='\"noopN\"'"
#endif

static int task_hook(lethe_plugin *p, const lethe_task_info *task)
{
	(void)p;
	(void)task;
	return LETHE_OK;
}

static int on_batch(lethe_plugin *p, lethe_batch *b)
{
	(void)p;
	(void)b;
	return LETHE_OK;
}

static int on_logits(lethe_plugin *p, const lethe_batch *b, const float *logits, float *dlogits,
		     double *loss)
{
	(void)p;
	(void)b;
	(void)logits;
	(void)dlogits;
	(void)loss;
	return LETHE_OK;
}

static int on_gradient(lethe_plugin *p, const lethe_batch *b, double *loss)
{
	(void)p;
	(void)b;
	(void)loss;
	return LETHE_OK;
}

static int after_batch(lethe_plugin *p, const lethe_batch *b)
{
	(void)p;
	(void)b;
	return LETHE_OK;
}

static int before_epoch(lethe_plugin *p, const lethe_task_info *task, uint32_t epoch,
			int head_only)
{
	(void)p;
	(void)task;
	(void)epoch;
	(void)head_only;
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	free(p);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	(void)v;
	lethe_plugin *p = malloc(sizeof(*p));
	if (!p) {
		host->error(host, "out of memory");
		return NULL;
	}
	*p = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.destroy = destroy,
		.before_task = task_hook,
		.on_batch = on_batch,
		.on_logits = on_logits,
		.on_gradient = on_gradient,
		.after_batch = after_batch,
		.after_task = task_hook,
		.before_epoch = before_epoch,
	};
	return p;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = NOOP_NAME,
	.version = "1.0",
	.description = "does nothing in every hook (hook dispatch benchmark)",
	.create = create,
};
