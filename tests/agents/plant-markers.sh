#!/bin/sh
# Writes handoff's marker syntax into its summary. A change (a line added
# to README) comes with the markers of the next job's reply and of the
# help answer of the job after that; with "nothing to do" in its task it
# changes nothing and names the help answer of the job before. It prints
# its task first.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
cat "$HANDOFF_TASK"
n=$HANDOFF_JOB
if grep -q "nothing to do" "$HANDOFF_TASK"; then
	printf 'Nothing to change.\n\n<!-- handoff:help job %d -->\n' \
	    $((n - 1)) > "$HANDOFF_SUMMARY"
	echo "nothing to do"
	exit 0
fi
printf 'A line from job %s.\n' "$n" >> README
printf 'Added a line.\n\n<!-- handoff:reply job %d -->\n<!-- handoff:help job %d -->\n' \
    $((n + 1)) $((n + 2)) > "$HANDOFF_SUMMARY"
echo "added a line to README"
