/* INI reading, typed parameters and scenario files: every error must name its place (file and
 * line, or the --set override) and, for a typo, the name it was probably meant to be. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>

#include "scenario/ini.h"
#include "scenario/params.h"
#include "scenario/scenario.h"
#include "testutil.h"

#define assert_has(text, needle) \
	ck_assert_msg(strstr((text), (needle)) != NULL, "\"%s\" lacks \"%s\"", (text), (needle))

static char *dir; /* the running test's scratch directory */
static char path[4096];

static void setup(void)
{
	dir = testutil_tmpdir();
}

static void teardown(void)
{
	testutil_rmtree(dir);
	free(dir);
}

/* Writes dir/name and returns its path (valid until the next call). */
static const char *put(const char *name, const char *text)
{
	char *p = testutil_write_text(dir, name, text);
	snprintf(path, sizeof(path), "%s", p);
	free(p);
	return path;
}

static const char *ini_fails(const char *text)
{
	static struct error e;
	struct ini ini;
	ck_assert_int_eq(ini_load(&ini, put("s.ini", text), &e), -1);
	return e.msg;
}

static const char *scenario_fails(const char *text, const char *const *overrides, size_t n)
{
	static struct error e;
	struct scenario s;
	ck_assert_int_eq(scenario_load(&s, put("s.ini", text), overrides, n, &e), -1);
	return e.msg;
}

static void scenario_loads(struct scenario *s, const char *name, const char *text,
			   const char *const *overrides, size_t n)
{
	struct error e = { "" };
	int rc = scenario_load(s, put(name, text), overrides, n, &e);
	ck_assert_msg(rc == 0, "scenario_load: %s", e.msg);
}

/* The hidden layers' sizes of an MLP scenario: its dense items but the head. */
static size_t num_hidden(const struct scenario *s)
{
	size_t dense = 0;
	for (size_t i = 0; i < s->model.num_items; i++)
		dense += s->model.item[i].kind == MODEL_ITEM_DENSE;
	ck_assert_str_eq(s->architecture, "mlp");
	return dense - 1;
}

static size_t hidden_at(const struct scenario *s, size_t k)
{
	for (size_t i = 0; i < s->model.num_items; i++)
		if (s->model.item[i].kind == MODEL_ITEM_DENSE && k-- == 0)
			return s->model.item[i].n;
	return 0;
}

/* ---- ini ---- */

START_TEST(test_ini_entries)
{
	struct ini ini;
	struct error e;
	char where[256], want[4200];
	const char *p = put("s.ini", "; comment\n"
				     "# comment\n"
				     "[train]\n"
				     "lr = 0.5   ; inline comment\n"
				     "epochs: 3\n"
				     "[ data ]\n"
				     "\n"
				     "source=synthetic\n");

	ck_assert_int_eq(ini_load(&ini, p, &e), 0);
	ck_assert_uint_eq(ini.count, 3);
	ck_assert_uint_eq(ini.num_sections, 2);
	ck_assert_int_eq(ini_section_get(&ini, "train")->line, 3);
	ck_assert_int_eq(ini_section_get(&ini, "data")->line, 6);
	const struct ini_entry *lr = ini_get(&ini, "train", "lr");
	ck_assert_str_eq(lr->value, "0.5");
	ck_assert_int_eq(lr->line, 4);
	ck_assert_int_eq(lr->overridden, 0);
	ck_assert_str_eq(ini_get(&ini, "train", "epochs")->value, "3");
	ck_assert_int_eq(ini_get(&ini, "data", "source")->line, 8);
	ck_assert_ptr_null(ini_get(&ini, "data", "lr"));
	ck_assert_ptr_null(ini_section_get(&ini, "model"));
	ini_where(&ini, lr, where, sizeof(where));
	snprintf(want, sizeof(want), "%s:4", p);
	ck_assert_str_eq(where, want);
	ini_section_where(&ini, ini_section_get(&ini, "data"), where, sizeof(where));
	snprintf(want, sizeof(want), "%s:6", p);
	ck_assert_str_eq(where, want);
	ini_free(&ini);
}
END_TEST

START_TEST(test_ini_bom_and_indented_first_key)
{
	struct ini ini;
	struct error e;

	ck_assert_int_eq(ini_load(&ini, put("s.ini", "\xEF\xBB\xBF[train]\n  lr = 1\n"), &e), 0);
	ck_assert_str_eq(ini_get(&ini, "train", "lr")->value, "1");
	ini_free(&ini);
}
END_TEST

START_TEST(test_ini_cannot_open)
{
	struct ini ini;
	struct error e;
	char want[4200];

	snprintf(want, sizeof(want), "%s/none.ini: cannot open: No such file or directory", dir);
	snprintf(path, sizeof(path), "%s/none.ini", dir);
	ck_assert_int_eq(ini_load(&ini, path, &e), -1);
	ck_assert_str_eq(e.msg, want);
	ck_assert_int_eq(ini_load(&ini, dir, &e), -1);
	assert_has(e.msg, ": a directory, not a regular file");
	/* A FIFO without a writer: refused at once, where a plain open would wait forever. */
	snprintf(path, sizeof(path), "%s/fifo.ini", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(ini_load(&ini, path, &e), -1);
	assert_has(e.msg, "fifo.ini: a FIFO, not a regular file");
}
END_TEST

START_TEST(test_ini_syntax_error)
{
	const char *msg = ini_fails("[train]\nlr = 1\nbogus line\nepochs = 2\nlr = 3\n");
	assert_has(msg, "s.ini:3: syntax error");
	assert_has(ini_fails("[train\nlr = 1\n"), "s.ini:1: syntax error");
	assert_has(ini_fails("[train] junk\n"), "s.ini:1: unexpected text after ']'");
	assert_has(ini_fails("[]\n"), "s.ini:1: empty section name");
	assert_has(ini_fails("[train]\n= 5\n"), "s.ini:2: missing key before '='");
}
END_TEST

START_TEST(test_ini_duplicates)
{
	assert_has(ini_fails("[train]\nlr = 1\nepochs = 2\nlr = 3\n"),
		   "s.ini:4: key 'lr' in [train] already set at line 2");
	assert_has(ini_fails("[train]\nlr = 1\n[data]\n[train]\n"),
		   "s.ini:4: section [train] already given at line 1");
}
END_TEST

START_TEST(test_ini_outside_section)
{
	assert_has(ini_fails("; top\nlr = 1\n[train]\n"),
		   "s.ini:2: key 'lr' is outside any section");
}
END_TEST

START_TEST(test_ini_long_line)
{
	char text[1024];
	struct ini ini;
	struct error e;

	/* 198 characters fit; one more does not, and must not be split into two lines. */
	snprintf(text, sizeof(text), "[data]\ndir = %0192d\n", 7);
	ck_assert_int_eq(ini_load(&ini, put("s.ini", text), &e), 0);
	ck_assert_uint_eq(strlen(ini_get(&ini, "data", "dir")->value), 192);
	ini_free(&ini);

	snprintf(text, sizeof(text), "[data]\ndir = %0193d\nx = 1\n", 7);
	assert_has(ini_fails(text), "s.ini:2: line longer than 198 characters");
	snprintf(text, sizeof(text), "[data]\n\ndir = %0300d", 7);
	assert_has(ini_fails(text), "s.ini:3: line longer than");
}
END_TEST

START_TEST(test_ini_long_names)
{
	char text[512];
	struct ini ini;
	struct error e;

	snprintf(text, sizeof(text), "[train]\n%s = 1\n", "k23456789012345678901234567890123456"
		 "789012345678901234567890123");
	ck_assert_int_eq(ini_load(&ini, put("s.ini", text), &e), 0);
	ini_free(&ini);

	snprintf(text, sizeof(text), "[train]\n%s = 1\n", "k23456789012345678901234567890123456"
		 "7890123456789012345678901234");
	assert_has(ini_fails(text), "s.ini:2: key name longer than 63 characters");
	snprintf(text, sizeof(text), "[%s]\n", "s23456789012345678901234567890123456"
		 "7890123456789012345678901234");
	assert_has(ini_fails(text), "s.ini:1: section name longer than 63 characters");
}
END_TEST

START_TEST(test_ini_continuation)
{
	assert_has(ini_fails("[train]\nlr = 1\n  epochs = 2\n"),
		   "s.ini:3: indented line continues the value of 'lr'");
}
END_TEST

/* Found by fuzz/fuzz_scenario: a control character echoed in a message broke the one-line rule
 * (a newline in --set), and a NUL byte hid the rest of its line from inih. Both are refused,
 * naming the place without echoing the character; tabs and CRLF line ends stay text. */
START_TEST(test_ini_control_characters)
{
	static const char nul[] = "[train]\nlr = 1\0\nepochs = 2\n";
	static const char *const bad[] = { "[train]\nlr = 1\033[2J\n", "[train]\nlr = 1\r2\n",
					   "[train]\nlr = \x7f\n" };
	struct ini ini;
	struct error e;

	char *file = testutil_write(dir, "nul.ini", nul, sizeof(nul) - 1);
	ck_assert_int_eq(ini_load(&ini, file, &e), -1);
	free(file);
	assert_has(e.msg, "nul.ini:2: control character 0x00 in column 7 (not a text file?)");
	assert_has(ini_fails(bad[0]), "s.ini:2: control character 0x1b in column 7");
	assert_has(ini_fails(bad[1]), "s.ini:2: control character 0x0d in column 7");
	assert_has(ini_fails(bad[2]), "s.ini:2: control character 0x7f in column 6");

	ck_assert_int_eq(ini_load(&ini, put("s.ini", "[train]\r\nlr =\t1\r\nepochs = 2\r"), &e),
			 0);
	ck_assert_str_eq(ini_get(&ini, "train", "lr")->value, "1");
	ck_assert_str_eq(ini_get(&ini, "train", "epochs")->value, "2");
	ck_assert_int_eq(ini_set(&ini, "train.lr=0.1\n", &e), -1);
	ck_assert_str_eq(e.msg, "--set 'train.lr=0.1': control character 0x0a in column 13");
	ck_assert_int_eq(ini_set(&ini, "\n", &e), -1);
	ck_assert_str_eq(e.msg, "--set '': control character 0x0a in column 1");
	ck_assert_int_eq(ini_set(&ini, "train.lr=\t0.5", &e), 0);
	ck_assert_str_eq(ini_get(&ini, "train", "lr")->value, "0.5");
	ini_free(&ini);
}
END_TEST

START_TEST(test_ini_set)
{
	struct ini ini;
	struct error e;
	char where[256];

	ck_assert_int_eq(ini_load(&ini, put("s.ini", "[train]\nlr = 1\n"), &e), 0);
	ck_assert_int_eq(ini_set(&ini, " train.lr = 0.5 ", &e), 0);
	ck_assert_int_eq(ini_set(&ini, "train.epochs=3", &e), 0);
	ck_assert_int_eq(ini_set(&ini, "ewc.lambda=10", &e), 0);
	ck_assert_int_eq(ini_set(&ini, "data.dir=/a=b", &e), 0);
	ck_assert_int_eq(ini_set(&ini, "a.b.c=", &e), 0);

	const struct ini_entry *lr = ini_get(&ini, "train", "lr");
	ck_assert_str_eq(lr->value, "0.5");
	ck_assert_int_eq(lr->line, 0);
	ck_assert_int_eq(lr->overridden, 1);
	ini_where(&ini, lr, where, sizeof(where));
	ck_assert_str_eq(where, "--set train.lr");
	ck_assert_str_eq(ini_get(&ini, "train", "epochs")->value, "3");
	ck_assert_str_eq(ini_get(&ini, "data", "dir")->value, "/a=b");
	ck_assert_str_eq(ini_get(&ini, "a", "b.c")->value, "");
	ck_assert_uint_eq(ini.count, 5);
	ck_assert_int_eq(ini_section_get(&ini, "ewc")->line, 0);
	ini_section_where(&ini, ini_section_get(&ini, "ewc"), where, sizeof(where));
	ck_assert_str_eq(where, "--set ewc.lambda");
	ini_free(&ini);
}
END_TEST

START_TEST(test_ini_set_malformed)
{
	static const char *const bad[] = { "foo", "train.lr", "=1", ".lr=1", "train.=1",
					   "trainlr=1", " . = 1" };
	struct ini ini;
	struct error e;
	char want[256];

	ck_assert_int_eq(ini_load(&ini, put("s.ini", "[train]\n"), &e), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ck_assert_int_eq(ini_set(&ini, bad[i], &e), -1);
		snprintf(want, sizeof(want), "--set '%s': expected section.key=value", bad[i]);
		ck_assert_str_eq(e.msg, want);
	}
	ck_assert_uint_eq(ini.count, 0);
	ini_free(&ini);
}
END_TEST

/* ---- params ---- */

static const char *const fisher_choices[] = { "exact", "sampled", "empirical", NULL };

static const lethe_param_decl decls[] = {
	{ sizeof(lethe_param_decl), "lr", LETHE_PARAM_FLOAT, "0.01", 0, 1, NULL, "rate" },
	{ sizeof(lethe_param_decl), "epochs", LETHE_PARAM_INT, "1", 1, 100, NULL, "epochs" },
	{ sizeof(lethe_param_decl), "fisher", LETHE_PARAM_CHOICE, "exact", 0, 0, fisher_choices,
	  "Fisher" },
	{ sizeof(lethe_param_decl), "online", LETHE_PARAM_BOOL, "no", 0, 0, NULL, "online" },
	{ sizeof(lethe_param_decl), "label", LETHE_PARAM_STRING, "none", 0, 0, NULL, "label" },
};
#define NUM_DECLS (sizeof(decls) / sizeof(*decls))

static const char *parse_fails(size_t decl, const char *text)
{
	static struct error e;
	lethe_param_value v;
	ck_assert_int_eq(params_parse(&decls[decl], text, &v, &e), -1);
	return e.msg;
}

START_TEST(test_params_int)
{
	lethe_param_value v;
	struct error e;

	ck_assert_int_eq(params_parse(&decls[1], "42", &v, &e), 0);
	ck_assert_int_eq(v.i, 42);
	ck_assert_int_eq(params_parse(&decls[1], "100", &v, &e), 0);
	ck_assert_str_eq(parse_fails(1, "1.5"), "'1.5' is not an integer");
	ck_assert_str_eq(parse_fails(1, "abc"), "'abc' is not an integer");
	ck_assert_str_eq(parse_fails(1, "3x"), "'3x' is not an integer");
	ck_assert_str_eq(parse_fails(1, ""), "'' is not an integer");
	ck_assert_str_eq(parse_fails(1, "0"), "0 is below the minimum 1");
	ck_assert_str_eq(parse_fails(1, "101"), "101 is above the maximum 100");
	ck_assert_str_eq(parse_fails(1, "99999999999999999999"),
			 "'99999999999999999999' is out of range");
}
END_TEST

START_TEST(test_params_float)
{
	lethe_param_value v;
	struct error e;

	ck_assert_int_eq(params_parse(&decls[0], "0.25", &v, &e), 0);
	ck_assert_double_eq(v.f, 0.25);
	ck_assert_int_eq(params_parse(&decls[0], "1e-3", &v, &e), 0);
	ck_assert_double_eq(v.f, 0.001);
	ck_assert_str_eq(parse_fails(0, "2.5"), "2.5 is above the maximum 1");
	ck_assert_str_eq(parse_fails(0, "-0.5"), "-0.5 is below the minimum 0");
	ck_assert_str_eq(parse_fails(0, "abc"), "'abc' is not a number");
	ck_assert_str_eq(parse_fails(0, "0.5.1"), "'0.5.1' is not a number");
	ck_assert_str_eq(parse_fails(0, "nan"), "'nan' is not a finite number");
	ck_assert_str_eq(parse_fails(0, "inf"), "'inf' is not a finite number");
	ck_assert_str_eq(parse_fails(0, "1e999"), "'1e999' is not a finite number");
}
END_TEST

START_TEST(test_params_bool)
{
	static const char *const yes[] = { "true", "yes", "on", "1", "TRUE", "Yes" };
	static const char *const no[] = { "false", "no", "off", "0", "Off" };
	lethe_param_value v;
	struct error e;

	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		ck_assert_int_eq(params_parse(&decls[3], yes[i], &v, &e), 0);
		ck_assert_int_eq(v.i, 1);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++) {
		v.i = 7;
		ck_assert_int_eq(params_parse(&decls[3], no[i], &v, &e), 0);
		ck_assert_int_eq(v.i, 0);
	}
	assert_has(parse_fails(3, "maybe"), "'maybe' is not a boolean");
}
END_TEST

START_TEST(test_params_choice)
{
	lethe_param_value v;
	struct error e;

	ck_assert_int_eq(params_parse(&decls[2], "sampled", &v, &e), 0);
	ck_assert_int_eq(v.i, 1);
	ck_assert_str_eq(v.s, "sampled");
	ck_assert_str_eq(parse_fails(2, "exat"),
			 "'exat' is not one of exact|sampled|empirical; did you mean 'exact'?");
	ck_assert_str_eq(parse_fails(2, "Exact2"),
			 "'Exact2' is not one of exact|sampled|empirical; did you mean 'exact'?");
	ck_assert_str_eq(parse_fails(2, "xyzzy"), "'xyzzy' is not one of exact|sampled|empirical");
}
END_TEST

START_TEST(test_params_suggest)
{
	static const char *const names[] = { "scenario", "data", "train", "ewc" };

	ck_assert_uint_eq(params_distance("kitten", "sitting"), 3);
	ck_assert_uint_eq(params_distance("", "abc"), 3);
	ck_assert_uint_eq(params_distance("ewc", "ewc"), 0);
	ck_assert_str_eq(params_suggest(decls, NUM_DECLS, "lrr"), "lr");
	ck_assert_str_eq(params_suggest(decls, NUM_DECLS, "epoch"), "epochs");
	ck_assert_ptr_null(params_suggest(decls, NUM_DECLS, "momentum"));
	ck_assert_str_eq(params_nearest(names, 4, "ecw"), "ewc");
	ck_assert_str_eq(params_nearest(names, 4, "trian"), "train");
	ck_assert_ptr_null(params_nearest(names, 4, "zzzzzz"));
	ck_assert_ptr_eq(params_find(decls, NUM_DECLS, "fisher"), &decls[2]);
	ck_assert_ptr_null(params_find(decls, NUM_DECLS, "fish"));
}
END_TEST

START_TEST(test_params_fill)
{
	lethe_param_value v[NUM_DECLS];
	struct ini ini;
	struct error e;

	ck_assert_int_eq(ini_load(&ini, put("s.ini", "[ewc]\nepochs = 7\nfisher = empirical\n"
						     "[other]\nlr = 9\n"), &e), 0);
	ck_assert_int_eq(params_fill(decls, NUM_DECLS, &ini, "ewc", v, &e), 0);
	ck_assert_double_eq(v[0].f, 0.01);
	ck_assert_int_eq(v[1].i, 7);
	ck_assert_int_eq(v[2].i, 2);
	ck_assert_str_eq(v[2].s, "empirical");
	ck_assert_int_eq(v[3].i, 0);
	ck_assert_str_eq(v[4].s, "none");

	ck_assert_int_eq(ini_set(&ini, "ewc.lr=abc", &e), 0);
	ck_assert_int_eq(params_fill(decls, NUM_DECLS, &ini, "ewc", v, &e), -1);
	ck_assert_str_eq(e.msg, "--set ewc.lr: [ewc] lr = abc: 'abc' is not a number");
	ini_free(&ini);
}
END_TEST

START_TEST(test_params_fill_errors)
{
	lethe_param_value v[NUM_DECLS];
	struct ini ini;
	struct error e;

	ck_assert_int_eq(ini_load(&ini, put("s.ini", "[train]\n; c\nepochs = 4\nlrr = 0.1\n"),
			 &e), 0);
	ck_assert_int_eq(params_fill(decls, NUM_DECLS, &ini, "train", v, &e), -1);
	assert_has(e.msg, "s.ini:4: unknown key 'lrr' in [train]; did you mean 'lr'?");
	ini_free(&ini);

	ck_assert_int_eq(ini_load(&ini, put("s.ini", "[train]\nepochs = 4\nzzzzzz = 1\n"),
			 &e), 0);
	ck_assert_int_eq(params_fill(decls, NUM_DECLS, &ini, "train", v, &e), -1);
	ck_assert_ptr_null(strstr(e.msg, "did you mean"));
	assert_has(e.msg, "s.ini:3: unknown key 'zzzzzz' in [train]");
	ini_free(&ini);

	ck_assert_int_eq(ini_load(&ini, put("s.ini", "[train]\n\nepochs = 1.5\n"), &e), 0);
	ck_assert_int_eq(params_fill(decls, NUM_DECLS, &ini, "train", v, &e), -1);
	assert_has(e.msg, "s.ini:3: [train] epochs = 1.5: '1.5' is not an integer");
	ini_free(&ini);
}
END_TEST

START_TEST(test_params_bad_default)
{
	static const lethe_param_decl bad[] = {
		{ sizeof(lethe_param_decl), "lambda", LETHE_PARAM_FLOAT, "lots", 0, 1, NULL, "" },
	};
	lethe_param_value v;
	struct ini ini;
	struct error e;

	ck_assert_int_eq(ini_load(&ini, put("s.ini", "[ewc]\n"), &e), 0);
	ck_assert_int_eq(params_fill(bad, 1, &ini, "ewc", &v, &e), -1);
	assert_has(e.msg, "[ewc] lambda: invalid default 'lots'");
	assert_has(e.msg, "'lots' is not a number");
	ini_free(&ini);
}
END_TEST

START_TEST(test_params_describe)
{
	static const lethe_param_decl seed = {
		sizeof(lethe_param_decl), "seed", LETHE_PARAM_INT, "1", 0, 9007199254740992.0, NULL,
		""
	};
	char buf[128];

	params_describe(&decls[0], buf, sizeof(buf));
	ck_assert_str_eq(buf, "float in [0, 1]");
	params_describe(&decls[1], buf, sizeof(buf));
	ck_assert_str_eq(buf, "int in [1, 100]");
	params_describe(&decls[2], buf, sizeof(buf));
	ck_assert_str_eq(buf, "one of exact|sampled|empirical");
	params_describe(&decls[3], buf, sizeof(buf));
	ck_assert_str_eq(buf, "bool");
	params_describe(&decls[4], buf, sizeof(buf));
	ck_assert_str_eq(buf, "text");
	params_describe(&seed, buf, sizeof(buf));
	ck_assert_str_eq(buf, "int in [0, 9007199254740992]");
	params_describe(&decls[2], buf, 12);
	ck_assert_str_eq(buf, "one of exac");
}
END_TEST

/* ---- scenario ---- */

START_TEST(test_scenario_defaults)
{
	struct scenario s;

	scenario_loads(&s, "mini.ini", "[tasks]\nsplit = 5\n", NULL, 0);
	ck_assert_str_eq(s.name, "mini");
	ck_assert_str_eq(s.dir, dir);
	ck_assert_int_eq(s.protocol, LETHE_CLASS_INCREMENTAL);
	ck_assert_str_eq(scenario_protocol_name(s.protocol), "class-incremental");
	ck_assert_uint_eq(s.num_plugins, 0);
	ck_assert_int_eq(s.data, DATA_FASHION_MNIST);
	ck_assert_str_eq(s.data_dir, "/usr/share/datasets/fashion-mnist");
	ck_assert_uint_eq(s.max_train, 0);
	ck_assert_uint_eq(s.max_test, 0);
	ck_assert_int_eq(s.synth.num_classes, 10);
	ck_assert_uint_eq(s.synth.dim, 32);
	ck_assert_uint_eq(s.synth.train_per_class, 200);
	ck_assert_uint_eq(s.synth.test_per_class, 50);
	ck_assert_double_eq(s.synth.spread, 20);
	ck_assert_uint_eq(s.synth.seed, 1);
	ck_assert_int_eq(s.tasks_kind, TASKS_SPLIT);
	ck_assert_uint_eq(s.num_tasks, 5);
	ck_assert_uint_eq(num_hidden(&s), 2);
	ck_assert_uint_eq(hidden_at(&s, 0), 256);
	ck_assert_uint_eq(hidden_at(&s, 1), 256);
	ck_assert_int_eq(s.baseline, BASELINE_NAIVE);
	ck_assert_double_eq(s.lr, 0.01);
	ck_assert_double_eq(s.momentum, 0);
	ck_assert_double_eq(s.weight_decay, 0);
	ck_assert_uint_eq(s.batch_size, 64);
	ck_assert_uint_eq(s.epochs, 1);
	ck_assert_uint_eq(s.seed, 1);
	ck_assert_int_eq(s.threads, 1);
	scenario_free(&s);
}
END_TEST

START_TEST(test_scenario_full)
{
	struct scenario s;
	char want[4200];

	scenario_loads(&s, "full.ini",
		       "[scenario]\n"
		       "name = custom\n"
		       "protocol = task-incremental\n"
		       "plugins = ewc\n"
		       "[data]\n"
		       "source = synthetic\n"
		       "dir = rel/data\n"
		       "max_train = 100\n"
		       "max_test = 20\n"
		       "classes = 6\n"
		       "dim = 16\n"
		       "train_per_class = 30\n"
		       "test_per_class = 10\n"
		       "spread = 12.5\n"
		       "[tasks]\n"
		       "split = 3\n"
		       "[model]\n"
		       "hidden = 512, 128 ,64\n"
		       "[train]\n"
		       "baseline = joint\n"
		       "optimizer = sgd\n"
		       "lr = 0.1\n"
		       "momentum = 0.9\n"
		       "weight_decay = 0.0005\n"
		       "batch_size = 32\n"
		       "epochs = 4\n"
		       "seed = 9007199254740992\n"
		       "threads = 3\n"
		       "[ewc]\n"
		       "lambda = 100\n", NULL, 0);
	ck_assert_str_eq(s.name, "custom");
	ck_assert_int_eq(s.protocol, LETHE_TASK_INCREMENTAL);
	ck_assert_uint_eq(s.num_plugins, 1);
	ck_assert_str_eq(s.plugins[0], "ewc");
	ck_assert_str_eq(s.plugin_sections[0], "ewc");
	ck_assert_int_eq(s.data, DATA_SYNTHETIC);
	snprintf(want, sizeof(want), "%s/rel/data", dir);
	ck_assert_str_eq(s.data_dir, want);
	ck_assert_uint_eq(s.max_train, 100);
	ck_assert_uint_eq(s.max_test, 20);
	ck_assert_int_eq(s.synth.num_classes, 6);
	ck_assert_uint_eq(s.synth.dim, 16);
	ck_assert_uint_eq(s.synth.train_per_class, 30);
	ck_assert_uint_eq(s.synth.test_per_class, 10);
	ck_assert_double_eq(s.synth.spread, 12.5);
	ck_assert_uint_eq(s.synth.seed, 9007199254740992ull);
	ck_assert_uint_eq(s.num_tasks, 3);
	ck_assert_uint_eq(num_hidden(&s), 3);
	ck_assert_uint_eq(hidden_at(&s, 0), 512);
	ck_assert_uint_eq(hidden_at(&s, 1), 128);
	ck_assert_uint_eq(hidden_at(&s, 2), 64);
	ck_assert_int_eq(s.baseline, BASELINE_JOINT);
	ck_assert_double_eq(s.lr, 0.1);
	ck_assert_double_eq(s.momentum, 0.9);
	ck_assert_double_eq(s.weight_decay, 0.0005);
	ck_assert_uint_eq(s.batch_size, 32);
	ck_assert_uint_eq(s.epochs, 4);
	ck_assert_uint_eq(s.seed, 9007199254740992ull);
	ck_assert_int_eq(s.threads, 3);
	ck_assert_str_eq(ini_get(&s.ini, "ewc", "lambda")->value, "100");
	scenario_free(&s);
}
END_TEST

START_TEST(test_scenario_bad_values)
{
	assert_has(scenario_fails("[tasks]\nsplit = 5\n[train]\nlrr = 0.1\n", NULL, 0),
		   "s.ini:4: unknown key 'lrr' in [train]; did you mean 'lr'?");
	assert_has(scenario_fails("[tasks]\nsplit = 5\n[train]\nlr = 20\n", NULL, 0),
		   "s.ini:4: [train] lr = 20: 20 is above the maximum 10");
	assert_has(scenario_fails("[tasks]\nsplit = 5\n[train]\nlr = 0\n", NULL, 0),
		   "s.ini:4: [train] lr must be above 0");
	assert_has(scenario_fails("[train]\nmomentum = 1\n[tasks]\nsplit = 5\n", NULL, 0),
		   "s.ini:2: [train] momentum must be below 1");
	assert_has(scenario_fails("[train]\nepochs = many\n[tasks]\nsplit = 5\n", NULL, 0),
		   "s.ini:2: [train] epochs = many: 'many' is not an integer");
	assert_has(scenario_fails("[train]\nbatch_size = 0\n[tasks]\nsplit = 5\n", NULL, 0),
		   "s.ini:2: [train] batch_size = 0: 0 is below the minimum 1");
	assert_has(scenario_fails("[scenario]\nprotocol = class-incremntal\n", NULL, 0),
		   "s.ini:2: [scenario] protocol = class-incremntal: 'class-incremntal' is not "
		   "one of class-incremental|task-incremental|domain-incremental; did you mean "
		   "'class-incremental'?");
	assert_has(scenario_fails("[data]\nsource = mnist\n[tasks]\nsplit = 5\n", NULL, 0),
		   "s.ini:2: [data] source = mnist: 'mnist' is not one of "
		   "fashion-mnist|idx|synthetic");
	assert_has(scenario_fails("[train]\noptimizer = adam\n[tasks]\nsplit = 5\n", NULL, 0),
		   "'adam' is not one of sgd");
}
END_TEST

START_TEST(test_scenario_sections)
{
	assert_has(scenario_fails("[scenario]\nplugins = ewc\n[tasks]\nsplit = 5\n[ecw]\n"
				  "lambda = 1\n", NULL, 0),
		   "s.ini:5: unknown section [ecw]; did you mean [ewc]?");
	assert_has(scenario_fails("[tasks]\nsplit = 5\n[trian]\nlr = 1\n", NULL, 0),
		   "s.ini:3: unknown section [trian]; did you mean [train]?");
	assert_has(scenario_fails("[tasks]\nsplit = 5\n[replay]\n", NULL, 0),
		   "s.ini:3: unknown section [replay]; a plugin's section needs the plugin "
		   "listed in [scenario] plugins");
}
END_TEST

START_TEST(test_scenario_overrides)
{
	static const char *const sets[] = { "train.lr=0.5", "train.epochs = 3",
					    "data.source=synthetic", "scenario.plugins=" };
	struct scenario s;

	scenario_loads(&s, "s.ini", "[scenario]\nplugins = ewc\n[tasks]\nsplit = 5\n"
				    "[train]\nlr = 0.2\n", sets, 4);
	ck_assert_double_eq(s.lr, 0.5);
	ck_assert_uint_eq(s.epochs, 3);
	ck_assert_int_eq(s.data, DATA_SYNTHETIC);
	ck_assert_uint_eq(s.num_plugins, 0);
	scenario_free(&s);
}
END_TEST

START_TEST(test_scenario_override_errors)
{
	static const char *const typo[] = { "ecw.lambda=1" };
	static const char *const bad[] = { "train.lr=fast" };
	static const char *const malformed[] = { "train.lr=1", "trainlr" };
	static const char *const drop[] = { "scenario.plugins=" };
	const char *text = "[scenario]\nplugins = ewc\n[tasks]\nsplit = 5\n";

	ck_assert_str_eq(scenario_fails(text, typo, 1),
			 "--set ecw.lambda: unknown section [ecw]; did you mean [ewc]?");
	ck_assert_str_eq(scenario_fails(text, bad, 1),
			 "--set train.lr: [train] lr = fast: 'fast' is not a number");
	ck_assert_str_eq(scenario_fails(text, malformed, 2),
			 "--set 'trainlr': expected section.key=value");
	assert_has(scenario_fails("[scenario]\nplugins = ewc\n[tasks]\nsplit = 5\n[ewc]\nx = 1\n",
				  drop, 1), "s.ini:5: unknown section [ewc]");
}
END_TEST

START_TEST(test_scenario_task_kinds)
{
	struct scenario s;

	scenario_loads(&s, "s.ini", "[scenario]\nprotocol = domain-incremental\n[tasks]\n"
				    "permuted = 4\npermute_first = yes\n", NULL, 0);
	ck_assert_int_eq(s.protocol, LETHE_DOMAIN_INCREMENTAL);
	ck_assert_int_eq(s.tasks_kind, TASKS_PERMUTED);
	ck_assert_uint_eq(s.num_tasks, 4);
	ck_assert_int_eq(s.permute_first, 1);
	scenario_free(&s);

	scenario_loads(&s, "s.ini", "[tasks]\ntask1 = 0,1\ntask2 = 2, 3 ,4\ntask3 = 9\n"
				    "split = 0\n", NULL, 0);
	ck_assert_int_eq(s.tasks_kind, TASKS_EXPLICIT);
	ck_assert_uint_eq(s.num_tasks, 3);
	ck_assert_uint_eq(s.task_num_classes[0], 2);
	ck_assert_uint_eq(s.task_num_classes[1], 3);
	ck_assert_uint_eq(s.task_num_classes[2], 1);
	ck_assert_int_eq(s.task_classes[0][1], 1);
	ck_assert_int_eq(s.task_classes[1][0], 2);
	ck_assert_int_eq(s.task_classes[1][2], 4);
	ck_assert_int_eq(s.task_classes[2][0], 9);
	scenario_free(&s);

	scenario_loads(&s, "s.ini", "[scenario]\nprotocol = task-incremental\n[tasks]\n"
				    "split = 2\n", NULL, 0);
	ck_assert_int_eq(s.tasks_kind, TASKS_SPLIT);
	ck_assert_uint_eq(s.num_tasks, 2);
	ck_assert_int_eq(s.permute_first, 0);
	scenario_free(&s);
}
END_TEST

START_TEST(test_scenario_task_errors)
{
	const char *msg = scenario_fails("[tasks]\n; c\nsplit = 5\npermuted = 2\n", NULL, 0);
	assert_has(msg, "s.ini:4: [tasks] permuted conflicts with split (");
	assert_has(msg, "s.ini:3); give only one of");
	msg = scenario_fails("[tasks]\ntask1 = 0\nsplit = 5\n", NULL, 0);
	assert_has(msg, "s.ini:2: [tasks] task1 conflicts with split (");
	assert_has(msg, "s.ini:3)");
	assert_has(scenario_fails("[tasks]\n", NULL, 0),
		   "s.ini:1: [tasks] needs split = N, permuted = N, or task1");
	assert_has(scenario_fails("[train]\nlr = 0.1\n", NULL, 0), "s.ini: [tasks] needs split");
	assert_has(scenario_fails("[tasks]\ntask1 = 0\ntask3 = 1\ntask4 = 2\n", NULL, 0),
		   "s.ini:3: [tasks] task3 given but not task2");
	assert_has(scenario_fails("[tasks]\ntask1 = 1,1\n", NULL, 0),
		   "s.ini:2: [tasks] task1 lists class 1 twice");
	assert_has(scenario_fails("[tasks]\ntask1 = 1,2\ntask2 = 3,2\n", NULL, 0),
		   "s.ini:3: [tasks] task2: class 2 is already in task1");
	assert_has(scenario_fails("[tasks]\ntask1 = 256\n", NULL, 0),
		   "s.ini:2: [tasks] task1: 256 is above the maximum 255");
	assert_has(scenario_fails("[tasks]\ntask1 = 1,x\n", NULL, 0),
		   "s.ini:2: [tasks] task1: 'x' is not an integer");
	assert_has(scenario_fails("[tasks]\ntask1 =\n", NULL, 0),
		   "s.ini:2: [tasks] task1 lists no classes");
	assert_has(scenario_fails("[tasks]\ntask65 = 1\n", NULL, 0),
		   "s.ini:2: unknown key 'task65' in [tasks]");
	assert_has(scenario_fails("[tasks]\nsplit = 65\n", NULL, 0),
		   "65 is above the maximum 64");
}
END_TEST

START_TEST(test_scenario_protocol_mismatch)
{
	assert_has(scenario_fails("[tasks]\npermuted = 3\n", NULL, 0),
		   "s.ini:2: [tasks] permuted needs protocol = domain-incremental, but "
		   "[scenario] protocol is class-incremental (the default)");
	const char *msg = scenario_fails("[scenario]\nprotocol = domain-incremental\n[tasks]\n"
					 "split = 5\n", NULL, 0);
	assert_has(msg, "s.ini:4: [tasks] split gives each task its own classes");
	assert_has(msg, "protocol is domain-incremental (");
	assert_has(msg, "s.ini:2)");
	assert_has(scenario_fails("[scenario]\nprotocol = domain-incremental\n[tasks]\n"
				  "task1 = 0\n", NULL, 0),
		   "s.ini:4: [tasks] task1 gives each task its own classes");
}
END_TEST

START_TEST(test_scenario_synthetic_classes)
{
	assert_has(scenario_fails("[data]\nsource = synthetic\nclasses = 10\n[tasks]\n"
				  "split = 3\n", NULL, 0),
		   "s.ini:5: [tasks] split = 3: the data's 10 classes do not divide into 3 "
		   "equal tasks");
	assert_has(scenario_fails("[data]\nsource = synthetic\nclasses = 4\n[tasks]\n"
				  "split = 8\n", NULL, 0),
		   "s.ini:5: [tasks] split = 8: the data's 4 classes do not divide");
	assert_has(scenario_fails("[data]\nsource = synthetic\n[tasks]\ntask1 = 0\n"
				  "task2 = 12\n", NULL, 0),
		   "s.ini:5: [tasks] task2: class 12 is not in the data (classes 0..9)");
}
END_TEST

START_TEST(test_scenario_plugins)
{
	struct scenario s;
	char want[4200];

	scenario_loads(&s, "s.ini", "[scenario]\nplugins = ewc, ./sub/libfoo.so ,/abs/bar.so,"
				    "l2,\n[tasks]\nsplit = 5\n[foo]\n[bar]\nx = 1\n", NULL, 0);
	ck_assert_uint_eq(s.num_plugins, 4);
	ck_assert_str_eq(s.plugins[0], "ewc");
	ck_assert_str_eq(s.plugin_sections[0], "ewc");
	snprintf(want, sizeof(want), "%s/./sub/libfoo.so", dir);
	ck_assert_str_eq(s.plugins[1], want);
	ck_assert_str_eq(s.plugin_sections[1], "foo");
	ck_assert_str_eq(s.plugins[2], "/abs/bar.so");
	ck_assert_str_eq(s.plugin_sections[2], "bar");
	ck_assert_str_eq(s.plugins[3], "l2");
	ck_assert_str_eq(s.plugin_sections[3], "l2");
	scenario_free(&s);

	assert_has(scenario_fails("[scenario]\nplugins = ewc, l2, ewc\n[tasks]\nsplit = 5\n",
				  NULL, 0), "s.ini:2: [scenario] plugins: 'ewc' is listed twice");
	assert_has(scenario_fails("[scenario]\nplugins = ewc, lib/ewc.so\n[tasks]\nsplit = 5\n",
				  NULL, 0), "s.ini:2: [scenario] plugins: 'ewc' is listed twice");
	assert_has(scenario_fails("[scenario]\nplugins = train\n[tasks]\nsplit = 5\n", NULL, 0),
		   "s.ini:2: [scenario] plugins: plugin 'train' would share the built-in "
		   "section [train]");
}
END_TEST

START_TEST(test_scenario_model_and_name)
{
	struct scenario s;

	assert_has(scenario_fails("[model]\nhidden = 64,0\n[tasks]\nsplit = 5\n", NULL, 0),
		   "s.ini:2: [model] hidden: 0 is below the minimum 1");
	assert_has(scenario_fails("[model]\nhidden = 1,2,3,4,5,6,7,8,9\n[tasks]\nsplit = 5\n",
				  NULL, 0), "s.ini:2: [model] hidden: more than 8 values");
	assert_has(scenario_fails("[model]\nhidden =\n[tasks]\nsplit = 5\n", NULL, 0),
		   "s.ini:2: [model] hidden needs at least one layer size");

	scenario_loads(&s, "my-run.ini", "[model]\nhidden = 1,2,3,4,5,6,7,8\n[tasks]\n"
					 "split = 2\n[data]\ndir = /data/x\n", NULL, 0);
	ck_assert_str_eq(s.name, "my-run");
	ck_assert_uint_eq(num_hidden(&s), 8);
	ck_assert_uint_eq(hidden_at(&s, 7), 8);
	ck_assert_str_eq(s.data_dir, "/data/x");
	ck_assert_str_eq(scenario_protocol_name(LETHE_DOMAIN_INCREMENTAL), "domain-incremental");
	ck_assert_str_eq(scenario_protocol_name(LETHE_TASK_INCREMENTAL), "task-incremental");
	scenario_free(&s);
}
END_TEST

START_TEST(test_scenario_build_synthetic)
{
	struct scenario s;
	struct dataset train, test;
	struct task_list tl;
	struct error e;

	scenario_loads(&s, "s.ini", "[data]\nsource = synthetic\nclasses = 4\ndim = 8\n"
				    "train_per_class = 10\ntest_per_class = 5\nmax_train = 6\n"
				    "[tasks]\nsplit = 2\n", NULL, 0);
	ck_assert_int_eq(scenario_build_data(&s, &train, &test, &tl, &e), 0);
	ck_assert_uint_eq(train.n, 40);
	ck_assert_uint_eq(test.n, 20);
	ck_assert_uint_eq(train.dim, 8);
	ck_assert_uint_eq(tl.count, 2);
	ck_assert_uint_eq(tl.t[0].num_classes, 2);
	ck_assert_int_eq(tl.t[0].classes[0], 0);
	ck_assert_int_eq(tl.t[0].classes[1], 1);
	ck_assert_int_eq(tl.t[1].classes[0], 2);
	ck_assert_int_eq(tl.t[1].classes[1], 3);
	ck_assert_uint_eq(tl.t[0].num_train, 6);
	ck_assert_uint_eq(tl.t[1].num_test, 10);
	tasks_free(&tl);
	dataset_free(&train);
	dataset_free(&test);
	scenario_free(&s);

	scenario_loads(&s, "s.ini", "[scenario]\nprotocol = domain-incremental\n[data]\n"
				    "source = synthetic\nclasses = 3\ndim = 8\n"
				    "train_per_class = 4\ntest_per_class = 2\n[tasks]\n"
				    "permuted = 3\n", NULL, 0);
	ck_assert_int_eq(scenario_build_data(&s, &train, &test, &tl, &e), 0);
	ck_assert_uint_eq(tl.count, 3);
	ck_assert_uint_eq(tl.t[1].num_classes, 3);
	ck_assert_ptr_null(tl.t[0].perm);
	ck_assert_ptr_nonnull(tl.t[1].perm);
	tasks_free(&tl);
	dataset_free(&train);
	dataset_free(&test);
	scenario_free(&s);

	scenario_loads(&s, "s.ini", "[data]\nsource = synthetic\nclasses = 6\ndim = 4\n"
				    "train_per_class = 3\ntest_per_class = 2\n[tasks]\n"
				    "task1 = 5, 0\ntask2 = 3\n", NULL, 0);
	ck_assert_int_eq(scenario_build_data(&s, &train, &test, &tl, &e), 0);
	ck_assert_uint_eq(tl.count, 2);
	ck_assert_uint_eq(tl.t[0].num_train, 6);
	ck_assert_uint_eq(tl.t[1].num_train, 3);
	ck_assert_int_eq(tl.t[0].classes[0], 5);
	tasks_free(&tl);
	dataset_free(&train);
	dataset_free(&test);
	scenario_free(&s);
}
END_TEST

/* A plain (not gzipped) idx file: magic, dimensions, then the bytes. */
static void put_idx(const char *name, int ndims, const uint32_t *dims, const uint8_t *data,
		    size_t size)
{
	uint8_t buf[1024];
	size_t len = 0;

	buf[len++] = 0;
	buf[len++] = 0;
	buf[len++] = 8;
	buf[len++] = (uint8_t)ndims;
	for (int i = 0; i < ndims; i++)
		for (int shift = 24; shift >= 0; shift -= 8)
			buf[len++] = (uint8_t)(dims[i] >> shift);
	memcpy(buf + len, data, size);
	free(testutil_write(dir, name, buf, len + size));
}

START_TEST(test_scenario_build_idx)
{
	static const uint32_t images[] = { 6, 2, 2 }, labels[] = { 6 };
	static const uint8_t pixels[24] = { 1 }, classes[6] = { 0, 1, 2, 0, 1, 2 };
	struct scenario s;
	struct dataset train, test;
	struct task_list tl;
	struct error e;

	/* The data's classes are only known once it is read: split is checked then. */
	char sub[4200];
	snprintf(sub, sizeof(sub), "%s/idx", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	put_idx("idx/train-images-idx3-ubyte", 3, images, pixels, sizeof(pixels));
	put_idx("idx/train-labels-idx1-ubyte", 1, labels, classes, sizeof(classes));
	put_idx("idx/t10k-images-idx3-ubyte", 3, images, pixels, sizeof(pixels));
	put_idx("idx/t10k-labels-idx1-ubyte", 1, labels, classes, sizeof(classes));

	scenario_loads(&s, "s.ini", "[data]\nsource = idx\ndir = idx\n[tasks]\nsplit = 2\n",
		       NULL, 0);
	ck_assert_int_eq(scenario_build_data(&s, &train, &test, &tl, &e), -1);
	assert_has(e.msg, "s.ini:5: [tasks] split = 2: the data's 3 classes do not divide into 2");
	scenario_free(&s);

	scenario_loads(&s, "s.ini", "[data]\nsource = idx\ndir = idx\n[tasks]\nsplit = 3\n",
		       NULL, 0);
	ck_assert_int_eq(scenario_build_data(&s, &train, &test, &tl, &e), 0);
	ck_assert_uint_eq(tl.count, 3);
	ck_assert_uint_eq(tl.t[2].num_train, 2);
	ck_assert_int_eq(tl.t[2].classes[0], 2);
	tasks_free(&tl);
	dataset_free(&train);
	dataset_free(&test);
	scenario_free(&s);

	scenario_loads(&s, "s.ini", "[data]\ndir = nowhere\n[tasks]\nsplit = 2\n", NULL, 0);
	ck_assert_int_eq(scenario_build_data(&s, &train, &test, &tl, &e), -1);
	assert_has(e.msg, "nowhere");
	scenario_free(&s);
}
END_TEST

/* [forgetN] sections: parsed, numbered without a gap, and checked against tasks and plugins. */
#define FORGET_BASE "[data]\nsource = synthetic\nclasses = 4\n[tasks]\nsplit = 2\n"

START_TEST(test_forget_sections)
{
	struct scenario s;
	scenario_loads(&s, "f.ini",
		       "[scenario]\nplugins = hooks\n" FORGET_BASE
		       "[forget1]\nafter = 2\nwhat = class\nclasses = 1, 3\nplugin = hooks\n"
		       "references = retrain, random_labels\n"
		       "[forget2]\nafter = 1\nwhat = samples\ntask = 1\nfraction = 0.25\n",
		       NULL, 0);
	ck_assert_uint_eq(s.num_forgets, 2);
	ck_assert_uint_eq(s.forgets[0].after, 2);
	ck_assert_uint_eq(s.forgets[0].num_classes, 2);
	ck_assert_int_eq(s.forgets[0].classes[1], 3);
	ck_assert_str_eq(s.forgets[0].plugin, "hooks");
	ck_assert_uint_eq(s.forgets[0].references, (1u << 0) | (1u << 3));
	ck_assert_int_eq(s.forgets[0].retrain_joint, 0);
	ck_assert_int_eq(s.forgets[1].what, FORGET_WHAT_SAMPLES);
	ck_assert(s.forgets[1].fraction == 0.25);
	ck_assert_str_eq(s.forgets[1].plugin, "");
	scenario_free(&s);

	const char *msg = scenario_fails(FORGET_BASE "[forget1]\nafter = 3\n", NULL, 0);
	ck_assert_msg(strstr(msg, "s.ini:7: [forget1] after = 3: give the learning step it "
			     "follows, 1 to 2"), "%s", msg);
	msg = scenario_fails(FORGET_BASE "[forget1]\nafter = 1\nclasses = 0\nplugin = sfd\n",
			     NULL, 0);
	ck_assert_msg(strstr(msg, "[forget1] plugin 'sfd' is not listed in [scenario] plugins"),
		      "%s", msg);
	msg = scenario_fails(FORGET_BASE "[forget1]\nafter = 1\n", NULL, 0);
	ck_assert_msg(strstr(msg, "what = class needs classes"), "%s", msg);
	msg = scenario_fails(FORGET_BASE "[forget2]\nafter = 1\nclasses = 0\n", NULL, 0);
	ck_assert_msg(strstr(msg, "[forget2] given but not [forget1]"), "%s", msg);
	msg = scenario_fails(FORGET_BASE "[forget1]\nafter = 1\nclasses = 0\n"
			     "references = retrian\n", NULL, 0);
	ck_assert_msg(strstr(msg, "did you mean 'retrain'"), "%s", msg);
	msg = scenario_fails(FORGET_BASE "[forget1]\nafter = 1\nwhat = task\ntask = 2\n",
			     NULL, 0);
	ck_assert_msg(strstr(msg, "[forget1] task = 2: give a task learned by step 1"), "%s",
		      msg);
	msg = scenario_fails(FORGET_BASE "[forget1]\nafter = 1\nclasses = 0\nlr = 1\n", NULL,
			     0);
	ck_assert_msg(strstr(msg, "unknown key 'lr' in [forget1]"), "%s", msg);
}
END_TEST

/* A forget step's class must exist in the data: refused at load for synthetic data, when the data
 * is read for idx files, not after training up to the step (a bad input, not a failed run). */
START_TEST(test_forget_class_outside_data)
{
	static const uint32_t images[] = { 4, 1, 1 }, labels[] = { 4 };
	static const uint8_t pixels[4] = { 0 }, classes[4] = { 0, 1, 2, 3 };
	struct scenario s;
	struct dataset train, test;
	struct task_list tl;
	struct error e;

	const char *msg = scenario_fails(FORGET_BASE "[forget1]\nafter = 1\nclasses = 1, 4\n",
					 NULL, 0);
	assert_has(msg, "s.ini:8: [forget1] classes: class 4 is not in the data (classes 0..3)");
	const char *const set[] = { "forget1.classes=3" };
	scenario_loads(&s, "s.ini", FORGET_BASE "[forget1]\nafter = 1\nclasses = 9\n", set, 1);
	scenario_free(&s);

	char sub[4200];
	snprintf(sub, sizeof(sub), "%s/idx", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	put_idx("idx/train-images-idx3-ubyte", 3, images, pixels, sizeof(pixels));
	put_idx("idx/train-labels-idx1-ubyte", 1, labels, classes, sizeof(classes));
	put_idx("idx/t10k-images-idx3-ubyte", 3, images, pixels, sizeof(pixels));
	put_idx("idx/t10k-labels-idx1-ubyte", 1, labels, classes, sizeof(classes));
	scenario_loads(&s, "s.ini", "[data]\nsource = idx\ndir = idx\n[tasks]\nsplit = 2\n"
				    "[forget1]\nafter = 2\nclasses = 4\n", NULL, 0);
	ck_assert_int_eq(scenario_build_data(&s, &train, &test, &tl, &e), -1);
	assert_has(e.msg, "s.ini:8: [forget1] classes: class 4 is not in the data (classes 0..3)");
	ck_assert_ptr_null(train.x);
	scenario_free(&s);
}
END_TEST

static Suite *scenario_suite(void)
{
	Suite *s = suite_create("scenario");
	TCase *tc = tcase_create("ini");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ini_entries);
	tcase_add_test(tc, test_ini_bom_and_indented_first_key);
	tcase_add_test(tc, test_ini_cannot_open);
	tcase_add_test(tc, test_ini_syntax_error);
	tcase_add_test(tc, test_ini_duplicates);
	tcase_add_test(tc, test_ini_outside_section);
	tcase_add_test(tc, test_ini_long_line);
	tcase_add_test(tc, test_ini_long_names);
	tcase_add_test(tc, test_ini_continuation);
	tcase_add_test(tc, test_ini_control_characters);
	tcase_add_test(tc, test_ini_set);
	tcase_add_test(tc, test_ini_set_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("params");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_params_int);
	tcase_add_test(tc, test_params_float);
	tcase_add_test(tc, test_params_bool);
	tcase_add_test(tc, test_params_choice);
	tcase_add_test(tc, test_params_suggest);
	tcase_add_test(tc, test_params_fill);
	tcase_add_test(tc, test_params_fill_errors);
	tcase_add_test(tc, test_params_bad_default);
	tcase_add_test(tc, test_params_describe);
	suite_add_tcase(s, tc);

	tc = tcase_create("scenario");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scenario_defaults);
	tcase_add_test(tc, test_scenario_full);
	tcase_add_test(tc, test_scenario_bad_values);
	tcase_add_test(tc, test_scenario_sections);
	tcase_add_test(tc, test_scenario_overrides);
	tcase_add_test(tc, test_scenario_override_errors);
	tcase_add_test(tc, test_scenario_task_kinds);
	tcase_add_test(tc, test_scenario_task_errors);
	tcase_add_test(tc, test_scenario_protocol_mismatch);
	tcase_add_test(tc, test_scenario_synthetic_classes);
	tcase_add_test(tc, test_scenario_plugins);
	tcase_add_test(tc, test_scenario_model_and_name);
	tcase_add_test(tc, test_scenario_build_synthetic);
	tcase_add_test(tc, test_scenario_build_idx);
	suite_add_tcase(s, tc);
	tc = tcase_create("forget");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_forget_sections);
	tcase_add_test(tc, test_forget_class_outside_data);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(scenario_suite());
}
