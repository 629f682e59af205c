/*
 * The INI configuration. One table row per key drives parsing, defaults,
 * validation and printing; inih splits the lines and we count them (Debian's
 * inih passes no line number to the handler).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "budget.h"
#include "config.h"
#include "config_check.h"
#include "config_impl.h"
#include "egress.h"
#include "identity.h"
#include "log.h"
#include "rules.h"
#include "sshsig.h"
#include "util.h"

#define CONFIG_MAX_BYTES	(1024 * 1024)
#define SECRET_MAX_BYTES	(64 * 1024)
#define LINE_MAX_BYTES		4096
#define ECHO_MAX		60	/* bytes of a bad value quoted in an error */
#define SIZE_NO_UNIT_MIN	1024	/* least size without a unit, bytes */

static const char *const review_names[] = { "changes_requested", "commented",
    "never", NULL };
static const char *const net_names[] = { "none", "allowlist", "host", NULL };
static const char *const log_format_names[] = { "text", "json", NULL };
static const char *const allow_names[] = { "owner", "member", "collaborator",
    "contributor", NULL };

_Static_assert(sizeof(enum review_mode) == sizeof(int), "int-sized enum");
_Static_assert(sizeof(enum net_mode) == sizeof(int), "int-sized enum");

/* What the lists of hosts and of variable names expect, in two sections. */
#define HOSTS_WHAT	"hosts (example.com, *.example.com, host:port or an IP " \
			"address)"
#define ENV_WHAT	"environment variable names"

/* Rows name every field; "..." is the default, then the rest by name. */
#define KEY(s, n, k, f, ...) { .section = s, .name = n, .kind = k, \
	.off = offsetof(struct config, f), .def = __VA_ARGS__ }

static const struct key keys[] = {
	KEY("server", "listen", K_LISTEN, listen, "127.0.0.1:8080"),
	KEY("server", "data_dir", K_STR, data_dir, "/var/lib/handoff",
	    .is_path = true),
	KEY("server", "max_body", K_SIZE, max_body_bytes, "25M", .min = 1),
	KEY("server", "log_level", K_LOGLEVEL, log_level, "info"),
	KEY("server", "log_format", K_ENUM, log_format, "text",
	    .names = log_format_names),
	KEY("server", "max_connections", K_INT, max_connections, "256", .min = 1),
	KEY("server", "timeout", K_DUR, timeout_ms, "15s", .min = 1),

	KEY("web", "listen", K_LISTEN, web_listen, "127.0.0.1:8081"),
	KEY("web", "token", K_SECRET, web_token, NULL),
	KEY("web", "public_url", K_URL, public_url, NULL),

	KEY("github", "api_url", K_URL, github_api_url, "https://api.github.com"),
	KEY("github", "webhook_secret", K_SECRET, github_webhook_secret, NULL),
	KEY("github", "token", K_SECRET, github_token, NULL),
	KEY("github", "app_id", K_WORD, github_app_id, NULL,
	    .check = config_check_app_id,
	    .what = "the App's numeric ID (or its Client ID, Iv...), from the "
	    "App's settings page; not its name"),
	KEY("github", "private_key", K_SECRET, github_private_key, NULL,
	    .check = config_check_pem,
	    .what = "a PEM private key (\"-----BEGIN ...\"), "
	    "best given as file:/path"),
	KEY("github", "installation_id", K_ID, github_installation_id, NULL),
	KEY("github", "bot_login", K_WORD, github_bot_login, NULL),

	KEY("gitlab", "url", K_URL, gitlab_url, "https://gitlab.com",
	    .check = config_check_gitlab_url,
	    .what = "the instance's http:// or https:// URL, without /api/v4 "
	    "(handoff adds it)"),
	KEY("gitlab", "webhook_token", K_SECRET, gitlab_webhook_token, NULL),
	KEY("gitlab", "webhook_signing_token", K_SECRET, gitlab_signing_token,
	    NULL, .check = config_check_whsec,
	    .what = "whsec_ and the base64 of a 24 to 64 byte key"),
	KEY("gitlab", "token", K_SECRET, gitlab_token, NULL),
	KEY("gitlab", "bot_username", K_WORD, gitlab_bot_username, NULL),

	KEY("trigger", "label", K_STR, label, "agent"),
	KEY("trigger", "command", K_WORD, command, "/agent"),
	KEY("trigger", "allow", K_ALLOW, allow, "owner,member,collaborator",
	    .names = allow_names),
	KEY("trigger", "review", K_ENUM, review, "changes_requested",
	    .names = review_names),
	KEY("trigger", "repos", K_LIST, trigger_repos, NULL,
	    .check = rules_check_repo_pattern,
	    .what = "repository patterns (owner/name, owner/*, group/**; "
	    "'*' and '?' within a part)"),

	KEY("agent", "command", K_STR, agent_command, NULL),
	KEY("agent", "timeout", K_DUR, agent_timeout_ms, "30m", .min = 1),
	KEY("agent", "env", K_LIST, agent_env, NULL,
	    .check = config_check_env_name,
	    .what = ENV_WHAT),
	KEY("agent", "max_log", K_SIZE, max_log_bytes, "10M", .min = 1),

	KEY("sandbox", "network", K_ENUM, network, "none", .names = net_names),
	KEY("sandbox", "allow_hosts", K_LIST, allow_hosts, NULL,
	    .check = egress_check_rule,
	    .what = HOSTS_WHAT),
	KEY("sandbox", "hosts", K_LIST, egress_pins, NULL,
	    .check = egress_check_pin,
	    .what = "name=address pins"),
	/* What a toolchain's dependencies take, bounded per job. */
	KEY("sandbox", "max_egress", K_SIZE, max_egress_bytes, "1G", .min = 1),
	KEY("sandbox", "memory", K_SIZE, memory_bytes, "4G", .min = 16 << 20),
	KEY("sandbox", "pids", K_INT, pids, "512", .min = 1),
	/* A filesystem of its own for the job: ext4 needs a few MiB. */
	KEY("sandbox", "disk", K_SIZE, disk_bytes, "10G", .min = 16 << 20),
	KEY("sandbox", "extra_ro", K_LIST, extra_ro, NULL,
	    .check = config_check_abs_path, .is_path = true,
	    .what = "paths"),
	KEY("sandbox", "root", K_STR, sandbox_root, NULL,
	    .check = config_check_root,
	    .what = "the path of a directory (not a link) owned by "
	    "root or handoff's user, not writable by others, holding usr/ or "
	    "bin/sh", .is_path = true),

	KEY("setup", "command", K_STR, setup_command, NULL),
	KEY("setup", "from_repo", K_BOOL, setup_from_repo, "false"),
	KEY("setup", "network", K_ENUM, setup_network, "none",
	    .names = net_names),
	KEY("setup", "allow_hosts", K_LIST, setup_allow_hosts, NULL,
	    .check = egress_check_rule,
	    .what = HOSTS_WHAT),
	KEY("setup", "env", K_LIST, setup_env, NULL,
	    .check = config_check_env_name,
	    .what = ENV_WHAT),
	KEY("setup", "timeout", K_DUR, setup_timeout_ms, "20m", .min = 1),
	KEY("setup", "key_files", K_LIST, setup_key_files, "package-lock.json,"
	    " yarn.lock, pnpm-lock.yaml, requirements*.txt, poetry.lock,"
	    " uv.lock, Pipfile.lock, Cargo.lock, go.sum, Gemfile.lock,"
	    " composer.lock", .check = config_check_key_file,
	    .what = "file names or paths below the repository's top (no "
	    "'..'), '*' and '?' allowed"),
	KEY("setup", "cache_size", K_SIZE, setup_cache_bytes, "20G",
	    .min = 1 << 20),

	KEY("llm", "anthropic_key", K_SECRET, anthropic_key, NULL),
	KEY("llm", "anthropic_url", K_URL, anthropic_url,
	    "https://api.anthropic.com"),
	KEY("llm", "openai_key", K_SECRET, openai_key, NULL),
	KEY("llm", "openai_url", K_URL, openai_url, "https://api.openai.com/v1"),
	KEY("llm", "ca_file", K_STR, ca_file, NULL, .check = config_check_file,
	    .what = "the path of a readable PEM file", .is_path = true),
	KEY("llm", "prices", K_PRICES, prices, NULL),
	KEY("llm", "max_tokens", K_ID, max_tokens, NULL,
	    .what = "a number of tokens (a positive integer)"),
	KEY("llm", "max_cost", K_MONEY, max_cost, NULL),
	KEY("llm", "max_cost_per_day", K_MONEY, max_cost_per_day, NULL),
	KEY("llm", "max_cost_per_repo", K_MONEY, max_cost_per_repo, NULL),

	KEY("runs", "max_parallel", K_INT, max_parallel, "2", .min = 0),
	KEY("runs", "max_per_repo", K_INT, max_per_repo, "1", .min = 1),
	KEY("runs", "branch_prefix", K_BRANCH, branch_prefix, "handoff/"),
	KEY("runs", "draft", K_BOOL, draft, "true"),
	KEY("runs", "protected_paths", K_LIST, protected_paths,
	    ".github/workflows/**", .check = config_check_pattern,
	    .what = "path patterns"),
	KEY("runs", "max_changed_files", K_INT, max_changed_files, "100", .min = 1),
	KEY("runs", "max_file_size", K_SIZE, max_file_bytes, "50M", .min = 1),
	KEY("runs", "coalesce", K_DUR, coalesce_ms, "10s", .min = 0),
	KEY("runs", "max_ci_fixes", K_INT, max_ci_fixes, "2", .min = 0),
	KEY("runs", "author_name", K_STR, author_name, NULL,
	    .check = identity_check_name,
	    .what = "a name of one line, 1 to 128 bytes, without '<' or '>'"),
	KEY("runs", "author_email", K_WORD, author_email, NULL,
	    .check = identity_check_email,
	    .what = "an email address (user@host, printable ASCII)"),
	KEY("runs", "signing_key", K_SECRET, signing_key, NULL,
	    .check = sshsig_check_key,
	    .what = "an OpenSSH private key without a passphrase, ssh-ed25519"
	    " or ssh-rsa of 2048 bits or more, given as file:/path"),

	KEY("store", "keep", K_DUR, keep_ms, "0", .min = 0),
	KEY("store", "gc_interval", K_DUR, gc_interval_ms, "24h", .min = 1000,
	    .what = "a duration such as 12h or 1d (at least 1s)"),
};

#define NKEYS nitems(keys)

const struct key *const config_keys = keys;
const size_t config_nkeys = NKEYS;

/* One config_load: the text inih reads through reader(). */
struct parse {
	struct config	*cfg;
	const char	*pos;		/* the next line */
	int		 lineno;	/* of the line inih is working on */
	int		 lines[NKEYS];	/* where each key was set; 0: default */
	int		 err_line;	/* of the first error; 0: none */
	int		 handler_line;	/* of the first error inih counts */
	int		 nerr;		/* errors found */
	int		 shown;		/* errors in err */
	size_t		 errused;	/* bytes of err written */
	bool		 failed[NKEYS];	/* keys whose value was refused */
	bool		 bad_section;	/* the current section is reported */
	bool		 repo_failed;	/* a repo section had an error */
	struct config_repo *repo;	/* the [repo] section keys go to */
	char		*err;
	size_t		 errlen;
};

/* ---- setting values ---- */

/* v as an error may show it: quoted, escaped, cut short. */
static void
quote(const char *v, char *buf, size_t len)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; v[i] != '\0' && o + 8 < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (i == ECHO_MAX) {
			o += (size_t)snprintf(buf + o, len - o, "...");
			break;
		} else if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\%c", c);
		else if (iscntrl(c))
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	snprintf(buf + o, len - o, "\"");
}

/* What a value of key k must look like, for "expected ...". */
static const char *
what_of(const struct key *k, char *buf, size_t len)
{
	const char *const *n;
	size_t o;

	if (k->what != NULL)
		return k->what;
	switch (k->kind) {
	case K_STR:	return "a non-empty value without control characters";
	case K_WORD:	return "a non-empty value without spaces";
	case K_URL:	return "an http:// or https:// URL";
	case K_LISTEN:	return "host:port (IPv4 address, [IPv6] address or "
			    "host name; port 1-65535)";
	case K_BRANCH:	return "a git branch name prefix such as handoff/ "
			    "(no spaces, \"..\" or ~^:?*[\\, not starting "
			    "with / - or .)";
	case K_SIZE:
		if (k->min <= 1)
			return "a size such as 512K, 25M or 4G (at least 1)";
		snprintf(buf, len, "a size such as 512K, 25M or 4G (at least "
		    "%lldM)", k->min >> 20);
		return buf;
	case K_DUR:	return k->min > 0 ? "a duration such as 30s, 5m or 2h "
			    "(more than 0)" : "a duration such as 0, 30s, 5m or 2h";
	case K_ID:	return "a positive integer";
	case K_MONEY:	return "an amount such as 5 or 0.25 (more than 0, at "
			    "most 6 decimals)";
	case K_BOOL:	return "true, false, yes, no, on, off, 1 or 0";
	case K_LOGLEVEL: return "error, warn, info or debug";
	case K_INT:
		snprintf(buf, len, "an integer from %lld to %lld", k->min,
		    k->max ? k->max : INT_MAX);
		return buf;
	default:	/* K_ENUM, K_ALLOW */
		o = (size_t)snprintf(buf, len, "%s", k->kind == K_ALLOW ?
		    "a comma-separated list of " : "one of ");
		for (n = k->names; *n != NULL && o < len; n++)
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    n == k->names ? "" : ", ", *n);
		return buf;
	}
}

void
config_free_list(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
free_secret(struct secret *s)
{
	if (s->value != NULL)
		explicit_bzero(s->value, s->len);
	free(s->value);
	free(s->source);
	memset(s, 0, sizeof(*s));
}

/* A host path as the config gives it, made absolute against the config
 * file's directory (dir NULL: as it is). Caller frees. */
static char *
resolve_path(const char *dir, const char *v)
{
	while (v[0] == '.' && v[1] == '/')
		v += 2;
	if (dir == NULL || v[0] == '/' || v[0] == '\0')
		return xstrdup(v);
	if (strcmp(v, ".") == 0)
		return xstrdup(dir);
	return xasprintf("%s%s%s", dir, strcmp(dir, "/") ? "/" : "", v);
}

/* Split a comma list into l (NULL-terminated), skipping empty items, each
 * resolved against dir when it is not NULL. On an item that fails check,
 * returns -1 with a copy of it in *bad. */
static int
parse_list(const char *v, int (*check)(const char *, size_t),
    const char *dir, struct strlist *l, char **bad)
{
	char *copy = xstrdup(v), *p = copy, *item, *full;

	while ((item = strsep(&p, ",")) != NULL) {
		if (*(item = util_trim(item)) == '\0')
			continue;
		full = dir != NULL ? resolve_path(dir, item) : xstrdup(item);
		if (check != NULL && !check(full, strlen(full))) {
			*bad = full;
			break;
		}
		l->v = xrealloc(l->v, (l->n + 2) * sizeof(*l->v));
		l->v[l->n++] = full;
		l->v[l->n] = NULL;
	}
	free(copy);
	return *bad ? -1 : 0;
}

/* Resolve "file:/path", "env:NAME" or an inline value into s. Errors never
 * show the value: only its size and where it came from. */
static int
set_secret(const struct key *k, const char *dir, const char *v,
    struct secret *s, char *msg, size_t msglen)
{
	struct secret n = { 0 };
	bool is_inline = false;
	const char *ev;
	char what[256], *file = NULL, *full;
	int rc = -1;

	if (*v == '\0' || strcmp(v, "<unset>") == 0)
		return 0;		/* unset, also as config_print shows it */
	if (strncmp(v, "<set", 4) == 0) {
		snprintf(msg, msglen, "expected the secret, file:/path or "
		    "env:NAME, got check-config's mask");
		return -1;
	}
	if (strncmp(v, "file:", 5) == 0) {
		full = resolve_path(dir, v + 5);
		v = file = xasprintf("file:%s", full);
		free(full);
		if ((n.value = util_read_file(v + 5, SECRET_MAX_BYTES,
		    &n.len)) == NULL) {
			snprintf(msg, msglen, "cannot read %s: %s", v,
			    strerror(errno));
			goto out;
		}
		if (n.len > 0 && n.value[n.len - 1] == '\n') {
			n.value[--n.len] = '\0';
			if (n.len > 0 && n.value[n.len - 1] == '\r')
				n.value[--n.len] = '\0';
		}
	} else if (strncmp(v, "env:", 4) == 0) {
		if (!config_check_env_name(v + 4, strlen(v + 4))) {
			snprintf(msg, msglen, "expected env:NAME with a "
			    "variable name, got \"%.*s\"", ECHO_MAX, v);
			goto out;
		}
		if ((ev = getenv(v + 4)) == NULL) {
			snprintf(msg, msglen, "environment variable %s is not "
			    "set", v + 4);
			goto out;
		}
		n.value = xstrdup(ev);
		n.len = strlen(ev);
	} else {
		n.value = xstrdup(v);
		n.len = strlen(v);
		is_inline = true;
	}
	n.source = xstrdup(is_inline ? "inline" : v);
	if (n.len == 0 || strlen(n.value) != n.len ||
	    (k->check != NULL && !k->check(n.value, n.len))) {
		snprintf(msg, msglen, "expected %s, got <%zu bytes%s%s>",
		    n.len == 0 ? "a non-empty secret" :
		    strlen(n.value) != n.len ? "a secret without NUL bytes" :
		    what_of(k, what, sizeof(what)), n.len,
		    is_inline ? "" : " from ", is_inline ? "" : v);
		free_secret(&n);
		goto out;
	}
	free_secret(s);
	*s = n;
	rc = 0;
out:
	free(file);
	return rc;
}

/*
 * A size of a few bytes with no unit ("memory = 512") is a unit left out:
 * nothing handoff bounds works in less than a KiB. A unit written out
 * ("512B") is taken as meant.
 */
static bool
size_without_unit(const char *v, char *msg, size_t msglen)
{
	long long n;

	if (util_parse_int(v, 1, SIZE_NO_UNIT_MIN - 1, &n) == -1)
		return false;
	snprintf(msg, msglen, "%lld bytes; did you mean %lldM? (a size such "
	    "as 512K, 25M or 4G; a number without a unit is bytes, at least "
	    "%d)", n, n, SIZE_NO_UNIT_MIN);
	return true;
}

static bool
string_ok(enum kind kind, const char *v)
{
	switch (kind) {
	case K_WORD:	return !config_check_has_bad_char(v, true);
	case K_URL:	return config_check_url(v);
	case K_LISTEN:	return config_check_host_port(v, true);
	case K_BRANCH:	return config_check_branch_prefix(v);
	default:	return !config_check_has_bad_char(v, false);
	}
}

int
config_set_value(struct config *cfg, const struct key *k, const char *v,
    char *msg, size_t msglen)
{
	char what[256], q[ECHO_MAX * 4 + 8], *bad = NULL, **str, *e;
	char *full = NULL;
	struct strlist list = { 0 };
	const char *const *n;
	enum log_level lvl;
	unsigned mask = 0;
	bool ok = true;
	long long ll;
	uint64_t u;
	int64_t d;
	size_t i;

	switch (k->kind) {
	case K_STR: case K_WORD: case K_URL: case K_LISTEN: case K_BRANCH:
		if (k->is_path && *v != '\0')
			v = full = resolve_path(cfg->dir, v);
		if (!(ok = *v ? string_ok(k->kind, v) && (k->check == NULL ||
		    k->check(v, strlen(v))) : k->def == NULL))
			break;
		str = FIELD(cfg, k, char *);
		free(*str);
		*str = *v ? xstrdup(v) : NULL;
		if (*v && k->kind == K_URL)
			for (e = *str + strlen(*str); e[-1] == '/'; )
				*--e = '\0';
		free(full);
		return 0;
	case K_SIZE:
		if (size_without_unit(v, msg, msglen))
			return -1;
		if ((ok = util_parse_size(v, &u) == 0 && u >= (uint64_t)k->min))
			*FIELD(cfg, k, uint64_t) = u;
		break;
	case K_DUR:
		if ((ok = util_parse_duration(v, &d) == 0 && d >= k->min))
			*FIELD(cfg, k, int64_t) = d;
		break;
	case K_INT:
		if ((ok = util_parse_int(v, k->min, k->max ? k->max : INT_MAX,
		    &ll) == 0))
			*FIELD(cfg, k, int) = (int)ll;
		break;
	case K_ID:
		ll = 0;
		if ((ok = *v == '\0' || util_parse_int(v, 1, INT64_MAX, &ll) == 0))
			*FIELD(cfg, k, int64_t) = ll;
		break;
	case K_BOOL:
		if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
		    !strcasecmp(v, "on") || !strcmp(v, "1"))
			*FIELD(cfg, k, bool) = true;
		else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") ||
		    !strcasecmp(v, "off") || !strcmp(v, "0"))
			*FIELD(cfg, k, bool) = false;
		else
			ok = false;
		break;
	case K_LOGLEVEL:
		if ((ok = log_parse_level(v, &lvl) == 0))
			*FIELD(cfg, k, int) = (int)lvl;
		break;
	case K_ENUM:
		for (n = k->names; *n != NULL && strcmp(*n, v) != 0; n++)
			;
		if ((ok = *n != NULL))
			*FIELD(cfg, k, int) = (int)(n - k->names);
		break;
	case K_ALLOW:
		parse_list(v, NULL, NULL, &list, &bad);
		for (i = 0; i < list.n && bad == NULL; i++) {
			for (n = k->names; *n != NULL && strcmp(*n, list.v[i]); n++)
				;
			if (*n == NULL)
				bad = xstrdup(list.v[i]);
			mask |= 1u << (n - k->names);
		}
		config_free_list(&list);
		if ((ok = bad == NULL && mask != 0))
			*FIELD(cfg, k, unsigned) = mask;
		break;
	case K_LIST:
		if ((ok = parse_list(v, k->check, k->is_path ? cfg->dir : NULL,
		    &list, &bad) == 0)) {
			config_free_list(FIELD(cfg, k, struct strlist));
			*FIELD(cfg, k, struct strlist) = list;
		} else
			config_free_list(&list);
		break;
	case K_SECRET:
		return set_secret(k, cfg->dir, v, FIELD(cfg, k, struct secret),
		    msg, msglen);
	case K_MONEY:
		d = 0;
		if ((ok = *v == '\0' || (budget_parse_money(v, BUDGET_MONEY_MAX,
		    &d) == 0 && d > 0)))
			*FIELD(cfg, k, int64_t) = d;
		break;
	case K_PRICES:
		if (budget_parse_prices(v, FIELD(cfg, k, struct pricelist), &bad,
		    what, sizeof(what)) == 0)
			return 0;
		quote(bad, q, sizeof(q));
		snprintf(msg, msglen, "%s, got %s", what, q);
		free(bad);
		return -1;
	}
	if (ok)
		return 0;
	quote(bad != NULL ? bad : v, q, sizeof(q));
	snprintf(msg, msglen, "expected %s%s, got %s", k->kind == K_LIST ?
	    "a comma-separated list of " : "", what_of(k, what, sizeof(what)), q);
	free(bad);
	free(full);
	return -1;
}

/* ---- reading the file ---- */

/* Add "FILE:LINE: ..." to the errors, one a line, as many of the first
 * CONFIG_MAX_ERRORS as err has room for; returns 0 for inih. */
__attribute__((format(printf, 3, 4)))
static int
parse_error(struct parse *ps, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	size_t len;
	int n;

	if (ps->err_line == 0)
		ps->err_line = line;
	ps->nerr++;
	n = snprintf(msg, sizeof(msg), "%s%s:%d: ", ps->errused ? "\n" : "",
	    ps->cfg->path, line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	len = strlen(msg);
	if (ps->errused == 0) {	/* the first always, cut short if it must */
		snprintf(ps->err, ps->errlen, "%s", msg);
		ps->errused = len < ps->errlen ? len : ps->errlen - 1;
	} else if (ps->shown < CONFIG_MAX_ERRORS &&
	    ps->errused + len + 64 < ps->errlen) {
		memcpy(ps->err + ps->errused, msg, len + 1);
		ps->errused += len;
	} else
		return 0;
	ps->shown++;
	return 0;
}

/* Close the errors with "... and N more" if some were left out. */
static void
parse_errors_end(struct parse *ps)
{
	if (ps->nerr > ps->shown)
		snprintf(ps->err + ps->errused, ps->errlen - ps->errused,
		    "\n%s: ... and %d more", ps->cfg->path,
		    ps->nerr - ps->shown);
}

const struct key *
config_find_key(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, section) &&
		    (name == NULL || !strcmp(keys[i].name, name)))
			return &keys[i];
	return NULL;
}

/* "a, b, c": the sections (section NULL) or the keys of one section. */
static void
known_names(const char *section, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < NKEYS && o < len; i++) {
		if (section == NULL ? i > 0 && !strcmp(keys[i].section,
		    keys[i - 1].section) : strcmp(keys[i].section, section) != 0)
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "",
		    section == NULL ? keys[i].section : keys[i].name);
	}
}

/* Whether inih takes the n bytes at p (no leading blanks) for a blank
 * line, a comment, "[section]" or "key = value", as it reads them: the
 * "]", "=" or ":" before any " ;" comment. What it does not, it reports. */
static bool
is_key_line(const char *p, size_t n)
{
	const char *want = *p == '[' ? "]" : "=:";
	size_t i;

	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	if (n == 0 || *p == ';' || *p == '#')
		return true;
	for (i = 0; i < n; i++) {
		if (p[i] != '\0' && strchr(want, p[i]) != NULL)
			return true;
		if (p[i] == ';' && i > 0 && isspace((unsigned char)p[i - 1]))
			return false;
	}
	return false;
}

/* Hands inih one line at a time, so ps->lineno is the line it works on.
 * A byte order mark and leading blanks go: inih would take an indented line for the continuation
 * of the previous value. Sections are checked here as a "[foo]" without
 * keys never reaches the handler. */
static char *
reader(char *str, int num, void *stream)
{
	struct parse *ps = stream;
	const char *p = ps->pos, *nl;
	char names[512], msg[512], *copy, *sect;
	size_t n;

	if (*p == '\0')
		return NULL;
	ps->lineno++;
	n = (nl = strchr(p, '\n')) != NULL ? (size_t)(nl - p) + 1 : strlen(p);
	ps->pos = p + n;
	if (ps->lineno == 1 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3, n -= 3;		/* a UTF-8 byte order mark */
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	if (n + 1 > (size_t)num) {
		parse_error(ps, ps->lineno, "line longer than %d bytes", num - 2);
		n = 0;
	} else if (*p == '[' && (nl = memchr(p, ']', n)) != NULL) {
		copy = xstrndup(p + 1, (size_t)(nl - p - 1));
		sect = util_trim(copy);
		ps->repo = NULL;
		ps->bad_section = false;
		if (config_is_repo_section(sect)) {
			if ((ps->repo = config_repo_open(ps->cfg, sect,
			    ps->lineno, msg, sizeof(msg))) == NULL) {
				parse_error(ps, ps->lineno, "%s", msg);
				ps->bad_section = ps->repo_failed = true;
			}
		} else if (config_find_key(sect, NULL) == NULL) {
			ps->bad_section = true;
			known_names(NULL, names, sizeof(names));
			parse_error(ps, ps->lineno, "[%.*s]: unknown section; "
			    "expected one of %s or repo \"PATTERN\"",
			    ECHO_MAX, sect, names);
		}
		free(copy);
	} else if (n > 0 && !is_key_line(p, n)) {
		parse_error(ps, ps->lineno, "expected \"[section]\" or "
		    "\"key = value\"");
		n = 0;		/* said here, so that inih reads on */
	}
	memcpy(str, p, n);
	str[n] = '\0';
	return str;
}

static int
handle_key(struct parse *ps, const char *section, const char *name,
    const char *value)
{
	const struct key *k;
	char msg[512], names[512];
	size_t i;

	if (ps->bad_section)
		return 1;	/* reader() has reported the section */
	if (*section == '\0')
		return parse_error(ps, ps->lineno, "%s: expected a [section] "
		    "line before the first key", name);
	if (ps->repo != NULL) {
		if (config_repo_set(ps->repo, name, value, ps->lineno, msg,
		    sizeof(msg)) == -1) {
			ps->repo_failed = true;
			return parse_error(ps, ps->lineno, "%s", msg);
		}
		return 1;
	}
	if (config_find_key(section, NULL) == NULL)
		return parse_error(ps, ps->lineno, "[%s]: unknown section",
		    section);	/* reader() has said so, unless inih saw otherwise */
	if ((k = config_find_key(section, name)) == NULL) {
		known_names(section, names, sizeof(names));
		return parse_error(ps, ps->lineno, "[%s] %s: unknown key; "
		    "expected one of %s", section, name, names);
	}
	i = (size_t)(k - keys);
	if (ps->lines[i] != 0)
		return parse_error(ps, ps->lineno, "[%s] %s: set twice (first "
		    "on line %d)", section, name, ps->lines[i]);
	ps->lines[i] = ps->lineno;
	if (config_set_value(ps->cfg, k, value, msg, sizeof(msg)) == -1) {
		ps->failed[i] = true;
		return parse_error(ps, ps->lineno, "[%s] %s: %s", section, name, msg);
	}
	return 1;
}

/* inih's handler: an error here is one inih counts as well. */
static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *ps = user;
	int nerr = ps->nerr, rc;

	rc = handle_key(ps, section, name, value);
	if (ps->nerr > nerr && ps->handler_line == 0)
		ps->handler_line = ps->lineno;
	return rc;
}

/* Checks across keys, once everything is read. */
static void
check_config(struct parse *ps)
{
	struct config *cfg = ps->cfg;
	const struct key *app = config_find_key("github", "app_id");
	const struct key *pem = config_find_key("github", "private_key");
	const struct key *env = config_find_key("agent", "env");
	const struct key *senv = config_find_key("setup", "env");
	const struct key *tok = config_find_key("github", "token");
	const struct key *web = config_find_key("web", "listen");
	const struct key *srv = config_find_key("server", "listen");
	char msg[512];
	int line;
	bool gh = !ps->failed[tok - keys] && !ps->failed[app - keys] &&
	    !ps->failed[pem - keys];

	/* A check that needs a key whose value was refused is left out. */
	if (gh && cfg->github_token.value != NULL && (cfg->github_app_id != NULL ||
	    cfg->github_private_key.value != NULL))
		parse_error(ps, ps->lines[tok - keys], "[github] token: set "
		    "together with [github] %s (line %d); give either token "
		    "or app_id and private_key, not both",
		    cfg->github_app_id ? "app_id" : "private_key",
		    ps->lines[(cfg->github_app_id ? app : pem) - keys]);
	if (!ps->failed[web - keys] && !ps->failed[srv - keys] &&
	    config_check_listens_clash(cfg->listen, cfg->web_listen))
		parse_error(ps, ps->lines[web - keys] ? ps->lines[web - keys] :
		    ps->lines[srv - keys], "[web] listen: %s takes the port of "
		    "[server] listen (%s%s); give the status pages a port of "
		    "their own", cfg->web_listen, cfg->listen,
		    ps->lines[srv - keys] ? "" : ", its default");
	if (!gh)
		;
	else if (cfg->github_app_id != NULL &&
	    cfg->github_private_key.value == NULL)
		parse_error(ps, ps->lines[app - keys], "[github] app_id: "
		    "expected private_key in [github] as well");
	else if (cfg->github_app_id == NULL &&
	    cfg->github_private_key.value != NULL)
		parse_error(ps, ps->lines[pem - keys], "[github] private_key: "
		    "expected app_id in [github] as well");
	if (ps->failed[env - keys] || ps->failed[senv - keys])
		;
	else if (config_check_agent_env(cfg, ps->lines, msg, sizeof(msg)) == -1)
		parse_error(ps, ps->lines[env - keys], "%s", msg);
	else if (config_check_env_list(cfg, &cfg->setup_env, "setup",
	    ps->lines, msg, sizeof(msg)) == -1)
		parse_error(ps, ps->lines[senv - keys], "%s", msg);
	if (!ps->repo_failed &&
	    (line = config_repo_check(cfg, ps->lines, msg, sizeof(msg))) != 0)
		parse_error(ps, line, "%s", msg);
	if (cfg->public_url == NULL)
		cfg->public_url = xasprintf("http://%s", cfg->web_listen);
}

struct config *
config_defaults(void)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	char msg[256];
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].def != NULL &&
		    config_set_value(cfg, &keys[i], keys[i].def, msg,
		    sizeof(msg)) == -1)
			abort();	/* a bad row in keys[] */
	cfg->public_url = xasprintf("http://%s", cfg->web_listen);
	return cfg;
}

/* The directory of the config file path, absolute; NULL if it cannot be
 * told (then relative paths stay as they are). */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *real;

	if (slash == NULL)
		dir = xstrdup(".");
	else
		dir = xstrndup(path, slash == path ? 1 :
		    (size_t)(slash - path));
	real = realpath(dir, NULL);
	free(dir);
	return real;
}

int
config_key_line(const struct config *cfg, const char *section,
    const char *name)
{
	const struct key *k = config_find_key(section, name);

	return cfg->lines != NULL && k != NULL ? cfg->lines[k - keys] : 0;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct parse ps = { 0 };
	char *text, dummy[1];
	size_t len;
	int rc;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if ((text = util_read_file(path, CONFIG_MAX_BYTES, &len)) == NULL) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		    strerror(errno));
		return NULL;
	}
	ps.cfg = config_defaults();
	free(ps.cfg->public_url);
	ps.cfg->public_url = NULL;	/* derived from [web] listen at the end */
	ps.cfg->path = xstrdup(path);
	ps.cfg->dir = dir_of(path);
	ps.pos = text;
	ps.err = err;
	ps.errlen = errlen;
	if (strlen(text) != len) {
		snprintf(err, errlen, "%s: expected a text file, got a NUL "
		    "byte", path);
		ps.err_line = -1;
		goto out;
	}
	/* Debian's inih sizes its line buffer from this at run time. */
	ini_max_line = LINE_MAX_BYTES;
	rc = ini_parse_stream(reader, &ps, handler, &ps);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot parse: out of memory", path);
		ps.err_line = -1;
	} else {
		/* inih's first error; unless the handler's, one reader() missed */
		if (rc > 0 && (ps.handler_line == 0 || rc < ps.handler_line))
			parse_error(&ps, rc, "expected \"[section]\" or "
			    "\"key = value\"");
		check_config(&ps);
		parse_errors_end(&ps);
	}
out:
	free(text);
	if (ps.err_line != 0) {
		config_free(ps.cfg);
		return NULL;
	}
	ps.cfg->lines = xcalloc(NKEYS, sizeof(*ps.cfg->lines));
	memcpy(ps.cfg->lines, ps.lines, sizeof(ps.lines));
	return ps.cfg;
}

void
config_free(struct config *cfg)
{
	const struct key *k;

	if (cfg == NULL)
		return;
	for (k = keys; k < keys + NKEYS; k++) {
		if (IS_STRING(k->kind))
			free(*FIELD(cfg, k, char *));
		else if (k->kind == K_LIST)
			config_free_list(FIELD(cfg, k, struct strlist));
		else if (k->kind == K_SECRET)
			free_secret(FIELD(cfg, k, struct secret));
		else if (k->kind == K_PRICES)
			budget_free_prices(FIELD(cfg, k, struct pricelist));
	}
	config_repo_free(cfg);
	free(cfg->path);
	free(cfg->dir);
	free(cfg->lines);
	free(cfg);
}

const char *
config_default_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path != NULL)
		return explicit_path;
	if ((env = getenv("HANDOFF_CONFIG")) != NULL && *env != '\0')
		return env;
	return "handoff.ini";
}
