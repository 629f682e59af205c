/*
 * [repo "PATTERN"] sections: per-repository values of the keys one
 * repository's jobs use, read with the key table's own checks, and the
 * settings a repository gets (the most specific section wins, per key).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_check.h"
#include "config_impl.h"
#include "rules.h"
#include "util.h"

#define ECHO_MAX	60	/* bytes of a bad section or key quoted */

/* What a [repo] section may set, as its errors say. */
#define PER_REPO_KEYS	"agent.*, sandbox.*, setup.* (but cache_size), " \
	"runs.* (but max_parallel), llm.max_tokens, llm.max_cost, " \
	"llm.max_cost_per_repo"

/*
 * Whether a [repo] section may set k: what one repository's jobs use. The
 * run slots of every repository (max_parallel), the money of every
 * repository in a day (max_cost_per_day) and the set-up layers' shared
 * cache (cache_size) have one value for all.
 */
static bool
is_per_repo(const struct key *k)
{
	if (!strcmp(k->section, "agent") || !strcmp(k->section, "sandbox"))
		return true;
	if (!strcmp(k->section, "setup"))
		return strcmp(k->name, "cache_size") != 0;
	if (!strcmp(k->section, "runs"))
		return strcmp(k->name, "max_parallel") != 0;
	return !strcmp(k->section, "llm") && (!strcmp(k->name, "max_tokens") ||
	    !strcmp(k->name, "max_cost") ||
	    !strcmp(k->name, "max_cost_per_repo"));
}

/* An exact name outranks every glob; among globs, more literal characters
 * rank higher. */
static size_t
rank_of(const char *pattern)
{
	size_t n = 0;
	const char *p;

	if (strpbrk(pattern, "*?") == NULL)
		return SIZE_MAX;
	for (p = pattern; *p != '\0'; p++)
		n += *p != '*' && *p != '?';
	return n;
}

static bool
matches(const struct config_repo *rs, const char *repo)
{
	return repo != NULL && rules_repo_match(rs->pattern, repo);
}

int
config_is_repo_section(const char *text)
{
	return strncmp(text, "repo", 4) == 0 && (text[4] == '\0' ||
	    text[4] == '"' || isspace((unsigned char)text[4]));
}

struct config_repo *
config_repo_open(struct config *cfg, const char *text, int line, char *msg,
    size_t msglen)
{
	const char *p = text + 4, *end;
	struct config_repo *rs;
	size_t i, len;

	while (isspace((unsigned char)*p))
		p++;
	len = strlen(p);
	if (len < 2 || p[0] != '"' || (end = strchr(p + 1, '"')) == NULL ||
	    end != p + len - 1 || !rules_check_repo_pattern(p + 1, len - 2)) {
		snprintf(msg, msglen, "[%.*s]: expected [repo \"PATTERN\"], "
		    "PATTERN a repository (owner/name, group/sub/project) or "
		    "a pattern (owner/*, group/**; '*' and '?' within a part)",
		    ECHO_MAX, text);
		return NULL;
	}
	for (i = 0; i < cfg->nrepos; i++)
		if (strlen(cfg->repos[i].pattern) == len - 2 &&
		    strncasecmp(cfg->repos[i].pattern, p + 1, len - 2) == 0) {
			snprintf(msg, msglen, "[%s]: the same pattern as the "
			    "section on line %d", text, cfg->repos[i].line);
			return NULL;
		}
	cfg->repos = xrealloc(cfg->repos, (cfg->nrepos + 1) *
	    sizeof(*cfg->repos));
	rs = &cfg->repos[cfg->nrepos++];
	rs->pattern = xstrndup(p + 1, len - 2);
	rs->line = line;
	rs->rank = rank_of(rs->pattern);
	rs->vals = xcalloc(1, sizeof(*rs->vals));
	/* In the same file: its paths resolve as the file's own. */
	rs->vals->dir = cfg->dir != NULL ? xstrdup(cfg->dir) : NULL;
	rs->lines = xcalloc(config_nkeys, sizeof(*rs->lines));
	return rs;
}

int
config_repo_set(struct config_repo *rs, const char *name, const char *value,
    int line, char *msg, size_t msglen)
{
	const char *dot = strchr(name, '.'), *why;
	const struct key *k = NULL;
	char *section, m[512];
	size_t i;

	if (dot != NULL) {
		section = xstrndup(name, (size_t)(dot - name));
		k = config_find_key(section, dot + 1);
		free(section);
	}
	if (k == NULL || !is_per_repo(k)) {
		why = dot == NULL ? "expected SECTION.KEY, such as "
		    "agent.timeout" : k == NULL ? "unknown key" : "one value "
		    "for every repository, set in its own section only";
		snprintf(msg, msglen, "[repo \"%s\"] %.*s: %s; a [repo] "
		    "section sets %s", rs->pattern, ECHO_MAX, name, why,
		    PER_REPO_KEYS);
		return -1;
	}
	i = (size_t)(k - config_keys);
	if (rs->lines[i] != 0) {
		snprintf(msg, msglen, "[repo \"%s\"] %s: set twice (first on "
		    "line %d)", rs->pattern, name, rs->lines[i]);
		return -1;
	}
	if (config_set_value(rs->vals, k, value, m, sizeof(m)) == -1) {
		snprintf(msg, msglen, "[repo \"%s\"] %s: %s", rs->pattern, name,
		    m);
		return -1;
	}
	rs->lines[i] = line;
	return 0;
}

/* The env lists of each section keep handoff's secrets out of the sandbox,
 * as the sections' own do. */
int
config_repo_check(const struct config *cfg, const int *lines, char *msg,
    size_t msglen)
{
	static const char *const envs[][2] = { { "agent", "env" },
	    { "setup", "env" } };
	const struct config_repo *rs;
	const struct key *k;
	char label[RULES_REPO_PATTERN_MAX + 32];
	size_t j;

	/* repos is NULL when there are none: no arithmetic on it then. */
	for (rs = cfg->repos; cfg->nrepos > 0 &&
	    rs < cfg->repos + cfg->nrepos; rs++)
		for (j = 0; j < nitems(envs); j++) {
			k = config_find_key(envs[j][0], envs[j][1]);
			if (rs->lines[k - config_keys] == 0)
				continue;
			snprintf(label, sizeof(label), "[repo \"%s\"] %s.%s",
			    rs->pattern, k->section, k->name);
			if (config_check_env_key(cfg, FIELD(rs->vals, k,
			    struct strlist), label, lines, msg, msglen) == -1)
				return rs->lines[k - config_keys];
		}
	return 0;
}

void
config_repo_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nrepos; i++) {
		free(cfg->repos[i].pattern);
		config_free(cfg->repos[i].vals);
		free(cfg->repos[i].lines);
	}
	free(cfg->repos);
	cfg->repos = NULL;
	cfg->nrepos = 0;
}

bool
config_has_repos(const struct config *cfg)
{
	return cfg->nrepos > 0;
}

const struct config *
config_repo_holder(const struct config *cfg, const char *repo,
    const struct key *k)
{
	const struct config_repo *rs, *best = NULL;
	size_t i = (size_t)(k - config_keys), j;

	/* By index: repos is NULL when there are none. */
	for (j = 0; j < cfg->nrepos; j++) {
		rs = &cfg->repos[j];
		if (rs->lines[i] != 0 && matches(rs, repo) &&
		    (best == NULL || rs->rank >= best->rank))
			best = rs;
	}
	return best != NULL ? best->vals : cfg;
}

const void *
config_repo_field(const struct config *cfg, const char *repo, size_t off)
{
	const struct key *k;

	for (k = config_keys; k < config_keys + config_nkeys; k++)
		if (k->off == off)
			return (const char *)config_repo_holder(cfg, repo, k) +
			    off;
	abort();	/* not a field of the key table */
}

/* Copy k's value from src into dst, freeing what it replaces. */
static void
copy_value(struct config *dst, const struct config *src, const struct key *k)
{
	const struct strlist *from;
	struct strlist *to;
	char **s;
	size_t i;

	switch (k->kind) {
	case K_STR: case K_WORD: case K_URL: case K_LISTEN: case K_BRANCH:
		s = FIELD(dst, k, char *);
		free(*s);
		*s = *FIELD(src, k, char *const) != NULL ?
		    xstrdup(*FIELD(src, k, char *const)) : NULL;
		break;
	case K_LIST:
		from = FIELD(src, k, const struct strlist);
		config_free_list(to = FIELD(dst, k, struct strlist));
		to->v = xcalloc(from->n + 1, sizeof(*to->v));
		for (i = 0; i < from->n; i++)
			to->v[i] = xstrdup(from->v[i]);
		to->n = from->n;
		break;
	case K_SIZE:
		*FIELD(dst, k, uint64_t) = *FIELD(src, k, const uint64_t);
		break;
	case K_DUR: case K_ID: case K_MONEY:
		*FIELD(dst, k, int64_t) = *FIELD(src, k, const int64_t);
		break;
	case K_INT: case K_LOGLEVEL: case K_ENUM:
		*FIELD(dst, k, int) = *FIELD(src, k, const int);
		break;
	case K_ALLOW:
		*FIELD(dst, k, unsigned) = *FIELD(src, k, const unsigned);
		break;
	case K_BOOL:
		*FIELD(dst, k, bool) = *FIELD(src, k, const bool);
		break;
	case K_SECRET: case K_PRICES:
		abort();	/* never per repository (is_per_repo) */
	}
}

size_t
config_apply_repo(struct config *cfg, const char *repo)
{
	const struct config_repo **m, *rs;
	size_t n = 0, i, j;

	/* Least specific first, so the more specific overwrite; among
	 * equals, the file's order. */
	m = xcalloc(cfg->nrepos + 1, sizeof(*m));
	/* repos is NULL when there are none: no arithmetic on it then. */
	for (rs = cfg->repos; cfg->nrepos > 0 &&
	    rs < cfg->repos + cfg->nrepos; rs++) {
		if (!matches(rs, repo))
			continue;
		for (i = n; i > 0 && m[i - 1]->rank > rs->rank; i--)
			m[i] = m[i - 1];
		m[i] = rs;
		n++;
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < config_nkeys; j++)
			if (m[i]->lines[j] != 0)
				copy_value(cfg, m[i]->vals, &config_keys[j]);
	free(m);
	config_repo_free(cfg);
	return n;
}
