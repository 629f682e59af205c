/*
 * libFuzzer harness for the payload parsers and the rules behind them. The
 * first byte picks the forge and event header (selector % 12: 0-7 GitHub,
 * 8-11 GitLab, in the order of the table below); the rest is the JSON body,
 * passed without a terminating NUL as the network delivers it. Each input
 * is parsed twice, pruned as serve parses it and whole: an event the
 * pruned tree gives must be the one the whole tree gives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "json.h"
#include "payload.h"
#include "github_event.h"
#include "gitlab_event.h"
#include "rules.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	enum forge	 forge;
	const char	*name;
} events[] = {
	{ FORGE_GITHUB, "issues" },
	{ FORGE_GITHUB, "issue_comment" },
	{ FORGE_GITHUB, "pull_request_review" },
	{ FORGE_GITHUB, "pull_request_review_comment" },
	{ FORGE_GITHUB, "pull_request" },
	{ FORGE_GITHUB, "check_suite" },
	{ FORGE_GITHUB, "ping" },
	{ FORGE_GITHUB, "installation" },
	{ FORGE_GITLAB, "Issue Hook" },
	{ FORGE_GITLAB, "Note Hook" },
	{ FORGE_GITLAB, "Merge Request Hook" },
	{ FORGE_GITLAB, "Pipeline Hook" },
};

static struct forge_event *
parse(size_t i, const char *json, size_t len, char *err, size_t errlen)
{
	if (events[i].forge == FORGE_GITHUB)
		return ghev_parse(events[i].name, json, len, err, errlen);
	return glev_parse(events[i].name, json, len, err, errlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config *cfg;
	struct forge_event *ev, *whole;
	struct command cmd;
	const char *json;
	char err[256];
	size_t i;

	json_use_arena();	/* parse as serve does */
	if (size < 1)
		return 0;
	if (cfg == NULL && (cfg = config_defaults()) == NULL)
		abort();
	i = data[0] % nitems(events);
	json = (const char *)data + 1;
	err[0] = '\0';
	payload_whole = true;
	whole = parse(i, json, size - 1, err, sizeof(err));
	payload_whole = false;
	err[0] = '\0';
	ev = parse(i, json, size - 1, err, sizeof(err));
	if (ev != NULL && (whole == NULL ||
	    forge_event_diff(ev, whole) != NULL))
		abort();	/* pruning changed what a delivery says */
	forge_event_free(whole);
	if (ev == NULL) {
		/* The header promises a reason for every rejection. */
		if (err[0] == '\0' || strnlen(err, sizeof(err)) == sizeof(err))
			abort();
		return 0;
	}
	rules_decide(cfg, ev, &cmd);
	(void)rules_kind_name(cmd.kind);
	rules_command_clear(&cmd);
	forge_event_free(ev);
	return 0;
}
