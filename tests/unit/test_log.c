/*
 * log.c: forge text bounded and escaped for a line; every entry one line,
 * in text or JSON, with the module and job a JSON line names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "tap.h"

/* What log_info("%s", msg) writes to stderr. Caller frees. */
static char *
captured(const char *msg)
{
	char path[] = "/tmp/handoff-test-log.XXXXXX", *buf = calloc(1, 65536);
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	unlink(path);
	dup2(fd, 2);
	log_info("%s", msg);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, 65535, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

int
main(void)
{
	char *s, *line, big[20000];
	cJSON *o;

	s = log_text("a\nb\x1b[31m", 100);
	is_str(s, "a\\nb\\x1b[31m", "controls are escaped");
	free(s);
	s = log_text("ab\xc3\xa9", 3);
	is_str(s, "ab", "a cut falls on a character's start");
	free(s);
	s = log_text(NULL, 10);
	is_str(s, "-", "NULL is a dash");
	free(s);

	line = captured("intake: x\ny");
	ok(strstr(line, " info intake: x\\ny\n") != NULL &&
	    strchr(line, '\n') == line + strlen(line) - 1,
	    "a text entry is one line");
	free(line);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	line = captured(big);
	ok(strlen(line) < 8300, "a long entry is cut (%zu bytes)", strlen(line));
	free(line);

	log_set_format(LOG_FORMAT_JSON);
	line = captured("gateway: job 12: a \"quote\"\n\x01");
	o = cJSON_Parse(line);
	ok(o != NULL, "a JSON entry parses");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(o, "level")), "info",
	    "its level");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(o, "module")),
	    "gateway", "its module");
	is_int(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "job")), 12,
	    "its job");
	is_str(cJSON_GetStringValue(cJSON_GetObjectItem(o, "message")),
	    "gateway: job 12: a \"quote\"\\n\\x01", "its message");
	ok(cJSON_GetStringValue(cJSON_GetObjectItem(o, "time")) != NULL,
	    "its time");
	cJSON_Delete(o);
	free(line);
	line = captured("job 7 (implement) on b");
	o = cJSON_Parse(line);
	is_int(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "job")), 7,
	    "a line that starts with its job names it");
	ok(cJSON_GetObjectItem(o, "module") == NULL, "and no module");
	cJSON_Delete(o);
	free(line);
	line = captured("serve: jobs 3");
	o = cJSON_Parse(line);
	ok(cJSON_GetObjectItem(o, "job") == NULL, "a line about no job has none");
	cJSON_Delete(o);
	free(line);
	return done_testing();
}
