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
