#define _GNU_SOURCE
#include "util/files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a path is when it is not a regular file, for messages. */
static const char *file_kind(mode_t mode)
{
	return S_ISDIR(mode)	? "a directory"
	       : S_ISFIFO(mode) ? "a FIFO"
	       : S_ISCHR(mode)	? "a character device"
	       : S_ISBLK(mode)	? "a block device"
	       : S_ISSOCK(mode) ? "a socket"
				: "of an unknown type";
}

int files_open_regular(const char *path, struct stat *st, struct error *e)
{
	struct stat own;
	st = st ? st : &own;
	/* Non-blocking: a FIFO would wait for a writer here, a tty or a tape for their device. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	int flags = -1, err = fd < 0 ? errno : 0;
	if (!err && (fstat(fd, st) != 0 || (flags = fcntl(fd, F_GETFL)) < 0))
		err = errno;
	if (!err && !S_ISREG(st->st_mode)) {
		close(fd);
		error_set(e, "%s: %s, not a regular file", path, file_kind(st->st_mode));
		errno = S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
		return -1;
	}
	if (!err && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
		err = errno;
	if (err) {
		if (fd >= 0)
			close(fd);
		error_set(e, "%s: cannot open: %s", path, strerror(err));
		errno = err;
		return -1;
	}
	return fd;
}

FILE *files_fopen_regular(const char *path, struct error *e)
{
	int fd = files_open_regular(path, NULL, e);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "r");
	if (!f) {
		int err = errno;
		close(fd);
		error_set(e, "%s: cannot open: %s", path, strerror(err));
		errno = err;
	}
	return f;
}

int files_lock(const char *dir, const char *what, struct error *e)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.lock", dir, what) >= sizeof(path))
		return error_set(e, "%s: %s", dir, strerror(ENAMETOOLONG));
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
	if (fd < 0)
		return error_set(e, "%s: cannot write in it: %s", dir, strerror(errno));
	/* flock, not fcntl: the lock belongs to this descriptor, and goes when the process does,
	 * however it ends; the file stays, as removing it would race with the next locker. */
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		char pid[32] = "";
		ssize_t n = err == EWOULDBLOCK ? pread(fd, pid, sizeof(pid) - 1, 0) : -1;
		close(fd);
		if (err != EWOULDBLOCK)
			return error_set(e, "%s: cannot lock it: %s", path, strerror(err));
		pid[n > 0 ? n : 0] = '\0';
		long holder = strtol(pid, NULL, 10);
		if (holder > 0)
			return error_set(e, "%s: another lethe %s is using it (pid %ld)", dir, what,
					 holder);
		return error_set(e, "%s: another lethe %s is using it", dir, what);
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	errno = 0;
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		int err = errno ? errno : EIO;
		close(fd);
		return error_set(e, "%s: cannot write in it: %s", dir, strerror(err));
	}
	return fd;
}

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

/* The rename reaches the disk only with its directory's entry: fsync the directory too. A file
 * system that cannot sync a directory says EINVAL, and has nothing to make durable. */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int rc = fsync(fd) != 0 && errno != EINVAL ? errno : 0;
	close(fd);
	return rc;
}

int files_replace(const char *dir, const char *name, mode_t mode, files_writer write,
		  const void *data, struct error *e)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	/* tmp is the longer name: if it fits, path does. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, name, (long)getpid()) >=
	    sizeof(tmp)) {
		error_set(e, "%s/%s: %s", dir, name, strerror(ENAMETOOLONG));
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);

	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int err = f ? 0 : errno;
	if (!f && fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	struct error own = { "" };
	errno = 0;
	if (f && (write(f, data, &own) != 0 || fflush(f) != 0 || fsync(fileno(f)) != 0))
		err = own.msg[0] ? 0 : errno ? errno : EIO;
	if (f && fclose(f) != 0 && !err && !own.msg[0])
		err = errno;
	if (!err && !own.msg[0] && rename(tmp, path) != 0)
		err = errno;
	if (err || own.msg[0]) {
		unlink(tmp);
		if (own.msg[0])
			error_set(e, "%s: %s", path, own.msg);
		else
			error_set(e, "%s: %s", path, strerror(err));
		errno = err;
		return -1;
	}
	if ((err = sync_dir(dir)) != 0) {
		error_set(e, "%s: %s", path, strerror(err));
		errno = err;
		return -1;
	}
	return 0;
}
