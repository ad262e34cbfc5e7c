#define _GNU_SOURCE
#include "results/provenance.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include <lethe/version.h>

#include "config.h"
#include "revision.h" /* LETHE_REVISION, when built from a git checkout */
#include "util/json_io.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define ABI_TEXT STR(LETHE_ABI_MAJOR) "." STR(LETHE_ABI_MINOR) "." STR(LETHE_ABI_PATCH)

void provenance_now(char buf[PROVENANCE_TIME_MAX])
{
	time_t t = time(NULL);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, PROVENANCE_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, PROVENANCE_TIME_MAX, "unknown");
}

/* /proc/cpuinfo's first "model name", else the machine uname names. */
static void cpu_name(char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) != 0 || !colon)
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, size, "%s", colon);
		fclose(f);
		return;
	}
	if (f)
		fclose(f);
	struct utsname u;
	snprintf(buf, size, "%s", uname(&u) == 0 ? u.machine : "unknown");
}

static json_t *command_line(int argc, char *const *argv)
{
	json_t *a = json_array();
	for (int i = 0; a && i < argc; i++)
		if (json_array_append_new(a, json_string(argv[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int provenance_init(struct provenance *p, int argc, char *const *argv)
{
	memset(p, 0, sizeof(*p));
	cpu_name(p->cpu, sizeof(p->cpu));
	provenance_now(p->started);
	p->command = command_line(argc, argv);
	return p->command ? 0 : -1;
}

int provenance_resume(struct provenance *p, const char *dir, int argc, char *const *argv)
{
	char path[4096];
	struct error e;
	snprintf(path, sizeof(path), "%s/metrics.json", dir);
	json_t *old = json_io_read(path, &e); /* none yet: this start is the first */
	const char *started = json_string_value(json_object_get(old, "started"));
	json_t *command = json_object_get(old, "command");
	json_t *resumed = json_object_get(old, "resumed");
	char now[PROVENANCE_TIME_MAX];
	snprintf(now, sizeof(now), "%s", p->started);
	json_t *here = json_pack("{s:s, s:o}", "at", now, "command", command_line(argc, argv));
	if (started && json_is_array(command)) {
		snprintf(p->started, sizeof(p->started), "%s", started);
		json_decref(p->command);
		p->command = json_incref(command);
	}
	json_decref(p->resumed);
	p->resumed = json_is_array(resumed) ? json_deep_copy(resumed) : json_array();
	int rc = here && p->resumed && json_array_append_new(p->resumed, here) == 0 ? 0 : -1;
	json_decref(old);
	return rc;
}

int provenance_add(const struct provenance *p, json_t *root)
{
	char ended[PROVENANCE_TIME_MAX];
	provenance_now(ended);
#ifdef LETHE_REVISION
	json_t *lethe = json_pack("{s:s, s:s}", "version", PACKAGE_VERSION, "revision",
				  LETHE_REVISION);
#else
	json_t *lethe = json_pack("{s:s}", "version", PACKAGE_VERSION);
#endif
	json_t *more = json_pack("{s:o, s:s, s:s, s:O, s:s, s:s}", "lethe", lethe, "abi",
				 ABI_TEXT, "cpu", p->cpu, "command", p->command, "started",
				 p->started, "ended", ended);
	if (more && p->resumed && json_object_set(more, "resumed", p->resumed) != 0) {
		json_decref(more);
		more = NULL;
	}
	int rc = more && json_object_update(root, more) == 0 ? 0 : -1;
	json_decref(more);
	return rc;
}

void provenance_free(struct provenance *p)
{
	json_decref(p->command);
	json_decref(p->resumed);
	memset(p, 0, sizeof(*p));
}
