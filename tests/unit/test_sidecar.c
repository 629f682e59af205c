/*
 * sidecar.c with /bin/sh standing in for the proxy and the gateway: ready
 * only on its ready line, its secret on stdin and nowhere else, a start
 * that fails (exit, other words, silence) leaves nothing running, and stop
 * ends one that ignores SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sidecar.h"
#include "tap.h"
#include "util.h"

#define SECRET	"hk-0123456789abcdef0123456789abcdef0123456789abcdef"

/* Whether file holds text anywhere (NUL-separated files too). */
static int
file_has(const char *file, const char *text)
{
	size_t len, i, n = strlen(text);
	char *s = util_read_file(file, 1 << 20, &len);
	int found = 0;

	for (i = 0; s && i + n <= len && !found; i++)
		found = memcmp(s + i, text, n) == 0;
	free(s);
	return found;
}

static int
start(struct sidecar *sc, const char *script, int timeout_ms, char *err,
    size_t errlen)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };

	sc->name = "test";
	return sidecar_start(sc, "/bin/sh", argv, SECRET, timeout_ms, err,
	    errlen);
}

int
main(void)
{
	char dir[] = "/tmp/handoff-sidecar.XXXXXX", err[256], *script, *got;
	char *p;
	struct sidecar sc;
	pid_t pid;
	int status;

	if (mkdtemp(dir) == NULL)
		return 1;
	script = xasprintf("read -r key; printf %%s \"$key\" > %s/key;"
	    " echo ready >&3; exec sleep 100", dir);
	ok(start(&sc, script, 10000, err, sizeof(err)) == 0,
	    "a sidecar that says ready has started (%s)", err);
	free(script);
	p = xasprintf("%s/key", dir);
	got = util_read_file(p, 1024, NULL);
	is_str(got, SECRET, "it read its secret on stdin");
	free(got);
	free(p);
	ok(sidecar_alive(&sc, NULL) == 1, "and runs");
	p = xasprintf("/proc/%ld/cmdline", (long)sc.pid);
	ok(!file_has(p, SECRET), "the secret is not in its arguments");
	free(p);
	p = xasprintf("/proc/%ld/environ", (long)sc.pid);
	ok(!file_has(p, SECRET), "nor in its environment");
	free(p);
	pid = sc.pid;
	sidecar_stop(&sc);
	ok(sc.pid == 0 && kill(pid, 0) == -1, "stopped, it is gone");

	ok(start(&sc, "exit 3", 10000, err, sizeof(err)) == -1 &&
	    strstr(err, "exited before it was ready") != NULL,
	    "one that exits does not start: %s", err);
	ok(sc.pid == 0, "and nothing is left to stop");
	ok(start(&sc, "cat >/dev/null; echo nope >&3; exec sleep 100", 10000,
	    err, sizeof(err)) == -1 && strstr(err, "other than ready") != NULL,
	    "one that says something else does not start: %s", err);
	ok(sc.pid == 0, "and was stopped");
	ok(start(&sc, "sleep 100", 300, err, sizeof(err)) == -1 &&
	    strstr(err, "not ready after 300 ms") != NULL,
	    "one that never says ready does not start: %s", err);
	ok(sc.pid == 0, "and was stopped");

	ok(start(&sc, "trap '' TERM; echo ready >&3; exec sleep 100", 10000,
	    err, sizeof(err)) == 0, "one that ignores SIGTERM starts");
	pid = sc.pid;
	sidecar_stop(&sc);
	ok(sc.pid == 0 && kill(pid, 0) == -1, "and is killed when stopped");
	ok(start(&sc, "echo ready >&3; exit 4", 10000, err,
	    sizeof(err)) == 0, "one that exits after it was ready");
	while (sidecar_alive(&sc, &status))
		usleep(10000);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 4,
	    "is seen to have exited, with its status");
	ok(sc.is_gone && sc.pid == 0, "and is known to be gone by itself");
	sidecar_stop(&sc);
	ok(!sc.is_gone, "until it is stopped");
	{
		char *cmd = xasprintf("rm -rf %s", dir);

		(void)!system(cmd);
		free(cmd);
	}
	return done_testing();
}
