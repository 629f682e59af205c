/*
 * The identity of handoff's commits: the config's, else the forge
 * account's (asked once a day per account, kept in the store's meta
 * table), else a fixed one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge.h"
#include "identity.h"
#include "log.h"
#include "text.h"
#include "util.h"

#define CACHE_MS	(24 * 3600 * 1000LL)
#define FALLBACK_NAME	"handoff"
#define FALLBACK_EMAIL	"handoff@localhost"

bool
identity_name_ok(const char *s)
{
	size_t n = strnlen(s, IDENTITY_NAME_MAX + 1);
	char *line;
	bool ok;

	if (n == 0 || n > IDENTITY_NAME_MAX || strpbrk(s, "<>") != NULL)
		return false;
	/* text_line changes nothing in a clean line of UTF-8. */
	line = text_line(s, IDENTITY_NAME_MAX);
	ok = strcmp(line, s) == 0;
	free(line);
	return ok;
}

bool
identity_email_ok(const char *s)
{
	size_t n = strnlen(s, IDENTITY_EMAIL_MAX + 1), i;
	const char *at = strchr(s, '@');

	if (n < 3 || n > IDENTITY_EMAIL_MAX || at == NULL || at == s ||
	    at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || strchr("<>,", s[i]) != NULL)
			return false;
	return true;
}

int
identity_check_name(const char *s, size_t len)
{
	return strlen(s) == len && identity_name_ok(s);
}

int
identity_check_email(const char *s, size_t len)
{
	return strlen(s) == len && identity_email_ok(s);
}

/* "MS\nNAME\nEMAIL" from the store, when younger than a day. */
static int
from_cache(const char *text, struct identity *out)
{
	const char *nl1, *nl2;
	long long ms;
	char *name, *email;

	if (text == NULL || sscanf(text, "%lld", &ms) != 1 ||
	    util_now_ms() - ms > CACHE_MS || util_now_ms() < ms ||
	    (nl1 = strchr(text, '\n')) == NULL ||
	    (nl2 = strchr(nl1 + 1, '\n')) == NULL)
		return -1;
	name = xstrndup(nl1 + 1, (size_t)(nl2 - nl1 - 1));
	email = xstrdup(nl2 + 1);
	if (!identity_name_ok(name) || !identity_email_ok(email)) {
		free(name);
		free(email);
		return -1;
	}
	out->name = name;
	out->email = email;
	return 0;
}

/* The forge account's identity into out, from the store or the forge. */
static int
from_forge(struct store *st, struct forge_conn *f, struct identity *out)
{
	char *account = forge_account_key(f), *key, *text = NULL, err[512];
	int rc = -1;

	key = xasprintf("identity %s", account);
	free(account);
	if (st != NULL && store_meta_get(st, key, &text) == 0 &&
	    from_cache(text, out) == 0) {
		rc = 0;
		goto out;
	}
	if (f->ops->identity(f, &out->name, &out->email, err,
	    sizeof(err)) == -1) {
		log_warn("commit identity: %s", err);
		goto out;
	}
	if (!identity_name_ok(out->name) || !identity_email_ok(out->email)) {
		log_warn("commit identity: the %s account's name or address"
		    " cannot be used", f->ops->name);
		identity_clear(out);
		goto out;
	}
	free(text);
	text = xasprintf("%lld\n%s\n%s", (long long)util_now_ms(), out->name,
	    out->email);
	if (st != NULL && store_meta_set(st, key, text) == -1)
		log_warn("commit identity: store: %s", store_error(st));
	rc = 0;
out:
	free(text);
	free(key);
	return rc;
}

void
identity_resolve(const struct config *cfg, struct store *st,
    struct forge_conn *f, struct identity *out)
{
	struct identity forge = { NULL, NULL };

	memset(out, 0, sizeof(*out));
	if ((cfg->author_name == NULL || cfg->author_email == NULL) &&
	    f != NULL)
		from_forge(st, f, &forge);
	out->name = xstrdup(cfg->author_name ? cfg->author_name :
	    forge.name ? forge.name : FALLBACK_NAME);
	out->email = xstrdup(cfg->author_email ? cfg->author_email :
	    forge.email ? forge.email : FALLBACK_EMAIL);
	identity_clear(&forge);
}

void
identity_clear(struct identity *id)
{
	free(id->name);
	free(id->email);
	id->name = id->email = NULL;
}
