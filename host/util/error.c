#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int error_set(struct error *e, const char *fmt, ...)
{
	if (!e)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int error_prefix(struct error *e, const char *fmt, ...)
{
	if (!e)
		return -1;
	char prefix[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
	va_end(ap);
	size_t plen = n < 0 ? 0 : strlen(prefix);
	memcpy(prefix + plen, ": ", 3);
	plen += 2;
	/* Shift the old message right, keeping it NUL-terminated when it must be cut. */
	size_t old = strnlen(e->msg, sizeof(e->msg) - 1);
	size_t keep = old + plen < sizeof(e->msg) ? old : sizeof(e->msg) - 1 - plen;
	memmove(e->msg + plen, e->msg, keep);
	e->msg[plen + keep] = '\0';
	memcpy(e->msg, prefix, plen);
	return -1;
}
