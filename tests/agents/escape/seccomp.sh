#!/bin/sh
# Runs every denial case of the probe and records its lines (a case killed
# by a signal, as the x32 one may be, is recorded as "CASE: killed (rc=N)"),
# then the probe's caps lines.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
out=RESULT-seccomp.txt
: > "$out"
for c in $(./probe list); do
	line=$(./probe "$c" 2>&1)
	rc=$?
	[ "$rc" -gt 128 ] && line="$c: killed (rc=$rc)"
	[ -n "$line" ] || line="$c: no output (rc=$rc)"
	echo "$line" | tee -a "$out"
done
./probe caps >> "$out" 2>&1
cat "$out"
exit 0
