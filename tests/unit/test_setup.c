/*
 * setup.c: the set-up script runs each command in order, quoted as
 * given, and stops at the first failure with its status; key_files
 * patterns; the layer's key follows the lockfiles' contents and the
 * commands, not the commit, nor comments in devcontainer.json.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include "config.h"
#include "setup.h"
#include "util.h"
#include "tap.h"

static char dir[] = "/tmp/handoff-test-setup.XXXXXX";

static struct devc *
parse(const char *text)
{
	char err[256];
	struct devc *d = devc_parse("devcontainer.json", text, strlen(text),
	    err, sizeof(err));

	if (d == NULL) {
		printf("Bail out! devc_parse: %s\n", err);
		exit(1);
	}
	return d;
}

/* Run script with /bin/sh in dir; its exit status. */
static int
run_script(const char *script)
{
	char *path = xasprintf("%s/setup.sh", dir), *cmd;
	int status;

	util_write_file(path, script, strlen(script), 0644);
	cmd = xasprintf("cd %s && /bin/sh setup.sh > out.txt 2>&1", dir);
	status = system(cmd);
	free(cmd);
	free(path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *
out_text(void)
{
	char *path = xasprintf("%s/out.txt", dir);
	char *text = util_read_file(path, 65536, NULL);

	free(path);
	return text ? text : xstrdup("");
}

static void
test_script(void)
{
	struct setup_plan p = { 0 };
	struct devc *d;
	char *s, *out;

	p.command = "echo 'it'\"'\"'s' $((1 + 2))";
	ok(setup_has_commands(&p, false), "a command runs");
	ok(!setup_has_commands(&p, true), "a command has no update of its own");
	ok(setup_script(&p, true) == NULL, "no update script for a command");
	s = setup_script(&p, false);
	is_int(run_script(s), 0, "the command's script succeeds");
	out = out_text();
	is_str(out, "set-up: [setup] command\nit's 3\n",
	    "announced by its key, run by the shell as written");
	free(out);
	free(s);

	d = parse("{ // each form\n"
	    "\"onCreateCommand\": \"echo one; echo \\\"two words\\\"\",\n"
	    "\"updateContentCommand\": [\"printf\", \"%s|\", \"a b\", \"it's\","
	    " \"$HOME\"],\n"
	    "\"postCreateCommand\": { \"x\": \"echo x\", \"fails\": [\"sh\","
	    " \"-c\", \"exit 7\"], \"never\": \"echo never\" },\n}\n");
	p.devc = d;
	ok(setup_has_commands(&p, true), "devcontainer.json has an update");
	s = setup_script(&p, false);
	is_int(run_script(s), 7, "the first failure's status ends the script");
	out = out_text();
	is_str(out, "set-up: onCreateCommand\none\ntwo words\n"
	    "set-up: updateContentCommand\na b|it's|$HOME|"
	    "set-up: postCreateCommand (x)\nx\n"
	    "set-up: postCreateCommand (fails)\n",
	    "in order; array words reach the program as they are; nothing"
	    " after the failure");
	free(out);
	free(s);
	s = setup_script(&p, true);
	is_int(run_script(s), 0, "the update alone succeeds");
	out = out_text();
	is_str(out, "set-up: updateContentCommand\na b|it's|$HOME|",
	    "the update script runs updateContentCommand alone");
	free(out);
	free(s);
	devc_free(d);
	p.devc = parse("{ \"name\": \"no commands\" }");
	ok(!setup_has_commands(&p, false), "a file without commands runs"
	    " nothing");
	devc_free(p.devc);
}

static void
test_match(void)
{
	ok(setup_key_file_match("package-lock.json", "package-lock.json"),
	    "a name at the top");
	ok(setup_key_file_match("package-lock.json", "web/app/package-lock.json"),
	    "a name anywhere");
	ok(setup_key_file_match("requirements*.txt", "requirements-dev.txt"),
	    "'*' within the name");
	ok(!setup_key_file_match("requirements*.txt", "requirements/base.txt"),
	    "'*' stays within a part");
	ok(setup_key_file_match("web/yarn.lock", "web/yarn.lock"), "a path");
	ok(!setup_key_file_match("web/yarn.lock", "api/web/yarn.lock"),
	    "a path only from the top");
	ok(!setup_key_file_match("go.sum", "go.sum.bak"), "the whole name");
}

/* git in the test's repository. */
static void
git(const char *args)
{
	char *cmd = xasprintf("git -C %s/repo -c user.name=t -c user.email=t@t "
	    "%s >/dev/null 2>&1", dir, args);

	if (system(cmd) != 0) {
		printf("Bail out! %s failed\n", cmd);
		exit(1);
	}
	free(cmd);
}

static void
put(const char *name, const char *text)
{
	char *path = xasprintf("%s/repo/%s", dir, name);

	util_write_file(path, text, strlen(text), 0644);
	free(path);
}

/* The key of HEAD under plan and cfg, the repository at url. */
static const char *url = "https://example.com/acme/web.git";

static char *
key_of(const struct setup_plan *p, const struct config *cfg)
{
	char key[SETUP_KEY_LEN + 1], err[256], head[GIT_OID_HEXSZ + 1];
	char *path = xasprintf("%s/repo", dir);
	git_repository *repo;
	git_oid oid;

	if (git_repository_open(&repo, path) < 0 ||
	    git_reference_name_to_id(&oid, repo, "HEAD") < 0) {
		printf("Bail out! open %s\n", path);
		exit(1);
	}
	git_oid_tostr(head, sizeof(head), &oid);
	if (setup_key(p, cfg, url, repo, head, key, err, sizeof(err)) == -1) {
		printf("Bail out! setup_key: %s\n", err);
		exit(1);
	}
	git_repository_free(repo);
	free(path);
	return xstrdup(key);
}

static void
test_key(void)
{
	struct config *cfg = config_defaults();
	struct setup_plan p = { .command = "npm ci" };
	char *k1, *k2, *k3, *k4, *k5, *path;

	path = xasprintf("%s/repo/web", dir);
	util_mkdirs(path, 0755);
	free(path);
	git("init -q -b main");
	put("README", "one\n");
	put("package-lock.json", "{\"v\": 1}\n");
	put("web/yarn.lock", "a@1\n");
	git("add -A");
	git("commit -q -m one");
	k1 = key_of(&p, cfg);
	is_int((int)strlen(k1), SETUP_KEY_LEN, "64 hex digits");
	put("README", "two\n");
	git("commit -q -am two");
	k2 = key_of(&p, cfg);
	is_str(k2, k1, "another commit with the same lockfiles: the same key");
	put("web/yarn.lock", "a@2\n");
	git("commit -q -am three");
	k3 = key_of(&p, cfg);
	ok(strcmp(k3, k2) != 0, "a lockfile below the top changed: a new key");
	p.command = "npm install";
	k4 = key_of(&p, cfg);
	ok(strcmp(k4, k3) != 0, "another command: a new key");
	p.command = NULL;
	p.devc = parse("{\"onCreateCommand\": \"npm ci\"}");
	k5 = key_of(&p, cfg);
	devc_free(p.devc);
	p.devc = parse("// a comment\n{ \"onCreateCommand\" :  \"npm ci\", }");
	free(k4);
	k4 = key_of(&p, cfg);
	is_str(k4, k5, "comments and formatting of devcontainer.json do not"
	    " count");
	devc_free(p.devc);
	p.devc = NULL;
	p.command = "npm ci";
	free(k4);
	k4 = key_of(&p, cfg);
	is_str(k4, k3, "the same command again: the same key");
	url = "https://example.com/mallory/web.git";
	free(k4);
	k4 = key_of(&p, cfg);
	ok(strcmp(k4, k3) != 0, "another repository with the same commands and"
	    " lockfiles: its own key");
	config_free(cfg);
	free(k1);
	free(k2);
	free(k3);
	free(k4);
	free(k5);
}

int
main(void)
{
	char *cmd;

	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	git_libgit2_init();
	test_script();
	test_match();
	test_key();
	git_libgit2_shutdown();
	cmd = xasprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", dir);
	free(cmd);
	return done_testing();
}
