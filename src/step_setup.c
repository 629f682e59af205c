/*
 * The set-up step: the repository's dependencies installed before the
 * agent runs, by devcontainer.json's lifecycle commands ([setup]
 * from_repo) or [setup] command, in the job's sandbox with set-up's own
 * network, hosts, variables and time limit. What it writes in the
 * workspace and in $HOME becomes a read-only layer, data_dir/setup/KEY
 * (workspace/ and home/), keyed by setup_key(): the first job with a key
 * builds it (others needing it meanwhile wait for that build), later ones
 * stand on it and run only the update command. The agent writes above it;
 * collect never sees it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "layercopy.h"
#include "layers.h"
#include "run.h"
#include "sandbox.h"
#include "util.h"

#define SETUP_DIR	"setup"		/* the layers, under data_dir */
#define SCRIPT		"handoff/setup.sh"
#define EXCLUDE		"seed/.git/info/exclude"
#define MAX_EXCLUDE	1000	/* set-up's paths kept out of git's view */
#define MAX_DEPTH	16	/* how deep they are looked for */

static enum layer_state	layer_state(const char *, void *);
static int		layer_build(const char *, void *, char *, size_t);

static const struct layer_kind setup_layers = { SETUP_DIR, layer_state,
    layer_build };

int
step_setup_prune(const char *data_dir, uint64_t max_bytes)
{
	return layer_prune_bytes(data_dir, &setup_layers, max_bytes);
}

/* Made whole (the rename is last), and for this handoff's sandbox user. */
static enum layer_state
layer_state(const char *path, void *arg)
{
	struct stat sb;
	char *p = xasprintf("%s/home", path);
	enum layer_state st = LAYER_ABSENT;

	(void)arg;
	if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
		st = sb.st_uid == sandbox_host_uid() ? LAYER_CURRENT :
		    LAYER_STALE;
	free(p);
	return st;
}

/* Whether the job starts from the repository's own commits: the default
 * branch's head or a commit it holds (a local run: its repository's
 * HEAD). A base with commits only handoff's branch has holds what an
 * agent wrote (package.json's scripts, a devcontainer.json), and set-up
 * must not run that with more than the agent has. */
static bool
base_is_own(struct run *r)
{
	char def[MIRROR_OID_HEX + 1];
	git_oid head, base;

	if (r->job.forge == FORGE_LOCAL)
		return true;
	if (r->job.default_branch == NULL ||
	    mirror_resolve(r->mirror, r->job.default_branch, def) == -1 ||
	    git_oid_fromstr(&head, def) < 0 ||
	    git_oid_fromstr(&base, r->base) < 0)
		return false;
	return git_oid_equal(&head, &base) ||
	    git_graph_descendant_of(mirror_repo(r->mirror), &head, &base) == 1;
}

int
step_setup_ready(struct run *r)
{
	char err[1024];
	int rc;

	devc_free(r->setup.devc);
	memset(&r->setup, 0, sizeof(r->setup));
	if (r->cfg->setup_from_repo) {
		rc = devc_load(r->files, &r->setup.devc, err, sizeof(err));
		if (rc == -1) {
			/* The repository's own file: its people are told. */
			run_fail(r, "setup: %s", err);
			r->public = xasprintf("set-up: %s", err +
			    (strncmp(err, r->files, strlen(r->files)) == 0 ?
			    strlen(r->files) + 1 : 0));
			return -1;
		}
		if (rc == 1 && !setup_has_commands(&r->setup, false)) {
			devc_free(r->setup.devc);
			r->setup.devc = NULL;
		}
	}
	if (r->setup.devc == NULL)
		r->setup.command = r->cfg->setup_command;
	if (!setup_has_commands(&r->setup, false))
		return 1;
	if (!base_is_own(r))
		r->setup.branch = r->job.branch;
	return 0;
}

/* The variables set-up gets: the sandbox's, [setup] env (not on the
 * agent's commits), the proxy's. */
static char **
setup_env(const struct run *r, bool proxy, size_t *n)
{
	char **env = step_sandbox_env(RUN_BRIDGE_VARS + r->cfg->setup_env.n,
	    n);
	const char *v;
	size_t i;

	env[(*n)++] = xasprintf("HANDOFF_JOB=%lld", (long long)r->job.id);
	for (i = 0; r->setup.branch == NULL && i < r->cfg->setup_env.n; i++)
		if ((v = getenv(r->cfg->setup_env.v[i])) != NULL)
			env[(*n)++] = xasprintf("%s=%s", r->cfg->setup_env.v[i],
			    v);
	if (proxy)
		step_sandbox_proxy_env(env, n);
	return env;
}

void
step_setup_layers(struct run *r, struct sandbox *sb, const char **layers,
    const char **home_layers)
{
	if (r->setup_layer == NULL)
		return;
	for (size_t i = 0; i < nitems(r->setup_dirs); i++)
		free(r->setup_dirs[i]);
	r->setup_dirs[0] = xasprintf("%s/" JOBFS_SETUP, r->fs.mnt);
	r->setup_dirs[1] = xasprintf("%s/workspace", r->setup_layer);
	r->setup_dirs[2] = xasprintf("%s/" JOBFS_SETUP_HOME, r->fs.mnt);
	r->setup_dirs[3] = xasprintf("%s/home", r->setup_layer);
	layers[0] = r->setup_dirs[0];	/* the update's, over the layer */
	layers[1] = r->setup_dirs[1];
	layers[2] = NULL;
	home_layers[0] = r->setup_dirs[2];
	home_layers[1] = r->setup_dirs[3];
	home_layers[2] = NULL;
	sb->layers = layers;
	sb->home_layers = home_layers;
	sb->home_merged = run_path(r, "homemerged");
}

/* A fresh job filesystem (the last one, if any, goes). */
static int
new_fs(struct run *r)
{
	char err[512];

	jobfs_stop(&r->fs);
	if (jobfs_start(&r->fs, r->dir, r->cfg->disk_bytes, false, err,
	    sizeof(err)) == -1)
		return run_fail(r, "setup: %s", err);
	return 0;
}

/* data_dir/jobs/N/name with text, for the sandbox to read. */
static int
write_handoff_file(struct run *r, const char *name, const char *text)
{
	char *path = run_path(r, name);
	int rc = 0;

	if (util_write_file(path, text, strlen(text), 0644) == -1)
		rc = run_fail(r, "setup: write %s: %s", path, strerror(errno));
	free(path);
	return rc;
}

/* text with the value of each [setup] env variable replaced by its name:
 * set-up's secrets never reach the forge or the store through what it
 * printed. Caller frees. */
static char *
redact(const struct run *r, const char *text)
{
	char *out = xstrdup(text), *hit, *next;
	const char *name, *v;
	size_t i, n, from;

	for (i = 0; i < r->cfg->setup_env.n; i++) {
		name = r->cfg->setup_env.v[i];
		if ((v = getenv(name)) == NULL || (n = strlen(v)) == 0)
			continue;
		/* Past each replacement: a name may hold the value. */
		for (from = 0; (hit = strstr(out + from, v)) != NULL;) {
			next = xasprintf("%.*s<%s>%s", (int)(hit - out), out,
			    name, hit + n);
			from = (size_t)(hit - out) + strlen(name) + 2;
			free(out);
			out = next;
		}
	}
	return out;
}

/* Set-up's run ended badly: the people on the issue are told how and
 * what it printed last, without set-up's variables. */
static int
fail_setup(struct run *r, const struct sandbox_result *res)
{
	char *why = xasprintf("set-up %s%s", res->how == SB_EXITED ?
	    "failed: " : "was stopped: ", res->reason);
	char *tail = redact(r, res->tail);

	run_fail(r, "%s; its output ends:\n%s", why, tail);
	r->public = why;
	free(r->output);
	r->output = tail;
	return -1;
}

/* Run script in the sandbox, writing to the job's filesystem's set-up
 * directories, over layer (or NULL). 0, or -1 with the job failed. */
static int
run_script(struct run *r, const char *script, const char *layer)
{
	struct sandbox sb;
	struct run_bridge rb;
	struct sandbox_result res;
	const char *layers[2], *home_layers[2];
	char err[1024], *argv[] = { "/bin/sh", "/" SCRIPT, NULL };
	char *path = run_path(r, SCRIPT), **env, *dirs[2] = { NULL, NULL };
	size_t nenv;
	int rc;

	/* The script, and summary.md's mount point (task writes it). */
	if (write_handoff_file(r, SCRIPT, script) == -1 ||
	    write_handoff_file(r, "handoff/summary.md", "") == -1) {
		free(path);
		return -1;
	}
	if (step_net_start_setup(r, r->setup.branch == NULL) == -1) {
		unlink(path);
		free(path);
		return -1;
	}
	step_sandbox_base(r, &sb);
	sb.upper = JOBFS_SETUP;
	sb.home = JOBFS_SETUP_HOME;
	if (layer != NULL) {
		layers[0] = dirs[0] = xasprintf("%s/workspace", layer);
		home_layers[0] = dirs[1] = xasprintf("%s/home", layer);
		layers[1] = home_layers[1] = NULL;
		sb.layers = layers;
		sb.home_layers = home_layers;
		sb.home_merged = run_path(r, "homemerged");
	}
	sb.timeout_ms = r->cfg->setup_timeout_ms;
	sb.extra_ro = &r->cfg->extra_ro;
	sb.root = r->cfg->sandbox_root;
	sb.share_net = (r->setup.branch ? r->cfg->network :
	    r->cfg->setup_network) == NET_HOST;
	sb.argv = argv;
	step_sandbox_bridge(r, &rb);
	if (r->proxy.pid) {
		sb.bridge = rb.b;
		sb.nbridge = 1;
	}
	sb.env = env = setup_env(r, r->proxy.pid != 0, &nenv);
	rc = sandbox_run(&sb, &res, err, sizeof(err));
	step_sandbox_env_free(env, nenv);
	step_sandbox_bridge_free(&rb);
	step_sandbox_free(&sb);
	free(dirs[0]);
	free(dirs[1]);
	step_net_stop(r);
	unlink(path);
	free(path);
	if (rc == -1)
		return run_fail(r, "setup: %s", err);
	if (job_state_is_over(r->state))
		return -1;	/* the proxy stopped, say */
	if (res.how == SB_CANCELLED)
		return run_interrupted ? -1 : run_cancel(r, "cancelled");
	if (res.how != SB_EXITED || res.status != 0)
		return fail_setup(r, &res);
	return 0;
}

/* What the builder saw, for the step's line. */
struct build {
	struct run	*r;
	uint64_t	 bytes, files;
	bool		 did_build;
};

/* As root, the layer's top directories are the sandbox's user's, as the
 * job's filesystem's were. */
static int
give_layer(const char *path, char *err, size_t errlen)
{
	static const char *const tops[] = { "", "/workspace", "/home" };
	char *p;
	size_t i;
	int rc = 0;

	for (i = 0; i < nitems(tops) && rc == 0; i++) {
		p = xasprintf("%s%s", path, tops[i]);
		if ((rc = lchown(p, sandbox_host_uid(), sandbox_host_gid())) ==
		    -1)
			snprintf(err, errlen, "chown %s: %s", p,
			    strerror(errno));
		free(p);
	}
	return rc;
}

/* Run every command on a new filesystem, then copy what they wrote into
 * path, without the workspace's .git (the job's own is a layer of its
 * own). */
static int
layer_build(const char *path, void *arg, char *err, size_t errlen)
{
	static const char *const skip[] = { ".git", NULL };
	static const char *const none[] = { NULL };
	struct build *b = arg;
	struct run *r = b->r;
	char *script = setup_script(&r->setup, false), *from, *to;
	uint64_t bytes = 0, files = 0;
	int rc = -1;

	b->did_build = true;
	if (new_fs(r) == -1) {
		snprintf(err, errlen, "%s", r->error);
		goto out;
	}
	run_log(r, "setup: building the layer");
	if (run_script(r, script, NULL) == -1) {
		snprintf(err, errlen, "%s", r->error ? r->error : "failed");
		goto out;
	}
	if (mkdir(path, 0755) == -1) {
		snprintf(err, errlen, "create %s: %s", path, strerror(errno));
		goto out;
	}
	/* The holder's view of the job's filesystem. */
	from = xasprintf("/proc/%ld/root%s/" JOBFS_SETUP, (long)r->fs.holder,
	    r->fs.mnt);
	to = xasprintf("%s/workspace", path);
	rc = layercopy(from, to, skip, &b->bytes, &b->files, err, errlen);
	free(from);
	free(to);
	if (rc == 0) {
		from = xasprintf("/proc/%ld/root%s/" JOBFS_SETUP_HOME,
		    (long)r->fs.holder, r->fs.mnt);
		to = xasprintf("%s/home", path);
		rc = layercopy(from, to, none, &bytes, &files, err, errlen);
		b->bytes += bytes;
		b->files += files;
		free(from);
		free(to);
	}
	if (rc == 0 && geteuid() == 0)
		rc = give_layer(path, err, errlen);
out:
	free(script);
	return rc;
}

/* A name as a gitignore pattern that matches it alone, appended to *out;
 * false for a name no pattern can hold. */
static bool
add_pattern(char **out, const char *rel, const char *name, bool is_dir)
{
	char *pat = xasprintf("/%s%s%s", rel, *rel ? "/" : "", name), *q, *p;
	size_t n = 0;

	if (strpbrk(pat, "\n\r") != NULL) {
		free(pat);
		return false;
	}
	q = xcalloc(2 * strlen(pat) + 3, 1);
	for (p = pat; *p; p++) {
		if (strchr("*?[\\!# ", *p) != NULL)
			q[n++] = '\\';
		q[n++] = *p;
	}
	if (is_dir)
		q[n++] = '/';
	p = xasprintf("%s%s\n", *out, q);
	free(*out);
	*out = p;
	free(q);
	free(pat);
	return true;
}

/* The paths under layer/rel that the base tree does not have, as
 * patterns; directories both have are looked into. */
static void
new_paths(const char *layer, const char *base, const char *rel, int depth,
    char **out, size_t *n)
{
	char *dir = xasprintf("%s/%s", layer, rel), *sub, *there;
	struct stat lsb, bsb;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(dir);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL && *n < MAX_EXCLUDE) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (*rel == '\0' && !strcmp(de->d_name, ".git")) ||
		    fstatat(dirfd(d), de->d_name, &lsb,
		    AT_SYMLINK_NOFOLLOW) == -1 ||
		    (S_ISCHR(lsb.st_mode) && lsb.st_rdev == 0))
			continue;	/* a whiteout: nothing there */
		sub = xasprintf("%s%s%s", rel, *rel ? "/" : "", de->d_name);
		there = xasprintf("%s/%s", base, sub);
		if (lstat(there, &bsb) == -1) {
			if (add_pattern(out, rel, de->d_name,
			    S_ISDIR(lsb.st_mode)))
				(*n)++;
		} else if (S_ISDIR(lsb.st_mode) && S_ISDIR(bsb.st_mode) &&
		    depth < MAX_DEPTH)
			new_paths(layer, base, sub, depth + 1, out, n);
		free(there);
		free(sub);
	}
	closedir(d);
}

/* What set-up added to the workspace stays out of git's view in the
 * sandbox (the job's .git excludes it): an agent's `git add -A` does not
 * take node_modules even where .gitignore does not name it. */
static int
exclude_setup_paths(struct run *r)
{
	char *text = xstrdup("# what handoff's set-up added\n"), *p;
	char *dirs[2];
	size_t n = 0, i;
	int rc = 0;

	dirs[0] = xasprintf("%s/workspace", r->setup_layer);
	dirs[1] = xasprintf("/proc/%ld/root%s/" JOBFS_SETUP,
	    (long)r->fs.holder, r->fs.mnt);
	for (i = 0; i < nitems(dirs); i++) {
		new_paths(dirs[i], r->files, "", 0, &text, &n);
		free(dirs[i]);
	}
	p = run_path(r, EXCLUDE);
	if (util_write_file(p, text, strlen(text), 0644) == -1)
		rc = run_fail(r, "setup: write %s: %s", p, strerror(errno));
	free(p);
	free(text);
	return rc;
}

int
step_setup(struct run *r)
{
	struct build b = { r, 0, 0, false };
	char key[SETUP_KEY_LEN + 1], err[1024], *script, *detail;
	int64_t start = util_now_ms();
	int rc;

	if (r->setup.branch)
		run_log(r, "setup: %s holds commits the default branch has not:"
		    " set-up runs with the agent's network and without"
		    " [setup] env, on a layer of that branch's own",
		    r->setup.branch);
	if (setup_key(&r->setup, r->cfg, r->job.clone_url,
	    mirror_repo(r->mirror), r->base, key, err, sizeof(err)) == -1)
		return run_fail(r, "%s", err);
	if (r->setup_lock > 2)
		close(r->setup_lock);
	r->setup_lock = -1;
	free(r->setup_layer);
	r->setup_layer = NULL;
	rc = layer_get(r->cfg->data_dir, &setup_layers, key, &b,
	    &r->setup_layer, &r->setup_lock, NULL, err, sizeof(err));
	if (rc == -1) {
		free(r->setup_layer);
		r->setup_layer = NULL;
		if (run_interrupted || job_state_is_over(r->state))
			return -1;	/* stopped, or set-up failed: said so */
		return run_fail(r, "setup: %s", err);
	}
	if (b.did_build) {
		/* What set-up wrote is in the layer now: a clean filesystem
		 * for the agent. */
		if (new_fs(r) == -1)
			return -1;
		layer_prune_bytes(r->cfg->data_dir, &setup_layers,
		    r->cfg->setup_cache_bytes);
		if (exclude_setup_paths(r) == -1)
			return -1;
		detail = xasprintf("layer %.12s built in %.1f s (%llu files,"
		    " %.1f MiB)", key, (double)(util_now_ms() - start) / 1000,
		    (unsigned long long)b.files, (double)b.bytes / (1 << 20));
		run_done(r, detail);
		free(detail);
		return 0;
	}
	/* Reused: a filesystem of the job's own over it, and the update. */
	if (new_fs(r) == -1)
		return -1;
	if ((script = setup_script(&r->setup, true)) != NULL) {
		run_log(r, "setup: layer %.12s reused; running"
		    " updateContentCommand", key);
		rc = run_script(r, script, r->setup_layer);
		free(script);
		if (rc == -1)
			return -1;
		detail = xasprintf("layer %.12s reused, updated in %.1f s",
		    key, (double)(util_now_ms() - start) / 1000);
	} else
		detail = xasprintf("layer %.12s reused in %.1f s", key,
		    (double)(util_now_ms() - start) / 1000);
	if (exclude_setup_paths(r) == -1) {
		free(detail);
		return -1;
	}
	run_done(r, detail);
	free(detail);
	return 0;
}
