/*
 * The copy of an overlayfs upper directory, written by untrusted code, into
 * a read-only layer another overlay can stand on: never through a link,
 * whiteouts and opaque directories kept, devices and special bits left out.
 */
#ifndef HANDOFF_LAYERCOPY_H
#define HANDOFF_LAYERCOPY_H

#include <stddef.h>
#include <stdint.h>

/* How deep a tree layercopy copies; a deeper one fails. Each level holds
 * two descriptors open while it is copied. */
#define LAYERCOPY_MAX_DEPTH	512

/* Copy the overlayfs upper directory from into the new directory to
 * (made 0755; its parent exists), leaving out the top-level entries named in
 * skip (NULL-terminated, e.g. ".git"). Keeps: regular files (contents, mode
 * without setuid/setgid, mtime), directories, symlinks (the link text, not
 * followed), hard links within the tree (as links again), owners when
 * running as root, overlayfs whiteouts (character devices 0/0, as
 * whiteouts again) and opaque directories (the "<prefix>overlay.opaque"
 * attribute: prefix "trusted." as root, "user." otherwise, since overlayfs in
 * a user namespace uses userxattr). Anything else (devices, fifos, sockets,
 * other extended attributes, file capabilities among them) is left out.
 * *bytes: the regular files' contents; *files: the entries made below to
 * (files, links, symlinks, whiteouts and directories). 0, or -1 with the
 * reason in err (to may then hold part of the copy: the caller removes it). */
int layercopy(const char *from, const char *to, const char *const *skip,
    uint64_t *bytes, uint64_t *files, char *err, size_t errlen);

#endif
