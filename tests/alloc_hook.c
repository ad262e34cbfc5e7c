#define _GNU_SOURCE /* dladdr */
#include "alloc_hook.h"

#include <dlfcn.h>
#include <stdlib.h> /* the prototypes of what this file replaces */
#include <string.h>

int alloc_counting, alloc_failing;
size_t alloc_count;

#ifndef ALLOC_HOOK_OFF
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);

/* Whether the allocation's caller is the BLAS library: some of OpenBLAS's kernels allocate inside
 * a product (Cooperlake's small-matrix sgemm, for some shapes), which is not the code under
 * test's doing and would make these tests depend on the kernel the machine picks. */
static int from_blas(const void *caller)
{
	Dl_info at;
	if (!dladdr(caller, &at) || !at.dli_fname)
		return 0;
	const char *name = strrchr(at.dli_fname, '/');
	name = name ? name + 1 : at.dli_fname;
	return !strncmp(name, "lib", 3) && strstr(name, "blas");
}

static int alloc_refused(const void *caller)
{
	if (!alloc_counting || from_blas(caller))
		return 0;
	alloc_count++;
	return alloc_failing;
}

void *malloc(size_t size)
{
	return alloc_refused(__builtin_return_address(0)) ? NULL : __libc_malloc(size);
}

void *calloc(size_t count, size_t size)
{
	return alloc_refused(__builtin_return_address(0)) ? NULL : __libc_calloc(count, size);
}

void *realloc(void *p, size_t size)
{
	return alloc_refused(__builtin_return_address(0)) ? NULL : __libc_realloc(p, size);
}
#endif
