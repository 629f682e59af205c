/*
 * [repo "PATTERN"] sections (config_repo.c): what they may set, their
 * file:line errors, which section wins for a repository, the checks that
 * hold in them too, and printing them back.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"
#include "tap.h"
#define CONFIG_TEST_DIR "/tmp/handoff-test-repo-config.XXXXXX"
#include "config_test.h"

/* Load text and make it repo's settings; NULL (with err) when it fails. */
static struct config *
load_for(const char *text, const char *repo)
{
	struct config *cfg = load(text);

	if (cfg != NULL)
		config_apply_repo(cfg, repo);
	return cfg;
}

/* cfg's agent command for repo, both ways of asking agreeing: "" unset,
 * "(differs)" when they do not. */
static const char *
command_for(const char *text, const char *repo)
{
	static char buf[256];
	struct config *cfg = load(text), *applied = load(text);
	const char *looked, *got;

	if (cfg == NULL || applied == NULL) {
		config_free(cfg);
		config_free(applied);
		return err;
	}
	config_apply_repo(applied, repo);
	looked = CONFIG_REPO(cfg, repo, char *, agent_command);
	got = applied->agent_command;
	snprintf(buf, sizeof(buf), "%s", (looked == NULL) != (got == NULL) ||
	    (got != NULL && strcmp(looked, got) != 0) ? "(differs)" :
	    got == NULL ? "" : got);
	config_free(cfg);
	config_free(applied);
	return buf;
}

static void
test_parse(void)
{
	const char *text = "[agent]\ncommand = global\ntimeout = 30m\n"
	    "env = HOME\n[runs]\nmax_per_repo = 2\n"
	    "[repo \"acme/web\"]\nagent.command = web-agent\n"
	    "agent.timeout = 5m\nagent.env = LANG, TERM\n"
	    "sandbox.network = allowlist\n"
	    "sandbox.allow_hosts = registry.npmjs.org, *.example.com\n"
	    "sandbox.memory = 8G\nsetup.command = npm ci\n"
	    "setup.from_repo = yes\nruns.draft = false\n"
	    "runs.branch_prefix = bot/\nruns.max_per_repo = 3\n"
	    "runs.protected_paths = ci/**\nllm.max_tokens = 1000\n"
	    "llm.max_cost = 2.50\nllm.max_cost_per_repo = 10\n";
	struct config *cfg;

	cfg = load(text);
	ok(cfg != NULL && config_has_repos(cfg), "a [repo] section loads: %s",
	    err);
	ok(cfg && !strcmp(cfg->agent_command, "global") &&
	    cfg->agent_timeout_ms == 30 * 60000 && cfg->draft &&
	    cfg->max_per_repo == 2, "its keys leave the global ones alone");
	ok(cfg && CONFIG_REPO(cfg, "acme/web", int, max_per_repo) == 3 &&
	    CONFIG_REPO(cfg, "acme/api", int, max_per_repo) == 2 &&
	    CONFIG_REPO(cfg, NULL, int, max_per_repo) == 2,
	    "CONFIG_REPO: the section's value for its repository only");
	config_free(cfg);

	cfg = load_for(text, "acme/web");
	ok(cfg && !config_has_repos(cfg), "applied: the sections are gone");
	ok(cfg && !strcmp(cfg->agent_command, "web-agent") &&
	    cfg->agent_timeout_ms == 5 * 60000 && cfg->agent_env.n == 2 &&
	    !strcmp(cfg->agent_env.v[1], "TERM") &&
	    cfg->network == NET_ALLOWLIST && cfg->allow_hosts.n == 2 &&
	    cfg->memory_bytes == 8ULL << 30 &&
	    !strcmp(cfg->setup_command, "npm ci") && cfg->setup_from_repo &&
	    !cfg->draft && !strcmp(cfg->branch_prefix, "bot/") &&
	    cfg->max_per_repo == 3 && cfg->protected_paths.n == 1 &&
	    cfg->max_tokens == 1000 && cfg->max_cost == 2500000 &&
	    cfg->max_cost_per_repo == 10000000,
	    "applied to acme/web: every kind of key takes the section's value");
	ok(cfg && cfg->pids == 512 && cfg->max_parallel == 2 &&
	    cfg->max_log_bytes == 10ULL << 20,
	    "keys the section does not set keep the global value");
	config_free(cfg);

	cfg = load_for(text, "acme/api");
	ok(cfg && !strcmp(cfg->agent_command, "global") &&
	    cfg->agent_env.n == 1 && cfg->network == NET_NONE && cfg->draft &&
	    cfg->max_cost == 0, "another repository keeps the global values");
	config_free(cfg);
	cfg = load_for(text, NULL);
	ok(cfg && !strcmp(cfg->agent_command, "global"),
	    "no repository: the global values");
	config_free(cfg);

	is_str(command_for("[agent]\ncommand = g\n[repo \"Acme/Web\"]\n"
	    "agent.command = w\n", "ACME/web"), "w",
	    "names compare without case");
	is_str(command_for("[agent]\ncommand = g\n[repo \"acme/web\"]\n"
	    "agent.command = w\n", "acme/web2"), "g",
	    "an exact name matches only itself");
	is_str(command_for("[repo \"acme/web\"]\nagent.command = w\n",
	    "acme/web/x"), "", "nor a path below it");
	fails("blanks inside the quotes are not a name",
	    "[repo \"  acme/web  \"]\nagent.command = w\n",
	    "t.ini:1: [repo \"  acme/web  \"]: expected [repo \"PATTERN\"], "
	    "PATTERN a repository (owner/name, group/sub/project) or a "
	    "pattern (owner/*, group/**; '*' and '?' within a part)", NULL);
	is_str(command_for("[ repo   \"acme/web\" ]\nagent.command = w\n",
	    "acme/web"), "w", "blanks around the words are");
	/* A section without keys changes nothing and is still checked. */
	is_str(command_for("[agent]\ncommand = g\n[repo \"acme/web\"]\n",
	    "acme/web"), "g", "a section without keys");
	/* Its empty value unsets an optional string for its repositories. */
	is_str(command_for("[agent]\ncommand = g\n[repo \"acme/*\"]\n"
	    "agent.command =\n", "acme/web"), "",
	    "an empty value unsets an optional key");
}

/* GitLab paths: nested groups under a trailing "**", exact nested names. */
static void
test_gitlab(void)
{
	const char *text = "[agent]\ncommand = g\n"
	    "[repo \"mygroup/**\"]\nagent.command = group\n"
	    "[repo \"mygroup/sub/*\"]\nagent.command = sub\n"
	    "[repo \"mygroup/sub/project\"]\nagent.command = project\n";

	is_str(command_for(text, "mygroup/project"), "group",
	    "mygroup/** matches a project of the group");
	is_str(command_for(text, "mygroup/a/b/c"), "group",
	    "and of its subgroups, however deep");
	is_str(command_for(text, "mygroup/sub/other"), "sub",
	    "mygroup/sub/* is more specific than mygroup/**");
	is_str(command_for(text, "MyGroup/Sub/Project"), "project",
	    "the exact nested name wins");
	is_str(command_for(text, "mygroupx/project"), "g",
	    "another group: the global value");
	is_str(command_for(text, "mygroup"), "g",
	    "the group itself is no project of it");
}

/* Per key: an exact name beats any glob, more literal characters beat
 * fewer, a tie goes to the later section. */
static void
test_specificity(void)
{
	struct config *cfg;

	is_str(command_for("[repo \"acme/web\"]\nagent.command = exact\n"
	    "[repo \"acme/we?\"]\nagent.command = glob\n", "acme/web"),
	    "exact", "an exact name beats a later glob");
	is_str(command_for("[repo \"acme/we?\"]\nagent.command = glob\n"
	    "[repo \"acme/web\"]\nagent.command = exact\n", "acme/web"),
	    "exact", "and an earlier one");
	is_str(command_for("[repo \"acme/we*\"]\nagent.command = more\n"
	    "[repo \"acme/*\"]\nagent.command = fewer\n", "acme/web"),
	    "more", "more literal characters beat fewer, in either order");
	is_str(command_for("[repo \"acme/*\"]\nagent.command = fewer\n"
	    "[repo \"acme/we*\"]\nagent.command = more\n", "acme/web"),
	    "more", "(the other order)");
	is_str(command_for("[repo \"*/web\"]\nagent.command = one\n"
	    "[repo \"a?me/*\"]\nagent.command = two\n", "acme/web"),
	    "two", "a tie (4 literal characters each) goes to the later");
	is_str(command_for("[repo \"a?me/*\"]\nagent.command = two\n"
	    "[repo \"*/web\"]\nagent.command = one\n", "acme/web"),
	    "one", "(the other order)");
	is_str(command_for("[repo \"acme/**\"]\nagent.command = deep\n"
	    "[repo \"acme/*/**\"]\nagent.command = deeper\n", "acme/a/b"),
	    "deeper", "acme/*/** beats acme/**");

	/* Per key: the exact section sets the command, the glob the
	 * timeout; each key comes from the most specific that sets it. */
	cfg = load_for("[repo \"acme/*\"]\nagent.command = glob\n"
	    "agent.timeout = 7m\n[repo \"acme/web\"]\n"
	    "agent.command = exact\n", "acme/web");
	ok(cfg && !strcmp(cfg->agent_command, "exact") &&
	    cfg->agent_timeout_ms == 7 * 60000,
	    "each key from the most specific section that sets it");
	config_free(cfg);
}

static void
test_errors(void)
{
	const char *allowed = "a [repo] section sets agent.*, sandbox.*, "
	    "setup.* (but cache_size), runs.* (but max_parallel), "
	    "llm.max_tokens, llm.max_cost, llm.max_cost_per_repo";

	fails("an unqualified key", "[agent]\ncommand = x\n"
	    "[repo \"acme/web\"]\ncommand = y\n", "t.ini:4: [repo \"acme/web\"]"
	    " command: expected SECTION.KEY, such as agent.timeout;", allowed,
	    NULL);
	fails("an unknown key", "[repo \"acme/web\"]\nagent.comand = y\n",
	    "t.ini:2: [repo \"acme/web\"] agent.comand: unknown key;", allowed,
	    NULL);
	fails("an unknown section", "[repo \"acme/web\"]\nagnet.command = y\n",
	    "t.ini:2: [repo \"acme/web\"] agnet.command: unknown key;", NULL);
	fails("runs.max_parallel", "[repo \"acme/web\"]\n"
	    "runs.max_parallel = 9\n",
	    "t.ini:2: [repo \"acme/web\"] runs.max_parallel: one value for "
	    "every repository, set in its own section only;", allowed, NULL);
	fails("llm.max_cost_per_day", "[repo \"acme/*\"]\n"
	    "llm.max_cost_per_day = 100\n", "t.ini:2: [repo \"acme/*\"] "
	    "llm.max_cost_per_day: one value for every repository", NULL);
	fails("llm.anthropic_key", "[repo \"acme/*\"]\n"
	    "llm.anthropic_key = sk-ant-canary\n", "t.ini:2: [repo \"acme/*\"] "
	    "llm.anthropic_key: one value for every repository", NULL);
	fails("llm.prices", "[repo \"acme/*\"]\nllm.prices = m=1/2\n",
	    "llm.prices: one value for every repository", NULL);
	fails("setup.cache_size", "[repo \"acme/*\"]\nsetup.cache_size = 1G\n",
	    "t.ini:2: [repo \"acme/*\"] setup.cache_size: one value", NULL);
	fails("a [github] key", "[repo \"acme/*\"]\ngithub.token = x\n",
	    "github.token: one value for every repository", NULL);
	fails("a [trigger] key", "[repo \"acme/*\"]\ntrigger.label = x\n",
	    "trigger.label: one value for every repository", NULL);
	fails("a [server] key", "[repo \"acme/*\"]\nserver.data_dir = /x\n",
	    "server.data_dir: one value for every repository", NULL);

	fails("a pattern with ** inside", "[repo \"acme/**/x\"]\n",
	    "t.ini:1: [repo \"acme/**/x\"]: expected [repo \"PATTERN\"]", NULL);
	fails("one part", "[repo \"acme\"]\nagent.command = x\n",
	    "t.ini:1: [repo \"acme\"]: expected [repo \"PATTERN\"]", NULL);
	fails("no quotes", "[repo acme/web]\nagent.command = x\n",
	    "t.ini:1: [repo acme/web]: expected [repo \"PATTERN\"]", NULL);
	fails("no pattern", "[repo]\nagent.command = x\n",
	    "t.ini:1: [repo]: expected [repo \"PATTERN\"]", NULL);
	fails("text after the quotes", "[repo \"acme/web\" x]\n",
	    "t.ini:1: [repo \"acme/web\" x]: expected", NULL);
	fails("a '/' at the end", "[repo \"acme/\"]\n",
	    "t.ini:1: [repo \"acme/\"]: expected", NULL);
	fails("the same pattern twice", "[repo \"acme/web\"]\n"
	    "agent.command = x\n[agent]\ntimeout = 1m\n[repo \"ACME/Web\"]\n"
	    "agent.timeout = 5m\n", "t.ini:5: [repo \"ACME/Web\"]: the same "
	    "pattern as the section on line 1", NULL);
	fails("a key twice in a section", "[repo \"acme/web\"]\n"
	    "agent.timeout = 5m\nagent.timeout = 6m\n", "t.ini:3: [repo "
	    "\"acme/web\"] agent.timeout: set twice (first on line 2)", NULL);
	fails("a bad duration", "[agent]\ntimeout = 5m\n[repo \"acme/web\"]\n"
	    "\nagent.timeout = 5 minutes\n", "t.ini:5: [repo \"acme/web\"] "
	    "agent.timeout: expected a duration such as 30s, 5m or 2h (more "
	    "than 0), got \"5 minutes\"", NULL);
	fails("a zero timeout", "[repo \"acme/web\"]\nagent.timeout = 0\n",
	    "t.ini:2: [repo \"acme/web\"] agent.timeout: expected a duration",
	    NULL);
	fails("a bad network", "[repo \"acme/web\"]\nsandbox.network = all\n",
	    "t.ini:2: [repo \"acme/web\"] sandbox.network: expected one of "
	    "none, allowlist, host, got \"all\"", NULL);
	fails("a bad host", "[repo \"acme/web\"]\n"
	    "sandbox.allow_hosts = http://x\n", "t.ini:2: [repo \"acme/web\"] "
	    "sandbox.allow_hosts: expected a comma-separated list of hosts",
	    NULL);
	fails("a bad branch prefix", "[repo \"acme/web\"]\n"
	    "runs.branch_prefix = a..b/\n", "t.ini:2: [repo \"acme/web\"] "
	    "runs.branch_prefix: expected a git branch name prefix", NULL);
	fails("a bad amount", "[repo \"acme/web\"]\nllm.max_cost = -1\n",
	    "t.ini:2: [repo \"acme/web\"] llm.max_cost: expected an amount",
	    NULL);
	fails("an empty required value", "[repo \"acme/web\"]\n"
	    "runs.branch_prefix =\n", "t.ini:2: [repo \"acme/web\"] "
	    "runs.branch_prefix: expected", NULL);
	fails("a key before any section line", "agent.command = x\n",
	    "t.ini:1: agent.command: expected a [section] line", NULL);
	fails("an error in a later section still names its line",
	    "[repo \"a/b\"]\nagent.command = x\n[repo \"a/c\"]\n"
	    "runs.max_changed_files = lots\n", "t.ini:4: [repo \"a/c\"] "
	    "runs.max_changed_files: expected an integer", NULL);
}

/* A [repo] section is no way around the checks of the key's own section:
 * secrets stay out of the sandbox, a root tree must be safe. */
static void
test_checks_hold(void)
{
	static const char *const canary[] = { "repo-canary-0b77", NULL };
	char *tree, *usr;
	struct config *cfg;

	config_secrets = canary;
	setenv("TEST_REPO_GH_TOKEN", "repo-canary-0b77", 1);
	setenv("TEST_REPO_COPY", "Bearer repo-canary-0b77", 1);
	fails("agent.env naming a secret's variable", "[github]\n"
	    "token = env:TEST_REPO_GH_TOKEN\n[agent]\nenv = HOME\n"
	    "[repo \"acme/*\"]\nagent.env = HOME, TEST_REPO_GH_TOKEN\n",
	    "t.ini:6: [repo \"acme/*\"] agent.env: TEST_REPO_GH_TOKEN is where "
	    "[github] token (line 2) is read from; a secret must never reach "
	    "the sandbox", NULL);
	fails("agent.env naming a variable holding a secret", "[github]\n"
	    "token = env:TEST_REPO_GH_TOKEN\n[repo \"acme/web\"]\n"
	    "agent.env = TEST_REPO_COPY\n", "t.ini:4: [repo \"acme/web\"] "
	    "agent.env: TEST_REPO_COPY holds the value of [github] token "
	    "(line 2)", NULL);
	fails("setup.env naming a secret's variable", "[repo \"acme/web\"]\n"
	    "setup.env = TEST_REPO_GH_TOKEN\n[github]\n"
	    "token = env:TEST_REPO_GH_TOKEN\n", "t.ini:2: [repo \"acme/web\"] "
	    "setup.env: TEST_REPO_GH_TOKEN is where [github] token (line 4)",
	    NULL);
	fails("agent.env setting the gateway's variables",
	    "[llm]\nanthropic_key = sk-ant-x\n[repo \"acme/web\"]\n"
	    "agent.env = ANTHROPIC_API_KEY\n", "t.ini:4: [repo \"acme/web\"] "
	    "agent.env: ANTHROPIC_API_KEY is set by handoff for the [llm] "
	    "gateway", NULL);
	cfg = load("[github]\ntoken = env:TEST_REPO_GH_TOKEN\n"
	    "[repo \"acme/web\"]\nagent.env = HOME, LANG\n");
	ok(cfg != NULL, "an env list without secrets loads: %s", err);
	config_free(cfg);
	config_secrets = NULL;
	unsetenv("TEST_REPO_GH_TOKEN");
	unsetenv("TEST_REPO_COPY");

	/* sandbox.root: a tree others may write is refused in a section
	 * as in [sandbox]; a safe one is taken. */
	tree = xasprintf("%s/tree", dir);
	usr = xasprintf("%s/usr", tree);
	if (mkdir(tree, 0755) == -1 || mkdir(usr, 0755) == -1)
		printf("Bail out! mkdir %s: %s\n", usr, strerror(errno));
	chmod(tree, 0777);
	{
		char *text = xasprintf("[repo \"acme/web\"]\n"
		    "sandbox.root = %s\n", tree);

		fails("sandbox.root a tree others may write", text,
		    "t.ini:2: [repo \"acme/web\"] sandbox.root: expected the "
		    "path of a directory", NULL);
		chmod(tree, 0755);
		cfg = load_for(text, "acme/web");
		ok(cfg && cfg->sandbox_root && !strcmp(cfg->sandbox_root, tree),
		    "a safe tree is taken: %s", err);
		config_free(cfg);
		free(text);
	}
	/* A relative path is the config file's directory's, as in [sandbox]. */
	cfg = load_for("[repo \"acme/web\"]\nsandbox.root = tree\n",
	    "acme/web");
	ok(cfg && cfg->sandbox_root && !strcmp(cfg->sandbox_root, tree),
	    "sandbox.root relative: the config's directory's: %s", err);
	config_free(cfg);
	fails("sandbox.root a relative path to nothing", "[repo \"acme/web\"]\n"
	    "sandbox.root = no-tree\n", "t.ini:2: [repo \"acme/web\"] "
	    "sandbox.root: expected", "no-tree", NULL);
	rmdir(usr);
	rmdir(tree);
	free(usr);
	free(tree);
}

/* What config_print writes, sections included, loads again and prints
 * the same; check-config --repo's print shows the repository's values. */
static void
test_print(void)
{
	struct config *cfg, *again;
	char *out, *out2 = NULL, *path, *buf = NULL;
	size_t len = 0;
	FILE *f;

	cfg = load("[agent]\ncommand = g\n[repo \"acme/*\"]\n"
	    "agent.timeout = 90s\nsandbox.allow_hosts = a.example, "
	    "*.b.example\nllm.max_cost = 0.25\nruns.draft = off\n"
	    "[repo \"mygroup/**\"]\nagent.command = deep\n"
	    "[repo \"acme/web\"]\n");
	out = cfg ? printed(cfg) : xstrdup("");
	ok(strstr(out, "\n[repo \"acme/*\"]\nagent.timeout = 90s\n"
	    "sandbox.allow_hosts = a.example, *.b.example\n"
	    "llm.max_cost = 0.25\nruns.draft = false\n\n"
	    "[repo \"mygroup/**\"]\nagent.command = deep\n\n"
	    "[repo \"acme/web\"]\n") != NULL,
	    "the sections are printed after the rest, in the file's order");
	path = write_file("printed.ini", out);
	again = config_load(path, err, sizeof(err));
	ok(again != NULL, "and load again: %s", err);
	if (again != NULL)
		out2 = printed(again);
	ok(out2 && strcmp(strchr(out2, '\n'), strchr(out, '\n')) == 0,
	    "and print the same");

	f = open_memstream(&buf, &len);
	if (cfg != NULL)
		config_print_repo(cfg, "Acme/Web", f);
	fclose(f);
	ok(strstr(buf, "for Acme/Web, secrets masked\n"
	    "# [repo \"acme/*\"] (line 3) matches\n"
	    "# [repo \"acme/web\"] (line 10) matches\n") != NULL,
	    "--repo: the sections that match");
	ok(strstr(buf, "[agent]\ncommand = g\ntimeout = 90s\n") &&
	    strstr(buf, "max_cost = 0.25\n") && strstr(buf, "draft = false\n")
	    && !strstr(buf, "\n[repo") && !strstr(buf, "agent.timeout"),
	    "--repo: the repository's values under their own sections");
	free(buf);
	config_free(again);
	config_free(cfg);
	free(out);
	free(out2);
	free(path);
}

int
main(void)
{
	static const char *const files[] = { "t.ini", "printed.ini" };
	char *path;
	size_t i;

	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_parse();
	test_gitlab();
	test_specificity();
	test_errors();
	test_checks_hold();
	test_print();
	for (i = 0; i < nitems(files); i++) {
		path = xasprintf("%s/%s", dir, files[i]);
		unlink(path);
		free(path);
	}
	if (rmdir(dir) == -1)
		printf("# cannot remove %s: %s\n", dir, strerror(errno));
	return done_testing();
}
