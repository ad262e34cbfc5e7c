/* lethe SDK: the plugin ABI.
 *
 * A plugin is a shared object exporting one symbol, `lethe_entry` (LETHE_ENTRY_SYMBOL),
 * of type lethe_plugin_entry. The host dlopens it (RTLD_NOW | RTLD_LOCAL), checks the ABI
 * version, validates the parameters from the plugin's INI section, and calls create() once per
 * run. The instance's hooks are then called from the training loop, in the order the plugins are
 * listed in the scenario. A NULL hook is skipped.
 *
 * Ownership: what the plugin allocates, the plugin frees (in destroy); what the host hands out,
 * the host frees. Threads: every hook is called on the host's engine thread, one at a time.
 * Errors: a hook returns a lethe_status; anything but LETHE_OK stops the run after the host has
 * written the results of the steps already finished. Call lethe_host.error() first to say why.
 * The host also stops the run, naming the plugin and the hook, when a hook leaves NaN or
 * infinity in what it may change: the model's parameters (before_task, before_epoch,
 * after_batch, after_task, unlearn, on_forget), the batch's inputs (on_batch), dlogits
 * (on_logits), the gradients (on_gradient).
 *
 * C++: every hook, create and destroy is called from C. This header declares lethe_entry with C
 * linkage and default visibility, so a definition after it exports the right symbol in C++
 * too; let no exception leave a hook: catch everything in each one and return an error
 * status. */
#ifndef LETHE_PLUGIN_H
#define LETHE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "host.h"
#include "param.h"
#include "stream.h"
#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LETHE_ENTRY_SYMBOL "lethe_entry"

/* A training batch, owned by the host. Rows 0..n-1 are valid; a plugin may append rows up to
 * capacity (what it asked for with lethe_host.batch_reserve) and must then raise n. */
typedef struct lethe_batch {
	uint32_t struct_size;
	uint32_t task;     /* the task being learned */
	uint32_t epoch;    /* 0-based, within the step */
	uint32_t index;    /* 0-based position of this batch in its epoch */
	uint32_t batches;  /* batches in every epoch of this step */
	size_t n_host;     /* rows the host filled, before any plugin appended */
	size_t n;
	size_t capacity;
	uint32_t dim;
	float *x;          /* capacity x dim */
	int32_t *y;        /* labels */
	uint32_t *tasks;   /* the task each row comes from (masks logits under task-incremental) */
	uint64_t *ids;     /* sample ids */

	/* ABI 1.1 */
	int head_only;     /* a head-only epoch (see lethe_plugin.head_epochs): the trunk is frozen
			    * and only the head's gradients are applied */
} lethe_batch;

typedef enum lethe_forget_kind {
	LETHE_FORGET_CLASS = 0,   /* every sample of the listed classes */
	LETHE_FORGET_TASK = 1,    /* every sample of one task */
	LETHE_FORGET_SAMPLES = 2  /* a chosen subset of one task's samples */
} lethe_forget_kind;

/* A request to forget data. ids lists every training sample covered, sorted ascending, so a
 * plugin can test membership with a binary search (samples of tasks not learned yet included:
 * they leave those tasks too). */
typedef struct lethe_forget_request {
	uint32_t struct_size;
	lethe_forget_kind kind;
	const int32_t *classes; /* the classes, for LETHE_FORGET_CLASS; else NULL */
	size_t num_classes;
	uint32_t task;          /* for LETHE_FORGET_TASK and LETHE_FORGET_SAMPLES */
	const uint64_t *ids;
	size_t num_ids;

	/* ABI 1.1 */
	uint32_t tasks_learned; /* tasks 0..tasks_learned-1 have been learned: D_r is their
				 * training samples less ids */
} lethe_forget_request;

typedef struct lethe_plugin {
	uint32_t struct_size;  /* sizeof(lethe_plugin) as the plugin was built */
	void *plugin_data;     /* the plugin's own */

	/* Frees the instance and everything it allocated. Called once; required. */
	void (*destroy)(struct lethe_plugin *p);

	/* Before the first batch of a task. May run forward/backward on the model, reserve batch
	 * room, and read any task's data. */
	int (*before_task)(struct lethe_plugin *p, const lethe_task_info *task);

	/* After the host filled a batch, before the forward pass. May change the rows, append rows
	 * up to b->capacity (raising b->n), e.g. rehearsal. Must not run forward/backward. */
	int (*on_batch)(struct lethe_plugin *p, lethe_batch *b);

	/* After the forward pass and the cross-entropy. logits are b->n x num_classes; dlogits holds
	 * dL/dlogits of the mean cross-entropy so far. The plugin may add a term to *loss and its
	 * gradient to dlogits (e.g. distillation), or replace both (e.g. a loss restricted to some
	 * classes). The head's input features of the batch are in the head layer's
	 * lethe_layer.input. Must not run forward/backward on the host's model; a clone is fine. */
	int (*on_logits)(struct lethe_plugin *p, const lethe_batch *b, const float *logits,
			 float *dlogits, double *loss);

	/* After the backward pass, before the optimiser step: the model's gradients hold dL/dθ.
	 * The plugin may add a penalty to *loss and its gradient to model_grads (EWC, L2). Must not
	 * run forward/backward on the host's model. */
	int (*on_gradient)(struct lethe_plugin *p, const lethe_batch *b, double *loss);

	/* After the optimiser step. Read-only on the model. */
	int (*after_batch)(struct lethe_plugin *p, const lethe_batch *b);

	/* After the last batch of a task, before evaluation: compute Fisher information, move
	 * anchors, fill buffers. May run forward/backward on the model (gradients are scratch). */
	int (*after_task)(struct lethe_plugin *p, const lethe_task_info *task);

	/* Every plugin hears of every forget request, after the unlearning procedure (the unlearn
	 * of the plugin the forget step names, if it names one) and while the covered samples are
	 * still in the tasks' data, and must drop whatever it keeps of the samples req->ids lists.
	 * Then the samples leave the tasks. */
	int (*on_forget)(struct lethe_plugin *p, const lethe_forget_request *req);

	/* The unlearning procedure, called only on the plugin a forget step names, before any
	 * on_forget and while the covered samples are still in the tasks' data (sample_raw and
	 * task_load reach them; skip req->ids for the retained set). It changes the host's model so
	 * that it forgets req's data; it may run forward/backward on it and on clones. */
	int (*unlearn)(struct lethe_plugin *p, const lethe_forget_request *req);

	/* Writes the instance's state for a checkpoint, in the plugin's own encoding (tagged with
	 * lethe_plugin_entry.state_version). Called between any two batches and between tasks:
	 * write all that load needs to continue the task under way exactly. */
	int (*save)(struct lethe_plugin *p, const lethe_ostream *out);
	/* Restores state that save wrote with encoding `version` (which may be older than the
	 * plugin's state_version: migrate it). Called right after create. */
	int (*load)(struct lethe_plugin *p, const lethe_istream *in, uint32_t version);

	/* ---- ABI 1.1 ---- */

	/* How many of the task's last epochs train the classifier head alone: the trunk frozen, the
	 * head fitted on its (detached) features, as in OVOR's second phase or linear probing.
	 * Called once per task, after before_task, with the scenario's epochs per task; the host
	 * takes the largest answer of all plugins (at most epochs). */
	uint32_t (*head_epochs)(struct lethe_plugin *p, const lethe_task_info *task,
				uint32_t epochs);

	/* Before every epoch of a task (epoch is 0-based; head_only tells its phase). May run
	 * forward/backward on the model and read any task's data, like before_task. */
	int (*before_epoch)(struct lethe_plugin *p, const lethe_task_info *task, uint32_t epoch,
			    int head_only);
} lethe_plugin;

typedef struct lethe_plugin_entry {
	lethe_version abi;     /* LETHE_ABI_VERSION_INIT: first, at a fixed place forever */
	uint32_t struct_size;  /* sizeof(lethe_plugin_entry) */
	const char *name;      /* [a-z0-9_-]+, also the INI section */
	const char *version;   /* the plugin's own version, free form */
	const char *description; /* one line */
	const lethe_param_decl *params;
	uint32_t num_params;
	uint32_t state_version;  /* encoding version of what save writes */

	/* Creates an instance. values has num_params entries, in declaration order, already
	 * validated. Returns NULL on failure after calling host->error(). */
	lethe_plugin *(*create)(const lethe_host *host, const lethe_param_value *values);
} lethe_plugin_entry;

/* The one symbol a plugin exports; define it as
 *	LETHE_EXPORT const lethe_plugin_entry lethe_entry = { .abi = LETHE_ABI_VERSION_INIT, ... };
 */
LETHE_EXPORT extern const lethe_plugin_entry lethe_entry;

#ifdef __cplusplus
}
#endif

#endif
