/*
 * The store's reads for the command line: `handoff jobs` and `handoff show`.
 */
#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "util.h"

static void
add_time(cJSON *o, const char *key, sqlite3_stmt *s, int col)
{
	char buf[32];

	if (sqlite3_column_type(s, col) == SQLITE_NULL) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	util_time_rfc3339(sqlite3_column_int64(s, col), buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static void
add_text(cJSON *o, const char *key, sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);

	if (v == NULL)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, v);
}

#define JOB_COLUMNS \
	"j.id, t.forge, t.repo, t.number, j.kind, j.state, j.step," \
	" j.created_at, j.started_at, j.finished_at, t.branch, t.pr_url," \
	" j.requested_by, t.title, j.instruction, j.context, j.result," \
	" j.error, t.pr_number, t.state"

/* The fields `jobs --json` promises, from a row of JOB_COLUMNS. */
static cJSON *
job_object(sqlite3_stmt *s)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(s, 0));
	add_text(o, "forge", s, 1);
	add_text(o, "repo", s, 2);
	cJSON_AddNumberToObject(o, "number",
	    (double)sqlite3_column_int64(s, 3));
	add_text(o, "kind", s, 4);
	add_text(o, "state", s, 5);
	add_text(o, "step", s, 6);
	add_time(o, "created_at", s, 7);
	add_time(o, "started_at", s, 8);
	add_time(o, "finished_at", s, 9);
	add_text(o, "branch", s, 10);
	add_text(o, "pr_url", s, 11);
	add_text(o, "requested_by", s, 12);
	return o;
}

cJSON *
store_jobs_json(struct store *st, const char *state, int limit)
{
	sqlite3_stmt *s;
	cJSON *arr;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT " JOB_COLUMNS " FROM jobs j"
	    " JOIN threads t ON t.id = j.thread_id WHERE ?1 IS NULL OR"
	    " j.state = ?1 ORDER BY j.id DESC LIMIT ?2", -1, &s,
	    NULL) != SQLITE_OK) {
		store_fail(st, "list jobs");
		return NULL;
	}
	store_bind_text(s, 1, state);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
	arr = cJSON_CreateArray();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cJSON_AddItemToArray(arr, job_object(s));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "list jobs");
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}

/* The job's requests for `show`, each with its verdict ("unchecked" until
 * the forge is asked). Replaces o's instruction and review comments with
 * what the job is given: those of the requests not refused. Returns 0 or
 * -1. */
static int
add_requests(struct store *st, cJSON *o, int64_t id)
{
	sqlite3_stmt *s;
	cJSON *arr, *r, *ctx, *given;
	const cJSON *c;
	char *text = NULL, *next;
	const char *v;
	int rc, n = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT author, author_id,"
	    " association, trigger_on, trigger_id, text, context, verdict,"
	    " is_repeat, created_at, checked_at FROM requests"
	    " WHERE job_id = ?1 ORDER BY id", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	arr = cJSON_AddArrayToObject(o, "requests");
	given = cJSON_CreateArray();
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = cJSON_CreateObject();
		add_text(r, "author", s, 0);
		cJSON_AddNumberToObject(r, "author_id",
		    (double)sqlite3_column_int64(s, 1));
		add_text(r, "association", s, 2);
		add_text(r, "on", s, 3);
		cJSON_AddNumberToObject(r, "trigger_id",
		    (double)sqlite3_column_int64(s, 4));
		add_text(r, "text", s, 5);
		v = (const char *)sqlite3_column_text(s, 6);
		ctx = v ? cJSON_Parse(v) : NULL;
		cJSON_AddItemToObject(r, "review_comments",
		    cJSON_IsArray(ctx) ? ctx : cJSON_CreateArray());
		if (ctx != NULL && !cJSON_IsArray(ctx))
			cJSON_Delete(ctx);
		v = (const char *)sqlite3_column_text(s, 7);
		cJSON_AddStringToObject(r, "verdict", v ? v : "unchecked");
		cJSON_AddBoolToObject(r, "repeat",
		    sqlite3_column_int(s, 8) != 0);
		add_time(r, "created_at", s, 9);
		add_time(r, "checked_at", s, 10);
		cJSON_AddItemToArray(arr, r);
		n++;
		if (v != NULL && strcmp(v, "refused") == 0)
			continue;
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(r, "review_comments"))
			cJSON_AddItemToArray(given, cJSON_Duplicate(c, 1));
		if (sqlite3_column_text(s, 5) == NULL)
			continue;
		next = text ? xasprintf("%s\n\n%s", text, (const char *)
		    sqlite3_column_text(s, 5)) : xstrdup((const char *)
		    sqlite3_column_text(s, 5));
		free(text);
		text = next;
	}
	sqlite3_finalize(s);
	if (n > 0) {
		cJSON_ReplaceItemInObject(o, "instruction", text ?
		    cJSON_CreateString(text) : cJSON_CreateNull());
		cJSON_ReplaceItemInObject(o, "review_comments", given);
	} else
		cJSON_Delete(given);
	free(text);
	return rc == SQLITE_DONE ? 0 : -1;
}

cJSON *
store_job_json(struct store *st, int64_t id, bool *found)
{
	sqlite3_stmt *s;
	cJSON *o = NULL, *steps, *step, *deliveries, *d, *ctx;
	const char *text;
	int rc;

	*found = false;
	if (sqlite3_prepare_v2(st->db, "SELECT " JOB_COLUMNS " FROM jobs j"
	    " JOIN threads t ON t.id = j.thread_id WHERE j.id = ?1", -1, &s,
	    NULL) != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			goto err;
		return NULL;
	}
	*found = true;
	o = job_object(s);
	add_text(o, "title", s, 13);
	add_text(o, "instruction", s, 14);
	text = (const char *)sqlite3_column_text(s, 15);
	ctx = text ? cJSON_Parse(text) : NULL;
	cJSON_AddItemToObject(o, "review_comments",
	    ctx ? ctx : cJSON_CreateArray());
	add_text(o, "result", s, 16);
	add_text(o, "error", s, 17);
	if (sqlite3_column_type(s, 18) == SQLITE_NULL)
		cJSON_AddNullToObject(o, "pr_number");
	else
		cJSON_AddNumberToObject(o, "pr_number",
		    (double)sqlite3_column_int64(s, 18));
	add_text(o, "thread_state", s, 19);
	sqlite3_finalize(s);

	if (sqlite3_prepare_v2(st->db, "SELECT base_commit, head_commit,"
	    " summary, diffstat, attempts FROM jobs WHERE id = ?1", -1, &s,
	    NULL) != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(s, 1, id);
	if (sqlite3_step(s) == SQLITE_ROW) {
		add_text(o, "base_commit", s, 0);
		add_text(o, "head_commit", s, 1);
		add_text(o, "summary", s, 2);
		add_text(o, "diffstat", s, 3);
		cJSON_AddNumberToObject(o, "attempts",
		    (double)sqlite3_column_int(s, 4));
	}
	sqlite3_finalize(s);

	if (sqlite3_prepare_v2(st->db, "SELECT step, started_at, finished_at,"
	    " detail FROM job_steps WHERE job_id = ?1 ORDER BY id", -1, &s,
	    NULL) != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(s, 1, id);
	steps = cJSON_AddArrayToObject(o, "steps");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		step = cJSON_CreateObject();
		add_text(step, "step", s, 0);
		add_time(step, "started_at", s, 1);
		add_time(step, "finished_at", s, 2);
		add_text(step, "detail", s, 3);
		cJSON_AddItemToArray(steps, step);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE || add_requests(st, o, id) == -1)
		goto err;

	if (sqlite3_prepare_v2(st->db, "SELECT delivery, event, received_at,"
	    " verdict FROM deliveries WHERE job_id = ?1 ORDER BY id", -1, &s,
	    NULL) != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(s, 1, id);
	deliveries = cJSON_AddArrayToObject(o, "deliveries");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		d = cJSON_CreateObject();
		add_text(d, "delivery", s, 0);
		add_text(d, "event", s, 1);
		add_time(d, "received_at", s, 2);
		add_text(d, "verdict", s, 3);
		cJSON_AddItemToArray(deliveries, d);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		goto err;
	return o;
err:
	store_fail(st, "show job");
	cJSON_Delete(o);
	*found = false;
	return NULL;
}

