#!/bin/bash
# Who authenticates and parses a delivery: the loop itself while fewer than
# 16 are in flight and the body is at most 64 KiB, the intake workers
# otherwise. The workers' context switches (in /proc) tell whether they
# ran. One at a time, small deliveries never wake a worker; a large one
# does; and with the store held by another writer, the deliveries that
# arrive once 16 wait for it go to the workers. Every path makes its job.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
write_config
start_serve

# The intake workers' context switches so far, summed.
worker_switches() {
	local t n=0 v
	for t in /proc/"$SERVE_PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = handoff-intake ] || continue
		v=$(awk '/ctxt_switches:/ { s += $2 } END { print s + 0 }' \
		    "$t/status")
		n=$((n + v))
	done
	echo "$n"
}
workers=$(for t in /proc/"$SERVE_PID"/task/*; do cat "$t/comm"; done |
    grep -c '^handoff-intake$')
ok "$([ "$workers" -ge 1 ]; echo $?)" "serve has intake workers ($workers)"

# Small deliveries, one at a time: the loop takes each.
before=$(worker_switches)
codes=""
for i in 1 2 3 4 5 6; do
	codes="$codes $(deliver github issues "$(labeled "$i")" \
	    --delivery "one-$i" | cut -d' ' -f1)"
done
is "$codes" " 202 202 202 202 202 202" \
    "six small deliveries, one at a time, are queued"
is "$(worker_switches)" "$before" "no intake worker woke for them"

# A delivery of over 64 KiB goes to a worker even alone.
python3 - "$(labeled 7)" "$T/large.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["issue"]["body"] = "A long report. " * 5000
open(sys.argv[2], "w").write(json.dumps(d))
EOF
ok "$([ "$(wc -c < "$T/large.json")" -gt 65536 ]; echo $?)" \
    "the large delivery is over 64 KiB ($(wc -c < "$T/large.json") bytes)"
before=$(worker_switches)
like "$(deliver github issues "$T/large.json" --delivery large-1)" "202 " \
    "the large delivery is queued"
ok "$([ "$(worker_switches)" -gt "$before" ]; echo $?)" \
    "an intake worker took it"

# 24 deliveries at once, each on its own connection, while another writer
# holds the store: they pile up in flight, and past 16 the workers take
# them. Once the store is let go, every one is answered and makes its job.
hold_store
is "$STORE_HELD" held "another connection holds the store's write lock"
before=$(worker_switches)
python3 "$SRCDIR/tests/signed-deliveries.py" apart "$PORT" "$GITHUB_SECRET" \
    "$SAMPLES/github/derived/issues.labeled.agent.json" 100 24 \
    > "$T/flood" 2>&1 &
flood=$!
# Past 16 in flight a worker wakes; the writer waits up to 10 s for the
# lock, so the store is let go well before.
for _ in $(seq 1 50); do
	[ "$(worker_switches)" -gt "$before" ] && break
	sleep 0.1
done
woke=$(worker_switches)
release_store
wait "$flood"
ok "$([ "$woke" -gt "$before" ]; echo $?)" \
    "with 16 deliveries waiting for the store, a worker took the next ones"
is "$(tr ' ' '\n' < "$T/flood" | grep -c '^202$')" 24 \
    "all 24 are answered 202 once the store is free"
is "$(job_count)" 31 "31 jobs: one for each delivery"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly"
done_testing
