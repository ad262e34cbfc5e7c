/* A scenario: the INI file resolved into typed settings. Sections:
 *   [scenario]  name, protocol, plugins (comma-separated names or paths, in hook order)
 *   [data]      source (fashion-mnist | idx | cifar10 | cifar100 | synthetic), dir, labels
 *               (cifar100: fine | coarse), max_train, max_test, mean, std (per channel),
 *               crop, flip (training augmentation), and for synthetic: classes, dim,
 *               train_per_class, test_per_class, spread
 *   [tasks]     split = N | permuted = N (with permute_first) | task1 = 0,1 ... taskN = ...
 *   [model]     architecture (mlp | cnn | resnet18 | custom), hidden (mlp), width (resnet18),
 *               layers (custom: a free list, model.h's grammar), init (he | torch | xavier
 *               | FILE.safetensors)
 *   [train]     baseline (naive | joint), optimizer (sgd), lr, momentum, weight_decay,
 *               batch_size, epochs, seed, threads, checkpoint_every, curve_every,
 *               evaluate_epochs
 *   [forgetN]   forget1, forget2, ...: after = STEP, what = class | task | samples, classes,
 *               task, fraction, plugin (an unlearning plugin listed in [scenario] plugins),
 *               references (retrain, finetune, gradient_ascent, random_labels), epochs of the
 *               references and the relearn test
 *   [NAME]      one per listed plugin: its parameters, validated against its declarations
 * Every error names the file and line (or the --set override) it comes from. */
#ifndef LETHE_SCENARIO_H
#define LETHE_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include <lethe/host.h>
#include <lethe/param.h>

#include "data/dataset.h"
#include "data/tasks.h"
#include "model/model.h"
#include "scenario/ini.h"
#include "util/error.h"

#define SCENARIO_HIDDEN_MAX 8
#define SCENARIO_PLUGINS_MAX 16
#define SCENARIO_PATH_MAX 4096
#define SCENARIO_FORGETS_MAX 16
#define SCENARIO_CHANNELS_MAX 3 /* of any data source: CIFAR's red, green and blue */

enum forget_what { FORGET_WHAT_CLASS, FORGET_WHAT_TASK, FORGET_WHAT_SAMPLES };

/* The reference methods a forget step's figures are set beside. */
enum forget_reference {
	REFERENCE_RETRAIN,	  /* from the initial weights, on D_r */
	REFERENCE_FINETUNE,	  /* from the model before the request, on D_r */
	REFERENCE_GRADIENT_ASCENT, /* from the model before, ascending the CE on D_f */
	REFERENCE_RANDOM_LABELS,  /* from the model before, D_f with random wrong labels + D_r */
	REFERENCE_COUNT
};

/* A [forgetN] section: after learning step `after`, forget some data. */
struct scenario_forget {
	char section[INI_NAME_MAX];
	size_t after;		  /* 1-based learning step it follows */
	enum forget_what what;
	int32_t classes[CLASSES_MAX]; /* class */
	size_t num_classes;
	size_t task;		  /* task and samples: 1-based */
	double fraction;	  /* samples */
	char plugin[INI_NAME_MAX]; /* the unlearning plugin's section, "" for none */
	/* Unlearning plugins measured on the same request from the model before it, each
	 * put back after (sections; none is plugin, none twice). */
	char compare[SCENARIO_PLUGINS_MAX][INI_NAME_MAX];
	size_t num_compare;
	unsigned references;	  /* bit r: run reference r (enum forget_reference) */
	int retrain_joint;	  /* retrain: one joint training on D_r, not the scenario's steps */
	size_t retrain_epochs;	  /* 0: train.epochs x the steps learned */
	size_t finetune_epochs, ascent_epochs;
	double ascent_lr;	  /* gradient_ascent's SGD lr; 0: train.lr */
	double relearn_loss;
	size_t relearn_max_epochs;
};

enum data_source { DATA_FASHION_MNIST, DATA_IDX, DATA_SYNTHETIC, DATA_CIFAR10, DATA_CIFAR100 };
enum tasks_kind { TASKS_SPLIT, TASKS_EXPLICIT, TASKS_PERMUTED };
enum baseline { BASELINE_NAIVE, BASELINE_JOINT };

struct scenario {
	struct ini ini; /* the source, for plugin sections and messages */
	char name[INI_NAME_MAX];
	char dir[SCENARIO_PATH_MAX]; /* the file's directory: relative paths resolve here */
	lethe_protocol protocol;

	enum data_source data;
	char data_dir[SCENARIO_PATH_MAX]; /* fashion-mnist, idx and CIFAR */
	enum dataset_cifar cifar;	  /* CIFAR's format and labels, 0 for another source */
	struct synth_spec synth;
	size_t max_train, max_test; /* per task; 0 = all */
	size_t channels;	    /* the source's */
	int normalise;		    /* mean or std given: */
	double mean[SCENARIO_CHANNELS_MAX], std[SCENARIO_CHANNELS_MAX]; /* per channel */
	uint32_t crop;		    /* training augmentation: random crop's padding, 0 for none */
	int flip;		    /* and random horizontal flips */

	enum tasks_kind tasks_kind;
	size_t num_tasks;
	int permute_first; /* permuted: the first task permutes too */
	int32_t task_classes[TASKS_MAX][CLASSES_MAX]; /* explicit lists */
	size_t task_num_classes[TASKS_MAX];

	const char *architecture; /* "mlp", "cnn", "resnet18" or "custom" */
	struct model_desc model;  /* what the architecture, hidden, width or layers describe */
	enum model_init init;	  /* unless init_file: */
	char init_file[SCENARIO_PATH_MAX]; /* init = FILE.safetensors, resolved; "" for none */

	enum baseline baseline;
	double lr, momentum, weight_decay;
	size_t batch_size, epochs;
	uint64_t seed;
	int threads;
	int64_t checkpoint_every; /* batches; 0: after every step only; -1: never */
	uint64_t curve_every;	  /* batches between loss points; 0: none but epochs' ends */
	int evaluate_epochs;	  /* every task's accuracy after every epoch */

	size_t num_plugins;
	char plugins[SCENARIO_PLUGINS_MAX][SCENARIO_PATH_MAX]; /* names, or paths resolved
								 against dir */
	char plugin_sections[SCENARIO_PLUGINS_MAX][INI_NAME_MAX];

	size_t num_forgets;
	struct scenario_forget forgets[SCENARIO_FORGETS_MAX]; /* in section order */
};

/* Loads path, applies the overrides ("section.key=value") in order, then resolves and checks
 * every built-in section. Plugin sections are only checked to belong to a listed plugin; their
 * keys are checked when the plugin is loaded (params_fill with its declarations). */
int scenario_load(struct scenario *s, const char *path, const char *const *overrides,
		  size_t num_overrides, struct error *e);

/* Builds the data set and the task list the scenario describes. */
int scenario_build_data(const struct scenario *s, struct dataset *train, struct dataset *test,
			struct task_list *tl, struct error *e);

/* The same in two stages: the labels, shapes and task list, then the pixels; between them a run
 * weighs what it will need (memory.h) before the bulk of the data arrives. */
int scenario_open_data(const struct scenario *s, struct dataset *train, struct dataset *test,
		       struct task_list *tl, struct error *e);
int scenario_read_data(const struct scenario *s, struct dataset *train, struct dataset *test,
		       struct error *e);

/* Checks the scenario's model against its data's input shape and classes (model_desc_check):
 * -1 with the reason after where [model] set it ("path:12: [model] layers item 4 ..."). */
int scenario_check_model(const struct scenario *s, struct model_shape in, size_t classes,
			 struct error *e);

/* m, built for the scenario's model, takes its initial weights from [model] init's file
 * (model/safetensors.h): -1 with the reason after where init is set ("path:9: [model] init:
 * FILE: tensor 0.weight has shape ..."), also when the file's metadata describes other layers
 * than the scenario's (same shapes, another computation: a stride, a pool, a padding). */
int scenario_init_model(const struct scenario *s, struct model *m, struct error *e);

/* The task list alone, over a data set already built for this scenario. */
int scenario_build_tasks(const struct scenario *s, const struct dataset *train,
			 const struct dataset *test, struct task_list *tl, struct error *e);

const char *scenario_protocol_name(lethe_protocol p);

/* A reference method as scenarios and metrics.json name it ("retrain", "finetune",
 * "gradient_ascent", "random_labels"); NULL for no reference. */
const char *scenario_reference_name(enum forget_reference r);

/* A built-in section and the declarations its keys are checked against: the tables the parser
 * uses, exposed so that lethe-scenario(5) is generated from them and cannot drift. [tasks]
 * holds only its fixed keys; task1..taskN (up to TASKS_MAX) are declared while reading. */
struct scenario_section {
	const char *name;
	const char *help; /* one line: what the section sets */
	const lethe_param_decl *decls;
	size_t count;
};

/* The built-in sections, in the order a scenario file usually gives them. */
const struct scenario_section *scenario_sections(size_t *count);

/* Whether section.key means anything in s (e.g. [data] labels only with source = cifar100): a
 * key that does not apply is refused when given, and not written by scenario_write. */
int scenario_key_applies(const struct scenario *s, const char *section, const char *key);

/* A plugin's section as a run resolved it: the plugin's own declarations (its keys and their
 * defaults), and the file it was loaded from (NULL: not said). */
struct scenario_plugin_decls {
	const lethe_param_decl *decls;
	size_t count;
	const char *file;
};

/* Writes dir/name (files_replace) as the scenario s ran: every key of every built-in section,
 * forget step and plugin section (plugins[i] declares s->plugins[i]'s) explicit, its value as
 * given or its default (a key that does not apply, not at all), the resolved name, and paths (plugin files, data.dir) made absolute,
 * so that `lethe run dir/name` repeats the run from any directory. Comments at the top say
 * where it came from (the file, the --set overrides). A value an INI file cannot hold (" ;"
 * would start a comment) is an error naming the key. */
int scenario_write(const struct scenario *s, const struct scenario_plugin_decls *plugins,
		   const char *dir, const char *name, struct error *e);

void scenario_free(struct scenario *s);

#endif
