/*
 * Text from outside made safe to show: on a terminal (escapes), on a forge
 * (valid UTF-8, no controls, bounded, fenced), in a branch name (a slug).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text.h"
#include "util.h"

char *
text_slug(const char *title, size_t maxlen)
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
text_term_escape(const char *s, size_t len, int flags, size_t *used)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = xmalloc(len * 6 + 1), *o = out;
	bool is_json = (flags & TEXT_ESC_JSON) != 0;
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
		    !(flags & TEXT_ESC_LINE))
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
text_is_terminal(FILE *stream)
{
	return isatty(fileno(stream)) == 1;
}

void
text_show(FILE *stream, const char *text, int flags)
{
	char *esc;

	if (!text_is_terminal(stream)) {
		fputs(text, stream);
		return;
	}
	esc = text_term_escape(text, strlen(text), flags, NULL);
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
text_line(const char *s, size_t max)
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
text_for_forge(const char *s, size_t max)
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
text_md_fence(const char *text)
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

char *
text_clean(const char *s, size_t n)
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
