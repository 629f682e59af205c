/*
 * The reader threads' side of the live logs: the job's state, then the
 * next piece of its log file, as it is (plain) or framed as server-sent
 * events, for the loop to send.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "job.h"
#include "log.h"
#include "logtail.h"
#include "logtail_impl.h"
#include "reader.h"
#include "store.h"
#include "util.h"

static bool
is_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* Where to cut a line longer than a part (p holds more than a part): not
 * inside a UTF-8 sequence, where the bytes are UTF-8. */
static size_t
part_len(const char *p)
{
	size_t c = LOGTAIL_PART_BYTES;

	while (c > LOGTAIL_PART_BYTES - 3 && is_continuation(p[c]))
		c--;
	return is_continuation(p[c]) ? LOGTAIL_PART_BYTES : c;
}

/* One event. A CR would end the data line in the client's parser (and
 * the rest could pass for a field of ours), a NUL is no text. */
static void
frame_event(struct evbuffer *out, const char *p, size_t n, int64_t id)
{
	size_t i, from = 0;

	evbuffer_add_printf(out, "id: %lld\ndata: ", (long long)id);
	for (i = 0; i < n; i++) {
		if (p[i] != '\r' && p[i] != '\0')
			continue;
		evbuffer_add(out, p + from, i - from);
		evbuffer_add(out, "\xef\xbf\xbd", 3);
		from = i + 1;
	}
	evbuffer_add(out, p + from, n - from);
	evbuffer_add(out, "\n\n", 2);
}

size_t
logtail_frame(struct evbuffer *out, const char *buf, size_t len, int64_t off,
    bool is_last, size_t max)
{
	size_t used = 0, n, k;
	const char *p, *nl;

	while (used < len && evbuffer_get_length(out) < max) {
		p = buf + used;
		n = len - used;
		nl = memchr(p, '\n', n);
		if (nl != NULL && (size_t)(nl - p) <= LOGTAIL_PART_BYTES) {
			k = (size_t)(nl - p);
			frame_event(out, p, k, off + (int64_t)(used + k + 1));
			used += k + 1;
		} else if (n > LOGTAIL_PART_BYTES) {
			k = part_len(p);
			frame_event(out, p, k, off + (int64_t)(used + k));
			used += k;
		} else if (is_last) {
			frame_event(out, p, n, off + (int64_t)len);
			used = len;
		} else
			break;	/* the line is not complete yet */
	}
	return used;
}

/* Read up to want bytes at off; what it read, or -1. */
static ssize_t
read_at(int fd, char *buf, size_t want, int64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < want) {
		n = pread(fd, buf + got, want - got,
		    (off_t)(off + (int64_t)got));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Open the log as `handoff logs` does, if it is there yet. A plain answer
 * ends where the log ends now. */
static int
open_log(struct tail *t)
{
	struct stat sb;

	t->fd = open(t->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (t->fd == -1) {
		if (errno == ENOENT)
			return 0;	/* not yet */
		t->err = errno;
		return -1;
	}
	if (fstat(t->fd, &sb) == -1)
		t->err = errno;
	else if (!S_ISREG(sb.st_mode))
		t->err = EINVAL;
	if (t->err != 0) {
		close(t->fd);
		t->fd = -1;
		return -1;
	}
	if (!t->is_live && !t->is_started)
		t->end = (int64_t)sb.st_size;
	return 0;
}

/* The next piece of a plain answer: the file's bytes as they are. */
static void
read_plain(struct tail *t)
{
	struct evbuffer_iovec v;
	size_t want;
	ssize_t n;

	if (t->fd == -1 || t->off >= t->end) {
		t->is_final = true;
		return;
	}
	want = LOGTAIL_PIECE_BYTES;
	if (t->end - t->off < (int64_t)want)
		want = (size_t)(t->end - t->off);
	if (evbuffer_reserve_space(t->piece, want, &v, 1) != 1)
		fatalx(1, "serve: out of memory");
	if ((n = read_at(t->fd, v.iov_base, want, t->off)) <= 0) {
		/* Shorter than when the answer began: it cannot be whole. */
		t->err = n == 0 ? ENODATA : errno;
		return;
	}
	v.iov_len = (size_t)n;
	evbuffer_commit_space(t->piece, &v, 1);
	t->off += n;
	t->is_final = t->off >= t->end;
	t->is_more = !t->is_final;
}

/* The next piece of a live answer: the complete lines from off as events,
 * and once the job has ended and the file is read to its end, the rest. */
static void
read_events(struct tail *t)
{
	bool is_over = job_state_is_over(t->state), at_eof;
	char *raw = NULL;
	ssize_t n = 0;
	size_t used;

	if (t->fd != -1) {
		raw = xmalloc(LOGTAIL_PIECE_BYTES);
		n = read_at(t->fd, raw, LOGTAIL_PIECE_BYTES, t->off);
		if (n == -1) {
			t->err = errno;
			free(raw);
			return;
		}
	}
	at_eof = n < LOGTAIL_PIECE_BYTES;
	used = logtail_frame(t->piece, raw, (size_t)n, t->off,
	    is_over && at_eof, LOGTAIL_PIECE_BYTES);
	free(raw);
	t->off += (int64_t)used;
	t->is_more = !at_eof ||
	    evbuffer_get_length(t->piece) >= LOGTAIL_PIECE_BYTES;
	t->is_final = is_over && at_eof && used == (size_t)n;
}

/* The state first, then the file: a runner writes the log's last line
 * before it ends the job in the store, so a job seen ended has its whole
 * log on disk. */
void
logtail_read(struct reader_req *rq, struct reader_ctx *ctx)
{
	struct tail *t = (struct tail *)rq;
	enum job_state state;
	int found;

	t->err = 0;
	t->wd = -1;
	t->is_more = t->is_final = false;
	if (t->is_live || !t->is_started) {
		found = store_job_state(ctx->st, t->job, &state);
		if (found == -1)
			log_warn("serve: log of job %lld: %s",
			    (long long)t->job, store_error(ctx->st));
		if (!t->is_started)
			t->found = found;
		if (found == 1)
			t->state = state;  /* else the last seen: not over */
	}
	if (t->found != 1 || t->is_head)
		return;
	if (t->fd == -1 && open_log(t) == -1)
		return;
	if (t->want_watch && t->fd != -1 && t->ifd != -1)
		t->wd = inotify_add_watch(t->ifd, t->path,
		    IN_MODIFY | IN_CLOSE_WRITE | IN_DONT_FOLLOW);
	if (t->is_live)
		read_events(t);
	else
		read_plain(t);
}
