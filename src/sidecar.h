/*
 * Processes a runner keeps beside a job's steps (the egress proxy, the LLM
 * gateway): started from handoff's own binary, ready only once they say so
 * on a descriptor of their own, given a secret on their stdin and never in
 * their arguments or environment, and stopped with the steps that needed
 * them. A runner that dies takes them with it.
 */
#ifndef HANDOFF_SIDECAR_H
#define HANDOFF_SIDECAR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The descriptor a sidecar writes "ready\n" to, passed as `--ready 3`. */
#define SIDECAR_READY_FD	3

struct sidecar {
	const char	*name;		/* for errors: "proxy", "gateway" */
	pid_t		 pid;		/* 0: not running */
	bool		 is_gone;	/* it exited (or was killed) by itself */
};

/* Start exe with argv (argv[0] its name; the caller adds `--ready 3`),
 * secret (or NULL) written to its stdin and the stdin closed, stderr
 * shared; wait up to timeout_ms for its ready line. Returns 0, or -1 with
 * the reason (it exited, said something else, or took too long: it is
 * stopped) in err. */
int sidecar_start(struct sidecar *sc, const char *exe, char *const argv[],
    const char *secret, int timeout_ms, char *err, size_t errlen);
/* Whether it still runs: 1 yes, 0 not (one that exited by itself is
 * reaped, is_gone set, *status its wait status when not NULL). */
int sidecar_alive(struct sidecar *sc, int *status);
/* A sidecar's own side. DATA_DIR/jobs/N/net opened (made when missing;
 * ours, not reached through a link): 0700, or 0711 as root so that the
 * sandbox's relay (its host user, holding the directory open) passes.
 * Returns the descriptor, or -1 with the reason in err. */
int sidecar_dir(const char *data_dir, long long job, char *err,
    size_t errlen);
/* Listen on name in dir, bound through /proc/self/fd (data_dir's length
 * is no bound): as root the socket is the sandbox's host user's, mode
 * 0600, so only the relay connects; otherwise ours, 0600. A socket left
 * there by an earlier run is replaced; anything else stays. Returns the
 * listening socket (non-blocking, close-on-exec), or -1 with err. */
int sidecar_listen(int dir, const char *name, int backlog, char *err,
    size_t errlen);

/* SIGTERM to it and what it started (its process group), a second for it
 * to go, then SIGKILL; reaped. No-op when it is not running. */
void sidecar_stop(struct sidecar *sc);

#endif
