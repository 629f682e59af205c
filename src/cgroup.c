/*
 * The sandbox's cgroups: memory and pids limits where the machine gives
 * them (v1 memory and pids hierarchies, or one v2 group with both
 * controllers); their counters (an OOM kill, the pids limit hit); killing
 * what is left in them; and the groups a crashed handoff left behind.
 * Jobs' groups go under a "handoff" group (made by root, or made and given
 * to handoff's user by the operator), or, for an unprivileged handoff,
 * under the group it was started in when that is its own (systemd's
 * Delegate=yes). Where there are none, sandbox.c uses rlimits.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cgroup.h"
#include "log.h"
#include "util.h"

/* HANDOFF_CGROUP_ROOT names another cgroup mount (tests use a missing one
 * to see handoff refuse to run without the limits it needs). */
#define CG_ROOT		"/sys/fs/cgroup"
#define CG_PARENT	"handoff"
/* On v2, serve moves itself into this leaf of a delegated group, which may
 * then enable controllers for its jobs' groups beside it. */
#define CG_LEAF		"serve"

static int
write_text(const char *path, const char *text)
{
	return util_write_file(path, text, strlen(text), 0644);
}

static long long
read_key(const char *path, const char *key)
{
	char *text = util_read_file(path, 65536, NULL), *p;
	long long v = -1;
	size_t klen = strlen(key);

	if (text == NULL)
		return -1;
	for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			v = strtoll(p + klen + 1, NULL, 10);
			break;
		}
	}
	free(text);
	return v;
}

static const char *
root_dir(void)
{
	const char *root = getenv("HANDOFF_CGROUP_ROOT");

	return root && *root ? root : CG_ROOT;
}

static bool
is_v2_only(void)
{
	struct stat sb;

	char *path = xasprintf("%s/cgroup.controllers", root_dir());
	bool yes = stat(path, &sb) == 0;

	free(path);
	return yes;
}

/* The cgroup this process is in: v1 controller's, or (controller NULL)
 * the v2 one, from /proc/self/cgroup. Caller frees; NULL if none. */
static char *
own_cgroup(const char *controller)
{
	char *text = util_read_file("/proc/self/cgroup", 65536, NULL);
	char *line, *next, *ctls, *path, *c, *found = NULL;

	for (line = text; line && *line && found == NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		/* "ID:CONTROLLERS:PATH" */
		if ((ctls = strchr(line, ':')) == NULL ||
		    (path = strchr(++ctls, ':')) == NULL)
			continue;
		*path++ = '\0';
		if (controller == NULL) {
			if (strcmp(line, "0:") == 0 && *ctls == '\0')
				found = xstrdup(path);
			continue;
		}
		for (c = strtok(ctls, ","); c && found == NULL;
		    c = strtok(NULL, ","))
			if (strcmp(c, controller) == 0)
				found = xstrdup(path);
	}
	free(text);
	return found;
}

/* Whether a v2 group lets its children have memory and pids limits. */
static bool
has_controllers(const char *dir)
{
	char *path = xasprintf("%s/cgroup.subtree_control", dir);
	char *text = util_read_file(path, 4096, NULL);
	bool yes = text && strstr(text, "memory") && strstr(text, "pids");

	free(text);
	free(path);
	return yes;
}

/*
 * Where this handoff's jobs get their groups in the hierarchy at hier
 * (a v1 controller's, or with controller NULL the v2 one), or NULL. As
 * root: hier/handoff, made if missing. Otherwise hier/handoff when it is
 * ours to write, else the group handoff was started in when it is ours (on
 * v2 its parent, once serve has moved itself into the CG_LEAF of it, for a
 * group with processes cannot enable controllers for its children).
 * Caller frees.
 */
static char *
parent_dir(const char *hier, const char *controller)
{
	char *dir = xasprintf("%s/" CG_PARENT, hier), *own, *slash;
	struct stat sb;

	if (geteuid() == 0) {
		if (stat(hier, &sb) == 0 && (mkdir(dir, 0755) == 0 ||
		    errno == EEXIST))
			return dir;
		free(dir);
		return NULL;
	}
	if (access(dir, W_OK) == 0)
		return dir;
	free(dir);
	if ((own = own_cgroup(controller)) == NULL || strcmp(own, "/") == 0) {
		free(own);
		return NULL;
	}
	dir = xasprintf("%s%s", hier, own);
	free(own);
	if (controller == NULL) {
		if ((slash = strrchr(dir, '/')) == NULL ||
		    strcmp(slash + 1, CG_LEAF) != 0) {
			free(dir);
			return NULL;
		}
		*slash = '\0';
		if (!has_controllers(dir)) {
			free(dir);
			return NULL;
		}
	}
	if (access(dir, W_OK) == 0)
		return dir;
	free(dir);
	return NULL;
}

void
cgroup_delegate_serve(void)
{
	char *own, *dir = NULL, *leaf = NULL, *path = NULL, pid[24];

	/* v1 has no rule against processes beside child groups, and root
	 * uses a group of its own. */
	if (geteuid() == 0 || !is_v2_only() || (own = own_cgroup(NULL)) ==
	    NULL)
		return;
	dir = xasprintf("%s%s", root_dir(), own);
	free(own);
	leaf = xasprintf("%s/" CG_LEAF, dir);
	path = xasprintf("%s/cgroup.subtree_control", dir);
	if (strcmp(dir, root_dir()) == 0 || access(path, W_OK) == -1)
		goto out;	/* not delegated to us */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	free(path);
	path = xasprintf("%s/cgroup.procs", leaf);
	if ((mkdir(leaf, 0755) == -1 && errno != EEXIST) ||
	    write_text(path, pid) == -1) {
		log_warn("serve: cgroup %s: %s; the jobs' limits are rlimits",
		    leaf, strerror(errno));
		goto out;
	}
	free(path);
	path = xasprintf("%s/cgroup.subtree_control", dir);
	if (write_text(path, "+memory +pids") == -1)
		log_warn("serve: enable memory and pids in %s: %s; the jobs'"
		    " limits are rlimits", dir, strerror(errno));
	else
		log_info("serve: jobs' cgroups go in %s (delegated)", dir);
out:
	free(path);
	free(leaf);
	free(dir);
}

/* sig to every process in the group at dir. */
static void
signal_dir(const char *dir, int sig)
{
	char *path = xasprintf("%s/cgroup.procs", dir);
	char *text = util_read_file(path, 1 << 20, NULL), *p, *end;
	long pid;

	for (p = text; p && *p; p = end) {
		pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 1)
			kill((pid_t)pid, sig);
		while (*end == '\n')
			end++;
	}
	free(text);
	free(path);
}

void
cgroup_signal(const struct cgroup *cg, int sig)
{
	if (cg->pids || cg->memory)
		signal_dir(cg->pids ? cg->pids : cg->memory, sig);
}

/* Kill what is left and remove the group; the kernel refuses rmdir while a
 * dying process is still in it, so try for a moment. */
static void
remove_cgroup(const char *dir)
{
	int i;

	for (i = 0; i < 50; i++) {
		signal_dir(dir, SIGKILL);
		if (rmdir(dir) == 0 || errno == ENOENT)
			return;
		usleep(20000);
	}
	log_warn("sandbox: could not remove cgroup %s: %s", dir,
	    strerror(errno));
}

/* A new group name under hier's parent (parent_dir), a leftover of the
 * same name removed first; NULL when there is no parent for us. */
static char *
make_group(const char *hier, const char *controller, const char *name)
{
	char *parent = parent_dir(hier, controller), *dir;

	if (parent == NULL)
		return NULL;
	dir = xasprintf("%s/%s", parent, name);
	free(parent);
	remove_cgroup(dir);	/* a leftover of a crashed run */
	if (mkdir(dir, 0755) == -1) {
		free(dir);
		return NULL;
	}
	return dir;
}

void
cgroup_free(struct cgroup *cg)
{
	if (cg->memory)
		remove_cgroup(cg->memory);
	if (cg->pids && (!cg->is_v2 || cg->pids != cg->memory))
		remove_cgroup(cg->pids);
	if (cg->pids != cg->memory)
		free(cg->pids);
	free(cg->memory);
	memset(cg, 0, sizeof(*cg));
}

static int
set_limit(const char *dir, const char *file, uint64_t value, char *err,
    size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, file), num[32];
	int rc;

	snprintf(num, sizeof(num), "%llu", (unsigned long long)value);
	if ((rc = write_text(path, num)) == -1)
		snprintf(err, errlen, "sandbox: set %s: %s", path,
		    strerror(errno));
	free(path);
	return rc;
}

/* Groups where the machine gives them (v1 memory and pids, or v2 with both
 * controllers); whatever is missing falls back to rlimits. */
int
cgroup_setup(struct cgroup *cg, const char *name, uint64_t memory_bytes,
    int pids, char *err, size_t errlen)
{
	char *path;
	struct stat st;

	memset(cg, 0, sizeof(*cg));
	if (is_v2_only()) {
		/* v2: one group with both controllers, enabled for our
		 * parent's children; without them, rlimits instead. */
		if ((cg->memory = make_group(root_dir(), NULL, name)) == NULL)
			return 0;
		if (geteuid() == 0) {
			path = xasprintf("%s/" CG_PARENT
			    "/cgroup.subtree_control", root_dir());
			write_text(path, "+memory +pids");
			free(path);
		}
		path = xasprintf("%s/pids.max", cg->memory);
		if (stat(path, &st) == -1) {
			free(path);
			remove_cgroup(cg->memory);
			free(cg->memory);
			cg->memory = NULL;
			return 0;
		}
		free(path);
		cg->pids = cg->memory;
		cg->is_v2 = true;
		if (set_limit(cg->memory, "memory.max", memory_bytes, err,
		    errlen) == -1 || set_limit(cg->memory, "pids.max",
		    (uint64_t)pids, err, errlen) == -1)
			return -1;
		path = xasprintf("%s/memory.swap.max", cg->memory);
		if (stat(path, &st) == 0)
			write_text(path, "0");
		free(path);
		return 0;
	}
	path = xasprintf("%s/memory", root_dir());
	cg->memory = make_group(path, "memory", name);
	free(path);
	if (cg->memory != NULL) {
		if (set_limit(cg->memory, "memory.limit_in_bytes",
		    memory_bytes, err, errlen) == -1)
			return -1;
		/* With swap accounting, swap counts too. */
		path = xasprintf("%s/memory.memsw.limit_in_bytes", cg->memory);
		if (stat(path, &st) == 0)
			set_limit(cg->memory, "memory.memsw.limit_in_bytes",
			    memory_bytes, err, errlen);
		free(path);
	}
	path = xasprintf("%s/pids", root_dir());
	cg->pids = make_group(path, "pids", name);
	free(path);
	if (cg->pids != NULL &&
	    set_limit(cg->pids, "pids.max", (uint64_t)pids, err,
	    errlen) == -1)
		return -1;
	return 0;
}

bool
cgroup_oom(const struct cgroup *cg)
{
	char *path;
	long long n;

	if (cg->memory == NULL)
		return false;
	path = xasprintf("%s/%s", cg->memory, cg->is_v2 ? "memory.events" :
	    "memory.oom_control");
	n = read_key(path, "oom_kill");
	free(path);
	return n > 0;
}

bool
cgroup_pids_hit(const struct cgroup *cg)
{
	char *path;
	long long n;

	if (cg->pids == NULL)
		return false;
	path = xasprintf("%s/pids.events", cg->pids);
	n = read_key(path, "max");
	free(path);
	return n > 0;
}

char *
cgroup_prefix(const char *data_dir)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], real[PATH_MAX];
	const char *dir = realpath(data_dir, real) ? real : data_dir;

	EVP_Digest(dir, strlen(dir), md, &mdlen, EVP_sha256(), NULL);
	util_hex(md, 4, hex);
	return xasprintf("job-%s-", hex);
}

int
cgroup_reap(const char *prefix, bool (*is_live)(int64_t job, void *arg),
    void *arg)
{
	static const char *const controllers[] = { "memory", "pids" };
	struct dirent *de;
	char *parents[3] = { NULL, NULL, NULL }, *hier;
	size_t i;
	DIR *d;
	int n = 0;

	if (is_v2_only())
		parents[0] = parent_dir(root_dir(), NULL);
	else
		for (i = 0; i < nitems(controllers); i++) {
			hier = xasprintf("%s/%s", root_dir(), controllers[i]);
			parents[i] = parent_dir(hier, controllers[i]);
			free(hier);
		}
	for (i = 0; i < nitems(parents); i++) {
		if (parents[i] == NULL || (d = opendir(parents[i])) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char *dir;
			long long job;

			if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
				continue;
			if (util_parse_int(de->d_name + strlen(prefix), 1,
			    INT64_MAX, &job) == 0 && is_live(job, arg))
				continue;
			dir = xasprintf("%s/%s", parents[i], de->d_name);
			remove_cgroup(dir);
			free(dir);
			n++;
		}
		closedir(d);
	}
	for (i = 0; i < nitems(parents); i++)
		free(parents[i]);
	return n;
}
