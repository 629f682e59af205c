/*
 * A repository's Dev Container set-up commands: reads devcontainer.json
 * (JSON with comments and trailing commas), bounded, and returns
 * onCreateCommand, updateContentCommand and postCreateCommand in the order
 * they run. A string runs through /bin/sh -c, an array is an argv run
 * without a shell, and an object names several commands, each a string or
 * an array: the spec runs those in parallel, handoff runs them one after
 * another in the object's key order.
 */
#ifndef HANDOFF_DEVCONTAINER_H
#define HANDOFF_DEVCONTAINER_H

#include <stddef.h>

#define DEVC_FILE_MAX	(256 * 1024)	/* bytes of devcontainer.json */
#define DEVC_CMDS_MAX	64		/* commands, all stages together */
#define DEVC_ARGV_MAX	256		/* words of one array command */
#define DEVC_STR_MAX	(64 * 1024)	/* bytes of one string or word */
#define DEVC_NAME_MAX	128		/* bytes of an object command's name */

/* The lifecycle key a command came from, in the order they run. */
enum devc_stage {
	DEVC_ON_CREATE,		/* onCreateCommand */
	DEVC_UPDATE_CONTENT,	/* updateContentCommand */
	DEVC_POST_CREATE	/* postCreateCommand */
};

/* One command: exactly one of shell and argv is set. */
struct devc_cmd {
	enum devc_stage	  stage;
	char		 *name;		/* its key in an object form, or NULL */
	char		 *shell;	/* string form: /bin/sh -c shell */
	char		**argv;		/* array form: NULL-terminated argv */
	size_t		  argc;
};

/* The commands of one file, in the order they run. */
struct devc {
	char		*path;		/* the file, as devc_load found it */
	struct devc_cmd	*cmds;
	size_t		 ncmds;
};

/* Find and read the first of .devcontainer/devcontainer.json and
 * .devcontainer.json under repo_dir (the spec's lookup order; neither may be
 * or lie under a symbolic link). 1 with *out (caller frees with devc_free),
 * 0 when there is neither, -1 with the file and the reason in err. */
int devc_load(const char *repo_dir, struct devc **out, char *err,
    size_t errlen);
/* Parse len bytes of devcontainer.json; name is the file for messages and
 * path. The parsed commands (caller frees with devc_free), or NULL with the
 * reason (and line, where there is one) in err. */
struct devc *devc_parse(const char *name, const char *buf, size_t len,
    char *err, size_t errlen);
/* Free what devc_load or devc_parse returned; NULL is fine. */
void devc_free(struct devc *d);
/* The lifecycle key a stage stands for ("onCreateCommand"). */
const char *devc_stage_name(enum devc_stage stage);
/* The commands of d as stable text for a cache key: every stage, name,
 * form and word, length-prefixed, so comments, whitespace and formatting of
 * the file do not change it and any change to a command does. Caller
 * frees. */
char *devc_key_text(const struct devc *d);

#endif
