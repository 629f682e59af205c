/*
 * Bounded reading of untrusted JSON: a nesting-depth pre-scan so cJSON's
 * recursive parser never sees a deep document, and typed getters along
 * dotted paths that copy at most a given number of bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/* Longest path component json_at accepts; paths are literals in our code. */
#define PATH_PART_MAX	128

/*
 * Return 0 when no array or object in buf nests deeper than max_depth,
 * -1 otherwise. Brackets inside strings do not count; a backslash skips the
 * next byte, so "\"[" stays inside the string. The scan is linear and keeps
 * no stack: balance is the parser's business, depth is ours.
 */
static int
depth_ok(const char *buf, size_t len, int max_depth)
{
	size_t i;
	long depth = 0;
	int in_string = 0;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		switch (c) {
		case '"':
			in_string = 1;
			break;
		case '[':
		case '{':
			if (++depth > max_depth)
				return -1;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return 0;
}

/*
 * Parse untrusted JSON. cJSON_ParseWithLengthOpts with
 * require_null_terminated fails whenever the buffer does not itself contain
 * the NUL (cJSON 1.7.15 checks for '\0' at offset len), so we ask it for the
 * end of the value and require that only JSON whitespace follows, which is
 * the same rule without needing a terminated buffer.
 */
cJSON *
json_parse(const char *buf, size_t len, int max_depth)
{
	const char *end = NULL, *p;
	cJSON *root = NULL;

	if (buf == NULL || len == 0)
		goto fail;
	if (depth_ok(buf, len, max_depth) == -1)
		goto fail;
	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (root == NULL || end == NULL)
		goto fail;
	for (p = end; p < buf + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			goto fail;
	}
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

/*
 * Walk a dotted path: each component names an object member, or, when the
 * node is an array and the component is all digits, an element index
 * ("check_suite.pull_requests.0.number").
 */
const cJSON *
json_at(const cJSON *root, const char *path)
{
	const cJSON *node = root;
	const char *p = path, *dot;
	char part[PATH_PART_MAX];
	size_t n;

	if (root == NULL || path == NULL)
		return NULL;
	while (node != NULL) {
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		if (cJSON_IsObject(node))
			node = cJSON_GetObjectItemCaseSensitive(node, part);
		else if (cJSON_IsArray(node) && n < 9 &&
		    strspn(part, "0123456789") == n)
			node = cJSON_GetArrayItem(node, atoi(part));
		else
			return NULL;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	return node;
}

/*
 * Copy at most maxlen bytes of s. A cut never splits a UTF-8 sequence: back
 * off over continuation bytes so the copy stays valid text.
 */
static char *
bounded_copy(const char *s, size_t maxlen)
{
	size_t n = strnlen(s, maxlen + 1);

	if (n > maxlen) {
		n = maxlen;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return xstrndup(s, n);
}

/* A copy of the string at path, bounded; caller frees. */
char *
json_str(const cJSON *root, const char *path, size_t maxlen)
{
	const cJSON *node = json_at(root, path);

	if (!cJSON_IsString(node) || node->valuestring == NULL)
		return NULL;
	return bounded_copy(node->valuestring, maxlen);
}

/*
 * Convert a number node to int64 when it is integral and in range. cJSON
 * keeps numbers as doubles, so integers beyond 2^53 have already lost
 * precision; forge ids are far below that.
 */
static int
node_int(const cJSON *node, int64_t *out)
{
	double v;
	int64_t i;

	if (!cJSON_IsNumber(node))
		return -1;
	v = node->valuedouble;
	/* Written so that NaN and infinities fail the range test too. */
	if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
		return -1;
	i = (int64_t)v;
	if ((double)i != v)
		return -1;
	*out = i;
	return 0;
}

/* The integer at path, or def. */
int64_t
json_int(const cJSON *root, const char *path, int64_t def)
{
	int64_t v;

	if (node_int(json_at(root, path), &v) == -1)
		return def;
	return v;
}

/* The boolean at path, or def. */
bool
json_bool(const cJSON *root, const char *path, bool def)
{
	const cJSON *node = json_at(root, path);

	if (!cJSON_IsBool(node))
		return def;
	return cJSON_IsTrue(node);
}

/* True when path names a non-null node. */
bool
json_has(const cJSON *root, const char *path)
{
	const cJSON *node = json_at(root, path);

	return node != NULL && !cJSON_IsNull(node);
}

/* A required string: a bounded copy, or NULL with "what: reason" in err. */
char *
json_need_str(const cJSON *root, const char *path, size_t maxlen,
    const char *what, char *err, size_t errlen)
{
	const cJSON *node = json_at(root, path);

	if (node == NULL || cJSON_IsNull(node)) {
		snprintf(err, errlen, "%s: missing %s", what, path);
		return NULL;
	}
	if (!cJSON_IsString(node) || node->valuestring == NULL) {
		snprintf(err, errlen, "%s: %s is not a string", what, path);
		return NULL;
	}
	return bounded_copy(node->valuestring, maxlen);
}

/* A required integer: 0 and *out, or -1 with "what: reason" in err. */
int
json_need_int(const cJSON *root, const char *path, int64_t *out,
    const char *what, char *err, size_t errlen)
{
	const cJSON *node = json_at(root, path);

	if (node == NULL || cJSON_IsNull(node)) {
		snprintf(err, errlen, "%s: missing %s", what, path);
		return -1;
	}
	if (node_int(node, out) == -1) {
		snprintf(err, errlen, "%s: %s is not an integer", what, path);
		return -1;
	}
	return 0;
}
