/*
 * logs, cancel and retry: each opens the store, does one thing, and says
 * what happened. A running job is cancelled by its runner, which checks the
 * store a few times a second and takes the sandbox down.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "report.h"
#include "store.h"
#include "text.h"
#include "util.h"

#define POLL_US		200000
#define CANCEL_WAIT_MS	10000

/* JOB, the first of at most want arguments; the rest are for the
 * caller. On a usage error, says which argument and returns -1. */
static int
job_arg(int argc, char **argv, int want, const char *usage, long long *id)
{
	char command[16];

	snprintf(command, sizeof(command), "%.*s", (int)strcspn(usage, " "),
	    usage);
	if (argc < 1)
		report_usage_error(command, usage, "expected a job number");
	else if (util_parse_int(argv[0], 1, INT64_MAX, id) == -1)
		report_usage_error(command, usage, "expected a job number, "
		    "got \"%.60s\"", argv[0]);
	else if (argc > want)
		report_usage_error(command, usage, "unexpected argument "
		    "\"%.60s\"", argv[want]);
	else
		return 0;
	return -1;
}

/* Copy what the log has past *off to stdout. On a terminal the agent's
 * output is shown as text (escape sequences escaped), and a UTF-8
 * sequence the log ends inside waits for its end, unless is_last. */
static void
copy_new(int fd, off_t *off, bool is_last)
{
	bool is_tty = text_is_terminal(stdout);
	char buf[65536], *esc;
	size_t used;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), *off)) > 0) {
		if (!is_tty) {
			fwrite(buf, 1, (size_t)n, stdout);
			*off += n;
			continue;
		}
		esc = text_term_escape(buf, (size_t)n, 0, is_last &&
		    (size_t)n < sizeof(buf) ? NULL : &used);
		if (is_last && (size_t)n < sizeof(buf))
			used = (size_t)n;
		fputs(esc, stdout);
		free(esc);
		*off += (off_t)used;
		if (used == 0)
			break;	/* only the start of a sequence so far */
	}
	fflush(stdout);
}

int
control_logs(const struct config *cfg, int argc, char **argv)
{
	struct store *st;
	struct job job;
	long long id;
	bool follow = argc == 2 && strcmp(argv[1], "--follow") == 0;
	char *path;
	off_t off = 0;
	int fd = -1, found, status = 1;

	if (job_arg(argc, argv, follow ? 2 : 1, "logs JOB [--follow]",
	    &id) == -1)
		return 2;
	if ((st = report_open_store(cfg)) == NULL)
		return 1;
	path = xasprintf("%s/jobs/%lld/log", cfg->data_dir, id);
	for (;;) {
		if ((found = store_job_load(st, id, &job)) != 1) {
			fprintf(stderr, "handoff: job %lld: %s\n", id,
			    found == 0 ? "no such job" : store_error(st));
			break;
		}
		if (fd == -1)
			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd != -1)
			copy_new(fd, &off, false);
		if (!follow || job_state_is_over(job.state)) {
			if (fd == -1 && !follow)
				fprintf(stderr, "handoff: job %lld has no log"
				    " yet (%s)\n", id,
				    job_state_name(job.state));
			status = fd == -1 && !follow ? 1 : 0;
			if (fd != -1)
				copy_new(fd, &off, true);
			store_job_clear(&job);
			break;
		}
		store_job_clear(&job);
		usleep(POLL_US);
	}
	if (fd != -1)
		close(fd);
	free(path);
	store_close(st);
	return status;
}

int
control_cancel(const struct config *cfg, int argc, char **argv)
{
	struct store *st;
	struct job job;
	long long id;
	int64_t end;
	int rc, status = 1;

	if (job_arg(argc, argv, 1, "cancel JOB", &id) == -1)
		return 2;
	if ((st = report_open_store(cfg)) == NULL)
		return 1;
	rc = store_job_cancel(st, id);
	if (rc == -2)
		fprintf(stderr, "handoff: no job %lld\n", id);
	else if (rc == -1)
		fprintf(stderr, "handoff: store: %s\n", store_error(st));
	else if (rc == 0) {
		if (store_job_load(st, id, &job) == 1) {
			printf("job %lld has already ended: %s\n", id,
			    job_state_name(job.state));
			store_job_clear(&job);
		}
		status = 0;
	} else if (rc == 1) {
		printf("job %lld cancelled (it had not started)\n", id);
		status = 0;
	} else {
		/* Its runner sees the request and takes the sandbox down. */
		end = util_mono_ms() + CANCEL_WAIT_MS;
		while (util_mono_ms() < end) {
			if (store_job_load(st, id, &job) != 1)
				break;
			if (job_state_is_over(job.state)) {
				printf("job %lld %s\n", id,
				    job_state_name(job.state));
				store_job_clear(&job);
				status = 0;
				goto out;
			}
			store_job_clear(&job);
			usleep(POLL_US / 4);
		}
		printf("job %lld: cancel requested; it stops when its runner"
		    " next runs\n", id);
		status = 0;
	}
out:
	store_close(st);
	return status;
}

int
control_retry(const struct config *cfg, int argc, char **argv)
{
	struct store *st;
	long long id;
	int64_t new_id;
	int status = 1;
	bool is_queued;

	if (job_arg(argc, argv, 1, "retry JOB", &id) == -1)
		return 2;
	if ((st = report_open_store(cfg)) == NULL)
		return 1;
	new_id = store_job_retry(st, id, &is_queued);
	if (new_id > 0 && is_queued) {
		printf("job %lld: its retry is already queued as job %lld\n",
		    id, (long long)new_id);
		status = 0;
	} else if (new_id == -2)
		fprintf(stderr, "handoff: no job %lld\n", id);
	else if (new_id == -1)
		fprintf(stderr, "handoff: store: %s\n", store_error(st));
	else if (new_id == 0)
		fprintf(stderr, "handoff: job %lld has not failed or been"
		    " cancelled; nothing to retry\n", id);
	else {
		printf("job %lld queued again as job %lld\n", id,
		    (long long)new_id);
		status = 0;
	}
	store_close(st);
	return status;
}
