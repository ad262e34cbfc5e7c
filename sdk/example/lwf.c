/* lwf: Learning without Forgetting (Li & Hoiem, 2016) as an out-of-tree lethe plugin.
 *
 * Before task t >= 1 the plugin freezes a copy of the model, the teacher. On every batch of
 * task t it runs the teacher on the batch's inputs and pulls the student's old outputs towards
 * the teacher's with a temperature-softened KL divergence:
 *
 *	loss  += alpha T^2 / n  sum_rows sum_groups KL(softmax(t/T) || softmax(s/T))
 *	dL/ds += alpha T / n    (softmax(s/T) - softmax(t/T))
 *
 * A group is a set of old classes the softmax is restricted to. Under task-incremental each
 * earlier task is its own group (one head per task, as the protocol evaluates); under class-
 * and domain-incremental the classes of all earlier tasks form one group.
 *
 * Built against the SDK alone: see Makefile and README.md. */
#include <math.h>
#include <stdlib.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

enum { P_ALPHA, P_TEMPERATURE, P_COUNT };

static const lethe_param_decl lwf_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "alpha", LETHE_PARAM_FLOAT, "1", 0, 1000, NULL,
	  "weight of the distillation term (0 turns it off)" },
	{ sizeof(lethe_param_decl), "temperature", LETHE_PARAM_FLOAT, "2", 0.01, 100, NULL,
	  "softmax temperature T of teacher and student, above 0" },
};

struct lwf {
	lethe_plugin plugin;
	const lethe_host *host;
	double alpha;
	double temperature;
	uint32_t num_classes;
	uint32_t input_dim;

	lethe_model *teacher;	/* the model as it was before task teacher_for; NULL before task 1 */
	uint32_t teacher_for;

	/* The old classes, group by group: group g is classes[ends[g - 1] .. ends[g]). */
	int32_t *classes;	/* num_tasks x num_classes: room for any task list */
	uint32_t *ends;		/* num_tasks */
	uint32_t num_groups;

	float *logits;		/* the teacher's, rows x num_classes */
	size_t rows;

	double task_loss;	/* the distillation term summed over this task's batches */
	uint64_t task_batches;
};

/* Other plugins may append rows (rehearsal), and the batch's capacity is only seen in
 * on_logits: start with room for this many times batch_size rows, so growing there is rare. */
#define LWF_ROWS_MARGIN 2

static struct lwf *lwf_of(lethe_plugin *p)
{
	return p->plugin_data;
}

/* Whether one of the first `tasks` tasks lists class c. */
static int lwf_class_seen(const lethe_host *h, int32_t c, uint32_t tasks)
{
	for (uint32_t k = 0; k < tasks; k++) {
		const lethe_task_info *t = h->task_info(h, k);
		for (uint32_t j = 0; j < t->num_classes; j++)
			if (t->classes[j] == c)
				return 1;
	}
	return 0;
}

/* Task-incremental: one group per earlier task. Otherwise one group, the union of their
 * classes. */
static void lwf_groups_build(struct lwf *l)
{
	const lethe_host *h = l->host;
	uint32_t n = 0;

	l->num_groups = 0;
	if (h->run_info(h)->protocol == LETHE_TASK_INCREMENTAL) {
		for (uint32_t k = 0; k < l->teacher_for; k++) {
			const lethe_task_info *t = h->task_info(h, k);
			for (uint32_t j = 0; j < t->num_classes; j++)
				l->classes[n++] = t->classes[j];
			l->ends[l->num_groups++] = n;
		}
		return;
	}
	for (uint32_t c = 0; c < l->num_classes; c++)
		if (lwf_class_seen(h, (int32_t)c, l->teacher_for))
			l->classes[n++] = (int32_t)c;
	if (n > 0)
		l->ends[l->num_groups++] = n;
}

/* Room for rows teacher logits, and a teacher workspace as large: a fresh clone has none, and
 * its first forward would make the host allocate it inside on_logits. */
static int lwf_reserve(struct lwf *l, size_t rows)
{
	const lethe_host *h = l->host;
	if (rows > l->rows) {
		float *grown = realloc(l->logits, rows * l->num_classes * sizeof(float));
		if (!grown)
			return lethe_fail(l->host, LETHE_ERR_NOMEM,
					  "out of memory for teacher logits");
		l->logits = grown;
		l->rows = rows;
	}
	if (!l->teacher)
		return LETHE_OK;
	float *zeros = calloc(l->rows * l->input_dim, sizeof(float));
	if (!zeros)
		return lethe_fail(l->host, LETHE_ERR_NOMEM,
				  "out of memory for the teacher's workspace");
	int rc = h->model_forward(h, l->teacher, zeros, l->rows, l->logits);
	free(zeros);
	return rc;
}

static void lwf_teacher_drop(struct lwf *l)
{
	if (l->teacher)
		l->host->model_free(l->host, l->teacher);
	l->teacher = NULL;
	l->teacher_for = 0;
	l->num_groups = 0;
}

/* The teacher for task `task` is a copy of the host's model as it stands. */
static int lwf_teacher_take(struct lwf *l, uint32_t task)
{
	const lethe_host *h = l->host;
	lwf_teacher_drop(l);
	l->teacher = h->model_clone(h, h->model(h));
	if (!l->teacher)
		return lethe_fail(l->host, LETHE_ERR_NOMEM,
				  "cannot copy the model for the teacher");
	l->teacher_for = task;
	lwf_groups_build(l);
	return lwf_reserve(l, l->rows);
}

static void lwf_destroy(lethe_plugin *p)
{
	struct lwf *l = lwf_of(p);
	lwf_teacher_drop(l);
	free(l->classes);
	free(l->ends);
	free(l->logits);
	free(l);
}

static int lwf_before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct lwf *l = lwf_of(p);
	l->task_loss = 0;
	l->task_batches = 0;
	/* A teacher restored by load for this very task is the right one; the model has moved
	 * since it was taken. */
	if (task->index == 0 || (l->teacher && l->teacher_for == task->index))
		return LETHE_OK;
	return lwf_teacher_take(l, task->index);
}

/* KL(q || p) over one group's classes, q and p the tempered softmaxes of teacher and student;
 * adds scale (p - q) to the student's gradient. */
static double lwf_group_kl(const float *teacher, const float *student, float *grad,
			   const int32_t *classes, uint32_t m, double temp, double scale)
{
	double tmax = -INFINITY, smax = -INFINITY, tsum = 0, ssum = 0, kl = 0;

	for (uint32_t j = 0; j < m; j++) {
		tmax = fmax(tmax, teacher[classes[j]]);
		smax = fmax(smax, student[classes[j]]);
	}
	for (uint32_t j = 0; j < m; j++) {
		tsum += exp((teacher[classes[j]] - tmax) / temp);
		ssum += exp((student[classes[j]] - smax) / temp);
	}
	double tlog = log(tsum), slog = log(ssum);
	for (uint32_t j = 0; j < m; j++) {
		int32_t c = classes[j];
		double lq = (teacher[c] - tmax) / temp - tlog;
		double lp = (student[c] - smax) / temp - slog;
		double q = exp(lq);
		kl += q * (lq - lp);
		grad[c] += (float)(scale * (exp(lp) - q));
	}
	return kl;
}

static int lwf_on_logits(lethe_plugin *p, const lethe_batch *b, const float *logits,
			 float *dlogits, double *loss)
{
	struct lwf *l = lwf_of(p);
	const lethe_host *h = l->host;

	if (!l->teacher || l->alpha == 0)
		return LETHE_OK;
	/* To the capacity, so once: unless another plugin reserves more in a later task. */
	if (b->n > l->rows) {
		int rc = lwf_reserve(l, b->capacity);
		if (rc != LETHE_OK)
			return rc;
	}
	int rc = h->model_forward(h, l->teacher, b->x, b->n, l->logits);
	if (rc != LETHE_OK)
		return rc;

	double temp = l->temperature, kl = 0;
	double scale = l->alpha * temp / (double)b->n;
	for (size_t i = 0; i < b->n; i++) {
		size_t row = i * l->num_classes;
		uint32_t start = 0;
		for (uint32_t g = 0; g < l->num_groups; g++) {
			kl += lwf_group_kl(l->logits + row, logits + row, dlogits + row,
					   l->classes + start, l->ends[g] - start, temp, scale);
			start = l->ends[g];
		}
	}
	double term = l->alpha * temp * temp * kl / (double)b->n;
	*loss += term;
	l->task_loss += term;
	l->task_batches++;
	return LETHE_OK;
}

static int lwf_after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct lwf *l = lwf_of(p);
	(void)task;
	if (l->task_batches)
		l->host->report(l->host, "distill_loss", l->task_loss / (double)l->task_batches);
	return LETHE_OK;
}

/* Encoding 1, native byte order like the host's own framing: the u32 task the teacher serves
 * (0: no teacher), the u64 parameter count, then the teacher's parameters as floats. */
static int lwf_save(lethe_plugin *p, const lethe_ostream *out)
{
	struct lwf *l = lwf_of(p);
	const lethe_host *h = l->host;
	uint64_t count = 0;
	const float *params = l->teacher ? h->model_params(h, l->teacher, &count) : NULL;

	int rc = out->write(out, &l->teacher_for, sizeof(l->teacher_for));
	if (rc == LETHE_OK)
		rc = out->write(out, &count, sizeof(count));
	if (rc == LETHE_OK && count)
		rc = out->write(out, params, count * sizeof(float));
	return rc;
}

static int lwf_load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct lwf *l = lwf_of(p);
	const lethe_host *h = l->host;
	uint32_t task;
	uint64_t count, have;

	if (version != 1)
		return lethe_fail(h, LETHE_ERR_INVALID, "state encoding %u is unknown to lwf",
				  version);
	int rc = in->read(in, &task, sizeof(task));
	if (rc == LETHE_OK)
		rc = in->read(in, &count, sizeof(count));
	if (rc != LETHE_OK)
		return lethe_fail(h, rc, "saved state is truncated");
	if (task == 0)
		return count == 0 ? LETHE_OK
				  : lethe_fail(h, LETHE_ERR_INVALID, "saved state is malformed");
	if (task >= h->run_info(h)->num_tasks)
		return lethe_fail(h, LETHE_ERR_INVALID,
				  "saved teacher serves a task not in the run");
	h->model_params(h, h->model(h), &have);
	if (count != have)
		return lethe_fail(h, LETHE_ERR_INVALID, "saved teacher has %llu parameters, "
				  "the model %llu", (unsigned long long)count,
				  (unsigned long long)have);
	/* A clone of the host's model gives the shape; the saved parameters replace its own. */
	rc = lwf_teacher_take(l, task);
	if (rc != LETHE_OK)
		return rc;
	rc = in->read(in, h->model_params(h, l->teacher, NULL), count * sizeof(float));
	if (rc != LETHE_OK) {
		lwf_teacher_drop(l);
		return lethe_fail(h, rc, "saved teacher is truncated");
	}
	return LETHE_OK;
}

static lethe_plugin *lwf_create(const lethe_host *h, const lethe_param_value *v)
{
	const lethe_run_info *run = h->run_info(h);
	struct lwf *l = calloc(1, sizeof(*l));

	if (!l) {
		h->error(h, "out of memory");
		return NULL;
	}
	l->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = l,
		.destroy = lwf_destroy,
		.before_task = lwf_before_task,
		.on_logits = lwf_on_logits,
		.after_task = lwf_after_task,
		.save = lwf_save,
		.load = lwf_load,
	};
	l->host = h;
	l->alpha = v[P_ALPHA].f;
	l->temperature = v[P_TEMPERATURE].f;
	l->num_classes = run->num_classes;
	l->input_dim = run->input_dim;
	l->classes = malloc((size_t)run->num_tasks * run->num_classes * sizeof(*l->classes));
	l->ends = malloc(run->num_tasks * sizeof(*l->ends));
	if (!l->classes || !l->ends ||
	    lwf_reserve(l, (size_t)run->batch_size * LWF_ROWS_MARGIN) != LETHE_OK) {
		lwf_destroy(&l->plugin);
		h->error(h, "out of memory");
		return NULL;
	}
	return &l->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "lwf",
	.version = "1.0",
	.description = "Learning without Forgetting: distil the previous model's old-task outputs",
	.params = lwf_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = lwf_create,
};
