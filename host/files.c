#define _GNU_SOURCE
#include "files.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int files_make_dirs(const char *dir, struct error *e)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s", dir) >= sizeof(path))
		return error_set(e, "%s: %s", dir, strerror(ENAMETOOLONG));
	for (char *p = path + (*path == '/');; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0777) != 0 && errno != EEXIST)
			return error_set(e, "%s: %s", path, strerror(errno));
		if (c == '\0')
			break;
		*p = c;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return error_set(e, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_set(e, "%s: %s", path, strerror(ENOTDIR));
	return 0;
}

int files_replace(const char *dir, const char *name, files_writer write, const void *data,
		  struct error *e)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	/* tmp is the longer name: if it fits, path does. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp))
		return error_set(e, "%s/%s: %s", dir, name, strerror(ENAMETOOLONG));
	snprintf(path, sizeof(path), "%s/%s", dir, name);

	FILE *f = fopen(tmp, "w");
	if (!f)
		return error_set(e, "%s: %s", path, strerror(errno));
	int err = 0;
	errno = 0;
	if (write(f, data) != 0 || fflush(f) != 0 || fsync(fileno(f)) != 0)
		err = errno ? errno : EIO;
	if (fclose(f) != 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) != 0)
		err = errno;
	if (err) {
		unlink(tmp);
		return error_set(e, "%s: %s", path, strerror(err));
	}
	return 0;
}
