/* util/files.c's files_replace, the one way lethe writes a file it keeps: the contents whole,
 * made with the mode less the umask, the old file whole after any failure and nothing left
 * behind, the writer's own reason or the file's, and the rename made durable by an fsync of
 * the directory after it (this suite's own fsync records the calls). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/files.h"
#include "testutil.h"

/* Every fsync of the process comes here (a definition in the program wins over libc's): the
 * directories synced, and whether the file was already in place when its directory was. */
static int dir_syncs, synced_after_rename;
static const char *watched; /* the file whose directory is watched */

int fsync(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		dir_syncs++;
		synced_after_rename = watched && access(watched, F_OK) == 0;
	}
	return (int)syscall(SYS_fsync, fd);
}

static int write_text(FILE *f, const void *data, struct error *e)
{
	(void)e;
	return fputs(data, f) == EOF ? -1 : 0;
}

static int refuse(FILE *f, const void *data, struct error *e)
{
	fputs("half", f);
	return error_set(e, "%s", (const char *)data);
}

static char *path_in(const char *dir, const char *name)
{
	char *path;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	return path;
}

/* The entries of dir, . and .. aside. */
static size_t entries(const char *dir)
{
	char *cmd;
	if (asprintf(&cmd, "ls -A '%s' | wc -l", dir) < 0)
		abort();
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	ck_assert(p && fscanf(p, "%zu", &n) == 1);
	pclose(p);
	free(cmd);
	return n;
}

START_TEST(test_replace_whole)
{
	char *file = path_in(testutil_dir, "out.txt");
	struct error e = { "" };
	mode_t was = umask(022);
	ck_assert_msg(files_replace(testutil_dir, "out.txt", 0666, write_text, "one\n", &e) == 0,
		      "%s", e.msg);
	ck_assert_msg(files_replace(testutil_dir, "out.txt", 0666, write_text, "two\n", &e) == 0,
		      "%s", e.msg);
	char *text = testutil_read(file, NULL);
	ck_assert_str_eq(text, "two\n");
	struct stat st;
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	/* An executable (sweep.slurm): 0777 less the umask. */
	ck_assert_int_eq(files_replace(testutil_dir, "run.sh", 0777, write_text, "#!/bin/sh\n", &e),
			 0);
	char *script = path_in(testutil_dir, "run.sh");
	ck_assert_int_eq(stat(script, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0755);
	umask(was);
	ck_assert_uint_eq(entries(testutil_dir), 2);
	free(script);
	free(text);
	free(file);
}
END_TEST

/* The rename is made durable: the directory is synced once the new file is in place. */
START_TEST(test_directory_synced)
{
	char *file = path_in(testutil_dir, "metrics.json");
	struct error e = { "" };
	watched = file;
	dir_syncs = synced_after_rename = 0;
	ck_assert_msg(files_replace(testutil_dir, "metrics.json", 0666, write_text, "{}\n", &e) ==
			      0, "%s", e.msg);
	watched = NULL;
	ck_assert_int_eq(dir_syncs, 1);
	ck_assert_int_eq(synced_after_rename, 1);
	free(file);
}
END_TEST

/* The writer's own reason: named with the file, errno 0, the old file whole, no stray. */
START_TEST(test_writer_refuses)
{
	char *file = path_in(testutil_dir, "state");
	struct error e = { "" };
	ck_assert_int_eq(files_replace(testutil_dir, "state", 0666, write_text, "old\n", &e), 0);
	errno = EIO;
	ck_assert_int_eq(files_replace(testutil_dir, "state", 0666, refuse, "plugin x: save failed",
				       &e), -1);
	ck_assert_int_eq(errno, 0);
	char *want = path_in(testutil_dir, "state: plugin x: save failed");
	ck_assert_str_eq(e.msg, want);
	char *text = testutil_read(file, NULL);
	ck_assert_str_eq(text, "old\n");
	ck_assert_uint_eq(entries(testutil_dir), 1);
	free(text);
	free(want);
	free(file);
}
END_TEST

/* A write the file refuses (a size limit stands in for a full disk, for root too): errno and
 * the message say why, the old file stays whole, the temporary file goes. */
START_TEST(test_write_fails)
{
	char *file = path_in(testutil_dir, "big");
	struct error e = { "" };
	ck_assert_int_eq(files_replace(testutil_dir, "big", 0666, write_text, "small\n", &e), 0);
	char *text = malloc(100000);
	memset(text, 'x', 99999);
	text[99999] = '\0';
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit was, small = { 1000, 0 };
	getrlimit(RLIMIT_FSIZE, &was);
	small.rlim_max = was.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = files_replace(testutil_dir, "big", 0666, write_text, text, &e);
	int errnum = errno;
	setrlimit(RLIMIT_FSIZE, &was);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(errnum, EFBIG);
	char *want;
	if (asprintf(&want, "%s: %s", file, strerror(EFBIG)) < 0)
		abort();
	ck_assert_str_eq(e.msg, want);
	char *now = testutil_read(file, NULL);
	ck_assert_str_eq(now, "small\n");
	ck_assert_uint_eq(entries(testutil_dir), 1);
	free(now);
	free(want);
	free(text);
	free(file);
}
END_TEST

/* A rename that fails (the name is a directory's, even for root): the temporary file goes. */
START_TEST(test_rename_fails)
{
	char *target = path_in(testutil_dir, "report.svg");
	ck_assert_int_eq(mkdir(target, 0777), 0);
	struct error e = { "" };
	ck_assert_int_eq(files_replace(testutil_dir, "report.svg", 0666, write_text, "<svg/>", &e),
			 -1);
	ck_assert_int_eq(errno, EISDIR);
	ck_assert_has(e.msg, strerror(EISDIR));
	ck_assert_uint_eq(entries(testutil_dir), 1);
	free(target);
}
END_TEST

static Suite *files_suite(void)
{
	Suite *s = suite_create("files");
	TCase *tc = tcase_create("replace");
	tcase_add_checked_fixture(tc, testutil_setup, testutil_teardown);
	tcase_add_test(tc, test_replace_whole);
	tcase_add_test(tc, test_directory_synced);
	tcase_add_test(tc, test_writer_refuses);
	tcase_add_test(tc, test_write_fails);
	tcase_add_test(tc, test_rename_fails);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(files_suite());
}
