/*
 * The INI configuration (inih): every section and key of INTERFACE.md with
 * its default, validated with file:line errors. Secrets are kept apart so
 * that printing the configuration masks them.
 */
#ifndef HANDOFF_CONFIG_H
#define HANDOFF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A secret value: given inline, as file:/path or as env:NAME. */
struct secret {
	char	*value;		/* NULL when unset; never logged */
	size_t	 len;
	char	*source;	/* "inline", "file:/path" or "env:NAME"; NULL when unset */
};

/* [trigger] allow: which GitHub author_association values may steer. */
#define ALLOW_OWNER		0x01
#define ALLOW_MEMBER		0x02
#define ALLOW_COLLABORATOR	0x04
#define ALLOW_CONTRIBUTOR	0x08

enum review_mode { REVIEW_CHANGES_REQUESTED, REVIEW_COMMENTED, REVIEW_NEVER };
enum net_mode { NET_NONE, NET_ALLOWLIST, NET_HOST };

struct strlist {
	char	**v;
	size_t	  n;
};

/* One [llm] prices entry: micro-units of money per million tokens. */
struct price {
	char	*model;
	int64_t	 input, output, cache_read, cache_write;
};

struct pricelist {
	struct price	*v;
	size_t		 n;
};

struct config_repo;

struct config {
	char	*path;			/* the file read */
	char	*dir;			/* its directory, absolute: relative
					 * paths resolve against it */
	int	*lines;			/* per key of the table: the line that
					 * set it; 0: default */
	/* [repo "PATTERN"] sections, in the file's order; none once
	 * config_apply_repo has made this one repository's settings */
	struct config_repo *repos;
	size_t	 nrepos;

	/* [server] */
	char	*listen;		/* host:port, default 127.0.0.1:8080 */
	char	*data_dir;		/* default /var/lib/handoff */
	uint64_t max_body_bytes;	/* default 25M */
	int	 log_level;		/* enum log_level, default info */
	int	 log_format;		/* enum log_format, default text */
	int	 max_connections;	/* default 256 */
	int64_t	 timeout_ms;		/* read/idle/request deadline, default 15s */

	/* [web] */
	char	*web_listen;		/* default 127.0.0.1:8081 */
	struct secret web_token;
	char	*public_url;		/* default http://<web_listen> */

	/* [github] */
	char	*github_api_url;	/* default https://api.github.com */
	struct secret github_webhook_secret;
	struct secret github_token;
	char	*github_app_id;		/* App ID or Client ID */
	struct secret github_private_key; /* PEM text */
	int64_t	 github_installation_id;	/* 0 when unset */
	char	*github_bot_login;	/* NULL when unset */

	/* [gitlab] */
	char	*gitlab_url;		/* default https://gitlab.com */
	struct secret gitlab_webhook_token;
	struct secret gitlab_signing_token;	/* whsec_<base64> */
	struct secret gitlab_token;
	char	*gitlab_bot_username;	/* NULL when unset */

	/* [trigger] */
	char	*label;			/* default agent */
	char	*command;		/* default /agent */
	unsigned allow;			/* ALLOW_* mask, default owner,member,collaborator */
	enum review_mode review;	/* default changes_requested */
	struct strlist trigger_repos;	/* repos: patterns (rules.h); empty: all */

	/* [agent] */
	char	*agent_command;		/* NULL when unset */
	int64_t	 agent_timeout_ms;	/* default 30m */
	struct strlist agent_env;	/* names passed through */
	uint64_t max_log_bytes;		/* default 10M */

	/* [sandbox] */
	enum net_mode network;		/* default none */
	struct strlist allow_hosts;
	struct strlist egress_pins;	/* hosts: name=address */
	uint64_t max_egress_bytes;	/* max_egress, default 1G */
	uint64_t memory_bytes;		/* default 4G */
	int	 pids;			/* default 512 */
	uint64_t disk_bytes;		/* default 10G */
	struct strlist extra_ro;
	char	*sandbox_root;		/* root: a tree in place of /usr, /etc */

	/* [setup]: what runs before the agent, cached as a layer */
	char	*setup_command;		/* NULL when unset */
	bool	 setup_from_repo;	/* .devcontainer/devcontainer.json */
	enum net_mode setup_network;	/* default none */
	struct strlist setup_allow_hosts;
	struct strlist setup_env;	/* names passed through to set-up only */
	int64_t	 setup_timeout_ms;	/* default 20m */
	struct strlist setup_key_files;	/* lockfiles: a name, or a path */
	uint64_t setup_cache_bytes;	/* cache_size, default 20G */

	/* [llm]: money in micro-units (budget.h); 0: no limit */
	struct secret anthropic_key;
	char	*anthropic_url;		/* default https://api.anthropic.com */
	struct secret openai_key;
	char	*openai_url;		/* default https://api.openai.com/v1 */
	char	*ca_file;		/* NULL: the system's certificates */
	struct pricelist prices;
	int64_t	 max_tokens;		/* per job, every token */
	int64_t	 max_cost;		/* per job */
	int64_t	 max_cost_per_day;	/* every job, per UTC day */
	int64_t	 max_cost_per_repo;	/* a repository's jobs, per UTC day */

	/* [runs] */
	int	 max_parallel;		/* default 2; 0 pauses running */
	int	 max_per_repo;		/* default 1 */
	char	*branch_prefix;		/* default handoff/ */
	bool	 draft;			/* default true */
	struct strlist protected_paths;	/* default: all of .github/workflows/ */
	int	 max_changed_files;	/* default 100 */
	uint64_t max_file_bytes;	/* max_file_size, default 50M */
	int64_t	 coalesce_ms;		/* default 10s; 0 turns folding off */
	int	 max_ci_fixes;		/* default 2 */
	char	*author_name;		/* NULL: the forge account's */
	char	*author_email;		/* NULL: its no-reply address */
	struct secret signing_key;	/* an OpenSSH private key; unset:
					   commits are not signed */

	/* [store] */
	int64_t	 keep_ms;		/* finished jobs kept; default 0: forever */
	int64_t	 gc_interval_ms;	/* serve's gc, default 1d */
};

/* Most errors config_load lists; past these, "... and N more". */
#define CONFIG_MAX_ERRORS	50
/* Room for err that holds all of them. */
#define CONFIG_ERRLEN		(CONFIG_MAX_ERRORS * 640)

/* Read and validate path. On error returns NULL and writes into err every
 * problem found, one a line, each naming file, line, key and what was
 * expected (as many as fit). Caller frees with config_free. */
struct config *config_load(const char *path, char *err, size_t errlen);
/* The built-in defaults alone (for tests); caller frees. */
struct config *config_defaults(void);
void config_free(struct config *cfg);
/* Print the effective settings as INI with secrets masked ("<set, from env:NAME>"). */
void config_print(const struct config *cfg, FILE *out);
/* check-config's checks of what only the host can tell (data_dir, the
 * agent's program, env names set) and a summary of what handoff will do:
 * problems on err, one a line naming the key; the summary on out as INI
 * comments. Returns how many settings cannot work. */
int config_print_check(const struct config *cfg, FILE *out, FILE *err);
/* Print the settings repository repo gets ([repo] sections applied). */
void config_print_repo(const struct config *cfg, const char *repo, FILE *out);

/*
 * [repo "PATTERN"] sections override per-repository keys ([agent],
 * [sandbox], [setup], [runs] but max_parallel, the [llm] budgets but
 * max_cost_per_day). Per key, the most specific matching section wins: an
 * exact name beats any glob, then more literal characters, then the later
 * section.
 */
/* Whether cfg has any [repo] section. */
bool config_has_repos(const struct config *cfg);
/* Make cfg the settings of repository repo (NULL: none matches): every
 * matching section applied, what it replaces freed, the sections dropped.
 * Returns how many sections applied. */
size_t config_apply_repo(struct config *cfg, const char *repo);
/* The field at offset off of struct config as repo gets it: in the most
 * specific section that sets it, else cfg's own. */
const void *config_repo_field(const struct config *cfg, const char *repo,
    size_t off);
#define CONFIG_REPO(cfg, repo, type, field) (*(const type *) \
	config_repo_field((cfg), (repo), offsetof(struct config, field)))

/* The line of path's [section] name; 0: not set there (a default). */
int config_key_line(const struct config *cfg, const char *section,
    const char *name);

/* Resolve the config path: explicit, else $HANDOFF_CONFIG, else ./handoff.ini. */
const char *config_default_path(const char *explicit_path);

#endif
