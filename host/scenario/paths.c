#include "scenario/paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int paths_running_from_build_tree(void)
{
	char exe[PATH_MAX], want[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	if (!realpath(LETHE_BUILD_DIR "/host", want))
		return 0;
	return strcmp(exe, want) == 0;
}

int paths_resolve_scenario(const char *arg, char *out, size_t size, struct error *e)
{
	snprintf(out, size, "%s", arg);
	if (access(arg, F_OK) == 0 || strchr(arg, '/'))
		return 0;
	const char *dir = paths_running_from_build_tree() ? LETHE_SOURCE_DIR "/scenarios"
							  : LETHE_SCENARIO_DIR;
	const char *suffix = strstr(arg, ".ini") ? "" : ".ini";
	snprintf(out, size, "%s/%s%s", dir, arg, suffix);
	if (access(out, F_OK) == 0)
		return 0;
	snprintf(out, size, "%s", arg);
	return error_set(e, "%s: no such file, nor a shipped scenario in %s", arg, dir);
}
