/* lethe SDK: byte streams for plugin state.
 *
 * The host hands a plugin an output stream when it checkpoints and an input stream when it
 * restores. The plugin chooses its own encoding and tags it with lethe_plugin_entry.state_version;
 * load() receives the version the state was written with, so a plugin can migrate old state. */
#ifndef LETHE_STREAM_H
#define LETHE_STREAM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lethe_ostream {
	uint32_t struct_size;
	void *ctx; /* host's; do not touch */
	/* Writes size bytes. Returns LETHE_OK, or an error status if not all could be written. */
	int (*write)(const struct lethe_ostream *s, const void *buf, uint64_t size);
} lethe_ostream;

typedef struct lethe_istream {
	uint32_t struct_size;
	void *ctx; /* host's; do not touch */
	/* Reads exactly size bytes. Returns LETHE_OK, or LETHE_ERR_IO on a short read: the state is
	 * shorter than the plugin expects. */
	int (*read)(const struct lethe_istream *s, void *buf, uint64_t size);
} lethe_istream;

#ifdef __cplusplus
}
#endif

#endif
