/*
 * Forge events to commands (INTERFACE.md "Forge commands"): which events
 * start, steer or close a thread's work, and who may ask. The runner checks
 * the requester's permission through the API again before anything runs.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "util.h"

#define MAX_INSTRUCTION	(64 * 1024)

static void
ignore(struct command *cmd, const char *reason)
{
	cmd->kind = CMD_IGNORE;
	cmd->reason = reason;
}

/* The branch prefix of the event's repository ([repo] sections). */
static const char *
branch_prefix(const struct config *cfg, const struct forge_event *ev)
{
	return CONFIG_REPO(cfg, ev->repo, char *, branch_prefix);
}

/* GitHub's author_association against [trigger] allow. */
static bool
association_allowed(unsigned allow, const char *assoc)
{
	if (assoc == NULL)
		return false;
	if (strcmp(assoc, "OWNER") == 0)
		return allow & ALLOW_OWNER;
	if (strcmp(assoc, "MEMBER") == 0)
		return allow & ALLOW_MEMBER;
	if (strcmp(assoc, "COLLABORATOR") == 0)
		return allow & ALLOW_COLLABORATOR;
	if (strcmp(assoc, "CONTRIBUTOR") == 0)
		return allow & ALLOW_CONTRIBUTOR;
	return false;
}

static bool
is_own_or_bot(const struct config *cfg, const struct forge_event *ev)
{
	const char *self = ev->forge == FORGE_GITHUB ? cfg->github_bot_login :
	    cfg->gitlab_bot_username;

	if (ev->sender_is_bot)
		return true;
	return self != NULL && ev->sender != NULL &&
	    strcasecmp(self, ev->sender) == 0;
}

/* GitLab may add several labels in one event: ev->label holds them one a line. */
static bool
label_added(const char *labels, const char *want)
{
	size_t n = strlen(want);
	const char *p = labels, *nl;

	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		if ((size_t)(nl ? nl - p : (ptrdiff_t)strlen(p)) == n &&
		    strncmp(p, want, n) == 0)
			return true;
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static bool
word_end(char c)
{
	return c == '\0' || isspace((unsigned char)c);
}

static char *
trimmed_copy(const char *s)
{
	const char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (e == s)
		return NULL;
	return xstrndup(s, (size_t)(e - s) < MAX_INSTRUCTION ?
	    (size_t)(e - s) : MAX_INSTRUCTION);
}

enum cmd_kind
rules_parse_command(const char *word, const char *body, char **text)
{
	static const struct { const char *name; enum cmd_kind kind; } subs[] = {
		{ "revise", CMD_REVISE }, { "cancel", CMD_CANCEL },
		{ "retry", CMD_RETRY }, { "help", CMD_HELP },
	};
	size_t wlen = strlen(word), i, n;
	const char *p = body;

	*text = NULL;
	if (body == NULL || wlen == 0)
		return CMD_IGNORE;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, word, wlen) != 0 || !word_end(p[wlen]))
		return CMD_IGNORE;
	p += wlen;
	while (*p == ' ' || *p == '\t')
		p++;
	for (i = 0; i < nitems(subs); i++) {
		n = strlen(subs[i].name);
		if (strncasecmp(p, subs[i].name, n) == 0 && word_end(p[n])) {
			if (subs[i].kind != CMD_REVISE)
				return subs[i].kind;
			*text = trimmed_copy(p + n);
			return *text ? CMD_REVISE : CMD_HELP;
		}
	}
	/* "/agent TEXT" is a revise; "/agent" alone asks for help. */
	*text = trimmed_copy(p);
	return *text ? CMD_REVISE : CMD_HELP;
}

/* One part of a repository pattern: not "**", its characters allowed. */
static bool
pattern_part_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!(isascii((unsigned char)s[i]) &&
		    (isalnum((unsigned char)s[i]) || strchr("._-*?", s[i]))))
			return false;
	return true;
}

int
rules_check_repo_pattern(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *slash;
	size_t parts = 0, n;

	if (len == 0 || len > RULES_REPO_PATTERN_MAX || memchr(s, '\0', len))
		return 0;
	for (;;) {
		slash = memchr(p, '/', (size_t)(end - p));
		n = (size_t)((slash ? slash : end) - p);
		parts++;
		if (n == 2 && strncmp(p, "**", 2) == 0) {
			/* Only as the last part, after at least one other. */
			if (slash != NULL || parts < 2)
				return 0;
		} else if (!pattern_part_ok(p, n) || memmem(p, n, "**", 2))
			return 0;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return parts >= 2;
}

/* Glob of one part ('*' and '?'), ASCII case ignored: the pattern's
 * [p, pe) against the name's [s, se). */
static bool
part_match(const char *p, const char *pe, const char *s, const char *se)
{
	const char *star = NULL, *resume = NULL;

	while (s < se) {
		if (p < pe && *p == '*') {
			star = ++p;
			resume = s;
		} else if (p < pe && (*p == '?' || tolower((unsigned char)*p) ==
		    tolower((unsigned char)*s))) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star;
			s = ++resume;
		} else
			return false;
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

bool
rules_repo_match(const char *pattern, const char *repo)
{
	const char *p = pattern, *s = repo, *pe, *se;

	for (;;) {
		pe = strchr(p, '/');
		pe = pe ? pe : p + strlen(p);
		if (pe - p == 2 && strncmp(p, "**", 2) == 0 && *pe == '\0') {
			/* One or more parts, none empty. */
			if (*s == '\0' || *s == '/' ||
			    s[strlen(s) - 1] == '/' || strstr(s, "//"))
				return false;
			return true;
		}
		se = strchr(s, '/');
		se = se ? se : s + strlen(s);
		if (se == s || !part_match(p, pe, s, se))
			return false;
		if (*pe == '\0' || *se == '\0')
			return *pe == '\0' && *se == '\0';
		p = pe + 1;
		s = se + 1;
	}
}

bool
rules_repo_allowed(const struct config *cfg, const char *repo)
{
	size_t i;

	if (cfg->trigger_repos.n == 0)
		return true;
	if (repo == NULL)
		return false;
	for (i = 0; i < cfg->trigger_repos.n; i++)
		if (rules_repo_match(cfg->trigger_repos.v[i], repo))
			return true;
	return false;
}

int64_t
rules_branch_issue(const char *prefix, const char *branch)
{
	size_t plen = strlen(prefix);
	const char *p;
	int64_t n = 0;

	if (branch == NULL || strncmp(branch, prefix, plen) != 0)
		return -1;
	p = branch + plen;
	if (!isdigit((unsigned char)*p) || *p == '0')
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (INT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*p - '0');
	}
	return *p == '-' || *p == '\0' ? n : -1;
}

/*
 * A comment on an issue, on handoff's pull request or on a line of its diff
 * whose first line starts with the command word, from someone allowed.
 * (Inline comments without the word that belong to a review arrive with
 * the review, through the API.)
 */
static void
decide_comment(const struct config *cfg, const struct forge_event *ev,
    struct command *cmd)
{
	char *text;

	if (ev->is_pr && ev->head_branch != NULL) {
		cmd->key = THREAD_BY_BRANCH;
		cmd->issue = rules_branch_issue(branch_prefix(cfg, ev),
		    ev->head_branch);
		if (cmd->issue < 0) {
			ignore(cmd, "not a handoff pull request");
			return;
		}
	} else
		cmd->key = ev->is_pr ? THREAD_BY_PR : THREAD_BY_ISSUE;
	cmd->kind = rules_parse_command(cfg->command, ev->text, &text);
	if (cmd->kind == CMD_IGNORE) {
		ignore(cmd, "no command");
		return;
	}
	if (ev->forge == FORGE_GITHUB &&
	    !association_allowed(cfg->allow, ev->association)) {
		free(text);
		ignore(cmd, "author not allowed by [trigger] allow");
		return;
	}
	cmd->instruction = text;
}

static void
decide_review(const struct config *cfg, const struct forge_event *ev,
    struct command *cmd)
{
	const char *state = ev->review_state ? ev->review_state : "";
	bool changes = strcmp(state, "changes_requested") == 0;
	bool commented = strcmp(state, "commented") == 0;
	bool mentions = ev->text != NULL && strstr(ev->text, cfg->command);

	cmd->issue = rules_branch_issue(branch_prefix(cfg, ev),
	    ev->head_branch);
	if (cmd->issue < 0) {
		ignore(cmd, "not a handoff pull request");
		return;
	}
	if (cfg->review == REVIEW_NEVER && !mentions) {
		ignore(cmd, "reviews do not trigger ([trigger] review = never)");
		return;
	}
	if (!changes && !(commented &&
	    (mentions || cfg->review == REVIEW_COMMENTED))) {
		ignore(cmd, "review asks for nothing");
		return;
	}
	if (!association_allowed(cfg->allow, ev->association)) {
		ignore(cmd, "author not allowed by [trigger] allow");
		return;
	}
	cmd->kind = CMD_REVISE;
	cmd->key = THREAD_BY_BRANCH;
	cmd->instruction = ev->text ? trimmed_copy(ev->text) : NULL;
}

void
rules_decide(const struct config *cfg, const struct forge_event *ev,
    struct command *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->issue = ev->number;

	switch (ev->type) {
	case EV_PING:
		ignore(cmd, "ping");
		return;
	case EV_INSTALLATION:
		ignore(cmd, "installation event");
		return;
	case EV_OTHER:
		ignore(cmd, ev->why_other ? ev->why_other : "event not handled");
		return;
	default:
		break;
	}
	/* An App installed broadly hears of every repository. */
	if (!rules_repo_allowed(cfg, ev->repo)) {
		ignore(cmd, "repository not in [trigger] repos");
		return;
	}
	/* People steer; bots do not. A closed pull request or a CI result
	 * counts whoever sent it (a merge bot, the CI app, handoff itself). */
	if (ev->type != EV_PR_CLOSED && ev->type != EV_CI_COMPLETED &&
	    is_own_or_bot(cfg, ev)) {
		ignore(cmd, "sent by a bot");
		return;
	}
	switch (ev->type) {
	case EV_ISSUE_LABELED:
		if (ev->label == NULL || !label_added(ev->label, cfg->label)) {
			ignore(cmd, "not the trigger label");
			return;
		}
		cmd->kind = CMD_IMPLEMENT;
		cmd->key = THREAD_BY_ISSUE;
		return;
	case EV_COMMENT:
	case EV_REVIEW_COMMENT:
		decide_comment(cfg, ev, cmd);
		return;
	case EV_REVIEW:
		decide_review(cfg, ev, cmd);
		return;
	case EV_PR_CLOSED:
		cmd->issue = rules_branch_issue(branch_prefix(cfg, ev),
		    ev->head_branch);
		if (cmd->issue < 0) {
			ignore(cmd, "not a handoff pull request");
			return;
		}
		cmd->kind = CMD_CLOSE;
		cmd->key = THREAD_BY_BRANCH;
		return;
	case EV_CI_COMPLETED:
		cmd->issue = rules_branch_issue(branch_prefix(cfg, ev),
		    ev->head_branch);
		if (cmd->issue < 0) {
			ignore(cmd, "not a handoff branch");
			return;
		}
		if (ev->conclusion == NULL ||
		    (strcmp(ev->conclusion, "failure") != 0 &&
		    strcmp(ev->conclusion, "timed_out") != 0 &&
		    strcmp(ev->conclusion, "failed") != 0)) {
			ignore(cmd, "CI did not fail");
			return;
		}
		if (CONFIG_REPO(cfg, ev->repo, int, max_ci_fixes) == 0) {
			ignore(cmd, "CI fixes are off ([runs] max_ci_fixes = 0)");
			return;
		}
		cmd->kind = CMD_FIX_CI;
		cmd->key = THREAD_BY_BRANCH;
		return;
	default:
		ignore(cmd, "event not handled");
		return;
	}
}

void
rules_command_clear(struct command *cmd)
{
	free(cmd->instruction);
	memset(cmd, 0, sizeof(*cmd));
}

const char *
rules_kind_name(enum cmd_kind kind)
{
	static const char *const names[] = { "ignore", "implement", "revise",
	    "cancel", "retry", "help", "fix-ci", "close" };

	return (size_t)kind < nitems(names) ? names[kind] : "?";
}
