#!/bin/sh
# A scripted agent that edits like a real one: appends to README, adds
# src/new.txt, deletes old.txt, writes a summary; leaves it all uncommitted.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
set -e
echo "reading the task: $(head -n 1 "$HANDOFF_TASK")"
echo "editing README"
echo "A line added by the edit agent." >> README
echo "adding src/new.txt"
mkdir -p src
printf 'A new file from the edit agent.\n' > src/new.txt
if [ -e old.txt ]; then
	echo "removing old.txt"
	rm old.txt
fi
printf 'Edited README, added src/new.txt\n' > "$HANDOFF_SUMMARY"
echo "done"
