/*
 * A cache of read-only directory layers under data_dir, one directory per
 * kind: each layer is keyed by its content (a base tree's commit; later an
 * environment's key), built once by its kind's builder, held with a shared
 * lock while a job stands on it, and pruned least recently used.
 */
#ifndef HANDOFF_LAYERS_H
#define HANDOFF_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAYER_MAX_KEY	128

/* What a layer on disk is worth to a caller. */
enum layer_state {
	LAYER_ABSENT,	/* not there: build it */
	LAYER_STALE,	/* there but unfit: rebuilt once no job holds it */
	LAYER_CURRENT	/* use it */
};

/* One kind of layer: where its cache lives and how a layer is made. */
struct layer_kind {
	const char	*dir;	/* under data_dir, e.g. "trees" */
	/* What the layer at path is worth; arg is layer_get's. */
	enum layer_state (*state)(const char *path, void *arg);
	/* Make the layer in path (not there yet); 0, or -1 with err. */
	int		(*build)(const char *path, void *arg, char *err,
			    size_t errlen);
};

/* The layer key (letters, digits, '.', '_' and '-', not leading '.') of
 * kind under data_dir, built when absent or stale by one process (the
 * others asking meanwhile wait for it, then use it), at
 * data_dir/kind->dir/key into *path (caller frees). *lockfd: a shared lock
 * that keeps it from being pruned while the caller uses it (caller closes;
 * set, and to be closed, even on failure once taken). *built (NULL: not
 * wanted): whether this call built it. Returns 0, or -1 with the reason in
 * err. */
int layer_get(const char *data_dir, const struct layer_kind *kind,
    const char *key, void *arg, char **path, int *lockfd, bool *built,
    char *err, size_t errlen);

/* Remove the layers of kind beyond the keep most recently used, except
 * those a job holds. Returns how many were removed. */
int layer_prune(const char *data_dir, const struct layer_kind *kind,
    int keep);

/* Remove the least recently used layers of kind, except those a job
 * holds, until the rest take at most max_bytes of disk (st_blocks, links
 * not followed, hard links once). Returns how many were removed. */
int layer_prune_bytes(const char *data_dir, const struct layer_kind *kind,
    uint64_t max_bytes);

#endif
