/*
 * What the thread says, for the task: the issue as it reads now, its
 * comments by people, and the review comments a revision's requests point
 * at, read through the forge connection of the job's publish.
 */
#ifndef HANDOFF_THREAD_H
#define HANDOFF_THREAD_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "publish.h"
#include "store.h"

/* The issue's title and description as they are now, or -1 (logged)
 * when they cannot be had. The caller frees both. */
int thread_issue(struct publish *p, char **title, char **body);
/* The issue's comments by people, oldest first, as a JSON array of
 * {author, body, id} (empty when they cannot be had; the caller deletes). */
cJSON *thread_comments(struct publish *p);
/* For a revision on the pull request: for each allowed request of reqs,
 * the comments of the review that asked, or that an inline request
 * belongs to (GitHub), or the earlier notes of the diff discussion it was
 * made in (GitLab), as a JSON array of {path, line, diff_hunk, body,
 * author, id}, without those the store has already and without the
 * refused requests' own comments (the caller deletes). */
cJSON *thread_review_comments(struct publish *p,
    const struct job_request *reqs, size_t n);
/* For a fix-ci job: what failed in CI on the job's branch, as
 * {failures: [...], more, note} (forge.h's ci_failures; note says why
 * the failures are missing, when they are). The caller deletes. */
cJSON *thread_ci(struct publish *p);

#endif
