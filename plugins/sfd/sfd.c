/* sfd: score forgetting distillation for classifiers, after Chen et al., "Score Forgetting
 * Distillation". The paper makes a diffusion model forget a class by distilling a student whose
 * score for the forgotten class matches the frozen teacher's score for a safe class, with no
 * data. This adaptation to classifiers is lethe's own, not the paper's: a classifier's scores
 * are its class probabilities, so forgetting becomes data-free distillation with a remapped
 * class.
 *
 *	L(theta) = E_{x ~ retained-like} T^2 KL(q_phi(x) || p_theta(x))
 *		 + lambda_f E_{x ~ forget-like} T^2 KL(Pi_{f->s} q_phi(x) || p_theta(x))
 *
 * p = softmax(logits / T); phi is a frozen copy of the model as the request finds it (the
 * teacher), theta the host's model itself (the student, so it starts at phi); Pi_{f->s} moves
 * the teacher's probability on every forgotten class onto a safe class s: a fixed class, a
 * random retained class per input, or (safe = spread, ours and the default) every retained class
 * in proportion to its own, which the student can match by lowering the forgotten logits alone.
 *
 * The inputs, data_free: synthesised by inverting the teacher (see invert.h) from faint noise,
 * class-balanced over the learned classes: those of the retained classes are retained-like,
 * those of the forgotten ones forget-like. Otherwise: the real retained samples D_r, and the
 * request's D_f. Each of `steps` steps draws `batch` rows, the two kinds in proportion to their
 * numbers (at least one of each), and takes a plain SGD step on the head alone (head_only, the
 * default: the trunk's features stay the teacher's, which synthetic inputs cannot distort) or on
 * every layer.
 *
 * Defaults, measured by forgetting each class of Fashion-MNIST in turn after learning all ten
 * (scenarios/split-fashion-joint.ini: MLP 784-256-256-10, 5 tasks, joint): the class falls to
 * 0% accuracy and MIA-efficacy to retrain's (1.0); the other classes' test accuracy ends where
 * the teacher's own stands with the forgotten logit masked out (+0.01 points on average), 1.2
 * points (at most 2.2) under retraining the sequence without D_f, the engine's reference; in
 * 0.15 to 0.3 s, 3% of the retraining's time. Training every layer loses half a point more, a
 * random safe class 1.7, a fixed one 9 to 23 (class 0 forgotten): the head then sends whatever
 * looks like the forgotten class there. Inversion from bright noise (uniform in [0, 1]) makes
 * adversarial patterns, and forgetting them leaves real images of some classes recognised.
 *
 * The forgotten classes: a class request's; for a task or samples request, the classes of D_f
 * left with no sample in D_r (a request that empties no class has nothing for sfd to forget,
 * and fails). D_r and D_f cover the tasks learned so far (req->tasks_learned).
 *
 * Figures: seconds, synthesised (inputs), final_loss (of the last step). No state: the teacher
 * and every buffer live only inside unlearn, which allocates them all before its first step. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "distill.h"
#include "invert.h"

/* The noise an inverted input starts from: |N(0, SYNTH_NOISE^2)|, near a blank image. */
#define SYNTH_NOISE 0.1

enum { SAFE_RANDOM = -1, SAFE_SPREAD = -2 };

enum {
	P_DATA_FREE,
	P_TEMPERATURE,
	P_LAMBDA_F,
	P_SAFE,
	P_STEPS,
	P_BATCH,
	P_LR,
	P_SYNTH,
	P_SYNTH_STEPS,
	P_SYNTH_LR,
	P_L2_PRIOR,
	P_TV_PRIOR,
	P_HEAD_ONLY,
	P_COUNT
};

#define DECL(key, type, def, min, max, help) \
	{ sizeof(lethe_param_decl), key, type, def, min, max, NULL, help }

static const lethe_param_decl sfd_params[P_COUNT] = {
	[P_DATA_FREE] = DECL("data_free", LETHE_PARAM_BOOL, "true", 0, 0,
			     "synthesise the inputs by inverting the model (false: D_r and D_f)"),
	[P_TEMPERATURE] = DECL("temperature", LETHE_PARAM_FLOAT, "2", 0.05, 100,
			       "distillation temperature T"),
	[P_LAMBDA_F] = DECL("lambda_f", LETHE_PARAM_FLOAT, "1", 0, 1000,
			    "weight of the forget-like term"),
	[P_SAFE] = DECL("safe", LETHE_PARAM_STRING, "spread", 0, 0,
			"where forgotten probability goes: a class, 'random' or 'spread'"),
	[P_STEPS] = DECL("steps", LETHE_PARAM_INT, "60", 1, 1e7, "distillation steps"),
	[P_BATCH] = DECL("batch", LETHE_PARAM_INT, "128", 2, 65536, "rows per step"),
	[P_LR] = DECL("lr", LETHE_PARAM_FLOAT, "0", 0, 10,
		      "SGD learning rate of the student (0: train.lr)"),
	[P_SYNTH] = DECL("synth", LETHE_PARAM_INT, "256", 1, 1e6,
			 "inputs to synthesise when data_free"),
	[P_SYNTH_STEPS] = DECL("synth_steps", LETHE_PARAM_INT, "20", 0, 1e6,
			       "gradient steps of the input synthesis"),
	[P_SYNTH_LR] = DECL("synth_lr", LETHE_PARAM_FLOAT, "1", 0, 1e6,
			    "step size of the input synthesis"),
	[P_L2_PRIOR] = DECL("l2_prior", LETHE_PARAM_FLOAT, "0.01", 0, 1e6,
			    "weight of the synthesis' L2 prior"),
	[P_TV_PRIOR] = DECL("tv_prior", LETHE_PARAM_FLOAT, "0.1", 0, 1e6,
			    "weight of the synthesis' smoothness prior"),
	[P_HEAD_ONLY] = DECL("head_only", LETHE_PARAM_BOOL, "true", 0, 0,
			     "distil into the classifier head alone, the trunk frozen"),
};

struct sfd {
	lethe_plugin plugin;
	const lethe_host *host;
	int data_free, head_only;
	double temperature, lambda_f, lr;
	int32_t safe; /* a class, SAFE_RANDOM or SAFE_SPREAD */
	uint32_t steps, batch, synth;
	struct invert_spec invert;
};

/* One request's working state. */
struct job {
	struct sfd *s;
	const lethe_host *h;
	const lethe_forget_request *req;
	size_t dim, classes;
	lethe_model *teacher;
	uint8_t *learned;   /* per class: 1 for a class of a learned task */
	uint8_t *forgotten; /* per class: 1 for a class the request forgets */
	int32_t *retained;  /* the learned classes that stay */
	size_t num_retained;
	int32_t *gone;	    /* the learned classes that go */
	size_t num_gone;

	/* n_r retained-like and n_f forget-like inputs. Synthesised, they are the rows of
	 * synth_x, retained-like first, with the teacher's logits in synth_logits; real, they are
	 * D_r (retain: (task << 32) | position in the task's list) and D_f (req->ids). */
	size_t n_r, n_f;
	float *synth_x, *synth_logits;
	uint64_t *retain;
	int32_t *safe; /* n_f: the safe class of each forget-like input, or SAFE_SPREAD */

	/* A batch: rows_r retained-like rows, then rows_f forget-like rows. */
	size_t rows_r, rows_f;
	float *x, *teacher_logits, *q, *logits, *dlogits;
	int32_t *row_safe;
};

static struct sfd *sfd_of(lethe_plugin *p)
{
	return p->plugin_data;
}

static int job_fail(const struct job *j, int status, const char *msg)
{
	j->h->error(j->h, msg);
	return status;
}

static int job_nomem(const struct job *j)
{
	return job_fail(j, LETHE_ERR_NOMEM, "out of memory");
}

/* The tasks learned so far: all of the run's when the request does not say. */
static uint32_t job_tasks(const struct job *j)
{
	const lethe_forget_request *r = j->req;
	uint32_t all = j->h->run_info(j->h)->num_tasks;
	size_t has = offsetof(lethe_forget_request, tasks_learned) + sizeof(r->tasks_learned);
	return r->struct_size >= has && r->tasks_learned < all ? r->tasks_learned : all;
}

/* How many of req->ids belong to learned tasks: a prefix, as the task is an id's high half. */
static size_t job_learned_ids(const struct job *j)
{
	uint64_t end = (uint64_t)job_tasks(j) << 32;
	size_t lo = 0, hi = j->req->num_ids;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (j->req->ids[mid] < end)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Walks D_r: marks in `kept` the classes it still has and, for real inputs, lists it. */
static int job_scan_retained(struct job *j, uint8_t *kept)
{
	const lethe_host *h = j->h;
	uint32_t tasks = job_tasks(j);
	uint64_t total = 0;
	for (uint32_t k = 0; k < tasks; k++)
		total += h->task_info(h, k)->num_train;
	if (!j->s->data_free && !(j->retain = malloc((total ? total : 1) * sizeof(uint64_t))))
		return job_nomem(j);
	for (uint32_t k = 0; k < tasks; k++) {
		uint64_t n = h->task_info(h, k)->num_train;
		for (uint64_t pos = 0; pos < n; pos++) {
			uint64_t id;
			int32_t y;
			int rc = h->task_raw(h, k, pos, NULL, &y, &id);
			if (rc != LETHE_OK)
				return rc;
			if (lethe_forget_covers(j->req, id))
				continue;
			kept[y] = 1;
			if (j->retain)
				j->retain[j->n_r++] = ((uint64_t)k << 32) | pos;
		}
	}
	return LETHE_OK;
}

/* The classes a task or samples request forgets: those of D_f that D_r no longer has. */
static int job_emptied_classes(struct job *j, const uint8_t *kept)
{
	for (size_t i = 0; i < job_learned_ids(j); i++) {
		int32_t y;
		int rc = j->h->sample_raw(j->h, j->req->ids[i], NULL, &y);
		if (rc != LETHE_OK)
			return rc;
		j->forgotten[y] = !kept[y];
	}
	return LETHE_OK;
}

/* Settles the learned, forgotten and retained classes, and the safe class. */
static int job_classes(struct job *j)
{
	const lethe_host *h = j->h;
	const lethe_forget_request *req = j->req;
	size_t C = j->classes;
	uint8_t *kept = calloc(C, 1);
	if (!kept)
		return job_nomem(j);
	int rc = job_scan_retained(j, kept);
	if (rc == LETHE_OK && req->kind != LETHE_FORGET_CLASS)
		rc = job_emptied_classes(j, kept);
	free(kept);
	if (rc != LETHE_OK)
		return rc;
	for (size_t i = 0; req->kind == LETHE_FORGET_CLASS && i < req->num_classes; i++) {
		if (req->classes[i] < 0 || (size_t)req->classes[i] >= C)
			return job_fail(j, LETHE_ERR_INVALID, "the request names a class the model "
					"does not have");
		j->forgotten[req->classes[i]] = 1;
	}
	for (uint32_t k = 0; k < job_tasks(j); k++) {
		const lethe_task_info *t = h->task_info(h, k);
		for (uint32_t i = 0; i < t->num_classes; i++)
			j->learned[t->classes[i]] = 1;
	}
	for (size_t c = 0; c < C; c++) {
		if (j->learned[c] && j->forgotten[c])
			j->gone[j->num_gone++] = (int32_t)c;
		else if (j->learned[c])
			j->retained[j->num_retained++] = (int32_t)c;
	}
	if (!j->num_gone)
		return job_fail(j, LETHE_ERR_INVALID, req->kind == LETHE_FORGET_CLASS
				? "the request forgets no class the model has learned"
				: "the request leaves a sample in D_r of every class it touches: "
				  "sfd forgets whole classes only");
	if (!j->num_retained)
		return job_fail(j, LETHE_ERR_INVALID, "the request forgets every learned class");
	if (j->s->safe >= 0 && (!j->learned[j->s->safe] || j->forgotten[j->s->safe])) {
		char msg[96];
		snprintf(msg, sizeof(msg), "safe = %d is not a retained class", j->s->safe);
		return job_fail(j, LETHE_ERR_INVALID, msg);
	}
	return LETHE_OK;
}

/* Synthesises the inputs: synth rows, as many per learned class, the forgotten classes'
 * last; then the teacher's logits of them. */
static int job_synthesise(struct job *j)
{
	const lethe_host *h = j->h;
	size_t n = j->s->synth, dim = j->dim, R = j->num_retained, F = j->num_gone;
	if (n < R + F) {
		char msg[96];
		snprintf(msg, sizeof(msg), "synth = %zu is fewer than the %zu learned classes", n,
			 R + F);
		return job_fail(j, LETHE_ERR_INVALID, msg);
	}
	j->n_f = n / (R + F) * F;
	j->n_r = n - j->n_f;
	int32_t *target = malloc(n * sizeof(int32_t));
	j->synth_x = malloc(n * dim * sizeof(float));
	j->synth_logits = malloc(n * j->classes * sizeof(float));
	struct invert_work w;
	int rc = invert_work_init(&w, h, j->teacher, n);
	if (rc == LETHE_OK && (!target || !j->synth_x || !j->synth_logits))
		rc = LETHE_ERR_NOMEM;
	if (rc == LETHE_OK) {
		for (size_t i = 0; i < n; i++)
			target[i] = i < j->n_r ? j->retained[i % R] : j->gone[(i - j->n_r) % F];
		for (size_t i = 0; i < n * dim; i++)
			j->synth_x[i] = (float)fabs(SYNTH_NOISE * h->rng_normal(h));
		rc = invert_run(h, j->teacher, &j->s->invert, target, n, j->synth_x, &w);
	}
	if (rc == LETHE_OK)
		rc = h->model_forward(h, j->teacher, j->synth_x, n, j->synth_logits);
	free(target);
	invert_work_free(&w);
	return rc == LETHE_ERR_NOMEM ? job_nomem(j) : rc;
}

static size_t draw(const lethe_host *h, size_t n)
{
	return (size_t)(h->rng_u64(h) % n);
}

/* Fills the batch's inputs and the teacher's logits of them. */
static int job_fill(struct job *j)
{
	const lethe_host *h = j->h;
	size_t dim = j->dim, C = j->classes, rows = j->rows_r + j->rows_f;
	for (size_t i = 0; i < rows; i++) {
		int forget = i >= j->rows_r;
		size_t at = draw(h, forget ? j->n_f : j->n_r);
		float *x = j->x + i * dim;
		int rc = LETHE_OK;
		if (forget)
			j->row_safe[i - j->rows_r] = j->safe[at];
		if (j->synth_x) {
			size_t row = forget ? j->n_r + at : at;
			memcpy(x, j->synth_x + row * dim, dim * sizeof(float));
			memcpy(j->teacher_logits + i * C, j->synth_logits + row * C,
			       C * sizeof(float));
		} else if (forget) {
			const uint8_t *pixels;
			uint64_t id = j->req->ids[at];
			rc = h->sample_raw(h, id, &pixels, NULL);
			if (rc == LETHE_OK)
				rc = h->task_convert(h, (uint32_t)(id >> 32), pixels, 1, x);
		} else {
			uint32_t task = (uint32_t)(j->retain[at] >> 32);
			uint64_t pos = (uint32_t)j->retain[at];
			rc = h->task_load(h, task, LETHE_SPLIT_TRAIN, &pos, 1, x, NULL, NULL);
		}
		if (rc != LETHE_OK)
			return rc;
	}
	return j->synth_x ? LETHE_OK : h->model_forward(h, j->teacher, j->x, rows,
							 j->teacher_logits);
}

/* The SGD step of the head alone, from the batch's dlogits: dW = dlogits^T a and db their
 * column sums, a the head's input features of the forward. The trunk needs no backward. */
static int job_head_step(struct job *j, float lr)
{
	const lethe_host *h = j->h;
	lethe_model *student = h->model(h);
	size_t C = j->classes, rows = j->rows_r + j->rows_f;
	lethe_layer head = { .struct_size = sizeof(head) };
	int rc = h->model_layer(h, student, h->model_num_layers(h, student) - 1, &head);
	if (rc != LETHE_OK)
		return rc;
	float *params = h->model_params(h, student, NULL);
	float *grads = h->model_grads(h, student, NULL);
	float *dw = grads + head.weight_offset, *db = grads + head.bias_offset;
	h->sgemm(h, 1, 0, C, head.in, rows, 1.0f, j->dlogits, C, head.input, head.in, 0.0f, dw,
		 head.in);
	memset(db, 0, C * sizeof(float));
	for (size_t i = 0; i < rows; i++)
		h->saxpy(h, C, 1.0f, j->dlogits + i * C, db);
	h->saxpy(h, C * head.in, -lr, dw, params + head.weight_offset);
	h->saxpy(h, C, -lr, db, params + head.bias_offset);
	return LETHE_OK;
}

/* One distillation step on a fresh batch; *loss receives its loss. */
static int job_step(struct job *j, float lr, double *loss)
{
	const lethe_host *h = j->h;
	struct sfd *s = j->s;
	lethe_model *student = h->model(h);
	size_t C = j->classes, rows = j->rows_r + j->rows_f;
	double T = s->temperature, total = 0;
	int rc = job_fill(j);
	if (rc == LETHE_OK)
		rc = h->model_forward(h, student, j->x, rows, j->logits);
	if (rc != LETHE_OK)
		return rc;
	memset(j->dlogits, 0, rows * C * sizeof(float));
	for (size_t i = 0; i < rows; i++) {
		int forget = i >= j->rows_r;
		double scale = forget ? s->lambda_f / (double)j->rows_f : 1.0 / (double)j->rows_r;
		float *q = j->q + i * C;
		distill_target(j->teacher_logits + i * C, C, T, forget ? j->forgotten : NULL,
			       forget ? j->row_safe[i - j->rows_r] : 0, q);
		total += scale * distill_kl(q, j->logits + i * C, C, T, scale, j->dlogits + i * C);
	}
	if (!isfinite(total))
		return job_fail(j, LETHE_ERR_NUMERIC, "the distillation loss is not finite; "
				"lower lr");
	*loss = total;
	if (s->head_only)
		return job_head_step(j, lr);
	rc = h->model_backward(h, student, j->dlogits, rows);
	if (rc != LETHE_OK)
		return rc;
	uint64_t P;
	float *params = h->model_params(h, student, &P);
	h->saxpy(h, P, -lr, h->model_grads(h, student, NULL), params);
	return LETHE_OK;
}

/* Every buffer of the request, the teacher and the inputs, before the first step. */
static int job_open(struct job *j)
{
	const lethe_host *h = j->h;
	size_t C = j->classes, rows = j->s->batch;
	j->teacher = h->model_clone(h, h->model(h));
	if (!j->teacher)
		return LETHE_ERR_NOMEM; /* model_clone has said why */
	j->learned = calloc(C, 1);
	j->forgotten = calloc(C, 1);
	j->retained = malloc(C * sizeof(int32_t));
	j->gone = malloc(C * sizeof(int32_t));
	if (!j->learned || !j->forgotten || !j->retained || !j->gone)
		return job_nomem(j);
	int rc = job_classes(j);
	if (rc == LETHE_OK && j->s->data_free)
		rc = job_synthesise(j);
	else if (rc == LETHE_OK)
		j->n_f = job_learned_ids(j);
	if (rc != LETHE_OK)
		return rc;
	if (!j->n_f || !j->n_r)
		return job_fail(j, LETHE_ERR_INVALID, j->n_f ? "D_r is empty" : "D_f is empty");
	/* The kinds in proportion, each with at least one row. */
	j->rows_f = (size_t)llround((double)rows * (double)j->n_f / (double)(j->n_f + j->n_r));
	j->rows_f = j->rows_f < 1 ? 1 : j->rows_f > rows - 1 ? rows - 1 : j->rows_f;
	j->rows_r = rows - j->rows_f;
	j->safe = malloc(j->n_f * sizeof(int32_t));
	j->row_safe = malloc(j->rows_f * sizeof(int32_t));
	j->x = malloc(rows * j->dim * sizeof(float));
	j->teacher_logits = malloc(rows * C * sizeof(float));
	j->q = malloc(rows * C * sizeof(float));
	j->logits = malloc(rows * C * sizeof(float));
	j->dlogits = malloc(rows * C * sizeof(float));
	if (!j->safe || !j->row_safe || !j->x || !j->teacher_logits || !j->q || !j->logits ||
	    !j->dlogits)
		return job_nomem(j);
	for (size_t i = 0; i < j->n_f; i++)
		j->safe[i] = j->s->safe == SAFE_RANDOM ? j->retained[draw(h, j->num_retained)]
						       : j->s->safe;
	return LETHE_OK;
}

static void job_close(struct job *j)
{
	if (j->teacher)
		j->h->model_free(j->h, j->teacher);
	free(j->learned);
	free(j->forgotten);
	free(j->retained);
	free(j->gone);
	free(j->synth_x);
	free(j->synth_logits);
	free(j->retain);
	free(j->safe);
	free(j->x);
	free(j->teacher_logits);
	free(j->q);
	free(j->logits);
	free(j->dlogits);
	free(j->row_safe);
}

static int sfd_unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	struct sfd *s = sfd_of(p);
	const lethe_host *h = s->host;
	const lethe_run_info *run = h->run_info(h);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct job j = {
		.s = s, .h = h, .req = req, .dim = run->input_dim, .classes = run->num_classes,
	};
	float lr = (float)(s->lr > 0 ? s->lr : run->lr);
	double loss = 0;
	int rc = job_open(&j);
	for (uint32_t step = 0; rc == LETHE_OK && step < s->steps; step++)
		rc = job_step(&j, lr, &loss);
	size_t n_r = j.n_r, n_f = j.n_f, synthesised = j.synth_x ? n_r + n_f : 0;
	job_close(&j);
	if (rc != LETHE_OK)
		return rc;
	double seconds = lethe_seconds_since(&t0);
	h->report(h, "seconds", seconds);
	h->report(h, "synthesised", (double)synthesised);
	h->report(h, "final_loss", loss);
	char msg[192];
	snprintf(msg, sizeof(msg), "%u steps on %zu retained-like and %zu forget-like %s inputs in "
		 "%.3f s, final loss %.4g", s->steps, n_r, n_f,
		 synthesised ? "synthesised" : "real", seconds, loss);
	h->log(h, LETHE_LOG_INFO, msg);
	return LETHE_OK;
}

/* sfd keeps nothing of any sample between hooks: there is nothing to purge. */
static int sfd_on_forget(lethe_plugin *p, const lethe_forget_request *req)
{
	(void)p;
	(void)req;
	return LETHE_OK;
}

static void sfd_destroy(lethe_plugin *p)
{
	free(sfd_of(p));
}

/* "random", "spread" or a class index of the model. */
static int parse_safe(const lethe_host *h, const char *text, int32_t *safe)
{
	if (!strcmp(text, "random") || !strcmp(text, "spread")) {
		*safe = text[0] == 'r' ? SAFE_RANDOM : SAFE_SPREAD;
		return 0;
	}
	char *end;
	long c = strtol(text, &end, 10);
	if (end != text && !*end && c >= 0 && c < (long)h->run_info(h)->num_classes) {
		*safe = (int32_t)c;
		return 0;
	}
	char msg[128];
	snprintf(msg, sizeof(msg), "safe = '%.40s' is not 'random', 'spread' or a class in [0, %u)",
		 text, h->run_info(h)->num_classes);
	h->error(h, msg);
	return -1;
}

/* Descent on the synthesis' priors diverges from a step size on (a checkerboard grows). */
static int check_synth_lr(const lethe_host *h, const struct invert_spec *spec)
{
	size_t channels, height, width;
	invert_shape(h->run_info(h), &channels, &height, &width);
	double limit = invert_lr_limit(spec, height, width);
	if (spec->lr < limit)
		return 0;
	char msg[192];
	snprintf(msg, sizeof(msg), "synth_lr = %g with l2_prior = %g and tv_prior = %g would "
		 "diverge; use synth_lr < %g", spec->lr, spec->l2, spec->tv, limit);
	h->error(h, msg);
	return -1;
}

static lethe_plugin *sfd_create(const lethe_host *h, const lethe_param_value *v)
{
	struct invert_spec invert = {
		.steps = (uint32_t)v[P_SYNTH_STEPS].i,
		.lr = v[P_SYNTH_LR].f,
		.l2 = v[P_L2_PRIOR].f,
		.tv = v[P_TV_PRIOR].f,
	};
	int32_t safe;
	if (parse_safe(h, v[P_SAFE].s, &safe) != 0 || check_synth_lr(h, &invert) != 0)
		return NULL;
	struct sfd *s = calloc(1, sizeof(*s));
	if (!s) {
		h->error(h, "out of memory");
		return NULL;
	}
	*s = (struct sfd){
		.plugin = {
			.struct_size = sizeof(lethe_plugin),
			.plugin_data = s,
			.destroy = sfd_destroy,
			.on_forget = sfd_on_forget,
			.unlearn = sfd_unlearn,
		},
		.host = h,
		.data_free = (int)v[P_DATA_FREE].i,
		.head_only = (int)v[P_HEAD_ONLY].i,
		.temperature = v[P_TEMPERATURE].f,
		.lambda_f = v[P_LAMBDA_F].f,
		.lr = v[P_LR].f,
		.safe = safe,
		.steps = (uint32_t)v[P_STEPS].i,
		.batch = (uint32_t)v[P_BATCH].i,
		.synth = (uint32_t)v[P_SYNTH].i,
		.invert = invert,
	};
	return &s->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "sfd",
	.version = "1.0",
	.description = "score forgetting distillation: forget classes by distilling the model into "
		       "itself, their probability moved elsewhere (our adaptation of Chen et al.)",
	.params = sfd_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = sfd_create,
};
