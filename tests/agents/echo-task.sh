#!/bin/sh
# Copies what it was given into the workspace, for the test to read:
# the task as TASK.md, the context as CONTEXT.json, its environment as ENV.txt.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
set -e
cp "$HANDOFF_TASK" TASK.md
cp "$HANDOFF_CONTEXT" CONTEXT.json
env | sort > ENV.txt
printf 'Echoed the task\n' > "$HANDOFF_SUMMARY"
echo "copied $HANDOFF_TASK and $HANDOFF_CONTEXT"
