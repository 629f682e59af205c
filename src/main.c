/*
 * handoff: turns forge issues into pull requests. This file only reads the
 * command line and calls one function per subcommand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "control.h"
#include "deliver.h"
#include "log.h"
#include "report.h"
#include "local.h"
#include "runner.h"
#include "serve.h"
#include "util.h"

static const struct {
	const char	*name;
	const char	*usage;
	const char	*what;
} commands[] = {
	{ "serve", "serve",
	  "run the daemon: webhook intake, the job scheduler, health, metrics" },
	{ "jobs", "jobs [--json] [--state STATE] [--limit N]",
	  "list jobs, newest first" },
	{ "show", "show JOB [--json]",
	  "one job: steps, instructions, result" },
	{ "run", "run --repo DIR (--task TEXT | --task-file F) [--branch NAME]",
	  "run the agent on a local repository; the result is a branch in DIR" },
	{ "runner", "runner --job JOB [--acknowledge]",
	  "run one job's steps (serve starts these)" },
	{ "logs", "logs JOB [--follow]", "a job's log; --follow until it ends" },
	{ "cancel", "cancel JOB", "stop a running job or drop a queued one" },
	{ "retry", "retry JOB", "queue a failed or cancelled job again" },
	{ "check-config", "check-config",
	  "validate the config and print it with secrets masked" },
	{ "deliver", "deliver --forge github|gitlab --event NAME FILE "
	  "[--url URL] [--delivery ID] [--form]",
	  "sign FILE as the forge does and POST it to a running handoff" },
	{ "version", "version", "print the version" },
	{ "help", "help [COMMAND]", "this text, or one command's" },
};

static int
help(FILE *out, const char *command)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
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
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-14s %s\n", commands[i].name,
		    commands[i].what);
	return 0;
}

static struct config *
load(const char *path)
{
	char err[1024];
	struct config *cfg = config_load(config_default_path(path), err,
	    sizeof(err));

	if (cfg == NULL) {
		fprintf(stderr, "handoff: %s\n", err);
		exit(2);
	}
	log_set_level((enum log_level)cfg->log_level);
	return cfg;
}

int
main(int argc, char **argv)
{
	const char *path = NULL, *command = NULL;
	char **args = xcalloc((size_t)argc, sizeof(*args));
	struct config *cfg;
	int i, nargs = 0, status;

	/* -c FILE may stand before or after the subcommand. */
	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 ||
		    strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		else if (command == NULL)
			command = argv[i];
		else
			args[nargs++] = argv[i];
	}
	if (command == NULL || strcmp(command, "help") == 0 ||
	    strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
		status = help(command ? stdout : stderr,
		    nargs > 0 ? args[0] : NULL);
		free(args);
		return command == NULL ? 2 : status;
	}
	if (strcmp(command, "version") == 0 ||
	    strcmp(command, "--version") == 0) {
		printf("handoff %s\n", HANDOFF_VERSION);
		free(args);
		return 0;
	}

	if (strcmp(command, "serve") == 0) {
		cfg = load(path);
		status = nargs == 0 ? serve_main(cfg) : help(stderr, "serve") + 2;
	} else if (strcmp(command, "jobs") == 0) {
		cfg = load(path);
		status = report_jobs(cfg, nargs, args);
	} else if (strcmp(command, "show") == 0) {
		cfg = load(path);
		status = report_show(cfg, nargs, args);
	} else if (strcmp(command, "run") == 0) {
		cfg = load(path);
		status = local_main(cfg, nargs, args);
	} else if (strcmp(command, "runner") == 0) {
		cfg = load(path);
		status = runner_main(cfg, nargs, args);
	} else if (strcmp(command, "logs") == 0) {
		cfg = load(path);
		status = control_logs(cfg, nargs, args);
	} else if (strcmp(command, "cancel") == 0) {
		cfg = load(path);
		status = control_cancel(cfg, nargs, args);
	} else if (strcmp(command, "retry") == 0) {
		cfg = load(path);
		status = control_retry(cfg, nargs, args);
	} else if (strcmp(command, "check-config") == 0) {
		cfg = load(path);
		config_print(cfg, stdout);
		status = 0;
	} else if (strcmp(command, "deliver") == 0) {
		cfg = load(path);
		curl_global_init(CURL_GLOBAL_DEFAULT);
		status = deliver_main(cfg, nargs, args);
		curl_global_cleanup();
	} else {
		fprintf(stderr, "handoff: unknown command \"%s\"; see "
		    "handoff help\n", command);
		free(args);
		return 2;
	}
	config_free(cfg);
	free(args);
	return status;
}
