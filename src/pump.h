/*
 * Bytes one way between two sockets without copying them through the
 * process: splice(2) from the source into a pipe and from the pipe to the
 * destination, non-blocking, for any event loop. A few bytes of the
 * process's own may go first (an answer, a request's head).
 */
#ifndef HANDOFF_PUMP_H
#define HANDOFF_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PUMP_PIPE_BYTES	(256 * 1024)	/* asked of each pipe */

struct pump {
	int	 src, dst;	/* src -1: nothing to read; dst -1: dropped */
	int	 pipe[2];
	size_t	 cap;		/* the pipe's size */
	size_t	 held;		/* bytes in the pipe */
	char	*first;		/* owned: written before the pipe's bytes */
	size_t	 first_off, first_len;
	bool	 is_eof;	/* the source ended */
	bool	 is_shut;	/* and the destination was told */
};

/* A pump from src to dst; -1 with errno when no pipe can be made. */
int	pump_init(struct pump *, int src, int dst);

/* Frees the pipe and the first bytes; the sockets stay the caller's. */
void	pump_close(struct pump *);

/* Copies len bytes to go to dst before anything from src. */
void	pump_first(struct pump *, const void *, size_t len);

/*
 * Moves at most room bytes from src into the pipe, then what is held to
 * dst, and passes the source's end on (SHUT_WR) once everything reached
 * dst. Returns the bytes taken from src, -1 with errno on an error that
 * ends the connection, or -2 when room is 0 and src has more to give.
 */
ssize_t	pump_flow(struct pump *, size_t room);

/* Whether the pump waits for src to be readable, dst to be writable. */
bool	pump_wants_src(const struct pump *);
bool	pump_wants_dst(const struct pump *);

/* Everything moved and the end passed on. */
bool	pump_is_done(const struct pump *);

#endif
