/* rehearsal: replays stored samples of earlier tasks while later ones are learned (Gandhi et
 * al., "Catastrophic Interference is Mitigated in Naturalistic Power-Law Learning
 * Environments"), on a power-law schedule or, for comparison, a uniform, exponential or
 * reservoir one. METHODS.md leaves these choices open; this is what the plugin does.
 *
 * Storage. A sample is kept as it is stored on the host: input_dim bytes of raw pixels, its
 * label, its id and its task, never as floats. At most max_stored samples over all tasks.
 * - power-law, uniform, exponential: after each task the buffer gives every task seen so far an
 *   equal share, max_stored / (tasks seen) rounded down: a seeded random subset of the new
 *   task's training samples (host RNG) joins, and older tasks above the share lose random ones.
 * - reservoir: Vitter's algorithm R over every new training sample on_batch sees (rows of the
 *   task being learned, not replayed ones), once per sample id: with epochs > 1 a sample is
 *   offered in the first epoch only. A forget leaves holes that later samples fill first.
 *
 * Replay. Appended rows carry the stored sample's task (its input transform, and its logit mask
 * under task-incremental), label and id.
 * - Schedules: while task t is learned, each earlier task k replays n(d) samples per epoch,
 *   d = t - k, rounded (schedule.h; none if nothing of k is stored), drawn from k's stored
 *   samples without replacement when n(d) <= stored, with it otherwise, afresh every epoch.
 *   The epoch's draw is shuffled and spread evenly: ceil(total / batches) rows a batch, over
 *   the step's batches per epoch (lethe_task_info.batches; every task so far under joint).
 * - reservoir: from the second task on, every batch gains min(replay_batch, stored) samples
 *   drawn without replacement from the whole buffer (the current task's, once stored, too).
 *
 * Forget requests drop every stored sample whose id they list; the reservoir's count of samples
 * seen stays. One in the middle of a task also drops the rest of the epoch's draw, which names
 * slots that moved. Figures, after every task and forget: stored_samples, and stored_bytes =
 * stored x (input_dim + 16), what the pixels, int32 labels, uint64 ids and uint32 tasks take.
 * One INFO line per task says what is stored of each earlier task and how much of it an epoch
 * replays.
 *
 * State, version 2, native byte order: uint32 input_dim, uint64 stored, uint64 seen (the
 * reservoir's count), then stored x input_dim pixel bytes, stored int32 labels, stored uint64
 * ids and stored uint32 tasks (all of version 1); then the task being learned, so that a
 * checkpoint within it resumes the same draws: uint32 task, uint64 batches per epoch, rows per
 * batch, num_tasks x uint64 per-epoch quotas, num_tasks + 1 uint64 group starts, stored
 * uint64 slots in their current order, uint64 plan length, position in the plan, and the plan's
 * uint64 slots. Version 1 loads as a state between tasks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "schedule.h"

enum { P_SCHEDULE, P_MAX_STORED, P_N0, P_N0_FRACTION, P_D0, P_A, P_BETA, P_BUDGET,
       P_REPLAY_BATCH, P_COUNT };

static const lethe_param_decl rehearsal_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "schedule", LETHE_PARAM_CHOICE, "reservoir", 0, 0,
	  schedule_names, "how much of each earlier task is replayed" },
	{ sizeof(lethe_param_decl), "max_stored", LETHE_PARAM_INT, "500", 1, 1e7, NULL,
	  "samples stored, over all tasks" },
	{ sizeof(lethe_param_decl), "n0", LETHE_PARAM_INT, "0", 0, 1e9, NULL,
	  "N0 of power-law and exponential (0: n0_fraction x the task's size)" },
	{ sizeof(lethe_param_decl), "n0_fraction", LETHE_PARAM_FLOAT, "1.0", 0, 1, NULL,
	  "N0 as a fraction of the replayed task's size, when n0 = 0" },
	{ sizeof(lethe_param_decl), "d0", LETHE_PARAM_FLOAT, "10", 1e-6, 1e9, NULL,
	  "power-law: n(d) = N0 (1 + d/d0)^-a; d0 > 0" },
	{ sizeof(lethe_param_decl), "a", LETHE_PARAM_FLOAT, "5.6", 0, 1e3, NULL,
	  "power-law exponent" },
	{ sizeof(lethe_param_decl), "beta", LETHE_PARAM_FLOAT, "1", 1e-6, 1e9, NULL,
	  "exponential: n(d) = N0 e^(-d/beta); beta > 0" },
	{ sizeof(lethe_param_decl), "budget", LETHE_PARAM_INT, "0", 0, 1e9, NULL,
	  "uniform: samples replayed per epoch, split over earlier tasks (0: max_stored)" },
	{ sizeof(lethe_param_decl), "replay_batch", LETHE_PARAM_INT, "0", 0, 1e6, NULL,
	  "reservoir: stored samples added to every batch (0: train.batch_size)" },
};

#define DEAD UINT32_MAX /* the task of a slot about to be swept out */

/* The samples kept, slot by slot. */
struct store {
	size_t cap, count;
	size_t dim;
	uint8_t *pixels; /* cap x dim */
	int32_t *y;
	uint64_t *id;
	uint32_t *task;
};

struct rehearsal {
	lethe_plugin plugin;
	const lethe_host *host;
	struct schedule sched;
	size_t replay_batch;
	uint32_t num_tasks;
	struct store st;
	uint64_t seen; /* reservoir: new samples offered so far */

	/* The task being learned. */
	uint32_t task;
	uint64_t batches_per_epoch;
	size_t per_batch; /* rows appended to each batch */

	/* The slots grouped by task (task k's in order[start[k]..start[k+1])); the reservoir only
	 * needs it to be a permutation of the slots, to draw without replacement. */
	size_t *order;
	size_t *start;	 /* num_tasks + 1 */
	uint64_t *quota; /* num_tasks: per epoch, of each earlier task */

	/* Schedules: the epoch's draw, appended plan[at..] a batch at a time. */
	size_t *plan;
	size_t plan_len, plan_cap, at;
};

static struct rehearsal *rehearsal_of(lethe_plugin *p)
{
	return p->plugin_data;
}

/* Uniform in [0, n), n > 0, without modulo bias. */
static uint64_t rehearsal_below(struct rehearsal *r, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
	do
		v = r->host->rng_u64(r->host);
	while (v >= limit);
	return v % n;
}

/* Moves k random entries of v[0..n) to its front (a partial Fisher-Yates shuffle). */
static void rehearsal_pick(struct rehearsal *r, size_t *v, size_t n, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		size_t j = i + (size_t)rehearsal_below(r, n - i), t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

/* ---- the store ---- */

static int store_init(struct store *st, size_t cap, size_t dim)
{
	st->cap = cap;
	st->dim = dim;
	st->pixels = malloc(cap * dim);
	st->y = malloc(cap * sizeof(*st->y));
	st->id = malloc(cap * sizeof(*st->id));
	st->task = malloc(cap * sizeof(*st->task));
	return st->pixels && st->y && st->id && st->task ? LETHE_OK : LETHE_ERR_NOMEM;
}

static void store_free(struct store *st)
{
	free(st->pixels);
	free(st->y);
	free(st->id);
	free(st->task);
}

static void store_put(struct store *st, size_t slot, const uint8_t *pixels, int32_t y, uint64_t id,
		      uint32_t task)
{
	memcpy(st->pixels + slot * st->dim, pixels, st->dim);
	st->y[slot] = y;
	st->id[slot] = id;
	st->task[slot] = task;
}

/* Drops the slots marked DEAD, keeping the others in order. */
static size_t store_sweep(struct store *st)
{
	size_t kept = 0, before = st->count;
	for (size_t i = 0; i < st->count; i++) {
		if (st->task[i] == DEAD)
			continue;
		if (kept != i)
			store_put(st, kept, st->pixels + i * st->dim, st->y[i], st->id[i],
				  st->task[i]);
		kept++;
	}
	st->count = kept;
	return before - kept;
}

static uint64_t store_bytes(const struct store *st)
{
	return (uint64_t)st->count * (st->dim + sizeof(*st->y) + sizeof(*st->id) +
				      sizeof(*st->task));
}

/* ---- bookkeeping ---- */

/* Sorts the slots by task into order (a counting sort) and fills start. */
static void rehearsal_group(struct rehearsal *r)
{
	const struct store *st = &r->st;
	memset(r->start, 0, (r->num_tasks + 1) * sizeof(*r->start));
	for (size_t i = 0; i < st->count; i++)
		r->start[st->task[i] + 1]++;
	for (uint32_t k = 0; k < r->num_tasks; k++)
		r->start[k + 1] += r->start[k];
	for (size_t i = 0; i < st->count; i++)
		r->order[r->start[st->task[i]]++] = i;
	for (uint32_t k = r->num_tasks; k > 0; k--)
		r->start[k] = r->start[k - 1];
	r->start[0] = 0;
}

static size_t rehearsal_stored(const struct rehearsal *r, uint32_t k)
{
	return r->start[k + 1] - r->start[k];
}

static void rehearsal_report(struct rehearsal *r)
{
	r->host->report(r->host, "stored_samples", (double)r->st.count);
	r->host->report(r->host, "stored_bytes", (double)store_bytes(&r->st));
}

/* Appends ",v" (or "v" first) to buf, which has size bytes and holds *len. */
static void rehearsal_list_add(char *buf, size_t size, size_t *len, uint64_t v)
{
	if (*len >= size)
		return;
	*len += (size_t)snprintf(buf + *len, size - *len, "%s%llu", *len ? "," : "",
				 (unsigned long long)v);
}

/* One line per task: what is stored of each earlier task and what of it is replayed. */
static void rehearsal_log_task(struct rehearsal *r)
{
	char held[400] = "", replayed[400] = "", msg[1024];
	size_t held_len = 0, replayed_len = 0;
	for (uint32_t k = 0; k < r->task; k++) {
		rehearsal_list_add(held, sizeof(held), &held_len, rehearsal_stored(r, k));
		rehearsal_list_add(replayed, sizeof(replayed), &replayed_len, r->quota[k]);
	}
	if (r->task == 0)
		snprintf(msg, sizeof(msg), "task 1: nothing stored yet");
	else if (r->sched.kind == SCHEDULE_RESERVOIR)
		snprintf(msg, sizeof(msg), "task %u: stored per earlier task %s; up to %zu rows a "
			 "batch", r->task + 1, held, r->per_batch);
	else
		snprintf(msg, sizeof(msg), "task %u: stored per earlier task %s; replayed per "
			 "epoch %s; %zu rows a batch", r->task + 1, held, replayed, r->per_batch);
	r->host->log(r->host, LETHE_LOG_INFO, msg);
}

/* ---- schedules ---- */

/* The rows of each earlier task an epoch of task t replays, and the room they need. */
static int rehearsal_plan(struct rehearsal *r, const lethe_task_info *task)
{
	const lethe_host *h = r->host;
	size_t total = 0;
	for (uint32_t k = 0; k < task->index; k++) {
		uint64_t n = schedule_count(&r->sched, task->index - k, task->index,
					    h->task_info(h, k)->num_train);
		r->quota[k] = rehearsal_stored(r, k) ? n : 0;
		total += r->quota[k];
	}
	if (total > r->plan_cap) {
		size_t *plan = realloc(r->plan, total * sizeof(*plan));
		if (!plan)
			return lethe_fail(r->host, LETHE_ERR_NOMEM,
					  "out of memory for %zu replayed samples an epoch", total);
		r->plan = plan;
		r->plan_cap = total;
	}
	r->plan_len = total;
	r->at = total;
	r->per_batch = (total + r->batches_per_epoch - 1) / r->batches_per_epoch;
	return LETHE_OK;
}

/* A fresh draw for the epoch, shuffled so that every batch mixes the tasks. A task a forget
 * left with nothing stored has nothing to replay. */
static void rehearsal_draw(struct rehearsal *r)
{
	size_t n = 0;
	for (uint32_t k = 0; k < r->task; k++) {
		size_t *group = r->order + r->start[k], len = rehearsal_stored(r, k);
		size_t want = len ? (size_t)r->quota[k] : 0;
		if (want <= len) {
			rehearsal_pick(r, group, len, want);
			memcpy(r->plan + n, group, want * sizeof(*group));
			n += want;
		} else {
			for (size_t i = 0; i < want; i++)
				r->plan[n++] = group[rehearsal_below(r, len)];
		}
	}
	rehearsal_pick(r, r->plan, n, n);
	r->plan_len = n;
	r->at = 0;
}

/* After a task: every task seen gets max_stored / (tasks seen) slots. */
static int rehearsal_keep(struct rehearsal *r, const lethe_task_info *task)
{
	const lethe_host *h = r->host;
	struct store *st = &r->st;
	size_t share = st->cap / (task->index + 1);
	rehearsal_group(r);
	for (uint32_t k = 0; k < r->num_tasks; k++) {
		size_t *group = r->order + r->start[k], len = rehearsal_stored(r, k);
		if (len <= share)
			continue;
		rehearsal_pick(r, group, len, len - share);
		for (size_t i = 0; i < len - share; i++)
			st->task[group[i]] = DEAD;
	}
	store_sweep(st);

	size_t n = (size_t)task->num_train, take = n < share ? n : share;
	if (st->count + take > st->cap)
		take = st->cap - st->count;
	size_t *pos = malloc((n ? n : 1) * sizeof(*pos));
	if (!pos)
		return lethe_fail(r->host, LETHE_ERR_NOMEM, "out of memory for %zu positions", n);
	for (size_t i = 0; i < n; i++)
		pos[i] = i;
	rehearsal_pick(r, pos, n, take);
	int rc = LETHE_OK;
	for (size_t i = 0; i < take && rc == LETHE_OK; i++) {
		const uint8_t *pixels;
		int32_t y;
		uint64_t id;
		rc = h->task_raw(h, task->index, pos[i], &pixels, &y, &id);
		if (rc == LETHE_OK)
			store_put(st, st->count++, pixels, y, id, task->index);
	}
	free(pos);
	return rc;
}

/* ---- reservoir ---- */

/* Algorithm R: the n-th sample seen takes a random slot with probability max_stored / n. */
static int rehearsal_offer(struct rehearsal *r, uint64_t id, uint32_t task)
{
	const lethe_host *h = r->host;
	struct store *st = &r->st;
	const uint8_t *pixels;
	int32_t y;
	int rc = h->sample_raw(h, id, &pixels, &y);
	if (rc != LETHE_OK)
		return rc;
	r->seen++;
	size_t slot;
	if (st->count < st->cap) {
		slot = st->count++;
		r->order[slot] = slot;
	} else {
		uint64_t j = rehearsal_below(r, r->seen);
		if (j >= st->cap)
			return LETHE_OK;
		slot = (size_t)j;
	}
	store_put(st, slot, pixels, y, id, task);
	return LETHE_OK;
}

/* ---- hooks ---- */

static void rehearsal_destroy(lethe_plugin *p)
{
	struct rehearsal *r = rehearsal_of(p);
	store_free(&r->st);
	free(r->order);
	free(r->start);
	free(r->quota);
	free(r->plan);
	free(r);
}

static int rehearsal_before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct rehearsal *r = rehearsal_of(p);
	r->task = task->index;
	r->batches_per_epoch = task->batches ? task->batches : 1;
	memset(r->quota, 0, r->num_tasks * sizeof(*r->quota));
	rehearsal_group(r);
	if (r->sched.kind == SCHEDULE_RESERVOIR) {
		r->per_batch = task->index ? r->replay_batch : 0;
	} else {
		int rc = rehearsal_plan(r, task);
		if (rc != LETHE_OK)
			return rc;
		rc = r->host->batch_reserve(r->host, r->per_batch);
		if (rc != LETHE_OK)
			return rc;
	}
	rehearsal_log_task(r);
	return LETHE_OK;
}

static int rehearsal_append(struct rehearsal *r, lethe_batch *b, size_t slot)
{
	const struct store *st = &r->st;
	int rc = r->host->task_convert(r->host, st->task[slot], st->pixels + slot * st->dim, 1,
				       b->x + b->n * b->dim);
	if (rc != LETHE_OK)
		return rc;
	b->y[b->n] = st->y[slot];
	b->tasks[b->n] = st->task[slot];
	b->ids[b->n] = st->id[slot];
	b->n++;
	return LETHE_OK;
}

/* The rows this batch replays: the reservoir's drawn to the front of order, the schedules'
 * next in plan. */
static size_t rehearsal_rows(struct rehearsal *r, const lethe_batch *b)
{
	if (r->sched.kind == SCHEDULE_RESERVOIR) {
		size_t rows = r->per_batch < r->st.count ? r->per_batch : r->st.count;
		rehearsal_pick(r, r->order, r->st.count, rows);
		return rows;
	}
	if (b->index == 0 && r->plan_len)
		rehearsal_draw(r);
	return r->plan_len - r->at < r->per_batch ? r->plan_len - r->at : r->per_batch;
}

static int rehearsal_on_batch(lethe_plugin *p, lethe_batch *b)
{
	struct rehearsal *r = rehearsal_of(p);
	int reservoir = r->sched.kind == SCHEDULE_RESERVOIR;
	size_t fresh = b->n_host, rows = rehearsal_rows(r, b);
	if (b->n + rows > b->capacity)
		return lethe_fail(r->host, LETHE_ERR_INVALID, "no room for %zu replayed rows in a "
				  "batch of %zu with capacity %zu", rows, b->n, b->capacity);
	int rc = LETHE_OK;
	for (size_t i = 0; i < rows && rc == LETHE_OK; i++)
		rc = rehearsal_append(r, b, reservoir ? r->order[i] : r->plan[r->at++]);
	/* Offered after the draw, so a batch never replays its own samples. */
	if (reservoir && b->epoch == 0)
		for (size_t i = 0; i < fresh && rc == LETHE_OK; i++)
			if (b->tasks[i] == b->task)
				rc = rehearsal_offer(r, b->ids[i], b->tasks[i]);
	return rc;
}

static int rehearsal_after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct rehearsal *r = rehearsal_of(p);
	if (r->sched.kind != SCHEDULE_RESERVOIR) {
		int rc = rehearsal_keep(r, task);
		if (rc != LETHE_OK)
			return rc;
	}
	/* The task's draws are over; the groups follow the store as it now is, so that a state
	 * saved between tasks agrees with itself. */
	rehearsal_group(r);
	r->at = r->plan_len;
	rehearsal_report(r);
	return LETHE_OK;
}

static int rehearsal_on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct rehearsal *r = rehearsal_of(p);
	struct store *st = &r->st;
	for (size_t i = 0; i < st->count; i++)
		if (lethe_forget_covers(req, st->id[i]))
			st->task[i] = DEAD;
	size_t dropped = store_sweep(st);
	rehearsal_group(r);
	/* The slots moved: what is left of the epoch's draw names the old ones, so it goes. */
	r->at = r->plan_len;
	rehearsal_report(r);
	char msg[128];
	snprintf(msg, sizeof(msg), "forget: dropped %zu stored samples, %zu left", dropped,
		 st->count);
	r->host->log(r->host, LETHE_LOG_INFO, msg);
	return LETHE_OK;
}

/* size_t arrays go out as uint64, whatever size_t is. */
static int rehearsal_write_sizes(const lethe_ostream *out, const size_t *v, size_t n)
{
	int rc = LETHE_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		uint64_t x = v[i];
		rc = out->write(out, &x, sizeof(x));
	}
	return rc;
}

static int rehearsal_save(lethe_plugin *p, const lethe_ostream *out)
{
	struct rehearsal *r = rehearsal_of(p);
	const struct store *st = &r->st;
	uint32_t dim = (uint32_t)st->dim;
	uint64_t count = st->count;
	int rc = out->write(out, &dim, sizeof(dim));
	if (!rc)
		rc = out->write(out, &count, sizeof(count));
	if (!rc)
		rc = out->write(out, &r->seen, sizeof(r->seen));
	if (!rc)
		rc = out->write(out, st->pixels, count * st->dim);
	if (!rc)
		rc = out->write(out, st->y, count * sizeof(*st->y));
	if (!rc)
		rc = out->write(out, st->id, count * sizeof(*st->id));
	if (!rc)
		rc = out->write(out, st->task, count * sizeof(*st->task));
	const uint64_t task[] = { r->batches_per_epoch, r->per_batch };
	if (!rc)
		rc = out->write(out, &r->task, sizeof(r->task));
	if (!rc)
		rc = out->write(out, task, sizeof(task));
	if (!rc)
		rc = out->write(out, r->quota, r->num_tasks * sizeof(*r->quota));
	if (!rc)
		rc = rehearsal_write_sizes(out, r->start, r->num_tasks + 1);
	if (!rc)
		rc = rehearsal_write_sizes(out, r->order, st->count);
	const uint64_t plan[] = { r->plan_len, r->at };
	if (!rc)
		rc = out->write(out, plan, sizeof(plan));
	if (!rc)
		rc = rehearsal_write_sizes(out, r->plan, r->plan_len);
	return rc;
}

/* Every stored sample must name a task and a class of this run. */
static int rehearsal_check(struct rehearsal *r, size_t count)
{
	uint32_t classes = r->host->run_info(r->host)->num_classes;
	for (size_t i = 0; i < count; i++)
		if (r->st.task[i] >= r->num_tasks || r->st.y[i] < 0 ||
		    (uint32_t)r->st.y[i] >= classes)
			return lethe_fail(r->host, LETHE_ERR_INVALID,
					  "stored sample %zu has task %u and label %d, not of this "
					  "run", i, r->st.task[i], r->st.y[i]);
	return LETHE_OK;
}

/* n uint64 values below `bound` into v; LETHE_ERR_INVALID naming `what` for one that is not
 * (SIZE_MAX: no bound). */
static int rehearsal_read_sizes(struct rehearsal *r, const lethe_istream *in, size_t *v, size_t n,
				uint64_t bound, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t x;
		int rc = in->read(in, &x, sizeof(x));
		if (rc)
			return rc;
		if (x >= bound)
			return lethe_fail(r->host, LETHE_ERR_INVALID, "the state's %s holds %llu, "
					  "beyond %llu", what, (unsigned long long)x,
					  (unsigned long long)bound);
		v[i] = (size_t)x;
	}
	return LETHE_OK;
}

/* Version 2's task under way: its draws and where they stand. Only the plan's rest, from at,
 * is still to replay; the next draw overwrites the rest. */
static int rehearsal_load_task(struct rehearsal *r, const lethe_istream *in)
{
	size_t count = r->st.count;
	uint64_t task[2], plan[2];
	int rc = in->read(in, &r->task, sizeof(r->task));
	if (!rc)
		rc = in->read(in, task, sizeof(task));
	if (!rc && (r->task >= r->num_tasks || task[0] == 0))
		return lethe_fail(r->host, LETHE_ERR_INVALID, "the state's task %u is not of this "
				  "run", r->task);
	if (!rc)
		rc = in->read(in, r->quota, r->num_tasks * sizeof(*r->quota));
	if (!rc)
		rc = rehearsal_read_sizes(r, in, r->start, r->num_tasks + 1, count + 1, "groups");
	for (uint32_t k = 0; k < r->num_tasks && !rc; k++)
		if (r->start[k] > r->start[k + 1])
			return lethe_fail(r->host, LETHE_ERR_INVALID, "the state's groups overlap");
	if (!rc)
		rc = rehearsal_read_sizes(r, in, r->order, count, count, "order");
	if (!rc)
		rc = in->read(in, plan, sizeof(plan));
	if (rc)
		return rc;
	/* Room for the state's plan and for the draws its quotas make. */
	uint64_t room = plan[0];
	for (uint32_t k = 0; k < r->task; k++)
		room = room + r->quota[k] < room ? UINT64_MAX : room + r->quota[k];
	if (plan[1] > plan[0] || room > SIZE_MAX / sizeof(*r->plan))
		return lethe_fail(r->host, LETHE_ERR_INVALID, "the state's plan is malformed");
	if (room > r->plan_cap) {
		size_t *grown = realloc(r->plan, (size_t)room * sizeof(*grown));
		if (!grown)
			return lethe_fail(r->host, LETHE_ERR_NOMEM, "out of memory for a plan of "
					  "%llu samples", (unsigned long long)room);
		r->plan = grown;
		r->plan_cap = (size_t)room;
	}
	r->batches_per_epoch = task[0];
	r->per_batch = (size_t)task[1];
	r->plan_len = (size_t)plan[0];
	r->at = (size_t)plan[1];
	rc = rehearsal_read_sizes(r, in, r->plan, r->plan_len, SIZE_MAX, "plan");
	for (size_t i = r->at; i < r->plan_len && !rc; i++)
		if (r->plan[i] >= count)
			return lethe_fail(r->host, LETHE_ERR_INVALID,
					  "the state's plan replays slot %zu of %zu", r->plan[i],
					  count);
	return rc;
}

static int rehearsal_load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct rehearsal *r = rehearsal_of(p);
	struct store *st = &r->st;
	uint32_t dim;
	uint64_t count, seen;
	if (version != 1 && version != 2)
		return lethe_fail(r->host, LETHE_ERR_INVALID, "state version %u is not 1 or 2",
				  version);
	int rc = in->read(in, &dim, sizeof(dim));
	if (!rc)
		rc = in->read(in, &count, sizeof(count));
	if (!rc)
		rc = in->read(in, &seen, sizeof(seen));
	if (rc)
		return rc;
	if (dim != st->dim || count > st->cap)
		return lethe_fail(r->host, LETHE_ERR_INVALID, "the state holds %llu samples of %u "
				  "values; this run stores at most %zu of %zu",
				  (unsigned long long)count, dim, st->cap, st->dim);
	rc = in->read(in, st->pixels, count * st->dim);
	if (!rc)
		rc = in->read(in, st->y, count * sizeof(*st->y));
	if (!rc)
		rc = in->read(in, st->id, count * sizeof(*st->id));
	if (!rc)
		rc = in->read(in, st->task, count * sizeof(*st->task));
	if (!rc)
		rc = rehearsal_check(r, (size_t)count);
	if (rc)
		return rc;
	st->count = (size_t)count;
	r->seen = seen;
	rehearsal_group(r);
	if (version == 2 && (rc = rehearsal_load_task(r, in)) != LETHE_OK)
		return rc;
	rehearsal_report(r);
	return LETHE_OK;
}

static struct schedule rehearsal_schedule(const lethe_param_value *v)
{
	return (struct schedule){
		.kind = (enum schedule_kind)v[P_SCHEDULE].i,
		.n0 = (uint64_t)v[P_N0].i,
		.n0_fraction = v[P_N0_FRACTION].f,
		.d0 = v[P_D0].f,
		.a = v[P_A].f,
		.beta = v[P_BETA].f,
		.budget = (uint64_t)(v[P_BUDGET].i ? v[P_BUDGET].i : v[P_MAX_STORED].i),
	};
}

static lethe_plugin *rehearsal_create(const lethe_host *host, const lethe_param_value *v)
{
	const lethe_run_info *run = host->run_info(host);
	struct rehearsal *r = calloc(1, sizeof(*r));
	if (!r) {
		host->error(host, "out of memory");
		return NULL;
	}
	r->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = r,
		.destroy = rehearsal_destroy,
		.before_task = rehearsal_before_task,
		.on_batch = rehearsal_on_batch,
		.after_task = rehearsal_after_task,
		.on_forget = rehearsal_on_forget,
		.save = rehearsal_save,
		.load = rehearsal_load,
	};
	r->host = host;
	r->sched = rehearsal_schedule(v);
	r->replay_batch = (size_t)(v[P_REPLAY_BATCH].i ? v[P_REPLAY_BATCH].i : run->batch_size);
	r->num_tasks = run->num_tasks;
	size_t cap = (size_t)v[P_MAX_STORED].i;
	int rc = store_init(&r->st, cap, run->input_dim);
	r->order = malloc(cap * sizeof(*r->order));
	r->start = calloc(r->num_tasks + 1, sizeof(*r->start));
	r->quota = calloc(r->num_tasks, sizeof(*r->quota));
	if (rc != LETHE_OK || !r->order || !r->start || !r->quota) {
		lethe_fail(r->host, LETHE_ERR_NOMEM, "out of memory for max_stored = %zu samples",
			   cap);
		rehearsal_destroy(&r->plugin);
		return NULL;
	}
	if (r->sched.kind == SCHEDULE_RESERVOIR &&
	    host->batch_reserve(host, r->replay_batch) != LETHE_OK) {
		rehearsal_destroy(&r->plugin);
		return NULL;
	}
	rehearsal_report(r);
	return &r->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "rehearsal",
	.version = "1.0",
	.description = "replay of stored samples on a power-law, uniform, exponential or "
		       "reservoir schedule",
	.params = rehearsal_params,
	.num_params = P_COUNT,
	.state_version = 2,
	.create = rehearsal_create,
};
