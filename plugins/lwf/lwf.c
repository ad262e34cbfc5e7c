/* lwf: Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2017).
 *
 * Before each task after the first, a frozen copy of the model, the teacher, is taken (after
 * any forget step, so that it holds nothing the unlearning removed). On every batch of the task
 * the teacher's outputs on the batch's rows, softened by the temperature T, are the targets of
 * the student's old outputs:
 *
 *	loss  += λ / n · Σ_rows Σ_groups −Σ_{c in group} q_c log p_c,
 *	q = softmax(teacher / T), p = softmax(student / T) over the group's classes,
 *	dL/ds += λ / (T n) · (p − q),
 *
 * the paper's L_old = −Σ y'_o log ŷ'_o with λ_o = λ (no T² factor: the paper has none). Under
 * task-incremental each earlier task is a group of its own (one head per task, as the paper's
 * multi-head network); under class- and domain-incremental the classes of every earlier task
 * form one group. n is the batch's rows, appended ones included.
 *
 * Only the model's logits are used (model_clone, model_forward): any architecture.
 *
 * Defaults: lambda 1 and T 2, the paper's (λ_o = 1, T = 2).
 *
 * Forget requests: the plugin keeps no samples, but its teacher learned them; on_forget
 * replaces the teacher's weights with the host's model's, which the unlearning has just
 * changed, so that distillation cannot bring back what it removed.
 *
 * Figures: distill_loss, the term's mean over the last task's batches.
 *
 * State, version 1, native byte order: uint32 the task the teacher serves (0: none), uint64
 * P, then the teacher's P parameters as floats (when it has one); double and uint64: the
 * task's distillation sum and batches so far. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

enum { P_LAMBDA, P_TEMPERATURE, P_COUNT };

static const lethe_param_decl params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "lambda", LETHE_PARAM_FLOAT, "1", 0, 1000, NULL,
	  "λ_o, weight of the distillation term (1: the paper's)" },
	{ sizeof(lethe_param_decl), "temperature", LETHE_PARAM_FLOAT, "2", 0.01, 100, NULL,
	  "T of the softened outputs, above 0 (2: the paper's)" },
};

struct lwf {
	lethe_plugin plugin;
	const lethe_host *host;
	double lambda, temperature;
	size_t classes;
	lethe_model *teacher;	/* NULL before the second task */
	uint32_t teacher_for;	/* the task it serves */
	int32_t *group;		/* the old classes, group by group */
	uint32_t *ends;		/* group g is group[ends[g-1] .. ends[g]) */
	uint32_t groups;
	float *logits;		/* the teacher's, rows x classes */
	size_t rows;
	double task_loss;
	uint64_t task_batches;
};

static struct lwf *self(lethe_plugin *p)
{
	return p->plugin_data;
}

/* The groups of a teacher for task t: one per earlier task under task-incremental, else one,
 * the union of the earlier tasks' classes in class order. */
static void groups_build(struct lwf *l, uint32_t t)
{
	const lethe_host *h = l->host;
	uint32_t n = 0;
	l->groups = 0;
	if (h->run_info(h)->protocol == LETHE_TASK_INCREMENTAL) {
		for (uint32_t k = 0; k < t; k++) {
			const lethe_task_info *info = h->task_info(h, k);
			for (uint32_t j = 0; j < info->num_classes; j++)
				l->group[n++] = info->classes[j];
			l->ends[l->groups++] = n;
		}
		return;
	}
	for (size_t c = 0; c < l->classes; c++) {
		int old = 0;
		for (uint32_t k = 0; k < t && !old; k++) {
			const lethe_task_info *info = h->task_info(h, k);
			for (uint32_t j = 0; j < info->num_classes && !old; j++)
				old = info->classes[j] == (int32_t)c;
		}
		if (old)
			l->group[n++] = (int32_t)c;
	}
	if (n)
		l->ends[l->groups++] = n;
}

/* The teacher for task t: a copy of the host's model as it stands. */
static int teacher_take(struct lwf *l, uint32_t t)
{
	const lethe_host *h = l->host;
	h->model_free(h, l->teacher);
	l->teacher = h->model_clone(h, h->model(h));
	if (!l->teacher)
		return lethe_fail(h, LETHE_ERR_NOMEM, "cannot copy the model for the teacher");
	l->teacher_for = t;
	groups_build(l, t);
	return LETHE_OK;
}

static int before_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct lwf *l = self(p);
	l->task_loss = 0.0;
	l->task_batches = 0;
	return task->index ? teacher_take(l, task->index) : LETHE_OK;
}

/* The cross-entropy −Σ q log p over one group's classes, q and p the tempered softmaxes of
 * teacher and student; adds scale (p − q) to the student's gradient. */
static double group_ce(const float *teacher, const float *student, float *grad,
		       const int32_t *classes, uint32_t m, double temp, double scale)
{
	double tmax = -INFINITY, smax = -INFINITY, tsum = 0.0, ssum = 0.0, ce = 0.0;
	for (uint32_t j = 0; j < m; j++) {
		tmax = fmax(tmax, teacher[classes[j]]);
		smax = fmax(smax, student[classes[j]]);
	}
	for (uint32_t j = 0; j < m; j++) {
		tsum += exp((teacher[classes[j]] - tmax) / temp);
		ssum += exp((student[classes[j]] - smax) / temp);
	}
	double slog = log(ssum);
	for (uint32_t j = 0; j < m; j++) {
		int32_t c = classes[j];
		double q = exp((teacher[c] - tmax) / temp) / tsum;
		double lp = (student[c] - smax) / temp - slog;
		ce -= q * lp;
		grad[c] += (float)(scale * (exp(lp) - q));
	}
	return ce;
}

static int on_logits(lethe_plugin *p, const lethe_batch *b, const float *logits, float *dlogits,
		     double *loss)
{
	struct lwf *l = self(p);
	const lethe_host *h = l->host;
	if (!l->teacher || l->lambda == 0.0)
		return LETHE_OK;
	if (b->capacity > l->rows) { /* once: the capacity changes only between tasks */
		float *grown = realloc(l->logits, b->capacity * l->classes * sizeof(float));
		if (!grown)
			return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for teacher logits");
		l->logits = grown;
		l->rows = b->capacity;
	}
	int rc = h->model_forward(h, l->teacher, b->x, b->n, l->logits);
	if (rc != LETHE_OK)
		return rc;
	double temp = l->temperature, sum = 0.0, scale = l->lambda / (temp * (double)b->n);
	for (size_t i = 0; i < b->n; i++) {
		size_t row = i * l->classes;
		uint32_t start = 0;
		for (uint32_t g = 0; g < l->groups; g++) {
			sum += group_ce(l->logits + row, logits + row, dlogits + row,
					l->group + start, l->ends[g] - start, temp, scale);
			start = l->ends[g];
		}
	}
	double term = l->lambda * sum / (double)b->n;
	*loss += term;
	l->task_loss += term;
	l->task_batches++;
	/* The batch's term, for the run's curves; after_task leaves the task's mean. */
	l->host->report(l->host, "distill_loss", term);
	return LETHE_OK;
}

static int after_task(lethe_plugin *p, const lethe_task_info *task)
{
	struct lwf *l = self(p);
	(void)task;
	if (l->task_batches)
		l->host->report(l->host, "distill_loss", l->task_loss / (double)l->task_batches);
	return LETHE_OK;
}

static int on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	struct lwf *l = self(p);
	const lethe_host *h = l->host;
	(void)req;
	if (!l->teacher)
		return LETHE_OK;
	uint64_t P;
	const float *from = h->model_params(h, h->model(h), &P);
	memcpy(h->model_params(h, l->teacher, NULL), from, P * sizeof(float));
	lethe_log(h, LETHE_LOG_INFO, "forget: the teacher now has the unlearned model's weights");
	return LETHE_OK;
}

static int save(lethe_plugin *p, const lethe_ostream *out)
{
	struct lwf *l = self(p);
	const lethe_host *h = l->host;
	uint64_t P = 0;
	const float *w = l->teacher ? h->model_params(h, l->teacher, &P) : NULL;
	uint32_t task = l->teacher ? l->teacher_for : 0;
	int rc = out->write(out, &task, sizeof(task));
	if (rc == LETHE_OK)
		rc = out->write(out, &P, sizeof(P));
	if (rc == LETHE_OK && P)
		rc = out->write(out, w, P * sizeof(float));
	if (rc == LETHE_OK)
		rc = out->write(out, &l->task_loss, sizeof(l->task_loss));
	if (rc == LETHE_OK)
		rc = out->write(out, &l->task_batches, sizeof(l->task_batches));
	return rc == LETHE_OK ? rc : lethe_fail(h, rc, "cannot write the state");
}

static int load(lethe_plugin *p, const lethe_istream *in, uint32_t version)
{
	struct lwf *l = self(p);
	const lethe_host *h = l->host;
	uint32_t task;
	uint64_t P, have;
	if (version != 1)
		return lethe_fail(h, LETHE_ERR_INVALID, "state encoding %u is unknown (this plugin "
				  "reads 1)", version);
	if (in->read(in, &task, sizeof(task)) != LETHE_OK ||
	    in->read(in, &P, sizeof(P)) != LETHE_OK)
		return lethe_fail(h, LETHE_ERR_IO, "the state is truncated in its header");
	h->model_params(h, h->model(h), &have);
	if (task >= h->run_info(h)->num_tasks || (task == 0) != (P == 0) || (P && P != have))
		return lethe_fail(h, LETHE_ERR_INVALID, "the state's teacher (task %u, %llu "
				  "parameters) does not fit this run's model of %llu", task,
				  (unsigned long long)P, (unsigned long long)have);
	if (task) {
		/* A clone of the host's model gives the shape; the saved weights replace its own. */
		int rc = teacher_take(l, task);
		if (rc != LETHE_OK)
			return rc;
		float *w = h->model_params(h, l->teacher, NULL);
		if (in->read(in, w, P * sizeof(float)) != LETHE_OK)
			return lethe_fail(h, LETHE_ERR_IO, "the state's teacher is truncated");
		for (uint64_t i = 0; i < P; i++)
			if (!isfinite(w[i]))
				return lethe_fail(h, LETHE_ERR_INVALID, "the state's teacher holds a "
						  "non-finite weight");
	}
	if (in->read(in, &l->task_loss, sizeof(l->task_loss)) != LETHE_OK ||
	    in->read(in, &l->task_batches, sizeof(l->task_batches)) != LETHE_OK)
		return lethe_fail(h, LETHE_ERR_IO, "the state is truncated in its figures");
	return LETHE_OK;
}

static void destroy(lethe_plugin *p)
{
	struct lwf *l = self(p);
	l->host->model_free(l->host, l->teacher);
	free(l->group);
	free(l->ends);
	free(l->logits);
	free(l);
}

static lethe_plugin *create(const lethe_host *host, const lethe_param_value *v)
{
	const lethe_run_info *run = host->run_info(host);
	struct lwf *l = calloc(1, sizeof(*l));
	if (!l) {
		host->error(host, "out of memory");
		return NULL;
	}
	l->plugin = (lethe_plugin){
		.struct_size = sizeof(lethe_plugin),
		.plugin_data = l,
		.destroy = destroy,
		.before_task = before_task,
		.on_logits = on_logits,
		.after_task = after_task,
		.on_forget = on_forget,
		.save = save,
		.load = load,
	};
	l->host = host;
	l->lambda = v[P_LAMBDA].f;
	l->temperature = v[P_TEMPERATURE].f;
	l->classes = run->num_classes;
	/* Room for any grouping: every task's classes, each in a group of its own. */
	size_t room = (size_t)run->num_tasks * run->num_classes;
	l->group = malloc((room ? room : 1) * sizeof(*l->group));
	l->ends = malloc((run->num_tasks ? run->num_tasks : 1) * sizeof(*l->ends));
	if (!l->group || !l->ends) {
		host->error(host, "out of memory");
		destroy(&l->plugin);
		return NULL;
	}
	return &l->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "lwf",
	.version = "1.0",
	.description = "learning without forgetting: distillation to the previous model (Li & "
		       "Hoiem 2017)",
	.params = params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = create,
};
