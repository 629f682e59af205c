/*
 * devcontainer.c: real devcontainer.json files from public repositories;
 * each form of each lifecycle key and their order; comments and trailing
 * commas, and strings that look like them; every bound and every malformed
 * file; the cache-key text; finding the file in a repository.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devcontainer.h"
#include "util.h"
#include "tap.h"

static const char *srcdir;

/* The commands of tests/unit/devcontainer/NAME; stops when unreadable. */
static struct devc *
fixture(const char *name)
{
	char *path, *buf, err[256];
	struct devc *d;
	size_t len;

	path = xasprintf("%s/tests/unit/devcontainer/%s", srcdir, name);
	if ((buf = util_read_file(path, 1 << 20, &len)) == NULL) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	d = devc_parse(name, buf, len, err, sizeof(err));
	ok(d != NULL, "%s parses%s%s", name, d ? "" : ": ", d ? "" : err);
	free(buf);
	free(path);
	return d;
}

static struct devc *
parse(const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return devc_parse("dc.json", text, strlen(text), err, errlen);
}

/* text fails to parse with an error naming the file and holding want. */
static void
refused(const char *text, const char *want, const char *what)
{
	char err[512];
	struct devc *d;

	d = parse(text, err, sizeof(err));
	ok(d == NULL && strncmp(err, "dc.json: ", 9) == 0 &&
	    strstr(err, want) != NULL, "%s is refused (%s)", what, err);
	devc_free(d);
}

static void
is_shell(const struct devc *d, size_t i, enum devc_stage stage,
    const char *name, const char *shell)
{
	const struct devc_cmd *c = &d->cmds[i];

	ok(i < d->ncmds && c->stage == stage && c->argv == NULL &&
	    ((name == NULL && c->name == NULL) || (name != NULL &&
	    c->name != NULL && strcmp(name, c->name) == 0)) &&
	    c->shell != NULL && strcmp(c->shell, shell) == 0,
	    "command %zu: %s %s: sh -c \"%s\"", i, devc_stage_name(stage),
	    name ? name : "-", shell);
}

static void
is_argv(const struct devc *d, size_t i, enum devc_stage stage,
    const char *name, const char *words)
{
	const struct devc_cmd *c = &d->cmds[i];
	char joined[1024] = "";
	size_t w, n = 0;

	for (w = 0; i < d->ncmds && c->argv != NULL && w < c->argc &&
	    n < sizeof(joined); w++)
		n += (size_t)snprintf(joined + n, sizeof(joined) - n, "%s%s",
		    w > 0 ? "|" : "", c->argv[w]);
	ok(i < d->ncmds && c->stage == stage && c->shell == NULL &&
	    c->argv != NULL && c->argv[c->argc] == NULL &&
	    ((name == NULL && c->name == NULL) || (name != NULL &&
	    c->name != NULL && strcmp(name, c->name) == 0)) &&
	    strcmp(joined, words) == 0,
	    "command %zu: %s %s: argv %s (got %s)", i, devc_stage_name(stage),
	    name ? name : "-", words, joined);
}

static void
test_real_files(void)
{
	struct devc *d;

	d = fixture("try-node.json");
	if (d != NULL) {
		is_int(d->ncmds, 1, "try-node: one command");
		is_shell(d, 0, DEVC_POST_CREATE, NULL, "npm install");
	}
	devc_free(d);

	d = fixture("try-python.json");
	if (d != NULL) {
		is_int(d->ncmds, 1, "try-python: one command");
		is_shell(d, 0, DEVC_POST_CREATE, NULL,
		    "pip3 install -r requirements.txt");
	}
	devc_free(d);

	d = fixture("cli.json");
	if (d != NULL) {
		is_int(d->ncmds, 1, "cli: one command");
		is_shell(d, 0, DEVC_POST_CREATE, NULL, "yarn install");
	}
	devc_free(d);

	d = fixture("cli-lifecycle-hooks-inline-commands.json");
	if (d != NULL) {
		is_int(d->ncmds, 3, "lifecycle hooks: three commands");
		is_shell(d, 0, DEVC_ON_CREATE, NULL, ".devcontainer/"
		    "createMarker.sh devContainer.onCreateCommand.testMarker");
		is_shell(d, 1, DEVC_UPDATE_CONTENT, NULL, ".devcontainer/"
		    "createMarker.sh "
		    "devContainer.updateContentCommand.testMarker");
		is_argv(d, 2, DEVC_POST_CREATE, NULL,
		    ".devcontainer/createMarker.sh|"
		    "devContainer.postCreateCommand.testMarker");
	}
	devc_free(d);

	d = fixture("cli-parallel-commands.json");
	if (d != NULL) {
		is_int(d->ncmds, 2, "parallel commands: two commands");
		is_shell(d, 0, DEVC_POST_CREATE, "post-create-command-1",
		    "touch /tmp/postCreateCommand1.testmarker && "
		    "echo post create command 1");
		is_shell(d, 1, DEVC_POST_CREATE, "post-create-command-2",
		    "touch /tmp/postCreateCommand2.testmarker && "
		    "echo post create command 2");
	}
	devc_free(d);
}

static void
test_forms_and_order(void)
{
	char err[512];
	struct devc *d;
	size_t i, n;

	/* Written out of order; each key in each form once over two files. */
	d = parse("{\n"
	    "  \"postCreateCommand\": \"make post\",\n"
	    "  \"updateContentCommand\": [\"npm\", \"ci\", \"--no-audit\"],\n"
	    "  \"onCreateCommand\": { \"zeta\": [\"z\", \"1\"],"
	    " \"alpha\": \"a && b\" },\n"
	    "  \"postStartCommand\": \"never\",\n"
	    "  \"initializeCommand\": \"never either\"\n"
	    "}\n", err, sizeof(err));
	ok(d != NULL, "three forms parse (%s)", err);
	if (d != NULL) {
		is_int(d->ncmds, 4, "four commands, other lifecycle keys left");
		is_argv(d, 0, DEVC_ON_CREATE, "zeta", "z|1");
		is_shell(d, 1, DEVC_ON_CREATE, "alpha", "a && b");
		is_argv(d, 2, DEVC_UPDATE_CONTENT, NULL, "npm|ci|--no-audit");
		is_shell(d, 3, DEVC_POST_CREATE, NULL, "make post");
		for (i = n = 0; i < d->ncmds; i++) {
			if (d->cmds[i].stage == DEVC_UPDATE_CONTENT)
				n++;
		}
		is_int(n, 1, "the update command can be picked alone");
	}
	devc_free(d);

	d = parse("{\"onCreateCommand\": \"sh one\","
	    " \"updateContentCommand\": {\"u\": \"x\", \"v\": [\"y\"]},"
	    " \"postCreateCommand\": [\"p\", \"q r\"]}", err, sizeof(err));
	ok(d != NULL, "the other forms parse (%s)", err);
	if (d != NULL) {
		is_int(d->ncmds, 4, "four commands");
		is_shell(d, 0, DEVC_ON_CREATE, NULL, "sh one");
		is_shell(d, 1, DEVC_UPDATE_CONTENT, "u", "x");
		is_argv(d, 2, DEVC_UPDATE_CONTENT, "v", "y");
		is_argv(d, 3, DEVC_POST_CREATE, NULL, "p|q r");
	}
	devc_free(d);

	d = parse("{\"onCreateCommand\": \" \\t\\n\","
	    " \"updateContentCommand\": [], \"postCreateCommand\": {},"
	    " \"name\": null}", err, sizeof(err));
	ok(d != NULL && d->ncmds == 0, "empty commands run nothing (%s)", err);
	devc_free(d);
	d = parse("{\"onCreateCommand\": null, \"postCreateCommand\": "
	    "{\"a\": \"\", \"b\": \"go\"}}", err, sizeof(err));
	ok(d != NULL && d->ncmds == 1, "null and empty named commands are "
	    "skipped (%s)", err);
	if (d != NULL && d->ncmds == 1)
		is_shell(d, 0, DEVC_POST_CREATE, "b", "go");
	devc_free(d);
	d = parse(" {}\n", err, sizeof(err));
	ok(d != NULL && d->ncmds == 0, "no lifecycle keys, no commands");
	devc_free(d);
}

static void
test_comments(void)
{
	char err[512];
	struct devc *d;

	d = parse("// head\n/* block\n * more */ {\n"
	    "  \"onCreateCommand\": \"echo // not a comment /* nor this */\","
	    " // tail\n"
	    "  \"updateContentCommand\": [\"curl\", \"https://x.test/a\","
	    " \"/*\", \"*/\", \"say \\\"// q\\\"\"],\n"
	    "  /* between */ \"postCreateCommand\": /**/ \"a\\\\\" // c\n"
	    "}", err, sizeof(err));
	ok(d != NULL, "comments and strings that look like them (%s)", err);
	if (d != NULL) {
		is_int(d->ncmds, 3, "three commands");
		is_shell(d, 0, DEVC_ON_CREATE, NULL,
		    "echo // not a comment /* nor this */");
		is_argv(d, 1, DEVC_UPDATE_CONTENT, NULL,
		    "curl|https://x.test/a|/*|*/|say \"// q\"");
		is_shell(d, 2, DEVC_POST_CREATE, NULL, "a\\");
	}
	devc_free(d);

	d = parse("{\"postCreateCommand\": \"x\"} // no newline at the end",
	    err, sizeof(err));
	ok(d != NULL && d->ncmds == 1, "a line comment ends the file (%s)",
	    err);
	devc_free(d);
	d = parse("{\"postCreateCommand\": \"x\"}\r// crlf\r\n", err,
	    sizeof(err));
	ok(d != NULL && d->ncmds == 1, "a line comment ends at CR (%s)", err);
	devc_free(d);

	d = parse("\xef\xbb\xbf// saved on Windows\r\n{\r\n"
	    "\t\"postCreateCommand\": \"x\", // c\r\n}\r\n", err,
	    sizeof(err));
	ok(d != NULL && d->ncmds == 1, "a byte order mark and CRLF lines (%s)",
	    err);
	devc_free(d);
	refused("{\"postCreateCommand\": \"x\"}\xef\xbb\xbf", "not JSON",
	    "a byte order mark that does not start the file");

	refused("{\n\"postCreateCommand\": \"x\"\n/* outer /* inner */ */\n}",
	    "line 3: \"*/\" outside a comment (comments do not nest)",
	    "a nested block comment");
	refused("{\"postCreateCommand\": \"x\"}\n\n/* never closed\n",
	    "line 3: a comment that never ends", "an unterminated comment");
	refused("{\"postCreateCommand\": \"x\"} /*/", "never ends",
	    "a comment closed by its own opening star");
	refused("{\"postCreateCommand\": \"x\" / }", "not JSON",
	    "a lone slash");
}

static void
test_trailing_commas(void)
{
	char err[512];
	struct devc *d;

	d = parse("{\n"
	    "  \"onCreateCommand\": [\"a\", \"b\",],\n"
	    "  \"updateContentCommand\": {\"n\": [\"c\",\n ], \"m\": \"d\","
	    " },\n"
	    "  \"postCreateCommand\": [\"e\", /* c */ ],\n"
	    "  \"customizations\": {\"x\": [1, 2, [3,],], \"y\": {\"z\": 1,},"
	    " },\n"
	    "  \"name\": \"a, ]\", // ,}\n"
	    "}\n", err, sizeof(err));
	ok(d != NULL, "trailing commas in arrays and objects (%s)", err);
	if (d != NULL) {
		is_int(d->ncmds, 4, "four commands");
		is_argv(d, 0, DEVC_ON_CREATE, NULL, "a|b");
		is_argv(d, 1, DEVC_UPDATE_CONTENT, "n", "c");
		is_shell(d, 2, DEVC_UPDATE_CONTENT, "m", "d");
		is_argv(d, 3, DEVC_POST_CREATE, NULL, "e");
	}
	devc_free(d);

	refused("{\"postCreateCommand\": [,]}", "not JSON",
	    "a comma with nothing before it");
	refused("{\"postCreateCommand\": [\"a\",,]}", "not JSON",
	    "two commas");
	refused("{,}", "not JSON", "a comma alone in an object");
	refused("{\"postCreateCommand\": \"a\"},", "not JSON",
	    "a comma after the top-level object");
}

static void
test_malformed(void)
{
	char err[512], *big;
	struct devc *d;
	size_t n;

	refused("", "empty, or nothing but comments", "an empty file");
	refused("  // only a comment\n/**/\n", "empty, or nothing but "
	    "comments", "a file of comments");
	refused("[\"postCreateCommand\"]", "not a JSON object", "an array");
	refused("{\"postCreateCommand\": 42}", "postCreateCommand: a command "
	    "must be a string or an array of strings", "a number command");
	refused("{\"onCreateCommand\": true}", "onCreateCommand: a command "
	    "must be", "a boolean command");
	refused("{\"updateContentCommand\": {\"a\": {\"b\": \"c\"}}}",
	    "updateContentCommand.a: a command must be",
	    "an object inside an object");
	refused("{\"updateContentCommand\": {\"a\": 1}}",
	    "updateContentCommand.a: a command must be",
	    "a number inside an object");
	refused("{\"postCreateCommand\": [\"npm\", 1]}",
	    "postCreateCommand: word 2 is not a string",
	    "an array with a number");
	refused("{\"onCreateCommand\": {\"x\": [\"a\", [\"b\"]]}}",
	    "onCreateCommand.x: word 2 is not a string",
	    "a named array with an array");
	refused("{\"postCreateCommand\": [\"a\", null]}", "word 2",
	    "an array with a null");
	refused("{\"postCreateCommand\": \"a\", \"postCreateCommand\": \"b\"}",
	    "postCreateCommand is given twice", "a lifecycle key twice");
	refused("{\"postCreateCommand\": {\"a\": \"x\", \"a\": \"y\"}}",
	    "the name \"a\" is given twice", "a command name twice");
	refused("{\"postCreateCommand\": {\"\": \"x\"}}", "a command name must "
	    "be 1 to", "an empty command name");
	refused("{\"postCreateCommand\": {\"a\\nb\": \"x\"}}", "control "
	    "character", "a command name with a newline");
	refused("{\"postCreateCommand\": \"a\\u0000rm -rf /\"}", "line 1: a "
	    "string holds \\u0000", "an escaped NUL");
	refused("{\"postCreateCommand\": {\"a\\u0000\": \"x\"}}", "\\u0000",
	    "an escaped NUL in a name");
	d = devc_parse("dc.json", "{\"postCreateCommand\": \"a\0b\"}", 28,
	    err, sizeof(err));
	ok(d == NULL && strcmp(err, "dc.json: line 1: a NUL byte") == 0,
	    "a NUL byte is refused (%s)", err);
	devc_free(d);
	refused("{\n\"postCreateCommand\": \"caf\xe9\"}", "line 2: not UTF-8",
	    "Latin-1 bytes");
	refused("{\"postCreateCommand\": \"\xed\xa0\x80\"}", "not UTF-8",
	    "an encoded surrogate");
	refused("{\"postCreateCommand\": \"\xc0\xaf\"}", "not UTF-8",
	    "an overlong slash");
	refused("{\"postCreateCommand\": \"\xe2\x82\"}", "not UTF-8",
	    "a cut sequence");
	d = parse("{\"postCreateCommand\": "
	    "\"echo h\xc3\xa9 \xf0\x9f\x99\x82\"}", err, sizeof(err));
	ok(d != NULL && d->ncmds == 1, "UTF-8 text is kept (%s)", err);
	devc_free(d);

	/* Nesting past the parser's bound. */
	big = xmalloc(200);
	n = (size_t)snprintf(big, 200, "{\"x\": ");
	while (n < 150)
		big[n++] = '[';
	big[n] = '\0';
	refused(big, "nested deeper", "deep nesting");
	free(big);
}

/* A file of n commands in an object. */
static char *
many_commands(size_t n)
{
	char *s = xstrdup("{\"onCreateCommand\": {"), *t;
	size_t i;

	for (i = 0; i < n; i++) {
		t = xasprintf("%s%s\"c%zu\": \"true\"", s, i ? ", " : "", i);
		free(s);
		s = t;
	}
	t = xasprintf("%s}}", s);
	free(s);
	return t;
}

static void
test_bounds(void)
{
	char err[512], *s, *t;
	struct devc *d;
	size_t i;

	s = many_commands(DEVC_CMDS_MAX);
	d = parse(s, err, sizeof(err));
	ok(d != NULL && d->ncmds == DEVC_CMDS_MAX, "%d commands are taken",
	    DEVC_CMDS_MAX);
	devc_free(d);
	free(s);
	s = many_commands(DEVC_CMDS_MAX + 1);
	refused(s, "more than 64 commands", "one command too many");
	free(s);

	s = xstrdup("{\"postCreateCommand\": [\"w\"");
	for (i = 1; i < DEVC_ARGV_MAX; i++) {
		t = xasprintf("%s, \"w\"", s);
		free(s);
		s = t;
	}
	t = xasprintf("%s]}", s);
	d = parse(t, err, sizeof(err));
	ok(d != NULL && d->ncmds == 1 && d->cmds[0].argc == DEVC_ARGV_MAX,
	    "%d words are taken", DEVC_ARGV_MAX);
	devc_free(d);
	free(t);
	t = xasprintf("%s, \"w\"]}", s);
	refused(t, "postCreateCommand: more than 256 words",
	    "one word too many");
	free(t);
	free(s);

	s = xmalloc(DEVC_STR_MAX + 64);
	i = (size_t)snprintf(s, 64, "{\"postCreateCommand\": \"");
	memset(s + i, 'a', DEVC_STR_MAX);
	memcpy(s + i + DEVC_STR_MAX, "\"}", 3);
	d = parse(s, err, sizeof(err));
	ok(d != NULL && d->ncmds == 1 &&
	    strlen(d->cmds[0].shell) == DEVC_STR_MAX,
	    "a string of %d bytes is taken", DEVC_STR_MAX);
	devc_free(d);
	memcpy(s + i + DEVC_STR_MAX, "a\"}", 4);
	refused(s, "postCreateCommand: a string over 65536 bytes",
	    "a string one byte too long");
	memcpy(s, "{\"postCreateCommand\": [\"", 24);
	memset(s + 24, 'a', DEVC_STR_MAX + 1);
	memcpy(s + 24 + DEVC_STR_MAX + 1, "\"]}", 4);
	refused(s, "a string over", "a word one byte too long");
	free(s);

	s = xmalloc(DEVC_FILE_MAX + 2);
	memset(s, ' ', DEVC_FILE_MAX + 1);
	memcpy(s, "{}", 2);
	s[DEVC_FILE_MAX + 1] = '\0';
	refused(s, "over 262144 bytes", "a file one byte over the bound");
	s[DEVC_FILE_MAX] = '\0';
	d = parse(s, err, sizeof(err));
	ok(d != NULL, "a file at the bound is taken (%s)", err);
	devc_free(d);
	free(s);

	s = xasprintf("{\"postCreateCommand\": {\"%0*d\": \"x\"}}",
	    DEVC_NAME_MAX, 7);
	d = parse(s, err, sizeof(err));
	ok(d != NULL, "a name of %d bytes is taken (%s)", DEVC_NAME_MAX, err);
	devc_free(d);
	free(s);
	s = xasprintf("{\"postCreateCommand\": {\"%0*d\": \"x\"}}",
	    DEVC_NAME_MAX + 1, 7);
	refused(s, "a command name must be 1 to 128 bytes",
	    "a name one byte too long");
	free(s);
}

/* The key text of a file, or NULL when it does not parse. */
static char *
key_of(const char *text)
{
	char err[512], *k;
	struct devc *d;

	if ((d = parse(text, err, sizeof(err))) == NULL) {
		printf("# %s\n", err);
		return NULL;
	}
	k = devc_key_text(d);
	devc_free(d);
	return k;
}

static void
test_key_text(void)
{
	static const char *base = "{\"name\": \"x\", \"onCreateCommand\": "
	    "\"npm ci\", \"postCreateCommand\": {\"a\": [\"make\", \"b c\"]}}";
	static const struct {
		const char	*text;
		bool		 same;
		const char	*what;
	} cases[] = {
		{ "// set-up\n{\n\t\"name\": \"x\",\n\t\"onCreateCommand\": "
		  "\"npm ci\", /* fast */\n\t\"postCreateCommand\": {\n\t\t"
		  "\"a\": [\"make\", \"b c\",],\n\t},\n}\n", true,
		  "comments, whitespace and trailing commas" },
		{ "{\"postCreateCommand\": {\"a\": [\"make\", \"b c\"]}, "
		  "\"onCreateCommand\": \"npm ci\", \"name\": \"y\", "
		  "\"image\": \"z\"}", true,
		  "key order and keys that are not commands" },
		{ "{\"onCreateCommand\": \"npm \\u0063i\", "
		  "\"postCreateCommand\": {\"a\": [\"make\", \"b c\"]}}", true,
		  "an escaped letter" },
		{ "{\"onCreateCommand\": \"npm ci \", \"postCreateCommand\": "
		  "{\"a\": [\"make\", \"b c\"]}}", false,
		  "a space inside a command" },
		{ "{\"onCreateCommand\": \"npm ci\", \"postCreateCommand\": "
		  "{\"a\": [\"make\", \"b\", \"c\"]}}", false,
		  "a word split in two" },
		{ "{\"onCreateCommand\": \"npm ci\", \"postCreateCommand\": "
		  "{\"a\": \"make b c\"}}", false, "an argv made a string" },
		{ "{\"onCreateCommand\": \"npm ci\", \"postCreateCommand\": "
		  "{\"b\": [\"make\", \"b c\"]}}", false, "a renamed command" },
		{ "{\"onCreateCommand\": \"npm ci\", \"postCreateCommand\": "
		  "[\"make\", \"b c\"]}", false, "an object made an array" },
		{ "{\"updateContentCommand\": \"npm ci\", "
		  "\"postCreateCommand\": {\"a\": [\"make\", \"b c\"]}}", false,
		  "a command moved to another stage" },
	};
	char *k0, *k;
	size_t i;

	k0 = key_of(base);
	ok(k0 != NULL && strstr(k0, "npm ci") != NULL, "key text: %s",
	    k0 ? k0 : "(none)");
	for (i = 0; k0 != NULL && i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = key_of(cases[i].text);
		ok(k != NULL && (strcmp(k, k0) == 0) == cases[i].same,
		    "key %s by %s", cases[i].same ? "unchanged" : "changed",
		    cases[i].what);
		free(k);
	}
	free(k0);

	/* Length prefixes keep fields apart whatever they hold. */
	k0 = key_of("{\"postCreateCommand\": [\"a 1:b\"]}");
	k = key_of("{\"postCreateCommand\": [\"a\", \"b\"]}");
	ok(k0 != NULL && k != NULL && strcmp(k0, k) != 0,
	    "a word holding the separator is not two words");
	free(k0);
	free(k);
	k0 = key_of("{\"postCreateCommand\": {\"a sh b\": \"c\"}}");
	k = key_of("{\"postCreateCommand\": {\"a\": \"b sh c\"}}");
	ok(k0 != NULL && k != NULL && strcmp(k0, k) != 0,
	    "a name holding a field is not the command's text");
	free(k0);
	free(k);
	k = devc_key_text(NULL);
	ok(k != NULL && *k != '\0', "no file has a key text too");
	free(k);
}

/* Write text to dir/rel. */
static void
put(const char *dir, const char *rel, const char *text)
{
	char *p = xasprintf("%s/%s", dir, rel);

	if (util_write_file(p, text, strlen(text), 0644) != 0)
		printf("Bail out! cannot write %s\n", p);
	free(p);
}

static void
test_load(void)
{
	char dir[] = "/tmp/test-devc-XXXXXX", err[512], *p, *q, *big;
	struct devc *d = NULL;
	int rc;

	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		exit(1);
	}
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == 0 && d == NULL, "no file: nothing to run");

	put(dir, ".devcontainer.json", "{\"postCreateCommand\": \"root\"}");
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == 1 && d != NULL && strcmp(d->path, ".devcontainer.json") == 0 &&
	    d->ncmds == 1 && strcmp(d->cmds[0].shell, "root") == 0,
	    ".devcontainer.json at the root is read");
	devc_free(d);

	p = xasprintf("%s/.devcontainer", dir);
	ok(mkdir(p, 0755) == 0, "make .devcontainer");
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == 1 && d != NULL && strcmp(d->path, ".devcontainer.json") == 0,
	    "an empty .devcontainer falls back to the root file");
	devc_free(d);

	put(dir, ".devcontainer/devcontainer.json",
	    "// first\n{\"postCreateCommand\": \"inner\",}");
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == 1 && d != NULL &&
	    strcmp(d->path, ".devcontainer/devcontainer.json") == 0 &&
	    strcmp(d->cmds[0].shell, "inner") == 0,
	    ".devcontainer/devcontainer.json comes first");
	devc_free(d);

	put(dir, ".devcontainer/devcontainer.json", "{\n\"postCreateCommand\":"
	    " 7}");
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == -1 && d == NULL && strcmp(err, ".devcontainer/"
	    "devcontainer.json: postCreateCommand: a command must be a string "
	    "or an array of strings") == 0,
	    "a broken file is an error naming it (%s)", err);

	big = xmalloc(DEVC_FILE_MAX + 2);
	memset(big, ' ', DEVC_FILE_MAX + 1);
	memcpy(big, "{}", 2);
	big[DEVC_FILE_MAX + 1] = '\0';
	put(dir, ".devcontainer/devcontainer.json", big);
	free(big);
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == -1 && strcmp(err, ".devcontainer/devcontainer.json: over "
	    "262144 bytes") == 0, "a file over the bound is not read whole "
	    "(%s)", err);

	/* A link could read a file of the host's. */
	q = xasprintf("%s/devcontainer.json", p);
	unlink(q);
	ok(symlink("/etc/passwd", q) == 0, "devcontainer.json is a link");
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == -1 && strstr(err, ".devcontainer/devcontainer.json: a "
	    "symbolic link") != NULL, "a linked file is refused (%s)", err);
	unlink(q);
	ok(mkdir(q, 0755) == 0, "devcontainer.json is a directory");
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a regular file") != NULL,
	    "a directory is refused (%s)", err);
	rmdir(q);
	ok(mkfifo(q, 0644) == 0, "devcontainer.json is a FIFO");
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a regular file") != NULL,
	    "a FIFO is refused without waiting for a writer (%s)", err);
	unlink(q);
	free(q);

	util_rmtree(p);
	q = xasprintf("%s/elsewhere", dir);
	ok(mkdir(q, 0755) == 0 && symlink(q, p) == 0,
	    ".devcontainer is a link to a directory");
	put(dir, "elsewhere/devcontainer.json", "{}");
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == -1 && strstr(err, ".devcontainer: a symbolic link") != NULL,
	    "a linked .devcontainer is refused (%s)", err);
	free(q);
	unlink(p);

	q = xasprintf("%s/.devcontainer.json", dir);
	unlink(q);
	ok(symlink("/etc/hostname", q) == 0, ".devcontainer.json is a link");
	rc = devc_load(dir, &d, err, sizeof(err));
	ok(rc == -1 && strstr(err, ".devcontainer.json: a symbolic link") !=
	    NULL, "a linked root file is refused (%s)", err);
	free(q);

	free(p);
	util_rmtree(dir);
}

int
main(void)
{
	if ((srcdir = getenv("SRCDIR")) == NULL || *srcdir == '\0')
		srcdir = ".";
	test_real_files();
	test_forms_and_order();
	test_comments();
	test_trailing_commas();
	test_malformed();
	test_bounds();
	test_key_text();
	test_load();
	return done_testing();
}
