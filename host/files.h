/* Files a run leaves behind: directories made as needed, and files replaced whole, through a
 * temporary file and a rename, so a reader or a crash sees the old file or the new one, never
 * half of one. */
#ifndef LETHE_FILES_H
#define LETHE_FILES_H

#include <stdio.h>

#include "error.h"

/* mkdir -p dir. The error names the component that could not be made and why. */
int files_make_dirs(const char *dir, struct error *e);

/* Writes f's contents; 0 or -1 (errno set where it means something). */
typedef int (*files_writer)(FILE *f, const void *data);

/* Writes dir/name through dir/.name.tmp: write, flush, fsync, rename. On failure the temporary
 * file is gone, dir/name is as it was, and the error names dir/name and the cause. */
int files_replace(const char *dir, const char *name, files_writer write, const void *data,
		  struct error *e);

#endif
