/*
 * logtail_frame: a log's lines as server-sent events, whatever bytes they
 * hold: ids at line ends, CR and NUL replaced, long lines in parts cut
 * between UTF-8 sequences, incomplete lines held back until the end.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "logtail.h"
#include "tap.h"

#define PART	LOGTAIL_PART_BYTES
#define FFFD	"\xef\xbf\xbd"

static char framed[4 * PART + 4096];
static size_t used;

/* Frame len bytes of s; the events into framed, NUL-terminated. */
static const char *
frame(const char *s, size_t len, long long off, int is_last, size_t max)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;

	used = logtail_frame(b, s, len, off, is_last, max);
	n = evbuffer_get_length(b);
	if (n >= sizeof(framed))
		n = sizeof(framed) - 1;
	evbuffer_remove(b, framed, n);
	framed[n] = '\0';
	evbuffer_free(b);
	return framed;
}

#define F(s, last) frame(s, sizeof(s) - 1, 0, last, 1 << 20)

/* A line of n bytes of c then tail (tail's length tn). Caller frees. */
static char *
line_of(size_t n, char c, const char *tail, size_t tn)
{
	char *p = malloc(n + tn + 1);

	memset(p, c, n);
	memcpy(p + n, tail, tn);
	p[n + tn] = '\0';
	return p;
}

/* The data of each event in framed, one after another, "|" between; and
 * the ids, "," between. */
static void
events(char *data, size_t dlen, char *ids, size_t ilen)
{
	const char *p = framed, *e;

	data[0] = ids[0] = '\0';
	while ((p = strstr(p, "id: ")) != NULL) {
		e = strchr(p, '\n');
		strncat(ids, p + 4, (size_t)(e - p - 4));
		strcat(ids, ",");
		p = e + 1 + strlen("data: ");
		e = strstr(p, "\n\n");
		if (strlen(data) + (size_t)(e - p) + 2 < dlen) {
			strncat(data, p, (size_t)(e - p));
			strcat(data, "|");
		}
		p = e + 2;
	}
	(void)ilen;
}

int
main(void)
{
	char data[8 * PART], ids[512], *s, want[64];

	is_str(F("a\nbb\n", 0), "id: 2\ndata: a\n\nid: 5\ndata: bb\n\n",
	    "each complete line is an event, its id the offset past its newline");
	is_int(used, 5, "all of it framed");

	is_str(F("a\nbc", 0), "id: 2\ndata: a\n\n",
	    "a line without its newline waits while the job runs");
	is_int(used, 2, "the incomplete line is not framed");
	is_str(F("a\nbc", 1), "id: 2\ndata: a\n\nid: 4\ndata: bc\n\n",
	    "once the job ended, the last bytes go too, their id the end");
	is_int(used, 4, "all of it framed");

	is_str(frame("x\ny\n", 4, 1000, 0, 1 << 20),
	    "id: 1002\ndata: x\n\nid: 1004\ndata: y\n\n",
	    "ids count from where the piece starts in the log");

	is_str(F("\n", 0), "id: 1\ndata: \n\n", "an empty line is an event");

	is_str(F("x\ry\n", 0), "id: 4\ndata: x" FFFD "y\n\n",
	    "a CR in a line becomes U+FFFD (it would end the data line)");
	is_str(frame("n\0l\n", 4, 0, 0, 1 << 20), "id: 4\ndata: n" FFFD "l\n\n",
	    "a NUL becomes U+FFFD");
	is_str(F("event: end\n", 0), "id: 11\ndata: event: end\n\n",
	    "a line that reads as a field stays data");
	is_str(F("ok\revent: end\rdata: forged\r\rid: 0\n", 0),
	    "id: 34\ndata: ok" FFFD "event: end" FFFD "data: forged" FFFD
	    FFFD "id: 0\n\n",
	    "CRs cannot make a log line an event, an id or a blank line");
	ok(strchr(framed, '\r') == NULL, "no CR leaves the framing");
	is_str(F("data: x\n\n", 0), "id: 8\ndata: data: x\n\nid: 9\ndata: \n\n",
	    "two LFs are two lines, each its own data");

	s = line_of(PART, 'a', "\n", 1);
	frame(s, PART + 1, 0, 0, 1 << 20);
	events(data, sizeof(data), ids, sizeof(ids));
	is_str(ids, "16385,", "a line of exactly 16 KiB is one event");
	free(s);

	s = line_of(PART + 1, 'a', "\n", 1);
	frame(s, PART + 2, 0, 0, 1 << 20);
	events(data, sizeof(data), ids, sizeof(ids));
	is_str(ids, "16384,16386,", "one byte longer: two events, the first "
	    "16 KiB, each with its own id");
	is_int(strlen(data), PART + 1 + 2, "all of the line, in two parts");
	free(s);

	s = line_of(PART, 'a', "", 0);
	frame(s, PART, 0, 0, 1 << 20);
	is_int(used, 0, "16 KiB without a newline yet: it may be a whole "
	    "line, so it waits");
	free(s);
	s = line_of(PART + 1, 'a', "", 0);
	frame(s, PART + 1, 0, 0, 1 << 20);
	is_int(used, PART, "more than 16 KiB without a newline: the first "
	    "part goes");
	free(s);

	s = line_of(PART - 1, 'a', "\xc3\xa9" "b\n", 4);
	frame(s, PART + 3, 0, 0, 1 << 20);
	events(data, sizeof(data), ids, sizeof(ids));
	is_str(ids, "16383,16387,", "a part is not cut inside a UTF-8 "
	    "sequence");
	is_str(data + PART - 1, "|\xc3\xa9" "b|", "the sequence starts the "
	    "next part whole");
	free(s);

	s = line_of(PART - 4, 'a', "\x80\x80\x80\x80\x80\x80\x80\x80\n", 9);
	frame(s, PART + 5, 0, 0, 1 << 20);
	events(data, sizeof(data), ids, sizeof(ids));
	is_str(ids, "16384,16389,", "bytes that are no UTF-8 are cut at 16 KiB");
	free(s);

	s = line_of(3 * PART + 100, 'b', "\nc\n", 3);
	frame(s, 3 * PART + 103, 0, 0, 1 << 20);
	events(data, sizeof(data), ids, sizeof(ids));
	snprintf(want, sizeof(want), "%d,%d,%d,%d,%d,", PART, 2 * PART,
	    3 * PART, 3 * PART + 101, 3 * PART + 103);
	is_str(ids, want, "a 48 KiB line: three parts and its end, then the "
	    "next line");
	free(s);

	F("aaaa\nbbbb\ncccc\ndddd\n", 0);
	frame("aaaa\nbbbb\ncccc\ndddd\n", 20, 0, 0, 30);
	is_str(framed, "id: 5\ndata: aaaa\n\nid: 10\ndata: bbbb\n\n",
	    "framing stops once the piece holds max bytes");
	is_int(used, 10, "and says how much of the log it framed");

	return done_testing();
}
