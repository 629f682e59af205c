/*
 * GitHub webhook payloads (X-GitHub-Event + JSON body) into struct forge_event.
 */
#ifndef HANDOFF_GITHUB_EVENT_H
#define HANDOFF_GITHUB_EVENT_H

#include <stddef.h>

#include "event.h"

/* Parse len bytes of JSON delivered as event name. Returns a new event (type
 * EV_OTHER for events handoff does not act on), or NULL with a one-line
 * reason in err for malformed input (bad JSON, wrong types, missing fields).
 * Caller frees with event_free. */
struct forge_event *ghev_parse(const char *name, const char *json, size_t len,
    char *err, size_t errlen);

#endif
