/*
 * The runner's conversation with the forge about one job: acknowledge the
 * request (permission, 👀, the thread's status comment), keep the status
 * comment up to date, push the branch, find or open the pull request.
 * Every step can run again: the status comment is found by its marker,
 * the pull request by its branch.
 */
#ifndef HANDOFF_PUBLISH_H
#define HANDOFF_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "mirror.h"
#include "store.h"

struct forge_conn;
struct publish;

enum publish_status { PS_QUEUED, PS_RUNNING, PS_DONE, PS_NO_CHANGES,
    PS_FAILED, PS_CANCELLED };

/* A forge connection for job, or NULL: with err empty when the config has
 * no credentials for the job's forge (nothing is published then), else
 * with the reason. Free with publish_close. */
struct publish *publish_open(const struct config *cfg, struct store *st,
    const struct job *job, char *err, size_t errlen);
void publish_close(struct publish *p);

/* Add what the forge connection's client did since the last call (its
 * requests by route and status, retries, rate-limit waits) to the store's
 * counters: one transaction, not one per request. Nothing for p NULL.
 * Returns 0, or -1 (logged; they wait for the next call). */
int publish_count(struct publish *p);

/* The forge's git credentials for the repository into *out, for the
 * mirror's fetch and push (valid until publish_close; the token is never
 * to be logged). */
void publish_git_credentials(struct publish *p,
    struct mirror_credentials *out);

/* Ask the forge whether the author of each request of the job not checked
 * yet may write, record the verdicts in the store, and add 👀 where each
 * request allowed now was made. *allowed: whether the job may run (one of
 * its own requests, not a retry's copies, is allowed). */
int publish_permit(struct publish *p, bool *allowed, char *err,
    size_t errlen);
/* publish_permit, then, if the job may run, find or write the thread's
 * status comment, saying the job is queued (with its place in line when
 * position > 0). */
int publish_acknowledge(struct publish *p, int position, bool *allowed,
    char *err, size_t errlen);
/* A "help" request: if the requester may write (*allowed), 👀 and a
 * reply listing the commands where they asked, written once. */
int publish_help(struct publish *p, bool *allowed, char *err, size_t errlen);
/* Say, where they were asked (the issue or the pull request), once per
 * job, that the refused requests among reqs were left out because their
 * authors may not write. Nothing is said when none was refused. */
int publish_left_out(struct publish *p, const struct job_request *reqs,
    size_t n, char *err, size_t errlen);
/* Rewrite the status comment; best effort (a failure is logged). detail:
 * the diffstat or the summary, may be NULL. */
void publish_status(struct publish *p, enum publish_status what,
    const char *detail);
/* Rewrite the status comment to say the job failed: reason, for the
 * people on the issue (it names no host path and holds none of handoff's
 * log), and the end of the agent's own output (may be NULL), each as text
 * that cannot close its fence; best effort. */
void publish_failed(struct publish *p, const char *reason, const char *output);
/* Push the job's branch from the mirror (opened with this publish's
 * credentials) to the repository; a refusal by the forge also in why, for
 * people (mirror_push). */
int publish_push(struct publish *p, struct mirror *m, char *why,
    size_t whylen, char *err, size_t errlen);
/* Find or open the pull request from the thread's branch, with the
 * summary and diffstat in its body; record it in the store. A revision
 * (revise, fix-ci) of an open pull request keeps its description and
 * replies on it with the summary and diffstat instead, once per job. */
int publish_pr(struct publish *p, const char *summary, const char *diffstat,
    char *err, size_t errlen);
/* The pull request's address once known, else NULL. */
const char *publish_pr_url(const struct publish *p);
/* What the job's agent used (markdown lines, copied; NULL: none), added
 * to the pull request's description, a revision's reply and the status
 * comment once the job has ended. */
void publish_meter(struct publish *p, const char *text);
/* The job's forge connection, for reading the thread (thread.h); owned
 * by p. */
struct forge_conn *publish_forge(struct publish *p);
/* The job p publishes (the runner's). */
const struct job *publish_job(const struct publish *p);
/* The thread's status comment's id once known, else NULL. */
const char *publish_status_id(const struct publish *p);

#endif
