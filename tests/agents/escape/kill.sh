#!/bin/sh
# Tries to signal and trace host processes: each "pid: N" of the task.
# Records "kill N: ..." and "ptrace N: ...", then kill -9 -1.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
out=RESULT-kill.txt
: > "$out"
for pid in $(sed -n 's/^pid: *//p' "$HANDOFF_TASK"); do
	echo "kill $pid: $(./probe kill "$pid" 9 2>&1)" | tee -a "$out"
	echo "ptrace $pid: $(./probe ptrace "$pid" 2>&1)" | tee -a "$out"
done
echo "visible pids: $(ls -d /proc/[0-9]* | tr '\n' ' ')" >> "$out"
kill -9 -1 2>/dev/null
echo "kill -9 -1: rc=$?" >> "$out"
exit 0
