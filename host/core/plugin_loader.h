/* Finding and opening plugin files: the search path, dlopen, and the checks that make a file a
 * plugin this host can run (entry symbol, ABI version, struct sizes, parameter declarations). */
#ifndef LETHE_PLUGIN_LOADER_H
#define LETHE_PLUGIN_LOADER_H

#include <stddef.h>

#include <lethe/plugin.h>

#include "util/error.h"

#define PLUGIN_PATH_MAX 32

/* Directories searched in order: --plugin-path, then $LETHE_PLUGIN_PATH, then the build tree's
 * plugins/ when this binary runs from its build tree, then the installed plugin directory. */
struct plugin_path {
	size_t count;
	char *dirs[PLUGIN_PATH_MAX];
};

/* option may be NULL; it and the environment variable are colon-separated lists. */
void plugin_path_init(struct plugin_path *pp, const char *option);
void plugin_path_free(struct plugin_path *pp);

/* Resolves a plugin name to a file: in each directory D, D/NAME.so, then D/NAME/.libs/NAME.so
 * (a build tree's layout). A name with a '/' is taken as a path. The error lists the
 * directories searched and a near name when one exists. */
int plugin_path_find(const struct plugin_path *pp, const char *name, char *out, size_t size,
		     struct error *e);

/* Calls fn for every plugin file in the path (the same layouts), in path order. */
void plugin_path_each(const struct plugin_path *pp, void (*fn)(const char *file, void *ctx),
		      void *ctx);

/* A plugin file, opened and checked. entry and params are the host's zero-extended copies, so
 * fields a plugin built against an older minor lacks read as zero. */
struct plugin_file {
	char *path;
	void *handle;
	lethe_plugin_entry entry;
	lethe_param_decl *params;
	lethe_version plugin_abi;
};

/* dlopen(RTLD_NOW | RTLD_LOCAL) and check. Before dlopen runs any of its code, the file is
 * refused if someone else could have changed it, as ssh refuses such keys: the file and the
 * directory that holds it (through a symlink, the target's too) must be owned by you or root,
 * not writable by anyone (but a sticky directory such as /tmp), and writable by their group only
 * if yours. Errors name the file and the reason: that, not a shared object (dlerror's words),
 * no entry symbol, another ABI major or a newer minor (both versions named), a struct too small,
 * a missing create, a bad name, a parameter whose default is not valid. */
int plugin_file_open(struct plugin_file *pf, const char *path, struct error *e);
void plugin_file_close(struct plugin_file *pf);

#endif
