/*
 * Retention: `handoff gc`, which serve also runs every [store] gc_interval.
 */
#ifndef HANDOFF_GC_H
#define HANDOFF_GC_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* What one run removed. */
struct gc_result {
	int64_t		 jobs, deliveries;
	uint64_t	 bytes;		/* of the jobs' files */
	int		 trees, layers;	/* base trees, set-up layers */
	size_t		 packs, mirrors;	/* packs replaced, in mirrors */
};

/* Remove finished jobs past [store] keep (none when 0) with their files
 * and old deliveries, prune base trees and set-up layers, and pack the
 * mirrors that have many packs. Returns 0, or -1 with err (what was
 * removed before is in res). */
int gc_run(const struct config *cfg, struct gc_result *res, char *err,
    size_t errlen);
/* res as one line of text. */
void gc_describe(const struct gc_result *res, char *buf, size_t len);
/* `handoff gc [--log]`: run it, then say what it removed on stdout (with
 * --log, in the log). */
int gc_main(const struct config *cfg, int argc, char **argv);

#endif
