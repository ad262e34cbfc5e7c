#define _GNU_SOURCE
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *testutil_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;
	if (asprintf(&path, "%s/lethe-test-XXXXXX", base && *base ? base : "/tmp") < 0)
		abort();
	if (!mkdtemp(path))
		abort();
	return path;
}

char *testutil_dir;

void testutil_setup(void)
{
	testutil_dir = testutil_tmpdir();
}

void testutil_teardown(void)
{
	testutil_rmtree(testutil_dir);
	free(testutil_dir);
	testutil_dir = NULL;
}

char *testutil_write(const char *dir, const char *name, const void *data, size_t size)
{
	char *path;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	return path;
}

char *testutil_write_text(const char *dir, const char *name, const char *text)
{
	return testutil_write(dir, name, text, strlen(text));
}

char *testutil_read(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (cap - len < 2)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	buf[len] = '\0';
	if (size)
		*size = len;
	return buf;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void testutil_rmtree(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *testutil_srcdir(void)
{
	const char *d = getenv("LETHE_TEST_SRCDIR");
	return d && *d ? d : ".";
}

int testutil_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
