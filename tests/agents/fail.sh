#!/bin/sh
# Works for a while, then fails: 30 step lines, an error, exit status 3.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
i=1
while [ "$i" -le 30 ]; do
	echo "step $i"
	i=$((i + 1))
done
echo "error: something broke" >&2
exit 3
