/*
 * A forge's webhook payload as github_event.c and gitlab_event.c read it:
 * the bounds on what is copied out, and the getters that say what is
 * missing.
 */
#ifndef HANDOFF_PAYLOAD_H
#define HANDOFF_PAYLOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "event.h"
#include "json.h"

/* Bounds for strings copied out of payloads, besides FORGE_TITLE_MAX and
 * FORGE_BODY_MAX. */
#define PAYLOAD_NAME_MAX	256	/* logins, repos, branches, labels,
					   enums */
#define PAYLOAD_URL_MAX		2048
#define PAYLOAD_PATH_MAX	4096	/* file paths of inline comments */
#define PAYLOAD_HUNK_MAX	(64 * 1024)

/* One delivery being read into ev. */
struct payload {
	const cJSON		*root;
	struct forge_event	*ev;
	const char		*what;	/* "issues.labeled", prefix of errors */
	char			*err;
	size_t			 errlen;
};

/* A forge's list of the members its handlers read (NULL-terminated
 * paths), and its keep tree, made on first use by whichever thread parses
 * first. */
struct payload_kept {
	const char *const		*paths;
	_Atomic(struct json_keep *)	 keep;
};

/* Parse len bytes of a delivery named name: a JSON object, pruned to the
 * members kept names (see json_parse_kept), or NULL with the reason in
 * err. The caller frees the tree with json_free. */
cJSON *payload_open(const char *name, const char *json, size_t len,
    struct payload_kept *kept, char *err, size_t errlen);
/* Parse every delivery whole, as it was before pruning: the tests compare
 * the two. */
extern bool payload_whole;
/* A new event of forge for the delivery name, of type EV_OTHER until a
 * handler says more; caller frees with forge_event_free. */
struct forge_event *payload_event_new(enum forge forge, const char *name);
/* The required string at path, at most maxlen bytes (caller frees), or
 * NULL with "what: missing path" (or not a string) in p's err. */
char *payload_need_str(struct payload *p, const char *path, size_t maxlen);
/* The required integer at path in *out and 0, or -1 with the reason in
 * p's err. */
int payload_need_int(struct payload *p, const char *path, int64_t *out);
/* True when the string at path equals s. */
bool payload_str_is(const cJSON *root, const char *path, const char *s);

#endif
