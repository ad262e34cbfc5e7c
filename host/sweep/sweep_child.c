#define _GNU_SOURCE
#include "sweep/sweep_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results/results.h"
#include "util/files.h"

#define PATH_LEN 4096
#define ARGS_MAX (2 * (SWEEP_KEYS_MAX + 2) + 12)

void sweep_child_dir(const struct sweep_job *job, size_t run, char *out, size_t size)
{
	char rel[PATH_LEN];
	sweep_run_path(job->sw, run, rel, sizeof(rel));
	snprintf(out, size, "%s/%s", job->out, rel);
}

static void file_in(const struct sweep_job *job, size_t run, const char *name, char *out,
		    size_t size)
{
	char dir[PATH_LEN];
	sweep_child_dir(job, run, dir, sizeof(dir));
	snprintf(out, size, "%s/%s", dir, name);
}

enum sweep_state sweep_child_state(const struct sweep_job *job, size_t run)
{
	char dir[PATH_LEN], path[PATH_LEN + 32];
	sweep_child_dir(job, run, dir, sizeof(dir));
	if (results_complete(dir))
		return SWEEP_RUN_COMPLETE;
	file_in(job, run, "checkpoint.lethe", path, sizeof(path));
	return access(path, F_OK) == 0 ? SWEEP_RUN_RESUMABLE : SWEEP_RUN_NEW;
}

/* In the child: never returns. */
static void child_exec(char **argv, int log, pid_t parent)
{
	/* The parent may have died between fork and prctl: then nobody would stop us. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(127);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(log, STDOUT_FILENO) < 0 ||
	    dup2(log, STDERR_FILENO) < 0)
		_exit(127);
	execv("/proc/self/exe", argv);
	/* Only async-signal-safe calls here: the parent may have threads (MPI, OpenBLAS). */
	static const char msg[] = "lethe sweep: cannot run /proc/self/exe\n";
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

pid_t sweep_child_start(const struct sweep_job *job, size_t run, int resume, struct error *e)
{
	char dir[PATH_LEN], path[PATH_LEN + 32];
	sweep_child_dir(job, run, dir, sizeof(dir));
	if (files_make_dirs(dir, e) != 0)
		return -1;
	file_in(job, run, "exit_status", path, sizeof(path));
	unlink(path);
	file_in(job, run, "run.log", path, sizeof(path));
	int log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (log < 0)
		return error_set(e, "%s: cannot create: %s", path, strerror(errno));

	char *overrides[SWEEP_KEYS_MAX + 2];
	int n = sweep_overrides(job->sw, run, overrides, SWEEP_KEYS_MAX + 2);
	if (n < 0) {
		close(log);
		return error_set(e, "out of memory");
	}
	char *argv[ARGS_MAX];
	size_t a = 0;
	argv[a++] = "lethe";
	argv[a++] = "run";
	argv[a++] = (char *)job->sw->base;
	argv[a++] = "--out";
	argv[a++] = dir;
	argv[a++] = resume ? "--resume" : "--force";
	for (int i = 0; i < n; i++) {
		argv[a++] = "--set";
		argv[a++] = overrides[i];
	}
	if (job->plugin_path) {
		argv[a++] = "--plugin-path";
		argv[a++] = (char *)job->plugin_path;
	}
	argv[a++] = "--quiet";
	argv[a] = NULL;

	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		child_exec(argv, log, parent);
	int saved = errno;
	close(log);
	sweep_overrides_free(overrides, (size_t)n);
	if (pid < 0)
		return error_set(e, "cannot start a run: fork: %s", strerror(saved));
	return pid;
}

/* The log's last line that holds more than blanks, without its newline. */
static void last_line(const char *path, char *out, size_t size)
{
	char buf[4096];
	out[0] = '\0';
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	long at = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
	at = at > (long)sizeof(buf) - 1 ? at - (long)sizeof(buf) + 1 : 0;
	size_t n = fseek(f, at, SEEK_SET) == 0 ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
		buf[--n] = '\0';
	char *start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	/* A live progress line redraws itself after a carriage return. */
	char *cr = strrchr(start, '\r');
	snprintf(out, size, "%s", cr ? cr + 1 : start);
}

int sweep_child_record(const struct sweep_job *job, size_t run, int wstatus, char *msg,
		       size_t size)
{
	char how[128], path[PATH_LEN + 32];
	if (WIFSIGNALED(wstatus))
		snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(wstatus),
			 strsignal(WTERMSIG(wstatus)));
	else
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(wstatus));
	file_in(job, run, "exit_status", path, sizeof(path));
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%s\n", how);
		fclose(f);
	}
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 &&
	    sweep_child_state(job, run) == SWEEP_RUN_COMPLETE)
		return 1;
	sweep_child_failure(job, run, msg, size);
	return 0;
}

int sweep_child_failure(const struct sweep_job *job, size_t run, char *msg, size_t size)
{
	char path[PATH_LEN + 32], how[128] = "", line[1024];
	file_in(job, run, "exit_status", path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(how, sizeof(how), f))
		how[0] = '\0';
	fclose(f);
	how[strcspn(how, "\n")] = '\0';
	file_in(job, run, "run.log", path, sizeof(path));
	last_line(path, line, sizeof(line));
	if (!strcmp(how, "exit status 0") && !*line)
		snprintf(line, sizeof(line), "the run stopped before its last step");
	snprintf(msg, size, "%s%s%s", how, *line ? ": " : "", line);
	return 1;
}
