// A plugin written in C++ against sdk/ alone, without an extern "C" or a visibility attribute
// of its own: plugin.h's declaration of lethe_entry gives the definition below C linkage and
// default visibility (it is built with -fvisibility=hidden), so the host finds it. It counts batches, says so after each task with
// util.h's helpers, and drops what a forget request names from what it remembers.
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include <lethe/lethe.h>
#include <lethe/util.h>

namespace {

struct counter {
	lethe_plugin plugin;
	const lethe_host *host;
	std::uint64_t batches = 0;
	std::vector<std::uint64_t> seen; // the ids of the last batch
};

counter *self(lethe_plugin *p)
{
	return static_cast<counter *>(p->plugin_data);
}

int on_batch(lethe_plugin *p, lethe_batch *b)
{
	counter *c = self(p);
	c->batches++;
	try {
		c->seen.assign(b->ids, b->ids + b->n);
	} catch (...) {
		return lethe_fail(c->host, LETHE_ERR_NOMEM, "out of memory for %zu ids", b->n);
	}
	return LETHE_OK;
}

int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	counter *c = self(p);
	lethe_log(c->host, LETHE_LOG_INFO, "task %u: %llu batches", task->index + 1,
		  static_cast<unsigned long long>(c->batches));
	c->host->report(c->host, "batches", static_cast<double>(c->batches));
	return LETHE_OK;
}

int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	counter *c = self(p);
	std::size_t kept = 0;
	for (std::uint64_t id : c->seen)
		if (!lethe_forget_covers(req, id))
			c->seen[kept++] = id;
	c->seen.resize(kept);
	return LETHE_OK;
}

void destroy(lethe_plugin *p)
{
	delete self(p);
}

lethe_plugin *create(const lethe_host *host, const lethe_param_value *)
{
	counter *c = new (std::nothrow) counter();
	if (!c) {
		host->error(host, "out of memory");
		return nullptr;
	}
	c->host = host;
	c->plugin.struct_size = sizeof(lethe_plugin);
	c->plugin.plugin_data = c;
	c->plugin.destroy = destroy;
	c->plugin.on_batch = on_batch;
	c->plugin.after_task = after_task;
	c->plugin.on_forget = on_forget;
	return &c->plugin;
}

} // namespace

const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "cxx",
	.version = "1.0",
	.description = "a C++ test plugin: counts batches",
	.params = nullptr,
	.num_params = 0,
	.state_version = 0,
	.create = create,
};
