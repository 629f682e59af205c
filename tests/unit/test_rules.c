/* rules.c: which events ask for what, and who may ask. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "rules.h"
#include "tap.h"
#include "util.h"

static struct forge_event *
ev_new(enum forge forge, enum event_type type)
{
	struct forge_event *ev = xcalloc(1, sizeof(*ev));

	ev->forge = forge;
	ev->type = type;
	ev->repo = xstrdup("acme/widgets");
	ev->number = 7;
	ev->sender = xstrdup("alice");
	ev->association = xstrdup("OWNER");
	return ev;
}

static enum cmd_kind
decide(const struct config *cfg, struct forge_event *ev, char **instruction,
    const char **reason)
{
	struct command cmd;
	enum cmd_kind k;

	rules_decide(cfg, ev, &cmd);
	k = cmd.kind;
	if (instruction)
		*instruction = cmd.instruction ? xstrdup(cmd.instruction) : NULL;
	if (reason)
		*reason = cmd.reason;
	rules_command_clear(&cmd);
	return k;
}

static void
set(char **field, const char *v)
{
	free(*field);
	*field = v ? xstrdup(v) : NULL;
}

int
main(void)
{
	struct config *cfg = config_defaults();
	struct forge_event *ev;
	char *text;
	const char *reason;

	/* The command word and its subcommands. */
	is_int(rules_parse_command("/agent", "/agent revise make it blue", &text),
	    CMD_REVISE, "/agent revise TEXT");
	is_str(text, "make it blue", "revise text");
	free(text);
	is_int(rules_parse_command("/agent", "/agent make it blue\nand fast", &text),
	    CMD_REVISE, "/agent TEXT is a revise");
	is_str(text, "make it blue\nand fast", "text keeps later lines");
	free(text);
	is_int(rules_parse_command("/agent", "  /agent cancel", &text), CMD_CANCEL,
	    "leading spaces allowed");
	is_int(rules_parse_command("/agent", "/agent Retry", &text), CMD_RETRY,
	    "subcommands are case-insensitive");
	is_int(rules_parse_command("/agent", "/agent help", &text), CMD_HELP, "help");
	is_int(rules_parse_command("/agent", "/agent", &text), CMD_HELP,
	    "the word alone asks for help");
	is_int(rules_parse_command("/agent", "/agent revise   ", &text), CMD_HELP,
	    "revise without text asks for help");
	is_int(rules_parse_command("/agent", "/agents do it", &text), CMD_IGNORE,
	    "a longer word is not the command");
	is_int(rules_parse_command("/agent", "please /agent do it", &text),
	    CMD_IGNORE, "the word must start the first line");
	is_int(rules_parse_command("/agent", "hello\n/agent do it", &text),
	    CMD_IGNORE, "not on a later line");
	is_int(rules_parse_command("/agent", "/agent cancelled the thing", &text),
	    CMD_REVISE, "a subcommand must be a whole word");
	free(text);
	is_int(rules_parse_command("/agent", NULL, &text), CMD_IGNORE, "no body");

	is_int(rules_branch_issue("handoff/", "handoff/12-fix-typo"), 12, "branch issue");
	is_int(rules_branch_issue("handoff/", "handoff/12"), 12, "branch without slug");
	is_int(rules_branch_issue("handoff/", "handoff/x-12"), -1, "no number");
	is_int(rules_branch_issue("handoff/", "feature/12-x"), -1, "other prefix");
	is_int(rules_branch_issue("handoff/", "handoff/012-x"), -1, "leading zero");
	is_int(rules_branch_issue("handoff/", "handoff/99999999999999999999-x"), -1,
	    "overflow");
	is_int(rules_branch_issue("handoff/", NULL), -1, "no branch");

	/* The label. */
	ev = ev_new(FORGE_GITHUB, EV_ISSUE_LABELED);
	set(&ev->label, "agent");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IMPLEMENT, "agent label implements");
	set(&ev->label, "bug");
	is_int(decide(cfg, ev, NULL, &reason), CMD_IGNORE, "other label ignored");
	is_str(reason, "not the trigger label", "reason");
	set(&ev->label, "bug\nagent");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IMPLEMENT,
	    "GitLab: the label among several added");
	set(&ev->label, "agentx");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "a label that only starts alike");
	set(&ev->label, "agent");
	ev->sender_is_bot = true;
	is_int(decide(cfg, ev, NULL, &reason), CMD_IGNORE, "bots are ignored");
	ev->sender_is_bot = false;
	free(cfg->github_bot_login);
	cfg->github_bot_login = xstrdup("handoff-bot");
	set(&ev->sender, "Handoff-Bot");
	is_int(decide(cfg, ev, NULL, &reason), CMD_IGNORE, "its own events are ignored");
	forge_event_free(ev);

	/* Comments. */
	ev = ev_new(FORGE_GITHUB, EV_COMMENT);
	set(&ev->text, "/agent also update the docs");
	is_int(decide(cfg, ev, &text, NULL), CMD_REVISE, "owner's /agent revises");
	is_str(text, "also update the docs", "with its text");
	free(text);
	set(&ev->association, "NONE");
	is_int(decide(cfg, ev, NULL, &reason), CMD_IGNORE, "a stranger is ignored");
	is_str(reason, "author not allowed by [trigger] allow", "reason");
	set(&ev->association, "CONTRIBUTOR");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE,
	    "contributors are not allowed by default");
	set(&ev->association, "MEMBER");
	is_int(decide(cfg, ev, NULL, NULL), CMD_REVISE, "members are");
	set(&ev->association, NULL);
	ev->forge = FORGE_GITLAB;
	is_int(decide(cfg, ev, NULL, NULL), CMD_REVISE,
	    "GitLab comments pass on to the permission check");
	ev->forge = FORGE_GITHUB;
	set(&ev->association, "OWNER");
	set(&ev->text, "looks good to me");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "plain comments are ignored");
	set(&ev->text, "/agent cancel");
	ev->is_pr = true;
	set(&ev->head_branch, "handoff/7-fix");
	is_int(decide(cfg, ev, NULL, NULL), CMD_CANCEL, "cancel on the pull request");
	set(&ev->head_branch, "feature/x");
	is_int(decide(cfg, ev, NULL, &reason), CMD_IGNORE,
	    "a pull request that is not handoff's");
	forge_event_free(ev);

	/* Reviews. */
	ev = ev_new(FORGE_GITHUB, EV_REVIEW);
	ev->is_pr = true;
	set(&ev->head_branch, "handoff/7-fix");
	set(&ev->review_state, "changes_requested");
	set(&ev->text, "Please rename the function.");
	is_int(decide(cfg, ev, &text, NULL), CMD_REVISE, "changes requested revises");
	is_str(text, "Please rename the function.", "with the review body");
	free(text);
	set(&ev->review_state, "approved");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "approval asks for nothing");
	set(&ev->review_state, "commented");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "a plain comment review");
	set(&ev->text, "nit: /agent fix the nits");
	is_int(decide(cfg, ev, NULL, NULL), CMD_REVISE,
	    "a comment review mentioning the command word");
	cfg->review = REVIEW_COMMENTED;
	set(&ev->text, "a few notes");
	is_int(decide(cfg, ev, NULL, NULL), CMD_REVISE,
	    "review = commented: every comment review revises");
	cfg->review = REVIEW_NEVER;
	set(&ev->review_state, "changes_requested");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "review = never");
	cfg->review = REVIEW_CHANGES_REQUESTED;
	set(&ev->association, "NONE");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "a stranger's review");
	set(&ev->association, "OWNER");
	set(&ev->head_branch, "main");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "a review elsewhere");
	forge_event_free(ev);

	/* Inline comments. */
	ev = ev_new(FORGE_GITHUB, EV_REVIEW_COMMENT);
	ev->is_pr = true;
	set(&ev->head_branch, "handoff/7-fix");
	set(&ev->text, "this name is wrong");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE,
	    "inline comments without the word wait for their review");
	set(&ev->text, "/agent use snake_case here");
	is_int(decide(cfg, ev, NULL, NULL), CMD_REVISE, "an inline /agent revises");
	forge_event_free(ev);

	/* Closing and CI. */
	ev = ev_new(FORGE_GITHUB, EV_PR_CLOSED);
	set(&ev->head_branch, "handoff/7-fix");
	is_int(decide(cfg, ev, NULL, NULL), CMD_CLOSE, "closed pull request");
	ev->sender_is_bot = true;
	is_int(decide(cfg, ev, NULL, NULL), CMD_CLOSE, "closed by a merge bot");
	ev->sender_is_bot = false;
	set(&ev->head_branch, "feature");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "someone else's pull request");
	forge_event_free(ev);
	ev = ev_new(FORGE_GITLAB, EV_CI_COMPLETED);
	set(&ev->head_branch, "handoff/7-fix");
	set(&ev->conclusion, "failed");
	is_int(decide(cfg, ev, NULL, NULL), CMD_FIX_CI, "failed pipeline");
	set(&ev->conclusion, "success");
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "passing pipeline");
	forge_event_free(ev);

	ev = ev_new(FORGE_GITHUB, EV_PING);
	is_int(decide(cfg, ev, NULL, &reason), CMD_IGNORE, "ping");
	is_str(reason, "ping", "ping reason");
	forge_event_free(ev);

	/* [trigger] repos patterns. */
	ok(rules_repo_match("acme/*", "acme/widgets"), "owner/* matches");
	ok(rules_repo_match("acme/*", "ACME/Widgets"), "case ignored");
	ok(rules_repo_match("Acme/Widgets", "acme/widgets"), "pattern case ignored");
	ok(!rules_repo_match("acme/*", "acme/sub/widgets"), "* stops at /");
	ok(!rules_repo_match("acme/*", "other/widgets"), "another owner");
	ok(!rules_repo_match("acme/*", "acme"), "no name");
	ok(!rules_repo_match("acme/*", "acme/"), "empty name");
	ok(!rules_repo_match("acme/*", "acme-x/widgets"), "owner prefix only");
	ok(!rules_repo_match("acme/widgets", "acme/widgets2"), "exact name");
	ok(!rules_repo_match("acme/widgets", "acme/widget"), "shorter name");
	ok(rules_repo_match("*/*", "a/b"), "*/* matches any owner/name");
	ok(!rules_repo_match("*/*", "a/b/c"), "*/* not a nested path");
	ok(rules_repo_match("acme/w?dg*s", "acme/wIdgets"), "? and * in a part");
	ok(!rules_repo_match("acme/w?dgets", "acme/wdgets"), "? is one character");
	ok(rules_repo_match("acme/*-*-x", "acme/a-b-c-x"), "* backtracks");
	ok(rules_repo_match("group/**", "group/p"), "** one part");
	ok(rules_repo_match("group/**", "Group/sub/deeper/p"), "** several parts");
	ok(!rules_repo_match("group/**", "group"), "** needs a part");
	ok(!rules_repo_match("group/**", "group/"), "** not an empty part");
	ok(!rules_repo_match("group/**", "group/a//b"), "** no empty part inside");
	ok(!rules_repo_match("group/**", "groupx/p"), "** after the whole group");
	ok(rules_repo_match("group/sub/proj", "group/sub/proj"), "full GitLab path");
	ok(!rules_repo_match("group/*/proj", "group/a/b/proj"), "* one part deep");
	ok(rules_check_repo_pattern("a/b", 3), "a pattern");
	ok(rules_check_repo_pattern("*/**", 4), "everything, nested too");
	ok(!rules_check_repo_pattern("a/b\0c", 5), "a NUL in a pattern");
	ok(!rules_check_repo_pattern("/a/b", 4), "a leading /");
	ok(!rules_check_repo_pattern("a/b\xc3\xa9", 5), "non-ASCII");

	ev = ev_new(FORGE_GITHUB, EV_ISSUE_LABELED);
	set(&ev->label, "agent");
	cfg->trigger_repos.v = xcalloc(3, sizeof(char *));
	cfg->trigger_repos.v[0] = xstrdup("other/*");
	cfg->trigger_repos.v[1] = xstrdup("Acme/W*");
	cfg->trigger_repos.n = 2;
	is_int(decide(cfg, ev, NULL, NULL), CMD_IMPLEMENT, "a listed repository");
	set(&ev->repo, "acme2/widgets");
	is_int(decide(cfg, ev, NULL, &reason), CMD_IGNORE, "an unlisted one");
	is_str(reason, "repository not in [trigger] repos", "its reason");
	set(&ev->repo, NULL);
	is_int(decide(cfg, ev, NULL, NULL), CMD_IGNORE, "no repository named");
	forge_event_free(ev);
	ev = ev_new(FORGE_GITLAB, EV_COMMENT);
	set(&ev->repo, "elsewhere/widgets");
	set(&ev->text, "/agent cancel");
	is_int(decide(cfg, ev, NULL, &reason), CMD_IGNORE, "a cancel elsewhere");
	is_str(reason, "repository not in [trigger] repos", "its reason");
	set(&ev->repo, "acme/widgets");
	is_int(decide(cfg, ev, NULL, NULL), CMD_CANCEL, "a cancel here");
	forge_event_free(ev);
	ev = ev_new(FORGE_GITHUB, EV_PING);
	set(&ev->repo, "elsewhere/x");
	decide(cfg, ev, NULL, &reason);
	is_str(reason, "ping", "a ping is a ping wherever from");
	forge_event_free(ev);

	config_free(cfg);
	return done_testing();
}
