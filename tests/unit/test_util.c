/* util.c: sizes, durations, integers, encodings, slugs, text fit for a
 * terminal, a title or a forge, and pid locks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "text.h"
#include "util.h"

/* text_term_escape of a whole string. */
static char *
esc(const char *s, int flags)
{
	return text_term_escape(s, strlen(s), flags, NULL);
}

/* util_lock_pid and util_lock_held, within this process and across a fork. */
static void
test_locks(void)
{
	char dir[] = "/tmp/handoff-test-util.XXXXXX", *path, *text;
	long holder = -1;
	int fd, fd2, status;
	pid_t pid;

	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	path = xasprintf("%s/x.lock", dir);
	ok(util_lock_held(path, &holder) == 0 && holder == 0,
	    "lock: no file, not held");
	fd = util_lock_pid(path, &holder);
	ok(fd > 2, "lock: taken");
	text = util_read_file(path, 64, NULL);
	ok(text != NULL && atol(text) == (long)getpid(), "lock: our pid in it");
	free(text);
	ok(util_lock_held(path, &holder) == 1 && holder == (long)getpid(),
	    "lock: held, by us");
	errno = 0;
	fd2 = util_lock_pid(path, &holder);
	ok(fd2 == -1 && errno == EWOULDBLOCK && holder == (long)getpid(),
	    "lock: a second descriptor cannot take it, and learns the pid");
	if ((pid = fork()) == 0) {
		long h = 0;
		int f = util_lock_pid(path, &h);

		_exit(f == -1 && errno == EWOULDBLOCK && h == (long)getppid() ?
		    0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "lock: another process cannot take it");
	close(fd);
	ok(util_lock_held(path, &holder) == 0, "lock: released on close");
	fd = util_lock_pid(path, &holder);
	ok(fd > 2, "lock: taken again");
	close(fd);
	unlink(path);
	rmdir(dir);
	free(path);
}

int
main(void)
{
	uint64_t sz;
	int64_t ms;
	long long n;
	size_t len;
	char *s, hex[9], uuid[37];
	unsigned char *b;

	ok(util_parse_size("25M", &sz) == 0 && sz == 25u << 20, "25M");
	ok(util_parse_size("4G", &sz) == 0 && sz == 4ull << 30, "4G");
	ok(util_parse_size("512", &sz) == 0 && sz == 512, "bare bytes");
	ok(util_parse_size("1k", &sz) == 0 && sz == 1024, "lowercase unit");
	ok(util_parse_size("", &sz) == -1, "empty size refused");
	ok(util_parse_size("M", &sz) == -1, "unit alone refused");
	ok(util_parse_size("12Q", &sz) == -1, "unknown unit refused");
	ok(util_parse_size("-1", &sz) == -1, "negative refused");
	ok(util_parse_size("99999999999999999999", &sz) == -1, "overflow refused");
	ok(util_parse_size("17179869184G", &sz) == -1, "scaled overflow refused");

	ok(util_parse_duration("30m", &ms) == 0 && ms == 1800000, "30m");
	ok(util_parse_duration("15", &ms) == 0 && ms == 15000, "bare seconds");
	ok(util_parse_duration("250ms", &ms) == 0 && ms == 250, "milliseconds");
	ok(util_parse_duration("2h", &ms) == 0 && ms == 7200000, "hours");
	ok(util_parse_duration("5 m", &ms) == -1, "inner space refused");

	ok(util_parse_int("42", 0, 100, &n) == 0 && n == 42, "int in range");
	ok(util_parse_int("101", 0, 100, &n) == -1, "int over range");
	ok(util_parse_int("4x", 0, 100, &n) == -1, "int with garbage");
	ok(util_parse_int(" 4", 0, 100, &n) == -1, "int with leading space");

	util_hex((const unsigned char *)"\x01\xab\xff\x10", 4, hex);
	is_str(hex, "01abff10", "hex");
	s = util_base64_encode((const unsigned char *)"Hello", 5);
	is_str(s, "SGVsbG8=", "base64 encode");
	free(s);
	b = util_base64_decode("SGVsbG8=", 8, &len);
	ok(b && len == 5 && memcmp(b, "Hello", 5) == 0, "base64 decode");
	free(b);
	b = util_base64_decode("SGVsbG8", 7, &len);
	ok(b && len == 5 && memcmp(b, "Hello", 5) == 0, "base64 without padding");
	free(b);
	ok(util_base64_decode("SGV$bG8=", 8, &len) == NULL, "base64 bad char refused");
	ok(util_base64_decode("S", 1, &len) == NULL, "base64 one char refused");

	s = util_form_decode("a%20b+c%7Bd", 11, &len);
	is_str(s, "a b c{d", "form decode");
	free(s);
	ok(util_form_decode("abc%2", 5, &len) == NULL, "truncated escape refused");
	ok(util_form_decode("abc%zz", 6, &len) == NULL, "bad escape refused");
	s = util_form_decode("%00x", 4, &len);
	ok(s && len == 2 && s[0] == '\0', "NUL keeps its length");
	free(s);

	s = text_slug("Fix the README typo!", 40);
	is_str(s, "fix-the-readme-typo", "slug");
	free(s);
	s = text_slug("  ???  ", 40);
	is_str(s, "task", "slug of nothing");
	free(s);
	s = text_slug("Ünïcode & spaces -- here", 40);
	is_str(s, "n-code-spaces-here", "slug drops non-ASCII");
	free(s);
	s = text_slug("a very long title that goes on and on and on and on", 12);
	ok(strlen(s) <= 12 && s[strlen(s) - 1] != '-', "slug is cut without a trailing dash");
	free(s);

	/* On a terminal: escapes, never raw controls. */
	s = esc("a\x1b[31mred\x07\tb\n", 0);
	is_str(s, "a\\x1b[31mred\\x07\tb\n",
	    "ESC and BEL escaped, tab and newline kept");
	free(s);
	s = esc("x\ny\tz\r", TEXT_ESC_LINE);
	is_str(s, "x\\ny\\tz\\r", "one line: newline, tab and CR escaped");
	free(s);
	s = esc("\x7f\xc2\x9b" "1m", 0);
	is_str(s, "\\x7f\\u009b1m", "DEL and C1 (CSI) escaped");
	free(s);
	s = esc("ab\xe2\x80\xae" "cd\xe2\x81\xa6\xe2\x80\x8f\xd8\x9c", 0);
	is_str(s, "ab\\u202ecd\\u2066\\u200f\\u061c", "bidi controls escaped");
	free(s);
	s = esc("caf\xc3\xa9 \xe2\x9c\x85", 0);
	is_str(s, "caf\xc3\xa9 \xe2\x9c\x85", "other UTF-8 kept");
	free(s);
	s = esc("\xff\xc0\xaf\xed\xa0\x80", 0);
	is_str(s, "\\xff\\xc0\\xaf\\xed\\xa0\\x80",
	    "invalid, overlong and surrogate bytes escaped");
	free(s);
	s = text_term_escape("ok\xe2\x80", 4, 0, &len);
	ok(strcmp(s, "ok") == 0 && len == 2,
	    "a stream keeps an unfinished sequence for later");
	free(s);
	s = esc("ok\xe2\x80", 0);
	is_str(s, "ok\\xe2\\x80", "at its end it is escaped");
	free(s);
	s = esc("\"\xe2\x80\xae\x7f\xff\"", TEXT_ESC_JSON);
	is_str(s, "\"\\u202e\\u007f\\ufffd\"", "in JSON, JSON escapes");
	free(s);

	/* Titles: one clean line, cut on a character boundary. */
	s = text_line("Fix\nthe \x1b[31mtypo\xe2\x80\xae here\r\n", 200);
	is_str(s, "Fix the [31mtypo here",
	    "title: controls and bidi become one space");
	free(s);
	s = text_line("  \t lead and trail \n ", 200);
	is_str(s, "lead and trail", "title: trimmed");
	free(s);
	s = text_line("a\xe2\x80\xa8" "b\xff", 200);
	is_str(s, "a b\xef\xbf\xbd",
	    "title: line separator a space, a bad byte U+FFFD");
	free(s);
	s = text_line("abc\xc3\xa9\xc3\xa9", 6);
	is_str(s, "abc\xc3\xa9",
	    "title: cut before a character that does not fit");
	free(s);
	s = text_line("ab \xe2\x9c\x85", 4);
	is_str(s, "ab", "title: no space left at the cut");
	free(s);
	s = text_line("\n\x1b", 10);
	is_str(s, "", "title of nothing but controls is empty");
	free(s);

	/* Text for a forge: valid UTF-8, no controls but breaks and tab. */
	s = text_for_forge("a\x1b[1m\tb\r\nc\xff\xe2\x80\xae", 100);
	is_str(s, "a\xef\xbf\xbd[1m\tb\r\nc\xef\xbf\xbd\xe2\x80\xae",
	    "text: ESC and a bad byte U+FFFD");
	free(s);
	s = text_for_forge("\xe2\x9c\x85\xe2\x9c\x85", 5);
	is_str(s, "\xe2\x9c\x85", "text: cut on a character boundary");
	free(s);

	/* Fences no text can close. */
	s = text_md_fence("plain");
	is_str(s, "```\nplain\n```", "fence: three backticks at least");
	free(s);
	s = text_md_fence("x\n```\n## merged\n");
	is_str(s, "````\nx\n```\n## merged\n````",
	    "fence: longer than the text's");
	free(s);
	s = text_md_fence("a ``````````` b");
	is_str(s, "````````````\na ``````````` b\n````````````",
	    "fence: longer than a long run");
	free(s);

	util_uuid(uuid, sizeof(uuid));
	ok(strlen(uuid) == 36 && uuid[14] == '4', "uuid v4");
	test_locks();
	return done_testing();
}
