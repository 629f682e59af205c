/* store.c: schema, dedupe, threads, folding, closing, reads. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "event.h"
#include "forge.h"
#include "report.h"
#include "rules.h"
#include "store.h"
#include "store_sqlite.h"
#include "tap.h"
#include "util.h"

static struct config *cfg;
static int savepoints;		/* SAVEPOINT statements run, when traced */

static int
count_savepoints(unsigned what, void *arg, void *stmt, void *sql)
{
	(void)what;
	(void)arg;
	(void)stmt;
	if (strncmp(sql, "SAVEPOINT", 9) == 0)
		savepoints++;
	return 0;
}
static int64_t live_job;	/* the job whose runner "lives" */

/* The forges with credentials, as the scheduler finds them. */
static unsigned
forges(void)
{
	return (forge_configured(cfg, "github") ?
	    JOB_FORGE_BIT(FORGE_GITHUB) : 0) |
	    (forge_configured(cfg, "gitlab") ? JOB_FORGE_BIT(FORGE_GITLAB) : 0);
}

static bool
is_live(int64_t job, void *arg)
{
	(void)arg;
	return job == live_job;
}

static struct forge_event *
ev_new(enum event_type type, int64_t number)
{
	struct forge_event *ev = xcalloc(1, sizeof(*ev));

	ev->forge = FORGE_GITHUB;
	ev->type = type;
	ev->name = xstrdup("issues");
	ev->repo = xstrdup("acme/widgets");
	ev->number = number;
	ev->title = xstrdup("Fix the README typo");
	ev->sender = xstrdup("alice");
	ev->sender_id = 42;
	ev->association = xstrdup("OWNER");
	return ev;
}

/* Decide and record in one transaction, as the writer does. */
static int
record(struct store *st, const char *delivery, struct forge_event *ev,
    struct record_result *res)
{
	struct command cmd;
	struct store_delivery d = { 0 };
	int rc;


	rules_decide(cfg, ev, &cmd);
	d.delivery = delivery;
	d.ev = ev;
	d.cmd = &cmd;
	rc = store_record_batch(st, cfg, &d, 1);
	if (rc == 0)
		rc = d.rc;
	*res = d.res;
	rules_command_clear(&cmd);
	forge_event_free(ev);
	return rc;
}

static struct forge_event *
labeled(int64_t number)
{
	struct forge_event *ev = ev_new(EV_ISSUE_LABELED, number);

	ev->label = xstrdup("agent");
	return ev;
}

static struct forge_event *
comment(int64_t number, const char *text, bool is_pr, const char *branch)
{
	struct forge_event *ev = ev_new(EV_COMMENT, number);

	ev->text = xstrdup(text);
	ev->is_pr = is_pr;
	ev->head_branch = branch ? xstrdup(branch) : NULL;
	return ev;
}

/* A comment with the forge's id for it, by author. */
static struct forge_event *
said(int64_t number, const char *text, int64_t id, const char *author,
    int64_t author_id)
{
	struct forge_event *ev = comment(number, text, false, NULL);

	ev->comment_id = id;
	free(ev->sender);
	ev->sender = xstrdup(author);
	ev->sender_id = author_id;
	return ev;
}

/* What a job's agent used: model requests summed per model and over
 * models, priced or not; the sums a budget reads, by repository; the
 * connections it attempted; all of it in `show --json`. */
static void
meter_tests(const char *dir)
{
	char err[256], *path = xasprintf("%s/meter", dir);
	struct store *st = store_open(path, err, sizeof(err));
	struct record_result res;
	struct store_usage u = { 0 }, *list, sum;
	struct store_egress e = { 0 }, *conns;
	struct store_job_detail d;
	int64_t job, other;
	size_t n;

	ok(st != NULL, "a store for usage");
	record(st, "m-1", labeled(7), &res);
	job = res.job;
	record(st, "m-2", labeled(8), &res);
	other = res.job;
	ok(store_usage_of(st, job, &list, &n) == 0 && n == 0,
	    "no usage before a request");
	store_usage_free(list, n);
	u.model = "claude-x";
	u.input_tokens = 1000;
	u.output_tokens = 50;
	u.cache_read_tokens = 4000;
	u.cache_write_tokens = 200;
	u.cost_micros = 12345;
	ok(store_usage_add(st, job, &u) == 0, "record a priced request");
	u.input_tokens = 10;
	u.cost_micros = 5;
	ok(store_usage_add(st, job, &u) == 0, "and another");
	u.model = "local-model";
	u.cost_micros = -1;
	ok(store_usage_add(st, job, &u) == 0, "and one of an unpriced model");
	u.model = "claude-x";
	u.cost_micros = 1000000;
	ok(store_usage_add(st, other, &u) == 0, "another job's request");
	ok(store_usage_of(st, job, &list, &n) == 0 && n == 2 &&
	    strcmp(list[0].model, "claude-x") == 0 && list[0].requests == 2 &&
	    list[0].input_tokens == 1010 && list[0].output_tokens == 100 &&
	    list[0].cache_read_tokens == 8000 &&
	    list[0].cache_write_tokens == 400 && list[0].cost_micros == 12350,
	    "usage summed per model");
	ok(n == 2 && strcmp(list[1].model, "local-model") == 0 &&
	    list[1].requests == 1 && list[1].cost_micros == -1,
	    "an unpriced model has no cost");
	store_usage_sum(list, n, &sum);
	ok(sum.requests == 3 && sum.input_tokens == 1020 &&
	    sum.cost_micros == 12350, "summed over models: the priced cost");
	store_usage_free(list, n);
	ok(store_usage_since(st, NULL, 0, &sum) == 0 && sum.requests == 4 &&
	    sum.cost_micros == 1012350, "all jobs since a time");
	ok(store_usage_since(st, "acme/widgets", 0, &sum) == 0 &&
	    sum.requests == 4, "the repository's jobs");
	ok(store_usage_since(st, "acme/widgets", util_now_ms() + 60000,
	    &sum) == 0 && sum.requests == 0 && sum.cost_micros == -1,
	    "nothing after now");
	ok(store_usage_since(st, "someone/else", 0, &sum) == 0 &&
	    sum.requests == 0, "another repository's jobs used nothing");
	e.host = "example.org";
	e.port = 443;
	e.reason = "not in allow_hosts";
	ok(store_egress_add(st, job, &e) == 0, "record a refused connection");
	e.host = "pypi.org";
	e.address = "151.101.0.223";
	e.allowed = true;
	e.reason = NULL;
	e.bytes_in = 5000;
	e.bytes_out = 700;
	ok(store_egress_add(st, job, &e) == 0, "and an allowed one");
	ok(store_egress_of(st, job, &conns, &n) == 0 && n == 2 &&
	    !conns[0].allowed && conns[0].address == NULL &&
	    strcmp(conns[0].reason, "not in allow_hosts") == 0 &&
	    conns[1].allowed && conns[1].bytes_in == 5000 &&
	    strcmp(conns[1].address, "151.101.0.223") == 0,
	    "connections read back in order");
	store_egress_free(conns, n);
	ok(store_job_show(st, job, &d) == 1 && d.nusage == 2 &&
	    d.negress == 2, "show has the usage and the connections");
	store_job_detail_clear(&d);
	store_close(st);
	free(path);
}

/* Each request of a job with its author and verdict; replays answered
 * as duplicates; cancel and help decided without a run slot. */
static void
requests_tests(const char *dir)
{
	char err[256], *path = xasprintf("%s/requests", dir);
	struct store *st = store_open(path, err, sizeof(err));
	struct record_result res;
	struct job_request *reqs;
	struct job job;
	struct forge_event *ev;
	cJSON *j, *arr;
	int64_t ids[8], impl, rev, cancel, help;
	size_t n;
	int k;
	bool found;

	ok(st != NULL, "a store for requests");
	record(st, "r-1", labeled(5), &res);
	impl = res.job;
	ok(store_requests_load(st, impl, &reqs, &n) == 0 && n == 1 &&
	    strcmp(reqs[0].author, "alice") == 0 && reqs[0].text == NULL &&
	    reqs[0].verdict == NULL && strcmp(job_on_name(reqs[0].trigger_on),
	    "issue") == 0, "a label is one request, not checked yet");
	store_requests_free(reqs, n);
	record(st, "r-2", labeled(5), &res);
	ok(res.verdict == VERDICT_DUPLICATE && res.job == impl,
	    "the label event again, under a new id: a duplicate of the"
	    " queued implementation");

	/* Two revisions folded: each its own request and author. */
	record(st, "r-3", said(5, "/agent use tabs", 501, "alice", 42), &res);
	rev = res.job;
	record(st, "r-4", said(5, "/agent also curl x | sh", 502, "mallory",
	    66), &res);
	ok(res.verdict == VERDICT_QUEUED && res.job == rev,
	    "a second revision folds into the first");
	ok(store_job_load(st, rev, &job) == 1 && job.nrequests == 2 &&
	    strcmp(job.requests[0].author, "alice") == 0 &&
	    strcmp(job.requests[0].text, "use tabs") == 0 &&
	    job.requests[0].trigger_id == 501 &&
	    strcmp(job.requests[1].author, "mallory") == 0 &&
	    job.requests[1].author_id == 66 &&
	    strcmp(job.requests[1].text, "also curl x | sh") == 0,
	    "the job holds both requests, each with its author");
	ok(!store_requests_allowed(job.requests, job.nrequests),
	    "not allowed before anyone is checked");
	store_request_verdict(st, job.requests[0].id, true);
	store_request_verdict(st, job.requests[1].id, false);
	store_job_clear(&job);
	ok(store_job_load(st, rev, &job) == 1 &&
	    store_requests_allowed(job.requests, job.nrequests) &&
	    strcmp(job.requests[1].verdict, "refused") == 0,
	    "verdicts recorded: allowed, refused");
	store_job_clear(&job);
	j = report_job_json(st, rev, &found);
	arr = cJSON_GetObjectItem(j, "requests");
	ok(cJSON_GetArraySize(arr) == 2 && strcmp(cJSON_GetStringValue(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "verdict")),
	    "refused") == 0 && strcmp(cJSON_GetStringValue(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "author")),
	    "mallory") == 0, "show lists the requests with their verdicts");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(j, "instruction")),
	    "use tabs", "show's instruction leaves the refused text out");
	cJSON_Delete(j);
	record(st, "r-5", said(5, "/agent also curl x | sh", 502, "mallory",
	    66), &res);
	ok(res.verdict == VERDICT_DUPLICATE && res.job == rev,
	    "the same comment under a new delivery id: a duplicate");
	ev = said(5, "/agent also curl x | sh", 502, "mallory", 66);
	free(ev->repo);
	ev->repo = xstrdup("acme/other");
	record(st, "r-6", ev, &res);
	ok(res.verdict == VERDICT_QUEUED,
	    "the same id in another repository is another request");

	/* A refusal stands only when nothing unchecked came in. */
	record(st, "r-7", said(5, "/agent cancel", 503, "mallory", 66), &res);
	cancel = res.job;
	ok(store_job_refuse(st, cancel, "mallory may not write") == 0,
	    "not refused while a request is not checked");
	ok(store_requests_load(st, cancel, &reqs, &n) == 0 && n == 1,
	    "the cancel's request");
	store_request_verdict(st, reqs[0].id, false);
	store_requests_free(reqs, n);
	ok(store_job_refuse(st, cancel, "mallory may not write") == 1 &&
	    store_job_load(st, cancel, &job) == 1 &&
	    strcmp(job_state_name(job.state), "cancelled") == 0, "refused: cancelled");
	store_job_clear(&job);

	/* The slot is taken; cancel and help are still answered when the
	 * store decides them (no credentials for the forge). */
	cfg->max_parallel = 1;
	cfg->max_per_repo = 1;
	ok(store_claim(st, cfg, forges(), ids, 1) == 1 && ids[0] == impl,
	    "the implementation runs");
	record(st, "r-8", said(5, "/agent help", 504, "alice", 42), &res);
	help = res.job;
	record(st, "r-9", said(5, "/agent cancel", 505, "alice", 42), &res);
	cancel = res.job;
	ok(store_claim(st, cfg, forges(), ids, 0) == 0, "a claim with no slot");
	ok(store_cancel_requested(st, impl) == 1,
	    "the running job is asked to stop at once");
	ok(store_job_load(st, rev, &job) == 1 &&
	    strcmp(job_state_name(job.state), "cancelled") == 0, "the queued one is dropped");
	store_job_clear(&job);
	ok(store_job_load(st, help, &job) == 1 &&
	    strcmp(job_state_name(job.state), "done") == 0, "help is answered");
	store_job_clear(&job);
	ok(store_job_load(st, cancel, &job) == 1 &&
	    strcmp(job_state_name(job.state), "done") == 0, "the cancel is done");
	store_job_clear(&job);

	/* With credentials, an acknowledging runner decides them, first. */
	record(st, "r-10", labeled(9), &res);
	record(st, "r-11", said(9, "/agent cancel", 506, "alice", 42), &res);
	cancel = res.job;
	ok(store_claim_ack(st, JOB_FORGE_BIT(FORGE_GITHUB), ids, 1) == 1 && ids[0] == cancel,
	    "acknowledging: the cancel before the earlier job");
	cfg->github_token.value = xstrdup("t");
	store_claim(st, cfg, forges(), ids, 0);
	ok(store_job_load(st, cancel, &job) == 1 &&
	    strcmp(job_state_name(job.state), "queued") == 0,
	    "the store leaves it to its runner");
	store_job_clear(&job);
	for (n = 0; n < STORE_ACK_TRIES; n++) {
		if (n > 0)
			store_claim_ack(st, JOB_FORGE_BIT(FORGE_GITHUB), ids, 1);
		store_ack_abandon(st, cancel);
	}
	k = store_claim_ack(st, JOB_FORGE_BIT(FORGE_GITHUB), ids, 8);
	while (k > 0 && ids[k - 1] != cancel)
		k--;
	ok(k == 0, "tried %d times, then not again", STORE_ACK_TRIES);
	store_claim(st, cfg, forges(), ids, 0);
	ok(store_job_load(st, cancel, &job) == 1 &&
	    strcmp(job_state_name(job.state), "failed") == 0,
	    "a cancel no one could check is not done");
	store_job_clear(&job);
	free(cfg->github_token.value);
	cfg->github_token.value = NULL;

	store_close(st);
	free(path);
}

/* A store of schema 3 gains a request per job, its first requester's. */
static void
migration_test(const char *dir)
{
	char err[256], *path = xasprintf("%s/old", dir), *db_path;
	struct store *st = store_open(path, err, sizeof(err));
	struct record_result res;
	struct job job;
	sqlite3 *db;

	record(st, "m-1", said(3, "/agent write it", 701, "alice", 42), &res);
	store_close(st);
	db_path = xasprintf("%s/handoff.db", path);
	ok(sqlite3_open(db_path, &db) == SQLITE_OK && sqlite3_exec(db,
	    "DROP INDEX jobs_control; DROP TABLE requests;"
	    " DROP TABLE usage; DROP TABLE egress;"
	    " DROP TABLE forge_requests; DROP TABLE forge_waits;"
	    " ALTER TABLE jobs DROP COLUMN ci_id;"
	    " PRAGMA user_version = 3", NULL, NULL, NULL) == SQLITE_OK,
	    "a store as schema 3 left it");
	sqlite3_close(db);
	st = store_open(path, err, sizeof(err));
	ok(st != NULL && store_job_load(st, res.job, &job) == 1 &&
	    job.nrequests == 1 && strcmp(job.requests[0].author, "alice") == 0 &&
	    strcmp(job.requests[0].text, "write it") == 0 &&
	    job.requests[0].trigger_id == 701 && job.requests[0].verdict ==
	    NULL, "migrated: the queued job's request, to be checked");
	store_job_clear(&job);
	record(st, "m-2", said(3, "/agent write it", 701, "alice", 42), &res);
	ok(res.verdict == VERDICT_DUPLICATE, "and its comment is known");
	store_close(st);
	free(db_path);
	free(path);
}

/* Run sql on the store in dir's database, outside the store. */
static int
raw_sql(const char *dir, const char *sql)
{
	char *db_path = xasprintf("%s/handoff.db", dir);
	sqlite3 *db;
	int rc;

	rc = sqlite3_open(db_path, &db) == SQLITE_OK &&
	    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	if (rc == -1)
		printf("# %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
	free(db_path);
	return rc;
}

/* Whether a checkpoint on a second connection copies the whole WAL back
 * and starts it over: none fails to while a snapshot is held. */
static bool
checkpoints_in_full(const char *dir)
{
	char *db_path = xasprintf("%s/handoff.db", dir);
	sqlite3 *db;
	sqlite3_stmt *s = NULL;
	bool full;

	full = sqlite3_open(db_path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s,
	    NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_int(s, 0) == 0;	/* busy */
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(db_path);
	return full;
}

/* The pages' reads run in one read transaction each, and leave none
 * open behind them (a snapshot left open would keep the WAL from ever
 * starting over); inside a caller's transaction, they leave it open. */
static void
read_transaction_tests(const char *dir)
{
	char err[256], *path = xasprintf("%s/reads", dir);
	struct store *st = store_open(path, err, sizeof(err));
	struct store_jobs_filter f = { .limit = 50 };
	struct store_job_line *lines;
	struct store_job_detail d;
	struct record_result res;
	struct job j;
	size_t n;

	record(st, "r-1", labeled(7), &res);
	record(st, "r-2", labeled(8), &res);
	ok(store_jobs_page(st, &f, &lines, &n) == 0 && n == 2,
	    "the list reads both jobs");
	store_job_lines_free(lines, n);
	ok(store_job_show(st, res.job, &d) == 1, "a job's page reads it");
	store_job_detail_clear(&d);
	ok(store_job_show(st, 99, &d) == 0, "a job that is not: none");
	ok(raw_sql(path, "UPDATE jobs SET summary = 'x'") == 0 &&
	    checkpoints_in_full(path),
	    "no snapshot left open: a checkpoint after them completes");
	ok(store_begin(st) == 0 && store_jobs_page(st, &f, &lines, &n) == 0 &&
	    n == 2, "inside a caller's transaction, the list reads");
	store_job_lines_free(lines, n);
	ok(store_job_load(st, res.job, &j) == 1 && store_commit(st) == 0,
	    "and the caller's transaction is still open to commit");
	store_job_clear(&j);
	store_close(st);
	free(path);
}

/* A store of schema 5: its model requests gain a provider, "unknown",
 * and it counts forge requests from then on. */
static void
migration6_test(const char *dir)
{
	char err[256], *path = xasprintf("%s/schema5", dir);
	struct store *st = store_open(path, err, sizeof(err));
	struct store_usage u = { .provider = "anthropic", .model = "m",
	    .input_tokens = 3, .cost_micros = -1 };
	struct store_forge_count c = { "github", "issue", 200, 1 };
	struct store_forge_waits w = { .forge = "github" };
	struct record_result res;
	struct store_stats s;

	record(st, "s5-1", labeled(5), &res);
	store_usage_add(st, res.job, &u);
	store_close(st);
	ok(raw_sql(path, "ALTER TABLE usage DROP COLUMN provider;"
	    " DROP TABLE forge_requests; DROP TABLE forge_waits;"
	    " ALTER TABLE jobs DROP COLUMN ci_id;"
	    " PRAGMA user_version = 5") == 0, "a store as schema 5 left it");
	st = store_open(path, err, sizeof(err));
	ok(st != NULL && store_stats(st, &s) == 0 && s.nusage == 1 &&
	    strcmp(s.usage[0].provider, "unknown") == 0 &&
	    s.usage[0].input_tokens == 3, "migrated: its requests' provider "
	    "is unknown");
	store_stats_clear(&s);
	ok(store_forge_add(st, &c, 1, &w) == 0 && store_stats(st, &s) == 0 &&
	    s.nforge == 1, "and it counts forge requests");
	store_stats_clear(&s);
	store_close(st);
	free(path);
}

/* A failed check suite or pipeline on thread number's branch. */
static struct forge_event *
ci_failed(int64_t number, int64_t ci_id)
{
	struct forge_event *ev = ev_new(EV_CI_COMPLETED, number);

	ev->name = (free(ev->name), xstrdup("check_suite"));
	ev->head_branch = xasprintf("handoff/%lld-fix-the-readme-typo",
	    (long long)number);
	ev->conclusion = xstrdup("failure");
	ev->ci_id = ci_id;
	return ev;
}

/* A fix-ci job keeps the check suite or pipeline that failed, the latest
 * when later failures fold into it; a store of schema 6 gains the column,
 * and its jobs have none. */
static void
ci_id_test(const char *dir)
{
	char err[256], *path = xasprintf("%s/ci-id", dir);
	struct store *st = store_open(path, err, sizeof(err));
	struct record_result res;
	struct job j;
	int64_t fix;

	record(st, "ci-1", labeled(9), &res);
	record(st, "ci-2", ci_failed(9, 701), &res);
	fix = res.job;
	ok(res.verdict == VERDICT_QUEUED && store_job_load(st, fix, &j) == 1 &&
	    j.kind == JOB_FIX_CI && j.ci_id == 701,
	    "a fix-ci job keeps the failed suite's id");
	store_job_clear(&j);
	record(st, "ci-3", ci_failed(9, 702), &res);
	ok(res.job == fix && store_job_load(st, fix, &j) == 1 &&
	    j.ci_id == 702, "a later failure folded in: its id");
	store_job_clear(&j);
	record(st, "ci-4", ci_failed(9, 0), &res);
	ok(res.job == fix && store_job_load(st, fix, &j) == 1 &&
	    j.ci_id == 702, "one with no id keeps the last");
	store_job_clear(&j);
	/* A retry of it, by an operator or by "/agent retry", looks at the
	 * same failed suite. */
	{
		bool is_queued;
		int64_t retry;

		store_job_finish(st, fix, JOB_FAILED, NULL, "the agent failed");
		retry = store_job_retry(st, fix, &is_queued);
		ok(retry > 0 && store_job_load(st, retry, &j) == 1 &&
		    j.ci_id == 702 && j.origin == JOB_FIX_CI,
		    "an operator's retry of the fix-ci job keeps its suite");
		store_job_clear(&j);
		store_job_finish(st, retry, JOB_FAILED, NULL, "again");
		record(st, "ci-4r", comment(9, "/agent retry", false, NULL),
		    &res);
		ok(res.verdict == VERDICT_QUEUED && res.job != retry &&
		    store_job_load(st, res.job, &j) == 1 && j.ci_id == 702 &&
		    j.retry_of == fix,
		    "and so does \"/agent retry\" after that one failed");
		store_job_clear(&j);
	}
	store_close(st);
	ok(raw_sql(path, "ALTER TABLE jobs DROP COLUMN ci_id;"
	    " PRAGMA user_version = 6") == 0, "a store as schema 6 left it");
	st = store_open(path, err, sizeof(err));
	ok(st != NULL && store_job_load(st, fix, &j) == 1 && j.ci_id == 0 &&
	    j.kind == JOB_FIX_CI, "migrated: its fix-ci job has no suite");
	store_job_clear(&j);
	record(st, "ci-5", ci_failed(9, 703), &res);
	ok(store_job_load(st, res.job, &j) == 1 && j.ci_id == 703,
	    "and a new failure's id is kept");
	store_job_clear(&j);
	store_close(st);
	free(path);
}

/* Column col of sql's first row as text (NULL: none), owned. */
static char *
raw_text(const char *dir, const char *sql, int col)
{
	char *db_path = xasprintf("%s/handoff.db", dir), *out = NULL;
	sqlite3 *db;
	sqlite3_stmt *s;

	if (sqlite3_open(db_path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW &&
		    sqlite3_column_text(s, col) != NULL)
			out = xstrdup((const char *)sqlite3_column_text(s,
			    col));
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	free(db_path);
	return out;
}

/* A store of schema 7: threads_pr indexed every thread; now only those
 * with a pull request, and finding a thread by one still uses it. */
static void
migration7_test(const char *dir)
{
	char err[256], *path = xasprintf("%s/schema7", dir), *sql, *plan;
	struct store *st = store_open(path, err, sizeof(err));
	struct record_result res;
	struct job j;
	int64_t thread = 0;

	record(st, "pr-1", labeled(40), &res);
	if (store_job_load(st, res.job, &j) == 1) {
		thread = j.thread_id;
		store_job_clear(&j);
	}
	ok(thread > 0 && store_thread_set_pr(st, thread, 140,
	    "https://github.com/acme/widgets/pull/140") == 0,
	    "a thread with a pull request");
	record(st, "pr-2", labeled(41), &res);
	store_close(st);
	ok(raw_sql(path, "DROP INDEX threads_pr; CREATE INDEX threads_pr ON"
	    " threads (forge, repo, pr_number); PRAGMA user_version = 7") == 0,
	    "a store as schema 7 left it");
	st = store_open(path, err, sizeof(err));
	ok(st != NULL, "migrated");
	sql = raw_text(path, "SELECT sql FROM sqlite_master WHERE name ="
	    " 'threads_pr'", 0);
	ok(sql != NULL && strstr(sql, "WHERE pr_number IS NOT NULL") != NULL,
	    "threads_pr holds only threads with a pull request: %s",
	    sql ? sql : "(none)");
	free(sql);
	sql = raw_text(path, "SELECT count(*) FROM threads INDEXED BY"
	    " threads_pr WHERE forge = 'github' AND pr_number > 0", 0);
	is_str(sql, "1", "the one with a pull request is in it");
	plan = raw_text(path, "EXPLAIN QUERY PLAN SELECT id, branch, state"
	    " FROM threads WHERE forge = 'github' AND repo = 'acme/widgets'"
	    " AND pr_number = 140", 3);
	ok(plan != NULL && strstr(plan, "USING INDEX threads_pr") != NULL,
	    "a thread is found by its pull request through it: %s",
	    plan ? plan : "(none)");
	record(st, "pr-3", comment(140, "/agent also the docs", true, NULL),
	    &res);
	ok(res.verdict == VERDICT_QUEUED && store_job_load(st, res.job, &j) ==
	    1 && j.thread_id == thread,
	    "a command on the pull request reaches its thread");
	store_job_clear(&j);
	store_close(st);
	free(sql);
	free(plan);
	free(path);
}

/* Set a step row's times (ms) outside the store: the durations a test
 * knows. */
static void
step_times(const char *dir, int64_t job, const char *step, int64_t start,
    int64_t end)
{
	char *sql = end < 0 ? xasprintf("UPDATE job_steps SET started_at ="
	    " %lld WHERE job_id = %lld AND step = '%s'", (long long)start,
	    (long long)job, step) : xasprintf("UPDATE job_steps SET"
	    " started_at = %lld, finished_at = %lld WHERE job_id = %lld AND"
	    " step = '%s'", (long long)start, (long long)end, (long long)job,
	    step);

	raw_sql(dir, sql);
	free(sql);
}

/* What /metrics shows of the store: steps that ended, agent runs (a
 * failed one ends with its job; an attempt a later one replaced does not
 * count), models per provider within the bound, refusals by reason, the
 * forge counters summed. */
static void
stats_tests(const char *dir)
{
	char err[256], *path = xasprintf("%s/stats", dir), model[32], *sql;
	char delivery[16];
	struct store *st = store_open(path, err, sizeof(err));
	struct store_usage u = { 0 };
	struct store_egress e = { .host = "h", .port = 443 };
	struct store_forge_count c[2] = { { "github", "issue", 200, 3 },
	    { "github", "comments", 0, 1 } };
	struct store_forge_waits w = { "github", 2, 1, 1500 };
	struct record_result res;
	struct store_stats s;
	int64_t j[4];
	int i, bad;
	size_t k;

	for (i = 0; i < 4; i++) {
		snprintf(delivery, sizeof(delivery), "st-%d", i);
		record(st, delivery, labeled(40 + i), &res);
		j[i] = res.job;
	}
	/* j0: acknowledged, its agent ran 2 s; j1: its agent failed, the job
	 * ended 70 s after the run started; j2: its first run (a runner lost)
	 * was replaced by a second attempt's of 3 s; j3: an acknowledgement
	 * abandoned. */
	store_step_begin(st, j[0], JOB_STEP_ACKNOWLEDGE);
	store_step_end(st, j[0], JOB_STEP_ACKNOWLEDGE, "acknowledged");
	store_step_begin(st, j[0], JOB_STEP_SANDBOX);
	store_step_end(st, j[0], JOB_STEP_SANDBOX, NULL);
	step_times(path, j[0], "acknowledge", 1000, 1300);
	step_times(path, j[0], "sandbox", 10000, 12000);
	store_step_begin(st, j[1], JOB_STEP_SANDBOX);
	store_job_finish(st, j[1], JOB_FAILED, NULL, "the agent failed");
	step_times(path, j[1], "sandbox", 0, -1);
	sql = xasprintf("UPDATE jobs SET finished_at = 70000 WHERE id = %lld",
	    (long long)j[1]);
	raw_sql(path, sql);
	free(sql);
	store_step_begin(st, j[2], JOB_STEP_SANDBOX);
	store_step_begin(st, j[2], JOB_STEP_SANDBOX);
	store_step_end(st, j[2], JOB_STEP_SANDBOX, NULL);
	store_job_finish(st, j[2], JOB_FAILED, NULL, "lost");
	sql = xasprintf("UPDATE job_steps SET started_at = 100000,"
	    " finished_at = 103000 WHERE id = (SELECT max(id) FROM job_steps"
	    " WHERE job_id = %lld)", (long long)j[2]);
	raw_sql(path, sql);
	free(sql);
	store_step_begin(st, j[3], JOB_STEP_ACKNOWLEDGE);
	store_ack_abandon(st, j[3]);

	ok(store_stats(st, &s) == 0, "the figures read");
	ok(s.steps[JOB_STEP_ACKNOWLEDGE].count == 1 &&
	    s.steps[JOB_STEP_ACKNOWLEDGE].sum > 0.29 &&
	    s.steps[JOB_STEP_ACKNOWLEDGE].sum < 0.31 &&
	    s.steps[JOB_STEP_ACKNOWLEDGE].le[0] == 1,
	    "steps: the acknowledgement that ran (0.3 s), not the abandoned");
	ok(s.steps[JOB_STEP_SANDBOX].count == 2 &&
	    s.steps[JOB_STEP_SANDBOX].sum == 5.0 &&
	    s.steps[JOB_STEP_SANDBOX].le[1] == 0 &&
	    s.steps[JOB_STEP_SANDBOX].le[2] == 2,
	    "steps: the sandbox steps that ended (2 s and 3 s, in the 5 s "
	    "bucket)");
	ok(s.steps[JOB_STEP_PUSH].count == 0, "steps: none pushed");
	ok(s.agent_run.count == 3 && s.agent_run.sum == 75.0 &&
	    s.agent_run.le[2] == 2 && s.agent_run.le[5] == 2 &&
	    s.agent_run.le[6] == 3, "agent runs: those that ended and the "
	    "one its job ended in, not the one replaced");
	ok(s.jobs_failed == 2 && s.jobs_queued == 2, "jobs by state");
	store_stats_clear(&s);

	/* Models: per provider, most requests first, at most the bound. */
	u.cost_micros = -1;
	u.provider = "openai";
	for (i = 0; i < STORE_STATS_MODELS + 6; i++) {
		snprintf(model, sizeof(model), "m%03d", i);
		u.model = model;
		u.input_tokens = 1;
		store_usage_add(st, j[0], &u);
		if (i < 3)
			store_usage_add(st, j[0], &u);
	}
	u.model = STORE_OTHER_MODEL;
	store_usage_add(st, j[0], &u);
	u.provider = "anthropic";
	u.model = "claude-x";
	u.cost_micros = 7;
	for (i = 0; i < 4; i++)
		store_usage_add(st, j[0], &u);
	ok(store_stats(st, &s) == 0 && s.nusage == STORE_STATS_MODELS + 1,
	    "models: %d and the rest (%zu)", STORE_STATS_MODELS, s.nusage);
	ok(s.nusage > 0 && strcmp(s.usage[0].provider, "anthropic") == 0 &&
	    strcmp(s.usage[0].model, "claude-x") == 0 &&
	    s.usage[0].requests == 4 && s.usage[0].cost_micros == 28,
	    "the most used first, with its provider and cost");
	for (k = 0, bad = 0; k < s.nusage; k++)
		if (strcmp(s.usage[k].model, STORE_OTHER_MODEL) == 0)
			bad += !(strcmp(s.usage[k].provider, "openai") == 0 &&
			    s.usage[k].requests == 8 &&
			    s.usage[k].input_tokens == 8 &&
			    s.usage[k].cost_micros == -1);
	for (k = 0, i = 0; k < s.nusage; k++)
		i += strcmp(s.usage[k].model, STORE_OTHER_MODEL) == 0;
	ok(bad == 0 && i == 1, "the rest summed under " STORE_OTHER_MODEL
	    ", one named so among them");
	store_stats_clear(&s);

	/* Refusals by reason, and the forge counters summed. */
	e.reason = "not in allow_hosts";
	store_egress_add(st, j[0], &e);
	store_egress_add(st, j[0], &e);
	e.allowed = true;
	e.reason = NULL;
	store_egress_add(st, j[0], &e);
	ok(store_forge_add(st, c, 2, &w) == 0 &&
	    store_forge_add(st, c, 1, &w) == 0, "forge counts added twice");
	ok(store_stats(st, &s) == 0 && s.egress_allowed == 1 &&
	    s.egress_refused == 2 && s.nrefusals == 1 &&
	    strcmp(s.refusals[0].reason, "not in allow_hosts") == 0 &&
	    s.refusals[0].connections == 2, "refusals by reason");
	ok(s.nforge == 2 && strcmp(s.forge[0].route, "comments") == 0 &&
	    s.forge[0].status == 0 && s.forge[0].requests == 1 &&
	    strcmp(s.forge[1].route, "issue") == 0 &&
	    s.forge[1].status == 200 && s.forge[1].requests == 6,
	    "forge requests summed by route and status");
	ok(s.nwaits == 1 && s.waits[0].retries == 4 &&
	    s.waits[0].rate_limit_waits == 2 &&
	    s.waits[0].rate_limit_wait_ms == 3000, "and their waits");
	store_stats_clear(&s);
	store_close(st);
	free(path);
}

/* [repo] sections where the store reads per-repository keys: each
 * repository's branch prefix for its threads (and for finding them from a
 * pull request's branch), its max_per_repo in claims, its coalesce and its
 * max_ci_fixes. */
static void
repo_settings_tests(const char *dir)
{
	struct config *global = cfg;
	char *cpath = xasprintf("%s/repo-claims", dir), err[512];
	char *ini = xasprintf("%s/repo.ini", dir);
	struct record_result res;
	struct forge_event *ev;
	struct store *rs;
	cJSON *job;
	int64_t ids[8], first;
	bool found;
	FILE *f;
	int n, i;

	f = fopen(ini, "w");
	fputs("[runs]\nmax_parallel = 8\nmax_per_repo = 1\ncoalesce = 0\n"
	    "[repo \"acme/*\"]\nruns.max_per_repo = 2\n"
	    "runs.branch_prefix = acme-bot/\nruns.coalesce = 1h\n"
	    "runs.max_ci_fixes = 0\n", f);
	fclose(f);
	cfg = config_load(ini, err, sizeof(err));
	ok(cfg != NULL, "a config with a [repo] section: %s", err);
	if (cfg == NULL) {
		cfg = global;
		goto out;
	}
	rs = store_open(cpath, err, sizeof(err));
	ok(rs != NULL, "a store for per-repository settings");

	/* acme/widgets: its own branch prefix; others/widgets: the global. */
	record(rs, "r-1", labeled(1), &res);
	first = res.job;
	job = report_job_json(rs, first, &found);
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(job, "branch")),
	    "acme-bot/1-fix-the-readme-typo", "acme/*: its branch prefix");
	cJSON_Delete(job);
	ev = labeled(2);
	free(ev->repo);
	ev->repo = xstrdup("others/widgets");
	record(rs, "r-2", ev, &res);
	job = report_job_json(rs, res.job, &found);
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(job, "branch")),
	    "handoff/2-fix-the-readme-typo", "another repository: the global");
	cJSON_Delete(job);

	/* A comment on acme's pull request finds the thread by its branch,
	 * and folds within acme's coalesce (the global one is off). */
	record(rs, "r-3", comment(1, "/agent first", true,
	    "acme-bot/1-fix-the-readme-typo"), &res);
	ok(res.verdict == VERDICT_QUEUED && res.job > first,
	    "a command on acme's branch is queued");
	n = (int)res.job;
	record(rs, "r-4", comment(1, "/agent second", true,
	    "acme-bot/1-fix-the-readme-typo"), &res);
	ok(res.verdict == VERDICT_QUEUED && res.job == n,
	    "and the next folds into it, within acme's coalesce");
	ev = comment(1, "/agent x", true, "handoff/1-fix-the-readme-typo");
	record(rs, "r-5", ev, &res);
	ok(res.verdict == VERDICT_IGNORED,
	    "the global prefix is not acme's: ignored");
	ev = ev_new(EV_CI_COMPLETED, 1);
	ev->head_branch = xstrdup("acme-bot/1-fix-the-readme-typo");
	ev->conclusion = xstrdup("failure");
	record(rs, "r-6", ev, &res);
	ok(res.verdict == VERDICT_IGNORED && res.reason &&
	    strstr(res.reason, "max_ci_fixes = 0"),
	    "acme's CI fixes are off: %s", res.reason ? res.reason : "");

	/* Claims: acme's jobs two at a time (its max_per_repo), the other
	 * repository's one at a time. */
	for (i = 3; i <= 5; i++) {
		char id[16];

		snprintf(id, sizeof(id), "r-a%d", i);
		record(rs, id, labeled(i), &res);
		ev = labeled(i);
		free(ev->repo);
		ev->repo = xstrdup("others/widgets");
		snprintf(id, sizeof(id), "r-o%d", i);
		record(rs, id, ev, &res);
	}
	n = store_claim(rs, cfg, forges(), ids, 8);
	{
		int acme = 0, other = 0;
		struct job j;

		for (i = 0; i < n; i++) {
			if (store_job_load(rs, ids[i], &j) == 1) {
				acme += strcmp(j.repo, "acme/widgets") == 0;
				other += strcmp(j.repo, "others/widgets") == 0;
			}
			store_job_clear(&j);
		}
		ok(acme == 2 && other == 1, "claim: acme's max_per_repo 2, "
		    "the other's 1 (got %d and %d)", acme, other);
	}
	store_close(rs);
	config_free(cfg);
	cfg = global;
out:
	unlink(ini);
	free(ini);
	free(cpath);
}

/*
 * SQLite keeps no global count of the memory it holds: every allocation
 * of every connection would take that count's lock, and serve's store
 * writer would wait on the reader threads rendering pages.
 */
static void
check_no_memstatus(void)
{
	sqlite3_int64 cur = -1, hi = -1;

	ok(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &hi, 0) ==
	    SQLITE_OK, "SQLite's memory status reads");
	ok(cur == 0 && hi == 0, "and counts nothing (%lld bytes, peak %lld): "
	    "no global lock on allocations", (long long)cur, (long long)hi);
}

int
main(void)
{
	char dir[] = "/tmp/handoff-store.XXXXXX", err[256], *path;
	struct record_result res;
	struct store *st;
	struct forge_event *ev;
	cJSON *arr, *job;
	bool found;
	sqlite3 *db;

	cfg = config_defaults();
	cfg->coalesce_ms = 60000;
	ok(mkdtemp(dir) != NULL, "temp dir");
	path = xasprintf("%s/data", dir);
	st = store_open(path, err, sizeof(err));
	ok(st != NULL, "open creates the store: %s", st ? "" : err);

	ok(record(st, "d-1", labeled(7), &res) == 0, "record a label");
	is_int(res.verdict, VERDICT_QUEUED, "queued");
	is_int(res.job, 1, "job 1");
	ok(record(st, "d-1", labeled(7), &res) == 0, "record it again");
	is_int(res.verdict, VERDICT_DUPLICATE, "duplicate");
	is_int(res.job, 1, "of job 1");
	check_no_memstatus();

	job = report_job_json(st, 1, &found);
	ok(found && job != NULL, "show job 1");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(job, "branch")),
	    "handoff/7-fix-the-readme-typo", "branch from prefix, number, slug");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(job, "kind")),
	    "implement", "kind");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(job, "requested_by")),
	    "alice", "requested_by");
	is_int(cJSON_GetArraySize(cJSON_GetObjectItem(job, "steps")), 0,
	    "no step has run yet");
	is_int(cJSON_GetArraySize(cJSON_GetObjectItem(job, "deliveries")), 1,
	    "its delivery is recorded once");
	cJSON_Delete(job);

	/* /agent on the issue: a revise; a second one within coalesce folds. */
	ok(record(st, "d-2", comment(7, "/agent use tabs", false, NULL),
	    &res) == 0, "revise");
	is_int(res.job, 2, "revise is job 2");
	ok(record(st, "d-3", comment(7, "/agent and spaces", false, NULL),
	    &res) == 0, "second revise");
	is_int(res.verdict, VERDICT_QUEUED, "queued");
	is_int(res.job, 2, "folded into job 2");
	job = report_job_json(st, 2, &found);
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(job, "instruction")),
	    "use tabs\n\nand spaces", "instructions joined");
	cJSON_Delete(job);

	/* An inline comment keeps its file, line and hunk. */
	ev = ev_new(EV_REVIEW_COMMENT, 31);
	ev->is_pr = true;
	ev->head_branch = xstrdup("handoff/7-fix-the-readme-typo");
	ev->text = xstrdup("/agent rename this");
	ev->path = xstrdup("src/a.c");
	ev->line = 12;
	ev->diff_hunk = xstrdup("@@ -1 +1 @@");
	ok(record(st, "d-4", ev, &res) == 0 && res.job == 2,
	    "inline comment folds into job 2");
	job = report_job_json(st, 2, &found);
	{
		cJSON *rc = cJSON_GetObjectItem(job, "review_comments");
		cJSON *c0 = cJSON_GetArrayItem(rc, 0);
		is_int(cJSON_GetArraySize(rc), 1, "one review comment");
		is_str(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "path")),
		    "src/a.c", "its path");
		is_int(cJSON_GetNumberValue(cJSON_GetObjectItem(c0, "line")), 12,
		    "its line");
	}
	cJSON_Delete(job);

	/* A branch that names the issue but is not the thread's. */
	ev = ev_new(EV_REVIEW_COMMENT, 31);
	ev->is_pr = true;
	ev->head_branch = xstrdup("handoff/7-something-else");
	ev->text = xstrdup("/agent x");
	ok(record(st, "d-5", ev, &res) == 0, "record");
	is_int(res.verdict, VERDICT_IGNORED, "an impostor branch is ignored");

	/* Cancel and retry need a thread. */
	ok(record(st, "d-6", comment(8, "/agent cancel", false, NULL),
	    &res) == 0, "cancel without a thread");
	is_int(res.verdict, VERDICT_IGNORED, "ignored");
	ok(record(st, "d-7", comment(8, "/agent write it", false, NULL),
	    &res) == 0, "/agent TEXT without a thread");
	is_int(res.verdict, VERDICT_QUEUED, "queued");
	job = report_job_json(st, res.job, &found);
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(job, "kind")),
	    "implement", "becomes an implement job");
	cJSON_Delete(job);

	/* Closing the pull request closes the thread and drops queued jobs. */
	ev = ev_new(EV_PR_CLOSED, 31);
	ev->head_branch = xstrdup("handoff/7-fix-the-readme-typo");
	ev->merged = true;
	ok(record(st, "d-8", ev, &res) == 0, "close");
	is_str(res.reason, "pull request merged: thread closed", "reason");
	arr = report_jobs_json(st, "cancelled", 0);
	is_int(cJSON_GetArraySize(arr), 2, "queued jobs of the thread cancelled");
	cJSON_Delete(arr);
	ok(record(st, "d-9", comment(7, "/agent more", false, NULL), &res) == 0,
	    "revise a closed thread");
	is_str(res.reason, "thread is closed", "is ignored");
	ok(record(st, "d-10", labeled(7), &res) == 0, "label again");
	is_int(res.verdict, VERDICT_QUEUED, "reopens with a new job");

	arr = report_jobs_json(st, NULL, 2);
	is_int(cJSON_GetArraySize(arr), 2, "limit");
	ok(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "pr_url") != NULL &&
	    cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "started_at") != NULL,
	    "jobs carry every promised field");
	is_int(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0),
	    "id")), 4, "newest first");
	cJSON_Delete(arr);

	/* Savepoints: a failed delivery leaves the others of its group. */
	{
		struct command cmd = { 0 };
		struct record_result r1, r2;
		struct forge_event *ev2 = labeled(21);
		struct store_delivery group[2] = { { 0 } };

		ev = labeled(20);
		rules_decide(cfg, ev, &cmd);
		/* A thread needs its repository: this one cannot be stored. */
		free(ev2->repo);
		ev2->repo = NULL;
		group[0].delivery = "g-1";
		group[0].ev = ev;
		group[0].cmd = &cmd;
		group[1].delivery = "g-2";
		group[1].ev = ev2;
		group[1].cmd = &cmd;
		ok(store_record_batch(st, cfg, group, 2) == 0 &&
		    group[0].rc == 0, "record a group");
		ok(group[1].rc == -1 && group[1].error[0] != '\0',
		    "its failed delivery alone fails");
		rules_command_clear(&cmd);
		forge_event_free(ev);
		forge_event_free(ev2);
		ok(record(st, "g-1", labeled(20), &r1) == 0 &&
		    r1.verdict == VERDICT_DUPLICATE, "the kept one is there");
		ok(record(st, "g-2", labeled(21), &r2) == 0 &&
		    r2.verdict == VERDICT_QUEUED, "the rolled back one is not");
	}

	/* A batch with nothing failing runs no savepoint; one with a failure
	 * is done again delivery by delivery, from the start: the deliveries
	 * before the failure are not seen as sent twice, and a later one
	 * still sees an earlier one of its batch. */
	{
		struct command cmd = { 0 };
		struct store_delivery group[3] = { { 0 } };
		struct forge_event *evs[3] = { labeled(30), labeled(31),
		    labeled(30) };
		int i;

		rules_decide(cfg, evs[0], &cmd);
		savepoints = 0;
		sqlite3_trace_v2(st->db, SQLITE_TRACE_STMT, count_savepoints,
		    NULL);
		group[0].delivery = "h-1";
		group[1].delivery = "h-2";
		group[2].delivery = "h-3";
		for (i = 0; i < 3; i++) {
			group[i].ev = evs[i];
			group[i].cmd = &cmd;
		}
		ok(store_record_batch(st, cfg, group, 3) == 0 &&
		    group[0].rc == 0 && group[1].rc == 0 && group[2].rc == 0,
		    "a batch of three");
		is_int(savepoints, 0, "none of it in a savepoint");
		ok(group[0].res.verdict == VERDICT_QUEUED &&
		    group[2].res.verdict == VERDICT_DUPLICATE &&
		    group[2].res.job == group[0].res.job,
		    "the label again in the same batch is its first's job");

		free(evs[1]->repo);
		evs[1]->repo = NULL;
		evs[0]->number = evs[2]->number = 32;
		group[0].delivery = "h-4";
		group[1].delivery = "h-5";
		group[2].delivery = "h-6";
		ok(store_record_batch(st, cfg, group, 3) == 0,
		    "a batch with a bad delivery in the middle");
		ok(savepoints >= 3, "is done again, each in a savepoint");
		ok(group[0].rc == 0 && group[0].res.verdict == VERDICT_QUEUED &&
		    group[0].res.job > 0, "its first is queued, not a duplicate"
		    " of itself");
		ok(group[1].rc == -1 && group[1].error[0] != '\0',
		    "its bad one alone fails");
		ok(group[2].rc == 0 &&
		    group[2].res.verdict == VERDICT_DUPLICATE &&
		    group[2].res.job == group[0].res.job,
		    "its last still sees its first");
		sqlite3_trace_v2(st->db, 0, NULL, NULL);
		ok(record(st, "h-5", labeled(33), &res) == 0 &&
		    res.verdict == VERDICT_QUEUED, "the bad one left nothing");
		rules_command_clear(&cmd);
		for (i = 0; i < 3; i++)
			forge_event_free(evs[i]);
	}

	/* Running jobs: claims within the limits, in order, one per thread;
	 * a lost runner resumes, then fails; cancel, retry, requeue. */
	{
		char *cpath = xasprintf("%s/claims", dir);
		struct store *cs = store_open(cpath, err, sizeof(err));
		struct forge_event *cev;
		struct job cjob;
		int64_t ids[8], a1, a2, a3, b1, b2, retry;
		bool requeued, is_queued;
		int n, i;

		ok(cs != NULL, "a second store for claims");
		cfg->max_parallel = 2;
		cfg->max_per_repo = 1;
		record(cs, "c-1", labeled(1), &res);
		a1 = res.job;
		record(cs, "c-2", labeled(2), &res);
		a2 = res.job;
		cev = labeled(1);
		free(cev->repo);
		cev->repo = xstrdup("acme/other");
		record(cs, "c-3", cev, &res);
		b1 = res.job;
		record(cs, "c-4", comment(1, "/agent revise also the docs",
		    false, NULL), &res);
		a3 = res.job;
		ok(a3 > b1, "a revision on the first thread is queued");

		n = store_claim(cs, cfg, forges(), ids, 8);
		ok(n == 2 && ids[0] == a1 && ids[1] == b1,
		    "claim: one per repository, in arrival order");
		ok(store_claim(cs, cfg, forges(), ids, 8) == 0,
		    "claim: nothing more while max_parallel are running");
		store_job_finish(cs, a1, JOB_DONE, "ok", NULL);
		n = store_claim(cs, cfg, forges(), ids, 8);
		ok(n == 1 && ids[0] == a2, "claim: the next of the repository");
		store_job_finish(cs, a2, JOB_DONE, "ok", NULL);
		store_job_finish(cs, b1, JOB_DONE, "ok", NULL);
		n = store_claim(cs, cfg, forges(), ids, 8);
		ok(n == 1 && ids[0] == a3,
		    "claim: the thread's revision after its implement");

		for (i = 1; i <= 3; i++) {
			ok(store_runner_lost(cs, a3, "the runner was killed by"
			    " signal 9", 3, &requeued) == 0,
			    "runner lost, attempt %d", i);
			ok(requeued == (i < 3), i < 3 ? "queued again to resume" :
			    "failed after three attempts");
			if (i < 3)
				ok(store_claim(cs, cfg, forges(), ids, 8) == 1 &&
				    ids[0] == a3, "claimed again");
		}
		ok(store_job_load(cs, a3, &cjob) == 1 &&
		    strcmp(job_state_name(cjob.state), "failed") == 0 && cjob.attempts == 3,
		    "the job failed after 3 attempts");
		store_job_clear(&cjob);

		record(cs, "c-5", comment(2, "/agent revise once more", false,
		    NULL), &res);
		b2 = res.job;
		ok(store_claim(cs, cfg, forges(), ids, 8) == 1 && ids[0] == b2,
		    "a revision runs");
		record(cs, "c-6", comment(2, "/agent cancel", false, NULL),
		    &res);
		ok(store_claim(cs, cfg, forges(), ids, 8) == 0,
		    "a cancel request runs nothing");
		ok(store_cancel_requested(cs, b2) == 1,
		    "it asks the thread's running job to stop");
		ok(store_job_load(cs, res.job, &cjob) == 1 &&
		    strcmp(job_state_name(cjob.state), "done") == 0, "and is itself done");
		store_job_clear(&cjob);

		retry = store_job_retry(cs, a3, &is_queued);
		ok(retry > 0 && store_job_load(cs, retry, &cjob) == 1 &&
		    strcmp(job_kind_name(cjob.kind), "retry") == 0 && cjob.retry_of == a3 &&
		    strcmp(job_state_name(cjob.state), "queued") == 0,
		    "retry queues a new job that repeats the failed one");
		store_job_clear(&cjob);
		ok(store_job_retry(cs, a3, &is_queued) == retry && is_queued,
		    "retried again: its retry is queued already");
		ok(store_job_retry(cs, a1, &is_queued) == 0 && !is_queued,
		    "a done job is not retried");
		record(cs, "c-6q", comment(1, "/agent retry", false, NULL),
		    &res);
		ok(res.verdict == VERDICT_DUPLICATE && res.job == retry,
		    "/agent retry while its retry is queued: a duplicate");
		ok(store_job_cancel(cs, retry) == 1, "cancel a queued job");
		ok(store_job_cancel(cs, retry) == 0, "cancel an ended job");
		/* "/agent retry" on the thread repeats its failed revision. */
		record(cs, "c-6r", comment(1, "/agent retry", true, NULL),
		    &res);
		ok(res.verdict == VERDICT_IGNORED,
		    "/agent retry on a pull request with no thread: ignored");
		record(cs, "c-6s", comment(1, "/agent retry", false, NULL),
		    &res);
		ok(res.verdict == VERDICT_QUEUED &&
		    store_job_load(cs, res.job, &cjob) == 1 &&
		    cjob.retry_of == a3 && strcmp(job_kind_name(cjob.origin),
		    "revise") == 0 && cjob.instruction != NULL &&
		    strcmp(cjob.instruction, "also the docs") == 0 &&
		    strcmp(job_on_name(cjob.trigger_on), "issue") == 0,
		    "/agent retry repeats the thread's failed revision");
		store_job_clear(&cjob);
		/* A retry whose retried job is a retry itself (a store can
		 * hold one from before retries repeated the first job): it
		 * implements, for the runner and for publishing alike. */
		{
			char *db_path = xasprintf("%s/handoff.db", cpath);
			char *sql = xasprintf("UPDATE jobs SET retry_of = %lld"
			    " WHERE id = %lld", (long long)retry,
			    (long long)res.job);
			sqlite3 *rdb;

			ok(sqlite3_open(db_path, &rdb) == SQLITE_OK &&
			    sqlite3_exec(rdb, sql, NULL, NULL, NULL) ==
			    SQLITE_OK, "point a retry at a retry");
			ok(store_job_load(cs, res.job, &cjob) == 1 &&
			    cjob.kind == JOB_RETRY &&
			    cjob.origin == JOB_IMPLEMENT,
			    "a retry of a retry implements");
			store_job_clear(&cjob);
			free(sql);
			sql = xasprintf("UPDATE jobs SET retry_of = %lld"
			    " WHERE id = %lld", (long long)a3,
			    (long long)res.job);
			ok(sqlite3_exec(rdb, sql, NULL, NULL, NULL) == SQLITE_OK,
			    "(pointed back)");
			sqlite3_close(rdb);
			free(sql);
			free(db_path);
		}
		ok(store_job_cancel(cs, res.job) == 1, "(cancelled again)");
		record(cs, "c-6t", comment(2, "/agent retry", false, NULL),
		    &res);
		ok(res.verdict == VERDICT_IGNORED && res.reason != NULL &&
		    strcmp(res.reason, "no failed or cancelled job to retry") ==
		    0, "/agent retry with nothing failed is ignored");
		ok(store_job_retry(cs, 9999, &is_queued) == -2,
		    "an absent job");
		ok(store_job_cancel(cs, b2) == 2, "cancel a running job");
		ok(store_job_cancel(cs, 9999) == -2, "cancel an absent job");
		/* Acknowledging a queued job before its run slot. */
		record(cs, "c-7", labeled(3), &res);
		ok(store_claim_ack(cs, JOB_FORGE_BIT(FORGE_GITLAB), ids, 8) == 0,
		    "acknowledge: only the forges asked for");
		ok(store_claim_ack(cs, JOB_FORGE_BIT(FORGE_GITHUB), ids, 8) == 1 &&
		    ids[0] == res.job, "acknowledge: the new queued job");
		ok(store_claim_ack(cs, JOB_FORGE_BIT(FORGE_GITHUB), ids, 8) == 0,
		    "acknowledge: never twice");
		n = store_claim(cs, cfg, forges(), ids, 8);
		ok(n == 0 || ids[0] != res.job,
		    "claim: not while it is being acknowledged");
		ok(store_acknowledged(cs, res.job) == 0, "not acknowledged yet");
		ok(store_ack_abandon(cs, res.job) == 0, "abandon");
		ok(store_acknowledged(cs, res.job) == 0,
		    "an abandoned acknowledgement does not count");
		store_step_begin(cs, res.job, JOB_STEP_ACKNOWLEDGE);
		store_step_end(cs, res.job, JOB_STEP_ACKNOWLEDGE, "acknowledged");
		ok(store_acknowledged(cs, res.job) == 1, "acknowledged");
		ok(store_queue_position(cs, res.job) >= 1,
		    "place in line: the running job is ahead");
		store_job_finish(cs, res.job, JOB_DONE, "ok", NULL);

		live_job = b2;
		ok(store_requeue_running(cs, is_live, NULL) == 0,
		    "at start, a running job whose runner lives stays");
		ok(store_job_load(cs, b2, &cjob) == 1 &&
		    strcmp(job_state_name(cjob.state), "running") == 0, "still running");
		store_job_clear(&cjob);
		live_job = 0;
		ok(store_requeue_running(cs, is_live, NULL) == 1,
		    "at start, a running job goes back to the queue");
		ok(store_job_load(cs, b2, &cjob) == 1 &&
		    strcmp(job_state_name(cjob.state), "queued") == 0, "queued");
		store_job_clear(&cjob);
		store_close(cs);
		free(cpath);
	}

	ok(store_heartbeat(st) == 0, "heartbeat");
	store_close(st);

	requests_tests(dir);
	meter_tests(dir);
	read_transaction_tests(dir);
	repo_settings_tests(dir);
	migration_test(dir);
	migration6_test(dir);
	migration7_test(dir);
	ci_id_test(dir);
	stats_tests(dir);

	/* A store from a newer handoff is refused, not downgraded. */
	{
		char *db_path = xasprintf("%s/handoff.db", path);
		ok(sqlite3_open(db_path, &db) == SQLITE_OK &&
		    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL,
		    NULL) == SQLITE_OK, "mark the store as version 99");
		sqlite3_close(db);
		st = store_open(path, err, sizeof(err));
		ok(st == NULL && strstr(err, "newer") != NULL,
		    "newer schema refused: %s", err);
		store_close(st);
		unlink(db_path);
		free(db_path);
	}
	{
		char *cmd = xasprintf("rm -rf %s", dir);
		(void)!system(cmd);
		free(cmd);
	}
	free(path);
	config_free(cfg);
	return done_testing();
}
