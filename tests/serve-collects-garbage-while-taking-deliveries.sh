#!/bin/bash
# serve runs `handoff gc` by itself every [store] gc_interval, in a process
# of its own: a job past [store] keep goes, the log says so in one line,
# and deliveries arriving meanwhile are all accepted.
. "$SRCDIR/tests/lib.sh"

command -v sqlite3 >/dev/null || { echo "Bail out! sqlite3 is needed"; exit 1; }
write_config "[store]" "keep = 90d" "gc_interval = 1s"
DB="$DATA/handoff.db"
q() { sqlite3 -cmd ".timeout 10000" "$DB" "$1"; }

start_serve
# An old job no open pull request needs: cancelled, then the label again.
r=$(deliver github issues "$(labeled 1)" --delivery label-1)
old=$(jobnum "$r")
run -c "$CONFIG" cancel "$old"
r=$(deliver github issues "$(labeled 1)" --delivery label-1-again)
like "$r" '202 {"verdict":"queued"' "the label again queues a new job"
again=$(jobnum "$r")
wait_for "a gc run" grep -q "gc: removed 0 jobs" "$T/serve.log"
ok $? "serve runs gc by itself; with nothing old it removes nothing"

# Deliveries keep coming while time passes for the old job.
(
	for n in $(seq 100 139); do
		deliver github issues "$(labeled $n)" --delivery "d-$n"
		echo
	done > "$T/answers"
	touch "$T/delivered"
) &
loop=$!
long_ago=$((($(date +%s) - 100 * 86400) * 1000))
q "UPDATE jobs SET finished_at = $long_ago WHERE id = $old"
wait_for "the old job's removal" grep -q "gc: removed 1 job " "$T/serve.log"
ok $? "serve's gc removes the old job, and says so in its log"
wait "$loop"
is "$(grep -c '^202 {"verdict":"queued"' "$T/answers")" 40 \
    "the 40 deliveries made meanwhile are all accepted"
is "$(q "SELECT count(*) FROM jobs WHERE id = $old")" 0 "the old job is gone"
is "$(q "SELECT state FROM jobs WHERE id = $again")" queued \
    "the queued job stays"
is "$(q "SELECT count(*) FROM jobs WHERE id > $again")" 40 \
    "so do the 40 new ones"
unlike "$(cat "$T/serve.log")" "gc: store" "no gc run failed"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly"
done_testing
