/*
 * `handoff check-config`: the configuration as loaded, every key with its
 * value in the units a user writes, secrets masked, then the [repo]
 * sections; or the settings one repository gets.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "config.h"
#include "config_check.h"
#include "config_impl.h"
#include "log.h"
#include "rules.h"

/* v in the largest unit that divides it: 25M, 30m, 250ms. */
static void
print_scaled(FILE *out, uint64_t v, const uint64_t *scale,
    const char *const *unit)
{
	size_t i;

	for (i = 0; i < 3 && (v == 0 || v % scale[i] != 0); i++)
		;
	fprintf(out, " %llu%s", (unsigned long long)(i < 3 ? v / scale[i] : v),
	    unit[i]);
}

/* k's value in c, after "name =": nothing when empty. */
static void
print_value(FILE *out, const struct config *c, const struct key *k)
{
	static const uint64_t size_scale[] = { 1ULL << 30, 1ULL << 20, 1ULL << 10 };
	static const char *const size_unit[] = { "G", "M", "K", "" };
	static const uint64_t dur_scale[] = { 3600000, 60000, 1000 };
	static const char *const dur_unit[] = { "h", "m", "s", "ms" };
	const struct pricelist *pl;
	const struct strlist *l;
	char m[4][32];
	const struct secret *s;
	const char *str;
	unsigned mask;
	size_t j;

	switch (k->kind) {
	case K_STR: case K_WORD: case K_URL: case K_LISTEN: case K_BRANCH:
		if ((str = *FIELD(c, k, char *const)) != NULL)
			fprintf(out, " %s", str);
		break;
	case K_SIZE:
		print_scaled(out, *FIELD(c, k, const uint64_t), size_scale,
		    size_unit);
		break;
	case K_DUR:
		print_scaled(out, (uint64_t)*FIELD(c, k, const int64_t),
		    dur_scale, dur_unit);
		break;
	case K_INT:
		fprintf(out, " %d", *FIELD(c, k, const int));
		break;
	case K_ID:
		if (*FIELD(c, k, const int64_t) != 0)
			fprintf(out, " %lld",
			    (long long)*FIELD(c, k, const int64_t));
		break;
	case K_BOOL:
		fputs(*FIELD(c, k, const bool) ? " true" : " false", out);
		break;
	case K_LOGLEVEL:
		fprintf(out, " %s", log_level_name(*FIELD(c, k, const int)));
		break;
	case K_ENUM:
		fprintf(out, " %s", k->names[*FIELD(c, k, const int)]);
		break;
	case K_ALLOW:
		mask = *FIELD(c, k, const unsigned);
		for (j = 0; k->names[j] != NULL; j++)
			if (mask & (1u << j))
				fprintf(out, "%s%s", mask & ((1u << j) - 1) ?
				    "," : " ", k->names[j]);
		break;
	case K_LIST:
		l = FIELD(c, k, const struct strlist);
		for (j = 0; j < l->n; j++)
			fprintf(out, "%s%s", j ? ", " : " ", l->v[j]);
		break;
	case K_MONEY:
		if (*FIELD(c, k, const int64_t) != 0) {
			budget_format_money(*FIELD(c, k, const int64_t), m[0],
			    sizeof(m[0]));
			fprintf(out, " %s", m[0]);
		}
		break;
	case K_PRICES:
		pl = FIELD(c, k, const struct pricelist);
		for (j = 0; j < pl->n; j++) {
			budget_format_money(pl->v[j].input, m[0], 32);
			budget_format_money(pl->v[j].output, m[1], 32);
			budget_format_money(pl->v[j].cache_read, m[2], 32);
			budget_format_money(pl->v[j].cache_write, m[3], 32);
			fprintf(out, "%s%s=%s/%s/%s/%s", j ? ", " : " ",
			    pl->v[j].model, m[0], m[1], m[2], m[3]);
		}
		break;
	case K_SECRET:
		s = FIELD(c, k, const struct secret);
		if (s->value == NULL)
			fputs(" <unset>", out);
		else if (strcmp(s->source, "inline") == 0)
			fputs(" <set, inline>", out);
		else
			fprintf(out, " <set, from %s>", s->source);
		break;
	}
}

/* Every key with the value repo gets (NULL: cfg's own). */
static void
print_keys(FILE *out, const struct config *cfg, const char *repo)
{
	const struct key *k;

	for (k = config_keys; k < config_keys + config_nkeys; k++) {
		if (k == config_keys || strcmp(k->section, k[-1].section) != 0)
			fprintf(out, "\n[%s]\n", k->section);
		fprintf(out, "%s =", k->name);	/* no trailing blank if empty */
		print_value(out, repo != NULL ? config_repo_holder(cfg, repo,
		    k) : cfg, k);
		fputc('\n', out);
	}
}

void
config_print(const struct config *cfg, FILE *out)
{
	const struct config_repo *rs;
	const struct key *k;
	size_t i;

	fprintf(out, "# handoff configuration%s%s, secrets masked\n",
	    cfg->path ? " from " : " (defaults)", cfg->path ? cfg->path : "");
	print_keys(out, cfg, NULL);
	/* repos is NULL when there are none: no arithmetic on it then. */
	for (rs = cfg->repos; cfg->nrepos > 0 &&
	    rs < cfg->repos + cfg->nrepos; rs++) {
		fprintf(out, "\n[repo \"%s\"]\n", rs->pattern);
		for (k = config_keys; k < config_keys + config_nkeys; k++) {
			i = (size_t)(k - config_keys);
			if (rs->lines[i] == 0)
				continue;
			fprintf(out, "%s.%s =", k->section, k->name);
			print_value(out, rs->vals, k);
			fputc('\n', out);
		}
	}
}

void
config_print_repo(const struct config *cfg, const char *repo, FILE *out)
{
	const struct config_repo *rs;

	fprintf(out, "# handoff configuration%s%s for %s, secrets masked\n",
	    cfg->path ? " from " : " (defaults)", cfg->path ? cfg->path : "",
	    repo);
	/* repos is NULL when there are none: no arithmetic on it then. */
	for (rs = cfg->repos; cfg->nrepos > 0 &&
	    rs < cfg->repos + cfg->nrepos; rs++)
		if (rules_repo_match(rs->pattern, repo))
			fprintf(out, "# [repo \"%s\"] (line %d) matches\n",
			    rs->pattern, rs->line);
	print_keys(out, cfg, repo);
}

/* One problem of the check, on err: "handoff: [warning: ]WHERE: why". */
static void
problem(FILE *err, const struct config *cfg, bool is_error,
    const char *section, const char *name, const char *msg)
{
	char where[PATH_MAX + 64];

	config_check_where(cfg, section, name, where, sizeof(where));
	fprintf(err, "handoff: %s%s: %s\n", is_error ? "" : "warning: ",
	    where, msg);
}

/* [section] env names this environment does not set: warnings, as serve's
 * environment may differ from the check's. */
static void
check_env_set(const struct config *cfg, const struct strlist *l,
    const char *section, FILE *err)
{
	char msg[256];
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (getenv(l->v[i]) != NULL)
			continue;
		snprintf(msg, sizeof(msg), "%s is not set here, so it would "
		    "not reach the %s (serve's environment may differ)",
		    l->v[i], strcmp(section, "agent") ? "set-up" : "agent");
		problem(err, cfg, false, section, "env", msg);
	}
}

/* The forge's intake and publishing, for the summary. */
static void
summary_forge(FILE *out, const char *forge, bool intake, const char *as)
{
	if (!intake && as == NULL)
		fprintf(out, "# %s: off\n", forge);
	else
		fprintf(out, "# %s intake: %s, %s\n", forge, intake ? "on" :
		    "off (no webhook secret or token)", as ? as :
		    "not publishing (no token or App: jobs cannot push)");
}

static void
summary_forges(const struct config *cfg, FILE *out)
{
	summary_forge(out, "GitHub", cfg->github_webhook_secret.value != NULL,
	    cfg->github_app_id ? "publishing as an App" :
	    cfg->github_token.value ? "publishing with a token" : NULL);
	summary_forge(out, "GitLab", cfg->gitlab_webhook_token.value != NULL ||
	    cfg->gitlab_signing_token.value != NULL, cfg->gitlab_token.value ?
	    "publishing with a token" : NULL);
}

int
config_print_check(const struct config *cfg, FILE *out, FILE *err)
{
	char msg[PATH_MAX * 2 + 128], path[PATH_MAX], dd[PATH_MAX * 2 + 128];
	int errors = 0, rc;
	bool dd_ok;
	size_t i;

	if (!(dd_ok = config_check_data_dir(cfg->data_dir, dd,
	    sizeof(dd)) == 0)) {
		problem(err, cfg, true, "server", "data_dir", dd);
		errors++;
	}
	rc = cfg->agent_command == NULL ? 0 : config_check_agent_program(
	    cfg->agent_command, cfg->sandbox_root, path, sizeof(path), msg,
	    sizeof(msg));
	if (rc == -1) {
		problem(err, cfg, true, "agent", "command", msg);
		errors++;
	}
	for (i = 0; i < cfg->nrepos; i++)
		if (config_check_repo_agent(cfg, &cfg->repos[i], msg,
		    sizeof(msg)) == -1) {
			fprintf(err, "handoff: %s\n", msg);
			errors++;
		}
	check_env_set(cfg, &cfg->agent_env, "agent", err);
	check_env_set(cfg, &cfg->setup_env, "setup", err);

	fprintf(out, "\n# What handoff will do:\n# webhooks: %s\n",
	    cfg->listen);
	summary_forges(cfg, out);
	if (cfg->agent_command == NULL)
		fprintf(out, "# agent: not set ([agent] command): jobs fail\n");
	else if (rc == 1)
		fprintf(out, "# agent: %s (found)\n", path);
	else
		fprintf(out, "# agent: %s (%s)\n", cfg->agent_command, rc == 0 ?
		    msg : "NOT FOUND: see above");
	fprintf(out, "# data_dir: %s (%s)\n", cfg->data_dir, dd_ok ? dd :
	    "NOT WRITABLE");
	fprintf(out, "# status pages: %s (%s)\n", cfg->web_listen,
	    cfg->web_token.value ? "token set" : "no token");
	fprintf(out, "# model gateway: %s%s%s\n", cfg->anthropic_key.value ?
	    "Anthropic" : "", cfg->anthropic_key.value &&
	    cfg->openai_key.value ? ", " : "", cfg->openai_key.value ?
	    "OpenAI" : cfg->anthropic_key.value ? "" : "off (no [llm] key)");
	if (errors > 0)
		fprintf(out, "# %d setting%s cannot work: see above\n", errors,
		    errors > 1 ? "s" : "");
	return errors;
}
