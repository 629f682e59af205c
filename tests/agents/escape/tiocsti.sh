#!/bin/sh
# Tries to push a command into the terminal handoff runs in (TIOCSTI, also
# with the request's high bits set) and TIOCLINUX.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
out=RESULT-tiocsti.txt
: > "$out"
./probe tiocsti "echo INJECTED-BY-AGENT
" >> "$out" 2>&1
./probe tiocsti-high "echo INJECTED-HIGH-BY-AGENT
" >> "$out" 2>&1
./probe tioclinux >> "$out" 2>&1
cat "$out"
exit 0
