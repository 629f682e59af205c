/*
 * Unit tests for json.c, github_event.c and gitlab_event.c: every sample
 * delivery under webhooks/samples parses into the right event with the
 * fields its JSON holds, and malformed input fails with a reason.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "github_event.h"
#include "gitlab_event.h"
#include "json.h"
#include "payload.h"
#include "util.h"
#include "tap.h"

#define SAMPLE_MAX	(16 * 1024 * 1024)

static const char *srcdir;
static char err[256];

/* The bytes of a file under SRCDIR; stops the test when it is missing. */
static char *
load(const char *rel, size_t *len)
{
	char *path = xasprintf("%s/%s", srcdir, rel), *buf;

	if ((buf = util_read_file(path, SAMPLE_MAX, len)) == NULL) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	free(path);
	return buf;
}

/* A sample as a cJSON tree, parsed by cJSON itself, to edit or compare. */
static cJSON *
sample(const char *rel)
{
	size_t len;
	char *buf = load(rel, &len);
	cJSON *root = cJSON_Parse(buf);

	if (root == NULL) {
		printf("Bail out! %s is not JSON\n", rel);
		exit(1);
	}
	free(buf);
	return root;
}

/*
 * The node at a dotted path, found with cJSON's own calls rather than
 * json_at, so expectations do not come from the code under test.
 */
static const cJSON *
get(const cJSON *root, const char *path)
{
	char *copy = xstrdup(path), *part, *save = NULL;
	const cJSON *node = root;

	for (part = strtok_r(copy, ".", &save); part != NULL && node != NULL;
	    part = strtok_r(NULL, ".", &save)) {
		if (cJSON_IsArray(node))
			node = cJSON_GetArrayItem(node, atoi(part));
		else
			node = cJSON_GetObjectItemCaseSensitive(node, part);
	}
	free(copy);
	return node;
}

static const char *
jstr(const cJSON *root, const char *path)
{
	const cJSON *node = get(root, path);

	return cJSON_IsString(node) ? node->valuestring : NULL;
}

static long long
jint(const cJSON *root, const char *path, long long def)
{
	const cJSON *node = get(root, path);

	return cJSON_IsNumber(node) ? (long long)node->valuedouble : def;
}

static bool
is_bot(const cJSON *root, const char *path)
{
	const char *s = jstr(root, path);

	return s != NULL && strcmp(s, "Bot") == 0;
}

/* Replace, add (value) or delete (NULL) the member at a dotted path. */
static void
set(cJSON *root, const char *path, cJSON *value)
{
	char *copy = xstrdup(path), *last = strrchr(copy, '.');
	cJSON *parent = root;

	if (last != NULL) {
		*last++ = '\0';
		parent = (cJSON *)get(root, copy);
	} else
		last = copy;
	if (parent == NULL) {
		printf("Bail out! no parent for %s\n", path);
		exit(1);
	}
	if (value == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(parent, last);
	else if (cJSON_GetObjectItemCaseSensitive(parent, last) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(parent, last, value);
	else
		cJSON_AddItemToObject(parent, last, value);
	free(copy);
}

/* Serialize root, parse it as a delivery of name, delete root. */
static struct forge_event *
deliver(int gitlab, const char *name, cJSON *root)
{
	char *s = cJSON_PrintUnformatted(root);
	struct forge_event *ev;

	err[0] = '\0';
	if (gitlab)
		ev = glev_parse(name, s, strlen(s), err, sizeof(err));
	else
		ev = ghev_parse(name, s, strlen(s), err, sizeof(err));
	cJSON_free(s);
	cJSON_Delete(root);
	return ev;
}

static struct forge_event *
deliver_bytes(int gitlab, const char *name, const char *s, size_t len)
{
	err[0] = '\0';
	if (gitlab)
		return glev_parse(name, s, len, err, sizeof(err));
	return ghev_parse(name, s, len, err, sizeof(err));
}

/* Input that must be refused with a reason mentioning want. */
static void
refused(struct forge_event *ev, const char *want, const char *what)
{
	ok(ev == NULL, "%s: refused", what);
	if (!ok(strstr(err, want) != NULL, "%s: reason mentions \"%s\"",
	    what, want))
		printf("#   reason: \"%s\"\n", err);
	forge_event_free(ev);
}

/* ---- json.c ---- */

static void
test_json(void)
{
	const char *doc = "{\"a\":{\"b\":[{\"c\":7},{\"c\":1.5}],\"s\":\"abcdef\","
	    "\"u\":\"h\xc3\xa9llo\",\"t\":true,\"n\":null,\"q\":\"12\","
	    "\"big\":9223372036854775807,\"min\":-9223372036854775808,"
	    "\"huge\":1e300,\"e\":1e3,\"neg\":-42}}";
	cJSON *root = json_parse(doc, strlen(doc), JSON_MAX_DEPTH);
	char *s, *deep, ebuf[128];
	int64_t v;
	size_t i;

	ok(root != NULL, "json_parse: a valid document");
	is_int(json_int(root, "a.b.0.c", -1), 7, "json_int: array index in path");
	is_int(json_int(root, "a.b.1.c", -1), -1, "json_int: 1.5 is not integral");
	is_int(json_int(root, "a.q", -1), -1, "json_int: a numeric string is not a number");
	is_int(json_int(root, "a.e", -1), 1000, "json_int: 1e3 is 1000");
	is_int(json_int(root, "a.neg", 0), -42, "json_int: negative");
	is_int(json_int(root, "a.big", -1), -1,
	    "json_int: 2^63-1 rounds to 2^63 as a double, out of range");
	ok(json_int(root, "a.min", 0) == INT64_MIN, "json_int: INT64_MIN");
	is_int(json_int(root, "a.huge", -1), -1, "json_int: 1e300 out of range");
	is_int(json_int(root, "a.b.9.c", -1), -1, "json_int: index past the end");
	is_int(json_int(root, "a.missing", 5), 5, "json_int: default when absent");
	is_int(json_int(root, "a..b", 5), 5, "json_int: empty path component");
	s = json_str(root, "a.s", 3);
	is_str(s, "abc", "json_str: cut to maxlen");
	free(s);
	s = json_str(root, "a.u", 2);
	is_str(s, "h", "json_str: a cut does not split a UTF-8 sequence");
	free(s);
	s = json_str(root, "a.u", 64);
	is_str(s, "h\xc3\xa9llo", "json_str: whole string when short");
	free(s);
	ok(json_str(root, "a.n", 8) == NULL, "json_str: null is NULL");
	ok(json_str(root, "a.t", 8) == NULL, "json_str: a boolean is NULL");
	ok(json_str(root, "a.s.x", 8) == NULL, "json_str: path through a string");
	ok(json_bool(root, "a.t", false), "json_bool: true");
	ok(json_bool(root, "a.s", true), "json_bool: default for a string");
	ok(json_has(root, "a.b"), "json_has: present");
	ok(!json_has(root, "a.n"), "json_has: null is not there");
	ok(!json_has(root, "a.zz"), "json_has: absent");

	s = json_need_str(root, "a.zz", 8, "ctx", ebuf, sizeof(ebuf));
	ok(s == NULL, "json_need_str: absent");
	is_str(ebuf, "ctx: missing a.zz", "json_need_str: reason for absent");
	s = json_need_str(root, "a.e", 8, "ctx", ebuf, sizeof(ebuf));
	is_str(ebuf, "ctx: a.e is not a string", "json_need_str: reason for a number");
	ok(json_need_int(root, "a.q", &v, "ctx", ebuf, sizeof(ebuf)) == -1,
	    "json_need_int: string");
	is_str(ebuf, "ctx: a.q is not an integer", "json_need_int: reason");
	ok(json_need_int(root, "a.n", &v, "ctx", ebuf, sizeof(ebuf)) == -1,
	    "json_need_int: null");
	is_str(ebuf, "ctx: missing a.n", "json_need_int: null is missing");
	ok(json_need_int(root, "a.neg", &v, "ctx", ebuf, sizeof(ebuf)) == 0 &&
	    v == -42, "json_need_int: value");
	json_free(root);

	s = " {\"a\":1} \r\n\t";
	ok((root = json_parse(s, strlen(s), 4)) != NULL,
	    "json_parse: whitespace around the value");
	json_free(root);
	ok(json_parse("{\"a\":1} x", 9, 4) == NULL, "json_parse: trailing garbage");
	ok(json_parse("{\"a\":1}{}", 9, 4) == NULL, "json_parse: two values");
	ok(json_parse("{\"a\":1}\0", 8, 4) == NULL, "json_parse: a NUL after the value");
	ok(json_parse("{\"a\":", 5, 4) == NULL, "json_parse: truncated");
	ok(json_parse("", 0, 4) == NULL, "json_parse: empty");
	ok(json_parse(NULL, 3, 4) == NULL, "json_parse: NULL");
	/* Not NUL-terminated: the parser must stay inside len. */
	s = xmalloc(7);
	memcpy(s, "[1,2,3]", 7);
	ok((root = json_parse(s, 7, 4)) != NULL && cJSON_GetArraySize(root) == 3,
	    "json_parse: buffer without a terminator");
	json_free(root);
	ok(json_parse(s, 6, 4) == NULL, "json_parse: the same bytes cut short");
	free(s);

	/* Depth: 64 levels pass, 65 do not; brackets in strings do not count. */
	deep = xmalloc(200002);
	for (i = 0; i < 64; i++) {
		deep[i] = '[';
		deep[64 + i] = ']';
	}
	ok((root = json_parse(deep, 128, 64)) != NULL, "json_parse: depth 64 of 64");
	json_free(root);
	ok(json_parse(deep, 128, 63) == NULL, "json_parse: depth 64 of 63");
	for (i = 0; i < 100000; i++) {
		deep[i] = '[';
		deep[100000 + i] = ']';
	}
	ok(json_parse(deep, 200000, JSON_MAX_DEPTH) == NULL,
	    "json_parse: depth 100000");
	memcpy(deep, "[\"", 2);
	memset(deep + 2, '[', 1000);
	memcpy(deep + 1002, "\"]", 2);
	ok((root = json_parse(deep, 1004, 2)) != NULL,
	    "json_parse: brackets inside a string do not nest");
	json_free(root);
	s = "[\"\\\"[[[[[\",\"\\\\\"]";
	ok((root = json_parse(s, strlen(s), 1)) != NULL,
	    "json_parse: escaped quotes and backslashes keep the string open/closed");
	json_free(root);
	s = "[\"\\\\\",[[]]]";
	ok(json_parse(s, strlen(s), 2) == NULL,
	    "json_parse: an escaped backslash ends the string, later brackets count");
	free(deep);
}

/* ---- GitHub samples ---- */

enum { N_ISSUES, N_COMMENT, N_REVIEW, N_REVIEW_COMMENT, N_CHECK_SUITE,
    N_PR, N_PING, N_INSTALLATION, N_KINDS };
static const char *const kinds[N_KINDS] = { "issues", "issue_comment",
    "pull_request_review", "pull_request_review_comment", "check_suite",
    "pull_request", "ping", "installation" };
/* How many examples of each event @octokit/webhooks-examples 7.6.1 has. */
static const int want_count[N_KINDS] = { 29, 9, 4, 5, 9, 2, 4, 7 };

static enum event_type
github_want(const char *name, const char *action)
{
	static const struct { const char *name, *action; enum event_type t; }
	map[] = {
		{ "issues", "labeled", EV_ISSUE_LABELED },
		{ "issue_comment", "created", EV_COMMENT },
		{ "pull_request_review", "submitted", EV_REVIEW },
		{ "pull_request_review_comment", "created", EV_REVIEW_COMMENT },
		{ "pull_request", "closed", EV_PR_CLOSED },
		{ "check_suite", "completed", EV_CI_COMPLETED },
		{ "ping", NULL, EV_PING },
		{ "installation", NULL, EV_INSTALLATION },
	};
	size_t i;

	for (i = 0; i < nitems(map); i++) {
		if (strcmp(map[i].name, name) == 0 && (map[i].action == NULL ||
		    (action != NULL && strcmp(map[i].action, action) == 0)))
			return map[i].t;
	}
	return EV_OTHER;
}

/* Compare an event with the sample's JSON, field by field. */
static void
check_github(const char *file, const char *name, const cJSON *j,
    const struct forge_event *ev)
{
	const char *action = jstr(j, "action");
	const char *author;

	is_int(ev->forge, FORGE_GITHUB, "%s: forge", file);
	is_int(ev->type, github_want(name, action), "%s: type %s", file,
	    forge_event_type_name(github_want(name, action)));
	is_str(ev->name, name, "%s: name", file);
	is_str(ev->action, action, "%s: action", file);
	is_str(ev->repo, jstr(j, "repository.full_name"), "%s: repo", file);
	is_int(ev->repo_id, jint(j, "repository.id", 0), "%s: repo_id", file);
	is_str(ev->clone_url, jstr(j, "repository.clone_url"), "%s: clone_url", file);
	is_str(ev->default_branch, jstr(j, "repository.default_branch"),
	    "%s: default_branch", file);
	is_int(ev->installation_id, jint(j, "installation.id", 0),
	    "%s: installation_id", file);

	switch (ev->type) {
	case EV_ISSUE_LABELED:
		is_str(ev->label, jstr(j, "label.name"), "%s: label", file);
		/* FALLTHROUGH */
	case EV_COMMENT:
		is_int(ev->number, jint(j, "issue.number", -1), "%s: number", file);
		is_str(ev->title, jstr(j, "issue.title"), "%s: title", file);
		is_str(ev->body, jstr(j, "issue.body"), "%s: body", file);
		ok(ev->is_pr == (get(j, "issue.pull_request") != NULL),
		    "%s: is_pr", file);
		break;
	case EV_REVIEW:
	case EV_REVIEW_COMMENT:
	case EV_PR_CLOSED:
		is_int(ev->number, jint(j, "pull_request.number", -1),
		    "%s: number", file);
		is_str(ev->title, jstr(j, "pull_request.title"), "%s: title", file);
		is_str(ev->head_branch, jstr(j, "pull_request.head.ref"),
		    "%s: head_branch", file);
		ok(ev->is_pr, "%s: is_pr", file);
		break;
	default:
		break;
	}

	author = ev->type == EV_REVIEW ? "review" : "comment";
	switch (ev->type) {
	case EV_COMMENT:
	case EV_REVIEW_COMMENT:
	case EV_REVIEW:
		is_str(ev->text, jstr(j, ev->type == EV_REVIEW ? "review.body" :
		    "comment.body"), "%s: text", file);
		is_int(ev->comment_id, jint(j, ev->type == EV_REVIEW ?
		    "review.id" : "comment.id", -1), "%s: comment_id", file);
		is_str(ev->association, jstr(j, ev->type == EV_REVIEW ?
		    "review.author_association" : "comment.author_association"),
		    "%s: association", file);
		is_str(ev->sender, jstr(j, ev->type == EV_REVIEW ?
		    "review.user.login" : "comment.user.login"),
		    "%s: sender is the %s author", file, author);
		break;
	case EV_ISSUE_LABELED:
	case EV_PR_CLOSED:
	case EV_CI_COMPLETED:
	case EV_PING:
	case EV_INSTALLATION:
	case EV_OTHER:
		is_str(ev->sender, jstr(j, "sender.login"), "%s: sender", file);
		is_int(ev->sender_id, jint(j, "sender.id", 0), "%s: sender_id", file);
		break;
	}
	ok(ev->sender_is_bot == (is_bot(j, "sender.type") ||
	    (ev->type == EV_REVIEW && is_bot(j, "review.user.type")) ||
	    ((ev->type == EV_COMMENT || ev->type == EV_REVIEW_COMMENT) &&
	    is_bot(j, "comment.user.type"))), "%s: sender_is_bot", file);

	switch (ev->type) {
	case EV_REVIEW:
		is_str(ev->review_state, jstr(j, "review.state"),
		    "%s: review_state", file);
		break;
	case EV_REVIEW_COMMENT:
		is_str(ev->path, jstr(j, "comment.path"), "%s: path", file);
		is_int(ev->line, jint(j, "comment.line",
		    jint(j, "comment.original_line", 0)), "%s: line", file);
		is_str(ev->diff_hunk, jstr(j, "comment.diff_hunk"),
		    "%s: diff_hunk", file);
		break;
	case EV_PR_CLOSED:
		ok(ev->merged == cJSON_IsTrue(get(j, "pull_request.merged")),
		    "%s: merged", file);
		break;
	case EV_CI_COMPLETED:
		is_str(ev->conclusion, jstr(j, "check_suite.conclusion"),
		    "%s: conclusion", file);
		is_str(ev->head_branch, jstr(j, "check_suite.head_branch"),
		    "%s: head_branch", file);
		is_int(ev->number, jint(j, "check_suite.pull_requests.0.number", 0),
		    "%s: number", file);
		ok(ev->is_pr == (cJSON_GetArraySize(get(j,
		    "check_suite.pull_requests")) > 0), "%s: is_pr", file);
		is_int(ev->ci_id, jint(j, "check_suite.id", 0), "%s: ci_id",
		    file);
		break;
	default:
		break;
	}
}

/* Every file in webhooks/samples/github, in name order. */
static void
test_github_samples(void)
{
	struct dirent **names;
	char *dir = xasprintf("%s/webhooks/samples/github", srcdir), *rel;
	char name[64];
	int n, i, k, count[N_KINDS] = { 0 };
	struct forge_event *ev;
	cJSON *j;
	size_t len;
	char *buf;

	if ((n = scandir(dir, &names, NULL, alphasort)) == -1) {
		printf("Bail out! cannot list %s\n", dir);
		exit(1);
	}
	for (i = 0; i < n; i++) {
		const char *file = names[i]->d_name;
		size_t l = strlen(file);

		if (l < 6 || strcmp(file + l - 5, ".json") != 0)
			goto next;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(file, "."), file);
		for (k = 0; k < N_KINDS; k++)
			if (strcmp(kinds[k], name) == 0)
				count[k]++;
		rel = xasprintf("webhooks/samples/github/%s", file);
		buf = load(rel, &len);
		j = sample(rel);
		ev = ghev_parse(name, buf, len, err, sizeof(err));
		if (ok(ev != NULL, "%s parses", file))
			check_github(file, name, j, ev);
		else
			printf("#   reason: %s\n", err);
		forge_event_free(ev);
		cJSON_Delete(j);
		free(buf);
		free(rel);
next:
		free(names[i]);
	}
	free(names);
	free(dir);
	for (k = 0; k < N_KINDS; k++)
		is_int(count[k], want_count[k], "%d %s samples", want_count[k],
		    kinds[k]);
}

static struct forge_event *
gh_file(const char *name, const char *file)
{
	char *rel = xasprintf("webhooks/samples/github/%s", file);
	struct forge_event *ev = deliver(0, name, sample(rel));

	free(rel);
	if (ev == NULL)
		printf("#   %s: %s\n", file, err);
	return ev;
}

/* Values read off the package by hand, and the derived samples. */
static void
test_github_values(void)
{
	struct forge_event *ev;
	cJSON *j;

	ev = gh_file("issues", "issues.labeled.9.json");
	ok(ev != NULL && ev->type == EV_ISSUE_LABELED, "issues.labeled.9: labeled");
	if (ev != NULL) {
		is_str(ev->label, "bug", "issues.labeled.9: label");
		is_int(ev->number, 1, "issues.labeled.9: number");
		is_str(ev->repo, "Codertocat/Hello-World", "issues.labeled.9: repo");
		is_int(ev->repo_id, 186853002, "issues.labeled.9: repo_id");
		is_str(ev->title, "Spelling error in the README file",
		    "issues.labeled.9: title");
		is_str(ev->sender, "Codertocat", "issues.labeled.9: sender");
		is_str(ev->clone_url, "https://github.com/Codertocat/Hello-World.git",
		    "issues.labeled.9: clone_url");
		is_int(ev->installation_id, 0, "issues.labeled.9: no installation");
	}
	forge_event_free(ev);

	ev = gh_file("issue_comment", "issue_comment.created.3.json");
	ok(ev != NULL && ev->type == EV_COMMENT, "issue_comment.created.3: comment");
	if (ev != NULL) {
		ok(strncmp(ev->text, "You are totally right!", 22) == 0,
		    "issue_comment.created.3: text");
		is_str(ev->association, "OWNER", "issue_comment.created.3: association");
		is_int(ev->comment_id, 492700400, "issue_comment.created.3: comment_id");
		is_int(ev->installation_id, 1, "issue_comment.created.3: installation_id");
		ok(!ev->is_pr, "issue_comment.created.3: on an issue");
	}
	forge_event_free(ev);

	ev = gh_file("pull_request_review_comment",
	    "pull_request_review_comment.created.0.json");
	ok(ev != NULL && ev->line == 0 && strcmp(ev->path, "README.md") == 0,
	    "review comment without line fields: line 0, path README.md");
	forge_event_free(ev);
	ev = gh_file("pull_request_review_comment",
	    "pull_request_review_comment.created.1.json");
	ok(ev != NULL && ev->line == 265 && ev->number == 2 &&
	    strcmp(ev->head_branch, "changes") == 0,
	    "review comment: line 265 on PR 2, branch changes");
	ok(ev != NULL && ev->review_id == 237895671,
	    "review comment: the review it belongs to");
	forge_event_free(ev);

	j = sample("webhooks/samples/github/pull_request_review_comment.created.1.json");
	set(j, "comment.line", cJSON_CreateNull());
	set(j, "comment.original_line", cJSON_CreateNumber(260));
	ev = deliver(0, "pull_request_review_comment", j);
	ok(ev != NULL && ev->line == 260,
	    "outdated review comment: line from original_line");
	forge_event_free(ev);

	ev = gh_file("check_suite", "check_suite.completed.1.json");
	ok(ev != NULL && ev->type == EV_CI_COMPLETED && ev->number == 0 &&
	    !ev->is_pr && strcmp(ev->head_branch, "main") == 0,
	    "check_suite without pull requests: number 0, branch main");
	forge_event_free(ev);
	ev = gh_file("check_suite", "check_suite.completed.0.json");
	ok(ev != NULL && ev->number == 2 && ev->is_pr &&
	    strcmp(ev->conclusion, "success") == 0,
	    "check_suite for PR 2: success");
	forge_event_free(ev);
	j = sample("webhooks/samples/github/check_suite.completed.0.json");
	set(j, "check_suite.id", cJSON_CreateString("118578147"));
	ev = deliver(0, "check_suite", j);
	ok(ev != NULL && ev->type == EV_CI_COMPLETED && ev->ci_id == 0,
	    "check_suite.id not a number: no suite, the branch's head");
	forge_event_free(ev);
	j = sample("webhooks/samples/github/check_suite.completed.0.json");
	set(j, "check_suite.id", cJSON_CreateNumber(-5));
	ev = deliver(0, "check_suite", j);
	ok(ev != NULL && ev->ci_id == 0, "a negative check_suite.id: none");
	forge_event_free(ev);
	ev = gh_file("check_suite", "check_suite.requested.4.json");
	ok(ev != NULL && ev->type == EV_OTHER, "check_suite.requested: other");
	forge_event_free(ev);

	ev = gh_file("ping", "ping.3.json");
	ok(ev != NULL && ev->type == EV_PING && ev->repo == NULL,
	    "ping without a repository");
	forge_event_free(ev);
	ev = gh_file("installation", "installation.created.1.json");
	ok(ev != NULL && ev->type == EV_INSTALLATION &&
	    ev->installation_id == 957387, "installation.created: id 957387");
	forge_event_free(ev);
	ev = gh_file("pull_request", "pull_request.closed.3.json");
	ok(ev != NULL && ev->type == EV_PR_CLOSED && !ev->merged &&
	    ev->number == 2, "pull_request.closed: PR 2, not merged");
	forge_event_free(ev);

	/* Derived (edited) samples. */
	ev = gh_file("issue_comment",
	    "derived/issue_comment.created.pull_request.json");
	ok(ev != NULL && ev->type == EV_COMMENT && ev->is_pr && ev->number == 1,
	    "derived: comment on pull request 1");
	forge_event_free(ev);
	ev = gh_file("pull_request_review",
	    "derived/pull_request_review.submitted.changes_requested.json");
	ok(ev != NULL && ev->type == EV_REVIEW, "derived: review");
	if (ev != NULL) {
		is_str(ev->review_state, "changes_requested", "derived: review state");
		is_str(ev->head_branch, "handoff/1-spelling-error-in-the-readme-file",
		    "derived: review head branch");
		is_str(ev->text, "Please also fix the spelling in the title.",
		    "derived: review body");
	}
	forge_event_free(ev);
	ev = gh_file("issues", "derived/issues.labeled.agent.json");
	ok(ev != NULL && ev->type == EV_ISSUE_LABELED &&
	    strcmp(ev->label, "agent") == 0, "derived: labeled agent");
	forge_event_free(ev);

	/* Edits of real samples. */
	j = sample("webhooks/samples/github/issue_comment.created.0.json");
	set(j, "comment.user.type", cJSON_CreateString("Bot"));
	set(j, "comment.user.login", cJSON_CreateString("handoff[bot]"));
	ev = deliver(0, "issue_comment", j);
	ok(ev != NULL && ev->sender_is_bot && strcmp(ev->sender, "handoff[bot]") == 0,
	    "comment by a Bot user: sender_is_bot, sender is the author");
	forge_event_free(ev);
	j = sample("webhooks/samples/github/issues.labeled.9.json");
	set(j, "sender.type", cJSON_CreateString("Bot"));
	ev = deliver(0, "issues", j);
	ok(ev != NULL && ev->sender_is_bot, "labeled by a Bot sender");
	forge_event_free(ev);
	j = sample("webhooks/samples/github/issue_comment.created.0.json");
	set(j, "comment.user", NULL);
	ev = deliver(0, "issue_comment", j);
	ok(ev != NULL && strcmp(ev->sender, "Codertocat") == 0,
	    "comment without comment.user: sender falls back to sender.login");
	forge_event_free(ev);
	j = sample("webhooks/samples/github/pull_request_review.submitted.0.json");
	set(j, "review.state", cJSON_CreateString("APPROVED"));
	ev = deliver(0, "pull_request_review", j);
	ok(ev != NULL && strcmp(ev->review_state, "approved") == 0,
	    "review state is lowercased");
	forge_event_free(ev);
	j = sample("webhooks/samples/github/pull_request.closed.3.json");
	set(j, "pull_request.merged", cJSON_CreateTrue());
	ev = deliver(0, "pull_request", j);
	ok(ev != NULL && ev->merged, "pull_request.closed with merged true");
	forge_event_free(ev);
	j = sample("webhooks/samples/github/issues.labeled.9.json");
	ev = deliver(0, "star", j);
	ok(ev != NULL && ev->type == EV_OTHER &&
	    strcmp(ev->repo, "Codertocat/Hello-World") == 0,
	    "unknown event: other, repository kept");
	forge_event_free(ev);
	j = sample("webhooks/samples/github/issues.labeled.9.json");
	set(j, "repository", NULL);
	ev = deliver(0, "issues", j);
	refused(ev, "issues.labeled: missing repository.full_name",
	    "labeled without a repository");
}

/* ---- GitLab samples ---- */

static struct forge_event *
gl_file(const char *name, const char *file)
{
	char *rel = xasprintf("webhooks/samples/gitlab/%s", file);
	size_t len;
	char *buf = load(rel, &len);
	struct forge_event *ev = deliver_bytes(1, name, buf, len);

	if (ev == NULL)
		printf("#   %s: %s\n", file, err);
	free(buf);
	free(rel);
	return ev;
}

static cJSON *
gl_sample(const char *file)
{
	char *rel = xasprintf("webhooks/samples/gitlab/%s", file);
	cJSON *j = sample(rel);

	free(rel);
	return j;
}

static cJSON *
label_list(const char *a, const char *b, const char *c)
{
	const char *titles[] = { a, b, c };
	cJSON *arr = cJSON_CreateArray(), *l;
	size_t i;

	for (i = 0; i < nitems(titles); i++) {
		if (titles[i] == NULL)
			continue;
		l = cJSON_CreateObject();
		cJSON_AddStringToObject(l, "title", titles[i]);
		cJSON_AddItemToArray(arr, l);
	}
	return arr;
}

static void
test_gitlab_issue(void)
{
	const char *hooks[] = { "Issue Hook", "Confidential Issue Hook" };
	struct forge_event *ev;
	cJSON *j;
	size_t i;

	for (i = 0; i < nitems(hooks); i++) {
		ev = gl_file(hooks[i], "issue.json");
		ok(ev != NULL && ev->type == EV_ISSUE_LABELED,
		    "%s issue.json: labeled", hooks[i]);
		if (ev == NULL)
			continue;
		is_int(ev->forge, FORGE_GITLAB, "issue.json: forge");
		is_str(ev->name, hooks[i], "issue.json: name");
		is_str(ev->action, "open", "issue.json: action");
		is_str(ev->label, "Platform", "issue.json: the label added");
		is_int(ev->number, 23, "issue.json: iid");
		is_str(ev->title, "New API: create/update/delete file",
		    "issue.json: title");
		is_str(ev->body, "Create new API for manipulations with repository",
		    "issue.json: description");
		is_str(ev->repo, "gitlabhq/gitlab-test", "issue.json: repo");
		is_int(ev->repo_id, 1, "issue.json: repo_id");
		is_str(ev->clone_url, "http://example.com/gitlabhq/gitlab-test.git",
		    "issue.json: clone_url");
		is_str(ev->default_branch, "master", "issue.json: default_branch");
		is_str(ev->sender, "root", "issue.json: sender");
		is_int(ev->sender_id, 1, "issue.json: sender_id");
		ok(!ev->sender_is_bot, "issue.json: not a bot");
		ok(!ev->is_pr, "issue.json: not a merge request");
		forge_event_free(ev);
	}

	j = gl_sample("issue.json");
	set(j, "changes.labels.current", label_list("API", "Platform", "agent"));
	ev = deliver(1, "Issue Hook", j);
	ok(ev != NULL && strcmp(ev->label, "Platform\nagent") == 0,
	    "two labels added: joined by newline");
	forge_event_free(ev);
	j = gl_sample("issue.json");
	set(j, "changes.labels.current", label_list("API", NULL, NULL));
	ev = deliver(1, "Issue Hook", j);
	ok(ev != NULL && ev->type == EV_OTHER && ev->label == NULL,
	    "a label removed only: other");
	forge_event_free(ev);
	j = gl_sample("issue.json");
	set(j, "changes.labels.previous", NULL);
	ev = deliver(1, "Issue Hook", j);
	ok(ev != NULL && ev->type == EV_ISSUE_LABELED &&
	    strcmp(ev->label, "Platform") == 0, "no previous labels: all added");
	forge_event_free(ev);
	j = gl_sample("issue.json");
	set(j, "changes", NULL);
	ev = deliver(1, "Issue Hook", j);
	ok(ev != NULL && ev->type == EV_OTHER && ev->repo != NULL,
	    "no label change: other, project kept");
	forge_event_free(ev);
	j = gl_sample("issue.json");
	set(j, "object_kind", cJSON_CreateString("work_item"));
	ev = deliver(1, "Issue Hook", j);
	ok(ev != NULL && ev->type == EV_OTHER, "work_item under Issue Hook: other");
	forge_event_free(ev);
	j = gl_sample("issue.json");
	set(j, "user.username", cJSON_CreateString("project_278964_bot_3b2f"));
	ev = deliver(1, "Issue Hook", j);
	ok(ev != NULL && ev->sender_is_bot, "project access token bot");
	forge_event_free(ev);
	j = gl_sample("issue.json");
	set(j, "user.username", cJSON_CreateString("group_12_bot"));
	ev = deliver(1, "Issue Hook", j);
	ok(ev != NULL && ev->sender_is_bot, "group access token bot");
	forge_event_free(ev);
	j = gl_sample("issue.json");
	set(j, "user.username", cJSON_CreateString("project_x_bot"));
	ev = deliver(1, "Issue Hook", j);
	ok(ev != NULL && !ev->sender_is_bot, "project_x_bot is a person");
	forge_event_free(ev);

	j = gl_sample("issue.json");
	set(j, "changes.labels.current", cJSON_CreateString("agent"));
	refused(deliver(1, "Issue Hook", j), "Issue Hook: changes.labels",
	    "labels not an array");
	j = gl_sample("issue.json");
	set(j, "object_attributes.iid", cJSON_CreateString("23"));
	refused(deliver(1, "Issue Hook", j),
	    "Issue Hook: object_attributes.iid is not an integer", "iid as string");
	j = gl_sample("issue.json");
	set(j, "project.path_with_namespace", NULL);
	refused(deliver(1, "Issue Hook", j),
	    "Issue Hook: missing project.path_with_namespace", "no project path");
}

static cJSON *
position(cJSON *new_line, int old_line)
{
	cJSON *pos = cJSON_CreateObject();

	cJSON_AddStringToObject(pos, "old_path", "README.md");
	cJSON_AddStringToObject(pos, "new_path", "docs/README.md");
	cJSON_AddNumberToObject(pos, "old_line", old_line);
	cJSON_AddItemToObject(pos, "new_line", new_line);
	cJSON_AddStringToObject(pos, "position_type", "text");
	return pos;
}

static void
test_gitlab_note(void)
{
	struct forge_event *ev;
	cJSON *j;

	ev = gl_file("Note Hook", "note_issue.json");
	ok(ev != NULL && ev->type == EV_COMMENT, "note_issue.json: comment");
	if (ev != NULL) {
		is_int(ev->number, 17, "note_issue.json: issue iid");
		is_str(ev->title, "test_issue", "note_issue.json: title");
		is_str(ev->body, "test issue", "note_issue.json: description");
		is_str(ev->text, "Hello world", "note_issue.json: note");
		is_int(ev->comment_id, 1241, "note_issue.json: note id");
		is_str(ev->sender, "user1", "note_issue.json: sender");
		is_int(ev->sender_id, 42, "note_issue.json: sender_id");
		is_str(ev->repo, "gitlab-org/gitlab-test", "note_issue.json: repo");
		is_int(ev->repo_id, 5, "note_issue.json: repo_id");
		ok(!ev->is_pr, "note_issue.json: on an issue");
		ok(ev->association == NULL, "note_issue.json: no association on GitLab");
	}
	forge_event_free(ev);

	ev = gl_file("Confidential Note Hook", "note_merge_request.json");
	ok(ev != NULL && ev->type == EV_COMMENT,
	    "note_merge_request.json: comment");
	if (ev != NULL) {
		ok(ev->is_pr, "note_merge_request.json: on a merge request");
		is_int(ev->number, 1, "note_merge_request.json: MR iid");
		is_str(ev->head_branch, "master",
		    "note_merge_request.json: source branch");
		is_str(ev->title, "Tempora et eos debitis quae laborum et.",
		    "note_merge_request.json: title");
		is_str(ev->text, "This MR needs work.", "note_merge_request.json: note");
		is_int(ev->comment_id, 1244, "note_merge_request.json: note id");
		is_str(ev->sender, "root", "note_merge_request.json: sender");
	}
	forge_event_free(ev);

	j = gl_sample("note_merge_request.json");
	set(j, "object_attributes.type", cJSON_CreateString("DiffNote"));
	set(j, "object_attributes.discussion_id", cJSON_CreateString("6a9c1750b37d"));
	set(j, "object_attributes.position", position(cJSON_CreateNumber(12), 11));
	ev = deliver(1, "Note Hook", j);
	ok(ev != NULL && ev->type == EV_REVIEW_COMMENT, "DiffNote: review comment");
	if (ev != NULL) {
		is_str(ev->path, "docs/README.md", "DiffNote: new_path");
		is_int(ev->line, 12, "DiffNote: new_line");
		is_str(ev->discussion_id, "6a9c1750b37d", "DiffNote: discussion_id");
		is_str(ev->head_branch, "master", "DiffNote: source branch");
		ok(ev->is_pr && ev->number == 1, "DiffNote: on MR 1");
	}
	forge_event_free(ev);
	j = gl_sample("note_merge_request.json");
	set(j, "object_attributes.type", cJSON_CreateString("DiffNote"));
	set(j, "object_attributes.position", position(cJSON_CreateNull(), 7));
	ev = deliver(1, "Note Hook", j);
	ok(ev != NULL && ev->line == 7, "DiffNote on a removed line: old_line");
	forge_event_free(ev);
	j = gl_sample("note_merge_request.json");
	set(j, "object_attributes.type", cJSON_CreateString("DiffNote"));
	ev = deliver(1, "Note Hook", j);
	ok(ev != NULL && ev->type == EV_COMMENT, "DiffNote without position: comment");
	forge_event_free(ev);

	j = gl_sample("note_issue.json");
	set(j, "object_attributes.action", cJSON_CreateString("update"));
	ev = deliver(1, "Note Hook", j);
	ok(ev != NULL && ev->type == EV_OTHER, "edited note: other");
	forge_event_free(ev);
	j = gl_sample("note_issue.json");
	set(j, "object_attributes.action", NULL);
	ev = deliver(1, "Note Hook", j);
	ok(ev != NULL && ev->type == EV_COMMENT, "note without action (< 16.11): comment");
	forge_event_free(ev);
	j = gl_sample("note_issue.json");
	set(j, "object_attributes.system", cJSON_CreateTrue());
	ev = deliver(1, "Note Hook", j);
	ok(ev != NULL && ev->type == EV_OTHER, "system note: other");
	forge_event_free(ev);
	j = gl_sample("note_issue.json");
	set(j, "object_attributes.noteable_type", cJSON_CreateString("Commit"));
	ev = deliver(1, "Note Hook", j);
	ok(ev != NULL && ev->type == EV_OTHER, "commit note: other");
	forge_event_free(ev);

	j = gl_sample("note_issue.json");
	set(j, "object_attributes.note", NULL);
	refused(deliver(1, "Note Hook", j), "Note Hook: missing object_attributes.note",
	    "note without text");
	j = gl_sample("note_merge_request.json");
	set(j, "merge_request.source_branch", cJSON_CreateNumber(3));
	refused(deliver(1, "Note Hook", j),
	    "Note Hook: merge_request.source_branch is not a string",
	    "source branch as number");
	j = gl_sample("note_issue.json");
	set(j, "object_attributes.noteable_type", NULL);
	refused(deliver(1, "Note Hook", j), "noteable_type", "no noteable_type");
}

static void
test_gitlab_mr_pipeline(void)
{
	struct forge_event *ev;
	cJSON *j;

	ev = gl_file("Merge Request Hook", "merge_request.json");
	ok(ev != NULL && ev->type == EV_OTHER && strcmp(ev->action, "open") == 0,
	    "merge_request.json (open): other");
	forge_event_free(ev);
	j = gl_sample("merge_request.json");
	set(j, "object_attributes.action", cJSON_CreateString("merge"));
	ev = deliver(1, "Merge Request Hook", j);
	ok(ev != NULL && ev->type == EV_PR_CLOSED, "merged MR: closed");
	if (ev != NULL) {
		ok(ev->merged, "merged MR: merged");
		is_int(ev->number, 1, "merged MR: iid");
		is_str(ev->head_branch, "ms-viewport", "merged MR: source branch");
		ok(ev->is_pr, "merged MR: is_pr");
		is_str(ev->repo, "gitlabhq/gitlab-test", "merged MR: repo");
	}
	forge_event_free(ev);
	j = gl_sample("merge_request.json");
	set(j, "object_attributes.action", cJSON_CreateString("close"));
	ev = deliver(1, "Merge Request Hook", j);
	ok(ev != NULL && ev->type == EV_PR_CLOSED && !ev->merged,
	    "closed MR: not merged");
	forge_event_free(ev);

	ev = gl_file("Pipeline Hook", "pipeline.json");
	ok(ev != NULL && ev->type == EV_CI_COMPLETED, "pipeline.json: ci completed");
	if (ev != NULL) {
		is_str(ev->conclusion, "success", "pipeline.json: status");
		ok(ev->is_pr, "pipeline.json: MR pipeline");
		is_int(ev->number, 1, "pipeline.json: MR iid");
		is_str(ev->head_branch, "test", "pipeline.json: the MR source branch");
		is_str(ev->repo, "gitlab-org/gitlab-test", "pipeline.json: repo");
		is_str(ev->sender, "user1", "pipeline.json: sender");
		is_int(ev->ci_id, 31, "pipeline.json: the pipeline's id");
	}
	forge_event_free(ev);
	j = gl_sample("pipeline.json");
	set(j, "merge_request", NULL);
	set(j, "object_attributes.status", cJSON_CreateString("failed"));
	ev = deliver(1, "Pipeline Hook", j);
	ok(ev != NULL && ev->type == EV_CI_COMPLETED && !ev->is_pr &&
	    ev->number == 0 && strcmp(ev->head_branch, "master") == 0 &&
	    strcmp(ev->conclusion, "failed") == 0,
	    "branch pipeline failed: ref master, no MR");
	forge_event_free(ev);
	j = gl_sample("pipeline.json");
	set(j, "object_attributes.id", cJSON_CreateNull());
	ev = deliver(1, "Pipeline Hook", j);
	ok(ev != NULL && ev->type == EV_CI_COMPLETED && ev->ci_id == 0,
	    "a pipeline with no id: none, the branch's latest");
	forge_event_free(ev);
	j = gl_sample("pipeline.json");
	set(j, "object_attributes.status", cJSON_CreateString("running"));
	ev = deliver(1, "Pipeline Hook", j);
	ok(ev != NULL && ev->type == EV_OTHER && ev->conclusion == NULL,
	    "running pipeline: other");
	forge_event_free(ev);
	j = gl_sample("pipeline.json");
	set(j, "object_attributes.status", cJSON_CreateString("canceled"));
	ev = deliver(1, "Pipeline Hook", j);
	ok(ev != NULL && ev->type == EV_CI_COMPLETED, "canceled pipeline: completed");
	forge_event_free(ev);
	j = gl_sample("pipeline.json");
	set(j, "object_attributes.status", cJSON_CreateNumber(1));
	refused(deliver(1, "Pipeline Hook", j),
	    "Pipeline Hook: object_attributes.status is not a string", "status as number");

	ev = gl_file("Push Hook", "pipeline.json");
	ok(ev != NULL && ev->type == EV_OTHER, "unknown hook: other");
	forge_event_free(ev);
}

/* ---- malformed input, both forges ---- */

static void
test_malformed(void)
{
	static const struct { const char *json, *want, *what; } bad[] = {
		{ "{", "invalid JSON", "truncated object" },
		{ "not json", "invalid JSON", "not JSON" },
		{ "[]", "not a JSON object", "top-level array" },
		{ "\"str\"", "not a JSON object", "top-level string" },
		{ "null", "not a JSON object", "top-level null" },
		{ "{} {}", "invalid JSON", "trailing garbage" },
	};
	struct forge_event *ev;
	cJSON *j;
	char *deep, *buf;
	size_t i, len, cut;
	int f;

	for (f = 0; f < 2; f++) {
		const char *name = f ? "Note Hook" : "issue_comment";

		for (i = 0; i < nitems(bad); i++) {
			ev = deliver_bytes(f, name, bad[i].json, strlen(bad[i].json));
			refused(ev, bad[i].want, bad[i].what);
		}
		refused(deliver_bytes(f, name, "", 0), "invalid JSON", "empty body");
		refused(deliver_bytes(f, NULL, "{}", 2), "missing event name",
		    "no event name");
		deep = xmalloc(200000);
		for (i = 0; i < 100000; i++) {
			deep[i] = '[';
			deep[100000 + i] = ']';
		}
		refused(deliver_bytes(f, name, deep, 200000), "nesting",
		    "array nesting 100000 deep");
		for (i = 0; i < 40000; i++)
			memcpy(deep + 5 * i, "{\"a\":", 5);
		refused(deliver_bytes(f, name, deep, 200000), "nesting",
		    "object nesting 40000 deep");
		free(deep);
	}

	j = sample("webhooks/samples/github/issues.labeled.9.json");
	set(j, "issue.number", cJSON_CreateString("1"));
	refused(deliver(0, "issues", j), "issues.labeled: issue.number is not an integer",
	    "issue number as string");
	j = sample("webhooks/samples/github/issues.labeled.9.json");
	set(j, "issue.number", cJSON_CreateNumber(1.5));
	refused(deliver(0, "issues", j), "issues.labeled: issue.number is not an integer",
	    "issue number 1.5");
	j = sample("webhooks/samples/github/issues.labeled.9.json");
	set(j, "label.name", NULL);
	refused(deliver(0, "issues", j), "issues.labeled: missing label.name",
	    "labeled without label.name");
	j = sample("webhooks/samples/github/issues.labeled.9.json");
	set(j, "repository.full_name", cJSON_CreateNumber(7));
	refused(deliver(0, "issues", j),
	    "issues.labeled: repository.full_name is not a string", "repo as number");
	j = sample("webhooks/samples/github/issue_comment.created.0.json");
	set(j, "comment.body", cJSON_CreateNull());
	refused(deliver(0, "issue_comment", j),
	    "issue_comment.created: missing comment.body", "comment body null");
	j = sample("webhooks/samples/github/issue_comment.created.0.json");
	set(j, "action", cJSON_CreateNumber(1));
	refused(deliver(0, "issue_comment", j), "issue_comment: action is not a string",
	    "action as number");
	j = sample("webhooks/samples/github/issue_comment.created.0.json");
	set(j, "comment.user.login", cJSON_CreateTrue());
	refused(deliver(0, "issue_comment", j),
	    "issue_comment.created: comment.user.login is not a string",
	    "comment author login as boolean");
	j = sample("webhooks/samples/github/pull_request_review.submitted.0.json");
	set(j, "pull_request.head", NULL);
	refused(deliver(0, "pull_request_review", j),
	    "pull_request_review.submitted: missing pull_request.head.ref",
	    "review without head branch");
	j = sample("webhooks/samples/github/pull_request_review_comment.created.1.json");
	set(j, "comment.path", cJSON_CreateArray());
	refused(deliver(0, "pull_request_review_comment", j),
	    "comment.path is not a string", "review comment path as array");
	j = sample("webhooks/samples/github/check_suite.completed.0.json");
	set(j, "check_suite.pull_requests", cJSON_CreateString("2"));
	refused(deliver(0, "check_suite", j), "pull_requests is not an array",
	    "check_suite pull_requests as string");
	j = sample("webhooks/samples/github/check_suite.completed.0.json");
	set(j, "check_suite", NULL);
	refused(deliver(0, "check_suite", j), "check_suite.completed: missing check_suite",
	    "check_suite.completed without check_suite");

	/* Every prefix of a sample is refused, or parses, and never crashes. */
	buf = load("webhooks/samples/github/pull_request_review_comment.created.1.json",
	    &len);
	f = 1;
	for (cut = 0; cut < len - 2; cut += 7) {
		char *copy = xmalloc(cut + 1);

		memcpy(copy, buf, cut);	/* not terminated: stays in bounds */
		ev = ghev_parse("pull_request_review_comment", copy, cut, err,
		    sizeof(err));
		if (ev != NULL)
			f = 0;
		forge_event_free(ev);
		free(copy);
	}
	ok(f, "every truncation of a sample is refused");
	free(buf);
}

/* ---- pruned parsing (json_parse_kept) ---- */

/* Whether two events hold the same fields; the first that differs in why. */
static bool
same_event(const struct forge_event *a, const struct forge_event *b,
    const char **why)
{
	if (a == NULL || b == NULL) {
		*why = a == NULL ? "whole accepted, pruned refused" :
		    "pruned accepted, whole refused";
		return a == b;
	}
	return (*why = forge_event_diff(a, b)) == NULL;
}

/* Parse len bytes as delivery name both ways; whether the events agree
 * (both refusing counts as agreeing). */
static bool
both_ways(int gitlab, const char *name, const char *buf, size_t len,
    const char **why)
{
	struct forge_event *whole, *pruned;
	bool same;

	payload_whole = true;
	whole = deliver_bytes(gitlab, name, buf, len);
	payload_whole = false;
	pruned = deliver_bytes(gitlab, name, buf, len);
	same = same_event(pruned, whole, why);
	forge_event_free(whole);
	forge_event_free(pruned);
	return same;
}

static const char *
gitlab_name(const char *file)
{
	if (strncmp(file, "issue", 5) == 0)
		return "Issue Hook";
	if (strncmp(file, "merge_request", 13) == 0)
		return "Merge Request Hook";
	if (strncmp(file, "note", 4) == 0)
		return "Note Hook";
	if (strncmp(file, "pipeline", 8) == 0)
		return "Pipeline Hook";
	return NULL;
}

/* Every sample, as sent and with each member it holds removed or made
 * null in turn (one at a time, to depth 3), gives the same event pruned
 * as whole. */
static void
test_pruned_samples(const char *dir, int gitlab)
{
	char *path = xasprintf("%s/%s", srcdir, dir), *rel, *buf, *name;
	const char *why = "", *ename;
	struct dirent *de;
	size_t len, nfiles = 0, nvariants = 0, bad = 0;
	DIR *d;

	if ((d = opendir(path)) == NULL) {
		printf("Bail out! cannot open %s\n", path);
		exit(1);
	}
	while ((de = readdir(d)) != NULL) {
		cJSON *root, *copy;
		const char *paths[512];
		char *owned[512];
		size_t np = 0, i;

		if (strstr(de->d_name, ".json") == NULL)
			continue;
		rel = xasprintf("%s/%s", dir, de->d_name);
		buf = load(rel, &len);
		if (gitlab)
			ename = gitlab_name(de->d_name);
		else
			ename = NULL;
		name = gitlab ? xstrdup(ename ? ename : "Push Hook") :
		    xstrndup(de->d_name, strcspn(de->d_name, "."));
		nfiles++;
		if (!both_ways(gitlab, name, buf, len, &why)) {
			ok(0, "%s: pruned and whole differ in %s", rel, why);
			bad++;
		}
		/* Every member to depth 3, each removed and each nulled. */
		root = sample(rel);
		{
			const cJSON *a, *b, *c;

			cJSON_ArrayForEach(a, root) {
				if (np < nitems(owned))
					owned[np] = xstrdup(a->string),
					    paths[np] = owned[np], np++;
				if (!cJSON_IsObject(a))
					continue;
				cJSON_ArrayForEach(b, a) {
					if (np < nitems(owned))
						owned[np] = xasprintf("%s.%s",
						    a->string, b->string),
						    paths[np] = owned[np], np++;
					if (!cJSON_IsObject(b))
						continue;
					cJSON_ArrayForEach(c, b)
						if (np < nitems(owned))
							owned[np] = xasprintf(
							    "%s.%s.%s",
							    a->string,
							    b->string,
							    c->string),
							    paths[np] =
							    owned[np], np++;
				}
			}
		}
		for (i = 0; i < np * 2; i++) {
			char *text;

			copy = cJSON_Duplicate(root, 1);
			if (get(copy, paths[i / 2]) == NULL) {
				cJSON_Delete(copy);
				continue;
			}
			set(copy, paths[i / 2], i % 2 ? cJSON_CreateNull() :
			    NULL);
			text = cJSON_PrintUnformatted(copy);
			cJSON_Delete(copy);
			nvariants++;
			if (!both_ways(gitlab, name, text, strlen(text),
			    &why)) {
				ok(0, "%s with %s %s: pruned and whole differ "
				    "in %s", rel, paths[i / 2], i % 2 ?
				    "null" : "removed", why);
				bad++;
			}
			cJSON_free(text);
		}
		for (i = 0; i < np; i++)
			free(owned[i]);
		cJSON_Delete(root);
		free(name);
		free(buf);
		free(rel);
	}
	closedir(d);
	free(path);
	ok(nfiles > 0 && bad == 0, "%s: %zu samples and %zu variants give "
	    "the same event pruned as whole", dir, nfiles, nvariants);
}

/* The scanner's edges: what it refuses, and what it keeps. */
static void
test_pruned_edges(void)
{
	static const char *const paths[] = { "a", "b.c", "b.d.e", NULL };
	static const struct {
		const char	*doc;
		bool		 good;
		const char	*what;
	} cases[] = {
		{ "{\"a\":1}", true, "a kept member" },
		{ "\xef\xbb\xbf {\"a\":1}", true, "a byte order mark" },
		{ "{\"a\":1} \n", true, "whitespace after" },
		{ "{\"a\":1}x", false, "garbage after" },
		{ "{\"z\":01}", false, "a leading zero in a skipped number" },
		{ "{\"z\":-}", false, "a bare minus" },
		{ "{\"z\":1.}", false, "a point without digits" },
		{ "{\"z\":1e}", false, "an exponent without digits" },
		{ "{\"z\":-0.5e+7}", true, "a full number" },
		{ "{\"z\":1234567890123456789012345678901234567890123456789"
		    "01234567890123}", true, "a number of 63 characters" },
		{ "{\"z\":1234567890123456789012345678901234567890123456789"
		    "012345678901234}", false, "a number of 64 characters" },
		{ "{\"z\":tru}", false, "a cut literal" },
		{ "{\"z\":\"\\x\"}", false, "a bad escape in a skipped string" },
		{ "{\"z\":\"\\ud800\"}", false, "a lone high surrogate" },
		{ "{\"z\":\"\\udc00\"}", false, "a lone low surrogate" },
		{ "{\"z\":\"\\ud83d\\ude00\"}", true, "a surrogate pair" },
		{ "{\"z\":\"\\u12g4\"}", false, "a bad hex digit" },
		{ "{\"z\":\"a\x01\"}", true, "a raw control character, as "
		    "cJSON takes it" },
		{ "{\"z\":[1,2,]}", false, "a trailing comma" },
		{ "{\"z\":{\"y\":1,}}", false, "a trailing comma in an object" },
		{ "{\"z\" 1}", false, "a missing colon" },
		{ "{\"z\":\"unterminated}", false, "an unterminated string" },
		{ "{\"z\":[{}", false, "an unclosed array" },
		{ "{\"b\":{\"c\":[1,{\"x\":2}],\"q\":3}}", true,
		    "a kept array" },
	};
	struct json_keep *keep = json_keep_new(paths);
	cJSON *t, *w;
	char doc[512], *p;
	size_t i;
	int d;

	for (i = 0; i < nitems(cases); i++) {
		t = json_parse_kept(cases[i].doc, strlen(cases[i].doc), 8,
		    keep);
		w = json_parse(cases[i].doc, strlen(cases[i].doc), 8);
		if (cases[i].good)
			ok(t != NULL && w != NULL, "pruned: %s is taken",
			    cases[i].what);
		else
			ok(t == NULL, "pruned: %s is refused", cases[i].what);
		json_free(t);
		json_free(w);
	}

	/* What is kept, and only that. */
	p = "{\"q\":{\"a\":9},\"a\":[1,{\"x\":1}],\"b\":{\"c\":\"s\",\"x\":1,"
	    "\"d\":{\"e\":null,\"f\":2}},\"b\":{\"c\":\"second\"}}";
	t = json_parse_kept(p, strlen(p), 8, keep);
	ok(t != NULL, "pruned: a document with kept and other members");
	ok(json_at(t, "q") == NULL && json_at(t, "b.x") == NULL &&
	    json_at(t, "b.d.f") == NULL, "pruned: other members left out");
	ok(cJSON_IsArray(json_at(t, "a")) &&
	    json_int(t, "a.1.x", 0) == 1, "pruned: a kept array is whole");
	p = json_str(t, "b.c", 16);
	is_str(p, "s", "pruned: the first of two members of one name, as "
	    "cJSON finds it");
	free(p);
	ok(cJSON_IsNull(json_at(t, "b.d.e")), "pruned: a kept null");
	json_free(t);

	/* A kept object that is something else is kept as it is. */
	p = "{\"b\":[1,2]}";
	t = json_parse_kept(p, strlen(p), 8, keep);
	ok(cJSON_IsArray(json_at(t, "b")), "pruned: a path's object that is "
	    "an array stays one");
	json_free(t);

	/* Names as cJSON compares them: unescaped, and cut at a NUL. */
	p = "{\"\\u0061\":5,\"b\":{\"c\\u0000x\":\"n\"}}";
	t = json_parse_kept(p, strlen(p), 8, keep);
	ok(json_int(t, "a", 0) == 5, "pruned: an escaped name matches");
	json_free(t);
	memcpy(doc, "{\"a\0z\":7}", 10);
	t = json_parse_kept(doc, 9, 8, keep);
	w = json_parse(doc, 9, 8);
	ok(t != NULL && json_int(t, "a", 0) == 7 && json_int(w, "a", 0) == 7,
	    "pruned: a name with a raw NUL matches as cJSON's does");
	json_free(t);
	json_free(w);

	/* Strings of every length up to 40 with an escape at every place,
	 * skipped ("q") and kept ("a"): the pruned parse reads them as
	 * cJSON does, and refuses them unterminated. Only the document's
	 * bytes are allocated: a scan past them is caught under ASan. */
	{
		static const char *const escapes[] = { "", "\\\"", "\\\\",
		    "\\u00e9", "\\n", "\\/" };
		const char *got, *want;
		char str[64], *buf;
		size_t n, at, e, len, nstr = 0;
		bool agree = true, refused = true;

		for (n = 0; n <= 40; n++)
			for (e = 0; e < nitems(escapes); e++)
				for (at = 0; at <= n; at++) {
					memset(str, 'x', at);
					len = strlen(escapes[e]);
					memcpy(str + at, escapes[e], len);
					memset(str + at + len, 'y', n - at);
					str[n + len] = '\0';
					len = (size_t)snprintf(doc, sizeof(doc),
					    "{\"q\":\"%s\",\"a\":\"%s\"}", str, str);
					buf = xmalloc(len);
					memcpy(buf, doc, len);
					t = json_parse_kept(buf, len, 8, keep);
					w = json_parse(buf, len, 8);
					got = cJSON_GetStringValue(json_at(t, "a"));
					want = cJSON_GetStringValue(json_at(w, "a"));
					if (got == NULL || want == NULL ||
					    strcmp(got, want) != 0)
						agree = false;
					json_free(t);
					json_free(w);
					/* Cut before the closing quote of "a",
					 * then of "q". */
					if ((t = json_parse_kept(buf, len - 2, 8,
					    keep)) != NULL ||
					    (t = json_parse_kept(buf, 6 +
					    strlen(str), 8, keep)) != NULL)
						refused = false;
					json_free(t);
					free(buf);
					nstr++;
					if (e == 0)
						break;
				}
		ok(agree, "pruned: %zu strings of 0 to 40 bytes, an escape "
		    "anywhere, read as cJSON reads them", nstr);
		ok(refused, "pruned: each of them unterminated is refused");
	}

	/* Depth: skipped containers count as kept ones do. */
	for (d = 7; d <= 9; d++) {
		int j;

		p = doc;
		p += sprintf(p, "{\"z\":");
		for (j = 1; j < d; j++)
			*p++ = '[';
		for (j = 1; j < d; j++)
			*p++ = ']';
		strcpy(p, "}");
		t = json_parse_kept(doc, strlen(doc), 8, keep);
		ok((t != NULL) == (d <= 8), "pruned: nesting %d of at most 8 "
		    "is %s", d, d <= 8 ? "taken" : "refused");
		json_free(t);
	}
	json_keep_free(keep);
}

int
main(void)
{
	if ((srcdir = getenv("SRCDIR")) == NULL || *srcdir == '\0') {
		printf("Bail out! SRCDIR is not set (the top source directory)\n");
		return 1;
	}
	test_json();
	test_github_samples();
	test_github_values();
	test_gitlab_issue();
	test_gitlab_note();
	test_gitlab_mr_pipeline();
	test_malformed();
	test_pruned_edges();
	test_pruned_samples("webhooks/samples/github", 0);
	test_pruned_samples("webhooks/samples/github/derived", 0);
	test_pruned_samples("webhooks/samples/gitlab", 1);
	return done_testing();
}
