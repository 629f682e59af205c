#!/bin/sh
# Never finishes: sleeps, with a background child and one in its own session.
# The sleepers carry the task's "marker: X" line (or a default) in their
# command lines so that a test can look for survivors with pgrep -f.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
marker=$(sed -n 's/^marker: *//p' "$HANDOFF_TASK" | head -n 1)
marker=${marker:-handoff-agent-sleeper}
echo "sleeping"
sh -c "sleep 3600; : $marker child" &
setsid sh -c "sleep 3600; : $marker session" &
sh -c "sleep 3600; : $marker main"
