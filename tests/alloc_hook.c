#include "alloc_hook.h"

#include <stdlib.h> /* the prototypes of what this file replaces */

int alloc_counting, alloc_failing;
size_t alloc_count;

#ifndef ALLOC_HOOK_OFF
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t size);

static int alloc_refused(void)
{
	if (!alloc_counting)
		return 0;
	alloc_count++;
	return alloc_failing;
}

void *malloc(size_t size)
{
	return alloc_refused() ? NULL : __libc_malloc(size);
}

void *calloc(size_t count, size_t size)
{
	return alloc_refused() ? NULL : __libc_calloc(count, size);
}

void *realloc(void *p, size_t size)
{
	return alloc_refused() ? NULL : __libc_realloc(p, size);
}
#endif
