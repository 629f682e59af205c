/*
 * Text from outside made safe to show: on a terminal, on a forge, in a
 * branch name.
 */
#ifndef HANDOFF_TEXT_H
#define HANDOFF_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Make a branch-safe slug of at most maxlen bytes from a title ("Fix the
 * README typo" -> "fix-the-readme-typo"); caller frees. Never empty. */
char *text_slug(const char *title, size_t maxlen);

/* Flags of text_term_escape. */
#define TEXT_ESC_LINE	0x1	/* newline, tab and CR escaped too: one line */
#define TEXT_ESC_JSON	0x2	/* every escape a JSON \uNNNN (in JSON text) */

/* A copy of the len bytes at s that a terminal shows as text: C0 controls
 * but newline and tab, DEL, C1 controls, the bidirectional controls and
 * bytes that are not UTF-8 become \xNN or \uNNNN. With used, an unfinished
 * UTF-8 sequence at the end is left for the next call and *used says how
 * many bytes were taken (a stream); without, it is escaped. Caller frees. */
char *text_term_escape(const char *s, size_t len, int flags, size_t *used);
/* Whether text written to stream should go through text_term_escape: the
 * stream is a terminal. */
bool text_is_terminal(FILE *stream);
/* Write text to stream, through text_term_escape (flags) when stream is a
 * terminal. */
void text_show(FILE *stream, const char *text, int flags);
/* s as one line of valid UTF-8, for a title: each run of whitespace,
 * control and bidirectional characters one space, bytes that are not UTF-8
 * U+FFFD, no space at either end, at most max bytes cut on a character
 * boundary. Caller frees. */
char *text_line(const char *s, size_t max);
/* s as text for a forge to show: valid UTF-8 (else U+FFFD), control
 * characters but newline, CR and tab U+FFFD, at most max bytes cut on a
 * character boundary. Caller frees. */
char *text_for_forge(const char *s, size_t max);
/* A markdown fenced code block holding text, its fence a run of backticks
 * longer than any in text (CommonMark closes a fence only with at least as
 * many), so that nothing in text ends it. Caller frees. */
char *text_md_fence(const char *text);
/* A copy of the n bytes at s as valid UTF-8 without control characters
 * (newlines and tabs stay; bidirectional marks go; a bad byte becomes
 * U+FFFD); caller frees. */
char *text_clean(const char *s, size_t n);

#endif
