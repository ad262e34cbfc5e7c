/* A plugin built for a newer minor than this host knows: it may use fields the host lacks. */
#include <lethe/lethe.h>

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	(void)host;
	(void)v;
	return NULL;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = { LETHE_ABI_MAJOR, LETHE_ABI_MINOR + 1, 0 },
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "abi_minor",
	.version = "1.0",
	.description = "test plugin with a future ABI minor",
	.create = create,
};
