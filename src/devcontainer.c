/*
 * devcontainer.json's set-up commands. The file is checked (no NUL, valid
 * UTF-8), then one bounded pass turns its comments into spaces and a
 * second drops trailing commas, so cJSON (through json_parse and its depth
 * pre-scan) sees plain JSON at the same offsets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devcontainer.h"
#include "json.h"
#include "util.h"

/* Nesting a devcontainer.json needs (customizations go a few levels). */
#define DEVC_DEPTH_MAX	32

static const char *stage_keys[] = {
	"onCreateCommand", "updateContentCommand", "postCreateCommand"
};
#define NSTAGES	(sizeof(stage_keys) / sizeof(stage_keys[0]))

const char *
devc_stage_name(enum devc_stage stage)
{
	if ((size_t)stage >= NSTAGES)
		return "?";
	return stage_keys[stage];
}

/* The 1-based line of offset off in buf. */
static size_t
line_of(const char *buf, size_t off)
{
	size_t i, line = 1;

	for (i = 0; i < off; i++) {
		if (buf[i] == '\n')
			line++;
	}
	return line;
}

/* The length of the UTF-8 sequence at p (at most n bytes), or 0 if it is not
 * one: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* 0 when buf is UTF-8 text without NUL bytes, else -1 with err. */
static int
check_text(const char *name, const char *buf, size_t len, char *err,
    size_t errlen)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] == '\0') {
			snprintf(err, errlen, "%s: line %zu: a NUL byte", name,
			    line_of(buf, i));
			return -1;
		}
		if ((n = utf8_len(p + i, len - i)) == 0) {
			snprintf(err, errlen, "%s: line %zu: not UTF-8", name,
			    line_of(buf, i));
			return -1;
		}
		i += n;
	}
	return 0;
}

/* Skip the JSON string whose opening quote is at buf[i]; the offset after
 * its closing quote (len if it has none). A \u0000 escape is refused: cJSON
 * would cut the string there. */
static int
skip_string(const char *name, const char *buf, size_t len, size_t *ip,
    char *err, size_t errlen)
{
	size_t i = *ip + 1;

	while (i < len && buf[i] != '"') {
		if (buf[i] == '\\' && i + 1 < len) {
			if (buf[i + 1] == 'u' && i + 6 <= len &&
			    memcmp(buf + i + 2, "0000", 4) == 0) {
				snprintf(err, errlen, "%s: line %zu: a string "
				    "holds \\u0000", name, line_of(buf, i));
				return -1;
			}
			i += 2;
		} else
			i++;
	}
	*ip = i < len ? i + 1 : len;
	return 0;
}

/* Blank comments (// to the end of the line, and non-nesting block
 * comments) in out, a copy of buf. A stray end of comment is an error: it
 * is what a nested block comment leaves behind. */
static int
strip_comments(const char *name, const char *buf, size_t len, char *out,
    char *err, size_t errlen)
{
	size_t i = 0, start;

	memcpy(out, buf, len);
	while (i < len) {
		if (buf[i] == '"') {
			if (skip_string(name, buf, len, &i, err, errlen) == -1)
				return -1;
			continue;
		}
		if (buf[i] == '*' && i + 1 < len && buf[i + 1] == '/') {
			snprintf(err, errlen, "%s: line %zu: \"*/\" outside a "
			    "comment (comments do not nest)", name,
			    line_of(buf, i));
			return -1;
		}
		if (buf[i] != '/' || i + 1 >= len ||
		    (buf[i + 1] != '/' && buf[i + 1] != '*')) {
			i++;
			continue;
		}
		start = i;
		if (buf[i + 1] == '/') {
			while (i < len && buf[i] != '\n' && buf[i] != '\r')
				out[i++] = ' ';
			continue;
		}
		for (i += 2; i + 1 < len; i++) {
			if (buf[i] == '*' && buf[i + 1] == '/')
				break;
		}
		if (i + 1 >= len) {
			snprintf(err, errlen, "%s: line %zu: a comment that "
			    "never ends", name, line_of(buf, start));
			return -1;
		}
		i += 2;
		memset(out + start, ' ', i - start);
	}
	return 0;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Blank each comma in out (comments already blanked) that closes an array
 * or object: one after a value and before ] or }. Others stay, for cJSON
 * to refuse ("[,]", "[1,,]"). */
static void
strip_trailing_commas(char *out, size_t len)
{
	size_t i = 0, j;
	char last = '\0';	/* the last character that was not space */

	while (i < len) {
		if (out[i] == '"') {
			for (i++; i < len && out[i] != '"'; i++) {
				if (out[i] == '\\')
					i++;
			}
			i++;
			last = '"';
			continue;
		}
		if (out[i] == ',' && last != ',' && last != '[' &&
		    last != '{' && last != '\0') {
			for (j = i + 1; j < len && is_space(out[j]); j++)
				;
			if (j < len && (out[j] == ']' || out[j] == '}')) {
				out[i++] = ' ';
				continue;
			}
		}
		if (!is_space(out[i]))
			last = out[i];
		i++;
	}
}

/* Whether s is only JSON whitespace: the reference tool runs no such
 * command, and /bin/sh -c would do nothing with it. */
static bool
is_blank(const char *s)
{
	while (is_space(*s))
		s++;
	return *s == '\0';
}

/* A bounded copy of a string node's value, or NULL with err. */
static char *
string_of(const char *name, const cJSON *node, const char *what, char *err,
    size_t errlen)
{
	size_t n = strlen(node->valuestring);

	if (n > DEVC_STR_MAX) {
		snprintf(err, errlen, "%s: %s: a string over %d bytes", name,
		    what, DEVC_STR_MAX);
		return NULL;
	}
	return xstrndup(node->valuestring, n);
}

/* Fill c from a string or array node; 1 for a command, 0 for an empty one
 * (nothing to run), -1 with err. */
static int
command_of(const char *name, const cJSON *node, const char *what,
    struct devc_cmd *c, char *err, size_t errlen)
{
	const cJSON *word;
	int n;

	if (cJSON_IsString(node)) {
		if (is_blank(node->valuestring))
			return 0;
		c->shell = string_of(name, node, what, err, errlen);
		return c->shell == NULL ? -1 : 1;
	}
	if (!cJSON_IsArray(node)) {
		snprintf(err, errlen, "%s: %s: a command must be a string or "
		    "an array of strings", name, what);
		return -1;
	}
	if ((n = cJSON_GetArraySize(node)) == 0)
		return 0;
	if (n > DEVC_ARGV_MAX) {
		snprintf(err, errlen, "%s: %s: more than %d words", name, what,
		    DEVC_ARGV_MAX);
		return -1;
	}
	c->argv = xcalloc((size_t)n + 1, sizeof(*c->argv));
	cJSON_ArrayForEach(word, node) {
		if (!cJSON_IsString(word)) {
			snprintf(err, errlen, "%s: %s: word %zu is not a "
			    "string", name, what, c->argc + 1);
			return -1;
		}
		c->argv[c->argc] = string_of(name, word, what, err, errlen);
		if (c->argv[c->argc] == NULL)
			return -1;
		c->argc++;
	}
	return 1;
}

static void
cmd_clear(struct devc_cmd *c)
{
	size_t i;

	free(c->name);
	free(c->shell);
	for (i = 0; c->argv != NULL && i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	memset(c, 0, sizeof(*c));
}

/* Append the command at node (its object key in key, or NULL) to d. */
static int
add_command(struct devc *d, enum devc_stage stage, const char *key,
    const cJSON *node, char *err, size_t errlen)
{
	struct devc_cmd c;
	char what[DEVC_NAME_MAX + 64];
	int rc;

	memset(&c, 0, sizeof(c));
	c.stage = stage;
	if (key != NULL)
		snprintf(what, sizeof(what), "%s.%s", stage_keys[stage], key);
	else
		snprintf(what, sizeof(what), "%s", stage_keys[stage]);
	if ((rc = command_of(d->path, node, what, &c, err, errlen)) != 1) {
		cmd_clear(&c);
		return rc;
	}
	if (d->ncmds == DEVC_CMDS_MAX) {
		snprintf(err, errlen, "%s: more than %d commands", d->path,
		    DEVC_CMDS_MAX);
		cmd_clear(&c);
		return -1;
	}
	if (key != NULL)
		c.name = xstrdup(key);
	d->cmds[d->ncmds++] = c;
	return 1;
}

/* 0 when key is a name a log line can show: 1 to DEVC_NAME_MAX bytes,
 * no control characters. */
static int
check_name(const char *path, const char *stage, const char *key, char *err,
    size_t errlen)
{
	size_t n = strlen(key), i;

	if (n == 0 || n > DEVC_NAME_MAX) {
		snprintf(err, errlen, "%s: %s: a command name must be 1 to %d "
		    "bytes", path, stage, DEVC_NAME_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f) {
			snprintf(err, errlen, "%s: %s: a command name holds a "
			    "control character", path, stage);
			return -1;
		}
	}
	return 0;
}

/* Add the commands of one lifecycle key's value. */
static int
add_stage(struct devc *d, enum devc_stage stage, const cJSON *val,
    char *err, size_t errlen)
{
	const cJSON *e, *f;

	if (cJSON_IsNull(val))
		return 0;
	if (!cJSON_IsObject(val))
		return add_command(d, stage, NULL, val, err, errlen) == -1 ?
		    -1 : 0;
	cJSON_ArrayForEach(e, val) {
		if (check_name(d->path, stage_keys[stage], e->string, err,
		    errlen) == -1)
			return -1;
		for (f = val->child; f != e; f = f->next) {
			if (strcmp(f->string, e->string) == 0) {
				snprintf(err, errlen, "%s: %s: the name \"%s\" "
				    "is given twice", d->path,
				    stage_keys[stage], e->string);
				return -1;
			}
		}
		if (add_command(d, stage, e->string, e, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* The member key of object root, or NULL; -1 when it is given twice (JSON
 * readers disagree on which one counts). */
static int
member(const char *path, const cJSON *root, const char *key,
    const cJSON **out, char *err, size_t errlen)
{
	const cJSON *e;

	*out = NULL;
	cJSON_ArrayForEach(e, root) {
		if (strcmp(e->string, key) != 0)
			continue;
		if (*out != NULL) {
			snprintf(err, errlen, "%s: %s is given twice", path,
			    key);
			return -1;
		}
		*out = e;
	}
	return 0;
}

struct devc *
devc_parse(const char *name, const char *buf, size_t len, char *err,
    size_t errlen)
{
	struct devc *d = NULL;
	const cJSON *val;
	cJSON *root = NULL;
	char *plain = NULL;
	size_t s;

	if (len > DEVC_FILE_MAX) {
		snprintf(err, errlen, "%s: over %d bytes", name, DEVC_FILE_MAX);
		return NULL;
	}
	if (check_text(name, buf, len, err, errlen) == -1)
		return NULL;
	plain = xmalloc(len + 1);
	if (strip_comments(name, buf, len, plain, err, errlen) == -1)
		goto fail;
	strip_trailing_commas(plain, len);
	/* A byte order mark, as some editors write. */
	if (len >= 3 && memcmp(plain, "\xef\xbb\xbf", 3) == 0)
		memset(plain, ' ', 3);
	plain[len] = '\0';
	if (is_blank(plain)) {
		snprintf(err, errlen, "%s: empty, or nothing but comments",
		    name);
		goto fail;
	}
	root = json_parse(plain, len, DEVC_DEPTH_MAX);
	if (root == NULL) {
		snprintf(err, errlen, "%s: not JSON with comments, or nested "
		    "deeper than %d", name, DEVC_DEPTH_MAX);
		goto fail;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "%s: not a JSON object", name);
		goto fail;
	}
	d = xcalloc(1, sizeof(*d));
	d->path = xstrdup(name);
	d->cmds = xcalloc(DEVC_CMDS_MAX, sizeof(*d->cmds));
	for (s = 0; s < NSTAGES; s++) {
		if (member(name, root, stage_keys[s], &val, err, errlen) == -1)
			goto fail;
		if (val != NULL && add_stage(d, (enum devc_stage)s, val, err,
		    errlen) == -1)
			goto fail;
	}
	json_free(root);
	free(plain);
	return d;
fail:
	devc_free(d);
	json_free(root);
	free(plain);
	return NULL;
}

void
devc_free(struct devc *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->ncmds; i++)
		cmd_clear(&d->cmds[i]);
	free(d->cmds);
	free(d->path);
	free(d);
}

/* Read at most DEVC_FILE_MAX bytes of the regular file fd; -1 with err. */
static char *
read_bounded(const char *path, int fd, size_t *lenp, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	ssize_t n;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return NULL;
	}
	buf = xmalloc(DEVC_FILE_MAX + 1);
	for (;;) {
		n = read(fd, buf + len, DEVC_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > DEVC_FILE_MAX) {
			snprintf(err, errlen, "%s: over %d bytes", path,
			    DEVC_FILE_MAX);
			free(buf);
			return NULL;
		}
	}
	*lenp = len;
	return buf;
}

/* Open name under dirfd without following a link; the descriptor, -1 with
 * errno ENOENT when absent, or -1 with err. */
static int
open_plain(int dirfd, const char *name, const char *path, int flags,
    char *err, size_t errlen)
{
	int fd;

	fd = openat(dirfd, name, flags | O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK);
	if (fd == -1 && errno != ENOENT) {
		if (errno == ELOOP || errno == ENOTDIR)
			snprintf(err, errlen, "%s: a symbolic link or not a "
			    "%s", path, (flags & O_DIRECTORY) ? "directory" :
			    "file");
		else
			snprintf(err, errlen, "%s: cannot open: %s", path,
			    strerror(errno));
		errno = EINVAL;
	}
	return fd;
}

int
devc_load(const char *repo_dir, struct devc **out, char *err, size_t errlen)
{
	int rfd = -1, dfd = -1, fd = -1, rc = -1;
	const char *name = NULL;
	char *buf = NULL;
	size_t len;

	*out = NULL;
	rfd = open(repo_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", repo_dir,
		    strerror(errno));
		return -1;
	}
	dfd = open_plain(rfd, ".devcontainer", ".devcontainer", O_DIRECTORY,
	    err, errlen);
	if (dfd == -1 && errno != ENOENT)
		goto out;
	if (dfd != -1) {
		name = ".devcontainer/devcontainer.json";
		fd = open_plain(dfd, "devcontainer.json", name, 0, err, errlen);
		if (fd == -1 && errno != ENOENT)
			goto out;
	}
	if (fd == -1) {
		name = ".devcontainer.json";
		fd = open_plain(rfd, name, name, 0, err, errlen);
		if (fd == -1 && errno != ENOENT)
			goto out;
	}
	if (fd == -1) {
		rc = 0;
		goto out;
	}
	if ((buf = read_bounded(name, fd, &len, err, errlen)) == NULL)
		goto out;
	if ((*out = devc_parse(name, buf, len, err, errlen)) != NULL)
		rc = 1;
out:
	free(buf);
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	close(rfd);
	return rc;
}

/* Append "<length>:<bytes> " to the text in *bufp. */
static void
put_field(char **bufp, size_t *lenp, size_t *capp, const char *s)
{
	size_t n = strlen(s), need = n + 32;

	while (*lenp + need > *capp) {
		*capp = *capp * 2 + need;
		*bufp = xrealloc(*bufp, *capp);
	}
	*lenp += (size_t)snprintf(*bufp + *lenp, *capp - *lenp, "%zu:", n);
	memcpy(*bufp + *lenp, s, n);
	*lenp += n;
	(*bufp)[(*lenp)++] = ' ';
	(*bufp)[*lenp] = '\0';
}

char *
devc_key_text(const struct devc *d)
{
	const struct devc_cmd *c;
	size_t len = 0, cap = 256, i, w;
	char *buf, count[32];

	buf = xmalloc(cap);
	buf[0] = '\0';
	put_field(&buf, &len, &cap, "devcontainer-1");
	for (i = 0; d != NULL && i < d->ncmds; i++) {
		c = &d->cmds[i];
		put_field(&buf, &len, &cap, stage_keys[c->stage]);
		put_field(&buf, &len, &cap, c->name != NULL ? "named" : "-");
		if (c->name != NULL)
			put_field(&buf, &len, &cap, c->name);
		if (c->shell != NULL) {
			put_field(&buf, &len, &cap, "sh");
			put_field(&buf, &len, &cap, c->shell);
		} else {
			snprintf(count, sizeof(count), "%zu", c->argc);
			put_field(&buf, &len, &cap, "argv");
			put_field(&buf, &len, &cap, count);
			for (w = 0; w < c->argc; w++)
				put_field(&buf, &len, &cap, c->argv[w]);
		}
	}
	return buf;
}
