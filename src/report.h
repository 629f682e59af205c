/*
 * `handoff jobs` and `handoff show`: the store read for people and scripts.
 */
#ifndef HANDOFF_REPORT_H
#define HANDOFF_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "store.h"

/* argv after the subcommand word. Each returns the exit status. */
int report_jobs(const struct config *cfg, int argc, char **argv);
int report_show(const struct config *cfg, int argc, char **argv);

/* Jobs newest first as a JSON array of objects (INTERFACE.md `jobs
 * --json`), in state (NULL for all), at most limit. Caller deletes; NULL
 * on a store error. */
cJSON *report_jobs_json(struct store *st, const char *state, int limit);
/* One job with its thread, steps, requests and deliveries (`show
 * --json`), or NULL when absent or on error (*found false). Caller
 * deletes. */
cJSON *report_job_json(struct store *st, int64_t id, bool *found);

/* The store for a command-line tool, or NULL after saying why on stderr:
 * one serve has made, never a new one. */
struct store *report_open_store(const struct config *cfg);
/* A usage error of command: "handoff: COMMAND: what" and its usage line
 * on stderr; returns 2, the exit status. */
int report_usage_error(const char *command, const char *usage,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
