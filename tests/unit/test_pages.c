/*
 * The status pages' small pieces of HTML: escaping for text and attribute
 * values, a pull request link only for http(s), times and costs.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "pages.h"
#include "store.h"
#include "tap.h"

/* What b holds, as a new string; b is emptied. */
static char *
take(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

#define CHECK(call, want, ...) do {					\
	char *got_;							\
	call;								\
	got_ = take(b);							\
	is_str(got_, want, __VA_ARGS__);				\
	free(got_);							\
} while (0)

int
main(void)
{
	struct evbuffer *b = evbuffer_new();
	struct store_usage u;
	struct store_job_row r;

	CHECK(pages_escape(b, "<script>alert(1)</script>"),
	    "&lt;script&gt;alert(1)&lt;/script&gt;", "tags become text");
	CHECK(pages_escape(b, "\" onmouseover='x' a=&b"),
	    "&quot; onmouseover=&#39;x&#39; a=&amp;b",
	    "quotes cannot leave an attribute; & is escaped");
	CHECK(pages_escape_n(b, "a\0b<", 4), "a\xef\xbf\xbd" "b&lt;",
	    "a NUL byte becomes U+FFFD, and the length is kept to");
	CHECK(pages_escape_n(b, "<<<", 2), "&lt;&lt;", "only len bytes");
	CHECK(pages_escape(b, NULL), "", "NULL is nothing");
	CHECK(pages_escape(b, "plain text \xc3\xa9"), "plain text \xc3\xa9",
	    "other text is left as it is");

	CHECK(pages_pr(b, "https://example.com/o/r/pull/1"),
	    "<a rel=\"noreferrer\" href=\"https://example.com/o/r/pull/1\">"
	    "https://example.com/o/r/pull/1</a>", "an https URL is a link");
	CHECK(pages_pr(b, "HTTP://x/\"><b>"),
	    "<a rel=\"noreferrer\" href=\"HTTP://x/&quot;&gt;&lt;b&gt;\">"
	    "HTTP://x/&quot;&gt;&lt;b&gt;</a>", "escaped inside the link");
	CHECK(pages_pr(b, "javascript:alert(1)"), "javascript:alert(1)",
	    "a javascript: URL is text");
	CHECK(pages_pr(b, " https://x"), " https://x",
	    "so is one with a space before its scheme");
	CHECK(pages_pr(b, "data:text/html,<b>"), "data:text/html,&lt;b&gt;",
	    "and a data: URL, escaped");
	CHECK(pages_pr(b, NULL), "\xe2\x80\x94", "none: a dash");

	CHECK(pages_duration(b, 12345), "12s", "seconds");
	CHECK(pages_duration(b, 185000), "3m 05s", "minutes");
	CHECK(pages_duration(b, 7620000), "2h 07m", "hours");
	CHECK(pages_duration(b, 4 * 86400000LL + 3 * 3600000LL), "4d 3h",
	    "days");
	CHECK(pages_duration(b, -5), "0s", "never negative");
	CHECK(pages_time(b, 0), "\xe2\x80\x94", "no time: a dash");
	CHECK(pages_time(b, 1700000000000LL),
	    "<time datetime=\"2023-11-14T22:13:20Z\">2023-11-14T22:13:20Z"
	    "</time>", "a time in UTC");

	memset(&u, 0, sizeof(u));
	CHECK(pages_cost(b, &u), "\xe2\x80\x94", "no requests: a dash");
	u.requests = 3;
	u.cost_micros = -1;
	CHECK(pages_cost(b, &u), "unpriced", "no price");
	u.cost_micros = 1915000;
	CHECK(pages_cost(b, &u), "$1.92", "a cost, rounded");

	memset(&r, 0, sizeof(r));
	r.state = JOB_RUNNING;
	r.step = "<b>sandbox";
	CHECK(pages_state(b, &r), "<span class=\"s-running\">running</span>"
	    " \xc2\xb7 &lt;b&gt;sandbox", "a running job's step, escaped");
	r.state = JOB_DONE;
	CHECK(pages_state(b, &r), "<span class=\"s-done\">done</span>",
	    "an ended job's state alone");

	evbuffer_free(b);
	return done_testing();
}
