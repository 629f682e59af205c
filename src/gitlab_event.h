/*
 * GitLab webhook payloads (X-Gitlab-Event + JSON body) into struct forge_event.
 */
#ifndef HANDOFF_GITLAB_EVENT_H
#define HANDOFF_GITLAB_EVENT_H

#include <stddef.h>

#include "event.h"

/* Parse len bytes of JSON delivered as event name ("Issue Hook", ...).
 * Returns a new event (EV_OTHER when handoff does not act on it), or NULL
 * with a one-line reason in err for malformed input. Caller frees with event_free. */
struct forge_event *glev_parse(const char *name, const char *json, size_t len,
    char *err, size_t errlen);

#endif
