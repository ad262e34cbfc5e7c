/* Where a run's results come from, for metrics.json and the scenario.ini beside it: the lethe
 * that made them (version, git revision), its plugin ABI, the CPU, the command line, when the
 * run started (and each time it was resumed), and the scenario as it ran. */
#ifndef LETHE_PROVENANCE_H
#define LETHE_PROVENANCE_H

#include <jansson.h>

#include "scenario/scenario.h"
#include "util/error.h"

#define PROVENANCE_TIME_MAX 32 /* "2026-01-31T12:00:00Z" */

struct provenance {
	const struct scenario *scenario;	     /* written as DIR/scenario.ini; NULL: none */
	const struct scenario_plugin_decls *plugins; /* scenario->num_plugins of them */
	char cpu[128];
	char started[PROVENANCE_TIME_MAX]; /* the run's first start */
	json_t *command;		   /* that start's argv */
	json_t *resumed;		   /* [{"at": TIME, "command": [...]}, ...]; NULL: never */
};

/* A run starting now, from the command line argv[0..argc). 0, or -1 out of memory. */
int provenance_init(struct provenance *p, int argc, char *const *argv);

/* A run resumed now in dir: its first start and command from dir/metrics.json, when there is
 * one that says (else this start counts as the first), and this start added to "resumed". */
int provenance_resume(struct provenance *p, const char *dir, int argc, char *const *argv);

/* Adds "lethe" ({"version", "revision"}), "abi", "cpu", "command", "started", "ended" (now),
 * and "resumed" when resumed, to root (metrics.json's document). 0, or -1 out of memory. */
int provenance_add(const struct provenance *p, json_t *root);

/* The current time, UTC, ISO 8601, to the second. */
void provenance_now(char buf[PROVENANCE_TIME_MAX]);

void provenance_free(struct provenance *p);

#endif
