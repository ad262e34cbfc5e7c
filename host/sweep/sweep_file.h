/* A sweep: a base scenario, a list of settings (each a few section.key=value overrides) and a
 * list of seeds; every (setting, seed) pair is one run. Read from a sweep file:
 *   [sweep]  name, scenario (relative to the sweep file, or a shipped name), seeds = 1, 2, 3 or
 *            1-5 (both forms mix), mode = grid | list
 *   [grid]   section.key = v1, v2, ...: the cartesian product, the first key varying slowest;
 *            a value holding commas is written in double quotes ("256,256")
 *   [list]   NAME = section.key=value section.key=value ...: one setting per line, in file
 *            order (INI keys are unique, so each line has a name of its own; it only serves
 *            messages)
 * Runs are numbered setting-major: run r is setting r / num_seeds with seed r % num_seeds. */
#ifndef LETHE_SWEEP_FILE_H
#define LETHE_SWEEP_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "scenario/ini.h"
#include "scenario/scenario.h"
#include "util/error.h"

#define SWEEP_KEY_MAX (2 * INI_NAME_MAX) /* "section.key" */
#define SWEEP_KEYS_MAX 32		 /* overrides in one setting */
#define SWEEP_FOLDER_MAX 200		 /* a setting's folder name, in bytes */
#define SWEEP_SEEDS_MAX 10000
/* Settings x seeds: checking them all takes about 5 s; a sweep file that asks for more is
 * refused before anything is expanded. */
#define SWEEP_RUNS_MAX 100000

struct sweep_value {
	char key[SWEEP_KEY_MAX];
	char *value;
	int line; /* in the sweep file; 0 when read from a plan */
};

struct sweep_setting {
	size_t num_values;
	struct sweep_value *values;
	char *label;			  /* "ewc.lambda=10 train.lr=0.01", "base" for none */
	char folder[SWEEP_FOLDER_MAX + 1]; /* the label made a safe file name */
	int line;			  /* the [list] line; 0 for a grid's product */
};

struct sweep {
	char *path;			/* the sweep file, for messages */
	char name[INI_NAME_MAX];
	char base[SCENARIO_PATH_MAX];	/* the base scenario, resolved */
	int seeds_line;
	size_t num_seeds;
	uint64_t *seeds;
	size_t num_settings, settings_cap;
	struct sweep_setting *settings;
};

/* Reads a sweep file. Errors name the file and line: unknown sections and keys (with the
 * nearest valid one), malformed seeds, keys or values, duplicate settings, a base scenario
 * that does not exist. Settings are not checked against the scenario here (sweep_check). */
int sweep_load(struct sweep *sw, const char *path, struct error *e);

/* Appends a setting of n values, computing its label and folder; two settings may not share
 * a folder. The values are copied. */
int sweep_add_setting(struct sweep *sw, const struct sweep_value *values, size_t n, int line,
		      struct error *e);

/* Parses "1, 2, 5-8" into a fresh array (ascending ranges, no repeats). The message says what
 * is wrong with the text only; the caller adds where. */
int sweep_parse_seeds(const char *text, uint64_t **seeds, size_t *count, struct error *e);

/* A label as a directory name: [A-Za-z0-9._=+,-] kept, every other byte '_', "base" when
 * empty; a label too long keeps its start and gains a hash of the whole, so names stay
 * distinct. */
void sweep_folder(const char *label, char *out, size_t size);

static inline size_t sweep_num_runs(const struct sweep *sw)
{
	return sw->num_settings * sw->num_seeds;
}

/* "runs/FOLDER/seed-S": run r's directory relative to the sweep's output directory. */
void sweep_run_path(const struct sweep *sw, size_t run, char *out, size_t size);

/* Run r's --set overrides as "section.key=value" strings in bufs (malloc'd, freed with
 * sweep_overrides_free): train.threads=1 first (a setting may override it), the setting's
 * values, then train.seed. Returns the count, or -1 when out of memory. */
int sweep_overrides(const struct sweep *sw, size_t run, char **bufs, size_t cap);
void sweep_overrides_free(char **bufs, size_t n);

void sweep_free(struct sweep *sw);

#endif
