/*
 * A repository's bare mirror under data_dir/mirrors, with libgit2: fetched
 * incrementally from its origin, the source of base trees and harvests,
 * pushed back to the origin, exported to a local repository.
 */
#ifndef HANDOFF_MIRROR_H
#define HANDOFF_MIRROR_H

#include <stdbool.h>
#include <stddef.h>

#define MIRROR_OID_HEX	40

struct mirror;
struct git_repository;

/* The one place fetch and push get git credentials from: user, and token,
 * asked just before each fetch and push (NULL token: none to give). token
 * returns NULL with the reason in err; what it returns is never logged nor
 * put in a URL or an error. */
struct mirror_credentials {
	const char	*user;
	const char	*(*token)(void *arg, char *err, size_t errlen);
	void		*arg;
};

/* Open (creating if needed) the mirror of url under data_dir and fetch it
 * incrementally. url may be a local path or a file://, http:// or https://
 * URL; creds (NULL for none; copied, its arg must outlive the mirror)
 * answer an HTTP server's request for credentials, never in the URL.
 * Returns NULL with the reason in err. Caller frees with mirror_close. */
struct mirror *mirror_open(const char *data_dir, const char *url,
    const struct mirror_credentials *creds, char *err, size_t errlen);
/* Where the mirror of url is under data_dir (it may not exist yet), for
 * readers that only look: they open it themselves and never fetch. Caller
 * frees. */
char *mirror_path(const char *data_dir, const char *url);
/* Free the mirror's handle (the mirror stays on disk). NULL is fine. */
void mirror_close(struct mirror *m);
/* The mirror's object directory (bound read-only into sandboxes); valid
 * until mirror_close. */
const char *mirror_objects_dir(const struct mirror *m);
/* The mirror's libgit2 repository, for the modules that read and write
 * its objects; owned by the mirror. */
struct git_repository *mirror_repo(struct mirror *m);

/* The commit a ref name ("main", "refs/heads/x", "HEAD" for the remote's
 * HEAD) or a hex id names, as hex into out (MIRROR_OID_HEX + 1 bytes).
 * Returns 0, or -1 when it names no commit here. */
int mirror_resolve(struct mirror *m, const char *name, char *out);

/* Copy branch (at commit) from the mirror into the repository at dir as
 * refs/heads/branch, fast-forward only. Returns 0 or -1 with err. */
int mirror_export(struct mirror *m, const char *branch, const char *commit,
    const char *dir, char *err, size_t errlen);

/* Push refs/heads/branch of the mirror to its origin as refs/heads/branch,
 * fast-forward only, with the mirror's credentials (never in the URL). A
 * rejection fails with the remote's reason, also in why (for people: no
 * URL); why is "" for other failures. */
int mirror_push(struct mirror *m, const char *branch, char *why,
    size_t whylen, char *err, size_t errlen);

/* Pack every object of the mirror at path (a mirror_path) into one pack
 * when it has more than max_packs, under the lock its fetches take (a
 * mirror being fetched is left for next time); the old packs are removed
 * once the new one is written. *removed: how many. Returns 0 (also when
 * there was nothing to do) or -1 with err. */
int mirror_repack(const char *path, size_t max_packs, size_t *removed,
    char *err, size_t errlen);

/* Put what was being done (printf-style) and libgit2's last error into
 * err; returns -1. */
int mirror_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
