/*
 * Threads, as recording a delivery finds, opens, reopens and closes them:
 * one per issue of a forge's repository (or local run), with its branch.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "text.h"
#include "util.h"

/* 1 found, 0 not found, -1 error. */
static int
thread_find(struct store *st, enum store_stmt id, const struct forge_event *ev,
    int64_t number, struct store_thread *t)
{
	sqlite3_stmt *s = store_stmt(st, id);
	int rc;

	if (s == NULL)
		return -1;
	store_bind_static(s, 1, forge_name(ev->forge));
	store_bind_static(s, 2, ev->repo);
	sqlite3_bind_int64(s, 3, number);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		t->id = sqlite3_column_int64(s, 0);
		t->branch = xstrdup((const char *)sqlite3_column_text(s, 1));
		t->is_closed = strcmp((const char *)sqlite3_column_text(s, 2),
		    "open") != 0;
		sqlite3_reset(s);
		return 1;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "find thread");
}

int
store_thread_create(struct store *st, const struct config *cfg,
    const struct forge_event *ev, struct store_thread *t)
{
	sqlite3_stmt *s = store_stmt(st, S_THREAD_INSERT);
	char *slug, *branch;
	int rc;

	if (s == NULL)
		return -1;
	slug = text_slug(ev->title, 40);
	branch = xasprintf("%s%lld-%s", CONFIG_REPO(cfg, ev->repo, char *,
	    branch_prefix), (long long)ev->number, slug);
	free(slug);
	store_bind_static(s, 1, forge_name(ev->forge));
	store_bind_static(s, 2, ev->repo);
	sqlite3_bind_int64(s, 3, ev->number);
	store_bind_static(s, 4, ev->title ? ev->title : "");
	store_bind_static(s, 5, ev->body);
	store_bind_static(s, 6, ev->clone_url);
	store_bind_static(s, 7, ev->default_branch);
	sqlite3_bind_int64(s, 8, ev->installation_id);
	store_bind_static(s, 9, branch);
	sqlite3_bind_int64(s, 10, util_now_ms());
	rc = store_step_done(st, s, "insert thread");
	if (rc == 0) {
		t->id = sqlite3_last_insert_rowid(st->db);
		t->branch = branch;
		t->is_closed = false;
	} else
		free(branch);
	return rc;
}

int
store_thread_for(struct store *st, const struct forge_event *ev,
    const struct command *cmd, struct store_thread *t)
{
	int rc;

	switch (cmd->key) {
	case THREAD_BY_ISSUE:
		return thread_find(st, S_THREAD_BY_ISSUE, ev, ev->number, t);
	case THREAD_BY_PR:
		return thread_find(st, S_THREAD_BY_PR, ev, ev->number, t);
	case THREAD_BY_BRANCH:
		rc = thread_find(st, S_THREAD_BY_ISSUE, ev, cmd->issue, t);
		if (rc == 1 && ev->head_branch != NULL &&
		    strcmp(ev->head_branch, t->branch) != 0) {
			free(t->branch);
			t->branch = NULL;
			return 0;
		}
		return rc;
	}
	return 0;
}

int
store_thread_reopen(struct store *st, int64_t thread)
{
	sqlite3_stmt *s = store_stmt(st, S_THREAD_REOPEN);

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	sqlite3_bind_int64(s, 2, util_now_ms());
	return store_step_done(st, s, "reopen thread");
}

int
store_thread_close(struct store *st, const struct forge_event *ev, int64_t thread)
{
	sqlite3_stmt *s = store_stmt(st, S_THREAD_CLOSE);
	int64_t now = util_now_ms();

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	store_bind_static(s, 2, ev->merged ? "merged" : "closed");
	sqlite3_bind_int64(s, 3, now);
	if (store_step_done(st, s, "close thread") == -1 ||
	    (s = store_stmt(st, S_JOBS_CANCEL_QUEUED)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, thread);
	sqlite3_bind_int64(s, 2, now);
	store_bind_static(s, 3, "pull request closed");
	return store_step_done(st, s, "cancel queued jobs");
}
