/* lethe SDK: ABI version and status codes.
 *
 * The ABI follows semantic versioning. The host loads a plugin whose major equals its own and
 * whose minor is not newer than its own; anything else is refused with both versions named.
 * A minor release only ever appends fields to the end of a struct, so a plugin built against an
 * older minor still works: every struct that crosses the boundary starts with its size. */
#ifndef LETHE_VERSION_H
#define LETHE_VERSION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LETHE_ABI_MAJOR 1
#define LETHE_ABI_MINOR 2
#define LETHE_ABI_PATCH 0

typedef struct lethe_version {
	uint32_t major;
	uint32_t minor;
	uint32_t patch;
} lethe_version;

#define LETHE_ABI_VERSION_INIT { LETHE_ABI_MAJOR, LETHE_ABI_MINOR, LETHE_ABI_PATCH }

/* Every hook and service returns one of these; anything but LETHE_OK stops the run. Before
 * returning an error a plugin should say why through lethe_host.error(). */
enum lethe_status {
	LETHE_OK = 0,
	LETHE_ERR = -1,		/* generic failure */
	LETHE_ERR_NOMEM = -2,	/* an allocation failed */
	LETHE_ERR_INVALID = -3, /* an argument or state is not valid */
	LETHE_ERR_IO = -4,	/* a stream read or write failed */
	LETHE_ERR_NUMERIC = -5	/* a NaN or infinity appeared */
};

#if defined(__GNUC__)
#define LETHE_EXPORT __attribute__((visibility("default")))
#else
#define LETHE_EXPORT
#endif

#ifdef __cplusplus
}
#endif

#endif
