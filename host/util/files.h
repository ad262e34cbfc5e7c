/* Files a run reads and leaves behind: files the user names opened only when they are regular
 * files (a FIFO would block forever), directories made as needed and locked while in use, and
 * files replaced whole, through a temporary file and a rename, so a reader or a crash sees the
 * old file or the new one, never half of one. */
#ifndef LETHE_FILES_H
#define LETHE_FILES_H

#include <stdio.h>
#include <sys/stat.h>

#include "util/error.h"

/* Opens path for reading without waiting on a FIFO or a device: the descriptor (close-on-exec,
 * blocking) of a regular file, st its status when not NULL; or -1, the error naming path and
 * the cause (a directory, a FIFO, ...). errno is ENOENT when the file does not exist. */
int files_open_regular(const char *path, struct stat *st, struct error *e);

/* The same as a stdio stream, "r". */
FILE *files_fopen_regular(const char *path, struct error *e);

/* Locks dir (which must exist) for this process alone, through dir/WHAT.lock, which holds the
 * holder's pid: the descriptor to keep open as long as the lock lasts (it goes with the process,
 * however it ends), or -1, the error naming dir and the holder, or why the lock file cannot be
 * written there. what ("run", "sweep") names the holder in the message. */
int files_lock(const char *dir, const char *what, struct error *e);

/* mkdir -p dir. The error names the component that could not be made and why. */
int files_make_dirs(const char *dir, struct error *e);

/* Writes a file's new contents to f: 0, or -1 with e set when the cause is its own (a plugin's
 * state it could not get, say), else with errno set or f in error (the file's fault). */
typedef int (*files_writer)(FILE *f, const void *data, struct error *e);

/* Replaces dir/name durably, the one way lethe writes a file it keeps: the contents go to a
 * temporary file beside it (dir/.name.PID.tmp, made with mode less the umask), which is
 * flushed, fsync'd, renamed over dir/name, and dir fsync'd so that the rename lasts too. A
 * reader, or a crash at any moment, finds the old file or the new one, never half of one. On
 * failure the temporary file is gone, dir/name is as it was (unless only the last fsync
 * failed), the error names dir/name and the cause, and errno is the failed call's, or 0 when
 * the writer gave its own reason. */
int files_replace(const char *dir, const char *name, mode_t mode, files_writer write,
		  const void *data, struct error *e);

#endif
