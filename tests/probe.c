/*
 * probe: tries one operation a sandboxed agent must not be able to do, for
 * real, and says what happened. Used inside the sandbox by the scripted
 * agents of tests/agents/escape/; it refuses to run anywhere else (run as
 * root on the host, "mount" would cover a real directory).
 *
 *   probe CASE [ARGS]    prints "CASE: denied (ERRNO)" and exits 0 when the
 *                        operation failed, "CASE: ALLOWED" and exits 1 when
 *                        it worked
 *   probe list           the denial cases, one per line
 *   probe caps           the CapEff, NoNewPrivs and Seccomp lines of
 *                        /proc/self/status
 *   probe fds            open fds other than 0, 1 and 2; exits 1 if any
 *   probe pin KIND MB    tries to hold MB MiB in 1 MiB steps, as KIND:
 *                        sysv (System V segments, detached), memfd,
 *                        devshm (a file in /dev/shm) or unlinked (a file
 *                        of the workspace, unlinked, written through its
 *                        descriptor); prints "pin KIND: held N MiB" and
 *                        what stopped it
 *
 * Exit 99: not inside a sandbox, or bad usage. Built with libc only:
 *   gcc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -o probe probe.c
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>

#define MARKER		"/handoff/task.md"
#define KEYCTL_GET_KEYRING_ID_	0
#define KEY_SPEC_SESSION_KEYRING_ (-3)
#ifndef SYS_clone3
#define SYS_clone3	435
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef AF_VSOCK
#define AF_VSOCK	40
#endif

static const char *arg1, *arg2;

/* Each try_ function returns 0 when the operation worked, else an errno. */
#define RET(expr)	((expr) == -1 ? errno : 0)

/* A call that made a descriptor: close it, 0; or its errno. */
static int fdret(long fd)
{
	if (fd == -1)
		return errno;
	close((int)fd);
	return 0;
}

static const char *errname(int e)
{
	static char buf[32];
	const char *n = strerrorname_np(e);

	if (n != NULL)
		return n;
	snprintf(buf, sizeof(buf), "errno %d", e);
	return buf;
}

static int try_ptrace(void)
{
	pid_t pid;

	if (arg1 == NULL)
		return RET(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
	pid = (pid_t)atol(arg1);
	if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) == -1)
		return errno;
	waitpid(pid, NULL, __WALL);
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	return 0;
}

static int try_mount(void)
{
	mkdir("/tmp/x", 0700);
	if (mount("none", "/tmp/x", "tmpfs", 0, NULL) == -1)
		return errno;
	umount2("/tmp/x", MNT_DETACH);
	return 0;
}

static int try_umount(void) { return RET(umount2("/proc", MNT_DETACH)); }
static int try_unshare_user(void) { return RET(unshare(CLONE_NEWUSER)); }
static int try_unshare_mount(void) { return RET(unshare(CLONE_NEWNS)); }
static int try_unshare_net(void) { return RET(unshare(CLONE_NEWNET)); }

static int try_setns(void)
{
	int fd = open("/proc/1/ns/net", O_RDONLY | O_CLOEXEC), e;

	if (fd == -1)
		return errno;
	e = RET(setns(fd, CLONE_NEWNET));
	close(fd);
	return e;
}

static int try_keyctl(void)
{
	return RET(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID_,
	    KEY_SPEC_SESSION_KEYRING_, 0));
}

static int try_add_key(void)
{
	return RET(syscall(SYS_add_key, "user", "handoff-probe", "x", 1,
	    KEY_SPEC_SESSION_KEYRING_));
}

static int try_bpf(void)
{
	struct bpf_insn prog[2];
	union bpf_attr attr;

	memset(prog, 0, sizeof(prog));
	prog[0].code = BPF_ALU64 | BPF_MOV | BPF_K;	/* r0 = 0 */
	prog[0].dst_reg = BPF_REG_0;
	prog[1].code = BPF_JMP | BPF_EXIT;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uint64_t)(uintptr_t)prog;
	attr.insn_cnt = 2;
	attr.license = (uint64_t)(uintptr_t)"GPL";
	return fdret(syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)));
}

static int try_perf(void)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_SOFTWARE;
	attr.size = sizeof(attr);
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	return fdret(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
}

/* ioctl request on fd, through the raw syscall so that all 64 bits of the
 * request reach the kernel (and the seccomp filter). TIOCSTI pushes arg1
 * (probe tiocsti TEXT) or one space. */
static int tty_ioctl(int fd, unsigned long req)
{
	const char *text = arg1 != NULL && *arg1 ? arg1 : " ";
	int sub = 6;	/* TIOCL_GETSHIFTSTATE, for TIOCLINUX */

	if ((req & 0xffffffffUL) == TIOCLINUX)
		return RET(syscall(SYS_ioctl, fd, req, &sub));
	if (syscall(SYS_ioctl, fd, req, text) == -1)
		return errno;
	while (*++text)
		syscall(SYS_ioctl, fd, req, text);
	return 0;
}

/* The request on a fresh pty made the controlling tty of a new session, in a
 * child (so that the kernel's own "not your tty" check does not answer in
 * the filter's place); the child's errno comes back as its exit status. */
static int pty_ioctl(unsigned long req)
{
	int m, s, st;
	pid_t pid;
	char *name;

	if ((m = posix_openpt(O_RDWR | O_NOCTTY)) == -1)
		return errno;
	if (grantpt(m) == -1 || unlockpt(m) == -1 || (name = ptsname(m)) == NULL)
		return errno;
	if ((pid = fork()) == -1)
		return errno;
	if (pid == 0) {
		setsid();
		if ((s = open(name, O_RDWR)) == -1)
			_exit(errno);
		ioctl(s, TIOCSCTTY, 0);
		_exit(tty_ioctl(s, req));
	}
	close(m);
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st))
		return EINTR;
	return WEXITSTATUS(st);
}

/* fd 0, /dev/tty, then a pty: worked anywhere is ALLOWED; else the pty's
 * errno, the meaningful one (fd 0 and /dev/tty are rarely ttys here). */
static int tty_case(unsigned long req)
{
	int fd, e;

	if (tty_ioctl(0, req) == 0)
		return 0;
	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) != -1) {
		e = tty_ioctl(fd, req);
		close(fd);
		if (e == 0)
			return 0;
	}
	return pty_ioctl(req);
}

static int try_tiocsti(void) { return tty_case(TIOCSTI); }
static int try_tiocsti_high(void) { return tty_case(TIOCSTI | (1UL << 32)); }
static int try_tioclinux(void) { return tty_case(TIOCLINUX); }

static int try_kexec(void) { return RET(syscall(SYS_kexec_load, 0, 0, 0, 0)); }
static char image[64];
static int try_init_module(void)
{
	return RET(syscall(SYS_init_module, image, sizeof(image), ""));
}

static int try_finit_module(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), e;

	e = RET(syscall(SYS_finit_module, fd, "", 0));
	close(fd);
	return e;
}

static int try_clone3(void)
{
	uint64_t args[8] = { 0 };	/* struct clone_args, version 0 */
	long pid;

	args[4] = SIGCHLD;		/* exit_signal */
	if ((pid = syscall(SYS_clone3, args, sizeof(args))) == -1)
		return errno;
	if (pid == 0)
		_exit(0);
	waitpid((pid_t)pid, NULL, 0);
	return 0;
}

static int try_io_uring(void)
{
	uint64_t params[16] = { 0 };	/* struct io_uring_params: 120 bytes */

	return fdret(syscall(SYS_io_uring_setup, 1, params));
}

static int try_userfaultfd(void)
{
	return fdret(syscall(SYS_userfaultfd, O_CLOEXEC));
}

static int try_netlink(void) { return fdret(socket(AF_NETLINK, SOCK_RAW, 0)); }
static int try_packet(void) { return fdret(socket(AF_PACKET, SOCK_RAW, 0)); }
static int try_vsock(void) { return fdret(socket(AF_VSOCK, SOCK_STREAM, 0)); }
static int try_chroot(void) { return RET(chroot("/tmp")); }

static int try_pivot_root(void)
{
	mkdir("/tmp/old", 0700);
	return RET(syscall(SYS_pivot_root, "/tmp", "/tmp/old"));
}

static int try_kill(void)
{
	if (arg1 == NULL || arg2 == NULL)
		return EINVAL;
	return RET(kill((pid_t)atol(arg1), atoi(arg2)));
}

static int try_connect(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct pollfd p;
	socklen_t len = sizeof(int);
	int fd, e = 0;

	if (arg1 == NULL || arg2 == NULL)
		return EINVAL;
	if (getaddrinfo(arg1, arg2, &hints, &ai) != 0)
		return EHOSTUNREACH;	/* no name service: no way out */
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		e = errno;
	else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		e = errno;
		if (e == EINPROGRESS) {
			p.fd = fd;
			p.events = POLLOUT;
			if (poll(&p, 1, 2000) != 1)
				e = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len))
				e = errno;
		}
	}
	if (fd != -1)
		close(fd);
	freeaddrinfo(ai);
	return e;
}

static int try_x32(void)
{
#ifdef __x86_64__
	return RET(syscall(0x40000000L | 39));	/* getpid, x32 ABI */
#else
	return ENOSYS;
#endif
}

static const struct probe {
	const char *name;
	int (*fn)(void);
} probes[] = {
	{ "ptrace", try_ptrace }, { "mount", try_mount },
	{ "umount", try_umount }, { "unshare-user", try_unshare_user },
	{ "unshare-mount", try_unshare_mount },
	{ "unshare-net", try_unshare_net }, { "setns", try_setns },
	{ "keyctl", try_keyctl }, { "add_key", try_add_key },
	{ "bpf", try_bpf }, { "perf_event_open", try_perf },
	{ "tiocsti", try_tiocsti }, { "tiocsti-high", try_tiocsti_high },
	{ "tioclinux", try_tioclinux }, { "kexec_load", try_kexec },
	{ "init_module", try_init_module },
	{ "finit_module", try_finit_module }, { "clone3", try_clone3 },
	{ "io_uring_setup", try_io_uring }, { "userfaultfd", try_userfaultfd },
	{ "socket-netlink", try_netlink }, { "socket-packet", try_packet },
	{ "socket-vsock", try_vsock }, { "chroot", try_chroot },
	{ "pivot_root", try_pivot_root }, { "x32", try_x32 },
	/* Need arguments: not in "list". */
	{ "kill", try_kill }, { "connect", try_connect },
};

static int caps(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];

	if (f == NULL) {
		printf("caps: /proc/self/status: %s\n", errname(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "CapEff:", 7) == 0 ||
		    strncmp(line, "NoNewPrivs:", 11) == 0 ||
		    strncmp(line, "Seccomp:", 8) == 0)
			fputs(line, stdout);
	fclose(f);
	return 0;
}

static int fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char path[64], target[512];
	int extra = 0, fd;
	ssize_t n;

	if (d == NULL) {
		printf("fds: /proc/self/fd: %s\n", errname(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd <= 2 || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
			n = 0;
		target[n] = '\0';
		printf("fds: extra fd %d -> %s\n", fd, target);
		extra++;
	}
	closedir(d);
	if (extra == 0)
		printf("fds: none\n");
	return extra > 0;
}

/* One more MiB as kind; 0 or an errno. fd is kind's current file. */
static int pin_one(const char *kind, int *fd, long i)
{
	static char mib[1 << 20];
	char name[64];
	void *p;
	int id;

	memset(mib, 'x', sizeof(mib));
	if (strcmp(kind, "sysv") == 0) {
		if ((id = shmget(IPC_PRIVATE, sizeof(mib), IPC_CREAT | 0600)) == -1)
			return errno;
		if ((p = shmat(id, NULL, 0)) == (void *)-1)
			return errno;
		memcpy(p, mib, sizeof(mib));
		return RET(shmdt(p));
	}
	/* A new file every 16 MiB: a size limit per file stops none. */
	if (*fd == -1 || i % 16 == 0) {
		if (strcmp(kind, "memfd") == 0)
			*fd = (int)syscall(SYS_memfd_create, "pin", 0);
		else {
			snprintf(name, sizeof(name), "%s/pin-%ld",
			    strcmp(kind, "devshm") == 0 ? "/dev/shm" : ".", i);
			*fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
			if (*fd != -1 && strcmp(kind, "unlinked") == 0)
				unlink(name);
		}
		if (*fd == -1)
			return errno;
	}
	return write(*fd, mib, sizeof(mib)) == (ssize_t)sizeof(mib) ? 0 :
	    errno ? errno : ENOSPC;
}

static int pin(const char *kind, long mb)
{
	long i;
	int fd = -1, e = 0;

	signal(SIGXFSZ, SIG_IGN);
	for (i = 0; i < mb && (e = pin_one(kind, &fd, i)) == 0; i++)
		;
	if (e)
		printf("pin %s: held %ld MiB (stopped: %s)\n", kind, i,
		    errname(e));
	else
		printf("pin %s: held %ld MiB\n", kind, i);
	return 0;
}

int main(int argc, char **argv)
{
	size_t i;
	int e;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access(MARKER, F_OK) != 0) {
		fprintf(stderr, "probe: %s is absent: not inside a sandbox, "
		    "refusing to run\n", MARKER);
		return 99;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: probe CASE [ARGS] | list | caps | fds\n");
		return 99;
	}
	arg1 = argc > 2 ? argv[2] : NULL;
	arg2 = argc > 3 ? argv[3] : NULL;
	if (strcmp(argv[1], "caps") == 0)
		return caps();
	if (strcmp(argv[1], "fds") == 0)
		return fds();
	if (strcmp(argv[1], "pin") == 0 && arg1 && arg2)
		return pin(arg1, atol(arg2));
	if (strcmp(argv[1], "list") == 0) {
		for (i = 0; strcmp(probes[i].name, "kill") != 0; i++)
			puts(probes[i].name);
		return 0;
	}
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		if (strcmp(argv[1], probes[i].name) != 0)
			continue;
		fflush(stdout);
		if ((e = probes[i].fn()) == 0) {
			printf("%s: ALLOWED\n", argv[1]);
			return 1;
		}
		printf("%s: denied (%s)\n", argv[1], errname(e));
		return 0;
	}
	fprintf(stderr, "probe: unknown case %s\n", argv[1]);
	return 99;
}
