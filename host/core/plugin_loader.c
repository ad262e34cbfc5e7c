#define _GNU_SOURCE
#include "core/plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scenario/params.h"
#include "scenario/paths.h"

/* A directory named twice (say in LETHE_PLUGIN_PATH and as the build tree) is searched once. */
static void path_add(struct plugin_path *pp, const char *dir, size_t len)
{
	if (len == 0 || pp->count == PLUGIN_PATH_MAX)
		return;
	char *d = strndup(dir, len);
	char real[PATH_MAX], other[PATH_MAX];
	for (size_t i = 0; d && i < pp->count; i++) {
		if (!strcmp(pp->dirs[i], d) ||
		    (realpath(pp->dirs[i], other) && realpath(d, real) && !strcmp(real, other))) {
			free(d);
			return;
		}
	}
	if (d)
		pp->dirs[pp->count++] = d;
}

static void path_add_list(struct plugin_path *pp, const char *list)
{
	while (list && *list) {
		const char *colon = strchr(list, ':');
		size_t len = colon ? (size_t)(colon - list) : strlen(list);
		path_add(pp, list, len);
		list = colon ? colon + 1 : NULL;
	}
}

void plugin_path_init(struct plugin_path *pp, const char *option)
{
	memset(pp, 0, sizeof(*pp));
	path_add_list(pp, option);
	path_add_list(pp, getenv("LETHE_PLUGIN_PATH"));
	/* A freshly built tree finds its own plugins. */
	if (paths_running_from_build_tree())
		path_add_list(pp, LETHE_BUILD_DIR "/plugins");
	path_add_list(pp, LETHE_PLUGIN_DIR);
}

void plugin_path_free(struct plugin_path *pp)
{
	for (size_t i = 0; i < pp->count; i++)
		free(pp->dirs[i]);
	pp->count = 0;
}

static int is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

struct nearest {
	const char *want;
	char best[256];
	size_t dist;
};

static void consider_name(const char *file, void *ctx)
{
	struct nearest *n = ctx;
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	char name[256];
	snprintf(name, sizeof(name), "%s", base);
	char *dot = strstr(name, ".so");
	if (dot)
		*dot = '\0';
	size_t d = params_distance(name, n->want);
	if (d < n->dist) {
		n->dist = d;
		snprintf(n->best, sizeof(n->best), "%s", name);
	}
}

int plugin_path_find(const struct plugin_path *pp, const char *name, char *out, size_t size,
		     struct error *e)
{
	if (strchr(name, '/')) {
		if (!is_file(name))
			return error_set(e, "plugin %s: no such file", name);
		snprintf(out, size, "%s", name);
		return 0;
	}
	for (size_t i = 0; i < pp->count; i++) {
		snprintf(out, size, "%s/%s.so", pp->dirs[i], name);
		if (is_file(out))
			return 0;
		snprintf(out, size, "%s/%s/.libs/%s.so", pp->dirs[i], name, name);
		if (is_file(out))
			return 0;
	}
	char searched[ERROR_MSG_MAX / 2] = "";
	size_t len = 0;
	for (size_t i = 0; i < pp->count && len < sizeof(searched); i++)
		len += (size_t)snprintf(searched + len, sizeof(searched) - len, "%s%s",
					i ? ":" : "", pp->dirs[i]);
	struct nearest near = { .want = name, .dist = (size_t)-1 };
	plugin_path_each(pp, consider_name, &near);
	size_t limit = strlen(name) / 3 > 2 ? strlen(name) / 3 : 2;
	if (near.dist <= limit)
		return error_set(e, "plugin '%s' not found (searched %s); did you mean '%s'?",
				 name, searched, near.best);
	return error_set(e, "plugin '%s' not found (searched %s)", name, searched);
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

void plugin_path_each(const struct plugin_path *pp, void (*fn)(const char *file, void *ctx),
		      void *ctx)
{
	char file[PATH_MAX];
	for (size_t i = 0; i < pp->count; i++) {
		struct dirent **list;
		int n = scandir(pp->dirs[i], &list, NULL, alphasort);
		for (int j = 0; j < n; j++) {
			const char *d = list[j]->d_name;
			if (d[0] != '.') {
				snprintf(file, sizeof(file), "%s/%s", pp->dirs[i], d);
				if (has_suffix(d, ".so") && is_file(file))
					fn(file, ctx);
				snprintf(file, sizeof(file), "%s/%s/.libs/%s.so", pp->dirs[i], d, d);
				if (is_file(file))
					fn(file, ctx);
			}
			free(list[j]);
		}
		if (n >= 0)
			free(list);
	}
}

/* The entry as ABI 1.0 defined it ends with create: anything shorter cannot be a plugin. */
#define ENTRY_MIN_SIZE (offsetof(lethe_plugin_entry, create) + sizeof(void *))
#define DECL_MIN_SIZE (offsetof(lethe_param_decl, help) + sizeof(void *))

static int valid_name(const char *s)
{
	if (!s || !*s || strlen(s) >= 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-'))
			return 0;
	return 1;
}

static int check_params(struct plugin_file *pf, const lethe_param_decl *decls, struct error *e)
{
	uint32_t n = pf->entry.num_params;
	if (n == 0)
		return 0;
	if (!decls)
		return error_set(e, "plugin %s: declares %u parameters but params is NULL", pf->path,
				 n);
	uint32_t stride = decls[0].struct_size;
	if (stride < DECL_MIN_SIZE)
		return error_set(e, "plugin %s: parameter declarations have struct_size %u, below "
				 "the %zu of ABI 1.0", pf->path, stride, (size_t)DECL_MIN_SIZE);
	pf->params = calloc(n, sizeof(*pf->params));
	if (!pf->params)
		return error_set(e, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		const lethe_param_decl *d =
			(const lethe_param_decl *)((const char *)decls + (size_t)i * stride);
		memcpy(&pf->params[i], d, stride < sizeof(*d) ? stride : sizeof(*d));
		lethe_param_decl *p = &pf->params[i];
		if (!valid_name(p->key) || strchr(p->key, '-'))
			return error_set(e, "plugin %s: parameter %u has an invalid key", pf->path,
					 i + 1);
		if (p->type > LETHE_PARAM_STRING)
			return error_set(e, "plugin %s: parameter '%s' has unknown type %d", pf->path,
					 p->key, (int)p->type);
		if (p->type == LETHE_PARAM_CHOICE && (!p->choices || !p->choices[0]))
			return error_set(e, "plugin %s: choice parameter '%s' lists no choices",
					 pf->path, p->key);
		lethe_param_value v;
		struct error pe;
		if (params_parse(p, p->default_value ? p->default_value : "", &v, &pe) != 0)
			return error_set(e, "plugin %s: parameter '%s' has an invalid default: %s",
					 pf->path, p->key, pe.msg);
	}
	return 0;
}

/* One file or directory a plugin's code comes from: it may be changed only by you or root, as
 * ssh's StrictModes asks of keys. Group-writable is fine when it is yours (a private group
 * under umask 002), world-writable only for a sticky directory such as /tmp, where nobody can
 * replace what is not theirs. */
static int trusted(const char *plugin, const char *path, int is_dir, struct error *e)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 0; /* gone: dlopen says so */
	uid_t me = geteuid();
	mode_t mode = st.st_mode & 07777;
	int sticky = is_dir && (mode & S_ISVTX);
	if (st.st_uid != me && st.st_uid != 0)
		return error_set(e, "plugin %s: refused: %s is owned by uid %u, not by you or root",
				 plugin, path, (unsigned)st.st_uid);
	if ((mode & S_IWOTH) && !sticky)
		return error_set(e, "plugin %s: refused: %s is writable by anyone (mode %04o); "
				 "chmod o-w it", plugin, path, (unsigned)mode);
	if ((mode & S_IWGRP) && st.st_uid != me && !sticky)
		return error_set(e, "plugin %s: refused: %s is writable by its group (mode %04o) "
				 "and not yours; chmod g-w it", plugin, path, (unsigned)mode);
	return 0;
}

/* The file, and the directory that holds it (that of the path as given and, through a symlink,
 * the target's): whoever may write there may swap the code. */
static int plugin_trusted(const char *path, struct error *e)
{
	char real[PATH_MAX], dir[PATH_MAX];
	if (trusted(path, path, 0, e) != 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (trusted(path, slash ? dir : ".", 1, e) != 0)
		return -1;
	if (!realpath(path, real))
		return 0;
	slash = strrchr(real, '/');
	*(slash == real ? slash + 1 : slash) = '\0';
	return trusted(path, real, 1, e);
}

int plugin_file_open(struct plugin_file *pf, const char *path, struct error *e)
{
	memset(pf, 0, sizeof(*pf));
	pf->path = strdup(path);
	if (!pf->path)
		return error_set(e, "out of memory");
	/* dlopen runs the file's constructors: nothing is loaded before the check. */
	if (plugin_trusted(path, e) != 0) {
		plugin_file_close(pf);
		return -1;
	}
	dlerror();
	pf->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!pf->handle) {
		const char *why = dlerror();
		error_set(e, "plugin %s: cannot load: %s", path, why ? why : "unknown error");
		plugin_file_close(pf);
		return -1;
	}
	const lethe_plugin_entry *entry = dlsym(pf->handle, LETHE_ENTRY_SYMBOL);
	if (!entry) {
		error_set(e, "plugin %s: no entry symbol '%s' (not a lethe plugin)", path,
			  LETHE_ENTRY_SYMBOL);
		plugin_file_close(pf);
		return -1;
	}
	pf->plugin_abi = entry->abi;
	const lethe_version *v = &entry->abi;
	if (v->major != LETHE_ABI_MAJOR || v->minor > LETHE_ABI_MINOR) {
		error_set(e, "plugin %s: built for ABI %u.%u.%u, but this host speaks %d.%d.%d (%s)",
			  path, v->major, v->minor, v->patch, LETHE_ABI_MAJOR, LETHE_ABI_MINOR,
			  LETHE_ABI_PATCH,
			  v->major != LETHE_ABI_MAJOR ? "major versions differ"
						      : "the plugin's minor is newer");
		plugin_file_close(pf);
		return -1;
	}
	if (entry->struct_size < ENTRY_MIN_SIZE) {
		error_set(e, "plugin %s: entry struct_size %u is below the %zu of ABI 1.0", path,
			  entry->struct_size, (size_t)ENTRY_MIN_SIZE);
		plugin_file_close(pf);
		return -1;
	}
	memcpy(&pf->entry, entry,
	       entry->struct_size < sizeof(pf->entry) ? entry->struct_size : sizeof(pf->entry));
	if (!valid_name(pf->entry.name) || !pf->entry.create) {
		error_set(e, "plugin %s: %s", path,
			  pf->entry.create ? "name must be 1-63 of [a-z0-9_-]" : "create is NULL");
		plugin_file_close(pf);
		return -1;
	}
	if (check_params(pf, entry->params, e) != 0) {
		plugin_file_close(pf);
		return -1;
	}
	return 0;
}

void plugin_file_close(struct plugin_file *pf)
{
	if (pf->handle)
		dlclose(pf->handle);
	free(pf->params);
	free(pf->path);
	memset(pf, 0, sizeof(*pf));
}
