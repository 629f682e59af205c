#!/bin/sh
# Creates files whose names trip naive parsers: a newline, leading dots, a
# backslash, a leading dash, a 200-byte name, spaces and a tab.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
set -e
out=RESULT-weirdnames.txt
nl='
'
echo one > "new${nl}line"
echo two > ..foo
echo three > 'a\b'
echo four > ./-dash
long=$(printf '%0200d' 0 | tr 0 n)
echo five > "$long"
echo six > "with space	and tab"
echo seven > "quote\"d"
ls -A > "$out"
echo "created $(ls -A | wc -l) entries"
exit 0
