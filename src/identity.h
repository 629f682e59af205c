/*
 * Who handoff's commits are by: [runs] author_name and author_email, else
 * the forge's account handoff acts as (its no-reply address), cached in
 * the store; and the checks a name or an address from outside must pass.
 */
#ifndef HANDOFF_IDENTITY_H
#define HANDOFF_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "store.h"

struct forge_conn;

#define IDENTITY_NAME_MAX	128	/* bytes of a name */
#define IDENTITY_EMAIL_MAX	254	/* bytes of an address (RFC 5321) */

/* A commit's author or committer. */
struct identity {
	char	*name, *email;
};

/* Whether s is a name git can carry: one line of valid UTF-8, no control
 * characters, no '<' or '>', no space at either end, 1 to
 * IDENTITY_NAME_MAX bytes. */
bool identity_name_ok(const char *s);
/* Whether s looks like an address: printable ASCII without spaces, '<',
 * '>' or ',', one '@' with text on both sides, at most IDENTITY_EMAIL_MAX
 * bytes. */
bool identity_email_ok(const char *s);
/* The config's checks (config.c's table): the same, on len bytes. */
int identity_check_name(const char *s, size_t len);
int identity_check_email(const char *s, size_t len);
/* The identity handoff commits as: [runs] author_name and author_email
 * when set; else the forge's account (f, may be NULL: none) as the store
 * has it from the last day, or asked of the forge and kept; else
 * "handoff <handoff@localhost>". A field the config sets wins over the
 * forge's. A forge that cannot say is logged, not fatal. Clear with
 * identity_clear. */
void identity_resolve(const struct config *cfg, struct store *st,
    struct forge_conn *f, struct identity *out);
void identity_clear(struct identity *id);

#endif
