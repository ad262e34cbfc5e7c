/* A one-line error message carried up to whoever reports it. */
#ifndef LETHE_ERROR_H
#define LETHE_ERROR_H

#define ERROR_MSG_MAX 1024

struct error {
	char msg[ERROR_MSG_MAX];
};

/* Formats the message (printf style) and returns -1, so `return error_set(e, ...)` reads well.
 * e may be NULL. */
int error_set(struct error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the message already in e. */
int error_prefix(struct error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
