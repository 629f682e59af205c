/*
 * The configuration's key table, private to config.c (which owns it),
 * config_repo.c and config_print.c: one row per key drives parsing,
 * defaults, validation and printing; and the [repo] sections.
 */
#ifndef HANDOFF_CONFIG_IMPL_H
#define HANDOFF_CONFIG_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

enum kind {
	K_STR,		/* char *: one line of text */
	K_WORD,		/* char *: text without whitespace */
	K_URL,		/* char *: http:// or https://, trailing '/' dropped */
	K_LISTEN,	/* char *: host:port */
	K_BRANCH,	/* char *: a git branch name prefix */
	K_SIZE,		/* uint64_t bytes */
	K_DUR,		/* int64_t milliseconds */
	K_INT,		/* int */
	K_ID,		/* int64_t, 0 when unset */
	K_BOOL,		/* bool */
	K_LOGLEVEL,	/* int (enum log_level) */
	K_ENUM,		/* int-sized enum, named by names[] */
	K_ALLOW,	/* unsigned mask, bit i named by names[i] */
	K_LIST,		/* struct strlist, each item passing check() */
	K_SECRET,	/* struct secret, its value passing check() */
	K_MONEY,	/* int64_t micro-units (budget.h), 0 when unset */
	K_PRICES,	/* struct pricelist */
};
#define IS_STRING(kind)	((kind) <= K_BRANCH)

struct key {
	const char	 *section;
	const char	 *name;
	enum kind	  kind;
	size_t		  off;
	const char	 *def;		/* as a user writes it; strings: NULL = optional */
	long long	  min, max;	/* K_SIZE, K_DUR, K_INT (max 0: INT_MAX) */
	const char	 *what;		/* "expected <what>" where the kind's text is vague */
	const char *const *names;	/* K_ENUM, K_ALLOW */
	int		(*check)(const char *, size_t);	/* K_LIST, K_SECRET, strings */
	bool		  is_path;	/* a host path: from the config's dir */
};

/* The field of cfg that key k sets. */
#define FIELD(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->off))

/* Every key, grouped by section, in the order `check-config` prints. */
extern const struct key *const config_keys;
extern const size_t config_nkeys;

/*
 * One [repo "PATTERN"] section: the keys it sets, parsed into a config of
 * their own (only those with a line are set), for the repositories the
 * pattern matches (rules_repo_match).
 */
struct config_repo {
	char		*pattern;
	int		 line;	/* of its [repo "..."] line */
	size_t		 rank;	/* specificity: the higher wins */
	struct config	*vals;
	int		*lines;	/* per key of the table; 0: unset */
};

/* The key with this section and name (name NULL: any key of the section). */
const struct key *config_find_key(const char *section, const char *name);
/* Parse v into k's field of cfg. On error, returns -1 with what follows
 * "[section] key: " in msg. */
int config_set_value(struct config *cfg, const struct key *k, const char *v,
    char *msg, size_t msglen);
void config_free_list(struct strlist *l);
/* Whether a section's text ("repo \"acme/web\"") is a [repo] section. */
int config_is_repo_section(const char *text);
/* Open the [repo] section text names, on line: appended to cfg->repos. On
 * error, returns NULL with the reason in msg. */
struct config_repo *config_repo_open(struct config *cfg, const char *text,
    int line, char *msg, size_t msglen);
/* Set name ("agent.timeout") to value in section rs, on line. On error,
 * returns -1 with the reason in msg. */
int config_repo_set(struct config_repo *rs, const char *name,
    const char *value, int line, char *msg, size_t msglen);
/* The checks across keys, for each [repo] section against cfg's secrets
 * (lines: where each key of cfg was set). On error, returns the line of
 * the key at fault with the reason in msg; else 0. */
int config_repo_check(const struct config *cfg, const int *lines, char *msg,
    size_t msglen);
void config_repo_free(struct config *cfg);
/* The config that holds k's value for repo: the most specific [repo]
 * section setting it, else cfg. */
const struct config *config_repo_holder(const struct config *cfg,
    const char *repo, const struct key *k);

#endif
