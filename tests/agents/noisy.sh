#!/bin/sh
# Prints without end.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
exec yes "a long line of agent output, the kind a chatty tool prints while it thinks about the task at hand"
