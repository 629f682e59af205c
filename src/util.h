/*
 * Small helpers every module uses: allocation that cannot return NULL,
 * formatted strings, time, parsing, encodings, files and locks.
 */
#ifndef HANDOFF_UTIL_H
#define HANDOFF_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation helpers: abort the process with a message when out of memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Write text to dir/name (0644, never through a symlink). Returns 0, or -1
 * with "write PATH: reason" in err. */
int util_put_text(const char *dir, const char *name, const char *text,
    char *err, size_t errlen);
/* Zero and free a string that held a secret (a token, a header with one).
 * NULL is fine. */
void util_free_secret(char *s);
/* Copy of at most n bytes of s, always NUL-terminated; caller frees. */
char *xstrndup(const char *s, size_t n);
/* printf into a new string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Wall-clock milliseconds since the epoch. */
int64_t util_now_ms(void);
/* Monotonic milliseconds, for deadlines. */
int64_t util_mono_ms(void);
/* Format epoch milliseconds as RFC 3339 UTC ("2026-11-24T23:51:10Z") into buf. */
void util_time_rfc3339(int64_t ms, char *buf, size_t len);

/* Parse "25M", "4G", "512", "1.5K"-free sizes: digits with optional K/M/G suffix
 * (powers of 1024). Returns 0 and fills *out, or -1. */
/* Whether s[0..len) is a DNS name as handoff takes one: labels of 1-63
 * ASCII letters, digits and inner hyphens, at most 253 bytes, no empty
 * label and no trailing dot. */
bool util_hostname_ok(const char *s, size_t len);
int util_parse_size(const char *s, uint64_t *out);
/* Parse durations "30", "30s", "5m", "2h", "250ms" into milliseconds. Returns 0 or -1. */
int util_parse_duration(const char *s, int64_t *out_ms);
/* Parse a decimal integer in [min, max]. Returns 0 or -1. */
int util_parse_int(const char *s, long long min, long long max, long long *out);

/* Fill buf (>= 37 bytes) with a random RFC 4122 version-4 UUID. */
void util_uuid(char *buf, size_t len);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);
/* The path of the running binary, for starting it again: 0, or -1 with
 * errno. */
int util_self_exe(char *buf, size_t len);
/* s without the white space around it, in place. */
char *util_trim(char *s);
/* Standard base64 encode into a new string; caller frees. */
char *util_base64_encode(const unsigned char *in, size_t n);
/* Standard base64 decode (padding optional, no whitespace). Returns a new
 * buffer and its length in *outlen, or NULL on invalid input; caller frees. */
unsigned char *util_base64_decode(const char *in, size_t inlen, size_t *outlen);

/* Percent-decode a form value ('+' is a space). Returns a new buffer of
 * *outlen bytes (NUL-terminated), or NULL on a bad escape; caller frees. */
char *util_form_decode(const char *in, size_t inlen, size_t *outlen);

/* Read a whole file of at most max bytes. Returns a new NUL-terminated buffer
 * and its length, or NULL with errno set (EFBIG when over max); caller frees. */
char *util_read_file(const char *path, size_t max, size_t *outlen);

/* mkdir -p with mode; returns 0 or -1 with errno. */
int util_mkdirs(const char *path, unsigned mode);
/* Lock path (created 0600) without waiting, for as long as the returned
 * descriptor (O_CLOEXEC) stays open, and write our pid in it. An open file
 * description lock: another descriptor, even of this process, cannot take
 * it. Returns -1 with errno EWOULDBLOCK when someone holds it (*holder: the
 * pid it wrote, 0 if unknown), or another errno. */
int util_lock_pid(const char *path, long *holder);
/* Whether someone holds path's util_lock_pid lock, without taking it (so a
 * look never makes the holder's attempt fail): 1 (*holder: the pid it
 * wrote, 0 if unknown), 0 (also when there is no such file), or -1 with
 * errno. */
int util_lock_held(const char *path, long *holder);
/* rm -rf that never follows a symlink and opens up directories an agent
 * made unreadable. A missing path is success. Returns 0 or -1 with errno. */
int util_rmtree(const char *path);
/* Write len bytes to path (created or truncated with mode, O_NOFOLLOW).
 * Returns 0 or -1 with errno. */
int util_write_file(const char *path, const void *data, size_t len,
    unsigned mode);

/* The calling thread named name (top, perf), at nice 19 and under
 * SCHED_IDLE: it runs on what the other threads leave, and a thread that
 * wakes preempts it at once. Where SCHED_IDLE is refused (a kernel or a
 * policy), nice 19 stays. Returns 0, or -1 with errno if either failed;
 * Linux keeps both per thread. */
int util_thread_idle(const char *name);

/* chown -R that never follows a symlink nor leaves the filesystem.
 * Returns 0 or -1 with errno. */
int util_chown_tree(const char *path, uid_t uid, gid_t gid);

#endif
