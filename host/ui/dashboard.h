/* What the dashboard of `lethe tui` knows: the run as its events told it (progress, time, loss
 * history, accuracy matrix, metrics, forget steps, messages) and the user's side of the screen
 * (selected task, pause, overlay, status). Fed by events and keys, read by the view; it never
 * touches a terminal. Times are on the run's clock: seconds since the engine's t0. */
#ifndef LETHE_DASHBOARD_H
#define LETHE_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/engine.h"
#include "results/metrics.h"

#define DASHBOARD_LOG_MAX 128
#define DASHBOARD_LOSS_MAX 512
#define DASHBOARD_TEXT_MAX 256
#define DASHBOARD_SOURCE_MAX 32

enum dashboard_run {
	DASHBOARD_STARTING, /* before the first step */
	DASHBOARD_TRAINING,
	DASHBOARD_FORGETTING, /* a forget request is being carried out */
	DASHBOARD_FINISHED,
	DASHBOARD_STOPPED, /* the user quit before the end */
	DASHBOARD_FAILED
};

enum dashboard_overlay { DASHBOARD_OVERLAY_NONE, DASHBOARD_OVERLAY_HELP, DASHBOARD_OVERLAY_QUIT };

struct dashboard_log {
	lethe_log_level level;
	double elapsed;
	char source[DASHBOARD_SOURCE_MAX];
	char msg[DASHBOARD_TEXT_MAX];
};

struct dashboard {
	const struct engine *e;
	enum dashboard_run run;

	/* Where training is, from the last batch event. */
	size_t step, epoch, batch, batches;
	uint64_t batches_done, batches_total, samples_done;
	double loss;
	double elapsed; /* run clock of the last event */

	/* Pauses: their time counts neither in the elapsed time shown nor in the ETA. */
	int paused;
	double pause_start;
	double paused_seconds; /* finished pauses */

	/* Training samples per second over windows of about a second of active time. */
	double rate;
	double rate_start;
	uint64_t rate_samples;

	/* The whole run's loss in at most DASHBOARD_LOSS_MAX points, each the mean of loss_group
	 * batches; when full, neighbours merge and the group doubles. */
	double loss_points[DASHBOARD_LOSS_MAX];
	size_t num_loss;
	size_t loss_group, loss_pending;
	double loss_sum;

	/* Results: the matrix itself is the engine's (e->R, e->b, rows_done of it known). */
	size_t rows_done;
	struct metrics_summary summary;
	double forgetting[TASKS_MAX]; /* per task, over the rows done */
	size_t num_unlearning;	      /* forget steps whose figures are in e->unlearning */

	/* Messages of the engine and the plugins, a ring: log_count ever pushed. */
	struct dashboard_log log[DASHBOARD_LOG_MAX];
	size_t log_count;

	/* The user's side. */
	size_t selected;
	int selected_by_user; /* else the selection follows the step being learned */
	enum dashboard_overlay overlay;
	int forget_pending; /* asked for, its outcome not yet known */
	int write_pending;  /* results asked for: the engine's answer is the status */
	char forget_note[DASHBOARD_TEXT_MAX]; /* the outcome of the last forget asked for */
	int forget_note_warn;
	int evidence; /* the unlearning panel shows the evidence of forgetting, not UA..MIA */
	char status[DASHBOARD_TEXT_MAX];
	int user_quit;
	int show_confusion; /* the matrix panel shows the last step's class confusion */
};

void dashboard_init(struct dashboard *d, const struct engine *e);
/* Takes in one engine event. */
void dashboard_event(struct dashboard *d, const struct event *ev);

/* Pauses or resumes at run time now. */
void dashboard_set_paused(struct dashboard *d, int paused, double now);
/* Run time at now less the time spent paused. */
double dashboard_active(const struct dashboard *d, double now);
/* Seconds of training left at the pace so far, pauses excluded; negative while unknown. */
double dashboard_eta(const struct dashboard *d, double now);

/* Switches the matrix panel between the accuracy matrix and the class confusion matrix of the
 * last step done (the status says which, or that no step has finished yet). */
void dashboard_toggle_confusion(struct dashboard *d);

/* Moves the selected task by delta, within the tasks. */
void dashboard_select(struct dashboard *d, long delta);

/* A forget of the selected task was asked for: the engine answers with a FORGET_END event or a
 * warning. */
void dashboard_forget_asked(struct dashboard *d, size_t task);
/* The results so far were asked for: the engine answers with a message. */
void dashboard_write_asked(struct dashboard *d);
/* The unlearning panel switches between UA/RA/TA/MIA and the evidence of forgetting. */
void dashboard_toggle_evidence(struct dashboard *d);
/* The engine is back from serving the requests: what did not answer never will. */
void dashboard_settled(struct dashboard *d);

/* engine_run returned rc (error: its message, or NULL). */
void dashboard_finish(struct dashboard *d, int rc, const char *error);

void dashboard_status(struct dashboard *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The back-th newest message (0 = the newest), NULL past the oldest kept. */
const struct dashboard_log *dashboard_log_at(const struct dashboard *d, size_t back);

#endif
