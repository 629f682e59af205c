#!/bin/bash
# A 202 is sent only after the commit: kill -9 right after it loses nothing.
. "$SRCDIR/tests/lib.sh"
write_config
start_serve
for i in 1 2 3; do
	r=$(deliver github issues "$(labeled "$i")" --delivery "kill-$i")
	kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
	like "$r" '202 {"verdict":"queued"' "delivery $i answered 202"
	job=$(jobnum "$r")
	show=$("$HANDOFF" -c "$CONFIG" show "$job" --json)
	like "$show" '"state":	"queued"' "job $job is in the store after kill -9"
	like "$show" "\"delivery\":	\"kill-$i\"" "its delivery is recorded"
	start_serve
done
is "$(job_count)" 3 "three jobs"
r=$(deliver github issues "$(labeled 2)" --delivery kill-2)
like "$r" '200 {"verdict":"duplicate"' "a redelivery after the crash is a duplicate"
done_testing
