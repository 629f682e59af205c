#!/bin/bash
# A connection whose delivery waits for its answer is read at most 64 KiB
# further: a client that pipelines 2 MB of deliveries behind it finds the
# rest waiting in the kernel, not in serve. Once the store is free, every
# delivery is answered, in the order sent, and makes its job; and a client
# that sends its next delivery as soon as it has an answer is answered
# each time on the same connection.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
command -v ss >/dev/null || { echo "Bail out! ss is needed"; exit 1; }
write_config
start_serve

# Another writer holds the store: the first delivery stays in flight.
hold_store
is "$STORE_HELD" held "another connection holds the store's write lock"

SAMPLE=$SAMPLES/github/derived/issues.labeled.agent.json
python3 "$SRCDIR/tests/signed-deliveries.py" pipeline "$PORT" \
    "$GITHUB_SECRET" "$SAMPLE" 100 150 > "$T/piped" 2>&1 &
client=$!

# What serve has not read of the connection: the client's send queue and
# serve's receive queue, once the client is done sending or both stand
# still.
unread() {
	{
		ss -tnH state established "( sport = :$PORT )" | awk '{ print $1 }'
		ss -tnH state established "( dport = :$PORT )" | awk '{ print $2 }'
	} | awk '{ s += $1 } END { print s + 0 }'
}
last=-1
for _ in $(seq 1 100); do
	grep -q '^sent ' "$T/piped" && break
	now=$(unread)
	[ "$now" -gt 0 ] && [ "$now" = "$last" ] && break
	last=$now
	sleep 0.1
done
sleep 0.2
left=$(unread)
# The bodies alone (the heads add some 250 bytes each). serve holds the
# first delivery and reads at most 64 KiB past it (one read of up to 64
# KiB may cross the mark): some 150 KiB of the 2 MB.
total=$((150 * $(wc -c < "$SAMPLE")))
taken=$((total - left))
ok "$([ "$taken" -le $((200 * 1024)) ]; echo $?)" "serve read at most\
 about 64 KiB past the delivery in flight (about $taken of $total bytes)"

release_store
wait "$client"
codes=$(sed -n 's/^codes //p' "$T/piped")
is "$(echo "$codes" | tr ' ' '\n' | grep -c '^202$')" 150 \
    "once the store is free, all 150 are answered 202"
# The issues of the jobs, in the order they were made.
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(" ".join(str(r[0]) for r in db.execute(
    "SELECT t.number FROM jobs j JOIN threads t ON t.id = j.thread_id"
    " ORDER BY j.id")))' "$DATA/handoff.db" > "$T/issues"
is "$(tr ' ' '\n' < "$T/issues" | sort -u | wc -l)" 150 \
    "each made a job of its own"
is "$(cat "$T/issues")" "$(seq -s ' ' 100 249)" \
    "the jobs are made in the order the deliveries were sent"

# A client that sends each delivery as soon as it has the last answer.
python3 "$SRCDIR/tests/signed-deliveries.py" turn "$PORT" \
    "$GITHUB_SECRET" "$SAMPLE" 300 40 > "$T/turns" 2>&1
is "$(sed -n 's/^codes //p' "$T/turns")" "$(printf '202 %.0s' $(seq 40) |
    sed 's/ $//')" "40 deliveries in turn on one connection: 40 answers 202"
is "$(job_count)" 190 "190 jobs in all"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly"
done_testing
