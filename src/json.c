/*
 * Bounded reading of untrusted JSON: a nesting-depth pre-scan so cJSON's
 * recursive parser never sees a deep document, and typed getters along
 * dotted paths that copy at most a given number of bytes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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
 * of intake. On a thread that asked for it (serve's intake workers, through
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

void
json_drop_arena(void)
{
	free(arena);
	arena = NULL;
	arena_used = 0;
	arena_on = false;
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

/*
 * Pruned parsing. A forge payload is mostly what handoff never reads: a
 * GitHub issues.labeled delivery is 14 KB, of which handoff reads a dozen
 * short fields. json_parse_kept checks every byte is JSON with the scanner
 * below, which allocates nothing, and builds cJSON nodes only for the
 * members a keep tree names (each parsed by cJSON itself from its bytes)
 * and the objects on the way to them.
 *
 * The scanner accepts RFC 8259 JSON, a leading UTF-8 byte order mark, and
 * what cJSON accepts inside strings (raw control characters, any bytes);
 * it refuses what cJSON refuses there (bad escapes, lone surrogates), and
 * numbers longer than cJSON reads (63 characters), so that a document it
 * accepts is one json_parse accepts, with the same kept members.
 */

#define NUMBER_MAX	63	/* cJSON reads at most this many characters */

struct json_keep {
	const char		*name;	/* the member; NULL at the root */
	size_t			 len;
	bool			 whole;	/* its value kept as it is */
	struct json_keep	*kids;
	size_t			 nkids;
};

struct scan {
	const unsigned char	*p, *end;
	int			 depth, max_depth;
};

static void
scan_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' ||
	    *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

static int
hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
	unsigned v = 0;
	int i;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			v |= p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			v |= p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			v |= p[i] - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* The first quote or backslash in [p, end), or end. Sixteen bytes at a
 * time where the machine has SSE2 (every x86-64): a forge payload is
 * mostly short strings, two memchr calls apiece. */
static const unsigned char *
quote_or_escape(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), escape = _mm_set1_epi8('\\');
	__m128i v;
	int m;

	while (end - p >= 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)p);
		m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
		    _mm_cmpeq_epi8(v, escape)));
		if (m != 0)
			return p + __builtin_ctz((unsigned)m);
		p += 16;
	}
#endif
	while (p < end && *p != '"' && *p != '\\')
		p++;
	return p;
}

/* A string at s->p (its quote); s->p past its closing quote. */
static int
scan_string(struct scan *s)
{
	const unsigned char *p = s->p + 1, *end = s->end, *q;
	unsigned u;

	for (;;) {
		if ((q = quote_or_escape(p, end)) == end)
			return -1;
		if (*q == '"')
			break;
		p = q + 1;
		if (p >= end)
			return -1;
		switch (*p++) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			break;
		case 'u':
			if (hex4(p, end, &u) == -1 || (u >= 0xdc00 && u <= 0xdfff))
				return -1;
			p += 4;
			if (u >= 0xd800 && u <= 0xdbff) {
				/* A high surrogate needs its low one. */
				if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
				    hex4(p + 2, end, &u) == -1 ||
				    u < 0xdc00 || u > 0xdfff)
					return -1;
				p += 6;
			}
			break;
		default:
			return -1;
		}
	}
	s->p = q + 1;
	return 0;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
scan_number(struct scan *s)
{
	const unsigned char *p = s->p, *end = s->end, *start = p;

	if (p < end && *p == '-')
		p++;
	if (p >= end || !is_digit(*p))
		return -1;
	if (*p++ != '0')
		while (p < end && is_digit(*p))
			p++;
	if (p < end && *p == '.') {
		if (++p >= end || !is_digit(*p))
			return -1;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !is_digit(*p))
			return -1;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p - start > NUMBER_MAX)
		return -1;
	s->p = p;
	return 0;
}

static int
scan_literal(struct scan *s, const char *word, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

static int scan_object(struct scan *, const struct json_keep *, cJSON *);
static int scan_value(struct scan *);

/* 1 when close is at s->p (and passed over), else 0. */
static int
scan_close(struct scan *s, unsigned char close)
{
	if (s->p >= s->end || *s->p != close)
		return 0;
	s->p++;
	s->depth--;
	return 1;
}

/*
 * Into an array or object at s->p: 1 when it is empty (and passed over),
 * 0 when a first element follows, -1 past max_depth.
 */
static int
scan_open(struct scan *s, unsigned char close)
{
	if (++s->depth > s->max_depth)
		return -1;
	s->p++;
	scan_ws(s);
	return scan_close(s, close);
}

/* After an element: 1 at the container's end (passed over), 0 after a
 * comma (and the space after it), -1 for anything else. */
static int
scan_next(struct scan *s, unsigned char close)
{
	scan_ws(s);
	if (scan_close(s, close))
		return 1;
	if (s->p >= s->end || *s->p++ != ',')
		return -1;
	scan_ws(s);
	return 0;
}

static int
scan_array(struct scan *s)
{
	int rc;

	if ((rc = scan_open(s, ']')) != 0)
		return rc == 1 ? 0 : -1;
	do {
		if (scan_value(s) == -1)
			return -1;
	} while ((rc = scan_next(s, ']')) == 0);
	return rc == 1 ? 0 : -1;
}

/* Any value at s->p, checked and passed over. */
static int
scan_value(struct scan *s)
{
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '"':
		return scan_string(s);
	case '{':
		return scan_object(s, NULL, NULL);
	case '[':
		return scan_array(s);
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		return scan_number(s);
	}
}

/*
 * The keep node among k's kids that the member name at key (its bytes
 * between the quotes, len of them) is, or NULL. cJSON compares names
 * as C strings after unescaping: a name with an escape is unescaped by
 * cJSON, and a raw NUL ends a name.
 */
static const struct json_keep *
keep_match(const struct json_keep *k, const unsigned char *key, size_t len)
{
	const unsigned char *nul;
	const char *name = (const char *)key;
	cJSON *decoded = NULL;
	const struct json_keep *hit = NULL;
	size_t i;

	if (memchr(key, '\\', len) != NULL) {
		decoded = cJSON_ParseWithLength((const char *)key - 1, len + 2);
		if (!cJSON_IsString(decoded))
			goto out;
		name = decoded->valuestring;
		len = strlen(name);
	} else if ((nul = memchr(key, '\0', len)) != NULL)
		len = (size_t)(nul - key);
	for (i = 0; i < k->nkids; i++)
		if (k->kids[i].len == len &&
		    memcmp(k->kids[i].name, name, len) == 0) {
			hit = &k->kids[i];
			break;
		}
out:
	cJSON_Delete(decoded);
	return hit;
}

/*
 * An object at s->p. With into, the members k names are added to it: a
 * member k keeps whole (or whose value is not an object) parsed by
 * cJSON, one k keeps parts of as an object of its own, built the same
 * way. Without, the object is only checked.
 */
static int
scan_object(struct scan *s, const struct json_keep *k, cJSON *into)
{
	const struct json_keep *kid;
	const unsigned char *key, *val;
	cJSON *item;
	int rc;

	if ((rc = scan_open(s, '}')) != 0)
		return rc == 1 ? 0 : -1;
	do {
		if (s->p >= s->end || *s->p != '"')
			return -1;
		key = s->p + 1;
		if (scan_string(s) == -1)
			return -1;
		kid = into != NULL ? keep_match(k, key,
		    (size_t)(s->p - 1 - key)) : NULL;
		scan_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return -1;
		scan_ws(s);
		val = s->p;
		if (kid != NULL && !kid->whole && s->p < s->end &&
		    *s->p == '{') {
			if ((item = cJSON_CreateObject()) == NULL)
				return -1;
			cJSON_AddItemToObjectCS(into, kid->name, item);
			if (scan_object(s, kid, item) == -1)
				return -1;
		} else {
			if (scan_value(s) == -1)
				return -1;
			if (kid != NULL) {
				if ((item = cJSON_ParseWithLength(
				    (const char *)val, (size_t)(s->p - val))) ==
				    NULL)
					return -1;
				cJSON_AddItemToObjectCS(into, kid->name, item);
			}
		}
	} while ((rc = scan_next(s, '}')) == 0);
	return rc == 1 ? 0 : -1;
}

cJSON *
json_parse_kept(const char *buf, size_t len, int max_depth,
    const struct json_keep *keep)
{
	struct scan s;
	cJSON *root;

	if (keep == NULL || buf == NULL || len == 0)
		return json_parse(buf, len, max_depth);
	s.p = (const unsigned char *)buf;
	s.end = s.p + len;
	s.depth = 0;
	s.max_depth = max_depth;
	if (len >= 3 && memcmp(s.p, "\xef\xbb\xbf", 3) == 0)
		s.p += 3;
	scan_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return json_parse(buf, len, max_depth);
	if (arena_on)
		arena_trees++;
	if ((root = cJSON_CreateObject()) == NULL) {
		arena_release();
		return NULL;
	}
	if (scan_object(&s, keep, root) == -1)
		goto fail;
	scan_ws(&s);
	if (s.p != s.end)
		goto fail;
	return root;
fail:
	json_free(root);
	return NULL;
}

/* Add the path's components under k, the last one kept whole. */
static void
keep_add(struct json_keep *k, const char *path)
{
	const char *dot;
	size_t n, i;

	for (;;) {
		dot = strchr(path, '.');
		n = dot != NULL ? (size_t)(dot - path) : strlen(path);
		for (i = 0; i < k->nkids; i++)
			if (k->kids[i].len == n &&
			    memcmp(k->kids[i].name, path, n) == 0)
				break;
		if (i == k->nkids) {
			k->kids = xrealloc(k->kids, (k->nkids + 1) *
			    sizeof(*k->kids));
			memset(&k->kids[i], 0, sizeof(k->kids[i]));
			k->kids[i].name = xstrndup(path, n);
			k->kids[i].len = n;
			k->nkids++;
		}
		k = &k->kids[i];
		if (dot == NULL) {
			k->whole = true;
			return;
		}
		path = dot + 1;
	}
}

struct json_keep *
json_keep_new(const char *const *paths)
{
	struct json_keep *k = xcalloc(1, sizeof(*k));

	for (; *paths != NULL; paths++)
		keep_add(k, *paths);
	return k;
}

static void
keep_clear(struct json_keep *k)
{
	size_t i;

	for (i = 0; i < k->nkids; i++) {
		keep_clear(&k->kids[i]);
		free((char *)k->kids[i].name);
	}
	free(k->kids);
}

void
json_keep_free(struct json_keep *k)
{
	if (k == NULL)
		return;
	keep_clear(k);
	free(k);
}
