/*
 * The configuration's key table, private to config.c (which owns it) and
 * config_print.c: one row per key drives parsing, defaults, validation and
 * printing.
 */
#ifndef HANDOFF_CONFIG_IMPL_H
#define HANDOFF_CONFIG_IMPL_H

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
};

/* The field of cfg that key k sets. */
#define FIELD(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->off))

/* Every key, grouped by section, in the order `check-config` prints. */
extern const struct key *const config_keys;
extern const size_t config_nkeys;

#endif
