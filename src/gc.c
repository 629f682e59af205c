/*
 * `handoff gc`: what months of running leave behind. Finished jobs past
 * [store] keep go (their rows, then their directories), their deliveries'
 * ids a month later, base trees and set-up layers are
 * pruned as the runners prune them, and mirrors with many packs are packed
 * into one. serve runs it as a child every [store] gc_interval.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "basetree.h"
#include "gc.h"
#include "log.h"
#include "mirror.h"
#include "run.h"
#include "store.h"
#include "util.h"

#define DAY_MS		(24LL * 3600 * 1000)
/* Jobs are kept a day at least: the day's budgets read their usage. */
#define MIN_KEEP_MS	DAY_MS
/* A delivery's id is kept this much longer than its job: the forges
 * redeliver only recent deliveries (GitHub: those of the last three
 * days), so one sent again is a duplicate still. */
#define DELIVERY_KEEP_MS (30 * DAY_MS)
#define BATCH		100	/* jobs removed in one transaction */
#define MAX_PACKS	50	/* a mirror with more is packed into one */

static uint64_t tree_bytes;

static int
add_bytes(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)path;
	(void)f;
	if (flag == FTW_F || flag == FTW_SL)
		tree_bytes += (uint64_t)sb->st_blocks * 512;
	return 0;
}

/* Remove data_dir/jobs/ID; add what it held to *bytes. */
static void
remove_job_dir(const char *data_dir, int64_t id, uint64_t *bytes)
{
	char *dir = xasprintf("%s/jobs/%lld", data_dir, (long long)id);

	tree_bytes = 0;
	if (nftw(dir, add_bytes, 16, FTW_PHYS) == 0)
		*bytes += tree_bytes;
	if (util_rmtree(dir) == -1 && errno != ENOENT)
		log_warn("gc: remove %s: %s", dir, strerror(errno));
	free(dir);
}

/* Directories of jobs the store no longer has (gc stopped between the
 * rows and the files). A job's directory is made after its row. */
static void
sweep_job_dirs(struct store *st, const char *data_dir, struct gc_result *res)
{
	char *root = xasprintf("%s/jobs", data_dir);
	enum job_state state;
	struct dirent *e;
	long long id;
	DIR *d;

	if ((d = opendir(root)) == NULL) {
		free(root);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (util_parse_int(e->d_name, 1, INT64_MAX, &id) == -1 ||
		    store_job_state(st, id, &state) != 0)
			continue;
		remove_job_dir(data_dir, id, &res->bytes);
	}
	closedir(d);
	free(root);
}

/* The finished jobs past keep: rows in batches, then each one's files. */
static int
remove_jobs(struct store *st, const struct config *cfg, int64_t now,
    struct gc_result *res, char *err, size_t errlen)
{
	int64_t keep = cfg->keep_ms < MIN_KEEP_MS ? MIN_KEEP_MS : cfg->keep_ms;
	int64_t ids[BATCH];
	size_t n, i;

	do {
		if (store_gc_remove(st, now - keep, ids, BATCH, &n) == -1)
			goto fail;
		res->jobs += (int64_t)n;
		for (i = 0; i < n; i++)
			remove_job_dir(cfg->data_dir, ids[i], &res->bytes);
	} while (n == BATCH);
	sweep_job_dirs(st, cfg->data_dir, res);
	if (store_gc_deliveries(st, now - keep - DELIVERY_KEEP_MS,
	    &res->deliveries) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "store: %s", store_error(st));
	return -1;
}

/* Pack the mirrors that have more than MAX_PACKS packs. */
static void
repack_mirrors(const char *data_dir, struct gc_result *res)
{
	char *root = xasprintf("%s/mirrors", data_dir), *path, err[1024];
	struct dirent *e;
	size_t len, removed;
	DIR *d;

	if ((d = opendir(root)) == NULL) {
		free(root);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 5 ||
		    strcmp(e->d_name + len - 4, ".git") != 0)
			continue;
		path = xasprintf("%s/%s", root, e->d_name);
		if (mirror_repack(path, MAX_PACKS, &removed, err,
		    sizeof(err)) == -1)
			log_warn("gc: %s", err);
		else if (removed > 0) {
			res->mirrors++;
			res->packs += removed;
		}
		free(path);
	}
	closedir(d);
	free(root);
}

int
gc_run(const struct config *cfg, struct gc_result *res, char *err,
    size_t errlen)
{
	struct store *st;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if ((st = store_open(cfg->data_dir, err, errlen)) == NULL)
		return -1;
	if (cfg->keep_ms > 0)
		rc = remove_jobs(st, cfg, util_now_ms(), res, err, errlen);
	store_close(st);
	res->trees = basetree_prune(cfg->data_dir, BASETREE_KEEP);
	res->layers = step_setup_prune(cfg->data_dir, cfg->setup_cache_bytes);
	repack_mirrors(cfg->data_dir, res);
	return rc;
}

void
gc_describe(const struct gc_result *res, char *buf, size_t len)
{
	snprintf(buf, len, "removed %lld job%s (%.1f MiB of files), %lld "
	    "deliver%s, %d base tree%s, %d set-up layer%s; %zu pack%s of %zu "
	    "mirror%s packed into one each", (long long)res->jobs,
	    res->jobs == 1 ? "" : "s", (double)res->bytes / (1 << 20),
	    (long long)res->deliveries, res->deliveries == 1 ? "y" : "ies",
	    res->trees, res->trees == 1 ? "" : "s", res->layers,
	    res->layers == 1 ? "" : "s", res->packs, res->packs == 1 ? "" :
	    "s", res->mirrors, res->mirrors == 1 ? "" : "s");
}

int
gc_main(const struct config *cfg, int argc, char **argv)
{
	struct gc_result res;
	char err[1024], line[512];
	bool is_log = argc == 1 && strcmp(argv[0], "--log") == 0;
	int rc;

	if (argc > 1 || (argc == 1 && !is_log)) {
		fprintf(stderr, "handoff: gc: unexpected argument \"%s\"\n"
		    "usage: handoff gc [--log]\n", argc > 1 && is_log ?
		    argv[1] : argv[0]);
		return 2;
	}
	if (!store_exists(cfg->data_dir)) {
		fprintf(stderr, "handoff: gc: no store in %s\n", cfg->data_dir);
		return 1;
	}
	git_libgit2_init();
	rc = gc_run(cfg, &res, err, sizeof(err));
	git_libgit2_shutdown();
	gc_describe(&res, line, sizeof(line));
	if (is_log) {
		if (rc == -1)
			log_error("gc: %s", err);
		log_info("gc: %s", line);
	} else {
		if (rc == -1)
			fprintf(stderr, "handoff: gc: %s\n", err);
		printf("%s\n", line);
	}
	return rc == -1 ? 1 : 0;
}
