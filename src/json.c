/*
 * Bounded reading of untrusted JSON: a nesting-depth pre-scan so cJSON's
 * recursive parser never sees a deep document, and typed getters along
 * dotted paths that copy at most a given number of bytes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/* Longest path component json_at accepts; paths are literals in our code. */
#define PATH_PART_MAX	128

/*
 * Return 0 when no array or object in buf nests deeper than max_depth,
 * -1 otherwise. Brackets inside strings do not count; a quote preceded by an
 * odd number of backslashes stays inside the string. The scan is linear and
 * keeps no stack: balance is the parser's business, depth is ours. Strings
 * are skipped with memchr, since they are most of a forge payload.
 */
static int
depth_ok(const char *buf, size_t len, int max_depth)
{
	const char *p = buf, *end = buf + len, *q, *b;
	long depth = 0;

	while (p < end) {
		switch (*p++) {
		case '"':
			for (;;) {
				q = memchr(p, '"', (size_t)(end - p));
				if (q == NULL)
					return 0;	/* unterminated: cJSON says so */
				for (b = q; b > p && b[-1] == '\\'; b--)
					;
				p = q + 1;
				if ((q - b) % 2 == 0)
					break;
			}
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
 * cJSON allocates every node and every string on its own: a forge payload is
 * several hundred mallocs and frees, which made allocation the largest cost
 * of intake. On a thread that asked for it (serve's loop, through
 * json_use_arena), while a tree from json_parse is live, cJSON allocates
 * from a per-thread bump arena instead; frees of arena memory are no-ops,
 * and the arena is reused once the last such tree is freed with json_free.
 * Elsewhere (runners, tools) cJSON uses plain malloc and free.
 */
#define ARENA_BYTES	(1024 * 1024)

static _Thread_local char *arena;
static _Thread_local size_t arena_used;
static _Thread_local int arena_trees;
static _Thread_local int arena_spilled;	/* a tree outgrew it: use free */
static _Thread_local bool arena_on;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void *
arena_malloc(size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;

	if (arena_trees > 0 && arena != NULL && need >= n &&
	    need <= ARENA_BYTES - arena_used) {
		void *p = arena + arena_used;
		arena_used += need;
		return p;
	}
	if (arena_trees > 0)
		arena_spilled = 1;
	return malloc(n);
}

static void
arena_free(void *p)
{
	if (arena != NULL && (char *)p >= arena && (char *)p < arena + ARENA_BYTES)
		return;
	free(p);
}

static void
hooks_init(void)
{
	cJSON_Hooks hooks = { arena_malloc, arena_free };

	cJSON_InitHooks(&hooks);
}

void
json_use_arena(void)
{
	pthread_once(&hooks_once, hooks_init);
	if (arena == NULL)
		arena = xmalloc(ARENA_BYTES);
	arena_on = true;
}

/* One tree fewer uses the arena; the last one frees all of it. */
static void
arena_release(void)
{
	if (arena_trees > 0 && --arena_trees == 0) {
		arena_used = 0;
		arena_spilled = 0;
	}
}

void
json_free(cJSON *root)
{
	if (root == NULL)
		return;
	/* A tree wholly in the arena goes with the arena: no walk needed. */
	if (arena_trees == 0 || arena_spilled)
		cJSON_Delete(root);
	arena_release();
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
		return NULL;
	if (depth_ok(buf, len, max_depth) == -1)
		return NULL;
	if (arena_on)
		arena_trees++;
	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (root == NULL || end == NULL)
		goto fail;
	for (p = end; p < buf + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			goto fail;
	}
	return root;
fail:
	if (root != NULL)
		json_free(root);
	else
		arena_release();
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
