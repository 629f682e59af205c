#!/bin/sh
# A fork bomb that stops by itself after about 10 s: starts sleepers until
# fork fails, printing how many it got, and fails as a shell would (the
# sleepers carry the task's "marker: X" line in their command line).
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
marker=$(sed -n 's/^marker: *//p' "$HANDOFF_TASK" | head -n 1)
marker=${marker:-handoff-agent-sleeper}
out=RESULT-forkbomb.txt
echo "forkbomb: started"
(
	read -r start _ < /proc/uptime
	start=${start%.*}
	n=0
	while [ "$n" -lt 5000 ]; do
		sh -c "sleep 60; : $marker" &
		n=$((n + 1))
		case $n in
		*0)	echo "forks: $n"
			echo "forks: $n" > "$out"
			read -r now _ < /proc/uptime
			[ $((${now%.*} - start)) -ge 10 ] && break ;;
		esac
	done
	echo "forks: $n, no failure"
	echo "forks: $n, no failure" > "$out"
)
# Builtins only from here: the sleepers may still hold every pid.
rc=$?
echo "forkbomb: stopped (rc=$rc)"
echo "forkbomb: stopped (rc=$rc)" >> "$out"
exit "$rc"
