/* Initial parameters: He normal, PyTorch's defaults, or Glorot uniform. */
#include "model/model_impl.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {
	[MODEL_INIT_HE] = "he",
	[MODEL_INIT_TORCH] = "torch",
	[MODEL_INIT_XAVIER] = "xavier",
};

int model_init_from_name(const char *name, enum model_init *how)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0) {
			*how = (enum model_init)i;
			return 0;
		}
	return -1;
}

const char *model_init_name(enum model_init how)
{
	return names[how];
}

/* count values bound (2 u - 1), u uniform in [0, 1). */
static void uniform(float *v, size_t count, double bound, struct rng *r)
{
	for (size_t i = 0; i < count; i++)
		v[i] = (float)(bound * (2.0 * rng_uniform(r) - 1.0));
}

void model_init_params(struct model *m, enum model_init how, struct rng *r)
{
	for (size_t i = 0; i < m->num_layers; i++) {
		const struct model_layer *l = &m->layer[i];
		float *w = m->params + l->w_off, *b = m->params + l->b_off;
		if (l->kind == MODEL_BATCHNORM) {
			for (size_t c = 0; c < l->norm.channels; c++)
				w[c] = 1.0f;
			memset(b, 0, l->b_count * sizeof(float));
			continue;
		}
		if (l->kind != MODEL_DENSE && l->kind != MODEL_CONV)
			continue;
		/* A conv's weights per output channel, Cin k k, as a dense layer's per output. */
		size_t fan_in = l->w_count / l->out_shape.c;
		size_t fan_out = l->kind == MODEL_CONV ? l->out_shape.c * l->conv.k * l->conv.k
						       : l->out_len;
		switch (how) {
		case MODEL_INIT_HE: {
			double sd = sqrt(2.0 / (double)fan_in);
			for (size_t j = 0; j < l->w_count; j++)
				w[j] = (float)(sd * rng_normal(r));
			memset(b, 0, l->b_count * sizeof(float));
			break;
		}
		case MODEL_INIT_TORCH:
			/* kaiming_uniform with a = √5: gain √(2 / 6), bound gain √(3 / fan_in). */
			uniform(w, l->w_count, 1.0 / sqrt((double)fan_in), r);
			uniform(b, l->b_count, 1.0 / sqrt((double)fan_in), r);
			break;
		case MODEL_INIT_XAVIER:
			uniform(w, l->w_count, sqrt(6.0 / (double)(fan_in + fan_out)), r);
			memset(b, 0, l->b_count * sizeof(float));
			break;
		}
	}
}
