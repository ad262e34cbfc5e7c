/* Prints lethe-scenario(5), the scenario file format, from the declaration tables the parser
 * checks files against (scenario_sections), so a key added to the host is documented, with its
 * type, default, range and help, by the next build. The prose the tables cannot hold lives here;
 * a note that names a section or key the tables no longer declare fails the build.
 *
 *   gen_scenario_man --page DATE   the page, dated DATE (YYYY-MM-DD)
 *   gen_scenario_man --keys        every built-in key as section.key, one a line (for tests)
 *   gen_scenario_man --example     the scenario of the page's EXAMPLES (for tests) */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h> /* inih: INI_MAX_LINE, the line buffer host/ini.c reads through */

#include "scenario/params.h"
#include "scenario/scenario.h"

#define STR(x) #x
#define XSTR(x) STR(x)
#define COUNT(a) (sizeof(a) / sizeof(*(a)))

#define TEXT_LINE_MAX 80 /* bytes per text line of the source: mandoc's style limit */

/* What a table cannot say about a section (key NULL) or a key: roff, printed after the
 * table's help. */
struct note {
	const char *section;
	const char *key;
	const char *roff;
};

static const struct note notes[] = {
	{ "scenario", "name",
	  "Results go to \\fBresults/\\fINAME\\fR unless \\fBlethe run \\-\\-out\\fR says "
	  "otherwise, so a name is one directory name: not empty, no slash, not \\fB.\\fR or "
	  "\\fB..\\fR, no control character." },
	{ "scenario", "protocol",
	  "With \\fBclass\\-incremental\\fR, one output layer covers every class and no task "
	  "identity is given; with \\fBtask\\-incremental\\fR, the task is known in training and "
	  "at test time, so only its own classes compete; with \\fBdomain\\-incremental\\fR, "
	  "every task has the same classes in a new input domain (see \\fBpermuted\\fR in "
	  "\\fB[tasks]\\fR)." },
	{ "scenario", "plugins",
	  "An item is a plugin name, looked up on the plugin path (see \\fBlethe\\fR(1)), or "
	  "the path of a plugin file: an item that holds a slash or ends in \\fB.so\\fR. "
	  "A relative path is relative to the scenario file's directory. At most "
	  XSTR(SCENARIO_PLUGINS_MAX) " plugins; their hooks run in the order listed, and each "
	  "reads its parameters from its own section (see \\fB[\\fIPLUGIN\\fB]\\fR below)." },
	{ "data", "source",
	  "\\fBfashion\\-mnist\\fR reads the Fashion\\-MNIST files that Debian's "
	  "\\fBdataset\\-fashion\\-mnist\\fR package installs; \\fBidx\\fR reads the same four "
	  "files of any data set in that format (MNIST, KMNIST) from \\fBdir\\fR; "
	  "\\fBcifar10\\fR and \\fBcifar100\\fR read the binary version of CIFAR\\-10 and "
	  "CIFAR\\-100 (https://www.cs.toronto.edu/~kriz/cifar.html), 3 x 32 x 32 images; "
	  "\\fBsynthetic\\fR draws seeded Gaussian clusters, one per class, as the keys marked "
	  "synthetic below and \\fB[train] seed\\fR say. The synthetic keys are checked "
	  "whatever the source, but only used by \\fBsynthetic\\fR." },
	{ "data", "dir",
	  "Read by \\fBfashion\\-mnist\\fR and \\fBidx\\fR: \\fBtrain\\-images\\-idx3\\-ubyte\\fR, "
	  "\\fBtrain\\-labels\\-idx1\\-ubyte\\fR, \\fBt10k\\-images\\-idx3\\-ubyte\\fR and "
	  "\\fBt10k\\-labels\\-idx1\\-ubyte\\fR, each plain or gzip\\-compressed (a \\fB.gz\\fR "
	  "file is preferred). The training and test images have one shape; the labels of both "
	  "number the classes from 0 without a gap (a label past the number of distinct labels "
	  "is refused, with its file and index). Each file's header is read first, and no more "
	  "than it announces is read or inflated. Read by \\fBcifar10\\fR: "
	  "\\fBdata_batch_1.bin\\fR to \\fBdata_batch_5.bin\\fR and \\fBtest_batch.bin\\fR; "
	  "by \\fBcifar100\\fR: \\fBtrain.bin\\fR and \\fBtest.bin\\fR; in \\fBdir\\fR or "
	  "in the directory the archive unpacks to there (\\fBcifar\\-10\\-batches\\-bin\\fR, "
	  "\\fBcifar\\-100\\-binary\\fR). A file must hold whole records (the label bytes, "
	  "then the red, green and blue 32 x 32 planes) and every label within its format's "
	  "classes; a missing file is refused with where to get it." },
	{ "data", "crop",
	  "With \\fBflip\\fR, the augmentation of training batches alone (not evaluation, "
	  "not what plugins load): each sample's crop corner, then its flip, drawn from a "
	  "stream of its own of \\fB[train] seed\\fR, kept in checkpoints, so runs stay "
	  "reproducible and resumable bit for bit." },
	{ "data", "max_train",
	  "The samples kept are drawn with \\fB[train] seed\\fR: task k's (k = 0 for the "
	  "first) by Knuth's selection sampling, train then test, from stream 0x200 + k of "
	  "the generator under \\fBpermuted\\fR, and kept in data set order." },
	{ "tasks", "split",
	  "Task 1 takes the first classes, task 2 the next, and so on; the data's classes must "
	  "divide evenly into this many tasks. 0, the default, means not used." },
	{ "tasks", "permuted",
	  "Each permutation is drawn from \\fB[train] seed\\fR by a rule another program "
	  "can follow (bench/torch's twin does): task k's (k = 0 for the first) shuffles the "
	  "identity, for i from the number of values down to 2 swapping positions i \\- 1 and "
	  "below(i), with stream 0x100 + k of lethe's generator: xoshiro256** whose four "
	  "words are successive splitmix64 outputs from seed XOR (stream x "
	  "0xd1b54a32d192ed03), below(n) being a 64\\-bit output modulo n, outputs at or above "
	  "2^64 \\- 1 \\- ((2^64 \\- 1) mod n) drawn again. Sample j of a task is its image's "
	  "value at position perm[j]. 0, the default, means not used." },
	{ "tasks", "permute_first",
	  "By default the first task sees the original images, the usual reference point." },
	{ "model", NULL,
	  "The model reads a sample as an image of channels x height x width values (1 x 28 x 28 "
	  "for Fashion\\-MNIST, 1 x 1 x \\fBdim\\fR for synthetic data) and ends in a dense "
	  "layer of one output per class of the data, the head, trained by softmax with "
	  "cross\\-entropy. A key that belongs to another architecture than the one chosen is "
	  "an error naming both; so is a description that does not fit the data's shape, naming "
	  "the item and the shape." },
	{ "model", "architecture",
	  "\\fBmlp\\fR: dense layers of the \\fBhidden\\fR sizes with ReLU between them. "
	  "\\fBcnn\\fR: conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1, relu, maxpool 2, "
	  "flatten, dense 256, relu, dense. \\fBresnet18\\fR: He et al.'s ResNet\\-18 for "
	  "32 x 32 images as DER and Mammoth build it (a 3 x 3 stem without max pooling, "
	  "BasicBlocks [2, 2, 2, 2] of \\fBwidth\\fR, 2, 4 and 8 times \\fBwidth\\fR "
	  "channels, global average pooling). \\fBcustom\\fR: the \\fBlayers\\fR list, "
	  "which alone implies it." },
	{ "model", "hidden",
	  "From 1 to " XSTR(SCENARIO_HIDDEN_MAX) " sizes, each from 1 to 65536." },
	{ "model", "width",
	  "64 is the ResNet\\-18 of He et al.; 20 the reduced ResNet\\-18 of the GEM, A\\-GEM "
	  "and ER papers." },
	{ "model", "init",
	  "\\fBhe\\fR: weights N(0, 2 / fan_in), zero biases. \\fBtorch\\fR: PyTorch's "
	  "defaults for nn.Linear and nn.Conv2d, weights and biases U(\\(+-1 / sqrt(fan_in)); "
	  "comparisons with peers that use PyTorch's defaults need it. \\fBxavier\\fR: weights "
	  "U(\\(+-sqrt(6 / (fan_in + fan_out))), zero biases. A convolution's fan_in is its "
	  "input channels times the kernel's area. Batch norm starts at gamma 1, beta 0." },
	{ "train", "baseline",
	  "With \\fBjoint\\fR, step \\fIk\\fR trains on the data of tasks 1 to \\fIk\\fR "
	  "together: the usual upper bound, where \\fBnaive\\fR fine\\-tuning is the lower "
	  "one." },
};

/* The page's example, checked by tests/man.sh with lethe check: synthetic data, so it runs in
 * seconds anywhere. */
static const char example[] =
	"; Four class-incremental tasks of two classes each, on synthetic data,\n"
	"; with an L2 pull towards the previous task's weights.\n"
	"[scenario]\n"
	"name = l2-demo\n"
	"protocol = class-incremental\n"
	"plugins = l2\n"
	"\n"
	"[data]\n"
	"source = synthetic\n"
	"classes = 8\n"
	"dim = 64\n"
	"train_per_class = 300\n"
	"test_per_class = 100\n"
	"spread = 30\n"
	"\n"
	"[tasks]\n"
	"task1 = 0, 1\n"
	"task2 = 2, 3\n"
	"task3 = 4, 5\n"
	"task4 = 6, 7\n"
	"\n"
	"[model]\n"
	"hidden = 128, 128\n"
	"\n"
	"[train]\n"
	"baseline = naive\n"
	"optimizer = sgd\n"
	"lr = 0.05\n"
	"momentum = 0.9\n"
	"batch_size = 32\n"
	"epochs = 3\n"
	"seed = 7\n"
	"\n"
	"[l2]\n"
	"lambda = 0.1    ; the weight of the pull\n";

/* Text in roff: a backslash must be escaped, a quote cannot sit inside a quoted macro argument,
 * and in names and values a hyphen is a minus, so that the text copies back as typed. */
static void roff_putn(FILE *f, const char *s, size_t len, int literal)
{
	for (const char *end = s + len; s < end; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '"')
			fputs("\\(dq", f);
		else if (*s == '-' && literal)
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

static void roff_put(FILE *f, const char *s, int literal)
{
	roff_putn(f, s, strlen(s), literal);
}

/* A help line as a sentence: capitalised, with a full stop. */
static void roff_sentence(FILE *f, const char *help)
{
	size_t len = strlen(help);

	if (*help == '.' || *help == '\'')
		fputs("\\&", f); /* text, not a request */
	fputc(toupper((unsigned char)*help), f);
	roff_put(f, help + 1, 0);
	fputs(len && help[len - 1] == '.' ? "\n" : ".\n", f);
}

/* Copies one text line to out, one sentence a line and wrapped at blanks within
 * TEXT_LINE_MAX bytes where a blank allows; no output line starts as a request would. */
static void roff_fill(const char *s, size_t len, FILE *out)
{
	size_t col = 0;
	const char *end = s + len;

	while (s < end) {
		while (s < end && *s == ' ')
			s++;
		if (s == end)
			break;
		size_t n = strcspn(s, " ");
		if (s + n > end)
			n = (size_t)(end - s);
		if (col && col + 1 + n > TEXT_LINE_MAX) {
			fputc('\n', out);
			col = 0;
		}
		if (col) {
			fputc(' ', out);
			col++;
		} else if (*s == '.' || *s == '\'') {
			fputs("\\&", out);
			col += 2;
		}
		fwrite(s, 1, n, out);
		col += n;
		s += n;
		if (s[-1] == '.' && s < end) {
			fputc('\n', out); /* a new sentence on a new line */
			col = 0;
		}
	}
	if (col)
		fputc('\n', out);
}

/* Copies the page's roff to out: requests and no-fill blocks (.nf, .EX) as they are, text
 * lines through roff_fill. */
static void roff_format(const char *roff, FILE *out)
{
	int nofill = 0;

	while (*roff) {
		size_t len = strcspn(roff, "\n");
		if (*roff == '.') {
			if (!strncmp(roff, ".nf", 3) || !strncmp(roff, ".EX", 3))
				nofill = 1;
			else if (!strncmp(roff, ".fi", 3) || !strncmp(roff, ".EE", 3))
				nofill = 0;
		}
		if (*roff == '.' || nofill || !len) {
			fwrite(roff, 1, len, out);
			fputc('\n', out);
		} else {
			roff_fill(roff, len, out);
		}
		roff += len + (roff[len] == '\n');
	}
}

static const char *note_find(const char *section, const char *key)
{
	for (size_t i = 0; i < COUNT(notes); i++) {
		const struct note *n = &notes[i];
		if (!strcmp(n->section, section) &&
		    (n->key ? key && !strcmp(n->key, key) : !key))
			return n->roff;
	}
	return NULL;
}

/* Every note must still name a declared section and key: prose about a removed key would
 * otherwise drop out of the page without anyone noticing. */
static int notes_check(void)
{
	size_t n;
	const struct scenario_section *s = scenario_sections(&n);
	int ok = 1;

	for (size_t i = 0; i < COUNT(notes); i++) {
		size_t k = 0;
		while (k < n && strcmp(s[k].name, notes[i].section))
			k++;
		if (k < n && (!notes[i].key || params_find(s[k].decls, s[k].count, notes[i].key)))
			continue;
		fprintf(stderr, "gen_scenario_man: a note for [%s] %s, which the tables do not "
			"declare\n", notes[i].section, notes[i].key ? notes[i].key : "");
		ok = 0;
	}
	return ok ? 0 : -1;
}

/* .TP with "key (type, default value)" as the tag, then the help and the note. */
static void print_key(FILE *f, const char *section, const lethe_param_decl *d)
{
	char type[512];
	const char *def = d->default_value ? d->default_value : "";
	const char *note = note_find(section, d->key);

	params_describe(d, type, sizeof(type));
	fputs(".TP\n.BR \"", f);
	roff_put(f, d->key, 1);
	fputs("\" \" (", f);
	roff_put(f, type, 1);
	if (*def) {
		fputs(", default \" \"", f);
		roff_put(f, def, 1);
		fputs("\" )\n", f);
	} else {
		fputs(", empty by default)\"\n", f);
	}
	if (d->help)
		roff_sentence(f, d->help);
	if (note)
		fprintf(f, "%s\n", note);
}

static void print_task_lists(FILE *f)
{
	fputs(".TP\n"
	      ".BR task1 \", \" task2 \", .\\|.\\|.\\& \" task\\fIN\\fP \" (lists of classes, "
	      "empty by default)\"\n"
	      "The classes of each task, as comma\\-separated class numbers below "
	      XSTR(CLASSES_MAX) " that the data has. The lists are numbered from \\fBtask1\\fR "
	      "without a gap, up to \\fBtask" XSTR(TASKS_MAX) "\\fR; a class belongs to one task "
	      "at most, and a list is never empty.\n"
	      ".PP\n"
	      "\\fB[tasks]\\fR must give exactly one of \\fBsplit\\fR, \\fBpermuted\\fR, or the "
	      "lists, and the choice must suit \\fB[scenario] protocol\\fR: \\fBsplit\\fR and "
	      "the lists give each task classes of its own, which needs "
	      "\\fBclass\\-incremental\\fR or \\fBtask\\-incremental\\fR; \\fBpermuted\\fR gives "
	      "every task all the classes, which needs \\fBdomain\\-incremental\\fR. An error "
	      "names both settings and where each was made.\n", f);
}

/* The free list's grammar, from the parser's own table. */
static void print_layers(FILE *f)
{
	size_t n;
	const struct model_item_syntax *g = model_desc_grammar(&n);

	fputs(".PP\n"
	      "\\fBlayers\\fR lists the model's layers in order, separated by commas, each a "
	      "name and its arguments separated by spaces; an option's value follows its letter, "
	      "as in \\fBconv 32 k3 p1\\fR. The last item is \\fBdense\\fR, the head. "
	      "The items:\n", f);
	for (size_t i = 0; i < n; i++) {
		fputs(".TP\n.B \"", f);
		roff_put(f, g[i].syntax, 1);
		fputs("\"\n", f);
		roff_sentence(f, g[i].help);
	}
}

static void print_sections(FILE *f)
{
	size_t n;
	const struct scenario_section *s = scenario_sections(&n);

	fputs(".SH SECTIONS\n"
	      "Each key is listed with its type, its range or choices, and its default. Ranges "
	      "include their ends.\n", f);
	for (size_t i = 0; i < n; i++) {
		const char *intro = note_find(s[i].name, NULL);

		fprintf(f, ".SS \"[%s]\"\n", s[i].name);
		roff_sentence(f, s[i].help);
		if (intro)
			fprintf(f, "%s\n", intro);
		for (size_t k = 0; k < s[i].count; k++)
			print_key(f, s[i].name, &s[i].decls[k]);
		if (!strcmp(s[i].name, "tasks"))
			print_task_lists(f);
		if (!strcmp(s[i].name, "model"))
			print_layers(f);
	}
	fputs(".SS \"[\\fIPLUGIN\\fP]\"\n"
	      "Each plugin listed in \\fB[scenario] plugins\\fR reads its parameters from a "
	      "section of its own: the plugin's name, or for a path the file name without a "
	      "leading \\fBlib\\fR and without its extension (\\fBplugins/libfoo.so\\fR reads "
	      "\\fB[foo]\\fR). The section may be left out, and any key in it, to take the "
	      "plugin's defaults. A plugin's section may not share a built\\-in section's name, "
	      "nor another listed plugin's.\n"
	      ".PP\n"
	      "The keys are the parameters the plugin declares, with the same types and rules "
	      "as the built\\-in keys; \\fBlethe plugins\\fR lists each plugin's parameters with "
	      "their types, ranges, defaults and help. They are checked when the plugin is "
	      "loaded, which \\fBlethe check\\fR does too: an unknown key or a value out of "
	      "range is an error naming the file and line.\n", f);
}

static void print_example(FILE *f)
{
	fputs(".SH EXAMPLES\n"
	      "A complete scenario that runs in seconds, giving every built\\-in section and the "
	      "section of the \\fBl2\\fR plugin:\n"
	      ".PP\n.RS 4\n.EX\n", f);
	for (const char *line = example; *line;) {
		size_t len = strcspn(line, "\n");
		if (*line == '.' || *line == '\'')
			fputs("\\&", f);
		roff_putn(f, line, len, 1);
		fputc('\n', f);
		line += len + (line[len] == '\n');
	}
	fputs(".EE\n.RE\n"
	      ".PP\n"
	      "Saved as \\fBl2\\-demo.ini\\fR, it is checked, then run with two seeds:\n"
	      ".PP\n.RS 4\n.EX\n"
	      "lethe check l2\\-demo.ini\n"
	      "lethe run l2\\-demo.ini \\-\\-set train.seed=1 \\-\\-out results/l2\\-seed1\n"
	      "lethe run l2\\-demo.ini \\-\\-set train.seed=2 \\-\\-out results/l2\\-seed2\n"
	      ".EE\n.RE\n"
	      ".PP\n"
	      "Ten permuted tasks over all the classes of Fashion\\-MNIST, domain\\-incremental:\n"
	      ".PP\n.RS 4\n.EX\n"
	      "[scenario]\n"
	      "protocol = domain\\-incremental\n"
	      "\n"
	      "[tasks]\n"
	      "permuted = 10\n"
	      ".EE\n.RE\n"
	      ".PP\n"
	      "More scenarios, each explained at its top, are in\n"
	      ".IR ", f);
	roff_put(f, LETHE_SCENARIO_DIR, 1);
	fputs(" .\n", f);
}

static void print_page(FILE *f, const char *date)
{
	fprintf(f, ".TH LETHE\\-SCENARIO 5 %s \"lethe %s\" \"File Formats Manual\"\n", date,
		PACKAGE_VERSION);
	fputs(".SH NAME\n"
	      "lethe\\-scenario \\- scenario files of lethe, continual learning in C\n"
	      ".SH SYNOPSIS\n"
	      ".nf\n"
	      "\\fB[\\fIsection\\fB]\\fR\n"
	      "\\fIkey\\fR \\fB=\\fR \\fIvalue\\fR      \\fB;\\fR \\fIcomment\\fR\n"
	      ".fi\n"
	      ".SH DESCRIPTION\n"
	      "A scenario is an INI file that tells \\fBlethe\\fR(1) what to learn and how: the "
	      "data, how its classes form a sequence of tasks, the model, the training, and the "
	      "strategy plugins that act on it. \\fBlethe check\\fR validates a scenario, its "
	      "data and its plugins' parameters without training; \\fBlethe run\\fR trains "
	      "through it.\n"
	      ".PP\n"
	      "Every section is one of the built\\-in sections below, or the section of a plugin "
	      "the scenario lists. Every key is optional and takes its default when left out; "
	      "only \\fB[tasks]\\fR must say how the tasks are formed. An unknown section or "
	      "key, a malformed line, or a value of the wrong type or out of range is an error "
	      "that names the file and line, and the nearest valid name when one is close; "
	      "nothing is trained then. Relative paths are relative to the scenario file's "
	      "directory.\n"
	      ".SS Syntax\n"
	      "Each line is blank, a comment, a section header \\fB[\\fIname\\fB]\\fR, or a "
	      "setting \\fIkey\\fB = \\fIvalue\\fR (a colon may stand for the equals sign). "
	      "Blanks around names and values are dropped; quotes are not special and stay in "
	      "the value. Names are case\\-sensitive.\n"
	      ".PP\n"
	      "A line whose first character other than a blank is \\fB;\\fR or \\fB#\\fR is a "
	      "comment. Within a line, a \\fB;\\fR that follows a blank starts a comment that "
	      "runs to the end of the line, so \\fBlr = 0.05 ; faster\\fR sets \\fBlr\\fR to "
	      "0.05; a \\fB;\\fR right after other text, and a \\fB#\\fR anywhere but at the "
	      "start, are part of the value. Nothing but a comment may follow a section "
	      "header.\n", f);
	/* inih reads lines through a buffer of INI_MAX_LINE bytes, newline and NUL included. */
	fprintf(f, ".PP\n"
		"A line holds at most %d characters, and section names, keys and "
		"\\fB[scenario] name\\fR at most %d; anything longer is an error, never cut "
		"short.\n",
		INI_MAX_LINE - 2, INI_NAME_MAX - 1);
	fputs("An indented setting that follows another setting of its section is an error: "
	      "INI readers take such a line to continue the value above it, and multi\\-line "
	      "values are not supported. Keep settings unindented; comments may be indented.\n"
	      ".PP\n"
	      "A section may appear once, and a key once in its section; a setting before the "
	      "first section header is an error. Sections may come in any order. A UTF\\-8 byte "
	      "order mark at the start of the file is ignored.\n"
	      ".SS Values\n"
	      ".TP\n"
	      ".B bool\n"
	      "\\fBtrue\\fR or \\fBfalse\\fR, \\fByes\\fR or \\fBno\\fR, \\fBon\\fR or "
	      "\\fBoff\\fR, \\fB1\\fR or \\fB0\\fR, in any letter case.\n"
	      ".TP\n"
	      ".B int\n"
	      "A decimal integer.\n"
	      ".TP\n"
	      ".B float\n"
	      "A finite number, such as \\fB0.05\\fR or \\fB1e\\-3\\fR, always with a point as "
	      "its decimal separator, whatever the locale.\n"
	      ".TP\n"
	      ".B one of\n"
	      "One of the words listed, exactly as written.\n"
	      ".TP\n"
	      ".B text\n"
	      "The rest of the line, up to a comment. Lists, such as \\fB[model] hidden\\fR and "
	      "the task lists, are text with items separated by commas; blanks around items are "
	      "dropped.\n"
	      ".SS \"Command-line overrides\"\n"
	      "\\fBlethe run\\fR and \\fBlethe check\\fR take \\fB\\-\\-set\\fR "
	      "\\fIsection\\fB.\\fIkey\\fB=\\fIvalue\\fR, which sets a key as if the file did: "
	      "it replaces the file's setting, or adds one, even to a section the file lacks. "
	      "The overrides apply in order before anything is checked, so the last one for a "
	      "key wins, and an error in one names \\fB\\-\\-set \\fIsection\\fB.\\fIkey\\fR "
	      "instead of a line. The section name ends at the first dot.\n", f);
	print_sections(f);
	print_example(f);
	fputs(".SH SEE ALSO\n"
	      ".BR lethe (1)\n", f);
}

static void print_keys(FILE *f)
{
	size_t n;
	const struct scenario_section *s = scenario_sections(&n);

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < s[i].count; k++)
			fprintf(f, "%s.%s\n", s[i].name, s[i].decls[k].key);
	}
}

/* The page goes through a memory stream so that roff_format sees it whole. */
static int page(const char *date)
{
	char *roff = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&roff, &size);

	if (!f) {
		perror("gen_scenario_man");
		return -1;
	}
	print_page(f, date);
	if (fclose(f) != 0) {
		perror("gen_scenario_man");
		free(roff);
		return -1;
	}
	roff_format(roff, stdout);
	free(roff);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--page")) {
		if (notes_check() < 0 || page(argv[2]) < 0)
			return 1;
	} else if (argc == 2 && !strcmp(argv[1], "--keys")) {
		print_keys(stdout);
	} else if (argc == 2 && !strcmp(argv[1], "--example")) {
		fputs(example, stdout);
	} else {
		fputs("usage: gen_scenario_man --page DATE | --keys | --example\n", stderr);
		return 2;
	}
	/* A page cut short by a full disk must fail the build, not get installed. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("gen_scenario_man: stdout");
		return 1;
	}
	return 0;
}
