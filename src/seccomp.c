/*
 * The seccomp deny list of the sandbox (after Flatpak's and the notes of
 * bubblewrap's TIOCSTI fix): EPERM for what an agent never needs, ENOSYS
 * for the new mount API and clone3 (so libc falls back to clone, whose
 * flags a filter can see), EAFNOSUPPORT for socket families other than
 * unix and IP. An x32 or foreign-architecture call kills the process.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

#include "seccomp.h"
#include "util.h"

static const char *const deny_eperm[] = {
	/* debugging other processes */
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"pidfd_getfd", "perf_event_open",
	/* namespaces and mounts: bwrap has made all it needs */
	"unshare", "setns", "mount", "umount", "umount2", "pivot_root",
	"chroot",
	/* keyrings are not namespaced */
	"keyctl", "add_key", "request_key",
	/* kernel attack surface */
	"bpf", "userfaultfd", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "kexec_load", "kexec_file_load", "init_module",
	"finit_module", "delete_module", "reboot", "swapon", "swapoff",
	"syslog", "acct", "quotactl", "uselib", "modify_ldt",
	"open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "vhangup",
	"fanotify_init", "move_pages", "mbind", "set_mempolicy",
	"migrate_pages",
};

static const char *const deny_enosys[] = {
	"clone3", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
	"fspick", "mount_setattr",
};

static int
rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    unsigned ncmp, struct scmp_arg_cmp *cmp, char *err, size_t errlen)
{
	int nr = seccomp_syscall_resolve_name(name), rc;

	if (nr == __NR_SCMP_ERROR)
		return 0;	/* not a call on this architecture */
	rc = seccomp_rule_add_array(ctx, action, nr, ncmp, cmp);
	if (rc < 0) {
		snprintf(err, errlen, "seccomp filter: rule for %s: %s", name,
		    strerror(-rc));
		return -1;
	}
	return 0;
}

int
seccomp_build(bool no_memfd, char *err, size_t errlen)
{
	static const char *const memfds[] = { "memfd_create", "memfd_secret" };
	/* ioctl numbers are 32 bits: compare only those, or TIOCSTI with a
	 * high bit set would slip through (CVE-2019-10063's lesson). */
	static const unsigned long ioctls[] = { TIOCSTI, TIOCLINUX };
	static const unsigned long personas[] = { ADDR_NO_RANDOMIZE,
	    READ_IMPLIES_EXEC, ADDR_COMPAT_LAYOUT, MMAP_PAGE_ZERO };
	static const int families_ok[] = { AF_UNIX, AF_INET, AF_INET6 };
	scmp_filter_ctx ctx;
	struct scmp_arg_cmp cmp;
	size_t i;
	int fd = -1, family, rc, j;
	bool is_ok;

	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL) {
		snprintf(err, errlen, "seccomp filter: seccomp_init failed");
		return -1;
	}
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0) {
		snprintf(err, errlen, "seccomp filter: %s", strerror(-rc));
		goto fail;
	}
	for (i = 0; i < nitems(deny_eperm); i++)
		if (rule(ctx, SCMP_ACT_ERRNO(EPERM), deny_eperm[i], 0, NULL,
		    err, errlen) == -1)
			goto fail;
	for (i = 0; i < nitems(deny_enosys); i++)
		if (rule(ctx, SCMP_ACT_ERRNO(ENOSYS), deny_enosys[i], 0, NULL,
		    err, errlen) == -1)
			goto fail;
	/* Where memory is an rlimit, a memfd written to without being
	 * mapped holds memory no limit counts; programs fall back from
	 * ENOSYS as on kernels without it. */
	for (i = 0; no_memfd && i < nitems(memfds); i++)
		if (rule(ctx, SCMP_ACT_ERRNO(ENOSYS), memfds[i], 0, NULL, err,
		    errlen) == -1)
			goto fail;
	cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER);
	if (rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &cmp, err,
	    errlen) == -1)
		goto fail;
	for (i = 0; i < nitems(ioctls); i++) {
		cmp = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFul, ioctls[i]);
		if (rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &cmp, err,
		    errlen) == -1)
			goto fail;
	}
	for (i = 0; i < nitems(personas); i++) {
		cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, personas[i], personas[i]);
		if (rule(ctx, SCMP_ACT_ERRNO(EPERM), "personality", 1, &cmp,
		    err, errlen) == -1)
			goto fail;
	}
	/* socket(): families up to AF_INET6 one by one, above it at once. */
	for (family = 0; family < AF_INET6; family++) {
		is_ok = false;
		for (j = 0; j < (int)nitems(families_ok); j++)
			is_ok |= families_ok[j] == family;
		if (is_ok)
			continue;
		cmp = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)family);
		if (rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &cmp,
		    err, errlen) == -1)
			goto fail;
	}
	cmp = SCMP_A0(SCMP_CMP_GT, (scmp_datum_t)AF_INET6);
	if (rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &cmp, err,
	    errlen) == -1)
		goto fail;

	if ((fd = memfd_create("handoff-seccomp", MFD_CLOEXEC)) == -1) {
		snprintf(err, errlen, "seccomp filter: memfd: %s",
		    strerror(errno));
		goto fail;
	}
	if ((rc = seccomp_export_bpf(ctx, fd)) < 0 ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(err, errlen, "seccomp filter: export: %s",
		    strerror(rc < 0 ? -rc : errno));
		goto fail;
	}
	seccomp_release(ctx);
	return fd;
fail:
	if (fd != -1)
		close(fd);
	seccomp_release(ctx);
	return -1;
}
