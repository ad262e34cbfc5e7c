/* libFuzzer harness for checkpoint files: checkpoint_parse on the input as it is, then again
 * with a header made valid for it (magic, version, byte order, length and CRC-32), so that the
 * fuzzer gets past the checksum to the payload's parser. Besides crashes it catches a refusal
 * that breaks the one-line rule, and an accepted view that points outside the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "core/checkpoint.h"

static struct checkpoint_view view;

static volatile uint8_t sink; /* what within() reads goes here, so it is really read */

static void within(const uint8_t *data, size_t size, const struct checkpoint_span *s,
		   size_t elem, const char *what)
{
	if (!s->count)
		return;
	const uint8_t *p = s->data;
	if (p < data || p > data + size || s->count > (size_t)(data + size - p) / elem) {
		fprintf(stderr, "fuzz_checkpoint: %s lies outside the input\n", what);
		abort();
	}
	/* Read it all, so that the sanitizers see every byte the view promises. */
	uint8_t sum = 0;
	for (size_t i = 0; i < s->count * elem; i++)
		sum += p[i];
	sink = sum;
}

static void parse(const uint8_t *data, size_t size)
{
	struct error e = { "" };
	if (checkpoint_parse(data, size, &view, &e) != 0) {
		if (!e.msg[0] || strchr(e.msg, '\n')) {
			fprintf(stderr, "fuzz_checkpoint: a refusal breaks the one-line rule: "
				"\"%s\"\n", e.msg);
			abort();
		}
		return;
	}
	within(data, size, &view.settings, 1, "the settings");
	within(data, size, &view.params, sizeof(float), "the parameters");
	within(data, size, &view.velocity, sizeof(float), "the velocity");
	within(data, size, &view.order, sizeof(uint64_t), "the order");
	for (size_t k = 0; k < view.num_tasks; k++)
		within(data, size, &view.train[k], sizeof(uint32_t), "a task's samples");
	within(data, size, &view.R, sizeof(double), "R");
	within(data, size, &view.b, sizeof(double), "b");
	within(data, size, &view.step_seconds, sizeof(double), "the step seconds");
	within(data, size, &view.confusion, sizeof(double), "the confusion");
	for (size_t i = 0; i < view.num_plugins; i++) {
		within(data, size, &view.plugins[i].name, 1, "a plugin's name");
		within(data, size, &view.plugins[i].state, 1, "a plugin's state");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse(data, size);
	if (size < CHECKPOINT_HEADER_SIZE)
		return 0;
	uint8_t *fixed = malloc(size);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	uint32_t version = CHECKPOINT_VERSION, order = CHECKPOINT_BYTE_ORDER;
	uint64_t length = size - CHECKPOINT_HEADER_SIZE;
	uint32_t crc = libdeflate_crc32(0, fixed + CHECKPOINT_HEADER_SIZE, length);
	memcpy(fixed, CHECKPOINT_MAGIC, 8);
	memcpy(fixed + 8, &version, 4);
	memcpy(fixed + 12, &order, 4);
	memcpy(fixed + 16, &length, 8);
	memcpy(fixed + 24, &crc, 4);
	parse(fixed, size);
	free(fixed);
	return 0;
}
