/* A plugin built for an ABI major this host does not speak: the host must refuse it. */
#include <lethe/lethe.h>

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	(void)host;
	(void)v;
	return NULL;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = { LETHE_ABI_MAJOR + 1, 0, 0 },
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "abi_major",
	.version = "1.0",
	.description = "test plugin with a future ABI major",
	.create = create,
};
