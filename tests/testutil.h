/* Helpers shared by the Check suites: scratch directories and files, and the suite runner. */
#ifndef LETHE_TESTUTIL_H
#define LETHE_TESTUTIL_H

#include <stddef.h>
#include <string.h>

#include <check.h>

/* A fresh directory under $TMPDIR (or /tmp); the returned path is malloc'd. */
char *testutil_tmpdir(void);

/* The running test's scratch directory: testutil_setup makes it, testutil_teardown removes it
 * (a checked fixture: tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown)). */
extern char *testutil_dir;
void testutil_setup(void);
void testutil_teardown(void);

#define ck_assert_has(haystack, needle)                                                       \
	ck_assert_msg(strstr((haystack), (needle)) != NULL, "'%s' lacks '%s'", (haystack),      \
		      (needle))
/* Writes size bytes to dir/name and returns the malloc'd path. */
char *testutil_write(const char *dir, const char *name, const void *data, size_t size);
char *testutil_write_text(const char *dir, const char *name, const char *text);
/* Reads a whole file into a malloc'd, NUL-terminated buffer (NULL if it cannot). */
char *testutil_read(const char *path, size_t *size);
/* Removes dir and everything below it. */
void testutil_rmtree(const char *dir);
/* The source tree's top directory ($LETHE_TEST_SRCDIR, else "."). */
const char *testutil_srcdir(void);
/* Runs the suite with Check's normal output and returns the process exit status. */
int testutil_run(Suite *s);

#endif
