/* Scenario files. The built-in sections are declared as parameter tables, the way a plugin
 * declares its own, so params_fill gives them the same unknown-key, range and location checks.
 * This file adds what a table cannot say: lists, exclusive bounds, plugin names and sections,
 * and the consistency of tasks with the protocol and the data. */
#include "scenario/scenario.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"
#include "scenario/params.h"

#define PARAM(key, type, def, min, max, choices, help) \
	{ sizeof(lethe_param_decl), (key), (type), (def), (min), (max), (choices), (help) }
#define COUNT(a) (sizeof(a) / sizeof(*(a)))

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist" /* Debian's package */
/* Where README says to unpack CIFAR's archives: both, side by side, each in its directory. */
#define CIFAR_DIR "/usr/share/datasets/cifar"
#define SEED_MAX 9007199254740992.0 /* 2^53: every seed is exact as a double */

/* In the order of lethe_protocol, enum data_source and enum baseline. */
static const char *const protocol_names[] = {
	"class-incremental", "task-incremental", "domain-incremental", NULL
};
static const char *const source_names[] = { "fashion-mnist", "idx", "synthetic", "cifar10",
					    "cifar100", NULL };
static const char *const labels_names[] = { "fine", "coarse", NULL };
static const char *const baseline_names[] = { "naive", "joint", NULL };
static const char *const optimizer_names[] = { "sgd", NULL };

enum { SCN_NAME, SCN_PROTOCOL, SCN_PLUGINS, SCN_COUNT };
static const lethe_param_decl scenario_decls[SCN_COUNT] = {
	[SCN_NAME] = PARAM("name", LETHE_PARAM_STRING, "", 0, 0, NULL,
			   "run name (default: the file's name without .ini)"),
	[SCN_PROTOCOL] = PARAM("protocol", LETHE_PARAM_CHOICE, "class-incremental", 0, 0,
			       protocol_names, "continual-learning protocol"),
	[SCN_PLUGINS] = PARAM("plugins", LETHE_PARAM_STRING, "", 0, 0, NULL,
			      "plugin names or paths, comma-separated, in hook order"),
};

enum {
	DAT_SOURCE, DAT_DIR, DAT_LABELS, DAT_MAX_TRAIN, DAT_MAX_TEST, DAT_MEAN, DAT_STD, DAT_CROP,
	DAT_FLIP, DAT_CLASSES, DAT_DIM, DAT_TRAIN_PER_CLASS, DAT_TEST_PER_CLASS, DAT_SPREAD,
	DAT_COUNT
};
static const lethe_param_decl data_decls[DAT_COUNT] = {
	[DAT_SOURCE] = PARAM("source", LETHE_PARAM_CHOICE, "fashion-mnist", 0, 0, source_names,
			     "where the samples come from: idx files (fashion-mnist is idx in "
			     "Debian's directory), CIFAR's binary version, or drawn"),
	[DAT_DIR] = PARAM("dir", LETHE_PARAM_STRING, FASHION_MNIST_DIR, 0, 0, NULL,
			  "directory of the idx files, or of CIFAR's (in it or in the "
			  "directory its archive unpacks to; default " CIFAR_DIR "); relative "
			  "to the scenario file"),
	[DAT_LABELS] = PARAM("labels", LETHE_PARAM_CHOICE, "fine", 0, 0, labels_names,
			     "cifar100: the 100 fine classes or the 20 coarse ones"),
	[DAT_MAX_TRAIN] = PARAM("max_train", LETHE_PARAM_INT, "0", 0, UINT32_MAX, NULL,
				"training samples kept per task (0: all)"),
	[DAT_MAX_TEST] = PARAM("max_test", LETHE_PARAM_INT, "0", 0, UINT32_MAX, NULL,
			       "test samples kept per task (0: all)"),
	[DAT_MEAN] = PARAM("mean", LETHE_PARAM_STRING, "", 0, 0, NULL,
			   "per channel, comma-separated: a pixel p becomes (p / 255 - mean) / "
			   "std (empty: 0)"),
	[DAT_STD] = PARAM("std", LETHE_PARAM_STRING, "", 0, 0, NULL,
			  "per channel, comma-separated, above 0 (empty: 1)"),
	[DAT_CROP] = PARAM("crop", LETHE_PARAM_INT, "0", 0, 1024, NULL,
			   "training batches: a random crop of the image zero-padded by this "
			   "many pixels, of the image's size (0: none)"),
	[DAT_FLIP] = PARAM("flip", LETHE_PARAM_BOOL, "false", 0, 0, NULL,
			   "training batches: flip each image left to right with probability "
			   "1/2"),
	[DAT_CLASSES] = PARAM("classes", LETHE_PARAM_INT, "10", 2, CLASSES_MAX, NULL,
			      "synthetic: number of classes"),
	[DAT_DIM] = PARAM("dim", LETHE_PARAM_INT, "32", 1, 65536, NULL,
			  "synthetic: values per sample"),
	[DAT_TRAIN_PER_CLASS] = PARAM("train_per_class", LETHE_PARAM_INT, "200", 1, 1000000, NULL,
				      "synthetic: training samples per class"),
	[DAT_TEST_PER_CLASS] = PARAM("test_per_class", LETHE_PARAM_INT, "50", 1, 1000000, NULL,
				     "synthetic: test samples per class"),
	[DAT_SPREAD] = PARAM("spread", LETHE_PARAM_FLOAT, "20", 0, 255, NULL,
			     "synthetic: standard deviation around the class centres, in pixels"),
};

/* split and permuted are 0 when unused; task1..taskN follow the fixed keys. */
enum { TSK_SPLIT, TSK_PERMUTED, TSK_PERMUTE_FIRST, TSK_LISTS };
static const lethe_param_decl tasks_fixed[TSK_LISTS] = {
	[TSK_SPLIT] = PARAM("split", LETHE_PARAM_INT, "0", 0, TASKS_MAX, NULL,
			    "split the classes into this many equal tasks, in order"),
	[TSK_PERMUTED] = PARAM("permuted", LETHE_PARAM_INT, "0", 0, TASKS_MAX, NULL,
			       "this many tasks over all classes, each with its own pixel "
			       "permutation"),
	[TSK_PERMUTE_FIRST] = PARAM("permute_first", LETHE_PARAM_BOOL, "false", 0, 0, NULL,
				    "permuted: the first task is permuted too"),
};

struct tasks_table {
	lethe_param_decl decls[TSK_LISTS + TASKS_MAX];
	char keys[TASKS_MAX][16];
};

/* In the order of enum architecture; the inits in enum model_init's. */
enum architecture { ARCH_MLP, ARCH_CNN, ARCH_RESNET18, ARCH_CUSTOM };
static const char *const architecture_names[] = { "mlp", "cnn", "resnet18", "custom", NULL };
static const char *const init_names[] = { "he", "torch", "xavier", NULL };
/* [model] init's other kind of value: a file of weights (model/safetensors.h). */
#define INIT_FILE_SUFFIX ".safetensors"

enum { MDL_ARCHITECTURE, MDL_HIDDEN, MDL_WIDTH, MDL_LAYERS, MDL_INIT, MDL_COUNT };
static const lethe_param_decl model_decls[MDL_COUNT] = {
	[MDL_ARCHITECTURE] = PARAM("architecture", LETHE_PARAM_CHOICE, "mlp", 0, 0,
				   architecture_names, "the network's kind"),
	[MDL_HIDDEN] = PARAM("hidden", LETHE_PARAM_STRING, "256,256", 0, 0, NULL,
			     "hidden layer sizes of architecture = mlp, comma-separated"),
	[MDL_WIDTH] = PARAM("width", LETHE_PARAM_INT, "64", 1, 2097152, NULL,
			    "channels of the first stage of architecture = resnet18"),
	[MDL_LAYERS] = PARAM("layers", LETHE_PARAM_STRING, "", 0, 0, NULL,
			     "the layers of architecture = custom, comma-separated (the grammar "
			     "below)"),
	[MDL_INIT] = PARAM("init", LETHE_PARAM_STRING, "he", 0, 0, NULL,
			   "initial weights: he, torch or xavier, drawn from the seed; or "
			   "FILE.safetensors, weights (and batch norm's statistics) as lethe export "
			   "writes them"),
};

enum {
	TRN_BASELINE, TRN_OPTIMIZER, TRN_LR, TRN_MOMENTUM, TRN_WEIGHT_DECAY, TRN_BATCH_SIZE,
	TRN_EPOCHS, TRN_SEED, TRN_THREADS, TRN_CHECKPOINT_EVERY, TRN_CURVE_EVERY,
	TRN_EVALUATE_EPOCHS, TRN_COUNT
};
static const lethe_param_decl train_decls[TRN_COUNT] = {
	[TRN_BASELINE] = PARAM("baseline", LETHE_PARAM_CHOICE, "naive", 0, 0, baseline_names,
			       "naive: each task in turn; joint: each step on every task so far"),
	[TRN_OPTIMIZER] = PARAM("optimizer", LETHE_PARAM_CHOICE, "sgd", 0, 0, optimizer_names,
				"optimiser"),
	[TRN_LR] = PARAM("lr", LETHE_PARAM_FLOAT, "0.01", 0, 10, NULL,
			 "learning rate, above 0"),
	[TRN_MOMENTUM] = PARAM("momentum", LETHE_PARAM_FLOAT, "0", 0, 1, NULL,
			       "momentum, below 1"),
	[TRN_WEIGHT_DECAY] = PARAM("weight_decay", LETHE_PARAM_FLOAT, "0", 0, 1, NULL,
				   "L2 weight decay"),
	[TRN_BATCH_SIZE] = PARAM("batch_size", LETHE_PARAM_INT, "64", 1, 65536, NULL,
				 "samples per training batch"),
	[TRN_EPOCHS] = PARAM("epochs", LETHE_PARAM_INT, "1", 1, 10000, NULL, "epochs per task"),
	[TRN_SEED] = PARAM("seed", LETHE_PARAM_INT, "1", 0, SEED_MAX, NULL,
			   "seed of every random stream (data, initialisation, plugins)"),
	[TRN_THREADS] = PARAM("threads", LETHE_PARAM_INT, "1", 1, 256, NULL,
			      "threads each batch is split between, OpenBLAS running one inside "
			      "each (part of what a run computes: another number changes the last "
			      "bits; 1 is the exact single-thread code)"),
	[TRN_CHECKPOINT_EVERY] = PARAM("checkpoint_every", LETHE_PARAM_INT, "1000", -1, 1e9, NULL,
				       "batches between checkpoints in the results directory, "
				       "besides one after every step (0: after steps only; -1: "
				       "none, so no --resume)"),
	[TRN_CURVE_EVERY] = PARAM("curve_every", LETHE_PARAM_INT, "50", 0, 1e9, NULL,
				  "batches between the points of curves.csv's loss (and the terms "
				  "plugins report per batch), besides one at every epoch's end (0: "
				  "none)"),
	[TRN_EVALUATE_EPOCHS] = PARAM("evaluate_epochs", LETHE_PARAM_BOOL, "false", 0, 0, NULL,
				      "evaluate every task after every epoch too, for curves.csv "
				      "(the last epoch's is always there: the step's evaluation); "
				      "each costs about a third of an epoch's training"),
};

static const char *const what_names[] = { "class", "task", "samples", NULL };
static const char *const retrain_names[] = { "sequence", "joint", NULL };
static const char *const reference_names[REFERENCE_COUNT + 1] = {
	[REFERENCE_RETRAIN] = "retrain",
	[REFERENCE_FINETUNE] = "finetune",
	[REFERENCE_GRADIENT_ASCENT] = "gradient_ascent",
	[REFERENCE_RANDOM_LABELS] = "random_labels",
};

enum {
	FGT_AFTER, FGT_WHAT, FGT_CLASSES, FGT_TASK, FGT_FRACTION, FGT_PLUGIN, FGT_COMPARE,
	FGT_REFERENCES,
	FGT_RETRAIN, FGT_RETRAIN_EPOCHS, FGT_FINETUNE_EPOCHS, FGT_ASCENT_EPOCHS, FGT_ASCENT_LR,
	FGT_RELEARN_LOSS, FGT_RELEARN_MAX, FGT_COUNT
};
static const lethe_param_decl forget_decls[FGT_COUNT] = {
	[FGT_AFTER] = PARAM("after", LETHE_PARAM_INT, "0", 0, TASKS_MAX, NULL,
			    "the learning step the request follows (1-based; required)"),
	[FGT_WHAT] = PARAM("what", LETHE_PARAM_CHOICE, "class", 0, 0, what_names,
			   "class: every sample of some classes; task: a task's samples; "
			   "samples: a seeded fraction of a task's"),
	[FGT_CLASSES] = PARAM("classes", LETHE_PARAM_STRING, "", 0, 0, NULL,
			      "class: the classes, comma-separated"),
	[FGT_TASK] = PARAM("task", LETHE_PARAM_INT, "0", 0, TASKS_MAX, NULL,
			   "task and samples: the task (1-based, learned by then)"),
	[FGT_FRACTION] = PARAM("fraction", LETHE_PARAM_FLOAT, "0.1", 0, 1, NULL,
			       "samples: the fraction of the task's samples, above 0"),
	[FGT_PLUGIN] = PARAM("plugin", LETHE_PARAM_STRING, "", 0, 0, NULL,
			     "the unlearning plugin (listed in [scenario] plugins); empty: the "
			     "data only leaves"),
	[FGT_COMPARE] = PARAM("compare", LETHE_PARAM_STRING, "", 0, 0, NULL,
			      "unlearning plugins (listed in [scenario] plugins, comma-separated) "
			      "each measured on the same request from the model before it, which "
			      "is put back; one whose unlearn fails is recorded as failed, with its "
			      "reason, and the run goes on"),
	[FGT_REFERENCES] = PARAM("references", LETHE_PARAM_STRING, "retrain", 0, 0, NULL,
				 "reference methods run beside it: retrain, finetune, "
				 "gradient_ascent, random_labels (comma-separated)"),
	[FGT_RETRAIN] = PARAM("retrain", LETHE_PARAM_CHOICE, "sequence", 0, 0, retrain_names,
			      "sequence: the scenario's steps again from the initial weights, "
			      "without the forgotten data (plugins included); joint: one "
			      "training on the retained data"),
	[FGT_RETRAIN_EPOCHS] = PARAM("retrain_epochs", LETHE_PARAM_INT, "0", 0, 100000, NULL,
				     "joint retrain's epochs (0: train.epochs x the steps "
				     "learned)"),
	[FGT_FINETUNE_EPOCHS] = PARAM("finetune_epochs", LETHE_PARAM_INT, "1", 1, 100000, NULL,
				      "epochs of finetune and random_labels"),
	[FGT_ASCENT_EPOCHS] = PARAM("ascent_epochs", LETHE_PARAM_INT, "5", 1, 100000, NULL,
				    "epochs of gradient_ascent over the forget set (the SalUn and "
				    "l1-sparse code's GA: 5)"),
	[FGT_ASCENT_LR] = PARAM("ascent_lr", LETHE_PARAM_FLOAT, "0.0001", 0, 10, NULL,
				"gradient_ascent's learning rate (0: train.lr; the SalUn and "
				"l1-sparse code's GA: 0.0001, where train.lr makes it run off)"),
	[FGT_RELEARN_LOSS] = PARAM("relearn_loss", LETHE_PARAM_FLOAT, "0.1", 0, 100, NULL,
				   "relearn time: fine-tune on the forget set until its loss is "
				   "below this"),
	[FGT_RELEARN_MAX] = PARAM("relearn_max_epochs", LETHE_PARAM_INT, "10", 0, 100000, NULL,
				  "relearn time: at most this many epochs"),
};

/* The built-in sections: what params_fill checks, and what lethe-scenario(5) is printed from.
 * No plugin may take one of these names for its section. */
static const struct scenario_section sections[] = {
	{ "scenario", "the run: its name, protocol and strategy plugins", scenario_decls,
	  SCN_COUNT },
	{ "data", "the data set the tasks are drawn from", data_decls, DAT_COUNT },
	{ "tasks", "how the classes form the sequence of tasks", tasks_fixed, TSK_LISTS },
	{ "model", "the network: a preset architecture or a list of layers", model_decls,
	  MDL_COUNT },
	{ "train", "how each task is learned", train_decls, TRN_COUNT },
	{ "forgetN", "forget1, forget2, ...: requests to forget data, between learning steps",
	  forget_decls, FGT_COUNT },
};

/* Prefixes the message in e with where section.key was set: "path:12", "--set section.key", or
 * the file for a default. */
static int scenario_at(const struct scenario *s, const char *section, const char *key,
		       struct error *e)
{
	char where[ERROR_MSG_MAX];
	const struct ini_entry *en = ini_get(&s->ini, section, key);

	if (!en)
		return error_prefix(e, "%s", s->ini.path);
	ini_where(&s->ini, en, where, sizeof(where));
	return error_prefix(e, "%s", where);
}

static int scenario_fail(const struct scenario *s, const char *section, const char *key,
			 struct error *e, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int scenario_fail(const struct scenario *s, const char *section, const char *key,
			 struct error *e, const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(e, "%s", msg);
	return scenario_at(s, section, key, e);
}

/* "path:12" where section.key was set, or "the default". */
static const char *scenario_origin(const struct scenario *s, const char *section,
				   const char *key, char *buf, size_t size)
{
	const struct ini_entry *en = ini_get(&s->ini, section, key);

	if (!en)
		return "the default";
	ini_where(&s->ini, en, buf, size);
	return buf;
}

/* Copies the next comma-separated item of *list, trimmed, into buf and moves *list past it.
 * Returns 1 for an item (perhaps empty), 0 at the end of the list, -1 if it does not fit. */
static int list_next(const char **list, char *buf, size_t size)
{
	const char *p = *list;

	if (!*p)
		return 0;
	size_t len = strcspn(p, ",");
	*list = p[len] ? p + len + 1 : p + len;
	while (len && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len >= size)
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return 1;
}

/* Reads section.key as a comma-separated list of values, each checked against decl. */
static int scenario_values(const struct scenario *s, const char *section, const char *key,
			   const char *text, const lethe_param_decl *decl,
			   lethe_param_value *out, size_t cap, size_t *n, struct error *e)
{
	char item[64];
	int r;

	*n = 0;
	while ((r = list_next(&text, item, sizeof(item))) != 0) {
		if (*n == cap)
			return scenario_fail(s, section, key, e, "[%s] %s: more than %zu values",
					     section, key, cap);
		int rc = r < 0 ? error_set(e, "an item is too long")
			       : params_parse(decl, item, &out[*n], e);
		if (rc < 0) {
			error_prefix(e, "[%s] %s", section, key);
			return scenario_at(s, section, key, e);
		}
		(*n)++;
	}
	return 0;
}

/* scenario_values of integers; cap is at most CLASSES_MAX. */
static int scenario_list(const struct scenario *s, const char *section, const char *key,
			 const char *text, const lethe_param_decl *decl, int64_t *out,
			 size_t cap, size_t *n, struct error *e)
{
	lethe_param_value v[CLASSES_MAX];

	if (scenario_values(s, section, key, text, decl, v, cap, n, e) < 0)
		return -1;
	for (size_t i = 0; i < *n; i++)
		out[i] = v[i].i;
	return 0;
}

/* A relative path resolves against the scenario file's directory. */
static int scenario_path(const struct scenario *s, const char *path, char *out, size_t size)
{
	/* A scenario in the working directory keeps its paths as written, for the messages. */
	int as_written = path[0] == '/' || !strcmp(s->dir, ".");
	int len = as_written ? snprintf(out, size, "%s", path)
			     : snprintf(out, size, "%s/%s", s->dir, path);
	return len >= 0 && (size_t)len < size ? 0 : -1;
}

static int is_builtin(const char *section)
{
	for (size_t i = 0; i < COUNT(sections); i++) {
		if (strcmp(section, sections[i].name) == 0)
			return 1;
	}
	return 0;
}

/* Its section: a name is its own; a path's is the file name without "lib" and extension. */
static int plugin_section(const char *item, int is_path, char *out, size_t size)
{
	const char *base = item;

	if (is_path) {
		const char *slash = strrchr(item, '/');
		base = slash ? slash + 1 : item;
		if (strncmp(base, "lib", 3) == 0 && base[3] && base[3] != '.')
			base += 3;
	}
	size_t len = strlen(base);
	const char *dot = strrchr(base, '.');
	if (is_path && dot && dot != base)
		len = (size_t)(dot - base);
	if (len >= size)
		return -1;
	memcpy(out, base, len);
	out[len] = '\0';
	return 0;
}

static int read_plugins(struct scenario *s, const char *list, struct error *e)
{
	char item[SCENARIO_PATH_MAX];
	int r;

	while ((r = list_next(&list, item, sizeof(item))) != 0) {
		if (r < 0)
			return scenario_fail(s, "scenario", "plugins", e,
					     "[scenario] plugins: a path is too long");
		if (!*item)
			continue;
		if (s->num_plugins == SCENARIO_PLUGINS_MAX)
			return scenario_fail(s, "scenario", "plugins", e,
					     "[scenario] plugins: more than %d plugins",
					     SCENARIO_PLUGINS_MAX);

		size_t len = strlen(item);
		int is_path = strchr(item, '/') || (len > 3 && strcmp(item + len - 3, ".so") == 0);
		char *path = s->plugins[s->num_plugins];
		char *section = s->plugin_sections[s->num_plugins];
		/* A path keeps a '/' (./x.so) even as written: without one, the plugin search
		 * would take it for a plugin's name. */
		char found[SCENARIO_PATH_MAX];
		if (!is_path)
			snprintf(path, SCENARIO_PATH_MAX, "%s", item);
		else if (scenario_path(s, item, found, sizeof(found)) < 0 ||
			 snprintf(path, SCENARIO_PATH_MAX, "%s%s", strchr(found, '/') ? "" : "./",
				  found) >= SCENARIO_PATH_MAX)
			return scenario_fail(s, "scenario", "plugins", e,
					     "[scenario] plugins: '%s': path too long", item);
		if (plugin_section(item, is_path, section, INI_NAME_MAX) < 0 || !*section)
			return scenario_fail(s, "scenario", "plugins", e,
					     "[scenario] plugins: '%s' gives no usable section "
					     "name (at most %d characters)", item,
					     INI_NAME_MAX - 1);
		if (is_builtin(section))
			return scenario_fail(s, "scenario", "plugins", e,
					     "[scenario] plugins: plugin '%s' would share the "
					     "built-in section [%s]", item, section);
		for (size_t i = 0; i < s->num_plugins; i++) {
			if (strcmp(s->plugin_sections[i], section) == 0)
				return scenario_fail(s, "scenario", "plugins", e,
						     "[scenario] plugins: '%s' is listed twice",
						     section);
		}
		s->num_plugins++;
	}
	return 0;
}

/* The name makes the default results directory, results/NAME: a name that is a path could
 * write anywhere, and one with control characters would reach the terminal. */
static int check_name(const struct scenario *s, const char *name, size_t len, struct error *e)
{
	if (!len)
		return scenario_fail(s, "scenario", "name", e, "[scenario] name is empty");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return scenario_fail(s, "scenario", "name", e,
					     "[scenario] name: control character 0x%02x at "
					     "character %zu", c, i + 1);
	}
	if (memchr(name, '/', len) || (len <= 2 && !strncmp(name, "..", len)))
		return scenario_fail(s, "scenario", "name", e,
				     "[scenario] name '%.*s' is a path; a name holds no '/' and "
				     "is not '.' or '..'", (int)len, name);
	return 0;
}

static int read_scenario(struct scenario *s, const char *path, struct error *e)
{
	lethe_param_value v[SCN_COUNT];

	if (params_fill(scenario_decls, SCN_COUNT, &s->ini, "scenario", v, e) < 0)
		return -1;
	s->protocol = (lethe_protocol)v[SCN_PROTOCOL].i;

	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (!slash)
		snprintf(s->dir, sizeof(s->dir), ".");
	else if (slash == path)
		snprintf(s->dir, sizeof(s->dir), "/");
	else if ((size_t)(slash - path) < sizeof(s->dir))
		snprintf(s->dir, sizeof(s->dir), "%.*s", (int)(slash - path), path);
	else
		return error_set(e, "%s: path too long", path);

	const char *name = v[SCN_NAME].s;
	size_t len = strlen(name);
	if (!len && !ini_get(&s->ini, "scenario", "name")) {
		name = base;
		len = strlen(base);
		if (len > 4 && strcmp(base + len - 4, ".ini") == 0)
			len -= 4;
	}
	if (len >= sizeof(s->name))
		return scenario_fail(s, "scenario", "name", e,
				     "[scenario] name '%.*s' is longer than %d characters",
				     (int)len, name, INI_NAME_MAX - 1);
	if (check_name(s, name, len, e) != 0)
		return -1;
	memcpy(s->name, name, len);
	s->name[len] = '\0';
	return read_plugins(s, v[SCN_PLUGINS].s, e);
}

/* N for a section named forgetN (N >= 1, no leading zero), else 0. */
static size_t forget_index(const char *name)
{
	if (strncmp(name, "forget", 6) != 0 || name[6] < '1' || name[6] > '9')
		return 0;
	size_t n = 0;
	for (const char *p = name + 6; *p; p++) {
		if (*p < '0' || *p > '9' || n > TASKS_MAX * 10)
			return 0;
		n = n * 10 + (size_t)(*p - '0');
	}
	return n;
}

/* Every section is a built-in one or a listed plugin's: a typo must not silently drop a
 * setting. */
static int check_sections(const struct scenario *s, struct error *e)
{
	const char *known[COUNT(sections) + SCENARIO_PLUGINS_MAX];
	size_t n = 0;

	for (size_t i = 0; i < COUNT(sections); i++)
		known[n++] = sections[i].name;
	for (size_t i = 0; i < s->num_plugins; i++)
		known[n++] = s->plugin_sections[i];

	for (size_t i = 0; i < s->ini.num_sections; i++) {
		const struct ini_section *sec = &s->ini.sections[i];
		char where[ERROR_MSG_MAX];
		size_t k = 0;

		while (k < n && strcmp(known[k], sec->name) != 0)
			k++;
		if (k < n || forget_index(sec->name))
			continue;
		ini_section_where(&s->ini, sec, where, sizeof(where));
		const char *near = params_nearest(known, n, sec->name);
		if (near)
			return error_set(e, "%s: unknown section [%s]; did you mean [%s]?", where,
					 sec->name, near);
		return error_set(e, "%s: unknown section [%s]; a plugin's section needs the "
				 "plugin listed in [scenario] plugins", where, sec->name);
	}
	return 0;
}

static int read_train(struct scenario *s, struct error *e)
{
	lethe_param_value v[TRN_COUNT];

	if (params_fill(train_decls, TRN_COUNT, &s->ini, "train", v, e) < 0)
		return -1;
	if (v[TRN_LR].f <= 0)
		return scenario_fail(s, "train", "lr", e, "[train] lr must be above 0");
	if (v[TRN_MOMENTUM].f >= 1)
		return scenario_fail(s, "train", "momentum", e, "[train] momentum must be below 1");
	s->baseline = (enum baseline)v[TRN_BASELINE].i;
	s->lr = v[TRN_LR].f;
	s->momentum = v[TRN_MOMENTUM].f;
	s->weight_decay = v[TRN_WEIGHT_DECAY].f;
	s->batch_size = (size_t)v[TRN_BATCH_SIZE].i;
	s->epochs = (size_t)v[TRN_EPOCHS].i;
	s->seed = (uint64_t)v[TRN_SEED].i;
	s->threads = (int)v[TRN_THREADS].i;
	s->checkpoint_every = v[TRN_CHECKPOINT_EVERY].i;
	s->curve_every = (uint64_t)v[TRN_CURVE_EVERY].i;
	s->evaluate_epochs = (int)v[TRN_EVALUATE_EPOCHS].i;
	return 0;
}

/* [data] mean or std (key), one value per channel of the data, each checked against decl,
 * into out; left alone when not given. */
static int read_channels(struct scenario *s, const char *key, const char *text,
			 const lethe_param_decl *decl, double *out, struct error *e)
{
	lethe_param_value v[16]; /* more than any source has: a count that differs is named */
	size_t n;

	if (!*text) /* the default, empty: no normalisation */
		return 0;
	if (scenario_values(s, "data", key, text, decl, v, COUNT(v), &n, e) < 0)
		return -1;
	if (n != s->channels)
		return scenario_fail(s, "data", key, e, "[data] %s gives %zu value%s, but the %s "
				     "data has %zu channel%s: give one per channel", key, n,
				     n == 1 ? "" : "s", source_names[s->data], s->channels,
				     s->channels == 1 ? "" : "s");
	for (size_t c = 0; c < n; c++)
		out[c] = v[c].f;
	s->normalise = 1;
	return 0;
}


/* The source's format, channels and directory. */
static int read_source(struct scenario *s, const lethe_param_value *v, struct error *e)
{
	char where[ERROR_MSG_MAX];
	const char *dir = v[DAT_DIR].s;

	s->data = (enum data_source)v[DAT_SOURCE].i;
	if (!scenario_key_applies(s, "data", "labels") && ini_get(&s->ini, "data", "labels"))
		return scenario_fail(s, "data", "labels", e, "[data] labels applies to source = "
				     "cifar100 only, and source is %s (%s)", source_names[s->data],
				     scenario_origin(s, "data", "source", where, sizeof(where)));
	s->channels = 1;
	if (s->data == DATA_CIFAR10 || s->data == DATA_CIFAR100) {
		s->channels = 3;
		s->cifar = s->data == DATA_CIFAR10 ? DATASET_CIFAR10
			   : v[DAT_LABELS].i ? DATASET_CIFAR100_COARSE
					     : DATASET_CIFAR100_FINE;
		if (!ini_get(&s->ini, "data", "dir"))
			dir = CIFAR_DIR;
	}
	if (scenario_path(s, dir, s->data_dir, sizeof(s->data_dir)) < 0)
		return scenario_fail(s, "data", "dir", e, "[data] dir: path too long");
	return 0;
}

static int read_data(struct scenario *s, struct error *e)
{
	static const lethe_param_decl mean_decl =
		PARAM("mean", LETHE_PARAM_FLOAT, "0", -1e6, 1e6, NULL, NULL);
	static const lethe_param_decl std_decl =
		PARAM("std", LETHE_PARAM_FLOAT, "1", 0, 1e6, NULL, NULL);
	lethe_param_value v[DAT_COUNT];

	if (params_fill(data_decls, DAT_COUNT, &s->ini, "data", v, e) < 0 ||
	    read_source(s, v, e) < 0)
		return -1;
	for (size_t c = 0; c < SCENARIO_CHANNELS_MAX; c++) {
		s->mean[c] = 0;
		s->std[c] = 1;
	}
	if (read_channels(s, "mean", v[DAT_MEAN].s, &mean_decl, s->mean, e) < 0 ||
	    read_channels(s, "std", v[DAT_STD].s, &std_decl, s->std, e) < 0)
		return -1;
	for (size_t c = 0; c < s->channels; c++)
		if (!(s->std[c] > 0))
			return scenario_fail(s, "data", "std", e, "[data] std: channel %zu's is %g; "
					     "a standard deviation must be above 0", c + 1,
					     s->std[c]);
	s->crop = (uint32_t)v[DAT_CROP].i;
	s->flip = (int)v[DAT_FLIP].i;
	s->max_train = (size_t)v[DAT_MAX_TRAIN].i;
	s->max_test = (size_t)v[DAT_MAX_TEST].i;
	s->synth = (struct synth_spec){
		.num_classes = (int)v[DAT_CLASSES].i,
		.dim = (size_t)v[DAT_DIM].i,
		.train_per_class = (size_t)v[DAT_TRAIN_PER_CLASS].i,
		.test_per_class = (size_t)v[DAT_TEST_PER_CLASS].i,
		.spread = v[DAT_SPREAD].f,
		.seed = s->seed,
	};
	return 0;
}

/* The keys of [model] that belong to one architecture only: given with another, refused. */
static const struct {
	int key;
	enum architecture arch;
} model_owned[] = {
	{ MDL_HIDDEN, ARCH_MLP },
	{ MDL_WIDTH, ARCH_RESNET18 },
	{ MDL_LAYERS, ARCH_CUSTOM },
};

int scenario_key_applies(const struct scenario *s, const char *section, const char *key)
{
	if (!strcmp(section, "data") && !strcmp(key, "labels"))
		return s->data == DATA_CIFAR100;
	if (!strcmp(section, "model") && s->architecture)
		for (size_t i = 0; i < COUNT(model_owned); i++)
			if (!strcmp(key, model_decls[model_owned[i].key].key))
				return !strcmp(s->architecture,
					       architecture_names[model_owned[i].arch]);
	return 1;
}

/* The model's own message in e, after where [model] key was set. */
static int model_fail(const struct scenario *s, const char *key, struct error *e)
{
	char why[ERROR_MSG_MAX];
	snprintf(why, sizeof(why), "%s", e->msg);
	return scenario_fail(s, "model", key, e, "[model] %s", why);
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && !strcmp(s + n - k, suffix);
}

/* [model] init: a scheme by name, or a file of weights, resolved like [data] dir. */
static int read_init(struct scenario *s, const char *value, struct error *e)
{
	s->init_file[0] = '\0';
	if (has_suffix(value, INIT_FILE_SUFFIX)) {
		s->init = MODEL_INIT_HE; /* unused: the file's weights replace a drawn init */
		if (scenario_path(s, value, s->init_file, sizeof(s->init_file)) < 0)
			return scenario_fail(s, "model", "init", e, "[model] init: path too long");
		return 0;
	}
	if (model_init_from_name(value, &s->init) == 0)
		return 0;
	const char *near = params_nearest(init_names, COUNT(init_names) - 1, value);
	return scenario_fail(s, "model", "init", e, "[model] init = %s: '%s' is not one of "
			     "he|torch|xavier, nor a file FILE" INIT_FILE_SUFFIX "%s%s%s", value,
			     value, near ? "; did you mean '" : "", near ? near : "",
			     near ? "'?" : "");
}

static int read_model(struct scenario *s, struct error *e)
{
	static const lethe_param_decl size_decl =
		PARAM("hidden", LETHE_PARAM_INT, "1", 1, 65536, NULL, NULL);
	lethe_param_value v[MDL_COUNT];
	int64_t sizes[SCENARIO_HIDDEN_MAX];
	size_t hidden[SCENARIO_HIDDEN_MAX], num_hidden;
	char where[ERROR_MSG_MAX];

	if (params_fill(model_decls, MDL_COUNT, &s->ini, "model", v, e) < 0)
		return -1;
	enum architecture arch = (enum architecture)v[MDL_ARCHITECTURE].i;
	int given = ini_get(&s->ini, "model", "architecture") != NULL;
	/* A list of layers is a whole model: it stands for architecture = custom. */
	if (ini_get(&s->ini, "model", "layers") && !given)
		arch = ARCH_CUSTOM;
	const char *origin = given || arch != ARCH_CUSTOM
				     ? scenario_origin(s, "model", "architecture", where, sizeof(where))
				     : "layers is given";
	for (size_t i = 0; i < COUNT(model_owned); i++) {
		const char *key = model_decls[model_owned[i].key].key;
		if (model_owned[i].arch != arch && ini_get(&s->ini, "model", key))
			return scenario_fail(s, "model", key, e,
					     "[model] %s applies to architecture = %s only, and "
					     "architecture is %s (%s)", key,
					     architecture_names[model_owned[i].arch],
					     architecture_names[arch], origin);
	}
	s->architecture = architecture_names[arch];
	if (read_init(s, v[MDL_INIT].s, e) < 0)
		return -1;
	switch (arch) {
	case ARCH_MLP:
		if (scenario_list(s, "model", "hidden", v[MDL_HIDDEN].s, &size_decl, sizes,
				  SCENARIO_HIDDEN_MAX, &num_hidden, e) < 0)
			return -1;
		if (!num_hidden)
			return scenario_fail(s, "model", "hidden", e,
					     "[model] hidden needs at least one layer size");
		for (size_t i = 0; i < num_hidden; i++)
			hidden[i] = (size_t)sizes[i];
		if (model_desc_mlp(&s->model, hidden, num_hidden, e) < 0)
			return model_fail(s, "hidden", e);
		return 0;
	case ARCH_CNN:
		model_desc_cnn(&s->model);
		return 0;
	case ARCH_RESNET18:
		if (model_desc_resnet18(&s->model, (size_t)v[MDL_WIDTH].i, e) < 0)
			return model_fail(s, "width", e);
		return 0;
	case ARCH_CUSTOM:
		if (!ini_get(&s->ini, "model", "layers"))
			return scenario_fail(s, "model", "architecture", e,
					     "[model] architecture = custom needs layers = ..., "
					     "the list of layers");
		if (model_desc_parse(&s->model, v[MDL_LAYERS].s, e) < 0)
			return model_fail(s, "layers", e);
		return 0;
	}
	return 0;
}

/* The key a model's description comes from, for messages: its list, else its preset. */
static const char *model_key(const struct scenario *s)
{
	static const char *const keys[] = { "layers", "hidden", "width" };
	for (size_t i = 0; i < COUNT(keys); i++)
		if (ini_get(&s->ini, "model", keys[i]))
			return keys[i];
	return "architecture";
}

int scenario_check_model(const struct scenario *s, struct model_shape in, size_t classes,
			 struct error *e)
{
	if (model_desc_check(&s->model, in, classes, NULL, e) == 0)
		return 0;
	return model_fail(s, model_key(s), e);
}

/* The rendering of d, malloc'd; NULL when out of memory. */
static char *rendered(const struct model_desc *d)
{
	size_t n = model_desc_render(d, NULL, 0) + 1;
	char *text = malloc(n);
	if (text)
		model_desc_render(d, text, n);
	return text;
}

/* The layers the file's metadata names, if it does, against the scenario's: the tensors fit
 * either way when only what holds no weights differs. */
static int check_init_layers(const struct scenario *s, struct error *e)
{
	char *meta = NULL, *want = NULL, *got = NULL;
	int rc = safetensors_metadata(s->init_file, "layers", &meta, e);
	if (rc <= 0)
		return rc;
	struct model_desc d;
	struct error why;
	rc = -1;
	if (model_desc_parse(&d, meta, &why) < 0)
		error_set(e, "%s: its metadata's layers do not parse: %s", s->init_file, why.msg);
	else if (!(want = rendered(&s->model)) || !(got = rendered(&d)))
		error_set(e, "%s: out of memory", s->init_file);
	else if (strcmp(want, got) != 0)
		error_set(e, "%s: holds the weights of layers '%s', not the scenario's '%s'",
			  s->init_file, got, want);
	else
		rc = 0;
	free(meta);
	free(want);
	free(got);
	return rc;
}

int scenario_init_model(const struct scenario *s, struct model *m, struct error *e)
{
	if (safetensors_read(m, s->init_file, e) == 0 && check_init_layers(s, e) == 0)
		return 0;
	char why[ERROR_MSG_MAX];
	snprintf(why, sizeof(why), "%s", e->msg);
	return scenario_fail(s, "model", "init", e, "[model] init: %s", why);
}

/* Checks the tasks and the forget steps' classes against the number of classes in the data. */
static int check_classes(const struct scenario *s, int num_classes, struct error *e)
{
	if (s->tasks_kind == TASKS_SPLIT && (s->num_tasks > (size_t)num_classes ||
					      (size_t)num_classes % s->num_tasks))
		return scenario_fail(s, "tasks", "split", e,
				     "[tasks] split = %zu: the data's %d classes do not divide "
				     "into %zu equal tasks", s->num_tasks, num_classes,
				     s->num_tasks);
	/* Caught here, not after training up to the step that would find nothing to forget. */
	for (size_t f = 0; f < s->num_forgets; f++) {
		const struct scenario_forget *g = &s->forgets[f];
		for (size_t j = 0; g->what == FORGET_WHAT_CLASS && j < g->num_classes; j++) {
			if (g->classes[j] < num_classes)
				continue;
			return scenario_fail(s, g->section, "classes", e,
					     "[%s] classes: class %d is not in the data (classes "
					     "0..%d)", g->section, (int)g->classes[j],
					     num_classes - 1);
		}
	}
	if (s->tasks_kind != TASKS_EXPLICIT)
		return 0;
	for (size_t k = 0; k < s->num_tasks; k++) {
		for (size_t j = 0; j < s->task_num_classes[k]; j++) {
			char key[32];
			if (s->task_classes[k][j] < num_classes)
				continue;
			snprintf(key, sizeof(key), "task%zu", k + 1);
			return scenario_fail(s, "tasks", key, e,
					     "[tasks] %s: class %d is not in the data (classes "
					     "0..%d)", key, (int)s->task_classes[k][j],
					     num_classes - 1);
		}
	}
	return 0;
}

static int read_task_lists(struct scenario *s, const struct tasks_table *t,
			   const lethe_param_value *v, struct error *e)
{
	static const lethe_param_decl class_decl =
		PARAM("class", LETHE_PARAM_INT, "0", 0, CLASSES_MAX - 1, NULL, NULL);
	size_t owner[CLASSES_MAX] = { 0 }; /* 1 + the task holding each class, or 0 */

	for (size_t k = 0; k < s->num_tasks; k++) {
		const char *key = t->keys[k];
		int64_t classes[CLASSES_MAX];
		size_t n;

		if (scenario_list(s, "tasks", key, v[TSK_LISTS + k].s, &class_decl, classes,
				  CLASSES_MAX, &n, e) < 0)
			return -1;
		if (!n)
			return scenario_fail(s, "tasks", key, e, "[tasks] %s lists no classes",
					     key);
		for (size_t j = 0; j < n; j++) {
			size_t c = (size_t)classes[j];
			if (owner[c] == k + 1)
				return scenario_fail(s, "tasks", key, e,
						     "[tasks] %s lists class %zu twice", key, c);
			if (owner[c])
				return scenario_fail(s, "tasks", key, e,
						     "[tasks] %s: class %zu is already in %s", key,
						     c, t->keys[owner[c] - 1]);
			owner[c] = k + 1;
			s->task_classes[k][j] = (int32_t)c;
		}
		s->task_num_classes[k] = n;
	}
	return 0;
}

static int read_tasks(struct scenario *s, struct error *e)
{
	struct tasks_table t;
	lethe_param_value v[COUNT(t.decls)];
	char where[ERROR_MSG_MAX];

	memcpy(t.decls, tasks_fixed, sizeof(tasks_fixed));
	for (size_t k = 0; k < TASKS_MAX; k++) {
		snprintf(t.keys[k], sizeof(t.keys[k]), "task%zu", k + 1);
		t.decls[TSK_LISTS + k] = (lethe_param_decl)PARAM(t.keys[k], LETHE_PARAM_STRING,
								  "", 0, 0, NULL,
								  "the task's classes, "
								  "comma-separated");
	}
	if (params_fill(t.decls, COUNT(t.decls), &s->ini, "tasks", v, e) < 0)
		return -1;

	/* The explicit lists: task1..taskN, numbered without a gap. */
	size_t lists = TASKS_MAX;
	while (lists && !ini_get(&s->ini, "tasks", t.keys[lists - 1]))
		lists--;
	for (size_t k = 0; k < lists; k++) {
		if (ini_get(&s->ini, "tasks", t.keys[k]))
			continue;
		size_t next = k + 1;
		while (!ini_get(&s->ini, "tasks", t.keys[next]))
			next++;
		return scenario_fail(s, "tasks", t.keys[next], e, "[tasks] %s given but not %s",
				     t.keys[next], t.keys[k]);
	}

	const char *kinds[3];
	size_t num_kinds = 0;
	if (v[TSK_SPLIT].i)
		kinds[num_kinds++] = "split";
	if (v[TSK_PERMUTED].i)
		kinds[num_kinds++] = "permuted";
	if (lists)
		kinds[num_kinds++] = "task1";
	if (!num_kinds) {
		const struct ini_section *sec = ini_section_get(&s->ini, "tasks");
		if (sec)
			ini_section_where(&s->ini, sec, where, sizeof(where));
		return error_set(e, "%s: [tasks] needs split = N, permuted = N, or task1 = "
				 "classes ... taskN = classes", sec ? where : s->ini.path);
	}
	if (num_kinds > 1)
		return scenario_fail(s, "tasks", kinds[1], e,
				     "[tasks] %s conflicts with %s (%s); give only one of split, "
				     "permuted or task1..taskN", kinds[1], kinds[0],
				     scenario_origin(s, "tasks", kinds[0], where, sizeof(where)));

	const char *origin = scenario_origin(s, "scenario", "protocol", where, sizeof(where));
	s->permute_first = (int)v[TSK_PERMUTE_FIRST].i;
	if (v[TSK_PERMUTED].i) {
		if (s->protocol != LETHE_DOMAIN_INCREMENTAL)
			return scenario_fail(s, "tasks", "permuted", e,
					     "[tasks] permuted needs protocol = "
					     "domain-incremental, but [scenario] protocol is %s "
					     "(%s)", scenario_protocol_name(s->protocol), origin);
		s->tasks_kind = TASKS_PERMUTED;
		s->num_tasks = (size_t)v[TSK_PERMUTED].i;
		return 0;
	}
	if (s->protocol == LETHE_DOMAIN_INCREMENTAL)
		return scenario_fail(s, "tasks", kinds[0], e,
				     "[tasks] %s gives each task its own classes, which needs "
				     "protocol = class-incremental or task-incremental, but "
				     "[scenario] protocol is domain-incremental (%s)", kinds[0],
				     origin);
	if (v[TSK_SPLIT].i) {
		s->tasks_kind = TASKS_SPLIT;
		s->num_tasks = (size_t)v[TSK_SPLIT].i;
	} else {
		s->tasks_kind = TASKS_EXPLICIT;
		s->num_tasks = lists;
		if (read_task_lists(s, &t, v, e) < 0)
			return -1;
	}
	return 0;
}

/* Reads "retrain, finetune" into bits of enum forget_reference. */
static int read_references(const struct scenario *s, const char *section, const char *text,
			   unsigned *bits, struct error *e)
{
	lethe_param_decl decl = PARAM("references", LETHE_PARAM_CHOICE, "retrain", 0, 0,
				      reference_names, "");
	char item[64];
	int r;
	*bits = 0;
	while ((r = list_next(&text, item, sizeof(item))) != 0) {
		lethe_param_value v;
		if (r > 0 && !*item)
			continue;
		if (r < 0 || params_parse(&decl, item, &v, e) < 0) {
			if (r < 0)
				error_set(e, "an item is too long");
			error_prefix(e, "[%s] references", section);
			return scenario_at(s, section, "references", e);
		}
		*bits |= 1u << v.i;
	}
	return 0;
}

static int plugin_listed(const struct scenario *s, const char *section)
{
	for (size_t i = 0; i < s->num_plugins; i++)
		if (strcmp(s->plugin_sections[i], section) == 0)
			return 1;
	return 0;
}

/* compare = a list of listed plugins, none the step's own, none twice (whether each can
 * unlearn is the engine's to check, once they are loaded). */
static int read_compare(struct scenario *s, struct scenario_forget *f, const char *list,
			struct error *e)
{
	const char *sec = f->section;
	char item[INI_NAME_MAX];
	int r;
	f->num_compare = 0;
	while ((r = list_next(&list, item, sizeof(item))) != 0) {
		if (r < 0)
			return scenario_fail(s, sec, "compare", e, "[%s] compare: a name is too long",
					     sec);
		if (!*item)
			continue;
		if (!plugin_listed(s, item))
			return scenario_fail(s, sec, "compare", e, "[%s] compare: plugin '%s' is not "
					     "listed in [scenario] plugins", sec, item);
		if (strcmp(item, f->plugin) == 0)
			return scenario_fail(s, sec, "compare", e, "[%s] compare: '%s' is the step's "
					     "own plugin", sec, item);
		for (size_t i = 0; i < f->num_compare; i++)
			if (strcmp(f->compare[i], item) == 0)
				return scenario_fail(s, sec, "compare", e, "[%s] compare: '%s' is "
						     "listed twice", sec, item);
		snprintf(f->compare[f->num_compare++], INI_NAME_MAX, "%s", item);
	}
	return 0;
}

static int read_forget(struct scenario *s, struct scenario_forget *f, struct error *e)
{
	const char *sec = f->section;
	lethe_param_value v[FGT_COUNT];
	if (params_fill(forget_decls, FGT_COUNT, &s->ini, sec, v, e) < 0)
		return -1;
	f->after = (size_t)v[FGT_AFTER].i;
	f->what = (enum forget_what)v[FGT_WHAT].i;
	f->task = (size_t)v[FGT_TASK].i;
	f->fraction = v[FGT_FRACTION].f;
	f->retrain_joint = v[FGT_RETRAIN].i == 1;
	f->retrain_epochs = (size_t)v[FGT_RETRAIN_EPOCHS].i;
	f->finetune_epochs = (size_t)v[FGT_FINETUNE_EPOCHS].i;
	f->ascent_epochs = (size_t)v[FGT_ASCENT_EPOCHS].i;
	f->ascent_lr = v[FGT_ASCENT_LR].f;
	f->relearn_loss = v[FGT_RELEARN_LOSS].f;
	f->relearn_max_epochs = (size_t)v[FGT_RELEARN_MAX].i;
	if (f->after < 1 || f->after > s->num_tasks)
		return scenario_fail(s, sec, "after", e, "[%s] after = %zu: give the learning step "
				     "it follows, 1 to %zu", sec, f->after, s->num_tasks);
	if (read_references(s, sec, v[FGT_REFERENCES].s, &f->references, e) < 0)
		return -1;

	const char *plugin = v[FGT_PLUGIN].s;
	size_t i = 0;
	while (*plugin && i < s->num_plugins && strcmp(s->plugin_sections[i], plugin) != 0)
		i++;
	if (*plugin && i == s->num_plugins)
		return scenario_fail(s, sec, "plugin", e, "[%s] plugin '%s' is not listed in "
				     "[scenario] plugins", sec, plugin);
	snprintf(f->plugin, sizeof(f->plugin), "%s", plugin);
	if (read_compare(s, f, v[FGT_COMPARE].s, e) < 0)
		return -1;

	if (f->what == FORGET_WHAT_CLASS) {
		int64_t classes[CLASSES_MAX];
		lethe_param_decl decl = PARAM("classes", LETHE_PARAM_INT, "0", 0,
					      CLASSES_MAX - 1, NULL, "");
		if (scenario_list(s, sec, "classes", v[FGT_CLASSES].s, &decl, classes,
				  CLASSES_MAX, &f->num_classes, e) < 0)
			return -1;
		if (!f->num_classes)
			return scenario_fail(s, sec, "classes", e, "[%s] what = class needs "
					     "classes = C1, C2, ...", sec);
		for (size_t c = 0; c < f->num_classes; c++)
			f->classes[c] = (int32_t)classes[c];
		return 0;
	}
	if (f->task < 1 || f->task > f->after)
		return scenario_fail(s, sec, "task", e, "[%s] task = %zu: give a task learned by "
				     "step %zu, 1 to %zu", sec, f->task, f->after, f->after);
	if (f->what == FORGET_WHAT_SAMPLES && !(f->fraction > 0))
		return scenario_fail(s, sec, "fraction", e, "[%s] fraction must be above 0", sec);
	return 0;
}

/* forget1..forgetN, numbered without a gap, each checked against the tasks and plugins. */
static int read_forgets(struct scenario *s, struct error *e)
{
	size_t most = 0;
	for (size_t i = 0; i < s->ini.num_sections; i++) {
		size_t k = forget_index(s->ini.sections[i].name);
		if (k > SCENARIO_FORGETS_MAX) {
			char where[ERROR_MSG_MAX];
			ini_section_where(&s->ini, &s->ini.sections[i], where, sizeof(where));
			return error_set(e, "%s: [%s]: at most %d forget steps", where,
					 s->ini.sections[i].name, SCENARIO_FORGETS_MAX);
		}
		most = k > most ? k : most;
	}
	for (size_t k = 0; k < most; k++) {
		struct scenario_forget *f = &s->forgets[k];
		snprintf(f->section, sizeof(f->section), "forget%zu", k + 1);
		if (!ini_section_get(&s->ini, f->section))
			return error_set(e, "%s: [forget%zu] given but not [%s]", s->ini.path, most,
					 f->section);
		if (read_forget(s, f, e) < 0)
			return -1;
		s->num_forgets = k + 1;
	}
	return 0;
}

static int apply_overrides(struct scenario *s, const char *const *overrides, size_t n,
			   struct error *e)
{
	for (size_t i = 0; i < n; i++) {
		if (ini_set(&s->ini, overrides[i], e) < 0)
			return -1;
	}
	return 0;
}

int scenario_load(struct scenario *s, const char *path, const char *const *overrides,
		  size_t num_overrides, struct error *e)
{
	memset(s, 0, sizeof(*s));
	if (ini_load(&s->ini, path, e) < 0)
		return -1;
	/* train before data: synthetic data takes the training seed. */
	if (apply_overrides(s, overrides, num_overrides, e) < 0 ||
	    read_scenario(s, path, e) < 0 || check_sections(s, e) < 0 ||
	    read_train(s, e) < 0 || read_data(s, e) < 0 || read_model(s, e) < 0 ||
	    read_tasks(s, e) < 0 || read_forgets(s, e) < 0 ||
	    /* Synthetic data's classes are known now: catch a bad class before any run. */
	    (s->data == DATA_SYNTHETIC && check_classes(s, s->synth.num_classes, e) < 0)) {
		scenario_free(s);
		return -1;
	}
	return 0;
}

static int build_tasks(const struct scenario *s, const struct dataset *train,
		       const struct dataset *test, struct task_list *tl, struct error *e)
{
	int32_t all[CLASSES_MAX];
	const int32_t *classes[TASKS_MAX];
	size_t counts[TASKS_MAX];

	if (check_classes(s, train->num_classes, e) < 0)
		return -1;
	if (s->tasks_kind == TASKS_PERMUTED)
		return tasks_permuted(tl, train, test, s->num_tasks, !s->permute_first, s->seed,
				      e);
	for (int c = 0; c < train->num_classes; c++)
		all[c] = c;
	for (size_t k = 0; k < s->num_tasks; k++) {
		if (s->tasks_kind == TASKS_SPLIT) {
			counts[k] = (size_t)train->num_classes / s->num_tasks;
			classes[k] = all + k * counts[k];
		} else {
			counts[k] = s->task_num_classes[k];
			classes[k] = s->task_classes[k];
		}
	}
	if (tasks_by_classes(tl, train, test, s->num_tasks, classes, counts, e) < 0)
		return error_prefix(e, "%s: [tasks]", s->ini.path);
	return 0;
}

int scenario_build_tasks(const struct scenario *s, const struct dataset *train,
			 const struct dataset *test, struct task_list *tl, struct error *e)
{
	if (build_tasks(s, train, test, tl, e) < 0)
		return -1;
	tasks_limit(tl, s->max_train, s->max_test, s->seed);
	tl->crop = s->crop;
	tl->flip = s->flip;
	if (s->normalise && train->channels != s->channels) {
		tasks_free(tl);
		return scenario_fail(s, "data", ini_get(&s->ini, "data", "mean") ? "mean" : "std",
				     e, "[data] mean and std give %zu values, but the data has %u "
				     "channels", s->channels, train->channels);
	}
	if (s->normalise && tasks_normalise(tl, s->mean, s->std, e) < 0) {
		tasks_free(tl);
		return -1;
	}
	return 0;
}

int scenario_open_data(const struct scenario *s, struct dataset *train, struct dataset *test,
		       struct task_list *tl, struct error *e)
{
	int rc = s->data == DATA_SYNTHETIC ? dataset_open_synthetic(train, test, &s->synth, e)
		 : s->cifar ? dataset_open_cifar(train, test, s->data_dir, s->cifar, e)
			    : dataset_open_dir(train, test, s->data_dir, e);
	if (rc < 0)
		return -1;
	if (scenario_build_tasks(s, train, test, tl, e) < 0) {
		dataset_free(train);
		dataset_free(test);
		return -1;
	}
	return 0;
}

int scenario_read_data(const struct scenario *s, struct dataset *train, struct dataset *test,
		       struct error *e)
{
	if (s->data == DATA_SYNTHETIC)
		return dataset_draw_synthetic(train, test, &s->synth, e);
	return dataset_read_pixels(train, e) < 0 || dataset_read_pixels(test, e) < 0 ? -1 : 0;
}

int scenario_build_data(const struct scenario *s, struct dataset *train, struct dataset *test,
			struct task_list *tl, struct error *e)
{
	if (scenario_open_data(s, train, test, tl, e) < 0)
		return -1;
	if (scenario_read_data(s, train, test, e) < 0) {
		tasks_free(tl);
		dataset_free(train);
		dataset_free(test);
		return -1;
	}
	return 0;
}

const struct scenario_section *scenario_sections(size_t *count)
{
	*count = COUNT(sections);
	return sections;
}

const char *scenario_protocol_name(lethe_protocol p)
{
	if ((size_t)p < COUNT(protocol_names) - 1)
		return protocol_names[p];
	return "unknown";
}

const char *scenario_reference_name(enum forget_reference r)
{
	return (unsigned)r < REFERENCE_COUNT ? reference_names[r] : NULL;
}

void scenario_free(struct scenario *s)
{
	ini_free(&s->ini);
	memset(s, 0, sizeof(*s));
}
