/*
 * What a person reads of failed CI, made fit for the agent: the bounds on
 * each failing check or job and its texts, and a log's tail without its
 * terminal escapes.
 */
#ifndef HANDOFF_CI_H
#define HANDOFF_CI_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct http_client;

#define CI_MAX_CHECKS		10	/* failing checks or jobs shown */
#define CI_MAX_ANNOTATIONS	50	/* annotations, over all checks */
#define CI_TEXT_MAX		(8 * 1024)	/* a check's output.text */
#define CI_SUMMARY_MAX		(4 * 1024)	/* its output.summary */
#define CI_MESSAGE_MAX		1024	/* a title, a message */
#define CI_NAME_MAX		256	/* a name, a path, a stage */
#define CI_LOG_LINES		200	/* lines of a log's tail */
#define CI_LOG_BYTES		(16 * 1024)	/* bytes of a log's tail */
#define CI_SECTION_MAX		(128 * 1024)	/* all of it, as JSON */
#define CI_LOG_FETCH_MAX	(32 * 1024 * 1024) /* a log downloaded */

/* The n bytes at s as text of at most max bytes: valid UTF-8 (else
 * U+FFFD), no control characters but newline and tab, cut on a
 * character boundary. Caller frees. */
char *ci_text(const char *s, size_t n, size_t max);
/* The tail of a log of n bytes at s: its terminal escapes (CSI, OSC and
 * the rest) removed, then as ci_text, then its last CI_LOG_LINES lines
 * and at most CI_LOG_BYTES bytes, from a line's start. Caller frees. */
char *ci_log_tail(const char *s, size_t n);
/* Add key: s as ci_text of at most max bytes to o, or null. */
void ci_add_text(cJSON *o, const char *key, const char *s, size_t max);
/* Append check to list, unless the list would then be larger than
 * CI_SECTION_MAX as JSON: then its bulky fields (text, summary, log,
 * annotations) are dropped and it is noted as shortened. Takes check. */
void ci_append(cJSON *list, cJSON *check);
/* GET url with headers (the forge's token) on c and put the tail of the
 * log it answers into check's "log" (ci_log_tail), or why not into its
 * "log_note". A redirect to another host is followed on a client of its
 * own with no headers at all: the token stays with the forge. */
void ci_fetch_log(struct http_client *c, const char *url,
    const char *const *headers, cJSON *check);

#endif
