/*
 * For github.c and gitlab.c only: the shared request helper of forge.c.
 */
#ifndef HANDOFF_FORGE_IMPL_H
#define HANDOFF_FORGE_IMPL_H

#include <cjson/cJSON.h>

#include "forge.h"

/* Set the token and the header that carries it ("Name: prefix" + token). */
void forge_set_token(struct forge_conn *f, const char *token,
    const char *header_prefix);

/* method f->api + path with the forge's extra headers, its token and body
 * (NULL for none). On an answer: 0, *status, *out the parsed JSON or NULL
 * (caller deletes), and for a status of 400 or more the forge's message
 * in err. -1 with err when no answer came (after the client's retries). */
int forge_call(struct forge_conn *f, const char *method, const char *path,
    const char *const *extra, const cJSON *body, long *status, cJSON **out,
    char *err, size_t errlen);

/* Append a comment to a list (bounded copies). */
void forge_comment_add(struct forge_comment **list, size_t *n, int64_t id,
    const char *author, const char *body, bool is_bot);

#endif
