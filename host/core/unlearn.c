#define _GNU_SOURCE
#include "core/unlearn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/evidence.h"
#include "model/loss.h"
#include "model/sgd.h"
#include "util/elapsed.h"

/* Rows per evaluation forward pass, as in the engine: GEMM-sized, small in memory. */
#define EVAL_CHUNK 1000
/* Members the attack trains on at most, and as many non-members. */
#define ATTACK_MAX 5000

/* Streams of spec.seed, one per purpose, so that one consumer's draws never shift another's.
 * Reference r uses STREAM_REFERENCE + r. */
enum { STREAM_ATTACK = 1, STREAM_RELEARN, STREAM_REFERENCE, STREAM_SVC = 64 };

_Static_assert(FORGET_ATTACKS == EVIDENCE_ATTACKS, "metrics.h counts evidence.h's attacks");
_Static_assert(FORGET_MIA_ATTACK == EVIDENCE_CONFIDENCE, "MIA-efficacy is the confidence SVC's");

/* The buffers every pass shares, sized once per call: nothing is allocated per batch. */
struct work {
	const struct unlearn_env *env;
	size_t dim, classes;
	size_t cap;   /* rows of x, logits, dlogits, y, masks */
	size_t batch; /* rows per training batch */
	int masked;   /* task-incremental: each row's logits are masked by its task's classes */
	int predicted; /* the forwards go through env->predict */
	float *x, *logits, *dlogits;
	float *ref_logits;	  /* retrain's, when compared with */
	double *lp, *lq;	  /* one row's log-probabilities: retrain's, the model's */
	int32_t *y;
	const uint8_t **masks;
	const char *reference;	  /* a reference's training, which reports its progress: */
	uint64_t batches, planned; /* batches trained and planned; planned 0 reports nothing */
};

/* Samples to evaluate or train on: ids into one split, with labels overriding the data's
 * unless NULL (random labels). */
struct rows {
	const struct dataset *split;
	const uint64_t *ids;
	const int32_t *labels;
	size_t n;
};

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

void unlearn_sets_free(struct forget_sets *fs)
{
	free(fs->forget);
	free(fs->retain);
	free(fs->test);
	free(fs->forget_test);
	memset(fs, 0, sizeof(*fs));
}

/* ---- checks ---- */

static int check_ids(const struct unlearn_env *env, const uint64_t *ids, size_t n,
		     const struct dataset *split, const char *set, struct error *err)
{
	if (n > UINT32_MAX)
		return error_set(err, "%s holds %zu samples, more than a shuffle can index", set, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t k = ids[i] >> 32, p = (uint32_t)ids[i];
		if (k >= env->tasks->count || p >= split->n)
			return error_set(err, "%s: sample id %#llx names task %llu, position %llu: "
					 "there are %zu tasks and %zu samples", set,
					 (unsigned long long)ids[i], (unsigned long long)k,
					 (unsigned long long)p, env->tasks->count, split->n);
	}
	return 0;
}

static int check_sets(const struct unlearn_env *env, const struct forget_sets *fs,
		      struct error *err)
{
	if (check_ids(env, fs->forget, fs->num_forget, env->train, "D_f", err) != 0 ||
	    check_ids(env, fs->retain, fs->num_retain, env->train, "D_r", err) != 0 ||
	    check_ids(env, fs->test, fs->num_test, env->test, "the test set", err) != 0 ||
	    check_ids(env, fs->forget_test, fs->num_forget_test, env->test, "the forget test set",
		      err) != 0)
		return -1;
	return 0;
}

static int check_model(const struct unlearn_env *env, const struct model *m, const char *what,
		       struct error *err)
{
	if (m->num_layers == 0 || model_inputs(m) != env->train->dim ||
	    model_outputs(m) != env->num_classes)
		return error_set(err, "the %s model does not map %zu inputs to %zu classes", what,
				 env->train->dim, env->num_classes);
	return 0;
}

/* A model's parameters and batch norm's running statistics, what a step changes: a snapshot
 * of P + S floats to roll back to. */
static size_t snapshot_floats(const struct model *m)
{
	return m->num_params + m->num_state;
}

static void snapshot_take(const struct model *m, float *to)
{
	memcpy(to, m->params, m->num_params * sizeof(float));
	memcpy(to + m->num_params, m->state, m->num_state * sizeof(float));
}

static void snapshot_restore(struct model *m, const float *from)
{
	memcpy(m->params, from, m->num_params * sizeof(float));
	memcpy(m->state, from + m->num_params, m->num_state * sizeof(float));
}

/* ---- batches ---- */

static int work_init(struct work *w, const struct unlearn_env *env, size_t batch_size,
		     struct error *err)
{
	memset(w, 0, sizeof(*w));
	if (batch_size == 0)
		return error_set(err, "the batch size is 0");
	w->env = env;
	w->dim = env->train->dim;
	w->classes = env->num_classes;
	w->batch = batch_size;
	w->cap = batch_size > EVAL_CHUNK ? batch_size : EVAL_CHUNK;
	w->masked = env->protocol == LETHE_TASK_INCREMENTAL;
	w->x = malloc(w->cap * w->dim * sizeof(float));
	w->logits = malloc(w->cap * w->classes * sizeof(float));
	w->dlogits = malloc(w->cap * w->classes * sizeof(float));
	w->ref_logits = malloc(w->cap * w->classes * sizeof(float));
	w->lp = malloc(w->classes * sizeof(double));
	w->lq = malloc(w->classes * sizeof(double));
	w->y = malloc(w->cap * sizeof(int32_t));
	w->masks = malloc(w->cap * sizeof(*w->masks));
	if (!w->x || !w->logits || !w->dlogits || !w->ref_logits || !w->lp || !w->lq || !w->y ||
	    !w->masks)
		return error_set(err, "out of memory for batches of %zu rows", w->cap);
	return 0;
}

static void work_free(struct work *w)
{
	free(w->x);
	free(w->logits);
	free(w->dlogits);
	free(w->ref_logits);
	free(w->lp);
	free(w->lq);
	free(w->y);
	free(w->masks);
}

/* Converts rows order[at, at + n) of r (rows at.. when order is NULL) into the work buffers. */
static void load_rows(struct work *w, const struct rows *r, const uint32_t *order, size_t at,
		      size_t n)
{
	const struct task_list *tl = w->env->tasks;
	for (size_t i = 0; i < n; i++) {
		size_t j = order ? order[at + i] : at + i;
		const struct task *t = &tl->t[r->ids[j] >> 32];
		uint32_t p = (uint32_t)r->ids[j];
		tasks_convert(t, r->split->x + (size_t)p * w->dim, 1, w->dim, w->x + i * w->dim);
		w->y[i] = r->labels ? r->labels[j] : r->split->y[p];
		w->masks[i] = t->class_mask;
	}
}

/* -log p(y|x) over the allowed classes. Kept apart from the loss so that a confident row
 * keeps its resolution: when y is the top class this is log1p of the others' share, where
 * log(1 + share) would round every share below 1e-16 to zero and tie the attack's scores. A
 * row with non-finite logits counts as knowing nothing (infinity). */
static double true_class_nll(const float *z, size_t classes, int32_t y, const uint8_t *mask)
{
	if (y < 0 || (size_t)y >= classes || (mask && !mask[y]))
		return INFINITY;
	double zy = z[y], max = zy;
	for (size_t j = 0; j < classes; j++)
		if ((!mask || mask[j]) && z[j] > max)
			max = z[j];
	double others = 0.0;
	for (size_t j = 0; j < classes; j++)
		if ((!mask || mask[j]) && j != (size_t)y)
			others += exp(z[j] - max);
	double v = max == zy ? log1p(others) : max - zy + log(others + exp(zy - max));
	return isnan(v) ? INFINITY : v;
}

/* What an evaluation also gathers for the evidence of forgetting: every row's attack
 * features (n x EVIDENCE_FEATURES), and the mean divergences from ref's outputs. */
struct probe {
	double *features;	/* or NULL */
	struct model *ref;	/* retrain, or NULL */
	double kl, js, l2;	/* means over the rows; NaN when ref is NULL or r empty */
};

/* One row's features and its divergence terms from ref's row (sums, when ref is set). */
static void probe_row(struct work *w, struct probe *pr, size_t i, const float *row,
		      const uint8_t *mask, double *out)
{
	size_t C = w->classes;
	int finite = evidence_log_softmax(row, C, mask, w->lq) == 0;
	if (pr->features)
		evidence_features(finite ? w->lq : NULL, C, mask, w->y[i], out);
	if (!pr->ref)
		return;
	double kl = NAN, js = NAN, l2 = NAN;
	if (finite && evidence_log_softmax(w->ref_logits + i * C, C, mask, w->lp) == 0)
		evidence_divergence(w->lp, w->lq, C, &kl, &js, &l2);
	pr->kl += kl;
	pr->js += js;
	pr->l2 += l2;
}

/* The logits of r's rows at, at + n (in the work buffers) through env->predict, a task's rows
 * at a time (ids are sorted, so a task's are together). */
static int predict_rows(struct work *w, const struct rows *r, size_t at, size_t n,
			struct error *err)
{
	size_t C = w->classes;
	for (size_t i = 0, j; i < n; i = j) {
		uint32_t k = (uint32_t)(r->ids[at + i] >> 32);
		for (j = i + 1; j < n && (uint32_t)(r->ids[at + j] >> 32) == k; j++)
			;
		if (w->env->predict(w->env->ctx, k, w->x + i * w->dim, j - i, w->logits + i * C,
				    err) != 0)
			return -1;
	}
	return 0;
}

/* Accuracy and mean -log p(y|x) of m on r, NaN when r is empty; nll, if not NULL, receives
 * every row's; pr, if not NULL, the evidence. */
static int evaluate(struct work *w, struct model *m, const struct rows *r, double *acc,
		    double *loss, double *nll, struct probe *pr, struct error *err)
{
	size_t correct = 0, C = w->classes;
	double total = 0.0;
	if (pr)
		pr->kl = pr->js = pr->l2 = 0.0;
	for (size_t at = 0; at < r->n; at += w->cap) {
		size_t n = min_size(r->n - at, w->cap);
		load_rows(w, r, NULL, at, n);
		if ((w->predicted ? predict_rows(w, r, at, n, err)
				  : model_forward(m, w->x, n, w->logits, err)) != 0 ||
		    (pr && pr->ref && model_forward(pr->ref, w->x, n, w->ref_logits, err) != 0))
			return -1;
		for (size_t i = 0; i < n; i++) {
			const float *row = w->logits + i * C;
			const uint8_t *mask = w->masked ? w->masks[i] : NULL;
			double v = true_class_nll(row, C, w->y[i], mask);
			correct += loss_argmax(row, C, mask) == w->y[i];
			total += v;
			if (nll)
				nll[at + i] = v;
			if (pr)
				probe_row(w, pr, i, row, mask,
					  pr->features ? pr->features + (at + i) * EVIDENCE_FEATURES
						       : NULL);
		}
	}
	if (acc)
		*acc = r->n ? (double)correct / (double)r->n : NAN;
	if (loss)
		*loss = r->n ? total / (double)r->n : NAN;
	if (pr) {
		double n = pr->ref && r->n ? (double)r->n : NAN;
		pr->kl /= n;
		pr->js /= n;
		pr->l2 /= n;
	}
	return 0;
}

/* One SGD step on rows order[at, at + n) of r, descending the CE or ascending it, the forward
 * in training mode. A batch whose loss is not finite is not stepped on; keep, if not NULL
 * (P + 2 S floats), receives the model's snapshot from before a step taken (its running
 * statistics as they were before the batch's forward moved them, kept meanwhile in the last
 * S). */
static int train_step(struct work *w, struct model *m, struct sgd *opt, const struct rows *r,
		      const uint32_t *order, size_t at, int ascend, float *keep, double *loss,
		      struct error *err)
{
	size_t n = min_size(r->n - at, w->batch);
	load_rows(w, r, order, at, n);
	float *state = keep ? keep + snapshot_floats(m) : NULL;
	if (keep)
		memcpy(state, m->state, m->num_state * sizeof(float));
	m->training = 1;
	int rc = model_forward(m, w->x, n, w->logits, err);
	m->training = 0;
	if (rc != 0)
		return -1;
	*loss = loss_softmax_ce(w->logits, n, w->classes, w->y, w->masked ? w->masks : NULL,
				w->dlogits);
	if (!isfinite(*loss))
		return 0;
	if (ascend)
		for (size_t i = 0; i < n * w->classes; i++)
			w->dlogits[i] = -w->dlogits[i];
	model_backward(m, w->dlogits);
	if (keep) {
		memcpy(keep, m->params, m->num_params * sizeof(float));
		memcpy(keep + m->num_params, state, m->num_state * sizeof(float));
	}
	sgd_step(opt, m->params, m->grads, m->num_params);
	if (w->planned && w->env->progress)
		w->env->progress(w->env->ctx, w->reference, ++w->batches, w->planned);
	return 0;
}

static size_t batches_of(const struct work *w, size_t n)
{
	return (n + w->batch - 1) / w->batch;
}

/* Descends the CE over the first `batches` batches of order, stopping at a batch whose loss is
 * not finite: *bad receives its index (`batches` when none). */
static int descend(struct work *w, struct model *m, struct sgd *opt, const struct rows *r,
		   const uint32_t *order, size_t batches, size_t *bad, struct error *err)
{
	*bad = batches;
	for (size_t b = 0; b < batches; b++) {
		double loss;
		if (train_step(w, m, opt, r, order, b * w->batch, 0, NULL, &loss, err) != 0)
			return -1;
		if (!isfinite(loss)) {
			*bad = b;
			return 0;
		}
	}
	return 0;
}

static void order_init(uint32_t *order, size_t n)
{
	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
}

/* Fine-tuning by the book: epochs over r, reshuffled each time; a non-finite loss is an error,
 * as in the engine. */
static int descend_epochs(struct work *w, struct model *m, struct sgd *opt, const struct rows *r,
			  uint32_t *order, size_t epochs, struct rng *rng, struct error *err)
{
	size_t batches = batches_of(w, r->n);
	order_init(order, r->n);
	for (size_t epoch = 0; epoch < epochs; epoch++) {
		rng_shuffle_u32(rng, order, r->n);
		size_t bad;
		if (descend(w, m, opt, r, order, batches, &bad, err) != 0)
			return -1;
		if (bad < batches)
			return error_set(err, "epoch %zu, batch %zu: the loss is not finite; lr = %g "
					 "may be too large", epoch + 1, bad + 1, opt->lr);
	}
	return 0;
}

static int all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

/* Gradient ascent on D_f. Ascent has no floor: once the logits overflow the loss is no longer
 * finite, so it stops there, keeps the model from before the step that broke it (prev: one
 * copy per step, cheap beside the GEMMs; P + 2 S floats, see train_step) and says so in the
 * log. */
static int ascend_epochs(struct work *w, struct model *m, struct sgd *opt, const struct rows *r,
			 uint32_t *order, float *prev, size_t epochs, struct rng *rng,
			 struct error *err)
{
	size_t batches = batches_of(w, r->n);
	order_init(order, r->n);
	snapshot_take(m, prev);
	for (size_t epoch = 0; epoch < epochs; epoch++) {
		rng_shuffle_u32(rng, order, r->n);
		for (size_t b = 0; b < batches; b++) {
			double loss;
			if (train_step(w, m, opt, r, order, b * w->batch, 1, prev, &loss, err) != 0)
				return -1;
			if (isfinite(loss) && all_finite(m->params, m->num_params) &&
			    all_finite(m->state, m->num_state))
				continue;
			snapshot_restore(m, prev);
			char msg[160];
			snprintf(msg, sizeof(msg), "gradient_ascent: the loss on D_f stopped being "
				 "finite at epoch %zu, batch %zu; kept the model from before that "
				 "step", epoch + 1, b + 1);
			if (w->env->warn)
				w->env->warn(w->env->ctx, msg);
			return 0;
		}
	}
	return 0;
}

/* D_f with random wrong labels followed by D_r with its own, as one training set. A label is
 * drawn, once, uniformly among the classes the model may answer for the sample less its true
 * one: its task's under task-incremental (the mask allows no other), else every class of the
 * tasks D_f and D_r come from (SalUn draws among all classes). */
static int relabel(const struct unlearn_env *env, const struct forget_sets *fs, struct rng *rng,
		   uint64_t *ids, int32_t *labels, struct error *err)
{
	uint8_t learned[CLASSES_MAX] = { 0 };
	for (size_t i = 0; i < fs->num_forget + fs->num_retain; i++) {
		uint64_t id = i < fs->num_forget ? fs->forget[i] : fs->retain[i - fs->num_forget];
		const struct task *t = &env->tasks->t[id >> 32];
		for (uint32_t c = 0; c < t->num_classes; c++)
			learned[t->classes[c]] = 1;
		ids[i] = id;
		labels[i] = env->train->y[(uint32_t)id];
	}
	int32_t all[CLASSES_MAX];
	uint32_t num_all = 0;
	for (int32_t c = 0; c < CLASSES_MAX; c++)
		if (learned[c])
			all[num_all++] = c;
	for (size_t i = 0; i < fs->num_forget; i++) {
		const struct task *t = &env->tasks->t[ids[i] >> 32];
		int masked = env->protocol == LETHE_TASK_INCREMENTAL;
		const int32_t *cand = masked ? t->classes : all;
		uint32_t n = masked ? t->num_classes : num_all;
		uint32_t wrong = n;
		for (uint32_t c = 0; c < n; c++)
			wrong -= cand[c] == labels[i];
		if (wrong == 0)
			return error_set(err, "sample %#llx of task %llu has no wrong label to take: "
					 "its only class is %d", (unsigned long long)ids[i],
					 (unsigned long long)(ids[i] >> 32), labels[i]);
		uint64_t pick = rng_below(rng, wrong);
		for (uint32_t c = 0; c < n; c++) {
			if (cand[c] == labels[i])
				continue;
			if (pick-- == 0) {
				labels[i] = cand[c];
				break;
			}
		}
	}
	return 0;
}

/* ---- the membership attack ---- */

struct scored {
	double nll;
	int member;
};

static int scored_cmp(const void *a, const void *b)
{
	double x = ((const struct scored *)a)->nll, y = ((const struct scored *)b)->nll;
	return (x > y) - (x < y);
}

/* The threshold on -log p(y|x) (member at or below it) that classifies v best: every cut
 * between distinct scores is tried, and the threshold falls halfway between the scores either
 * side of the best cut. Among equally accurate cuts the one calling the most samples members
 * wins, so an attack that learned nothing credits no forgetting. Sorts v. */
static double attack_fit(struct scored *v, size_t n)
{
	qsort(v, n, sizeof(*v), scored_cmp);
	/* correct = members at or below the cut + non-members above it; the cut starts below
	 * every score, where the non-members are all right. */
	ptrdiff_t correct = 0;
	for (size_t i = 0; i < n; i++)
		correct += !v[i].member;
	ptrdiff_t best = correct;
	size_t best_at = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		for (; j < n && v[j].nll == v[i].nll; j++)
			correct += v[j].member ? 1 : -1;
		if (correct >= best) {
			best = correct;
			best_at = j;
		}
		i = j;
	}
	if (best_at == 0)
		return -INFINITY;
	if (best_at == n)
		return INFINITY;
	double lo = v[best_at - 1].nll, hi = v[best_at].nll;
	return isinf(hi) ? lo : lo + (hi - lo) / 2.0;
}

/* Appends k of the n scores, chosen uniformly (selection sampling: one pass, no copy). */
static size_t sample_scores(struct rng *rng, const double *nll, size_t n, size_t k, int member,
			    struct scored *out)
{
	size_t chosen = 0;
	for (size_t i = 0; i < n && chosen < k; i++)
		if (rng_below(rng, n - i) < k - chosen)
			out[chosen++] = (struct scored){ nll[i], member };
	return chosen;
}

/* MIA-efficacy from the scores of D_r, the test set and D_f: NaN when D_f is empty or there is
 * nothing to fit the attack to. */
static double attack(const struct unlearn_spec *spec, const double *retain, size_t num_retain,
		     const double *test, size_t num_test, const double *forget, size_t num_forget,
		     struct scored *v)
{
	size_t k = min_size(min_size(num_retain, num_test), ATTACK_MAX);
	if (k == 0 || num_forget == 0)
		return NAN;
	struct rng rng;
	rng_seed(&rng, spec->seed, STREAM_ATTACK);
	size_t n = sample_scores(&rng, retain, num_retain, k, 1, v);
	n += sample_scores(&rng, test, num_test, k, 0, v + n);
	double threshold = attack_fit(v, n);
	size_t out = 0;
	for (size_t i = 0; i < num_forget; i++)
		out += forget[i] > threshold;
	return (double)out / (double)num_forget;
}

/* The SalUn code's SVC attack with a logistic classifier (evidence.h): fitted to k rows of
 * D_r (members) and as many test rows (non-members), at most ATTACK_MAX each and drawn with
 * the run's seed, one classifier per feature and one on all four; each attack's verdict on
 * D_f: the fraction it calls non-member. NaN where there is nothing to fit or judge. */
static int svc_attack(const struct unlearn_spec *spec, const double *retain, size_t num_retain,
		      const double *test, size_t num_test, const double *forget,
		      size_t num_forget, double out[EVIDENCE_ATTACKS], struct error *err)
{
	size_t k = min_size(min_size(num_retain, num_test), ATTACK_MAX), F = EVIDENCE_FEATURES;
	for (int a = 0; a < EVIDENCE_ATTACKS; a++)
		out[a] = NAN;
	if (k == 0 || num_forget == 0)
		return 0;
	double *x = malloc(2 * k * F * sizeof(double));
	uint8_t *member = malloc(2 * k);
	if (!x || !member) {
		free(x);
		free(member);
		return error_set(err, "out of memory for the SVC attack");
	}
	struct rng rng;
	rng_seed(&rng, spec->seed, STREAM_SVC);
	size_t n = 0;
	for (int side = 0; side < 2; side++) {
		const double *from = side ? test : retain;
		size_t total = side ? num_test : num_retain, chosen = 0;
		for (size_t i = 0; i < total && chosen < k; i++)
			if (rng_below(&rng, total - i) < k - chosen) {
				memcpy(x + n * F, from + i * F, F * sizeof(double));
				member[n++] = !side;
				chosen++;
			}
	}
	static const size_t all[] = { 0, 1, 2, 3 };
	for (int a = 0; a < EVIDENCE_ATTACKS; a++) {
		const size_t *feature = a == EVIDENCE_COMBINED ? all : &all[a];
		size_t d = a == EVIDENCE_COMBINED ? F : 1;
		struct evidence_logit c;
		evidence_logit_fit(&c, x, F, feature, d, member, n);
		size_t outside = 0;
		for (size_t i = 0; i < num_forget; i++)
			outside += !evidence_logit_member(&c, forget + i * F, feature);
		out[a] = (double)outside / (double)num_forget;
	}
	free(x);
	free(member);
	return 0;
}

/* ||a - b|| and that over ||b||, in double. */
static void param_distance(const struct model *a, const struct model *b, double *dist,
			   double *rel)
{
	double d = 0.0, norm = 0.0;
	for (size_t i = 0; i < a->num_params; i++) {
		double e = (double)a->params[i] - (double)b->params[i];
		d += e * e;
		norm += (double)b->params[i] * (double)b->params[i];
	}
	*dist = sqrt(d);
	*rel = norm > 0 ? *dist / sqrt(norm) : NAN;
}

/* ---- relearning ---- */

/* Epochs of SGD on D_f (changing m) until D_f's mean CE is below spec->relearn_loss. The loss
 * is checked before training and after every epoch; within the epoch that gets below, a
 * bisection over its batches (each probe replays the epoch from a snapshot) finds a batch after
 * which the loss is below and before which it was not: log2(batches) replays instead of one
 * evaluation of D_f per batch. The loss need not fall monotonically inside an epoch, so this is
 * a crossing, not always the first. A loss that stops being finite never gets below. */
static int relearn(struct work *w, struct model *m, const struct rows *f,
		   const struct unlearn_spec *spec, double *epochs, struct error *err)
{
	double loss;
	if (f->n == 0) {
		*epochs = NAN;
		return 0;
	}
	if (evaluate(w, m, f, NULL, &loss, NULL, NULL, err) != 0)
		return -1;
	if (loss < spec->relearn_loss) {
		*epochs = 0;
		return 0;
	}
	*epochs = (double)spec->relearn_max_epochs + 1;
	struct sgd opt;
	size_t P = m->num_params, batches = batches_of(w, f->n);
	if (sgd_init(&opt, P, spec->lr, spec->momentum, spec->weight_decay, err) != 0)
		return -1;
	uint32_t *order = malloc(f->n * sizeof(*order));
	float *snapshot = malloc(snapshot_floats(m) * sizeof(float));
	float *velocity = opt.velocity ? malloc(P * sizeof(float)) : NULL;
	int rc = order && snapshot && (velocity || !opt.velocity)
			 ? 0
			 : error_set(err, "out of memory for relearning");
	struct rng rng;
	rng_seed(&rng, spec->seed, STREAM_RELEARN);
	if (rc == 0)
		order_init(order, f->n);
	for (size_t epoch = 0; rc == 0 && epoch < spec->relearn_max_epochs; epoch++) {
		rng_shuffle_u32(&rng, order, f->n);
		int started = opt.started;
		snapshot_take(m, snapshot);
		if (velocity)
			memcpy(velocity, opt.velocity, P * sizeof(float));
		size_t bad;
		if ((rc = descend(w, m, &opt, f, order, batches, &bad, err)) != 0 || bad < batches)
			break;
		if ((rc = evaluate(w, m, f, NULL, &loss, NULL, NULL, err)) != 0 ||
		    !(loss < spec->relearn_loss))
			continue;
		size_t lo = 0, hi = batches; /* below after hi batches, not after lo */
		while (rc == 0 && hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			snapshot_restore(m, snapshot);
			if (velocity)
				memcpy(opt.velocity, velocity, P * sizeof(float));
			opt.started = started;
			rc = descend(w, m, &opt, f, order, mid, &bad, err);
			if (rc == 0)
				rc = evaluate(w, m, f, NULL, &loss, NULL, NULL, err);
			if (rc == 0 && bad == mid && loss < spec->relearn_loss)
				hi = mid;
			else
				lo = mid;
		}
		*epochs = (double)epoch + (double)hi / (double)batches;
		break;
	}
	free(order);
	free(snapshot);
	free(velocity);
	sgd_free(&opt);
	return rc;
}

/* ---- the entry points ---- */

int unlearn_measure(const struct unlearn_env *env, const struct model *m,
		    const struct model *retrain, const struct forget_sets *fs,
		    const struct unlearn_spec *spec, struct forget_figures *out, struct error *err)
{
	if (check_model(env, m, "measured", err) != 0 || check_sets(env, fs, err) != 0 ||
	    (retrain && check_model(env, retrain, "retrain", err) != 0))
		return -1;
	if (retrain && retrain->num_params != m->num_params)
		return error_set(err, "the retrain model has %zu parameters, the measured one %zu",
				 retrain->num_params, m->num_params);
	struct work w;
	struct model c = { 0 }, ref = { 0 };
	size_t k = min_size(min_size(fs->num_retain, fs->num_test), ATTACK_MAX);
	size_t F = EVIDENCE_FEATURES;
	double *nll_f = malloc((fs->num_forget + 1) * sizeof(double));
	double *nll_r = malloc((fs->num_retain + 1) * sizeof(double));
	double *nll_t = malloc((fs->num_test + 1) * sizeof(double));
	double *nll_ft = malloc((fs->num_forget_test + 1) * sizeof(double));
	double *feat_f = malloc((fs->num_forget + 1) * F * sizeof(double));
	double *feat_r = malloc((fs->num_retain + 1) * F * sizeof(double));
	double *feat_t = malloc((fs->num_test + 1) * F * sizeof(double));
	struct scored *v = malloc((2 * k + 1) * sizeof(*v));
	int rc = work_init(&w, env, spec->batch_size, err);
	if (rc == 0 && (!nll_f || !nll_r || !nll_t || !nll_ft || !feat_f || !feat_r || !feat_t ||
			!v))
		rc = error_set(err, "out of memory for the membership attacks");
	if (rc == 0 && (model_clone(&c, m, err) != 0 || model_reserve(&c, w.cap, err) != 0))
		rc = -1;
	if (rc == 0 && retrain &&
	    (model_clone(&ref, retrain, err) != 0 || model_reserve(&ref, w.cap, err) != 0))
		rc = -1;
	struct rows forget = { env->train, fs->forget, NULL, fs->num_forget };
	struct rows retain = { env->train, fs->retain, NULL, fs->num_retain };
	struct rows test = { env->test, fs->test, NULL, fs->num_test };
	struct rows forget_test = { env->test, fs->forget_test, NULL, fs->num_forget_test };
	struct model *to = retrain ? &ref : NULL;
	struct probe pf = { feat_f, to, 0, 0, 0 }, pr = { feat_r, to, 0, 0, 0 },
		     pt = { feat_t, to, 0, 0, 0 };
	double acc_f = NAN;
	w.predicted = env->predict && m == env->predict_model;
	if (rc == 0)
		rc = evaluate(&w, &c, &forget, &acc_f, NULL, nll_f, &pf, err) ||
		     evaluate(&w, &c, &retain, &out->ra, NULL, nll_r, &pr, err) ||
		     evaluate(&w, &c, &test, &out->ta, NULL, nll_t, &pt, err) ||
		     evaluate(&w, &c, &forget_test, &out->forget_test_acc, NULL, nll_ft, NULL,
			      err);
	if (rc == 0) {
		out->ua = 1.0 - acc_f;
		out->mia_threshold = attack(spec, nll_r, fs->num_retain, nll_t, fs->num_test, nll_f,
				  fs->num_forget, v);
		rc = svc_attack(spec, feat_r, fs->num_retain, feat_t, fs->num_test, feat_f,
				fs->num_forget, out->svc_mia, err);
	}
	/* Held-out rows like D_f's: the forgotten classes' test rows for a class request. */
	if (rc == 0 && evidence_auc(nll_f, fs->num_forget, fs->num_forget_test ? nll_ft : nll_t,
				    fs->num_forget_test ? fs->num_forget_test : fs->num_test,
				    &out->loss_auc) != 0)
		rc = error_set(err, "out of memory for the loss attack");
	if (rc == 0) {
		const struct probe *on[FORGET_ON_SETS] = { &pf, &pr, &pt };
		for (int s = 0; s < FORGET_ON_SETS; s++) {
			out->kl[s] = on[s]->kl;
			out->js[s] = on[s]->js;
			out->activation[s] = on[s]->l2;
		}
		out->param_distance = out->param_distance_rel = NAN;
		if (retrain)
			param_distance(m, retrain, &out->param_distance, &out->param_distance_rel);
		w.predicted = 0; /* relearning trains the clone away from m */
		rc = relearn(&w, &c, &forget, spec, &out->relearn_epochs, err);
	}
	model_free(&c);
	model_free(&ref);
	work_free(&w);
	free(nll_f);
	free(nll_r);
	free(nll_t);
	free(nll_ft);
	free(feat_f);
	free(feat_r);
	free(feat_t);
	free(v);
	return rc ? -1 : 0;
}

int unlearn_reference_run(const struct unlearn_env *env, enum forget_reference r,
			  const struct model *before, const struct model *initial,
			  const struct forget_sets *fs, const struct unlearn_spec *spec,
			  struct model *out, double *seconds, struct error *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(out, 0, sizeof(*out));
	*seconds = 0;
	if ((unsigned)r >= REFERENCE_COUNT)
		return error_set(err, "no reference method %d", (int)r);
	const struct model *from = r == REFERENCE_RETRAIN ? initial : before;
	if (check_model(env, from, r == REFERENCE_RETRAIN ? "initial" : "before", err) != 0 ||
	    check_sets(env, fs, err) != 0)
		return -1;
	struct work w;
	struct sgd opt = { 0 };
	struct rng rng;
	rng_seed(&rng, spec->seed, STREAM_REFERENCE + (uint64_t)r);
	size_t n = r == REFERENCE_RETRAIN || r == REFERENCE_FINETUNE ? fs->num_retain
		   : r == REFERENCE_GRADIENT_ASCENT		     ? fs->num_forget
								     : fs->num_forget + fs->num_retain;
	uint32_t *order = malloc((n + 1) * sizeof(*order));
	uint64_t *ids = NULL;
	int32_t *labels = NULL;
	float *prev = NULL;
	int rc = work_init(&w, env, spec->batch_size, err);
	if (rc == 0 && (model_clone(out, from, err) != 0 || model_reserve(out, w.cap, err) != 0 ||
			sgd_init(&opt, out->num_params,
				 r == REFERENCE_GRADIENT_ASCENT ? spec->ascent_lr : spec->lr,
				 spec->momentum, spec->weight_decay, err) != 0))
		rc = -1;
	if (rc == 0 && r == REFERENCE_RANDOM_LABELS) {
		ids = malloc((n + 1) * sizeof(*ids));
		labels = malloc((n + 1) * sizeof(*labels));
	}
	if (rc == 0 && r == REFERENCE_GRADIENT_ASCENT)
		prev = malloc((snapshot_floats(out) + out->num_state) * sizeof(float));
	if (rc == 0 && (!order || (r == REFERENCE_RANDOM_LABELS && (!ids || !labels)) ||
			(r == REFERENCE_GRADIENT_ASCENT && !prev)))
		rc = error_set(err, "out of memory for %zu training samples", n);
	struct rows retain = { env->train, fs->retain, NULL, fs->num_retain };
	struct rows forget = { env->train, fs->forget, NULL, fs->num_forget };
	struct rows mixed = { env->train, ids, labels, n };
	size_t epochs = r == REFERENCE_RETRAIN		 ? spec->retrain_epochs
			: r == REFERENCE_GRADIENT_ASCENT ? spec->ascent_epochs
							 : spec->finetune_epochs;
	w.reference = scenario_reference_name(r);
	w.planned = rc == 0 ? (uint64_t)epochs * batches_of(&w, n) : 0;
	if (rc == 0 && r == REFERENCE_GRADIENT_ASCENT)
		rc = ascend_epochs(&w, out, &opt, &forget, order, prev, epochs, &rng, err);
	else if (rc == 0 && r == REFERENCE_RANDOM_LABELS)
		rc = relabel(env, fs, &rng, ids, labels, err) ||
		     descend_epochs(&w, out, &opt, &mixed, order, epochs, &rng, err);
	else if (rc == 0)
		rc = descend_epochs(&w, out, &opt, &retain, order, epochs, &rng, err);
	sgd_free(&opt);
	work_free(&w);
	free(order);
	free(ids);
	free(labels);
	free(prev);
	if (rc != 0)
		model_free(out);
	*seconds = elapsed_since(&t0);
	return rc ? -1 : 0;
}
