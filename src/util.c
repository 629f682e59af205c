/*
 * Small helpers every module uses: allocation, strings, time, parsing of
 * sizes and durations, encodings.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

char *
util_slug(const char *title, size_t maxlen)
{
	char *out = xmalloc(maxlen + 1);
	size_t o = 0;
	int dash = 0;

	for (; title != NULL && *title != '\0' && o < maxlen; title++) {
		unsigned char c = (unsigned char)*title;
		if (isascii(c) && isalnum(c)) {
			if (dash && o > 0 && o + 1 < maxlen)
				out[o++] = '-';
			dash = 0;
			out[o++] = (char)tolower(c);
		} else
			dash = 1;
	}
	out[o] = '\0';
	if (o == 0) {
		free(out);
		return xstrdup("task");
	}
	return out;
}

/* utf8_next's answers that are no code point. */
#define UTF8_BAD	(-1)	/* not UTF-8: take one byte */
#define UTF8_SHORT	(-2)	/* the bytes end inside a sequence */

/* The code point of the UTF-8 sequence at s (n > 0 bytes) and its length
 * in *len; UTF8_BAD (*len 1) for an overlong form, a surrogate, past
 * U+10FFFF or a bad continuation; UTF8_SHORT (*len 1) when s ends inside
 * a sequence. */
static long
utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	size_t need, i;
	long cp, min;

	*len = 1;
	if (s[0] < 0x80)
		return s[0];
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else
		return UTF8_BAD;
	for (i = 1; i < need; i++) {
		if (i >= n)
			return UTF8_SHORT;
		if ((s[i] & 0xc0) != 0x80)
			return UTF8_BAD;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return UTF8_BAD;
	*len = need;
	return cp;
}

/* C0, DEL and C1. */
static bool
is_control(long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* The characters that reorder text around them (Trojan Source). */
static bool
is_bidi(long cp)
{
	return cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

#define REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD */

char *
util_term_escape(const char *s, size_t len, int flags, size_t *used)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = xmalloc(len * 6 + 1), *o = out;
	bool is_json = (flags & UTIL_ESC_JSON) != 0;
	size_t i = 0, n;
	long cp;

	while (i < len) {
		cp = utf8_next(u + i, len - i, &n);
		if (cp == UTF8_SHORT && used != NULL)
			break;	/* the rest comes with the next call */
		if (cp < 0)
			o += is_json ? sprintf(o, "\\ufffd") :
			    sprintf(o, "\\x%02x", u[i]);
		else if ((cp == '\n' || cp == '\t') &&
		    !(flags & UTIL_ESC_LINE))
			*o++ = (char)cp;
		else if (!is_json && (cp == '\n' || cp == '\t' || cp == '\r'))
			o += sprintf(o, "\\%c", cp == '\n' ? 'n' :
			    cp == '\t' ? 't' : 'r');
		else if (is_control(cp) || is_bidi(cp))
			o += sprintf(o, cp < 0x80 && !is_json ? "\\x%02lx" :
			    "\\u%04lx", (unsigned long)cp);
		else {
			memcpy(o, u + i, n);
			o += n;
		}
		i += n;
	}
	*o = '\0';
	if (used != NULL)
		*used = i;
	return out;
}

bool
util_is_terminal(FILE *stream)
{
	return isatty(fileno(stream)) == 1;
}

void
util_show(FILE *stream, const char *text, int flags)
{
	char *esc;

	if (!util_is_terminal(stream)) {
		fputs(text, stream);
		return;
	}
	esc = util_term_escape(text, strlen(text), flags, NULL);
	fputs(esc, stream);
	free(esc);
}

/* Spaces that end a title's words: the ASCII one and Unicode's line and
 * paragraph separators. */
static bool
is_space(long cp)
{
	return cp == ' ' || cp == 0x2028 || cp == 0x2029;
}

char *
util_line(const char *s, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = s ? strlen(s) : 0, i, n, o = 0, add;
	char *out = xmalloc(len * 3 + 1);
	bool is_gap = false;
	long cp;

	for (i = 0; i < len; i += n) {
		cp = utf8_next(u + i, len - i, &n);
		if (cp >= 0 && (is_control(cp) || is_bidi(cp) ||
		    is_space(cp))) {
			is_gap = true;
			continue;
		}
		add = cp < 0 ? 3 : n;
		if (is_gap && o > 0)
			add++;
		if (o + add > max)
			break;
		if (is_gap && o > 0)
			out[o++] = ' ';
		is_gap = false;
		memcpy(out + o, cp < 0 ? REPLACEMENT : (const char *)u + i,
		    cp < 0 ? 3 : n);
		o += cp < 0 ? 3 : n;
	}
	out[o] = '\0';
	return out;
}

char *
util_text(const char *s, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = s ? strlen(s) : 0, i, n, o = 0;
	char *out = xmalloc(len * 3 + 1);
	bool is_bad;
	long cp;

	for (i = 0; i < len; i += n) {
		cp = utf8_next(u + i, len - i, &n);
		is_bad = cp < 0 || (is_control(cp) && cp != '\n' &&
		    cp != '\r' && cp != '\t');
		if (o + (is_bad ? 3 : n) > max)
			break;
		memcpy(out + o, is_bad ? REPLACEMENT : (const char *)u + i,
		    is_bad ? 3 : n);
		o += is_bad ? 3 : n;
	}
	out[o] = '\0';
	return out;
}

char *
util_md_fence(const char *text)
{
	size_t len = strlen(text), run = 0, longest = 0, i;
	char *fence, *out;

	for (i = 0; i < len; i++) {
		run = text[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	longest = longest < 3 ? 3 : longest + 1;
	fence = xmalloc(longest + 1);
	memset(fence, '`', longest);
	fence[longest] = '\0';
	out = xasprintf("%s\n%s%s%s", fence, text, len > 0 &&
	    text[len - 1] == '\n' ? "" : "\n", fence);
	free(fence);
	return out;
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

char *
util_clean_text(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = xmalloc(3 * n + 1), *o = out;
	size_t i = 0, len;
	long cp;

	while (i < n) {
		cp = utf8_next(p + i, n - i, &len);
		if (cp < 0) {
			memcpy(o, REPLACEMENT, 3);
			o += 3;
		} else if (cp == '\n' || cp == '\t' ||
		    !(is_control(cp) || is_bidi(cp))) {
			memcpy(o, p + i, len);
			o += len;
		}
		i += len;
	}
	*o = '\0';
	return out;
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
