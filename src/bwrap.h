/*
 * bubblewrap's command line for a sandbox: its flags, which travel on a
 * memfd (--args), and the stage, the host paths its binds come from.
 */
#ifndef HANDOFF_BWRAP_H
#define HANDOFF_BWRAP_H

#include <stdbool.h>
#include <stddef.h>

struct sandbox;

/*
 * Where the launcher gathers what bwrap binds, in a mount namespace of its
 * own (a fresh tmpfs over /tmp there): bwrap runs as the sandbox's user,
 * who may not reach data_dir by path. Entries are numbered directories or
 * files, BWRAP_STAGE/0, BWRAP_STAGE/1, ...
 */
#define BWRAP_STAGE	"/tmp/handoff-sandbox"

struct bwrap_stage {
	const char	**src;		/* host paths (owned) */
	bool		 *is_file;
	bool		 *follow;	/* the operator's paths may be links */
	size_t		  n;
};

/* bwrap's flags, each NUL-terminated, as --args reads them. */
struct bwrap_args {
	char	*buf;
	size_t	 len;
};

/* Append the flags that make sb's sandbox to a (caller frees a->buf), the
 * host paths they bind to st. */
void bwrap_build(const struct sandbox *sb, struct bwrap_args *a,
    struct bwrap_stage *st);

/* Add src to st; returns the path bwrap binds it from (caller frees). */
char *bwrap_stage_add(struct bwrap_stage *st, const char *src, bool is_file,
    bool follow);

/* Free what st holds. */
void bwrap_stage_free(struct bwrap_stage *st);

/* A memfd holding a's flags, rewound, for --args (caller closes), or -1
 * with errno set. */
int bwrap_args_fd(const struct bwrap_args *a);

#endif
