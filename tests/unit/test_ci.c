/* ci.c: a log's tail without terminal escapes, bounded in lines and
 * bytes; texts cut on a character boundary; the section's bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"
#include "tap.h"
#include "util.h"

static char *
tail(const char *s)
{
	return ci_log_tail(s, strlen(s));
}

static size_t
count_lines(const char *s)
{
	size_t n = *s ? 1 : 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_escapes(void)
{
	char *t;

	t = tail("\x1b[31;1merror\x1b[0m: failed\n");
	is_str(t, "error: failed", "CSI colours go, trailing newline too");
	free(t);
	t = tail("\x1b]8;;http://x.example\x07link\x1b]8;;\x07 text");
	is_str(t, "link text", "an OSC hyperlink ended by BEL goes");
	free(t);
	t = tail("a\x1b]0;title\x1b\\b");
	is_str(t, "ab", "an OSC ended by ESC backslash goes");
	free(t);
	t = tail("x\x1b" "cy\x1b");
	is_str(t, "xy", "a two-byte escape goes, a lone ESC at the end too");
	free(t);
	t = tail("10%\r50%\r100%\r\nok");
	is_str(t, "10%\n50%\n100%\nok", "a carriage return redraw is a line");
	free(t);
	t = tail("bell\x07 nul\x01 del\x7f tab\tend");
	is_str(t, "bell nul del tab\tend", "other controls go, tabs stay");
	free(t);
	t = tail("bad \xff byte");
	is_str(t, "bad \xef\xbf\xbd byte", "a byte that is not UTF-8 is U+FFFD");
	free(t);
	t = tail("\x1b[31");
	is_str(t, "", "an unfinished CSI at the end goes");
	free(t);
}

static void
test_bounds(void)
{
	char *big, *t, *p;
	size_t i, len;

	/* 1000 short lines: the last 200. */
	big = xstrdup("");
	for (i = 0; i < 1000; i++) {
		p = xasprintf("%sline %zu\n", big, i);
		free(big);
		big = p;
	}
	t = tail(big);
	is_int(count_lines(t), CI_LOG_LINES, "the last 200 lines");
	ok(strncmp(t, "line 800\n", 9) == 0, "from line 800");
	ok(strcmp(t + strlen(t) - 8, "line 999") == 0, "to the last");
	free(t);
	free(big);
	/* 1 MiB of 100-byte lines: at most 16 KiB, from a line's start. */
	len = 1024 * 1024;
	big = xmalloc(len + 1);
	for (i = 0; i < len; i++)
		big[i] = i % 100 == 99 ? '\n' : 'a' + (char)(i / 100 % 26);
	big[len] = '\0';
	t = ci_log_tail(big, len);
	ok(strlen(t) <= CI_LOG_BYTES, "1 MiB gives at most 16 KiB (%zu)",
	    strlen(t));
	ok(strlen(t) >= CI_LOG_BYTES - 100, "and nearly that");
	ok(strchr(t, '\n') != NULL && strchr(t, '\n') - t == 99,
	    "from a line's start");
	free(t);
	/* One line of 1 MiB: its last 16 KiB. */
	memset(big, 'z', len);
	big[len - 1] = 'E';
	t = ci_log_tail(big, len);
	is_int(strlen(t), CI_LOG_BYTES, "one long line keeps its last 16 KiB");
	ok(t[strlen(t) - 1] == 'E', "with its end");
	free(t);
	/* Multi-byte characters are not cut. */
	for (i = 0; i + 3 <= len; i += 3)
		memcpy(big + i, "\xe2\x82\xac", 3);	/* € */
	big[i] = '\0';
	t = ci_log_tail(big, i);
	ok(strlen(t) % 3 == 0 && (unsigned char)t[0] == 0xe2,
	    "a long line of euro signs is cut between characters");
	free(t);
	free(big);
}

static void
test_text(void)
{
	char *t;
	cJSON *list, *check;
	char *huge;
	int i;

	t = ci_text("h\xc3\xa9llo", 6, 2);
	is_str(t, "h", "cut before a two-byte character, not in it");
	free(t);
	t = ci_text("a\x1b[1mb\n", 7, 100);
	is_str(t, "a[1mb\n", "ci_text removes the control, not the sequence");
	free(t);
	/* The section's bound: bulky fields dropped past CI_SECTION_MAX. */
	huge = xmalloc(60 * 1024 + 1);
	memset(huge, 'x', 60 * 1024);
	huge[60 * 1024] = '\0';
	list = cJSON_CreateArray();
	for (i = 0; i < 4; i++) {
		check = cJSON_CreateObject();
		cJSON_AddStringToObject(check, "name", "c");
		cJSON_AddStringToObject(check, "log", huge);
		ci_append(list, check);
	}
	t = cJSON_PrintUnformatted(list);
	ok(strlen(t) <= CI_SECTION_MAX, "four 60 KiB logs stay within 128 KiB");
	is_int(cJSON_GetArraySize(list), 4, "every check is still listed");
	ok(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 3),
	    "shortened")), "the last is marked shortened");
	ok(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "log") != NULL,
	    "the first keeps its log");
	cJSON_free(t);
	cJSON_Delete(list);
	free(huge);
}

int
main(void)
{
	test_escapes();
	test_bounds();
	test_text();
	return done_testing();
}
