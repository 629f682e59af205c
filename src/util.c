/*
 * Small helpers every module uses: allocation, strings, time, parsing of
 * sizes and durations, encodings, files and locks.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util.h"

static void
oom(void)
{
	static const char msg[] = "handoff: out of memory\n";

	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom();
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom();
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		oom();
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

int64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
util_time_rfc3339(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Digits, then an optional unit from units[]; multiplies without overflow. */
static int
parse_scaled(const char *s, const char *const *units, const uint64_t *scale,
    size_t nunits, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	size_t i;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	for (i = 0; i < nunits; i++) {
		if (strcasecmp(p, units[i]) == 0) {
			if (scale[i] != 0 && v > UINT64_MAX / scale[i])
				return -1;
			*out = v * scale[i];
			return 0;
		}
	}
	return -1;
}

bool
util_hostname_ok(const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > 253 || s[len - 1] == '-' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (!isascii(c) || !(isalnum(c) || c == '-') ||
		    (label == 0 && c == '-') || ++label > 63)
			return false;
	}
	return true;
}

int
util_parse_size(const char *s, uint64_t *out)
{
	static const char *const units[] = { "", "B", "K", "KB", "KiB", "M",
	    "MB", "MiB", "G", "GB", "GiB", "T", "TB", "TiB" };
	static const uint64_t scale[] = { 1, 1, 1ULL << 10, 1ULL << 10,
	    1ULL << 10, 1ULL << 20, 1ULL << 20, 1ULL << 20, 1ULL << 30,
	    1ULL << 30, 1ULL << 30, 1ULL << 40, 1ULL << 40, 1ULL << 40 };

	return parse_scaled(s, units, scale, nitems(units), out);
}

int
util_parse_duration(const char *s, int64_t *out_ms)
{
	static const char *const units[] = { "", "s", "ms", "m", "h", "d" };
	static const uint64_t scale[] = { 1000, 1000, 1, 60000, 3600000,
	    86400000 };
	uint64_t v;

	if (parse_scaled(s, units, scale, nitems(units), &v) == -1 ||
	    v > (uint64_t)INT64_MAX)
		return -1;
	*out_ms = (int64_t)v;
	return 0;
}

int
util_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void
util_uuid(char *buf, size_t len)
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		abort();
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int
util_self_exe(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	if (n <= 0)
		return -1;
	if ((size_t)n >= len - 1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

char *
util_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

void
util_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

char *
util_base64_encode(const unsigned char *in, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return out;
}

unsigned char *
util_base64_decode(const char *in, size_t inlen, size_t *outlen)
{
	unsigned char *out;
	char *padded;
	size_t i, padlen, pad = 0;
	int n;

	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		if (!isalnum(c) && c != '+' && c != '/' && c != '=')
			return NULL;
	}
	/* EVP_DecodeBlock wants a multiple of 4: restore missing padding. */
	padlen = (inlen + 3) / 4 * 4;
	if (padlen - inlen == 3 || padlen > (1U << 24))
		return NULL;
	padded = xmalloc(padlen + 1);
	memcpy(padded, in, inlen);
	memset(padded + inlen, '=', padlen - inlen);
	padded[padlen] = '\0';
	for (i = padlen; i > 0 && padded[i - 1] == '='; i--)
		pad++;
	if (pad > 2) {
		free(padded);
		return NULL;
	}
	out = xmalloc(padlen / 4 * 3 + 1);
	n = EVP_DecodeBlock(out, (unsigned char *)padded, (int)padlen);
	free(padded);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)n - pad;
	return out;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *
util_form_decode(const char *in, size_t inlen, size_t *outlen)
{
	char *out = xmalloc(inlen + 1);
	size_t i, o = 0;

	for (i = 0; i < inlen; i++) {
		if (in[i] == '+')
			out[o++] = ' ';
		else if (in[i] == '%') {
			int hi, lo;
			if (inlen - i < 3) {
				free(out);
				return NULL;
			}
			hi = hexval((unsigned char)in[i + 1]);
			lo = hexval((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[o++] = in[i];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

char *
util_read_file(const char *path, size_t max, size_t *outlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	if (buf == NULL)
		buf = xmalloc(1);
	buf[len] = '\0';
	if (outlen != NULL)
		*outlen = len;
	return buf;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

int
util_mkdirs(const char *path, unsigned mode)
{
	char *p = xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) == -1 && errno != EEXIST) {
				rc = -1;
				break;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	return rc;
}

static int
rmtree_at(int parent, const char *name)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(sb.st_mode))
		return unlinkat(parent, name, 0) == -1 && errno != ENOENT ?
		    -1 : 0;
	if ((sb.st_mode & 0700) != 0700)
		fchmodat(parent, name, sb.st_mode | 0700, 0);
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (rmtree_at(dirfd(d), de->d_name) == -1)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) == -1 && errno != ENOENT)
		rc = -1;
	return rc;
}

int
util_rmtree(const char *path)
{
	return rmtree_at(AT_FDCWD, path);
}

int
util_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
	const char *p = data;
	ssize_t n;
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    (mode_t)mode);
	if (fd == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

void
util_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

int
util_put_text(const char *dir, const char *name, const char *text,
    char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, name);
	int rc = util_write_file(path, text, strlen(text), 0644);

	if (rc == -1)
		snprintf(err, errlen, "write %s: %s", path, strerror(errno));
	free(path);
	return rc;
}

static uid_t chown_uid;
static gid_t chown_gid;

static int
chown_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, chown_uid, chown_gid) == -1 ? -1 : 0;
}

int
util_chown_tree(const char *path, uid_t uid, gid_t gid)
{
	chown_uid = uid;
	chown_gid = gid;
	return nftw(path, chown_cb, 32, FTW_PHYS | FTW_MOUNT);
}

/* The whole file, as fcntl's open file description locks take it. */
static int
whole_file_lock(int fd, int cmd, short type, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	return fcntl(fd, cmd, fl);
}

/* The pid a lock's holder wrote in it, 0 if none (yet). */
static long
lock_holder(int fd)
{
	char buf[32];
	long long pid;
	ssize_t n;

	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return util_parse_int(buf, 1, LONG_MAX, &pid) == 0 ? (long)pid : 0;
}

int
util_lock_pid(const char *path, long *holder)
{
	struct flock fl;
	char buf[32];
	ssize_t n;
	int fd, saved;

	*holder = 0;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return -1;
	if (whole_file_lock(fd, F_OFD_SETLK, F_WRLCK, &fl) == -1) {
		saved = errno;
		if (errno == EAGAIN || errno == EACCES) {
			saved = EWOULDBLOCK;
			*holder = lock_holder(fd);
		}
		close(fd);
		errno = saved;
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
util_lock_held(const char *path, long *holder)
{
	struct flock fl;
	int fd, saved, held;

	*holder = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (whole_file_lock(fd, F_OFD_GETLK, F_RDLCK, &fl) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if ((held = fl.l_type != F_UNLCK))
		*holder = lock_holder(fd);
	close(fd);
	return held;
}

int
util_thread_idle(const char *name)
{
	struct sched_param sp = { .sched_priority = 0 };
	int rc = 0, err;

	pthread_setname_np(pthread_self(), name);
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19) == -1)
		rc = -1;
	if ((err = pthread_setschedparam(pthread_self(), SCHED_IDLE,
	    &sp)) != 0) {
		errno = err;
		rc = -1;
	}
	return rc;
}
