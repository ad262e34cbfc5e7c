/* Allocation counting for the tests that prove a hot path allocates nothing. Linking
 * alloc_hook.c replaces malloc, calloc and realloc for the whole process: while alloc_counting
 * is set each call is counted, and refused too if alloc_failing is set, except the BLAS
 * library's own (some OpenBLAS kernels allocate inside a product).
 * ASan owns malloc, so sanitized builds define ALLOC_HOOK_OFF and leave these tests out. */
#ifndef LETHE_ALLOC_HOOK_H
#define LETHE_ALLOC_HOOK_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_HOOK_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_HOOK_OFF 1
#endif
#endif

extern int alloc_counting, alloc_failing;
extern size_t alloc_count;

#endif
