/*
 * Bounded reading of untrusted JSON with cJSON: a nesting-depth check that
 * runs before the parser, and typed getters along dotted paths.
 */
#ifndef HANDOFF_JSON_H
#define HANDOFF_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define JSON_MAX_DEPTH	64

/* Parse len bytes of untrusted JSON: rejects nesting deeper than max_depth and
 * trailing garbage. Returns a tree the caller frees with json_free on the
 * same thread, or NULL. */
cJSON *json_parse(const char *buf, size_t len, int max_depth);
/* The members a pruned parse keeps: dotted paths, each naming a member kept
 * whole ("issue.title"), the objects on the way kept for it. */
struct json_keep;
/* A keep tree of a NULL-terminated list of paths; free with
 * json_keep_free. */
struct json_keep *json_keep_new(const char *const *paths);
void json_keep_free(struct json_keep *keep);
/* As json_parse, building only the members keep names and the objects
 * that hold them: everything else is checked to be JSON and left out. The
 * same tree json_parse gives, pruned, for a document json_parse accepts
 * that is RFC 8259 JSON; NULL for any other. A root that is not an object
 * is json_parse's. keep NULL: json_parse. */
cJSON *json_parse_kept(const char *buf, size_t len, int max_depth,
    const struct json_keep *keep);
/* Free a tree from json_parse (never cJSON_Delete: its memory may be the
 * parsing thread's arena). On an arena thread, any cJSON value the thread
 * creates while such a tree is live is arena memory too, and must not
 * outlive it. NULL is fine. */
void json_free(cJSON *root);
/* Parse into a per-thread arena from now on, on this thread (serve's intake
 * workers, where allocation was the largest cost of a delivery's parse). */
void json_use_arena(void);
/* Free this thread's arena, before the thread ends; no tree of it may be
 * live. */
void json_drop_arena(void);
/* The node at a dotted path ("issue.user.login"), or NULL. */
const cJSON *json_at(const cJSON *root, const char *path);
/* A copy of the string at path cut to maxlen bytes, or NULL if absent, null or
 * not a string; caller frees. */
char *json_str(const cJSON *root, const char *path, size_t maxlen);
/* The integer at path, or def if absent or not an integral number. */
int64_t json_int(const cJSON *root, const char *path, int64_t def);
/* The boolean at path, or def. */
bool json_bool(const cJSON *root, const char *path, bool def);
/* True when path names a non-null node. */
bool json_has(const cJSON *root, const char *path);
/* Required fields of a payload: a bounded copy of the string at path (caller
 * frees), or NULL with "what: missing path" / "what: path is not a string" in
 * err. A JSON null counts as missing. */
char *json_need_str(const cJSON *root, const char *path, size_t maxlen,
    const char *what, char *err, size_t errlen);
/* The integer at path in *out and 0, or -1 with "what: missing path" /
 * "what: path is not an integer" in err. */
int json_need_int(const cJSON *root, const char *path, int64_t *out,
    const char *what, char *err, size_t errlen);

#endif
