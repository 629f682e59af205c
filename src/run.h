/*
 * One run of a job's steps: what the runner (runner.c), its steps
 * (step_*.c) and `handoff run` (local.c) share. Private to them.
 */
#ifndef HANDOFF_RUN_H
#define HANDOFF_RUN_H

#include <signal.h>
#include <stdbool.h>

#include "config.h"
#include "jobfs.h"
#include "publish.h"
#include "sandbox.h"
#include "sidecar.h"
#include "store.h"
#include "harvest.h"
#include "job.h"
#include "mirror.h"
#include "setup.h"

/* Set by SIGTERM, SIGINT and SIGHUP: the run stops between steps and the
 * job resumes at its step. */
extern volatile sig_atomic_t run_interrupted;

/* What one run of the steps needs and makes. */
struct run {
	const struct config	*cfg;
	struct store		*st;
	struct job		 job;
	enum job_kind		 kind;		/* implement, revise, fix-ci */
	bool			 is_queued;	/* acknowledging, no run slot */
	bool			 is_echoed;	/* the agent's output on stdout too */
	char			*dir;		/* data_dir/jobs/N */
	int			 log_fd;
	struct mirror		*mirror;
	char			 base[MIRROR_OID_HEX + 1];
	char			*files, *index;	/* the base tree */
	int			 tree_lock;	/* held while the job uses it */
	struct setup_plan	 setup;		/* what set-up runs */
	char			*setup_layer;	/* data_dir/setup/KEY, or NULL */
	int			 setup_lock;	/* held while the job uses it */
	char			*setup_dirs[4];	/* its layers (step_setup.c) */
	struct jobfs		 fs;		/* holder -1: not mounted */
	char			*summary;
	struct harvest		 change;
	struct publish		*pub;		/* NULL: nothing to publish */
	char			*detail;	/* the step's result, when done */
	char			*error;		/* why it failed: store, show, log */
	char			*public;	/* why, for the forge (run_told()) */
	char			*output;	/* the agent's last, when it failed */
	enum job_step		 step;		/* the step under way, or none */
	enum job_step		 from;		/* where this attempt starts */
	struct sidecar		 proxy, gateway;	/* beside STEP_NET rows */
	char			 key[52];	/* the gateway's for this job */
	enum job_state		 state;		/* how it ended (not over: not yet) */
};

/* One row of the job's life (runner.c's table, indexed by the step:
 * job_step_name() is what the store, the log and `handoff show` say). */
struct step {
	/* Before the step starts: -1 failed (not begun), 0 run it, 1 it
	 * has nothing to do. NULL: run it. */
	int		(*ready)(struct run *);
	/* The step: 0 done (its result in r->detail), -1 failed (why in
	 * r->error and r->state), or stopped. */
	int		(*run)(struct run *);
	/* Whether what the step made in an earlier attempt is still there
	 * for the steps after it. NULL: it is made again. */
	bool		(*kept)(struct run *);
	/* Make again, without repeating the step, what the steps after it
	 * use, when a run resumes after it. NULL: nothing. */
	int		(*restore)(struct run *);
	/* Once its end is recorded. NULL: nothing. */
	void		(*ended)(struct run *);
	const char	*resumed;	/* the log's line resuming after it */
	unsigned	 flags;
#define STEP_FORGE	0x1	/* only when there is a forge to tell */
#define STEP_CHANGED	0x2	/* only when the agent changed something */
#define STEP_QUEUED	0x4	/* also for a queued job, before its slot */
#define STEP_TREE	0x8	/* uses the base tree */
#define STEP_NET	0x10	/* runs the agent: its proxy and gateway */
};

/* data_dir/jobs/N/name. Caller frees. */
char *run_path(const struct run *r, const char *name);
/* A line in the job's log and in handoff's. */
void run_log(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Fail the job with a reason for the operator. Returns -1. */
int run_fail(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Fail it with a reason for the people on the issue as it is. Returns -1. */
int run_fail_public(struct run *r, const char *text);
/* End it cancelled, saying why (copied). Returns -1. */
int run_cancel(struct run *r, const char *why);
/* Whether a step from r->from on has flag. */
bool run_later(const struct run *r, unsigned flag);
/* Set the step's result (copied; NULL for none). Returns 0. */
int run_done(struct run *r, const char *detail);
/* The job's directory name (emptied first when is_empty) with mode. */
int run_make_dir(struct run *r, const char *name, bool is_empty,
    unsigned mode);
/* Hand name and all below it to the sandbox's user (as root). */
int run_give_to_sandbox(struct run *r, const char *name);

/* Steps and what they restore (step_*.c). */
int step_acknowledge_ready(struct run *r);
int step_acknowledge(struct run *r);
int step_workspace(struct run *r);
int step_workspace_restore(struct run *r);
/* Set-up (step_setup.c): ready says whether there is any; the step
 * stands the job on its layer (built, or reused and updated). */
int step_setup_ready(struct run *r);
int step_setup(struct run *r);
/* Prune the set-up layers under data_dir to max_bytes, least recently
 * used first (handoff gc). Returns how many were removed. */
int step_setup_prune(const char *data_dir, uint64_t max_bytes);
/* The layers set-up left for a sandbox over the workspace and $HOME
 * (room for 3 each); nothing when the job has no set-up. */
void step_setup_layers(struct run *r, struct sandbox *sb,
    const char **layers, const char **home_layers);
int step_task(struct run *r);
int step_sandbox_ready(struct run *r);
/* The job's network (step_net.c): whether it has one (and which parts),
 * start it (the agent does not start without it), whether a part of it
 * stopped or found a budget reached, and stop it, recording what it saw
 * and failing the job when a budget was reached or a part stopped. */
bool step_net_wanted(const struct run *r, bool *proxy, bool *gateway);
/* HANDOFF_TEST_BRIDGE=1 with network = allowlist: the bridges lead to
 * sockets a test serves, and no sidecar is started (tests only). */
bool step_net_test_bridge(const struct run *r);
int step_net_start(struct run *r);
/* Set-up's network: with [setup] network = allowlist, an egress proxy to
 * [setup] allow_hosts (no gateway); is_own false: the agent's network and
 * hosts instead. Stopped with step_net_stop. */
int step_net_start_setup(struct run *r, bool is_own);
bool step_net_broken(struct run *r);
void step_net_stop(struct run *r);
/* What the job's agent used, for the forge: its model usage in a line and
 * the hosts refused to it; NULL when nothing. Caller frees. */
char *step_net_report(struct run *r);
/* A job's bridges with network = allowlist: the sandbox's 127.0.0.1:3128
 * to the egress proxy's socket and :3129 to the LLM gateway's
 * (data_dir/jobs/N/net/proxy.sock, gateway.sock; as root, net/ must be
 * searchable and the sockets writable by the sandbox's host user). */
#define RUN_PROXY_PORT		3128
#define RUN_GATEWAY_PORT	3129
#define RUN_BRIDGE_VARS		19	/* the most bridge_env adds */
struct run_bridge {
	struct relay_bridge	 b[2];
	char			*path[2];
};
void step_sandbox_bridge(struct run *r, struct run_bridge *rb);
void step_sandbox_bridge_free(struct run_bridge *rb);
/* The agent's variables for the bridges, at env[*n] on (room for
 * RUN_BRIDGE_VARS): the proxy's for every tool, the gateway's base URLs,
 * and key (the job's, or NULL) as both providers' API key. */
void step_sandbox_bridge_env(char **env, size_t *n, const char *key);
/* The proxy's variables alone. */
void step_sandbox_proxy_env(char **env, size_t *n);
/* The variables every sandboxed command gets (room for 16 more).
 * Caller frees with step_sandbox_env_free. */
char **step_sandbox_env(size_t extra, size_t *n);
void step_sandbox_env_free(char **env, size_t n);
/* The sandbox both the agent's run and collect's start from. */
void step_sandbox_base(struct run *r, struct sandbox *sb);
void step_sandbox_free(struct sandbox *sb);
int step_sandbox(struct run *r);
bool step_sandbox_kept(struct run *r);
int step_collect(struct run *r);
bool step_collect_kept(struct run *r);
int step_collect_restore(struct run *r);
void step_collect_ended(struct run *r);
int step_push(struct run *r);
int step_publish(struct run *r);

/* Take the job's lock and read it again (the runner's while it runs its
 * steps). Returns the descriptor, or -1 having said why on stderr. */
int run_lock(struct run *r);
/* Run the job's steps from where it stands and end it. Returns a
 * RUNNER_EXIT_* status. */
int run_steps(struct run *r);
/* Free what the run holds. */
void run_free(struct run *r);

#endif
