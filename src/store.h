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

#include <cjson/cJSON.h>

#include "config.h"
#include "event.h"
#include "rules.h"

#define STORE_SCHEMA_VERSION	1

struct store;

enum verdict { VERDICT_QUEUED, VERDICT_IGNORED, VERDICT_DUPLICATE };

/* What recording a delivery decided. */
struct record_result {
	enum verdict	 verdict;
	int64_t		 job;		/* the job queued, folded into, or seen before */
	const char	*reason;	/* VERDICT_IGNORED: static text */
};

/* Figures for /metrics. */
#define STORE_DURATION_BUCKETS	8
extern const double store_duration_bounds[STORE_DURATION_BUCKETS];
struct store_stats {
	int64_t	 jobs_queued, jobs_running, jobs_done, jobs_failed,
		 jobs_cancelled;
	int64_t	 duration_count;
	double	 duration_sum;
	int64_t	 duration_le[STORE_DURATION_BUCKETS];	/* cumulative */
};

/* Open the store in data_dir (created 0700 if missing), migrate it to
 * STORE_SCHEMA_VERSION. Returns NULL with the reason in err. Caller closes. */
struct store *store_open(const char *data_dir, char *err, size_t errlen);
void store_close(struct store *st);

/* Transactions for group commit: begin (immediate), a savepoint per delivery,
 * commit. Each returns 0 or -1 (with the reason in store_error). */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);
int store_savepoint(struct store *st);
int store_savepoint_release(struct store *st);
int store_savepoint_rollback(struct store *st);
/* The last SQLite error, for logs. */
const char *store_error(struct store *st);

/* Record delivery id of ev and the job cmd asks for, inside the caller's
 * transaction: deduplicates by (forge, delivery id), finds or opens the
 * thread, folds revisions within [runs] coalesce, inserts the job and its
 * first step. Returns 0 with *res filled, or -1 on a store error. */
int store_record(struct store *st, const struct config *cfg,
    const char *delivery, const struct forge_event *ev, const struct command *cmd,
    struct record_result *res);

/* Write a heartbeat in its own transaction: 0 when the store is writable. */
int store_heartbeat(struct store *st);
/* Job counts and durations for /metrics. Returns 0 or -1. */
int store_stats(struct store *st, struct store_stats *out);

/* Jobs newest first as a JSON array of objects (INTERFACE.md `jobs --json`),
 * filtered by state (NULL for all), at most limit. Caller deletes; NULL on error. */
cJSON *store_jobs_json(struct store *st, const char *state, int limit);
/* One job with its thread, steps and instructions, or NULL when absent
 * (*found false) or on error. Caller deletes. */
cJSON *store_job_json(struct store *st, int64_t id, bool *found);

#endif
