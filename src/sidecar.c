/*
 * A process beside the job's steps: fork, exec handoff's binary with its
 * ready descriptor at SIDECAR_READY_FD and a pipe on stdin for a secret,
 * then wait for "ready\n". Anything else, its exit or the timeout fails
 * the start, so a step that needs it never runs without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "sidecar.h"
#include "util.h"

#define READY_LINE	"ready\n"
#define STOP_GRACE_MS	1000

extern char **environ;

/* In the child: descriptors in place, dying with the runner; never
 * returns. */
static void
child(const char *exe, char *const argv[], int in, int ready, pid_t parent)
{
	setpgid(0, 0);		/* stopped with whatever it starts */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	/* dup2 onto itself keeps close-on-exec: clear it either way. */
	if (dup2(in, 0) == -1 || dup2(ready, SIDECAR_READY_FD) == -1 ||
	    fcntl(0, F_SETFD, 0) == -1 ||
	    fcntl(SIDECAR_READY_FD, F_SETFD, 0) == -1)
		_exit(127);
	close_range(SIDECAR_READY_FD + 1, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	execve(exe, argv, environ);
	_exit(127);
}

/* Hand the secret over and close its stdin. One that does not take it
 * (it exited: EPIPE) fails its start below, by exiting or by not saying
 * it is ready, so wait_ready gives the reason. */
static void
give_secret(int fd, const char *secret)
{
	size_t len = secret ? strlen(secret) : 0, off = 0;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	ssize_t n;

	sigaction(SIGPIPE, &ign, &old);	/* EPIPE, not the runner's end */
	while (off < len) {
		if ((n = write(fd, secret + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	sigaction(SIGPIPE, &old, NULL);
	close(fd);
}

/* Wait for the ready line on fd: 0, or -1 with why. */
static int
wait_ready(int fd, int timeout_ms, char *why, size_t whylen)
{
	char buf[32];
	size_t got = 0;
	int64_t end = util_now_ms() + timeout_ms, left;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	while (got == 0 || (buf[got - 1] != '\n' && got < sizeof(buf))) {
		if ((left = end - util_now_ms()) <= 0) {
			snprintf(why, whylen, "not ready after %d ms",
			    timeout_ms);
			return -1;
		}
		if ((n = poll(&p, 1, (int)left)) <= 0) {
			if (n == 0 || errno == EINTR)
				continue;	/* the time left decides */
			snprintf(why, whylen, "poll: %s", strerror(errno));
			return -1;
		}
		if ((n = read(fd, buf + got, sizeof(buf) - got)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "exited before it was ready");
			return -1;
		}
		got += (size_t)n;
	}
	if (got != sizeof(READY_LINE) - 1 ||
	    memcmp(buf, READY_LINE, got) != 0) {
		snprintf(why, whylen, "said something other than ready");
		return -1;
	}
	return 0;
}

int
sidecar_start(struct sidecar *sc, const char *exe, char *const argv[],
    const char *secret, int timeout_ms, char *err, size_t errlen)
{
	int in[2] = { -1, -1 }, ready[2] = { -1, -1 };
	char why[128];
	pid_t parent = getpid();

	sc->pid = 0;
	sc->is_gone = false;
	err[0] = '\0';
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(ready, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "%s: pipe: %s", sc->name,
		    strerror(errno));
		goto fail;
	}
	if ((sc->pid = fork()) == -1) {
		sc->pid = 0;
		snprintf(err, errlen, "%s: fork: %s", sc->name,
		    strerror(errno));
		goto fail;
	}
	if (sc->pid == 0)
		child(exe, argv, in[0], ready[1], parent);
	close(in[0]);
	close(ready[1]);
	in[0] = ready[1] = -1;
	give_secret(in[1], secret);
	in[1] = -1;
	if (wait_ready(ready[0], timeout_ms, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", sc->name, why);
		goto fail;
	}
	close(ready[0]);
	return 0;
fail:
	if (in[0] != -1)
		close(in[0]);
	if (in[1] != -1)
		close(in[1]);
	if (ready[0] != -1)
		close(ready[0]);
	if (ready[1] != -1)
		close(ready[1]);
	sidecar_stop(sc);
	return -1;
}

int
sidecar_alive(struct sidecar *sc, int *status)
{
	int st;
	pid_t got;

	if (sc->pid <= 0)
		return 0;
	while ((got = waitpid(sc->pid, &st, WNOHANG)) == -1 && errno == EINTR)
		;
	if (got == 0)
		return 1;
	if (status && got == sc->pid)
		*status = st;
	sc->pid = 0;
	sc->is_gone = true;
	return 0;
}

void
sidecar_stop(struct sidecar *sc)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int64_t end;

	if (sc->pid <= 0) {
		sc->is_gone = false;	/* stopped: nothing is lost now */
		return;
	}
	kill(-sc->pid, SIGTERM);
	end = util_now_ms() + STOP_GRACE_MS;
	while (sidecar_alive(sc, NULL) && util_now_ms() < end)
		nanosleep(&ts, NULL);
	if (sc->pid > 0) {
		kill(-sc->pid, SIGKILL);
		while (waitpid(sc->pid, NULL, 0) == -1 && errno == EINTR)
			;
		sc->pid = 0;
	}
	sc->is_gone = false;	/* stopped, not gone by itself */
}

int
sidecar_dir(const char *data_dir, long long job, char *err, size_t errlen)
{
	char *path = xasprintf("%s/jobs/%lld/net", data_dir, job);
	struct stat sb;
	int fd = -1;

	if (util_mkdirs(path, 0700) == -1 ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &sb) == -1 ||
	    (sb.st_uid != geteuid() && (errno = EPERM)) ||
	    fchmod(fd, geteuid() == 0 ? 0711 : 0700) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

int
sidecar_listen(int dir, const char *name, int backlog, char *err,
    size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat sb;
	mode_t old;
	int fd = -1, rc;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "/proc/self/fd/%d/%s",
	    dir, name);
	if (fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISSOCK(sb.st_mode) && unlinkat(dir, name, 0) == -1)
		goto fail;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		goto fail;
	old = umask(0177);	/* never open to others, not even at first */
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1 || (geteuid() == 0 && fchownat(dir, name,
	    sandbox_host_uid(), sandbox_host_gid(), AT_SYMLINK_NOFOLLOW) ==
	    -1) || listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "%s: %s", name, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}
