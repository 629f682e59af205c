/*
 * handoff: turns forge issues into pull requests. This file only reads the
 * command line and calls one function per subcommand, from its table.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "backup.h"
#include "config.h"
#include "control.h"
#include "deliver.h"
#include "gateway.h"
#include "gc.h"
#include "local.h"
#include "log.h"
#include "proxy.h"
#include "report.h"
#include "rules.h"
#include "runner.h"
#include "serve.h"
#include "util.h"

static int	cmd_serve(const struct config *, int, char **);
static int	cmd_check_config(const struct config *, int, char **);
static int	cmd_deliver(const struct config *, int, char **);
static int	cmd_version(const struct config *, int, char **);
static int	cmd_help(const struct config *, int, char **);

/* A subcommand: its function gets the loaded config if needs_config. */
struct subcommand {
	const char	*name;
	const char	*alias[2];
	int		(*fn)(const struct config *, int, char **);
	bool		 needs_config;
	const char	*usage;
	const char	*what;
};

static const struct subcommand commands[] = {
	{ "serve", { NULL, NULL }, cmd_serve, true, "serve",
	  "run the daemon: webhook intake, the job scheduler, health, metrics" },
	{ "jobs", { NULL, NULL }, report_jobs, true,
	  "jobs [--json] [--state STATE] [--limit N]",
	  "list jobs, newest first" },
	{ "show", { NULL, NULL }, report_show, true, "show JOB [--json]",
	  "one job: steps, instructions, result" },
	{ "run", { NULL, NULL }, local_main, true,
	  "run --repo DIR (--task TEXT | --task-file FILE) [--branch NAME]",
	  "run the agent on a local repository; the result is a branch in DIR" },
	{ "runner", { NULL, NULL }, runner_main, true,
	  "runner --job JOB [--acknowledge]",
	  "run one job's steps (serve starts these)" },
	{ "proxy", { NULL, NULL }, proxy_main, true,
	  "proxy --job JOB [--setup] [--ready FD]",
	  "one job's egress proxy (runners start these)" },
	{ "gateway", { NULL, NULL }, gateway_main, true,
	  "gateway --job JOB [--ready FD]",
	  "a job's LLM gateway, its key on stdin (runners start these)" },
	{ "logs", { NULL, NULL }, control_logs, true, "logs JOB [--follow]",
	  "a job's log; --follow until it ends" },
	{ "cancel", { NULL, NULL }, control_cancel, true, "cancel JOB",
	  "stop a running job or drop a queued one" },
	{ "retry", { NULL, NULL }, control_retry, true, "retry JOB",
	  "queue a failed or cancelled job again" },
	{ "gc", { NULL, NULL }, gc_main, true, "gc [--log]",
	  "remove finished jobs past [store] keep, pack mirrors (--log: "
	  "say so in the log)" },
	{ "backup", { NULL, NULL }, backup_main, true,
	  "backup [--force] FILE",
	  "copy the store to FILE while serve runs (--force: replace FILE)" },
	{ "check-config", { NULL, NULL }, cmd_check_config, true,
	  "check-config [--repo REPOSITORY]",
	  "validate the config and print it with secrets masked (--repo: "
	  "a repository's settings)" },
	{ "deliver", { NULL, NULL }, cmd_deliver, true,
	  "deliver --forge github|gitlab --event NAME FILE "
	  "[--url URL] [--delivery ID] [--form]",
	  "sign FILE as the forge does and POST it to a running handoff" },
	{ "version", { "--version", NULL }, cmd_version, false, "version",
	  "print the version" },
	{ "help", { "--help", "-h" }, cmd_help, false, "help [COMMAND]",
	  "this text, or one command's" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct subcommand *
subcommand_find(const char *name)
{
	size_t i, j;

	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
		for (j = 0; j < 2 && commands[i].alias[j] != NULL; j++) {
			if (strcmp(name, commands[i].alias[j]) == 0)
				return &commands[i];
		}
	}
	return NULL;
}

static int
help(FILE *out, const char *command)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++) {
		if (command != NULL && strcmp(command, commands[i].name) == 0) {
			fprintf(out, "usage: handoff [-c FILE] %s\n  %s\n",
			    commands[i].usage, commands[i].what);
			return 0;
		}
	}
	if (command != NULL) {
		fprintf(stderr, "handoff: no command \"%s\"\n", command);
		return 2;
	}
	fprintf(out, "usage: handoff [-c FILE] COMMAND [ARGS]\n\n"
	    "The config is -c FILE, else $HANDOFF_CONFIG, else ./handoff.ini.\n"
	    "\ncommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-14s %s\n", commands[i].name,
		    commands[i].what);
	return 0;
}

static int
cmd_serve(const struct config *cfg, int nargs, char **args)
{
	(void)args;
	/* serve_main keeps the config for the daemon's life, unchanged. */
	if (nargs > 0) {
		fprintf(stderr, "handoff: serve: unexpected argument "
		    "\"%.60s\"\n", args[0]);
		return help(stderr, "serve") + 2;
	}
	return serve_main((struct config *)cfg);
}

static int
cmd_check_config(const struct config *cfg, int nargs, char **args)
{
	if (nargs == 0) {
		config_print(cfg, stdout);
		return config_print_check(cfg, stdout, stderr) > 0 ? 1 : 0;
	}
	if (nargs != 2 || strcmp(args[0], "--repo") != 0) {
		if (strcmp(args[0], "--repo") != 0 || nargs > 2)
			fprintf(stderr, "handoff: check-config: unexpected "
			    "argument \"%.60s\"\n", args[strcmp(args[0],
			    "--repo") != 0 ? 0 : 2]);
		else
			fprintf(stderr, "handoff: check-config: --repo needs a "
			    "repository\n");
		return help(stderr, "check-config") + 2;
	}
	/* A name, not a pattern: what a delivery's repository could be. */
	if (!rules_check_repo_pattern(args[1], strlen(args[1])) ||
	    strpbrk(args[1], "*?") != NULL) {
		fprintf(stderr, "handoff: check-config --repo: expected a "
		    "repository such as owner/name or group/sub/project\n");
		return 2;
	}
	config_print_repo(cfg, args[1], stdout);
	return 0;
}

static int
cmd_deliver(const struct config *cfg, int nargs, char **args)
{
	int status;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	status = deliver_main(cfg, nargs, args);
	curl_global_cleanup();
	return status;
}

static int
cmd_version(const struct config *cfg, int nargs, char **args)
{
	(void)cfg;
	(void)nargs;
	(void)args;
	printf("handoff %s\n", HANDOFF_VERSION);
	return 0;
}

static int
cmd_help(const struct config *cfg, int nargs, char **args)
{
	(void)cfg;
	return help(stdout, nargs > 0 ? args[0] : NULL);
}

static struct config *
load(const char *path)
{
	static char err[CONFIG_ERRLEN];
	struct config *cfg = config_load(config_default_path(path), err,
	    sizeof(err));
	char *line, *next;

	if (cfg == NULL) {
		for (line = err; line != NULL; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			fprintf(stderr, "handoff: %s\n", line);
		}
		exit(2);
	}
	log_set_level((enum log_level)cfg->log_level);
	log_set_format((enum log_format)cfg->log_format);
	return cfg;
}

int
main(int argc, char **argv)
{
	const char *path = NULL, *name = NULL;
	const struct subcommand *cmd;
	char **args = xcalloc((size_t)argc, sizeof(*args));
	struct config *cfg = NULL;
	int i, nargs = 0, status;

	/* -c FILE may stand before or after the subcommand. */
	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 ||
		    strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		else if (name == NULL)
			name = argv[i];
		else
			args[nargs++] = argv[i];
	}
	if (name == NULL) {
		help(stderr, NULL);
		free(args);
		return 2;
	}
	if ((cmd = subcommand_find(name)) == NULL) {
		fprintf(stderr, "handoff: unknown command \"%s\"; see "
		    "handoff help\n", name);
		free(args);
		return 2;
	}
	/* COMMAND --help needs no config, nor a readable one. */
	for (i = 0; i < nargs; i++)
		if (!strcmp(args[i], "--help") || !strcmp(args[i], "-h")) {
			free(args);
			return help(stdout, cmd->name);
		}
	if (cmd->needs_config)
		cfg = load(path);
	status = cmd->fn(cfg, nargs, args);
	if (cfg != NULL)
		config_free(cfg);
	free(args);
	return status;
}
