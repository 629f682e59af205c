/*
 * The job's network beside the steps that run the agent (rows with
 * STEP_NET): with `network = allowlist` its egress proxy, with an [llm]
 * key its LLM gateway, each a sidecar of handoff's binary serving a unix
 * socket in jobs/N/net that the sandbox's relay reaches. Neither up: the
 * agent does not start. Afterwards the proxy's records go to the store,
 * and a budget the gateway found reached fails the job.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "run.h"
#include "usage.h"
#include "util.h"

#define READY_MS	10000		/* for a sidecar to listen */
#define MAX_RECORDS	10000		/* connections kept per step */
#define MAX_RECORD	4096		/* bytes of one record's line */
#define MAX_BUDGET	512		/* bytes of the budget's reason */

bool
step_net_test_bridge(const struct run *r)
{
	const char *v = getenv("HANDOFF_TEST_BRIDGE");

	return r->cfg->network == NET_ALLOWLIST && v && strcmp(v, "1") == 0;
}

bool
step_net_wanted(const struct run *r, bool *proxy, bool *gateway)
{
	*proxy = r->cfg->network == NET_ALLOWLIST;
	*gateway = r->cfg->network != NET_HOST &&
	    (r->cfg->anthropic_key.value || r->cfg->openai_key.value);
	if (step_net_test_bridge(r))
		*proxy = *gateway = false;	/* someone else serves them */
	return *proxy || *gateway;
}

/* A key valid for this job only: hk- and 48 hex digits. */
static int
make_key(char *key, size_t len)
{
	unsigned char raw[24];
	char hex[2 * sizeof(raw) + 1];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	util_hex(raw, sizeof(raw), hex);
	snprintf(key, len, "hk-%s", hex);
	return 0;
}

/* `handoff [-c CONFIG] WHAT --job N [--setup] --ready 3` beside the job. */
static int
start(struct run *r, struct sidecar *sc, const char *what, const char *key,
    bool is_setup)
{
	char exe[PATH_MAX], id[32], err[512];
	char *argv[11];
	int i = 0;

	if (util_self_exe(exe, sizeof(exe)) == -1)
		return run_fail(r, "sandbox: %s: /proc/self/exe: %s", what,
		    strerror(errno));
	snprintf(id, sizeof(id), "%lld", (long long)r->job.id);
	argv[i++] = "handoff";
	if (r->cfg->path) {
		argv[i++] = "-c";
		argv[i++] = r->cfg->path;
	}
	argv[i++] = (char *)what;
	argv[i++] = "--job";
	argv[i++] = id;
	if (is_setup)
		argv[i++] = "--setup";
	argv[i++] = "--ready";
	argv[i++] = "3";
	argv[i] = NULL;
	sc->name = what;
	if (sidecar_start(sc, exe, argv, key, READY_MS, err,
	    sizeof(err)) == -1)
		return run_fail(r, "sandbox: the job's %s", err);
	return 0;
}

int
step_net_start(struct run *r)
{
	bool proxy, gateway;

	if (!step_net_wanted(r, &proxy, &gateway))
		return 0;
	/* As root the relay, as the sandbox's host user, holds it open
	 * and connects to the sockets in it (0666). */
	if (run_make_dir(r, "net", true, geteuid() == 0 ? 0711 : 0700) == -1)
		return -1;
	if (gateway && make_key(r->key, sizeof(r->key)) == -1)
		return run_fail(r, "sandbox: getrandom: %s", strerror(errno));
	if ((proxy && start(r, &r->proxy, "proxy", NULL, false) == -1) ||
	    (gateway && start(r, &r->gateway, "gateway", r->key, false) ==
	    -1)) {
		step_net_stop(r);
		return -1;
	}
	return 0;
}

int
step_net_start_setup(struct run *r, bool is_own)
{
	if ((is_own ? r->cfg->setup_network : r->cfg->network) != NET_ALLOWLIST)
		return 0;
	if (run_make_dir(r, "net", true, geteuid() == 0 ? 0711 : 0700) == -1)
		return -1;
	if (start(r, &r->proxy, "proxy", NULL, is_own) == -1) {
		step_net_stop(r);
		return -1;
	}
	return 0;
}

/* One line of net/egress.jsonl into the store. */
static void
record(struct run *r, const char *line)
{
	struct store_egress e = { 0 };
	cJSON *o = cJSON_Parse(line);
	const cJSON *v;

	if (o == NULL)
		return;
	e.host = cJSON_GetStringValue(cJSON_GetObjectItem(o, "host"));
	e.address = cJSON_GetStringValue(cJSON_GetObjectItem(o, "address"));
	e.reason = cJSON_GetStringValue(cJSON_GetObjectItem(o, "reason"));
	e.allowed = cJSON_IsTrue(cJSON_GetObjectItem(o, "allowed"));
	if (cJSON_IsNumber(v = cJSON_GetObjectItem(o, "port")))
		e.port = (int)v->valuedouble;
	if (cJSON_IsNumber(v = cJSON_GetObjectItem(o, "bytes_in")))
		e.bytes_in = (int64_t)v->valuedouble;
	if (cJSON_IsNumber(v = cJSON_GetObjectItem(o, "bytes_out")))
		e.bytes_out = (int64_t)v->valuedouble;
	if (cJSON_IsNumber(v = cJSON_GetObjectItem(o, "duration_ms")))
		e.duration_ms = (int64_t)v->valuedouble;
	if (e.host && store_egress_add(r->st, r->job.id, &e) == -1)
		log_warn("job %lld: %s", (long long)r->job.id,
		    store_error(r->st));
	if (!e.allowed && e.host)
		run_log(r, "egress: blocked %s:%d, %s", e.host, e.port,
		    e.reason ? e.reason : "refused");
	cJSON_Delete(o);
}

/* The proxy's records of the step, into the store, bounded. */
static void
import_egress(struct run *r)
{
	char *p = run_path(r, "net/egress.jsonl"), *text, *line, *nl;
	size_t len, n = 0;

	text = util_read_file(p, (size_t)MAX_RECORDS * MAX_RECORD, &len);
	for (line = text; line && *line && n < MAX_RECORDS; line = nl, n++) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if (strlen(line) <= MAX_RECORD)
			record(r, line);
		if (nl == NULL)
			break;
	}
	free(text);
	unlink(p);
	free(p);
}

bool
step_net_broken(struct run *r)
{
	struct stat sb;
	char *p;
	bool reached;

	if (r->proxy.is_gone || r->gateway.is_gone)
		return true;
	if (r->proxy.pid == 0 && r->gateway.pid == 0)
		return false;
	p = run_path(r, "net/budget");
	reached = stat(p, &sb) == 0;
	free(p);
	return reached || (r->proxy.pid && !sidecar_alive(&r->proxy, NULL)) ||
	    (r->gateway.pid && !sidecar_alive(&r->gateway, NULL));
}

void
step_net_stop(struct run *r)
{
	char *p, *why;
	bool was_proxy = r->proxy.pid != 0 || r->proxy.is_gone;
	bool was_gateway = r->gateway.pid != 0 || r->gateway.is_gone;
	/* Gone by itself: seen now, or reaped by step_net_broken. */
	bool proxy_lost = was_proxy && !sidecar_alive(&r->proxy, NULL);
	bool gateway_lost = was_gateway && !sidecar_alive(&r->gateway, NULL);

	sidecar_stop(&r->proxy);
	sidecar_stop(&r->gateway);
	explicit_bzero(r->key, sizeof(r->key));
	if (!was_proxy && !was_gateway)
		return;
	import_egress(r);
	p = run_path(r, "net/budget");
	why = util_read_file(p, MAX_BUDGET, NULL);
	free(p);
	if (why && *why) {
		why[strcspn(why, "\n")] = '\0';
		run_fail_public(r, why + (strncmp(why, "budget: ", 8) == 0 ?
		    8 : 0));
	} else if (proxy_lost || gateway_lost)
		run_fail_public(r, proxy_lost ? "the job's egress proxy"
		    " stopped during the agent's run" : "the job's LLM gateway"
		    " stopped during the agent's run");
	free(why);
}

#define MAX_BLOCKED	10	/* refused hosts named in a comment */

/* A host as the proxy recorded it, for markdown: its own characters only. */
static void
host_text(const char *host, char *buf, size_t len)
{
	size_t i, o = 0;

	for (i = 0; host[i] != '\0' && o + 1 < len && i < 255; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-:[]_", host[i]) != NULL)
			buf[o++] = host[i];
	buf[o] = '\0';
}

/* "blocked: HOST:PORT, REASON" lines for the refused connections, each
 * host and port once, at most MAX_BLOCKED and how many more. */
static char *
blocked_text(const struct store_egress *e, size_t n)
{
	char *out = xstrdup(""), *next, host[256], line[512];
	size_t i, j, named = 0, more = 0;
	bool seen;

	for (i = 0; i < n; i++) {
		if (e[i].allowed)
			continue;
		for (seen = false, j = 0; j < i && !seen; j++)
			seen = !e[j].allowed && e[j].port == e[i].port &&
			    strcmp(e[j].host, e[i].host) == 0;
		if (seen)
			continue;
		if (named == MAX_BLOCKED) {
			more++;
			continue;
		}
		host_text(e[i].host, host, sizeof(host));
		snprintf(line, sizeof(line), "blocked: %s:%d, %s", host,
		    e[i].port, e[i].reason && *e[i].reason ? e[i].reason :
		    "refused");
		next = xasprintf("%s%s%s", out, named ? "  \n" : "", line);
		free(out);
		out = next;
		named++;
	}
	if (more > 0) {
		next = xasprintf("%s  \nand %zu more", out, more);
		free(out);
		out = next;
	}
	return out;
}

char *
step_net_report(struct run *r)
{
	struct store_usage *u = NULL, sum;
	struct store_egress *e = NULL;
	size_t nu = 0, ne = 0;
	char line[160], *blocked, *text;

	if (store_usage_of(r->st, r->job.id, &u, &nu) == -1 ||
	    store_egress_of(r->st, r->job.id, &e, &ne) == -1) {
		store_usage_free(u, nu);
		return NULL;
	}
	store_usage_sum(u, nu, &sum);
	line[0] = '\0';
	if (sum.requests > 0)
		usage_line(sum.requests, sum.input_tokens +
		    sum.cache_read_tokens + sum.cache_write_tokens,
		    sum.output_tokens, sum.cost_micros, line, sizeof(line));
	blocked = blocked_text(e, ne);
	text = xasprintf("%s%s%s%s", *line ? "Model usage: " : "", line,
	    *line && *blocked ? "\n\n" : "", blocked);
	free(blocked);
	store_usage_free(u, nu);
	store_egress_free(e, ne);
	if (*text == '\0') {
		free(text);
		return NULL;
	}
	return text;
}
