#!/bin/bash
# A client that sends one byte a second cannot keep a connection past the
# request deadline ([server] timeout): it gets 408 and others are served.
. "$SRCDIR/tests/lib.sh"
TIMEOUT=2s MAX_CONNECTIONS=4 write_config
start_serve
S="$SAMPLES/github/derived/issues.labeled.agent.json"

slow() {	# one byte a second for up to 20 s, then read what came back
	trap '' PIPE	# the server hangs up on us: keep going to read its answer
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return
	req="POST /hooks/github HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"Content-Length: 100"$'\r\n'
	for i in $(seq 0 $(( ${#req} - 1 ))); do
		printf '%s' "${req:$i:1}" >&3 2>/dev/null || break
		sleep 1
		[ "$i" -ge 20 ] && break
	done
	timeout 5 cat <&3
}
for i in 1 2 3; do
	slow > "$T/slow.$i" 2>/dev/null &
	eval "slow_$i=$!"
done
sleep 0.5
for i in 1 2 3 4 5 6; do
	r=$(deliver github issues "$(labeled "$i")" --delivery "fast-$i")
	like "$r" '202 ' "delivery $i served while slow clients trickle"
done
wait "$slow_1" "$slow_2" "$slow_3"
for i in 1 2 3; do
	like "$(cat "$T/slow.$i")" "HTTP/1.1 408" "slow client $i got 408"
done
like "$(curl -s "$WEB_URL/metrics")" \
    'handoff_deliveries_total{forge="unknown",verdict="timed_out"} 3' \
    "the 408s are counted (under forge=unknown: the path never arrived)"


# More slow clients than connection slots: the excess waits in the backlog,
# and once the deadline frees the slots a normal delivery gets through.
flood=
for i in 1 2 3 4 5 6; do
	slow > /dev/null 2>&1 &
	flood="$flood $!"
done
r=$(deliver github issues "$(labeled 7)" --delivery "after-flood")
like "$r" '202 ' "a delivery gets through after the slots are freed"
kill -0 "$SERVE_PID"; ok $? "serve is still running"
wait $flood
done_testing
