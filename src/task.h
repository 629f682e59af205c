/*
 * The instructions handed to the agent: task.md for people-like readers
 * and context.json with the same facts structured (INTERFACE.md, "The
 * agent contract").
 */
#ifndef HANDOFF_TASK_H
#define HANDOFF_TASK_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "store.h"

/* Write task.md and context.json for job into dir, with kind as the job's
 * kind (a retry says what it repeats), the job's requests that were not
 * refused (each text under its author's name, with its inline comments),
 * the comments (a JSON array of {author, body, id}, or NULL) and
 * review comments fetched from the forge in addition to the requests'
 * own (an array of {path, line, diff_hunk, body, author}, or NULL), and
 * for a fix-ci job what failed in CI (thread_ci's {failures, more,
 * note}, each failure {name, conclusion, url, app, title, summary, text,
 * annotations: [{path, start_line, end_line, level, title, message}],
 * log, log_note} on GitHub, {name, stage, failure_reason, url, log,
 * log_note} on GitLab; or NULL), as context.json's "ci" and a section of
 * task.md. Returns 0 or -1 with err. */
int task_write(const char *dir, const struct job *job, enum job_kind kind,
    const cJSON *comments, const cJSON *fetched, const cJSON *ci, char *err,
    size_t errlen);

#endif
