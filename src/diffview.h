/*
 * A job's change on its status page: the diff from its base to its head
 * commit, read from the repository's mirror with libgit2 on a reader
 * thread, file by file, paged so that a huge change is never held whole.
 */
#ifndef HANDOFF_DIFFVIEW_H
#define HANDOFF_DIFFVIEW_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

/* A page holds at most this many files, and this much patch text (a file
 * that starts a page and is larger is cut there). */
#define DIFFVIEW_PAGE_FILES	100
#define DIFFVIEW_PAGE_BYTES	(1024 * 1024)
/* A file whose old or new blob is larger is named, not read. */
#define DIFFVIEW_BLOB_MAX	(16 * 1024 * 1024)

/* What to show: the change from base to head (hex commit ids) in the
 * mirror of clone_url under data_dir, page (from 1) of it, with links to
 * the pages around it as href?diff=K. */
struct diffview_req {
	const char	*data_dir, *clone_url, *base, *head, *href;
	long long	 page;
};

/* Append to b the page's files, each a <div class="file"> whose <pre>
 * lines are <span class="add|del|ctx|hunk">, escaped, binary files named
 * only, and the links to the other pages. Returns 0, or -1 with the reason
 * in err (no mirror, a commit not in it). */
int diffview_render(struct evbuffer *b, const struct diffview_req *dr,
    char *err, size_t errlen);

#endif
