/*
 * The sandbox step: the agent runs on the job's own filesystem, over the
 * base tree and the job's .git, with the task in /handoff.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "run.h"
#include "sandbox.h"
#include "util.h"

static int
should_stop_cb(void *arg)
{
	struct run *r = arg;

	return run_interrupted || store_cancel_requested(r->st, r->job.id) == 1 ||
	    step_net_broken(r);
}

/* The command's first word, when it is a host file to make visible. */
static char *
agent_file(const char *command)
{
	char *word = xstrndup(command, strcspn(command, " \t\n"));
	struct stat sb;

	if (word[0] != '/' || stat(word, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    strncmp(word, "/usr/", 5) == 0) {
		free(word);
		return NULL;
	}
	return word;
}

char **
step_sandbox_env(size_t extra, size_t *n)
{
	char **env = xcalloc(16 + extra, sizeof(*env));
	size_t k = 0;

	env[k++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	env[k++] = xstrdup("HOME=/home/agent");
	env[k++] = xstrdup("USER=agent");
	env[k++] = xstrdup("LOGNAME=agent");
	env[k++] = xstrdup("LANG=C.UTF-8");
	env[k++] = xstrdup("TERM=dumb");
	env[k++] = xstrdup("TMPDIR=/tmp");
	env[k++] = xstrdup("GIT_CONFIG_NOSYSTEM=1");
	env[k++] = xstrdup("GIT_TERMINAL_PROMPT=0");
	*n = k;
	return env;
}

static char **
agent_env(const struct run *r, size_t *n)
{
	char **env = step_sandbox_env(RUN_BRIDGE_VARS + r->cfg->agent_env.n,
	    n);
	const char *v;
	size_t i, k = *n;

	env[k++] = xstrdup("HANDOFF_TASK=/handoff/task.md");
	env[k++] = xstrdup("HANDOFF_CONTEXT=/handoff/context.json");
	env[k++] = xstrdup("HANDOFF_SUMMARY=/handoff/summary.md");
	env[k++] = xasprintf("HANDOFF_JOB=%lld", (long long)r->job.id);
	for (i = 0; i < r->cfg->agent_env.n; i++)
		if ((v = getenv(r->cfg->agent_env.v[i])) != NULL)
			env[k++] = xasprintf("%s=%s", r->cfg->agent_env.v[i],
			    v);
	*n = k;
	return env;
}

void
step_sandbox_bridge(struct run *r, struct run_bridge *rb)
{
	memset(rb, 0, sizeof(*rb));
	rb->path[0] = run_path(r, "net/proxy.sock");
	rb->path[1] = run_path(r, "net/gateway.sock");
	rb->b[0].port = RUN_PROXY_PORT;
	rb->b[0].path = rb->path[0];
	rb->b[0].name = "egress proxy";
	rb->b[0].is_passing = true;	/* proxy.c takes each connection */
	rb->b[1].port = RUN_GATEWAY_PORT;
	rb->b[1].path = rb->path[1];
	rb->b[1].name = "LLM gateway";
}

void
step_sandbox_bridge_free(struct run_bridge *rb)
{
	free(rb->path[0]);
	free(rb->path[1]);
}

void
step_sandbox_bridge_env(char **env, size_t *n, const char *key)
{
	step_sandbox_proxy_env(env, n);
	env[(*n)++] = xasprintf("ANTHROPIC_BASE_URL=http://127.0.0.1:%d"
	    "/anthropic", RUN_GATEWAY_PORT);
	env[(*n)++] = xasprintf("OPENAI_BASE_URL=http://127.0.0.1:%d"
	    "/openai/v1", RUN_GATEWAY_PORT);
	if (key == NULL)
		return;
	env[(*n)++] = xasprintf("ANTHROPIC_API_KEY=%s", key);
	env[(*n)++] = xasprintf("OPENAI_API_KEY=%s", key);
}

void
step_sandbox_proxy_env(char **env, size_t *n)
{
	/* Each tool's own names: curl, git, pip, npm, yarn, go, cargo. */
	static const char *const proxy[] = { "HTTP_PROXY", "http_proxy",
	    "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
	    "NPM_CONFIG_PROXY", "NPM_CONFIG_HTTPS_PROXY", "npm_config_proxy",
	    "npm_config_https_proxy", "YARN_HTTP_PROXY", "YARN_HTTPS_PROXY",
	    "PIP_PROXY" };
	size_t i;

	for (i = 0; i < nitems(proxy); i++)
		env[(*n)++] = xasprintf("%s=http://127.0.0.1:%d", proxy[i],
		    RUN_PROXY_PORT);
	env[(*n)++] = xstrdup("NO_PROXY=localhost,127.0.0.1,::1");
	env[(*n)++] = xstrdup("no_proxy=localhost,127.0.0.1,::1");
}

void
step_sandbox_env_free(char **env, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(env[i]);
	free(env);
}

void
step_sandbox_base(struct run *r, struct sandbox *sb)
{
	char *prefix;

	memset(sb, 0, sizeof(*sb));
	sb->lower = r->files;
	sb->seed = run_path(r, "seed");
	sb->fs = &r->fs;
	sb->merged = run_path(r, "merged");
	sb->handoff_dir = run_path(r, "handoff");
	sb->etc_dir = run_path(r, "etc");
	sb->objects = mirror_objects_dir(r->mirror);
	prefix = cgroup_prefix(r->cfg->data_dir);
	sb->name = xasprintf("%s%lld", prefix, (long long)r->job.id);
	free(prefix);
	sb->timeout_ms = r->cfg->agent_timeout_ms;
	sb->memory_bytes = r->cfg->memory_bytes;
	sb->disk_bytes = r->cfg->disk_bytes;
	sb->pids = r->cfg->pids;
	sb->max_log_bytes = r->cfg->max_log_bytes;
	sb->log_fd = r->log_fd;
	sb->is_echoed = r->is_echoed;
	sb->should_stop = should_stop_cb;
	sb->arg = r;
}

void
step_sandbox_free(struct sandbox *sb)
{
	free((char *)sb->seed);
	free((char *)sb->merged);
	free((char *)sb->handoff_dir);
	free((char *)sb->etc_dir);
	free((char *)sb->name);
	free((char *)sb->out_dir);
	free((char *)sb->agent_path);
	free((char *)sb->home_merged);
}

/* The agent's run ended badly: the people on the issue are told how and
 * what it printed last, its own words only. */
static int
fail_agent(struct run *r, const struct sandbox_result *res)
{
	char *why = xasprintf("the agent %s%s", res->how == SB_EXITED ? "" :
	    "was stopped: ", res->reason);

	run_fail(r, "%s; its output ends:\n%s", why, res->tail);
	r->public = why;
	free(r->output);
	r->output = xstrdup(res->tail);
	return -1;
}

int
step_sandbox_ready(struct run *r)
{
	if (r->cfg->agent_command == NULL)
		return run_fail(r, "no agent: [agent] command is not set");
	return 0;
}

int
step_sandbox(struct run *r)
{
	struct sandbox sb;
	struct run_bridge rb;
	struct sandbox_result res;
	char err[1024], *argv[4], **env;
	const char *layers[3], *home_layers[3];
	size_t nenv;
	int rc;

	/* A new filesystem for what the agent writes, unless set-up made
	 * it (and left its update there); it stays mounted until collect
	 * has read it. */
	if (r->setup_layer == NULL) {
		jobfs_stop(&r->fs);
		if (jobfs_start(&r->fs, r->dir, r->cfg->disk_bytes, false, err,
		    sizeof(err)) == -1)
			return run_fail(r, "sandbox: %s", err);
	}
	step_sandbox_base(r, &sb);
	step_setup_layers(r, &sb, layers, home_layers);
	sb.agent_path = agent_file(r->cfg->agent_command);
	sb.extra_ro = &r->cfg->extra_ro;
	sb.root = r->cfg->sandbox_root;
	sb.share_net = r->cfg->network == NET_HOST;
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = r->cfg->agent_command;
	argv[3] = NULL;
	sb.argv = argv;
	env = agent_env(r, &nenv);
	step_sandbox_bridge(r, &rb);
	if (step_net_test_bridge(r)) {
		sb.bridge = rb.b;
		sb.nbridge = nitems(rb.b);
	} else if (r->proxy.pid) {
		sb.bridge = rb.b;	/* the proxy's, and the gateway's */
		sb.nbridge = r->gateway.pid ? 2 : 1;
	} else if (r->gateway.pid) {
		sb.bridge = rb.b + 1;	/* the gateway's only */
		sb.nbridge = 1;
	}
	if (sb.nbridge > 0)
		step_sandbox_bridge_env(env, &nenv, r->gateway.pid ? r->key :
		    NULL);
	sb.env = env;
	run_log(r, "sandbox: running the agent: %s", r->cfg->agent_command);
	publish_status(r->pub, PS_RUNNING, NULL);
	rc = sandbox_run(&sb, &res, err, sizeof(err));
	step_sandbox_env_free(env, nenv);
	step_sandbox_bridge_free(&rb);
	step_sandbox_free(&sb);
	if (rc == -1)
		return run_fail(r, "%s", err);
	run_log(r, "sandbox: %s%s", res.how == SB_EXITED ? "the agent " :
	    "stopped: ", res.reason);
	if (res.how == SB_CANCELLED)
		return run_interrupted ? -1 : run_cancel(r, "cancelled");
	if (res.how != SB_EXITED || res.status != 0)
		return fail_agent(r, &res);
	return run_done(r, res.reason);
}

/* What the agent wrote stays on disk for collect only as an image (as
 * root), and only with the base it ran on. */
bool
step_sandbox_kept(struct run *r)
{
	return jobfs_has_image(r->dir) && r->job.base_commit != NULL;
}
