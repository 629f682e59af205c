/*
 * libFuzzer harness for devcontainer.json: a repository's author writes it,
 * and handoff reads it before any sandbox runs. Whatever parses must hold
 * to the bounds the header promises, and give a key text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devcontainer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct devc *d;
	char err[256], *key;
	size_t i, w;

	d = devc_parse("f.json", (const char *)data, size, err, sizeof(err));
	if (d == NULL) {
		if (err[0] == '\0')
			abort();	/* every refusal says why */
		return 0;
	}
	if (d->ncmds > DEVC_CMDS_MAX)
		abort();
	for (i = 0; i < d->ncmds; i++) {
		const struct devc_cmd *c = &d->cmds[i];

		if ((c->shell == NULL) == (c->argv == NULL))
			abort();
		if (c->shell != NULL && (c->shell[0] == '\0' ||
		    strlen(c->shell) > DEVC_STR_MAX))
			abort();
		if (c->argv != NULL && (c->argc == 0 ||
		    c->argc > DEVC_ARGV_MAX || c->argv[c->argc] != NULL))
			abort();
		for (w = 0; c->argv != NULL && w < c->argc; w++) {
			if (strlen(c->argv[w]) > DEVC_STR_MAX)
				abort();
		}
		if (c->name != NULL && strlen(c->name) > DEVC_NAME_MAX)
			abort();
		if (i > 0 && c->stage < d->cmds[i - 1].stage)
			abort();	/* out of order */
	}
	key = devc_key_text(d);
	free(key);
	devc_free(d);
	return 0;
}
