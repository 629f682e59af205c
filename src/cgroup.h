/*
 * The sandbox's cgroups (v1 memory and pids, or v2), created per run and
 * removed after it; see cgroup.c.
 */
#ifndef HANDOFF_CGROUP_H
#define HANDOFF_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A run's groups: directories, NULL where that limit has no cgroup here. */
struct cgroup {
	char	*memory;
	char	*pids;		/* == memory on v2 */
	bool	 is_v2;
};

/* Make name's groups (removing a leftover of the same name) with the
 * limits. What the machine lacks stays NULL (not an error); -1 with err
 * when a group exists but a limit cannot be set. */
int cgroup_setup(struct cgroup *cg, const char *name, uint64_t memory_bytes,
    int pids, char *err, size_t errlen);
/* Kill what is left in the groups, remove them, free cg's strings. */
void cgroup_free(struct cgroup *cg);
/* sig to every process in the groups. */
void cgroup_signal(const struct cgroup *cg, int sig);
/* Whether the kernel killed for memory, or refused a fork at pids.max. */
bool cgroup_oom(const struct cgroup *cg);
bool cgroup_pids_hit(const struct cgroup *cg);

/* The prefix of the group names of the handoff using data_dir
 * ("job-1a2b3c4d-"), so that two handoffs on one machine never touch each
 * other's sandboxes. Caller frees. */
char *cgroup_prefix(const char *data_dir);
/* serve, unprivileged on cgroup v2 in a group delegated to its user
 * (systemd's Delegate=yes): move into a leaf of it and enable the memory
 * and pids controllers for the jobs' groups beside that leaf. Nothing
 * otherwise; a failure is logged (the jobs then have rlimits). */
void cgroup_delegate_serve(void);
/* Remove groups whose names start with prefix, left by a crashed handoff,
 * killing what is still in them; a group whose job (the number after the
 * prefix) is_live says a runner still runs is left alone. Returns how many. */
int cgroup_reap(const char *prefix, bool (*is_live)(int64_t job, void *arg),
    void *arg);

#endif
