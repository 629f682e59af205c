/*
 * Checks of single config values, for config.c: each says whether a value
 * is well-formed for the keys that use it; and [agent] env against secrets.
 */
#ifndef HANDOFF_CONFIG_CHECK_H
#define HANDOFF_CONFIG_CHECK_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct config_repo;
struct secret;
struct strlist;

/* Whether s holds a control character (or, with no_space, whitespace). */
bool config_check_has_bad_char(const char *s, bool no_space);
/* host[:port] with an IPv4 address, a [bracketed] IPv6 address or a name;
 * the port required with need_port. */
bool config_check_host_port(const char *s, bool need_port);
/* An http:// or https:// URL with a host, without whitespace. */
bool config_check_url(const char *s);
/* A branch prefix git check-ref-format would take with a slug after it. */
bool config_check_branch_prefix(const char *s);

/* The list and secret checks of the key table: 1 when the len bytes at s
 * pass, else 0. */
/* An environment variable's name. */
int config_check_env_name(const char *s, size_t len);
/* An absolute path without control characters. */
int config_check_abs_path(const char *s, size_t len);
/* An absolute path without control characters of a file we may read. */
int config_check_file(const char *s, size_t len);
/* A tree for [sandbox] root: absolute, a directory and no link, owned by
 * root or handoff's user and not writable by others, with a usr directory
 * or bin/sh. 0, or -1 with the reason in err. */
int config_check_root_tree(const char *dir, char *err, size_t errlen);
int config_check_root(const char *s, size_t len);
/* A path pattern without control characters. */
int config_check_pattern(const char *s, size_t len);
/* A PEM block ("-----BEGIN ..."), after leading whitespace. */
int config_check_pem(const char *s, size_t len);
/* A Standard Webhooks key: "whsec_" and the base64 of 24 to 64 bytes. */
int config_check_whsec(const char *s, size_t len);

/* A GitHub App's numeric ID or Client ID ("Iv..."), not its name. */
int config_check_app_id(const char *s, size_t len);
/* A GitLab instance's http(s) URL, not ending in /api/v4. */
int config_check_gitlab_url(const char *s, size_t len);
/* Whether listeners a and b (host:port) would take the same port. */
bool config_check_listens_clash(const char *a, const char *b);

/* Whether v (an environment variable's value) carries secret s. */
bool config_check_carries_secret(const char *v, const struct secret *s);
/* A [setup] key_files entry: a name or a path below the repository's top
 * without "." or ".." parts, '*' and '?' within a part. */
int config_check_key_file(const char *s, size_t len);
/* Whether an env list of section keeps handoff's secrets out of the
 * sandbox (lines: where each key of the table was set). 0, or -1 with
 * "[section] env: ..." in msg, naming the variable and keys, never a
 * value. */
int config_check_env_list(const struct config *cfg, const struct strlist *list,
    const char *section, const int *lines, char *msg, size_t msglen);
/* The same, the key named by label ("[repo \"acme/web\"] agent.env")
 * in msg. */
int config_check_env_key(const struct config *cfg, const struct strlist *list,
    const char *label, const int *lines, char *msg, size_t msglen);
/* Whether cfg's [agent] env keeps secrets from the agent (lines: where
 * each key of the table was set). 0, or -1 with "[agent] env: ..." in
 * msg, naming the variable and keys, never a value. */
int config_check_agent_env(const struct config *cfg, const int *lines,
    char *msg, size_t msglen);

/*
 * What only the host can tell, as the user running the check. data_dir:
 * itself, or the nearest directory above it that exists when it is to be
 * made, writable (and its store, if any); 0 with "writable by USER..." in
 * msg, or -1 with why not.
 */
int config_check_data_dir(const char *dir, char *msg, size_t msglen);
/* The program an [agent] command runs, looked up as the sandbox's shell
 * does (root: [sandbox] root, or NULL): 1 with its path in path, -1 when
 * it is missing or not executable, 0 when it cannot be told (a shell
 * construct, a path in the repository); why in msg. */
int config_check_agent_program(const char *command, const char *root,
    char *path, size_t pathlen, char *msg, size_t msglen);
/* Where cfg sets a key, for a message: "FILE:LINE: [section] name". */
void config_check_where(const struct config *cfg, const char *section,
    const char *name, char *buf, size_t len);
/* The same for a [repo] section's agent.command, if it sets one (with its
 * own [sandbox] root, else cfg's): 0, or -1 with "FILE:LINE: [repo
 * \"PATTERN\"] agent.command: why" in err. */
int config_check_repo_agent(const struct config *cfg,
    const struct config_repo *rs, char *err, size_t errlen);
/* What serve checks at start: data_dir writable, the agent's programs
 * there. 0, or -1 with "FILE:LINE: [section] key: why" in err. */
int config_check_host(const struct config *cfg, char *err, size_t errlen);

#endif
