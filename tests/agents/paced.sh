#!/bin/sh
# Prints what the test hands it, when the test says so: for the issue it
# works on (context.json's number), the files DIR/NUMBER/1, 2, ... (DIR is
# its argument), each as it is, in order, as each appears (the test writes
# them aside and renames them into place); exits once DIR/NUMBER/end is
# there, with the status that file holds.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
n=$(sed -n 's/^[[:space:]]*"number":[[:space:]]*\([0-9][0-9]*\),$/\1/p' \
    "$HANDOFF_CONTEXT" | head -n 1)
gate=$1/$n
i=1
while :; do
	if [ -e "$gate/$i" ]; then
		cat "$gate/$i"
		i=$((i + 1))
	elif [ -e "$gate/end" ]; then
		# A file renamed into place before end is there by now.
		[ -e "$gate/$i" ] && continue
		exit "$(cat "$gate/end")"
	else
		sleep 0.05
	fi
done
