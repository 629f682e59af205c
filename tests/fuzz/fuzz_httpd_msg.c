/*
 * libFuzzer harness for httpd_msg.c's reading of a request head: the bytes
 * before the first blank line (or all of them), as httpd_msg.c copies them
 * out of a connection. A head it takes must be a POST to the webhook route
 * with a body within the listener's bound, and its fields must be names
 * that are tokens; nothing may read outside the head.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "httpd_impl.h"
#include "util.h"

#define MAX_BODY	(1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
handler(struct httpd *h, struct evhttp_request *req, void *arg)
{
	(void)h;
	(void)req;
	(void)arg;
}

static void
msg_handler(struct httpd *h, struct httpd_msg *m, void *arg)
{
	(void)h;
	(void)m;
	(void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct route other = { .path = "/healthz", .cb = handler };
	static struct route hook = { .path = "/hooks/github", .cb = handler,
	    .msg_cb = msg_handler, .next = &other };
	struct httpd h;
	const uint8_t *end;
	size_t n, clen = 0;
	char *head;

	memset(&h, 0, sizeof(h));
	h.routes = &hook;
	h.lim.max_body_bytes = MAX_BODY;
	end = memmem(data, size, "\r\n\r\n", 4);
	n = end != NULL ? (size_t)(end - data) : size;
	/* As httpd_msg.c hands it over: up to and with the blank line. */
	head = xmalloc(n + 5);
	memcpy(head, data, n);
	memcpy(head + n, "\r\n\r\n", 5);
	if (httpd_msg_is_plain(&h, head, &clen)) {
		assert(clen <= MAX_BODY);
		assert(strncmp(head, "POST /hooks/github", 18) == 0);
		assert(head[18] == ' ' || head[18] == '?');
	}
	free(head);
	return 0;
}
