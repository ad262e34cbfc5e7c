/* The sfd plugin: its loss against finite differences, the input synthesis, and forgetting a
 * class (or a task) of a small synthetic scenario learned by the real engine, the unlearn hook
 * called by hand as a forget step would. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/plugin_loader.h"
#include "model/loss.h"
#include "scenario/scenario.h"
#include "testutil.h"

#include "../plugins/sfd/distill.h"
#include "../plugins/sfd/invert.h"

#define CLASSES 6
#define DIM 16

/* 6 classes of `dim` values (4 x 4 images, unless dim says otherwise) in 3 class-incremental
 * tasks, learned jointly; sfd's section is `sfd`. */
static char *write_scenario(const char *sfd, int dim)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[scenario]\nname = sfd\nprotocol = class-incremental\nplugins = sfd\n"
		 "[data]\nsource = synthetic\nclasses = %d\ndim = %d\ntrain_per_class = 150\n"
		 "test_per_class = 60\nspread = 30\n"
		 "[tasks]\nsplit = 3\n[model]\nhidden = 32,32\n"
		 "[train]\nbaseline = joint\nlr = 0.1\nbatch_size = 32\nepochs = 2\nseed = 5\n"
		 "[sfd]\n%s",
		 CLASSES, dim, sfd);
	return testutil_write_text(testutil_dir, "sfd.ini", text);
}

struct run {
	struct scenario s;
	struct plugin_path pp;
	struct engine e;
	struct error err;
	int open_rc;
	lethe_plugin *sfd;
	const lethe_host *host;
};

static void run_open(struct run *r, const char *sfd, int dim)
{
	memset(r, 0, sizeof(*r));
	char *path = write_scenario(sfd, dim);
	ck_assert_msg(scenario_load(&r->s, path, NULL, 0, &r->err) == 0, "%s", r->err.msg);
	free(path);
	plugin_path_init(&r->pp, getenv("LETHE_BUILD_PLUGINS"));
	r->open_rc = engine_open(&r->e, &r->s, &r->pp, &r->err);
	r->sfd = r->open_rc == 0 ? r->e.plugins[0].inst : NULL;
	r->host = &r->e.plugins[0].host;
}

/* The scenario learned, ready for a request. */
static void run_learn(struct run *r, const char *sfd, int dim)
{
	run_open(r, sfd, dim);
	ck_assert_msg(r->open_rc == 0, "%s", r->err.msg);
	ck_assert_msg(engine_run(&r->e, NULL, &r->err) == 0, "%s", r->err.msg);
}

static void run_close(struct run *r)
{
	engine_close(&r->e);
	plugin_path_free(&r->pp);
	scenario_free(&r->s);
}

static double metric(const struct run *r, const char *key)
{
	const struct services_ctx *c = &r->e.plugins[0].svc;
	for (size_t i = 0; i < c->num_metrics; i++)
		if (!strcmp(c->metrics[i].key, key))
			return c->metrics[i].value;
	ck_abort_msg("no figure '%s'", key);
	return 0;
}

/* Test accuracy per class. */
static void class_accuracy(struct run *r, double *acc)
{
	struct engine *e = &r->e;
	size_t seen[CLASSES] = { 0 }, right[CLASSES] = { 0 };
	float x[DIM], logits[CLASSES];
	int32_t y;
	for (size_t k = 0; k < e->tasks.count; k++) {
		const struct task *t = &e->tasks.t[k];
		for (size_t i = 0; i < t->num_test; i++) {
			tasks_gather(t, &e->test, t->test + i, 1, x, &y);
			ck_assert_int_eq(model_forward(&e->model, x, 1, logits, &r->err), 0);
			seen[y]++;
			right[y] += loss_argmax(logits, CLASSES, NULL) == y;
		}
	}
	for (size_t c = 0; c < CLASSES; c++)
		acc[c] = (double)right[c] / (double)seen[c];
}

/* The mean accuracy over the classes that forgotten does not mark. */
static double retained_accuracy(const double *acc, const uint8_t *forgotten)
{
	double sum = 0;
	size_t n = 0;
	for (size_t c = 0; c < CLASSES; c++)
		if (!forgotten[c]) {
			sum += acc[c];
			n++;
		}
	return sum / (double)n;
}

/* The sorted ids of every training sample of the learned tasks whose label is marked. */
static uint64_t *ids_of(struct run *r, const uint8_t *marked, size_t *n)
{
	struct engine *e = &r->e;
	uint64_t *ids = malloc(e->train.n * sizeof(uint64_t));
	*n = 0;
	for (uint32_t k = 0; k < e->tasks.count; k++)
		for (size_t i = 0; i < e->tasks.t[k].num_train; i++) {
			uint32_t pos = e->tasks.t[k].train[i];
			if (marked[e->train.y[pos]])
				ids[(*n)++] = tasks_sample_id(k, pos);
		}
	return ids; /* ascending: by task, then by position */
}

static int unlearn(struct run *r, lethe_forget_kind kind, const int32_t *classes,
		   size_t num_classes, uint32_t task, const uint64_t *ids, size_t n)
{
	lethe_forget_request req = {
		.struct_size = sizeof(req),
		.kind = kind,
		.classes = classes,
		.num_classes = num_classes,
		.task = task,
		.ids = ids,
		.num_ids = n,
		.tasks_learned = (uint32_t)r->e.tasks.count,
	};
	r->e.plugins[0].svc.has_error = 0;
	return r->sfd->unlearn(r->sfd, &req);
}

/* ---- the loss ---- */

/* The target: a distribution, zero on the forgotten classes, their mass on the safe class (or
 * spread over the others in proportion); the KL: zero at the target, its gradient central
 * differences of its value. */
START_TEST(test_kl_gradient)
{
	const float teacher[5] = { 1.5f, -0.3f, 2.2f, 0.1f, -1.0f };
	const uint8_t forgotten[5] = { 0, 0, 1, 0, 0 };
	const double temps[2] = { 1.0, 2.5 };
	const int32_t safes[3] = { 3, -2, 0 };
	float q[5], plain[5], student[5] = { 0.4f, 1.1f, -0.7f, 0.9f, 0.2f }, grad[5];
	for (size_t ti = 0; ti < 2; ti++) {
		double T = temps[ti];
		distill_target(teacher, 5, T, NULL, 0, plain);
		double sum = 0;
		for (size_t j = 0; j < 5; j++)
			sum += plain[j];
		ck_assert_double_eq_tol(sum, 1.0, 1e-6);
		memset(grad, 0, sizeof(grad));
		ck_assert_double_eq_tol(distill_kl(plain, teacher, 5, T, 1.0, grad), 0.0, 1e-6);
		for (size_t j = 0; j < 5; j++)
			ck_assert_float_eq_tol(grad[j], 0.0f, 1e-6f);

		for (size_t si = 0; si < 3; si++) {
			distill_target(teacher, 5, T, forgotten, safes[si], q);
			ck_assert(q[2] == 0.0f);
			sum = 0;
			for (size_t j = 0; j < 5; j++)
				sum += q[j];
			ck_assert_double_eq_tol(sum, 1.0, 1e-6);
			int32_t safe = safes[si];
			if (safe >= 0)
				ck_assert_float_eq_tol(q[safe], plain[safe] + plain[2], 1e-6f);
			else /* in proportion: the retained classes keep their ratios */
				ck_assert_float_eq_tol(q[0] / q[1], plain[0] / plain[1], 1e-5f);

			const double scale = 0.7;
			memset(grad, 0, sizeof(grad));
			double kl = distill_kl(q, student, 5, T, scale, grad);
			ck_assert(kl > 0);
			for (size_t j = 0; j < 5; j++) {
				const float h = 1.0f / 256;
				float keep = student[j], unused[5];
				student[j] = keep + h;
				double up = distill_kl(q, student, 5, T, 0, unused);
				student[j] = keep - h;
				double down = distill_kl(q, student, 5, T, 0, unused);
				student[j] = keep;
				double fd = scale * (up - down) / (2.0 * h);
				ck_assert_msg(fabs(fd - grad[j]) <= 1e-3 * fabs(fd) + 1e-5,
					      "T %g, safe %d, logit %zu: gradient %.7g, finite "
					      "difference %.7g", T, safes[si], j, grad[j], fd);
			}
		}
	}
}
END_TEST

/* ---- the input synthesis ---- */

/* The mean of log p(c_i|x_i) over n rows of x, and in *hits how many have c_i first. */
static double mean_log_prob(const lethe_host *h, lethe_model *m, const int32_t *c, size_t n,
			    const float *x, size_t *hits)
{
	float *logits = malloc(n * CLASSES * sizeof(float));
	ck_assert_int_eq(h->model_forward(h, m, x, n, logits), LETHE_OK);
	double total = 0;
	*hits = 0;
	for (size_t i = 0; i < n; i++) {
		const float *z = logits + i * CLASSES;
		double max = z[0], sum = 0;
		for (size_t j = 1; j < CLASSES; j++)
			max = fmax(max, z[j]);
		for (size_t j = 0; j < CLASSES; j++)
			sum += exp(z[j] - max);
		total += z[c[i]] - max - log(sum);
		*hits += loss_argmax(z, CLASSES, NULL) == c[i];
	}
	free(logits);
	return total / (double)n;
}

/* The priors of n rows of x, (l2 / 2) ||x||^2 + (tv / 2) sum of squared differences between
 * neighbours, counted here the plain way: on a side x side grid, or along a row. Adds their
 * gradient to grad (unless NULL) and, per value, into mag the magnitudes of the terms the
 * float pass sums for it: l2 |x_i| and tv |x_i - x_j| for each neighbour j. */
static double priors(const double *x, size_t n, size_t dim, size_t side, double l2, double tv,
		     double *grad, double *mag)
{
	double total = 0;
	for (size_t i = 0; i < n * dim; i++) {
		size_t at = i % dim;
		total += 0.5 * l2 * x[i] * x[i];
		if (grad) {
			grad[i] += l2 * x[i];
			mag[i] += l2 * fabs(x[i]);
		}
		int right = side ? at % side + 1 < side : at + 1 < dim;
		size_t next[2] = { right ? i + 1 : i, side && at + side < dim ? i + side : i };
		for (int t = 0; t < 2; t++) {
			size_t j = next[t];
			if (j == i)
				continue;
			double d = x[j] - x[i];
			total += 0.5 * tv * d * d;
			if (grad) {
				grad[j] += tv * d;
				grad[i] -= tv * d;
				mag[j] += tv * fabs(d);
				mag[i] += tv * fabs(d);
			}
		}
	}
	return total / (double)n;
}

/* The reference of the teacher's m (its layers through the host), for rows inputs; returns its
 * parameters in double (malloc'd). */
static double *teacher_reference(const lethe_host *h, lethe_model *m, size_t rows,
				 struct ref_mlp *ref)
{
	size_t L = h->model_num_layers(h, m), sizes[REF_LAYERS_MAX + 1];
	for (uint32_t l = 0; l < L; l++) {
		lethe_layer ly = { .struct_size = sizeof(ly) };
		ck_assert_int_eq(h->model_layer(h, m, l, &ly), LETHE_OK);
		sizes[l] = ly.in;
		sizes[l + 1] = ly.out;
	}
	ref_mlp_init(ref, sizes, L + 1, rows);
	for (uint32_t l = 0; l < L; l++) {
		lethe_layer ly = { .struct_size = sizeof(ly) };
		ck_assert_int_eq(h->model_layer(h, m, l, &ly), LETHE_OK);
		ck_assert_uint_eq(ly.weight_offset, ref->w_off[l]);
		ck_assert_uint_eq(ly.bias_offset, ref->b_off[l]);
	}
	uint64_t count;
	const float *params = h->model_params(h, m, &count);
	ck_assert_uint_eq(count, ref->num_params);
	double *theta = malloc(count * sizeof(double));
	for (size_t i = 0; i < count; i++)
		theta[i] = params[i];
	return theta;
}

/* The sum over rows of the reference's J_i with the masks of fixed, and its float bound. */
static double reference_objective(struct ref_mlp *pass, const struct ref_mlp *fixed,
				  const double *theta, const double *x, const int32_t *c,
				  const struct invert_spec *spec, size_t side, double *eJ)
{
	size_t n = pass->rows, dim = pass->size[0], C = pass->size[pass->num_layers];
	double *dl = malloc(n * C * sizeof(double)), *edl = malloc(n * C * sizeof(double));
	ref_mlp_forward(pass, theta, x, fixed);
	double nll = ref_mlp_ce(pass, c, NULL, 1.0, dl, edl, eJ);
	double prior = (double)n * priors(x, n, dim, side, spec->l2, spec->tv, NULL, NULL);
	/* The float pass's priors: each difference rounded (2u in its square) and double sums. */
	*eJ += 0x1p-22 * prior;
	free(dl);
	free(edl);
	return nll + prior;
}

/* The step of the central differences in double, on the reference with the point's ReLU masks
 * kept: J_i is then smooth along it. */
#define FD_H 0x1p-20

/* On 4 x 4 images, then on 1-D inputs of 12 values (_i): the priors' value, dJ/dx against
 * central differences of the teacher's double reference, and the synthesis raising the
 * teacher's log-probability of each input's class from noise, inside [0, 1]. */
START_TEST(test_inversion)
{
	const size_t dim = _i ? 12 : 16, side = _i ? 0 : 4, N = 12;
	struct run r;
	run_learn(&r, "", (int)dim);
	const lethe_host *h = r.host;
	lethe_model *m = h->model_clone(h, h->model(h));
	ck_assert_ptr_nonnull(m);
	struct invert_spec spec = { .steps = 60, .lr = 0.05, .l2 = 0.05, .tv = 0.2 };
	struct invert_spec bare = { .steps = 0 };
	struct invert_work w;
	ck_assert_int_eq(invert_work_init(&w, h, m, N), LETHE_OK);
	ck_assert_uint_eq(w.dim, dim);
	ck_assert_uint_eq(w.classes, CLASSES);
	float *x = malloc(N * dim * sizeof(float));
	int32_t c[N];
	for (size_t i = 0; i < N; i++)
		c[i] = (int32_t)(i % CLASSES);
	for (size_t i = 0; i < N * dim; i++)
		x[i] = (float)h->rng_uniform(h);

	struct ref_mlp ref, up, down;
	double *theta, *xd = malloc(N * dim * sizeof(double));
	double *want = calloc(N * dim, sizeof(double)), *mag = calloc(N * dim, sizeof(double));
	for (size_t i = 0; i < N * dim; i++)
		xd[i] = x[i];
	theta = teacher_reference(h, m, N, &ref);
	ref_mlp_init(&up, ref.size, ref.num_layers + 1, N);
	ref_mlp_init(&down, ref.size, ref.num_layers + 1, N);

	/* The NLL halves are one float pass, bit for bit; the priors differ by the rounding of
	 * each neighbour difference in float, 2u of its square. */
	double mean, nll, eJ;
	ck_assert_int_eq(invert_objective(h, m, &bare, c, N, x, &w, &nll), LETHE_OK);
	ck_assert_int_eq(invert_objective(h, m, &spec, c, N, x, &w, &mean), LETHE_OK);
	double prior = priors(xd, N, dim, side, spec.l2, spec.tv, NULL, NULL);
	ck_assert_double_le(fabs(mean - nll - prior), 0x1p-22 * prior + 0x1p-50 * fabs(mean));
	double J = reference_objective(&ref, NULL, theta, xd, c, &spec, side, &eJ);
	ck_assert_msg(fabs(mean - J / N) <= eJ / N, "J %.9g, reference %.9g, bound %g", mean,
		      J / N, eJ / N);

	/* The float dJ_i/dx_i: delta_0 W_0 (bounded by the reference's backward), then the
	 * priors' terms added in float, each with at most 3 roundings (its weight to float, the
	 * difference, the product) and at most 5 sums: gamma(8) of their magnitudes. */
	size_t C = CLASSES;
	double *dl = malloc(N * C * sizeof(double)), *edl = malloc(N * C * sizeof(double)), unused;
	ref_mlp_ce(&ref, c, NULL, 1.0, dl, edl, &unused);
	ref_mlp_backward(&ref, theta, dl, edl);
	priors(xd, N, dim, side, spec.l2, spec.tv, want, mag);
	for (size_t i = 0; i < N * dim; i++) {
		double keep = xd[i];
		xd[i] = keep + FD_H;
		double plus = reference_objective(&up, &ref, theta, xd, c, &spec, side, &unused);
		xd[i] = keep - FD_H;
		double minus = reference_objective(&down, &ref, theta, xd, c, &spec, side, &unused);
		xd[i] = keep;
		double fd = (plus - minus) / (2 * FD_H);
		/* Only row i / dim moves: its log-sum-exp's third derivative is at most twice the
		 * cube of its logits' largest slope; the priors are quadratic. */
		double slope = ref_mlp_slope(&up, &down, FD_H, i / dim);
		double bound = ref.edx[i] +
			       ref_gamma(8) * (fabs(ref.dx[i]) + ref.edx[i] + mag[i]) +
			       ref_fd_error(FD_H, 2.0 * pow(slope, 3), eJ);
		ck_assert_msg(fabs(w.grad[i] - fd) <= bound,
			      "input %zu: gradient %.9g, central difference %.9g, bound %g", i,
			      (double)w.grad[i], fd, bound);
		double own = ref_fd_error(FD_H, 2.0 * pow(slope, 3), eJ) + ldexp(bound, -29);
		ck_assert_msg(fabs(ref.dx[i] + want[i] - fd) <= own,
			      "input %zu: the reference's gradient %.12g, central difference %.12g",
			      i, ref.dx[i] + want[i], fd);
	}
	free(dl);
	free(edl);
	free(want);
	free(mag);
	free(xd);
	free(theta);
	ref_mlp_free(&ref);
	ref_mlp_free(&up);
	ref_mlp_free(&down);

	size_t hits;
	double before = mean_log_prob(h, m, c, N, x, &hits);
	ck_assert_int_eq(invert_run(h, m, &spec, c, N, x, &w), LETHE_OK);
	for (size_t i = 0; i < N * dim; i++)
		ck_assert(x[i] >= 0.0f && x[i] <= 1.0f);
	double after = mean_log_prob(h, m, c, N, x, &hits);
	ck_assert_msg(after > before + 1 && after > log(0.5), "mean log p(c|x) from %g to %g",
		      before, after);
	ck_assert_uint_eq(hits, N);
	free(x);
	invert_work_free(&w);
	run_close(&r);
}
END_TEST

/* ---- forgetting ---- */

/* Forgetting class 3: its test accuracy falls to nothing, the others' holds; data-free and on
 * real data, the head alone and every layer, the figures reported. */
START_TEST(test_forgets_class)
{
	static const char *const variants[] = { "", "data_free = false\n", "head_only = false\n" };
	struct run r;
	run_learn(&r, variants[_i], DIM);
	double acc[CLASSES];
	uint8_t forgotten[CLASSES] = { [3] = 1 };
	class_accuracy(&r, acc);
	double kept = retained_accuracy(acc, forgotten);
	ck_assert_msg(acc[3] > 0.8 && kept > 0.8, "class 3 %g, others %g before", acc[3], kept);

	size_t n;
	uint64_t *ids = ids_of(&r, forgotten, &n);
	const int32_t gone = 3;
	int rc = unlearn(&r, LETHE_FORGET_CLASS, &gone, 1, 0, ids, n);
	ck_assert_msg(rc == LETHE_OK, "%s", r.e.plugins[0].svc.error);
	class_accuracy(&r, acc);
	ck_assert_msg(acc[3] <= 0.05, "class 3 keeps %g", acc[3]);
	double now = retained_accuracy(acc, forgotten);
	ck_assert_msg(now >= kept - 0.03, "the other classes fell from %g to %g", kept, now);

	ck_assert(metric(&r, "seconds") > 0);
	ck_assert_double_eq(metric(&r, "synthesised"), _i == 1 ? 0 : 256);
	ck_assert(isfinite(metric(&r, "final_loss")));
	free(ids);
	run_close(&r);
}
END_TEST

/* A task request forgets the classes it empties: task 1's, 2 and 3. */
START_TEST(test_forgets_task)
{
	struct run r;
	run_learn(&r, "", DIM);
	uint8_t forgotten[CLASSES] = { [2] = 1, [3] = 1 };
	size_t n;
	uint64_t *ids = ids_of(&r, forgotten, &n);
	int rc = unlearn(&r, LETHE_FORGET_TASK, NULL, 0, 1, ids, n);
	ck_assert_msg(rc == LETHE_OK, "%s", r.e.plugins[0].svc.error);
	double acc[CLASSES];
	class_accuracy(&r, acc);
	ck_assert_msg(acc[2] <= 0.05 && acc[3] <= 0.05, "classes 2, 3 keep %g, %g", acc[2],
		      acc[3]);
	ck_assert_msg(retained_accuracy(acc, forgotten) > 0.8, "the others fell to %g",
		      retained_accuracy(acc, forgotten));
	free(ids);
	run_close(&r);
}
END_TEST

/* The same seed, the same unlearned model, bit for bit. */
START_TEST(test_deterministic)
{
	struct run a, b;
	uint8_t forgotten[CLASSES] = { [0] = 1 };
	const int32_t gone = 0;
	size_t n;
	run_learn(&a, "safe = random\n", DIM);
	run_learn(&b, "safe = random\n", DIM);
	size_t bytes = a.e.model.num_params * sizeof(float);
	float *learned = malloc(bytes);
	memcpy(learned, a.e.model.params, bytes);
	uint64_t *ids = ids_of(&a, forgotten, &n);
	ck_assert_int_eq(unlearn(&a, LETHE_FORGET_CLASS, &gone, 1, 0, ids, n), LETHE_OK);
	ck_assert_int_eq(unlearn(&b, LETHE_FORGET_CLASS, &gone, 1, 0, ids, n), LETHE_OK);
	ck_assert(memcmp(a.e.model.params, learned, bytes) != 0);
	ck_assert(memcmp(a.e.model.params, b.e.model.params, bytes) == 0);
	free(learned);
	ck_assert(metric(&a, "final_loss") == metric(&b, "final_loss"));
	free(ids);
	run_close(&a);
	run_close(&b);
}
END_TEST

/* What sfd cannot do, said: a safe class that is no class, or the one forgotten; a synthesis
 * step size that diverges; a samples request that empties no class; a class of a task not
 * learned yet. The model is untouched. */
START_TEST(test_refusals)
{
	struct run r;
	run_open(&r, "safe = 6\n", DIM);
	ck_assert_int_eq(r.open_rc, -1);
	ck_assert_has(r.err.msg, "safe = '6' is not 'random', 'spread' or a class in [0, 6)");
	run_close(&r);
	/* 4 x 4 images: the smoothness term's curvature reaches 0.01 + 8 x 0.1. */
	run_open(&r, "synth_lr = 2.5\n", DIM);
	ck_assert_int_eq(r.open_rc, -1);
	ck_assert_has(r.err.msg, "synth_lr = 2.5 with l2_prior = 0.01 and tv_prior = 0.1 would "
		      "diverge; use synth_lr < 2.46914");
	run_close(&r);
	run_open(&r, "synth_lr = 2.4\n", DIM);
	ck_assert_msg(r.open_rc == 0, "%s", r.err.msg);
	run_close(&r);

	run_learn(&r, "safe = 1\n", DIM);
	size_t P = r.e.model.num_params, n;
	float *before = malloc(P * sizeof(float));
	memcpy(before, r.e.model.params, P * sizeof(float));
	uint8_t forgotten[CLASSES] = { [1] = 1 };
	uint64_t *ids = ids_of(&r, forgotten, &n);
	const int32_t one = 1;
	ck_assert_int_eq(unlearn(&r, LETHE_FORGET_CLASS, &one, 1, 0, ids, n), LETHE_ERR_INVALID);
	ck_assert_has(r.e.plugins[0].svc.error, "safe = 1 is not a retained class");
	/* Every other sample of class 1: the class keeps half of its samples. */
	size_t half = 0;
	for (size_t i = 0; i < n; i += 2)
		ids[half++] = ids[i];
	ck_assert_int_eq(unlearn(&r, LETHE_FORGET_SAMPLES, NULL, 0, 0, ids, half),
			 LETHE_ERR_INVALID);
	ck_assert_has(r.e.plugins[0].svc.error, "sfd forgets whole classes only");
	ck_assert(memcmp(before, r.e.model.params, P * sizeof(float)) == 0);

	/* Class 5 is task 2's: with two tasks learned, there is no such class yet. */
	lethe_forget_request req = {
		.struct_size = sizeof(req),
		.kind = LETHE_FORGET_CLASS,
		.classes = (const int32_t[]){ 5 },
		.num_classes = 1,
		.tasks_learned = 2,
	};
	ck_assert_int_eq(r.sfd->unlearn(r.sfd, &req), LETHE_ERR_INVALID);
	ck_assert_has(r.e.plugins[0].svc.error, "forgets no class the model has learned");
	free(ids);
	free(before);
	run_close(&r);
}
END_TEST

static Suite *sfd_suite(void)
{
	Suite *s = suite_create("sfd");
	TCase *tc = tcase_create("sfd");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_kl_gradient);
	tcase_add_loop_test(tc, test_inversion, 0, 2);
	tcase_add_loop_test(tc, test_forgets_class, 0, 3);
	tcase_add_test(tc, test_forgets_task);
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(sfd_suite());
}
