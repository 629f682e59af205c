#!/bin/sh
# Sleeps for an hour; the sleeper carries the task's "marker: X" line.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
marker=$(sed -n 's/^marker: *//p' "$HANDOFF_TASK" | head -n 1)
marker=${marker:-handoff-agent-sleeper}
echo "sleeping for an hour"
sh -c "sleep 3600; : $marker"
