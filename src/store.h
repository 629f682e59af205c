/*
 * The store: SQLite in WAL mode under [server] data_dir. Schema with a
 * version and forward migrations; deliveries, threads, jobs and job steps.
 * One struct store is used by one thread at a time.
 */
#ifndef HANDOFF_STORE_H
#define HANDOFF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "job.h"
#include "rules.h"

#define STORE_SCHEMA_VERSION	8

struct store;

enum verdict { VERDICT_QUEUED, VERDICT_IGNORED, VERDICT_DUPLICATE };

/* What recording a delivery decided. */
struct record_result {
	enum verdict	 verdict;
	int64_t		 job;		/* the job queued, folded into, or seen before */
	const char	*reason;	/* VERDICT_IGNORED: static text */
};

/* Figures for /metrics (store_stats.c). Durations in seconds: how many,
 * their sum, and how many took at most each bound (cumulative). */
#define STORE_BUCKETS	11
extern const double store_bucket_bounds[STORE_BUCKETS];
struct store_histogram {
	int64_t	 count;
	double	 sum;
	int64_t	 le[STORE_BUCKETS];
};

/* Connections refused for one reason (the proxy's words). */
struct store_reason_count {
	char	*reason;
	int64_t	 connections;
};

/* The REST requests runners made of a forge on one route class that
 * ended in one status (0: no answer). Names are short and from fixed
 * sets (forge_name, forge_route_name). */
struct store_forge_count {
	char	 forge[16], route[16];
	int	 status;
	int64_t	 requests;
};

/* Of those, the attempts repeated, and the ones that first waited as a
 * rate limit asked, with the time asked for. */
struct store_forge_waits {
	char	 forge[16];
	int64_t	 retries, rate_limit_waits, rate_limit_wait_ms;
};

/* At most this many (provider, model) pairs in the stats' usage; the
 * rest summed per provider under STORE_OTHER_MODEL. */
#define STORE_STATS_MODELS	64
#define STORE_OTHER_MODEL	"(other)"

struct store_stats {
	int64_t	 jobs_queued, jobs_running, jobs_done, jobs_failed,
		 jobs_cancelled;
	struct store_histogram job_duration;	/* jobs that started and ended */
	/* steps whose end was recorded, by step (index JOB_STEP_NONE
	 * unused); an acknowledgement abandoned is not one */
	struct store_histogram steps[JOB_STEP_END];
	/* the agent's runs: sandbox steps that ended, and those a job ended
	 * in (they end when the job does) */
	struct store_histogram agent_run;
	/* model requests through the gateway, per provider and model, most
	 * requests first (struct store_usage below: provider and model set) */
	struct store_usage	*usage;
	size_t			 nusage;
	/* connections through the proxy; the refused ones by reason */
	int64_t	 egress_allowed, egress_refused;
	struct store_reason_count *refusals;
	size_t			 nrefusals;
	/* the runners' forge requests, by forge, route and status */
	struct store_forge_count *forge;
	size_t			 nforge;
	struct store_forge_waits *waits;	/* one per forge */
	size_t			 nwaits;
};

/* Open the store in data_dir (created 0700 if missing), migrate it to
 * STORE_SCHEMA_VERSION. Returns NULL with the reason in err. Caller closes. */
struct store *store_open(const char *data_dir, char *err, size_t errlen);
void store_close(struct store *st);
/* The same for the intake writer: a commit's writes to the WAL reach the
 * file as one write. Never store_relax'ed. */
struct store *store_open_writer(const char *data_dir, char *err,
    size_t errlen);
/* Commits from now on survive the process's crash but not the machine's
 * (no fsync each): for records whose loss in a power cut costs little
 * and whose writer must not wait for the disk. */
int store_relax(struct store *st);

/* The last error, for logs. */
const char *store_error(struct store *st);

/* One delivery of a batch to record, and what recording it decided. */
struct store_delivery {
	const char			*delivery;	/* the forge's id */
	const struct forge_event	*ev;
	const struct command		*cmd;
	struct record_result		 res;
	int				 rc;	/* 0, or -1: not recorded */
	char				 error[256];	/* rc -1: why */
};

/* Record a batch of deliveries in one transaction (group commit), each on
 * its own: deduplicated by (forge, delivery id), then by what was asked
 * (a comment or review recorded before, a label event while the issue's
 * implementation is queued or running, a retry while one of the same
 * request is); then its thread found or opened, revisions folded within
 * [runs] coalesce, the job inserted and the request recorded with its
 * author. A delivery that fails is undone alone (rc -1, error says why):
 * the batch is then rolled back and done again, a savepoint each.
 * Returns 0, or -1 when the batch as a whole failed (begin or commit:
 * every rc -1, store_error says why). */
int store_record_batch(struct store *st, const struct config *cfg,
    struct store_delivery *list, size_t n);

/* Write a heartbeat in its own transaction: 0 when the store is writable. */
int store_heartbeat(struct store *st);
/* The meta table's value under key into *value (caller frees; NULL when
 * there is none), and setting it. Return 0, or -1 (store_error). */
int store_meta_get(struct store *st, const char *key, char **value);
int store_meta_set(struct store *st, const char *key, const char *value);
/* Everything /metrics shows, read in one transaction (a reader's
 * connection will do). Returns 0, or -1 with out cleared. Clear with
 * store_stats_clear. */
int store_stats(struct store *st, struct store_stats *out);
void store_stats_clear(struct store_stats *s);
/* Add what a runner's forge client did to the store's counters, in one
 * transaction: counts (n of them) and waits (per its forge). */
int store_forge_add(struct store *st, const struct store_forge_count *counts,
    size_t n, const struct store_forge_waits *waits);

/*
 * The command line's reads (store_report.c): plain rows, which report.c
 * prints or turns into JSON. Strings are owned, NULL where the store has
 * none; times are milliseconds since the epoch, 0 when not yet.
 */

/* A job as `handoff jobs` lists it, with its thread's place. */
struct store_job_row {
	int64_t		 id, number;
	enum forge	 forge;
	char		*repo;
	enum job_kind	 kind;
	enum job_state	 state;
	char		*step;	/* as kept: a step, "queued", or its end */
	int64_t		 created_at, started_at, finished_at;
	char		*branch, *pr_url, *requested_by;
};

/* One step of a job as it was recorded. */
struct store_step_row {
	char	*step, *detail;
	int64_t	 started_at, finished_at;
};

/* One delivery that asked for a job. */
struct store_delivery_row {
	char	*delivery, *event, *verdict;
	int64_t	 received_at;
};

/* A job's model usage: one request, or the sum of several (requests of
 * them). cost_micros is in millionths of the price table's currency; -1
 * when a model has no price. */
struct store_usage {
	char	*provider;	/* the API it went through: "anthropic",
				 * "openai" (NULL: not said; "unknown" for
				 * requests recorded before handoff kept it) */
	char	*model;		/* NULL in a sum over models */
	int64_t	 requests, input_tokens, output_tokens, cache_read_tokens,
		 cache_write_tokens, cost_micros;
};

/* One connection a job's agent attempted. */
struct store_egress {
	char	*host, *address, *reason;	/* address, reason: or NULL */
	int	 port;
	bool	 allowed;
	int64_t	 bytes_in, bytes_out, duration_ms, at;
};

/* A job as `handoff show` tells it. */
struct store_job_detail {
	struct store_job_row	 row;
	char			*title, *instruction, *context, *result,
				*error, *thread_state;
	int64_t			 pr_number;	/* 0: none */
	char			*base_commit, *head_commit, *summary,
				*diffstat;
	char			*clone_url;	/* where its mirror is from */
	int64_t			 thread_id;
	int			 attempts;
	struct store_step_row	*steps;
	size_t			 nsteps;
	struct job_request	*requests;
	size_t			 nrequests;
	struct store_delivery_row *deliveries;
	size_t			 ndeliveries;
	struct store_usage	*usage;		/* per model */
	size_t			 nusage;
	struct store_egress	*egress;	/* oldest first */
	size_t			 negress;
};

/* Jobs newest first, in state (NULL for all), at most limit (0: all),
 * into *rows (free with store_job_rows_free). Returns 0 or -1. */
int store_jobs_list(struct store *st, const enum job_state *state, int limit,
    struct store_job_row **rows, size_t *n);
void store_job_rows_free(struct store_job_row *rows, size_t n);

/* Which jobs a status page lists: in state (NULL: any), of repo
 * ("owner/name"; NULL: any), newest first, skipping offset, at most limit
 * (1 to STORE_PAGE_MAX). */
#define STORE_PAGE_MAX	200
struct store_jobs_filter {
	const enum job_state	*state;
	const char		*repo;
	int64_t			 offset;
	int			 limit;
};
/* A job as the status pages list it: its row, its issue's title, and what
 * its agent used in all (store_usage_sum's sum). */
struct store_job_line {
	struct store_job_row	 row;
	char			*title;
	struct store_usage	 usage;
};
/* A page of jobs as f says into *lines (free with store_job_lines_free).
 * Returns 0 or -1. */
int store_jobs_page(struct store *st, const struct store_jobs_filter *f,
    struct store_job_line **lines, size_t *n);
void store_job_lines_free(struct store_job_line *lines, size_t n);
/* The jobs of thread, newest first, at most limit (1 to STORE_PAGE_MAX),
 * into *rows (free with store_job_rows_free). Returns 0 or -1. */
int store_thread_jobs(struct store *st, int64_t thread, int limit,
    struct store_job_row **rows, size_t *n);
/* One job with its thread, steps, requests and deliveries: 1 found, 0
 * absent, -1 error. Clear with store_job_detail_clear. */
int store_job_show(struct store *st, int64_t id, struct store_job_detail *out);
void store_job_detail_clear(struct store_job_detail *d);

/*
 * What a job's agent used (store_meter.c): model requests and the
 * connections it attempted, for show, metrics and budgets.
 */

/* Record one model request of job (u->model and u->provider set; its
 * requests ignored). */
int store_usage_add(struct store *st, int64_t job, const struct store_usage *u);
/* The job's usage per model, by model name, into *list (free with
 * store_usage_free). Returns 0 or -1. */
int store_usage_of(struct store *st, int64_t job, struct store_usage **list,
    size_t *n);
void store_usage_free(struct store_usage *list, size_t n);
/* The sum of list into *sum (no model; cost -1 when any part is
 * unpriced and nothing is priced). */
void store_usage_sum(const struct store_usage *list, size_t n,
    struct store_usage *sum);
/* What the jobs of repo (NULL: all) used since since_ms: tokens and
 * priced cost. Returns 0 or -1. */
int store_usage_since(struct store *st, const char *repo, int64_t since_ms,
    struct store_usage *sum);
/* Record a connection job's agent attempted. */
int store_egress_add(struct store *st, int64_t job,
    const struct store_egress *e);
/* The job's connections, oldest first (free with store_egress_free). */
int store_egress_of(struct store *st, int64_t job, struct store_egress **list,
    size_t *n);
void store_egress_free(struct store_egress *list, size_t n);

/*
 * Running jobs (store_job.c): the runner's view of one job, its steps, the
 * scheduler's claims, and the operator's cancel and retry.
 */

/* One request a job carries out: what someone asked, where, and whether
 * they may (checked through the forge before the agent sees the text).
 * Folded revisions make several requests of one job. Strings are owned. */
struct job_request {
	int64_t	 id, author_id, trigger_id;
	char	*author, *association, *text;
	enum forge_on trigger_on;
	char	*context;	/* its inline comments: a JSON array, or NULL */
	char	*verdict;	/* NULL until checked, then "allowed" or "refused" */
	bool	 is_repeat;	/* a retry's copy of the retried job's request */
	int64_t	 created_at, checked_at;	/* checked_at 0: not yet */
};

/* One job with its thread, as the runner needs it. Strings are owned. */
struct job {
	int64_t	 id, thread_id, number, retry_of;
	enum forge forge;
	char	*repo, *title, *body, *clone_url, *default_branch,
		*branch, *thread_head;
	enum job_kind kind;
	/* what the job does: its kind, but for a retry the kind of the job
	 * it retries, followed through retries (never JOB_RETRY) */
	enum job_kind origin;
	enum job_state state;
	enum job_step step;	/* JOB_STEP_NONE between steps */
	char	*instruction, *context, *requested_by;
	char	*base_commit, *head_commit;
	int	 attempts;
	bool	 cancel_requested;
	/* for the forge: who asked, on what, and what the thread has */
	int64_t	 requested_by_id, trigger_id, installation_id, pr_number;
	/* fix-ci: the failed check suite or pipeline, 0 when unknown; a
	 * retry's is the one of the job it repeats */
	int64_t	 ci_id;
	char	*status_comment_id, *pr_url;
	char	*summary, *diffstat;	/* what collect recorded */
	/* what the request was made on */
	enum forge_on trigger_on;
	/* every request, oldest first (none for a local job) */
	struct job_request *requests;
	size_t	 nrequests;
};

/* Load job id: 1 found, 0 absent, -1 store error. Clear with store_job_clear. */
int store_job_load(struct store *st, int64_t id, struct job *out);
void store_job_clear(struct job *job);
/* The state of job id into *out: 1 found, 0 absent, -1 store error. */
int store_job_state(struct store *st, int64_t id, enum job_state *out);
/* The requests of job, oldest first, into *list (free with
 * store_requests_free). Returns 0 or -1. */
int store_requests_load(struct store *st, int64_t job,
    struct job_request **list, size_t *n);
void store_requests_free(struct job_request *list, size_t n);
/* Record whether a request's author may write. */
int store_request_verdict(struct store *st, int64_t request, bool allowed);
/* Whether a job's requests let it run: one of its own (not a retry's
 * copy) is allowed. */
bool store_requests_allowed(const struct job_request *list, size_t n);
/* The forge's ids of the comments that made the allowed requests of
 * thread, made on one of ons (n_ons of them), into *ids (caller frees).
 * Returns 0 or -1. */
int store_allowed_triggers(struct store *st, int64_t thread,
    const enum forge_on *ons, size_t n_ons, int64_t **ids, size_t *n);

/* Record the start of a step (and make it the job's current step). */
int store_step_begin(struct store *st, int64_t job, enum job_step step);
/* Record the end of the step's latest row with an optional detail. */
int store_step_end(struct store *st, int64_t job, enum job_step step,
    const char *detail);
/* Whether the step has ended in an earlier attempt: 1 yes, 0 no, -1 error. */
int store_step_ended(struct store *st, int64_t job, enum job_step step);
/* Set one of the job's text results: "base_commit", "head_commit",
 * "summary", "diffstat" (other names are refused). */
int store_job_set(struct store *st, int64_t job, const char *column,
    const char *value);
/* The thread's status comment, and its pull request. */
int store_thread_set_comment(struct store *st, int64_t thread, const char *id);
int store_thread_set_pr(struct store *st, int64_t thread, int64_t number,
    const char *url);
/* Remember the thread's branch tip after a job committed to it. */
int store_thread_set_head(struct store *st, int64_t thread, const char *commit);
/* End a job: state done, failed or cancelled, with a result or error text. */
int store_job_finish(struct store *st, int64_t job, enum job_state state,
    const char *result, const char *error);
/* End a job none of whose requests may run, cancelled with why, unless a
 * request not checked yet was folded in meanwhile: 1 ended, 0 not (check
 * its requests again), -1 error. */
int store_job_refuse(struct store *st, int64_t job, const char *why);
/* Whether someone asked to cancel the job: 1 yes, 0 no, -1 error. */
int store_cancel_requested(struct store *st, int64_t job);
/* Note the runner's pid (0 to clear). */
int store_job_runner(struct store *st, int64_t job, long pid);

/* The scheduler: first answer the queued cancel and help requests the
 * store decides (those on a forge not in forges, the set handoff has
 * credentials for (JOB_FORGE_BIT each), or whose acknowledgement failed
 * STORE_ACK_TRIES times), whatever max is; then mark up to max runnable
 * jobs running, in arrival order, within [runs] max_parallel and
 * max_per_repo and one per thread. Fills ids; returns the count or -1. */
int store_claim(struct store *st, const struct config *cfg, unsigned forges,
    int64_t *ids, size_t max);
/* Acknowledging queued jobs before they have a run slot: pick up to max
 * queued jobs of the forges in the set forges never acknowledged, cancel
 * and help requests first (their runner decides them, and tries again up
 * to STORE_ACK_TRIES times), and record the acknowledge step as started
 * (store_claim leaves a job alone while that step is open). Returns the
 * count or -1. */
#define STORE_ACK_TRIES	3
int store_claim_ack(struct store *st, unsigned forges, int64_t *ids,
    size_t max);
/* A cancel or help request whose requester may write: cancel asks the
 * thread's running job to stop and drops its queued jobs older than the
 * request; both end done. */
int store_job_control(struct store *st, int64_t job);
/* An acknowledgement that will not come (its runner died): close the step
 * as "not acknowledged", so the job's runner acknowledges it itself. */
int store_ack_abandon(struct store *st, int64_t job);
/* Whether job was acknowledged by an earlier runner: 1 yes, 0 no, -1 error. */
int store_acknowledged(struct store *st, int64_t job);
/* Queued and running jobs that arrived before job (its place in line). */
int store_queue_position(struct store *st, int64_t job);
/* A runner of job exited with a wait status that did not end the job: queue
 * it again to resume at its step, or fail it after max_attempts. Sets
 * *requeued. */
int store_runner_lost(struct store *st, int64_t job, const char *why,
    int max_attempts, bool *requeued);
/* At start-up: jobs left running by a crash go back to the queue (their
 * steps say where to resume), but for those is_live says a runner still
 * runs. Returns how many, or -1. */
int store_requeue_running(struct store *st,
    bool (*is_live)(int64_t job, void *arg), void *arg);
/* Counts for /metrics and the scheduler: running and queued jobs. */
int store_run_counts(struct store *st, int64_t *running, int64_t *queued);

/* `handoff cancel`: a queued job is cancelled at once (1); a running one is
 * asked to stop (2); 0 when it had already ended; -1 error, -2 absent. */
int store_job_cancel(struct store *st, int64_t job);
/* `handoff retry`: queue a new job that repeats a failed or cancelled one.
 * Returns the new id, 0 when the job has not failed or been cancelled,
 * -1 on error, -2 when absent; or, when a retry of the same request is
 * queued or running already, that job's id with *is_queued set. */
int64_t store_job_retry(struct store *st, int64_t job, bool *is_queued);
/* `handoff run`: a local thread for repo_dir (branch NULL for the default
 * handoff/local-<n>) and its running implement job. Returns the job id or -1. */
int64_t store_local_job(struct store *st, const struct config *cfg,
    const char *repo_dir, const char *task, const char *branch);

/*
 * Retention and backup (store_gc.c).
 */

/* Whether data_dir has a store (store_open would make one). */
bool store_exists(const char *data_dir);
/* Remove up to max of the finished jobs that ended before before_ms
 * and that no kept job needs (an open thread's latest implement, revise
 * or retry and the jobs after it stay, as do the newest job and a job a
 * kept retry repeats), oldest first, with their rows (steps, requests,
 * usage, egress), in one transaction; their ids into ids, their count
 * into *n. Their deliveries stay, without a job, so that one sent again
 * is still a duplicate. Returns 0 or -1. */
int store_gc_remove(struct store *st, int64_t before_ms, int64_t *ids,
    size_t max, size_t *n);
/* Forget the deliveries without a job received before before_ms; their
 * count into *removed. Returns 0 or -1. */
int store_gc_deliveries(struct store *st, int64_t before_ms,
    int64_t *removed);
/* Copy the store, as of one commit and while others write, to path
 * (through path.tmp, mode 0600, checked with PRAGMA integrity_check); an
 * existing path is replaced only if is_force. Returns 0 or -1 with err. */
int store_backup(struct store *st, const char *path, bool is_force,
    char *err, size_t errlen);

#endif
