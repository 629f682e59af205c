/*
 * libFuzzer harness for the comment-command parser and the branch-name
 * reader: both see text anyone who can comment on a repository controls.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *text = NULL;
	enum cmd_kind kind;

	in = xmalloc(size + 1);
	memcpy(in, data, size);
	in[size] = '\0';

	kind = rules_parse_command("/agent", in, &text);
	(void)rules_kind_name(kind);
	free(text);
	if (rules_branch_issue("handoff/", in) < -1)
		abort();	/* a number or -1, nothing else */

	free(in);
	return 0;
}
