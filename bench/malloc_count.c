/* An LD_PRELOAD shim that counts heap allocations (malloc, calloc, realloc, posix_memalign,
 * aligned_alloc, memalign) and, at exit, appends the count to the file MALLOC_COUNT_OUT names.
 * bench/bench_methods.sh runs a scenario at one and two epochs under it: the difference over
 * the second epoch's batches is what a strategy allocates per batch. glibc's __libc_* entry
 * points forward the calls, so no dlsym (which itself allocates) is needed. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h> /* memalign */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t k, size_t n);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);

static unsigned long long allocations;

static void count(void)
{
	__atomic_fetch_add(&allocations, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t n)
{
	count();
	return __libc_malloc(n);
}

void *calloc(size_t k, size_t n)
{
	count();
	return __libc_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
	count();
	return __libc_realloc(p, n);
}

void *memalign(size_t align, size_t n)
{
	count();
	return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	count();
	return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	count();
	p = __libc_memalign(align, n);
	if (!p && n)
		return ENOMEM;
	*out = p;
	return 0;
}

/* At exit, without stdio (which may allocate): one line, "PID COUNT", appended. */
__attribute__((destructor)) static void malloc_count_report(void)
{
	const char *path = getenv("MALLOC_COUNT_OUT");
	char line[64];
	int fd, len;

	if (!path || !*path)
		return;
	len = snprintf(line, sizeof(line), "%ld %llu\n", (long)getpid(),
		       __atomic_load_n(&allocations, __ATOMIC_RELAXED));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)len) != len)
		(void)0; /* a bench figure lost, nothing to recover */
	close(fd);
}
