/*
 * Base trees: a commit of the mirror checked out once into files and an
 * index, owned by the sandbox's user, kept in the layer cache and shared
 * read-only by every job that starts from that commit.
 */
#ifndef HANDOFF_BASETREE_H
#define HANDOFF_BASETREE_H

#include <stddef.h>

#include "mirror.h"

/* The base tree of commit (hex) under data_dir/trees, built once per
 * commit: fills *files and *index (caller frees, also on failure) and
 * *lockfd, a shared lock that keeps the tree from being pruned while the
 * job uses it (caller closes). Returns 0, or -1 with the reason in err. */
int basetree_get(struct mirror *m, const char *data_dir, const char *commit,
    char **files, char **index, int *lockfd, char *err, size_t errlen);
/* Base trees kept, beyond those in use, when pruning. */
#define BASETREE_KEEP	8

/* Remove base trees beyond the keep most recently used, except those a job
 * holds. Returns how many were removed. */
int basetree_prune(const char *data_dir, int keep);

#endif
