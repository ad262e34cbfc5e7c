/* The checkpoint file: the whole state of a run in DIR/checkpoint.lethe, written atomically (a
 * temporary file in DIR, fsync, rename, fsync of DIR: files_replace), so that a run killed at
 * any moment resumes from its last checkpoint and ends as if it had never stopped. The payload
 * streams into the temporary file and the header, which needs its length and CRC, goes in last.
 * This is the format alone: what the engine puts in a view and takes from one is
 * engine_checkpoint.c's (engine_checkpoint, engine_resume).
 *
 * The file, in the writer's byte order (the header says which):
 *	char     magic[8]     CHECKPOINT_MAGIC
 *	uint32   version      CHECKPOINT_VERSION
 *	uint32   byte order   CHECKPOINT_BYTE_ORDER as the writer stores it
 *	uint64   length       of the payload
 *	uint32   crc          CRC-32 (IEEE 802.3, gzip's) of the payload
 *	payload, every integer a uint64 unless said, every real a double, a string a uint64
 *	length and its bytes:
 *	  settings            the scenario's effective settings, "section.key=value" lines
 *			      sorted by section.key, --set included, train.checkpoint_every not
 *	  kernel              (format 2 on) the OpenBLAS kernel that wrote it: another one
 *			      resumes it, with a warning (the products' last bits differ)
 *	  T, P, N, plugins    tasks, model parameters, training samples in the data set, plugins
 *	  steps done          rows of R; the step under way or next
 *	  in step             1: the checkpoint is within that step, at:
 *	  epoch, pos, batch, batches, n, head_from, shuffled (struct checkpoint_position)
 *	  step seconds        spent in the step so far
 *	  batches done, batches total, samples done; seconds elapsed, total seconds
 *	  phases (CHECKPOINT_PHASES), then that many phase seconds
 *	  the engine's RNG    4 x uint64
 *	  augmentation RNG    (format 3 on) 4 x uint64: the training augmentation's stream
 *	  parameters          P floats
 *	  state               (format 3 on) S, then S floats: batch norm's running means and
 *			      variances in the model's layout (0 of them for an MLP)
 *	  momentum            0 or 1, SGD started, and P floats of velocity when 1
 *	  order               in step: n uint64 entries (task << 32 | position), else 0 of them
 *	  per task            its training sample count, then that many uint32 positions
 *	  R, b, step seconds, inter-task confusion: T x T, T, T, T
 *	  forgets asked       count, then each forget step asked for at run time: section,
 *			      after, what, classes (count, each), task, fraction, plugin,
 *			      references, retrain_joint, retrain_epochs, finetune_epochs,
 *			      ascent_epochs, (format 6 on) ascent_lr, relearn_loss,
 *			      relearn_max_epochs
 *	  forget steps done   count, then each: which (< SCENARIO_FORGETS_MAX: the scenario's
 *			      [forgetN], N - 1; else asked, minus that), |D_f|, the plugin
 *			      (int64, -1 for none), its figures (ua, ra, ta, forget_test_acc,
 *			      mia, relearn_epochs, seconds, and from format 4 svc_mia[5],
 *			      loss_auc, kl/js/activation per set interleaved, param_distance,
 *			      param_distance_rel), the references that ran, theirs; from format
 *			      4 whether it has cumulative figures, their |D_f|, its cumulative
 *			      figures and the references' figures; from format 5 the compared
 *			      plugins' count, then each: its index, (format 6 on) the reason
 *			      it failed ("" when it did not), figures, cumulative figures
 *	  per plugin          name, RNG, reserved rows, its figures (count,
 *			      key, value), hooks (CHECKPOINT_HOOKS) and their seconds, and its
 *			      state as engine_plugin_save frames it (uint32 version, uint64
 *			      length, bytes)
 *	  curves              (format 4 on) names: count, each a string; points: count, each
 *			      step, epoch, batch, name index, then the value (a real)
 *	  class confusion     (format 4 on) C, classes; per task a byte, 1 if its step's
 *			      matrix is known; T x C x C counts
 */
#ifndef LETHE_CHECKPOINT_H
#define LETHE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/services.h"
#include "core/unlearn.h"
#include "data/tasks.h"
#include "results/curves.h"
#include "results/results.h"
#include "scenario/ini.h"
#include "scenario/scenario.h"
#include "util/error.h"
#include "util/rng.h"

#define CHECKPOINT_MAGIC "LETHECKP"
/* What it writes; it reads 1 on: format 1 lacks the kernel; 1 and 2 lack the augmentation's
 * stream (those runs never drew from it: it restarts) and the model's state (so only a model
 * without one, an MLP, resumes from them); 1 to 3 lack the curves and the class confusion (a
 * run resumed from them has neither for the part before), the evidence of forgetting and the
 * cumulative figures of a sequence of forget steps (read as NaN and none). */
#define CHECKPOINT_VERSION 6
#define CHECKPOINT_BYTE_ORDER 0x01020304u
#define CHECKPOINT_HEADER_SIZE 28
/* What the format counts: a run's phases and hooks (another would need another format), the
 * forget steps it holds (the scenario's and as many asked for at run time), and the bytes of
 * the BLAS kernel's name, NUL included. */
#define CHECKPOINT_PHASES 5
#define CHECKPOINT_HOOKS 9
#define CHECKPOINT_FORGETS_MAX (2 * SCENARIO_FORGETS_MAX)
#define CHECKPOINT_KERNEL_MAX 64

/* count elements of a checkpoint's array: where they lie in the parsed bytes (not aligned:
 * copy them out with memcpy), or in the run's memory for one to write. */
struct checkpoint_span {
	const unsigned char *data;
	uint64_t count;
};

/* Where the step under way stands (all 0 between steps). */
struct checkpoint_position {
	uint64_t epoch, pos, batch, batches, n, head_from;
	int shuffled;
};

struct checkpoint_plugin {
	struct checkpoint_span name;  /* bytes */
	struct rng rng;
	uint64_t reserved;
	size_t num_metrics;
	struct services_metric metrics[SERVICES_METRICS_MAX];
	double hook_seconds[CHECKPOINT_HOOKS];
	struct checkpoint_span state; /* bytes: the framed record (parsed views only) */
};

struct checkpoint_forget_done {
	uint64_t which;	  /* as the file says */
	uint64_t num_forget;
	int64_t plugin;	  /* index, or -1 */
	unsigned references;
	struct forget_figures figures, reference[REFERENCE_COUNT];
	int has_cumulative;	/* format 4 on */
	uint64_t num_compared;	/* format 5 on */
	int64_t compared[SCENARIO_PLUGINS_MAX]; /* plugin indexes */
	char compared_failed[SCENARIO_PLUGINS_MAX][RESULTS_REASON_MAX]; /* format 6 on */
	struct forget_figures compared_figures[SCENARIO_PLUGINS_MAX];
	struct forget_figures cumulative_compared[SCENARIO_PLUGINS_MAX];
	uint64_t num_forget_cumulative;
	struct forget_figures cumulative, cumulative_reference[REFERENCE_COUNT];
};

/* A run's state as a checkpoint holds it: what checkpoint_write writes, and what
 * checkpoint_parse makes of a file, checked as far as it can be without the run. */
struct checkpoint_view {
	uint32_t version;
	struct checkpoint_span settings; /* bytes: checkpoint_settings */
	struct checkpoint_span kernel;	 /* bytes; none in format 1 */
	uint64_t num_tasks, num_params, num_samples;
	uint64_t steps_done;
	int in_step;
	struct checkpoint_position at;
	double step_seconds_so_far;
	uint64_t batches_done, batches_total, samples_done;
	double elapsed, total_seconds;
	double phase_seconds[CHECKPOINT_PHASES];
	struct rng rng;
	struct rng aug;			 /* format 3 on */
	struct checkpoint_span params;	 /* floats */
	struct checkpoint_span state;	 /* floats; none before format 3 */
	int momentum, sgd_started;
	struct checkpoint_span velocity; /* floats */
	struct checkpoint_span order;	 /* uint64 */
	struct checkpoint_span train[TASKS_MAX]; /* uint32, ascending */
	struct checkpoint_span R, b, step_seconds, confusion; /* doubles */
	size_t num_asked;
	struct scenario_forget asked[CHECKPOINT_FORGETS_MAX];
	size_t num_done;
	struct checkpoint_forget_done done[CHECKPOINT_FORGETS_MAX];
	size_t num_plugins;
	struct checkpoint_plugin plugins[SCENARIO_PLUGINS_MAX];
	/* Format 4 on. To write: curves; parsed: its names (each a string as the file has it)
	 * and points, checked. */
	const struct curves *curves;
	uint64_t num_curve_names;
	struct checkpoint_span curve_names;  /* bytes */
	struct checkpoint_span curve_points; /* CHECKPOINT_POINT_SIZE bytes each */
	uint64_t num_classes;
	struct checkpoint_span class_known;  /* bytes, T */
	struct checkpoint_span class_confusion; /* uint64, T x C x C */
};

/* A curve point in the file: step, epoch, batch, name (uint64 each), value (double). */
#define CHECKPOINT_POINT_SIZE 40

/* The curves of a parsed view (format 4 on) into c, which must be empty: 0, or -1 out of
 * memory. */
int checkpoint_curves(const struct checkpoint_view *v, struct curves *c, struct error *err);

/* The run's identity: the scenario's effective settings as "section.key=value" lines sorted
 * by name, train.checkpoint_every left out (it changes when checkpoints are written, not what
 * a run does). malloc'd, *len bytes; NULL when out of memory. */
char *checkpoint_settings(const struct ini *ini, size_t *len);

/* 0 when v was written by a run of ini's settings; else -1 naming the first that differs. */
int checkpoint_same_settings(const struct checkpoint_view *v, const struct ini *ini,
			     struct error *err);

/* Writes plugin `plugin`'s state into f as one framed record (engine_plugin_save). */
typedef int (*checkpoint_save_fn)(void *ctx, size_t plugin, FILE *f, struct error *err);

/* Writes v to DIR/checkpoint.lethe, each plugin's state by save, replacing the file only once
 * the new one is whole on disk; on failure the previous checkpoint stays, and the message
 * says so. */
int checkpoint_write(const char *dir, const struct checkpoint_view *v, checkpoint_save_fn save,
		     void *ctx, struct error *err);

/* The whole file at path, malloc'd (*size bytes); NULL with the error naming it. */
unsigned char *checkpoint_read(const char *path, size_t *size, struct error *err);

/* Parses size bytes of a checkpoint file into v, which points into data. Refuses, with a
 * message saying why, anything but a whole, uncorrupted checkpoint of this version whose parts
 * agree with each other. Touches nothing else: safe on any bytes. */
int checkpoint_parse(const void *data, size_t size, struct checkpoint_view *v,
		     struct error *err);

#endif
