/* badteacher: Bad Teacher (Chundawat et al., "Can Bad Teaching Induce Forgetting? Unlearning in
 * Deep Networks Using an Incompetent Teacher", AAAI 2023). Two teachers: the competent one, a
 * frozen copy of the host's model at the request, and an incompetent one, the same
 * architecture with freshly drawn weights. The host's model, the student, is distilled on a
 * shuffle of D_f (the request's samples of the tasks learned) mixed with retain_fraction |D_r|
 * retained samples drawn uniformly with replacement, each row towards its teacher:
 *	L = mean over the rows of T² KL(p_teacher(x) || p_student(x)),  p = softmax(logits / T),
 * the incompetent teacher for rows of D_f, the competent one for the rest. So the student
 * answers the forget set as a model that never learned anything, and the rest as before.
 * The paper's defaults: one epoch, T = 1, 30% of D_r. The authors average the KL over
 * classes as well (PyTorch's reduction 'mean'), a factor 1/C on the learning rate; here it is
 * the mean over rows. Plain SGD where they use Adam.
 *
 * The incompetent teacher's weights are drawn as PyTorch's default for nn.Linear and nn.Conv2d
 * (weights and biases uniform in ±1/√fan_in, fan_in = in for a dense layer, in_channels
 * kernel² for a convolution), batch norm's gamma 1, beta 0 and running statistics 0 and 1,
 * from the plugin's own stream. Two clones per request, freed at its end: no state to save. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lethe/lethe.h>
#include <lethe/util.h>

#include "../common/forget_set.h"
#include "../common/kl.h"

enum { P_TEMPERATURE, P_EPOCHS, P_RETAIN_FRACTION, P_LR, P_BATCH_SIZE, P_COUNT };

static const lethe_param_decl badteacher_params[P_COUNT] = {
	{ sizeof(lethe_param_decl), "temperature", LETHE_PARAM_FLOAT, "1", 0.01, 100, NULL,
	  "T of the softened outputs (the paper: 1)" },
	{ sizeof(lethe_param_decl), "epochs", LETHE_PARAM_INT, "1", 1, 1000, NULL,
	  "passes over D_f and the retained share (the paper: 1)" },
	{ sizeof(lethe_param_decl), "retain_fraction", LETHE_PARAM_FLOAT, "0.3", 0, 1, NULL,
	  "retained samples per epoch, as a fraction of D_r (the paper: 0.3)" },
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0", 0, 10, NULL,
	  "SGD learning rate (0: train.lr)" },
	{ sizeof(lethe_param_decl), "batch_size", LETHE_PARAM_INT, "0", 0, 65536, NULL,
	  "rows per step (0: train.batch_size)" },
};

struct badteacher {
	lethe_plugin plugin;
	const lethe_host *host;
	double T, retain_fraction, lr;
	uint32_t epochs, batch_size;
};

static void draw_uniform(const lethe_host *h, float *v, uint64_t n, double bound)
{
	for (uint64_t i = 0; i < n; i++)
		v[i] = (float)((2.0 * h->rng_uniform(h) - 1.0) * bound);
}

/* Draws fresh weights for m (see the top of the file). */
static int badteacher_reinit(const lethe_host *h, lethe_model *m)
{
	float *theta = h->model_params(h, m, NULL);
	uint64_t count, at = 0;
	float *state = h->model_state(h, m, &count);
	uint32_t layers = h->model_num_layers(h, m);
	for (uint32_t l = 0; l < layers; l++) {
		lethe_layer ly = { .struct_size = sizeof(ly) };
		int rc = h->model_layer(h, m, l, &ly);
		if (rc != LETHE_OK)
			return rc;
		if (ly.kind == LETHE_LAYER_BATCHNORM) {
			uint64_t c = ly.weight_count;
			for (uint64_t i = 0; i < c; i++)
				theta[ly.weight_offset + i] = 1.0f;
			memset(theta + ly.bias_offset, 0, ly.bias_count * sizeof(float));
			if (at + 2 * c > count)
				return lethe_fail(h, LETHE_ERR_INVALID, "batch norm layer %u: the "
						  "model's state holds %llu floats, fewer than its "
						  "running statistics need", l + 1,
						  (unsigned long long)count);
			for (uint64_t i = 0; i < c; i++) {
				state[at + i] = 0.0f;
				state[at + c + i] = 1.0f;
			}
			at += 2 * c;
			continue;
		}
		double fan_in = ly.kind == LETHE_LAYER_CONV2D
					? (double)ly.in_shape.c * ly.kernel * ly.kernel
					: (double)ly.in;
		double bound = 1.0 / sqrt(fan_in);
		draw_uniform(h, theta + ly.weight_offset, ly.weight_count, bound);
		draw_uniform(h, theta + ly.bias_offset, ly.bias_count, bound);
	}
	return LETHE_OK;
}

/* A request's work. */
struct work {
	const struct badteacher *b;
	const lethe_host *h;
	const struct forget_set *s;
	lethe_model *model, *good, *bad;
	float *theta;
	const float *grad;
	uint64_t P;
	struct forget_rows r;
	float *good_logits, *bad_logits;
	uint8_t *is_forget;
	double lr;
};

/* dlogits of the rows: each row's KL to its teacher, mean over the rows. Returns the loss. */
static double badteacher_dlogits(const struct forget_rows *r, const struct forget_set *s,
				 const float *good, const float *bad, const uint8_t *is_forget,
				 double T)
{
	double loss = 0.0;
	memset(r->dlogits, 0, r->n * s->C * sizeof(float));
	for (size_t i = 0; i < r->n; i++)
		loss += kl_add(r->logits + i * s->C, (is_forget[i] ? bad : good) + i * s->C, s->C,
			       forget_rows_mask(r, s, i), T, 1.0 / (double)r->n,
			       r->dlogits + i * s->C);
	return loss;
}

static int badteacher_step(struct work *w, double *loss)
{
	const lethe_host *h = w->h;
	int rc = h->model_forward(h, w->good, w->r.x, w->r.n, w->good_logits);
	if (rc == LETHE_OK)
		rc = h->model_forward(h, w->bad, w->r.x, w->r.n, w->bad_logits);
	if (rc == LETHE_OK)
		rc = h->model_forward(h, w->model, w->r.x, w->r.n, w->r.logits);
	if (rc != LETHE_OK)
		return rc;
	*loss = badteacher_dlogits(&w->r, w->s, w->good_logits, w->bad_logits, w->is_forget,
				   w->b->T);
	if (!isfinite(*loss))
		return lethe_fail(h, LETHE_ERR_NUMERIC, "the loss is not finite; lower lr = %g",
				  w->lr);
	rc = h->model_backward(h, w->model, w->r.dlogits, w->r.n);
	if (rc == LETHE_OK)
		h->saxpy(h, w->P, (float)-w->lr, w->grad, w->theta);
	return rc;
}

/* Each epoch: a shuffle of n_f forget slots (their D_f index) and n_r retained ones (SIZE_MAX,
 * a fresh draw each). */
static int badteacher_train(struct work *w, size_t rows, double *loss)
{
	const lethe_host *h = w->h;
	const struct forget_set *s = w->s;
	size_t n_r = (size_t)floor(w->b->retain_fraction * (double)s->num_retain);
	size_t n = s->num_forget + n_r;
	size_t *slots = malloc(n * sizeof(size_t));
	if (!slots)
		return lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for %zu slots", n);
	int rc = LETHE_OK;
	for (uint32_t e = 0; e < w->b->epochs && rc == LETHE_OK; e++) {
		for (size_t i = 0; i < n; i++)
			slots[i] = i < s->num_forget ? i : SIZE_MAX;
		forget_shuffle(h, slots, n);
		for (size_t at = 0; at < n && rc == LETHE_OK; at += rows) {
			w->r.n = 0;
			for (size_t i = at; i < at + rows && i < n && rc == LETHE_OK; i++) {
				w->is_forget[w->r.n] = slots[i] != SIZE_MAX;
				rc = slots[i] != SIZE_MAX ? forget_rows_add_forget(&w->r, s, slots[i])
							  : forget_rows_add_retain(&w->r, s);
			}
			if (rc == LETHE_OK)
				rc = badteacher_step(w, loss);
		}
	}
	free(slots);
	return rc;
}

static int badteacher_unlearn(lethe_plugin *p, const lethe_forget_request *req)
{
	const struct badteacher *b = p->plugin_data;
	const lethe_host *h = b->host;
	const lethe_run_info *run = h->run_info(h);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct forget_set s;
	int rc = forget_set_open(&s, h, req);
	if (rc == LETHE_OK && s.num_forget == 0) {
		h->log(h, LETHE_LOG_INFO, "no sample of the request was learned: nothing to do");
		forget_set_close(&s);
		return LETHE_OK;
	}
	if (rc == LETHE_OK)
		rc = forget_set_need_retain(&s, "badteacher", "the competent teacher teaches on "
					    "D_r");
	size_t rows = b->batch_size ? b->batch_size : run->batch_size;
	struct work w = { .b = b, .h = h, .s = &s, .model = h->model(h),
			  .lr = b->lr > 0.0 ? b->lr : run->lr };
	w.theta = h->model_params(h, w.model, &w.P);
	w.grad = h->model_grads(h, w.model, NULL);
	double loss = NAN;
	if (rc == LETHE_OK)
		rc = forget_rows_init(&w.r, &s, rows);
	if (rc == LETHE_OK) {
		w.good = h->model_clone(h, w.model);
		w.bad = h->model_clone(h, w.model);
		w.good_logits = malloc(rows * s.C * sizeof(float));
		w.bad_logits = malloc(rows * s.C * sizeof(float));
		w.is_forget = malloc(rows);
		if (!w.good || !w.bad || !w.good_logits || !w.bad_logits || !w.is_forget)
			rc = lethe_fail(h, LETHE_ERR_NOMEM, "out of memory for the teachers");
	}
	if (rc == LETHE_OK)
		rc = badteacher_reinit(h, w.bad);
	if (rc == LETHE_OK)
		rc = badteacher_train(&w, rows, &loss);
	if (rc == LETHE_OK) {
		double seconds = lethe_seconds_since(&t0);
		h->report(h, "seconds", seconds);
		lethe_log(h, LETHE_LOG_INFO, "forgot %zu samples in %.3f s: %u epochs of distillation "
			  "from the two teachers, last loss %.4g", s.num_forget, seconds,
			  b->epochs, loss);
	}
	h->model_free(h, w.good);
	h->model_free(h, w.bad);
	free(w.good_logits);
	free(w.bad_logits);
	free(w.is_forget);
	forget_rows_free(&w.r);
	forget_set_close(&s);
	return rc;
}

static void badteacher_destroy(lethe_plugin *p)
{
	free(p->plugin_data);
}

static lethe_plugin *badteacher_create(const lethe_host *host, const lethe_param_value *v)
{
	struct badteacher *b = calloc(1, sizeof(*b));
	if (!b) {
		host->error(host, "out of memory");
		return NULL;
	}
	*b = (struct badteacher){
		.plugin = { .struct_size = sizeof(lethe_plugin), .plugin_data = b,
			    .destroy = badteacher_destroy, .unlearn = badteacher_unlearn },
		.host = host,
		.T = v[P_TEMPERATURE].f,
		.epochs = (uint32_t)v[P_EPOCHS].i,
		.retain_fraction = v[P_RETAIN_FRACTION].f,
		.lr = v[P_LR].f,
		.batch_size = (uint32_t)v[P_BATCH_SIZE].i,
	};
	return &b->plugin;
}

LETHE_EXPORT const lethe_plugin_entry lethe_entry = {
	.abi = LETHE_ABI_VERSION_INIT,
	.struct_size = sizeof(lethe_plugin_entry),
	.name = "badteacher",
	.version = "1.0",
	.description = "Bad Teacher: distil from the model on the retained set and from a random "
		       "one on the forget set (Chundawat et al. 2023)",
	.params = badteacher_params,
	.num_params = P_COUNT,
	.state_version = 1,
	.create = badteacher_create,
};
