/*
 * config.c: defaults, every key, sizes and durations, file:line errors,
 * secrets from inline, file: and env:, masking, and config.example.ini.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "util.h"
#include "tap.h"
#define CONFIG_TEST_DIR "/tmp/handoff-test-config.XXXXXX"
#include "config_test.h"

static const char *const files[] = { "t.ini", "key.pem", "token",
    "printed.ini", "nul.ini" };

static void
test_defaults(void)
{
	struct config *cfg = config_defaults();

	is_str(cfg->listen, "127.0.0.1:8080", "default listen");
	is_str(cfg->data_dir, "/var/lib/handoff", "default data_dir");
	is_int(cfg->max_body_bytes, 25 << 20, "default max_body");
	is_int(cfg->log_level, LOG_INFO, "default log_level");
	is_int(cfg->max_connections, 256, "default max_connections");
	is_int(cfg->timeout_ms, 15000, "default timeout");
	is_str(cfg->web_listen, "127.0.0.1:8081", "default web listen");
	ok(cfg->web_token.value == NULL && cfg->web_token.source == NULL,
	    "web token unset");
	is_str(cfg->public_url, "http://127.0.0.1:8081", "default public_url");
	is_str(cfg->github_api_url, "https://api.github.com", "default api_url");
	ok(cfg->github_webhook_secret.value == NULL, "github secret unset");
	ok(cfg->github_token.value == NULL, "github token unset");
	ok(cfg->github_app_id == NULL, "app_id unset");
	ok(cfg->github_private_key.value == NULL, "private_key unset");
	is_int(cfg->github_installation_id, 0, "installation_id unset");
	ok(cfg->github_bot_login == NULL, "bot_login unset");
	is_str(cfg->gitlab_url, "https://gitlab.com", "default gitlab url");
	ok(cfg->gitlab_webhook_token.value == NULL, "gitlab token unset");
	ok(cfg->gitlab_signing_token.value == NULL, "signing token unset");
	ok(cfg->gitlab_token.value == NULL, "gitlab api token unset");
	ok(cfg->gitlab_bot_username == NULL, "bot_username unset");
	is_str(cfg->label, "agent", "default label");
	is_str(cfg->command, "/agent", "default command");
	is_int(cfg->allow, ALLOW_OWNER | ALLOW_MEMBER | ALLOW_COLLABORATOR,
	    "default allow");
	is_int(cfg->review, REVIEW_CHANGES_REQUESTED, "default review");
	ok(cfg->agent_command == NULL, "agent command unset");
	is_int(cfg->agent_timeout_ms, 30 * 60000, "default agent timeout");
	is_int(cfg->agent_env.n, 0, "agent env empty");
	is_int(cfg->max_log_bytes, 10 << 20, "default max_log");
	is_int(cfg->network, NET_NONE, "default network");
	is_int(cfg->allow_hosts.n, 0, "allow_hosts empty");
	is_int(cfg->memory_bytes, 4ULL << 30, "default memory");
	is_int(cfg->pids, 512, "default pids");
	is_int(cfg->disk_bytes, 10ULL << 30, "default disk");
	is_int(cfg->max_egress_bytes, 1ULL << 30, "default max_egress");
	is_int(cfg->egress_pins.n, 0, "hosts empty");
	is_int(cfg->extra_ro.n, 0, "extra_ro empty");
	is_int(cfg->max_parallel, 2, "default max_parallel");
	is_int(cfg->max_per_repo, 1, "default max_per_repo");
	is_str(cfg->branch_prefix, "handoff/", "default branch_prefix");
	ok(cfg->draft, "default draft");
	ok(cfg->protected_paths.n == 1 &&
	    strcmp(cfg->protected_paths.v[0], ".github/workflows/**") == 0 &&
	    cfg->protected_paths.v[1] == NULL, "default protected_paths");
	is_int(cfg->max_changed_files, 100, "default max_changed_files");
	is_int(cfg->coalesce_ms, 10000, "default coalesce");
	is_int(cfg->max_ci_fixes, 2, "default max_ci_fixes");
	config_free(cfg);

	cfg = load("# nothing but a comment\n");
	ok(cfg != NULL, "a file with no keys loads: %s", err);
	if (cfg != NULL) {
		is_str(cfg->listen, "127.0.0.1:8080", "empty file: defaults");
		is_str(cfg->public_url, "http://127.0.0.1:8081",
		    "empty file: public_url from web listen");
		ok(strstr(cfg->path, "t.ini") != NULL, "path kept");
	}
	config_free(cfg);
}

static const char every_key[] =
    "; every key\n"
    "[server]\n"
    "listen = 0.0.0.0:9000\n"
    "data_dir = ./data\n"
    "max_body = 1M\n"
    "log_level = debug\n"
    "max_connections = 64\n"
    "timeout = 250ms\n"
    "\n"
    "[web]\n"
    "  listen = [::1]:9001   ; indented, with a comment\n"
    "token = web-token-value\n"
    "public_url = https://handoff.example.com/\n"
    "[github]\n"
    "api_url = http://127.0.0.1:3000/api\n"
    "webhook_secret = gh-secret-value\n"
    "app_id = 12345\n"
    "private_key = -----BEGIN RSA PRIVATE KEY----- inline\n"
    "installation_id = 987654321\n"
    "bot_login = handoff-bot[bot]\n"
    "[gitlab]\n"
    "url = https://gitlab.example.com\n"
    "webhook_token = gl-token-value\n"
    "webhook_signing_token = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
    "token = gl-api-value\n"
    "bot_username = handoff\n"
    "[trigger]\n"
    "label = needs agent\n"
    "command = /bot\n"
    "allow = owner , contributor\n"
    "review = commented\n"
    "repos = Acme/*, group/sub/**, ,h?ndoff/Tools.x_y-z\n"
    "[agent]\n"
    "command = claude -p \"$(cat $HANDOFF_TASK)\"\n"
    "timeout = 2h\n"
    "env = ANTHROPIC_API_KEY, HOME ,_X1\n"
    "max_log = 512K\n"
    "[sandbox]\n"
    "network = allowlist\n"
    "allow_hosts = api.anthropic.com, *.npmjs.org, proxy:3128, 10.0.0.1,\n"
    "hosts = mirror.internal=10.0.0.5, v6.internal=[fd00::5]\n"
    "max_egress = 300M\n"
    "memory = 2G\n"
    "pids = 100\n"
    "disk = 1G\n"
    "extra_ro = /opt/tools, /nix/store\n"
    "[runs]\n"
    "max_parallel = 0\n"
    "max_per_repo = 3\n"
    "branch_prefix = bots/handoff-\n"
    "draft = no\n"
    "protected_paths = .github/**, CODEOWNERS\n"
    "max_changed_files = 7\n"
    "coalesce = 0\n"
    "max_ci_fixes = 0\n";

static void
test_every_key(void)
{
	struct config *cfg = load(every_key);
	char *out, *path;

	if (!ok(cfg != NULL, "every key loads")) {
		printf("#   %s\n", err);
		return;
	}
	is_str(cfg->listen, "0.0.0.0:9000", "listen");
	path = xasprintf("%s/data", dir);
	is_str(cfg->data_dir, path, "relative data_dir: the config's "
	    "directory's");
	free(path);
	is_int(cfg->max_body_bytes, 1 << 20, "max_body 1M");
	is_int(cfg->log_level, LOG_DEBUG, "log_level debug");
	is_int(cfg->max_connections, 64, "max_connections");
	is_int(cfg->timeout_ms, 250, "timeout 250ms");
	is_str(cfg->web_listen, "[::1]:9001", "indented IPv6 web listen");
	is_str(cfg->web_token.value, "web-token-value", "web token");
	is_str(cfg->web_token.source, "inline", "web token source");
	is_str(cfg->public_url, "https://handoff.example.com",
	    "public_url without trailing slash");
	is_str(cfg->github_api_url, "http://127.0.0.1:3000/api", "api_url");
	is_str(cfg->github_webhook_secret.value, "gh-secret-value",
	    "github webhook_secret");
	is_int(cfg->github_webhook_secret.len, 15, "secret length");
	ok(cfg->github_token.value == NULL, "github token unset with an App");
	is_str(cfg->github_app_id, "12345", "app_id");
	ok(cfg->github_private_key.value != NULL &&
	    strncmp(cfg->github_private_key.value, "-----BEGIN", 10) == 0,
	    "private_key");
	is_int(cfg->github_installation_id, 987654321, "installation_id");
	is_str(cfg->github_bot_login, "handoff-bot[bot]", "bot_login");
	is_str(cfg->gitlab_url, "https://gitlab.example.com", "gitlab url");
	is_str(cfg->gitlab_webhook_token.value, "gl-token-value",
	    "gitlab webhook_token");
	is_str(cfg->gitlab_signing_token.value,
	    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "signing token");
	is_str(cfg->gitlab_token.value, "gl-api-value", "gitlab token");
	is_str(cfg->gitlab_bot_username, "handoff", "bot_username");
	is_str(cfg->label, "needs agent", "label with a space");
	is_str(cfg->command, "/bot", "command");
	is_int(cfg->allow, ALLOW_OWNER | ALLOW_CONTRIBUTOR, "allow");
	is_int(cfg->review, REVIEW_COMMENTED, "review");
	is_str(cfg->agent_command, "claude -p \"$(cat $HANDOFF_TASK)\"",
	    "agent command");
	is_int(cfg->agent_timeout_ms, 2 * 3600000, "agent timeout 2h");
	ok(cfg->agent_env.n == 3 && !strcmp(cfg->agent_env.v[0],
	    "ANTHROPIC_API_KEY") && !strcmp(cfg->agent_env.v[1], "HOME") &&
	    !strcmp(cfg->agent_env.v[2], "_X1") && cfg->agent_env.v[3] == NULL,
	    "agent env, trimmed");
	is_int(cfg->max_log_bytes, 512 << 10, "max_log 512K");
	is_int(cfg->network, NET_ALLOWLIST, "network");
	ok(cfg->allow_hosts.n == 4 && !strcmp(cfg->allow_hosts.v[1],
	    "*.npmjs.org") && !strcmp(cfg->allow_hosts.v[2], "proxy:3128"),
	    "allow_hosts, trailing comma ignored");
	ok(cfg->egress_pins.n == 2 && !strcmp(cfg->egress_pins.v[1],
	    "v6.internal=[fd00::5]"), "hosts pins");
	is_int(cfg->max_egress_bytes, 300ULL << 20, "max_egress");
	is_int(cfg->memory_bytes, 2ULL << 30, "memory");
	is_int(cfg->pids, 100, "pids");
	is_int(cfg->disk_bytes, 1ULL << 30, "disk");
	ok(cfg->extra_ro.n == 2 && !strcmp(cfg->extra_ro.v[1], "/nix/store"),
	    "extra_ro");
	is_int(cfg->max_parallel, 0, "max_parallel 0 pauses");
	is_int(cfg->max_per_repo, 3, "max_per_repo");
	is_str(cfg->branch_prefix, "bots/handoff-", "branch_prefix");
	ok(!cfg->draft, "draft no");
	ok(cfg->protected_paths.n == 2 &&
	    !strcmp(cfg->protected_paths.v[1], "CODEOWNERS"), "protected_paths");
	is_int(cfg->max_changed_files, 7, "max_changed_files");
	is_int(cfg->coalesce_ms, 0, "coalesce 0 turns folding off");
	is_int(cfg->max_ci_fixes, 0, "max_ci_fixes");

	out = printed(cfg);
	ok(strstr(out, "max_body = 1M\n") != NULL, "printed size");
	ok(strstr(out, "timeout = 250ms\n") != NULL, "printed ms duration");
	ok(strstr(out, "timeout = 2h\n") != NULL, "printed hours");
	ok(strstr(out, "allow = owner,contributor\n") != NULL, "printed allow");
	ok(strstr(out, "env = ANTHROPIC_API_KEY, HOME, _X1\n") != NULL,
	    "printed list");
	ok(strstr(out, "draft = false\n") != NULL, "printed bool");
	ok(strstr(out, "repos = Acme/*, group/sub/**, h?ndoff/Tools.x_y-z\n")
	    != NULL, "printed repos");
	is_int(cfg->trigger_repos.n, 3, "three repos patterns");
	ok(strstr(out, "installation_id = 987654321\n") != NULL,
	    "printed installation_id");
	free(out);
	config_free(cfg);
}

static void
test_values(void)
{
	static const struct { const char *text; uint64_t want; } sizes[] = {
		{ "512B", 512 }, { "1024", 1024 }, { "4K", 4096 },
		{ "25M", 25 << 20 },
		{ "3G", 3ULL << 30 }, { "1k", 1024 },
	};
	static const struct { const char *text; int64_t want; } durs[] = {
		{ "30", 30000 }, { "30s", 30000 }, { "5m", 300000 },
		{ "2h", 7200000 }, { "1500ms", 1500 },
	};
	static const char *const bools[] = { "true", "yes", "on", "1", "false",
	    "no", "off", "0" };
	struct config *cfg;
	char *text;
	size_t i;

	for (i = 0; i < nitems(sizes); i++) {
		text = xasprintf("[server]\nmax_body = %s\n", sizes[i].text);
		cfg = load(text);
		ok(cfg != NULL && cfg->max_body_bytes == sizes[i].want,
		    "size %s", sizes[i].text);
		config_free(cfg);
		free(text);
	}
	for (i = 0; i < nitems(durs); i++) {
		text = xasprintf("[agent]\ntimeout = %s\n", durs[i].text);
		cfg = load(text);
		ok(cfg != NULL && cfg->agent_timeout_ms == durs[i].want,
		    "duration %s", durs[i].text);
		config_free(cfg);
		free(text);
	}
	for (i = 0; i < nitems(bools); i++) {
		text = xasprintf("[runs]\ndraft = %s\n", bools[i]);
		cfg = load(text);
		ok(cfg != NULL && cfg->draft == (i < 4), "boolean %s", bools[i]);
		config_free(cfg);
		free(text);
	}
	cfg = load("[server]\nlisten = localhost:1\n[web]\nlisten = "
	    "handoff.internal:65535\npublic_url = http://[::1]:8081/x/\n");
	ok(cfg != NULL && !strcmp(cfg->web_listen, "handoff.internal:65535") &&
	    !strcmp(cfg->public_url, "http://[::1]:8081/x"),
	    "host names, ports 1 and 65535, public_url path");
	config_free(cfg);
	cfg = load("[web]\nlisten = 192.168.1.2:8000\n");
	is_str(cfg ? cfg->public_url : NULL, "http://192.168.1.2:8000",
	    "public_url follows [web] listen");
	config_free(cfg);
	cfg = load("[github]\ntoken =\n[agent]\nenv =\n[runs]\n"
	    "protected_paths =\n");
	ok(cfg != NULL && cfg->github_token.value == NULL &&
	    cfg->protected_paths.n == 0, "empty values unset optional keys");
	config_free(cfg);
}

static void
test_errors(void)
{
	struct config *cfg;
	char *big, *text;

	cfg = config_load("/nonexistent/handoff.ini", err, sizeof(err));
	ok(cfg == NULL && strstr(err, "/nonexistent/handoff.ini: cannot read: ")
	    && strstr(err, strerror(ENOENT)), "missing file: %s", err);

	fails("port 0", "[server]\nlisten = 127.0.0.1:0\n",
	    "t.ini:2: [server] listen: expected host:port", "got \"127.0.0.1:0\"",
	    NULL);
	fails("port too big", "\n\n[web]\nlisten = 127.0.0.1:65536\n",
	    "t.ini:4: [web] listen:", NULL);
	fails("no port", "[server]\nlisten = 127.0.0.1\n", "t.ini:2: [server] "
	    "listen", NULL);
	fails("bare IPv6", "[server]\nlisten = ::1:80\n", "t.ini:2:", NULL);
	fails("bad IPv4", "[server]\nlisten = 300.1.1.1:80\n", "t.ini:2:", NULL);
	fails("bad host name", "[server]\nlisten = a_b:80\n", "t.ini:2:", NULL);
	fails("empty listen", "[server]\nlisten =\n", "t.ini:2: [server] "
	    "listen: expected", "got \"\"", NULL);
	fails("bad size", "[server]\nmax_body = 25X\n", "t.ini:2: [server] "
	    "max_body: expected a size", "got \"25X\"", NULL);
	fails("zero size", "[sandbox]\nmemory = 0\n", "t.ini:2: [sandbox] "
	    "memory:", NULL);
	fails("bad duration", "[server]\ntimeout = 5 minutes\n",
	    "t.ini:2: [server] timeout: expected a duration", NULL);
	fails("zero timeout", "[agent]\ntimeout = 0\n", "t.ini:2: [agent] "
	    "timeout:", NULL);
	fails("bad bool", "[runs]\ndraft = maybe\n", "t.ini:2: [runs] draft: "
	    "expected true, false", "got \"maybe\"", NULL);
	fails("bad int", "[sandbox]\npids = 12x\n", "t.ini:2: [sandbox] pids: "
	    "expected an integer from 1 to", NULL);
	fails("max_per_repo 0", "[runs]\nmax_per_repo = 0\n", "t.ini:2: [runs] "
	    "max_per_repo: expected an integer from 1", NULL);
	fails("max_parallel -1", "[runs]\nmax_parallel = -1\n",
	    "t.ini:2: [runs] max_parallel: expected an integer from 0", NULL);
	fails("bad log level", "[server]\nlog_level = loud\n",
	    "t.ini:2: [server] log_level: expected error, warn, info or debug",
	    NULL);
	fails("bad url", "[github]\napi_url = ftp://example.com\n",
	    "t.ini:2: [github] api_url: expected an http:// or https:// URL",
	    NULL);
	fails("url without host", "[gitlab]\nurl = https://\n",
	    "t.ini:2: [gitlab] url:", NULL);
	fails("bad allow", "[trigger]\nallow = owner, everyone\n",
	    "t.ini:2: [trigger] allow: expected a comma-separated list of owner, "
	    "member, collaborator, contributor", "got \"everyone\"", NULL);
	fails("empty allow", "[trigger]\nallow = ,\n", "t.ini:2: [trigger] "
	    "allow:", NULL);
	fails("repos without an owner", "[trigger]\nrepos = acme/*, widgets\n",
	    "t.ini:2: [trigger] repos: expected a comma-separated list of "
	    "repository patterns (owner/name", "got \"widgets\"", NULL);
	fails("repos with an empty part", "[trigger]\nrepos = acme//x\n",
	    "[trigger] repos:", "got \"acme//x\"", NULL);
	fails("repos ending in /", "[trigger]\nrepos = acme/\n",
	    "[trigger] repos:", NULL);
	fails("repos with ** inside", "[trigger]\nrepos = acme/**/x\n",
	    "[trigger] repos:", "got \"acme/**/x\"", NULL);
	fails("repos ** alone", "[trigger]\nrepos = **\n",
	    "[trigger] repos:", NULL);
	fails("repos ** as the owner", "[trigger]\nrepos = **/x\n",
	    "[trigger] repos:", NULL);
	fails("repos ** within a part", "[trigger]\nrepos = acme/a**\n",
	    "[trigger] repos:", NULL);
	fails("repos with a bracket", "[trigger]\nrepos = acme/[ab]\n",
	    "[trigger] repos:", NULL);
	fails("repos with a space", "[trigger]\nrepos = acme/my repo\n",
	    "[trigger] repos:", NULL);
	fails("repos with a backslash", "[trigger]\nrepos = acme\\x/y\n",
	    "[trigger] repos:", NULL);
	fails("bad review", "[trigger]\nreview = always\n", "t.ini:2: [trigger] "
	    "review: expected one of changes_requested, commented, never", NULL);
	fails("bad network", "[sandbox]\nnetwork = full\n", "t.ini:2: [sandbox] "
	    "network: expected one of none, allowlist, host", NULL);
	fails("bad env name", "[agent]\nenv = HOME, 1BAD\n", "t.ini:2: [agent] "
	    "env: expected a comma-separated list of environment variable names",
	    "got \"1BAD\"", NULL);
	fails("env name with dash", "[agent]\nenv = MY-VAR\n", "[agent] env:",
	    NULL);
	cfg = load("[sandbox]\nextra_ro = /opt, ./opt/tools\n[llm]\n"
	    "ca_file = t.ini\n");
	text = xasprintf("%s/opt/tools", dir);
	ok(cfg != NULL && cfg->extra_ro.n == 2 &&
	    !strcmp(cfg->extra_ro.v[0], "/opt") &&
	    !strcmp(cfg->extra_ro.v[1], text), "relative extra_ro: the "
	    "config's directory's, an absolute one kept: %s", err);
	free(text);
	text = xasprintf("%s/t.ini", dir);
	ok(cfg != NULL && !strcmp(cfg->ca_file, text), "relative ca_file: "
	    "the config's directory's");
	free(text);
	config_free(cfg);
	fails("a size without a unit, under a KiB", "[sandbox]\nmemory = 512\n",
	    "t.ini:2: [sandbox] memory: 512 bytes; did you mean 512M?", NULL);
	fails("memory under 16M", "[sandbox]\nmemory = 8M\n",
	    "t.ini:2: [sandbox] memory: expected a size", "at least 16M", NULL);
	fails("token and an App", "[github]\ntoken = t\napp_id = 1\n"
	    "private_key = -----BEGIN KEY\n", "t.ini:2: [github] token: set "
	    "together with [github] app_id (line 3)", NULL);
	fails("an App's name for its ID", "[github]\napp_id = my-app\n",
	    "t.ini:2: [github] app_id: expected the App's numeric ID",
	    "got \"my-app\"", NULL);
	fails("a GitLab URL with /api/v4", "[gitlab]\n"
	    "url = https://gitlab.example.com/api/v4\n",
	    "t.ini:2: [gitlab] url:", "without /api/v4", NULL);
	fails("one port for both listeners", "[server]\n"
	    "listen = 127.0.0.1:9000\n[web]\nlisten = 0.0.0.0:9000\n",
	    "t.ini:4: [web] listen: 0.0.0.0:9000 takes the port of [server] "
	    "listen (127.0.0.1:9000)", NULL);
	fails("bad allow_hosts", "[sandbox]\nallow_hosts = exa mple.com\n",
	    "t.ini:2: [sandbox] allow_hosts:", NULL);
	fails("hex allow_hosts", "[sandbox]\nallow_hosts = 0x7f.1\n",
	    "t.ini:2: [sandbox] allow_hosts:", NULL);
	fails("wildcard of a literal", "[sandbox]\nallow_hosts = *.10.0.0.1\n",
	    "t.ini:2: [sandbox] allow_hosts:", NULL);
	fails("pin to a name", "[sandbox]\nhosts = a.test=b.test\n",
	    "t.ini:2: [sandbox] hosts: expected a comma-separated list of "
	    "name=address pins", NULL);
	fails("max_egress 0", "[sandbox]\nmax_egress = 0\n",
	    "t.ini:2: [sandbox] max_egress:", NULL);
	fails("branch_prefix with space", "[runs]\nbranch_prefix = my bot/\n",
	    "t.ini:2: [runs] branch_prefix: expected a git branch name prefix",
	    NULL);
	fails("branch_prefix with ..", "[runs]\nbranch_prefix = a..b/\n",
	    "[runs] branch_prefix", NULL);
	fails("branch_prefix with ~", "[runs]\nbranch_prefix = a~b/\n",
	    "[runs] branch_prefix", NULL);
	fails("branch_prefix with :", "[runs]\nbranch_prefix = a:b\n",
	    "[runs] branch_prefix", NULL);
	fails("branch_prefix from /", "[runs]\nbranch_prefix = /handoff\n",
	    "[runs] branch_prefix", NULL);
	fails("branch_prefix from -", "[runs]\nbranch_prefix = -handoff\n",
	    "[runs] branch_prefix", NULL);
	fails("empty branch_prefix", "[runs]\nbranch_prefix =\n",
	    "[runs] branch_prefix", NULL);
	fails("empty label", "[trigger]\nlabel =\n", "t.ini:2: [trigger] label: "
	    "expected a non-empty value", NULL);
	fails("empty command", "[trigger]\ncommand =\n", "t.ini:2: [trigger] "
	    "command: expected", NULL);
	fails("command with a space", "[trigger]\ncommand = / agent\n",
	    "[trigger] command", NULL);
	fails("bad installation_id", "[github]\ninstallation_id = -4\n",
	    "t.ini:2: [github] installation_id: expected a positive integer",
	    NULL);
	fails("unknown key", "[server]\nlisten = 127.0.0.1:1\nlistne = x\n",
	    "t.ini:3: [server] listne: unknown key; expected one of listen, "
	    "data_dir", NULL);
	fails("unknown section", "[server]\n[servre]\n", "t.ini:2: [servre]: "
	    "unknown section; expected one of server, web, github, gitlab, "
	    "trigger, agent, sandbox, setup, llm, runs", NULL);
	fails("unknown section with keys", "[foo]\nbar = 1\n", "t.ini:1: [foo]: "
	    "unknown section", NULL);
	fails("key before a section", "listen = 1\n", "t.ini:1: listen: "
	    "expected a [section]", NULL);
	fails("syntax error", "[server]\n\nthis is not ini\n",
	    "t.ini:3: expected \"[section]\" or \"key = value\"", NULL);
	fails("unclosed section", "[server\n", "t.ini:1: expected", NULL);
	fails("key set twice", "[server]\nlisten = 127.0.0.1:1\n[web]\n[server]\n"
	    "listen = 127.0.0.1:2\n", "t.ini:5: [server] listen: set twice "
	    "(first on line 2)", NULL);
	fails("first error wins", "[server]\nmax_body = x\nlisten = y\n",
	    "t.ini:2: [server] max_body", NULL);
	fails("syntax error before a bad value", "[server]\noops\nmax_body = x\n",
	    "t.ini:2: expected \"[section]\"", NULL);
	fails("control characters escaped", "[runs]\ndraft = \"a\x01\"\n",
	    "got \"\\\"a\\x01\\\"\"", NULL);
	fails("app_id without private_key", "[github]\n\napp_id = 1\n",
	    "t.ini:3: [github] app_id: expected private_key", NULL);
	fails("private_key without app_id", "[github]\nprivate_key = "
	    "-----BEGIN KEY-----\n", "t.ini:2: [github] private_key: expected "
	    "app_id", NULL);
	fails("private_key not PEM", "[github]\napp_id = 1\nprivate_key = "
	    "hunter2-not-a-key\n", "t.ini:3: [github] private_key: expected a "
	    "PEM private key", "got <17 bytes>", NULL);
	ok(strstr(err, "hunter2") == NULL, "a bad secret is not echoed");

	big = xmalloc(5000);
	memset(big, 'a', 4999);
	big[4999] = '\0';
	memcpy(big, "[agent]\ncommand = ", 18);
	fails("long line", big, "t.ini:2: line longer than", NULL);
	free(big);
}

static void
test_whsec(void)
{
	static const struct { const char *v; bool good; } cases[] = {
		{ "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true },	/* 24 */
		{ "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true }, /* 32 */
		{ "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true },
		{ "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", false },	/* 22 */
		{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false },
		{ "whsec_not*base64*at*all*not*base64*at*all", false },
		{ "whsec_", false },
	};
	struct config *cfg;
	char *text;
	size_t i;

	for (i = 0; i < nitems(cases); i++) {
		text = xasprintf("[gitlab]\nwebhook_signing_token = %s\n",
		    cases[i].v);
		cfg = load(text);
		if (cases[i].good)
			ok(cfg != NULL, "whsec accepted: %s %s", cases[i].v, err);
		else
			ok(cfg == NULL && strstr(err, "t.ini:2: [gitlab] "
			    "webhook_signing_token: expected whsec_") &&
			    strstr(err, "got <") != NULL &&
			    (cases[i].v[6] == '\0' ||
			    strstr(err, cases[i].v + 6) == NULL),
			    "whsec rejected without echo: %s", cases[i].v);
		config_free(cfg);
		free(text);
	}
}

static void
test_secrets(void)
{
	struct config *cfg;
	char *key, *tok, *text, *out;

	key = write_file("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIEv\n"
	    "-----END PRIVATE KEY-----\n\n");
	tok = write_file("token", "file-token-value\r\n");
	setenv("TEST_CONFIG_SECRET", "env-secret-value", 1);
	unsetenv("TEST_CONFIG_UNSET");
	text = xasprintf("[github]\nwebhook_secret = env:TEST_CONFIG_SECRET\n"
	    "app_id = Iv1.abc\nprivate_key = file:%s\n"
	    "[gitlab]\nwebhook_token = inline-token-value\ntoken = file:%s\n",
	    key, tok);
	cfg = load(text);
	free(text);
	if (ok(cfg != NULL, "secrets load: %s", err)) {
		is_str(cfg->github_webhook_secret.value, "env-secret-value",
		    "secret from env:");
		is_str(cfg->github_webhook_secret.source,
		    "env:TEST_CONFIG_SECRET", "env: source");
		is_str(cfg->gitlab_token.value, "file-token-value",
		    "secret from file:, one newline stripped");
		ok(strncmp(cfg->gitlab_token.source, "file:/", 6) == 0,
		    "file: source");
		is_str(cfg->github_private_key.value, "-----BEGIN PRIVATE KEY-----"
		    "\nMIIEv\n-----END PRIVATE KEY-----\n",
		    "PEM from file:, only one newline stripped");
		is_str(cfg->gitlab_webhook_token.source, "inline", "inline");

		out = printed(cfg);
		ok(strstr(out, "env-secret-value") == NULL &&
		    strstr(out, "file-token-value") == NULL &&
		    strstr(out, "MIIEv") == NULL &&
		    strstr(out, "inline-token-value") == NULL,
		    "config_print shows no secret value");
		ok(strstr(out, "webhook_secret = <set, from "
		    "env:TEST_CONFIG_SECRET>\n") != NULL, "env: secret masked");
		text = xasprintf("token = <set, from file:%s>\n", tok);
		ok(strstr(out, text) != NULL, "file: secret masked");
		free(text);
		ok(strstr(out, "webhook_token = <set, inline>\n") != NULL,
		    "inline secret masked");
		ok(strstr(out, "[web]\nlisten = 127.0.0.1:8081\ntoken = "
		    "<unset>\n") != NULL, "unset secret");
		free(out);
	}
	config_free(cfg);

	fails("unset env var", "[web]\n\ntoken = env:TEST_CONFIG_UNSET\n",
	    "t.ini:3: [web] token:", "TEST_CONFIG_UNSET", "not set", NULL);
	fails("bad env name", "[web]\ntoken = env:1X\n", "t.ini:2: [web] token:",
	    NULL);
	fails("unreadable file", "[gitlab]\ntoken = file:/nonexistent/tok\n",
	    "t.ini:2: [gitlab] token: cannot read file:/nonexistent/tok: ",
	    strerror(ENOENT), NULL);
	fails("secret file is a directory", "[gitlab]\ntoken = file:/tmp\n",
	    "[gitlab] token: cannot read file:/tmp", NULL);
	setenv("TEST_CONFIG_EMPTY", "", 1);
	fails("empty env secret", "[web]\ntoken = env:TEST_CONFIG_EMPTY\n",
	    "t.ini:2: [web] token: expected a non-empty secret", NULL);
	fails("mask pasted back", "[web]\ntoken = <set, inline>\n",
	    "t.ini:2: [web] token: expected the secret", NULL);
	setenv("TEST_CONFIG_WHSEC", "whsec_dG9vLXNob3J0", 1);
	fails("whsec from env checked", "[gitlab]\nwebhook_signing_token = "
	    "env:TEST_CONFIG_WHSEC\n", "t.ini:2: [gitlab] webhook_signing_token:"
	    " expected whsec_", "from env:TEST_CONFIG_WHSEC", NULL);
	ok(strstr(err, "dG9vLXNob3J0") == NULL, "bad env secret not echoed");
	free(key);
	free(tok);
}

/* [agent] env never passes a secret's variable, nor a copy of its value. */
static void
test_agent_env_secrets(void)
{
	struct config *cfg;
	char *tok, *text;

	setenv("TEST_CONFIG_GH_TOKEN", "gh-token-canary-51a7", 1);
	fails("env passes the secret's variable", "[github]\n"
	    "token = env:TEST_CONFIG_GH_TOKEN\n[agent]\n"
	    "env = HOME, TEST_CONFIG_GH_TOKEN\n", "t.ini:4: [agent] env: "
	    "TEST_CONFIG_GH_TOKEN is where [github] token (line 2) is read "
	    "from", NULL);
	ok(strstr(err, "gh-token-canary-51a7") == NULL,
	    "the secret's value is not in the error");
	fails("env before the secret", "[agent]\nenv = TEST_CONFIG_GH_TOKEN\n"
	    "[web]\ntoken = env:TEST_CONFIG_GH_TOKEN\n", "t.ini:2: [agent] env:",
	    "[web] token (line 4)", NULL);

	/* The same value in another variable: a file secret, an inline one,
	 * and one inside a longer value. */
	tok = write_file("token", "file-token-canary-2c9e\n");
	setenv("TEST_CONFIG_COPY", "file-token-canary-2c9e", 1);
	text = xasprintf("[gitlab]\ntoken = file:%s\n[agent]\n"
	    "env = TEST_CONFIG_COPY\n", tok);
	fails("env holds a file secret's value", text, "t.ini:4: [agent] env: "
	    "TEST_CONFIG_COPY holds the value of [gitlab] token (line 2)", NULL);
	ok(strstr(err, "canary") == NULL, "the value is not in the error");
	free(text);
	setenv("TEST_CONFIG_COPY", "https://x:inline-secret-88d3@example.com", 1);
	fails("env holds an inline secret inside a URL", "[github]\n"
	    "webhook_secret = inline-secret-88d3\n[agent]\n"
	    "env = TEST_CONFIG_COPY\n", "[agent] env: TEST_CONFIG_COPY holds "
	    "the value of [github] webhook_secret", NULL);
	ok(strstr(err, "88d3") == NULL, "the value is not in the error");

	/* A short secret only matches whole; other variables pass. */
	setenv("TEST_CONFIG_COPY", "a value with abc inside", 1);
	cfg = load("[web]\ntoken = abc\n[agent]\nenv = TEST_CONFIG_COPY, "
	    "TEST_CONFIG_UNSET_TOO\n[github]\ntoken = env:TEST_CONFIG_GH_TOKEN\n");
	ok(cfg != NULL, "unrelated variables pass: %s", err);
	config_free(cfg);
	unsetenv("TEST_CONFIG_COPY");
	unsetenv("TEST_CONFIG_GH_TOKEN");
	free(tok);
}

/* What config_print writes loads again and prints the same. */
static void
test_round_trip(void)
{
	struct config *cfg = config_defaults(), *again;
	char *out = printed(cfg), *out2, *p, *path;

	path = write_file("printed.ini", out);
	again = config_load(path, err, sizeof(err));
	ok(again != NULL, "printed defaults load again: %s", err);
	if (again != NULL) {
		out2 = printed(again);
		p = strchr(out2, '\n');
		ok(p != NULL && strcmp(p, strchr(out, '\n')) == 0,
		    "and print the same");
		free(out2);
	}
	ok(strstr(out, "[runs]\n") && strstr(out, "max_ci_fixes = 2\n") &&
	    strstr(out, "coalesce = 10s\n") && strstr(out, "memory = 4G\n") &&
	    strstr(out, "timeout = 30m\n") && strstr(out, "bot_login =\n"),
	    "every key printed");
	config_free(again);
	config_free(cfg);
	free(out);
	free(path);
}

static void
test_example(void)
{
	const char *srcdir = getenv("SRCDIR");
	struct config *cfg;
	char *path;

	if (srcdir == NULL || *srcdir == '\0') {
		ok(0, "SRCDIR is set (to find config.example.ini)");
		return;
	}
	path = xasprintf("%s/config.example.ini", srcdir);
	cfg = config_load(path, err, sizeof(err));
	ok(cfg != NULL, "config.example.ini loads: %s", err);
	free(path);
	config_free(cfg);
}

static void
test_default_path(void)
{
	unsetenv("HANDOFF_CONFIG");
	is_str(config_default_path(NULL), "handoff.ini", "default path");
	is_str(config_default_path("x.ini"), "x.ini", "explicit path");
	setenv("HANDOFF_CONFIG", "", 1);
	is_str(config_default_path(NULL), "handoff.ini", "empty env ignored");
	setenv("HANDOFF_CONFIG", "/etc/handoff.ini", 1);
	is_str(config_default_path(NULL), "/etc/handoff.ini", "env path");
	is_str(config_default_path("x.ini"), "x.ini", "explicit beats env");
	unsetenv("HANDOFF_CONFIG");
}

static void
test_nul(void)
{
	char *path = xasprintf("%s/nul.ini", dir);
	FILE *f = fopen(path, "w");
	struct config *cfg;

	fwrite("[server]\n\0x\n", 1, 12, f);
	fclose(f);
	cfg = config_load(path, err, sizeof(err));
	ok(cfg == NULL && strstr(err, "nul.ini: expected a text file"),
	    "NUL byte: %s", err);
	free(path);
}

/* [setup]: its defaults, its lists, and secrets kept from set-up too. */
static void
test_setup(void)
{
	struct config *cfg;

	cfg = load("[agent]\ncommand = x\n");
	ok(cfg && cfg->setup_network == NET_NONE && !cfg->setup_from_repo &&
	    cfg->setup_timeout_ms == 20 * 60 * 1000 &&
	    cfg->setup_cache_bytes == 20ULL << 30 &&
	    cfg->setup_key_files.n == 11 &&
	    !strcmp(cfg->setup_key_files.v[3], "requirements*.txt"),
	    "[setup] defaults");
	config_free(cfg);
	cfg = load("[setup]\ncommand = npm ci\nfrom_repo = true\n"
	    "network = allowlist\nallow_hosts = registry.npmjs.org\n"
	    "env = NPM_TOKEN\ntimeout = 5m\nkey_files = package-lock.json, "
	    "web/yarn.lock\ncache_size = 2G\n");
	ok(cfg && !strcmp(cfg->setup_command, "npm ci") &&
	    cfg->setup_from_repo && cfg->setup_network == NET_ALLOWLIST &&
	    cfg->setup_allow_hosts.n == 1 && cfg->setup_env.n == 1 &&
	    cfg->setup_timeout_ms == 300000 && cfg->setup_key_files.n == 2 &&
	    !strcmp(cfg->setup_key_files.v[1], "web/yarn.lock") &&
	    cfg->setup_cache_bytes == 2ULL << 30, "[setup] keys");
	config_free(cfg);
	fails("a key file above the top", "[setup]\nkey_files = ../x.lock\n",
	    "t.ini:2: [setup] key_files: expected a comma-separated list of "
	    "file names or paths", NULL);
	fails("an absolute key file", "[setup]\nkey_files = /etc/passwd\n",
	    "t.ini:2: [setup] key_files:", NULL);
	fails("a key file through .", "[setup]\nkey_files = a/./b\n",
	    "t.ini:2: [setup] key_files:", NULL);
	fails("set-up's hosts", "[setup]\nallow_hosts = http://x\n",
	    "t.ini:2: [setup] allow_hosts:", NULL);
	setenv("TEST_CONFIG_GH_TOKEN", "gh-token-canary-51a7", 1);
	fails("set-up env passes a secret's variable", "[github]\n"
	    "token = env:TEST_CONFIG_GH_TOKEN\n[setup]\n"
	    "env = TEST_CONFIG_GH_TOKEN\n", "t.ini:4: [setup] env: "
	    "TEST_CONFIG_GH_TOKEN is where [github] token (line 2) is read "
	    "from; a secret must never reach the sandbox", NULL);
	ok(strstr(err, "canary") == NULL, "the value is not in the error");
}

int
main(void)
{
	char *path;
	size_t i;

	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_defaults();
	test_every_key();
	test_values();
	test_errors();
	test_whsec();
	test_secrets();
	test_agent_env_secrets();
	test_setup();
	test_round_trip();
	test_example();
	test_default_path();
	test_nul();
	for (i = 0; i < nitems(files); i++) {
		path = xasprintf("%s/%s", dir, files[i]);
		unlink(path);
		free(path);
	}
	if (rmdir(dir) == -1)
		printf("# cannot remove %s: %s\n", dir, strerror(errno));
	return done_testing();
}
