#!/bin/sh
# Tries to read host paths: each "path: /x/y" line of the task. Records
# "PATH: readable" or "PATH: not readable" in RESULT-read-config.txt.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
out=RESULT-read-config.txt
: > "$out"
sed -n 's/^path: *//p' "$HANDOFF_TASK" | while IFS= read -r p; do
	if [ -d "$p" ]; then
		ls -A "$p" > /dev/null 2>&1 && r=readable || r="not readable"
	else
		cat "$p" > /dev/null 2>&1 && r=readable || r="not readable"
	fi
	echo "$p: $r" | tee -a "$out"
done
exit 0
