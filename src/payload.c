/*
 * What github_event.c and gitlab_event.c share in reading a delivery: the
 * JSON object itself, a new event, and required fields with the reason
 * when one is missing.
 */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "payload.h"
#include "util.h"

bool payload_whole;

/* kept's tree; two threads that make it at once keep the first. */
static const struct json_keep *
kept_tree(struct payload_kept *kept)
{
	struct json_keep *tree = atomic_load(&kept->keep), *mine;

	if (tree != NULL)
		return tree;
	mine = json_keep_new(kept->paths);
	if (atomic_compare_exchange_strong(&kept->keep, &tree, mine))
		return mine;
	json_keep_free(mine);
	return tree;
}

cJSON *
payload_open(const char *name, const char *json, size_t len,
    struct payload_kept *kept, char *err, size_t errlen)
{
	cJSON *root;

	if ((root = json_parse_kept(json, len, JSON_MAX_DEPTH,
	    payload_whole ? NULL : kept_tree(kept))) == NULL) {
		snprintf(err, errlen, "%.64s: invalid JSON or nesting deeper "
		    "than %d", name, JSON_MAX_DEPTH);
		return NULL;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "%.64s: payload is not a JSON object",
		    name);
		json_free(root);
		return NULL;
	}
	return root;
}

struct forge_event *
payload_event_new(enum forge forge, const char *name)
{
	struct forge_event *ev = xcalloc(1, sizeof(*ev));

	ev->forge = forge;
	ev->type = EV_OTHER;
	ev->name = xstrndup(name, PAYLOAD_NAME_MAX);
	return ev;
}

char *
payload_need_str(struct payload *p, const char *path, size_t maxlen)
{
	return json_need_str(p->root, path, maxlen, p->what, p->err, p->errlen);
}

int
payload_need_int(struct payload *p, const char *path, int64_t *out)
{
	return json_need_int(p->root, path, out, p->what, p->err, p->errlen);
}

bool
payload_str_is(const cJSON *root, const char *path, const char *s)
{
	const cJSON *node = json_at(root, path);

	return cJSON_IsString(node) && strcmp(node->valuestring, s) == 0;
}
