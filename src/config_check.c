/*
 * Checks of single config values, whatever key they belong to: hosts and
 * ports, URLs, branch prefixes, variable names, paths, keys, and whether a
 * value carries a secret (and so whether [agent] env may pass a variable).
 * config.c's key table names them.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_check.h"
#include "config_impl.h"
#include "util.h"

bool
config_check_has_bad_char(const char *s, bool no_space)
{
	for (; *s != '\0'; s++)
		if (iscntrl((unsigned char)*s) ||
		    (no_space && isspace((unsigned char)*s)))
			return true;
	return false;
}

/* host[:port] with an IPv4 address, a [bracketed] IPv6 address or a name. */
bool
config_check_host_port(const char *s, bool need_port)
{
	char host[256];
	const char *port, *end;
	unsigned char addr[16];
	size_t hlen;
	long long n;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || (end[1] != ':' &&
		    end[1] != '\0') || (hlen = (size_t)(end - s - 1)) >= sizeof(host))
			return false;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			return false;
		port = end[1] == ':' ? end + 2 : NULL;
	} else {
		end = strrchr(s, ':');
		if ((hlen = end ? (size_t)(end - s) : strlen(s)) >= sizeof(host))
			return false;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		port = end ? end + 1 : NULL;
		if (strspn(host, "0123456789.") == hlen ?
		    inet_pton(AF_INET, host, addr) != 1 :
		    !util_hostname_ok(host, hlen))
			return false;
	}
	if (port == NULL)
		return !need_port;
	return util_parse_int(port, 1, 65535, &n) == 0;
}

bool
config_check_url(const char *s)
{
	const char *rest;

	if (strncasecmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		rest = s + 8;
	else
		return false;
	return *rest != '\0' && *rest != '/' &&
	    !config_check_has_bad_char(s, true);
}

/* git check-ref-format's rules, for a prefix that a slug is appended to. */
bool
config_check_branch_prefix(const char *s)
{
	return *s != '/' && *s != '-' && *s != '.' &&
	    !config_check_has_bad_char(s, true) &&
	    strpbrk(s, "~^:?*[\\") == NULL && strstr(s, "..") == NULL &&
	    strstr(s, "//") == NULL && strstr(s, "/.") == NULL &&
	    strstr(s, "@{") == NULL && strstr(s, ".lock/") == NULL;
}

int
config_check_env_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || isdigit((unsigned char)s[0]))
		return 0;
	for (i = 0; i < len; i++)
		if (!isascii((unsigned char)s[i]) ||
		    (!isalnum((unsigned char)s[i]) && s[i] != '_'))
			return 0;
	return 1;
}

int
config_check_abs_path(const char *s, size_t len)
{
	return len > 1 && s[0] == '/' && !config_check_has_bad_char(s, false);
}

int
config_check_file(const char *s, size_t len)
{
	return config_check_abs_path(s, len) && access(s, R_OK) == 0;
}

/* The tree's top or its usr: a directory, no link, trusted owner. */
static int
root_dir_ok(const char *path, char *err, size_t errlen)
{
	struct stat sb;

	if (lstat(path, &sb) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %lu, not root or "
		    "handoff's user", path, (unsigned long)sb.st_uid);
		return -1;
	}
	if (sb.st_mode & S_IWOTH) {
		snprintf(err, errlen, "%s: writable by others", path);
		return -1;
	}
	return 0;
}

int
config_check_root_tree(const char *dir, char *err, size_t errlen)
{
	char *usr, *sh;
	struct stat sb;
	int rc = -1;

	if (!config_check_abs_path(dir, strlen(dir))) {
		snprintf(err, errlen, "%s: not an absolute path", dir);
		return -1;
	}
	if (root_dir_ok(dir, err, errlen) == -1)
		return -1;
	usr = xasprintf("%s/usr", dir);
	sh = xasprintf("%s/bin/sh", dir);
	if (lstat(usr, &sb) == 0)
		rc = root_dir_ok(usr, err, errlen);
	else if (fstatat(AT_FDCWD, sh, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		rc = 0;
	else
		snprintf(err, errlen, "%s: holds neither usr/ nor bin/sh",
		    dir);
	free(usr);
	free(sh);
	return rc;
}

int
config_check_root(const char *s, size_t len)
{
	char err[PATH_MAX + 64];

	(void)len;
	return config_check_root_tree(s, err, sizeof(err)) == 0;
}

int
config_check_pattern(const char *s, size_t len)
{
	return len > 0 && !config_check_has_bad_char(s, false);
}

int
config_check_pem(const char *s, size_t len)
{
	while (len > 0 && isspace((unsigned char)*s))
		s++, len--;
	return len > 10 && strncmp(s, "-----BEGIN", 10) == 0;
}

/* Standard Webhooks' "whsec_" and base64; GitLab's keys are 32 bytes. */
int
config_check_whsec(const char *s, size_t len)
{
	unsigned char *key;
	size_t n;

	if (len < 6 || strncmp(s, "whsec_", 6) != 0 ||
	    (key = util_base64_decode(s + 6, len - 6, &n)) == NULL)
		return 0;
	explicit_bzero(key, n);
	free(key);
	return n >= 24 && n <= 64;
}

/*
 * Does v (an environment variable's value) carry secret s? A whole match at
 * any length; inside a longer value (a URL, "Bearer ...") from 8 bytes on,
 * below which a match is more likely chance than a copy.
 */
bool
config_check_carries_secret(const char *v, const struct secret *s)
{
	size_t len = strlen(v);

	if (s->value == NULL)
		return false;
	if (len == s->len)
		return memcmp(v, s->value, len) == 0;
	return s->len >= 8 && memmem(v, len, s->value, s->len) != NULL;
}

/*
 * With an [llm] key, handoff sets these in the sandbox to its gateway and a
 * key valid for the job only; an env list may not set them too.
 */
static int
check_gateway_env(const struct config *cfg, const char *label,
    const char *name, char *msg, size_t msglen)
{
	static const char *const gw[] = { "ANTHROPIC_API_KEY",
	    "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL" };
	size_t j;

	if (cfg->anthropic_key.value == NULL && cfg->openai_key.value == NULL)
		return 0;
	for (j = 0; j < sizeof(gw) / sizeof(gw[0]); j++)
		if (strcmp(name, gw[j]) == 0) {
			snprintf(msg, msglen, "%s: %s is set by handoff for "
			    "the [llm] gateway, with a key valid for the job "
			    "only", label, name);
			return -1;
		}
	return 0;
}

/*
 * An env list passes variables into the sandbox: never the one a secret of
 * handoff's is read from (env:NAME), nor one whose value holds one however
 * it was given. The error names the variable and the secret's key, not its
 * value.
 */
int
config_check_env_key(const struct config *cfg, const struct strlist *list,
    const char *label, const int *lines, char *msg, size_t msglen)
{
	const struct key *k, *end = config_keys + config_nkeys;
	const struct secret *s;
	const char *name, *v;
	size_t i;

	for (i = 0; i < list->n; i++) {
		name = list->v[i];
		v = getenv(name);
		for (k = config_keys; k < end; k++) {
			if (k->kind != K_SECRET ||
			    (s = FIELD(cfg, k, const struct secret))->source ==
			    NULL)
				continue;
			if (strncmp(s->source, "env:", 4) == 0 &&
			    strcmp(s->source + 4, name) == 0) {
				snprintf(msg, msglen, "%s: %s is where [%s] %s "
				    "(line %d) is read from; a secret must "
				    "never reach the sandbox", label, name,
				    k->section, k->name,
				    lines[k - config_keys]);
				return -1;
			}
			if (v != NULL && config_check_carries_secret(v, s)) {
				snprintf(msg, msglen, "%s: %s holds the value "
				    "of [%s] %s (line %d); a secret must never "
				    "reach the sandbox", label, name,
				    k->section, k->name,
				    lines[k - config_keys]);
				return -1;
			}
		}
		if (check_gateway_env(cfg, label, name, msg, msglen) == -1)
			return -1;
	}
	return 0;
}

int
config_check_env_list(const struct config *cfg, const struct strlist *list,
    const char *section, const int *lines, char *msg, size_t msglen)
{
	char label[64];

	snprintf(label, sizeof(label), "[%s] env", section);
	return config_check_env_key(cfg, list, label, lines, msg, msglen);
}

int
config_check_agent_env(const struct config *cfg, const int *lines,
    char *msg, size_t msglen)
{
	return config_check_env_list(cfg, &cfg->agent_env, "agent", lines,
	    msg, msglen);
}

/* A key file: a name or a relative path, '*' and '?' within a part. */
int
config_check_key_file(const char *s, size_t len)
{
	const char *p;

	if (len == 0 || len > 255 || s[0] == '/' || s[len - 1] == '/' ||
	    config_check_has_bad_char(s, true))
		return 0;
	for (p = s; p != NULL; p = (p = strchr(p, '/')) ? p + 1 : NULL)
		if (*p == '/' || (p[0] == '.' && (p[1] == '/' || p[1] == '\0' ||
		    (p[1] == '.' && (p[2] == '/' || p[2] == '\0')))))
			return 0;
	return 1;
}

/* A GitHub App's numeric ID, or its Client ID ("Iv1.0123...", "Iv23li..."):
 * not its name, which the JWT's issuer cannot be. */
int
config_check_app_id(const char *s, size_t len)
{
	size_t i, start = 0;

	if (len > 2 && s[0] == 'I' && s[1] == 'v')
		start = 2;
	else if (len == 0 || len > 19 || s[0] == '0')
		return 0;
	for (i = start; i < len; i++)
		if (start == 0 ? !isdigit((unsigned char)s[i]) :
		    !isascii((unsigned char)s[i]) ||
		    (!isalnum((unsigned char)s[i]) && s[i] != '.'))
			return 0;
	return len <= 64;
}

/* A GitLab instance's URL: handoff appends /api/v4 itself. */
int
config_check_gitlab_url(const char *s, size_t len)
{
	while (len > 0 && s[len - 1] == '/')
		len--;
	return config_check_url(s) && !(len >= 7 &&
	    strncasecmp(s + len - 7, "/api/v4", 7) == 0);
}

/* host and port of a host:port the config check took, into host. */
static const char *
split_listen(const char *s, char *host, size_t hostlen)
{
	const char *colon = strrchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	if (n > 1 && s[0] == '[' && s[n - 1] == ']')
		s++, n -= 2;
	snprintf(host, hostlen, "%.*s", (int)n, s);
	return colon ? colon + 1 : "";
}

static bool
is_wildcard(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
	    strcmp(host, "*") == 0;
}

/* Whether two listeners would take the same port: the same address, or a
 * wildcard and any address, on one port. */
bool
config_check_listens_clash(const char *a, const char *b)
{
	char ha[256], hb[256];
	const char *pa = split_listen(a, ha, sizeof(ha));
	const char *pb = split_listen(b, hb, sizeof(hb));

	if (strcmp(pa, pb) != 0)
		return false;
	return strcasecmp(ha, hb) == 0 || is_wildcard(ha) || is_wildcard(hb);
}

/* ---- what only the host can tell ---- */

/* "uid 1001 (handoff)": who the checks ran as. */
static void
user_name(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());

	if (pw != NULL)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "uid %lu", (unsigned long)geteuid());
}

int
config_check_data_dir(const char *dir, char *msg, size_t msglen)
{
	char *p = xstrdup(dir), *slash, *db, user[64];
	struct stat sb;
	int rc = -1;

	user_name(user, sizeof(user));
	while (stat(p, &sb) == -1) {
		if (errno != ENOENT || (slash = strrchr(p, '/')) == NULL) {
			snprintf(msg, msglen, "%s: %s", p, strerror(errno));
			goto out;
		}
		slash[slash == p ? 1 : 0] = '\0';
	}
	if (!S_ISDIR(sb.st_mode))
		snprintf(msg, msglen, "%s: not a directory", p);
	else if (faccessat(AT_FDCWD, p, W_OK | X_OK, AT_EACCESS) == -1) {
		if (strcmp(p, dir) == 0)
			snprintf(msg, msglen, "%s is not writable by %s: %s",
			    p, user, strerror(errno));
		else
			snprintf(msg, msglen, "%s does not exist, and %s, "
			    "where it would be made, is not writable by %s: "
			    "%s", dir, p, user, strerror(errno));
	} else {
		db = xasprintf("%s/handoff.db", dir);
		if (strcmp(p, dir) == 0 && faccessat(AT_FDCWD, db,
		    R_OK | W_OK, AT_EACCESS) == -1 && errno != ENOENT)
			snprintf(msg, msglen, "%s is not writable by %s: %s",
			    db, user, strerror(errno));
		else {
			snprintf(msg, msglen, "writable by %s%s%s", user,
			    strcmp(p, dir) ? "; to be made in " : "",
			    strcmp(p, dir) ? p : "");
			rc = 0;
		}
		free(db);
	}
out:
	free(p);
	return rc;
}

/* Whether path is a regular file with an execute bit. */
static bool
is_program(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (sb.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
}

/* The command's program word: past VAR=value words and "exec". */
static char *
program_word(const char *command)
{
	const char *p = command, *eq;
	size_t n;
	char *word;

	for (;;) {
		p += strspn(p, " \t\n");
		n = strcspn(p, " \t\n");
		eq = memchr(p, '=', n);
		if ((eq != NULL && eq > p && config_check_env_name(p,
		    (size_t)(eq - p))) || (n == 4 && !strncmp(p, "exec", 4)))
			p += n;
		else
			break;
	}
	word = xstrndup(p, n);
	return word;
}

int
config_check_agent_program(const char *command, const char *root,
    char *path, size_t pathlen, char *msg, size_t msglen)
{
	static const char *const dirs[] = { "/usr/local/bin", "/usr/bin",
	    "/bin" };
	char *word = program_word(command), *host = NULL;
	const char *why;
	size_t i;
	int rc = 0;

	if (*word == '\0' || strpbrk(word, "$`'\"\\;|&<>()*?[]{}~!#") != NULL) {
		snprintf(msg, msglen, "a shell construct; not checked");
		goto out;
	}
	if (word[0] != '/' && strchr(word, '/') != NULL) {
		snprintf(msg, msglen, "%s: a path in the repository; not "
		    "checked", word);
		goto out;
	}
	if (word[0] == '/') {
		snprintf(path, pathlen, "%s", word);
		/* The host's, but /usr, which is the tree's with a root. */
		host = root != NULL && !strncmp(word, "/usr/", 5) ?
		    xasprintf("%s%s", root, word) : xstrdup(word);
		if (is_program(host))
			rc = 1;
		else {
			why = access(host, F_OK) == 0 ?
			    "not an executable file" : strerror(errno);
			snprintf(msg, msglen, "%s: %s; the job would fail with "
			    "status 126 or 127", word, why);
			rc = -1;
		}
		goto out;
	}
	for (i = 0; i < nitems(dirs); i++) {
		free(host);
		host = xasprintf("%s%s/%s", root ? root : "", dirs[i], word);
		if (is_program(host)) {
			snprintf(path, pathlen, "%s/%s", dirs[i], word);
			rc = 1;
			goto out;
		}
	}
	snprintf(msg, msglen, "%s: not found in the sandbox's PATH "
	    "(/usr/local/bin:/usr/bin:/bin%s); the job would fail with "
	    "status 127", word, root ? " of [sandbox] root" : "");
	rc = -1;
out:
	free(host);
	free(word);
	return rc;
}

/* "FILE:LINE: [section] name" (FILE alone when it is a default). */
void
config_check_where(const struct config *cfg, const char *section,
    const char *name, char *buf, size_t len)
{
	int line = config_key_line(cfg, section, name);

	if (line > 0)
		snprintf(buf, len, "%s:%d: [%s] %s", cfg->path, line,
		    section, name);
	else
		snprintf(buf, len, "%s: [%s] %s (its default)",
		    cfg->path ? cfg->path : "defaults", section, name);
}

int
config_check_repo_agent(const struct config *cfg,
    const struct config_repo *rs, char *err, size_t errlen)
{
	const struct key *cmd = config_find_key("agent", "command");
	const struct key *root = config_find_key("sandbox", "root");
	char msg[PATH_MAX * 2 + 128], path[PATH_MAX];
	size_t i = (size_t)(cmd - config_keys);

	if (rs->lines[i] == 0 || rs->vals->agent_command == NULL ||
	    config_check_agent_program(rs->vals->agent_command,
	    rs->lines[root - config_keys] ? rs->vals->sandbox_root :
	    cfg->sandbox_root, path, sizeof(path), msg, sizeof(msg)) != -1)
		return 0;
	snprintf(err, errlen, "%s:%d: [repo \"%s\"] agent.command: %s",
	    cfg->path, rs->lines[i], rs->pattern, msg);
	return -1;
}

int
config_check_host(const struct config *cfg, char *err, size_t errlen)
{
	char where[PATH_MAX + 64], msg[PATH_MAX * 2 + 128], path[PATH_MAX];
	size_t i;

	if (config_check_data_dir(cfg->data_dir, msg, sizeof(msg)) == -1) {
		config_check_where(cfg, "server", "data_dir", where,
		    sizeof(where));
		snprintf(err, errlen, "%s: %s", where, msg);
		return -1;
	}
	if (cfg->agent_command != NULL && config_check_agent_program(
	    cfg->agent_command, cfg->sandbox_root, path, sizeof(path), msg,
	    sizeof(msg)) == -1) {
		config_check_where(cfg, "agent", "command", where,
		    sizeof(where));
		snprintf(err, errlen, "%s: %s", where, msg);
		return -1;
	}
	for (i = 0; i < cfg->nrepos; i++)
		if (config_check_repo_agent(cfg, &cfg->repos[i], err,
		    errlen) == -1)
			return -1;
	return 0;
}
