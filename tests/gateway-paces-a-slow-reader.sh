#!/bin/bash
# The LLM gateway holds back an answer its client reads more slowly than the
# model server sends it, instead of buffering it: a client that reads a
# large answer (a 48 MiB stream, a JSON answer near 32 MiB) late or slowly
# gets all of it, byte for byte, metered once; while it reads nothing, the
# gateway's memory stays far below the answer's size; a client that leaves
# meanwhile ends the upstream transfer; one that stops reading for good is
# cut after the low-speed time; an endless answer is still cut at its bound;
# several held answers at once hold up no other request.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
GW_PIDS=
MS_PID=
HELD=
EXTRA_CLEANUP='for p in $HELD $GW_PIDS $MS_PID; do kill $p 2>/dev/null; done'
MIB=$((1024 * 1024))
BOUND=$((8 * MIB))	# what the gateway may grow by while a client waits
KEY="sk-test-$$-7c1e92b4"

# The model server over TLS, answering what $T/script.json says.
test_certs "$T/certs" srv IP:127.0.0.1
TOTALS="$T/totals.json"
echo '{}' > "$T/script.json"
python3 "$SRCDIR/tests/model-server.py" --cert "$T/certs/srv.pem" \
    --key "$T/certs/srv.key" --api-key "$KEY" --script "$T/script.json" \
    --totals "$TOTALS" > "$T/ms.out" 2> "$T/ms.err" &
MS_PID=$!
wait_for "the model server" grep -q listening "$T/ms.out"
MS=$(sed -n 's/^listening on //p' "$T/ms.out")
printf '%s\n' "$KEY" > "$T/anthropic.key"
write_config "[llm]" "anthropic_key = file:$T/anthropic.key" \
    "anthropic_url = $MS" "ca_file = $T/certs/ca.pem"
CONFIG_A=$CONFIG
start_serve
deliver github issues "$(labeled 2)" > /dev/null
deliver github issues "$(labeled 3)" > /dev/null
deliver github issues "$(labeled 4)" > /dev/null
stop_serve > /dev/null
newkey() { printf 'hk-%s' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"; }
KEY1=$(newkey)
KEY2=$(newkey)
KEY3=$(newkey)

# start_gateway JOB KEY: a gateway of its own (a fresh peak memory).
start_gateway() {
	rm -f "$T/ready"
	printf '%s\n' "$2" | "$HANDOFF" -c "$CONFIG_A" gateway --job "$1" \
	    --ready 3 3>"$T/ready" 2>>"$T/gateway.log" &
	GW_PID=$!
	GW_PIDS="$GW_PIDS $GW_PID"
	wait_for "the gateway" grep -q '^ready$' "$T/ready"
	SOCK="$DATA/jobs/$1/net/gateway.sock"
	GW_KEY=$2
	# Once warm (libcurl, TLS): what it grows by next is the answer's.
	answer '{"text": "warm"}'
	slow "$WHOLE" > /dev/null
}
stop_gateway() {
	kill -TERM "$GW_PID"
	wait "$GW_PID"
	is "$?" 0 "the gateway exits 0 on SIGTERM"
	GW_PIDS=${GW_PIDS/ $GW_PID/}
}
# answer JSON: what the model server answers next. N: its usage's tokens.
N=0
answer() {
	N=$((N + 1))
	printf '{"default": %s}\n' "$(printf '%s' "$1" | sed \
	    "s/}\$/, \"usage\": {\"input_tokens\": $((100 + N)), \"output_tokens\": $((1000 + N))}}/")" \
	    > "$T/script.json"
}
done_requests() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["all"]["requests"])' "$TOTALS"; }
# slow BODY ARGS...: a Messages request through the gateway, read as ARGS say.
slow() {
	body=$1
	shift
	python3 "$SRCDIR/tests/gateway-slow-client.py" "$SOCK" /anthropic/v1/messages \
	    "$body" -H "x-api-key: $GW_KEY" -H "anthropic-version: 2023-06-01" "$@"
}
JSON_SIZE=31000000		# its JSON is 30.3 MiB, under the 32 MiB bound
STREAM_SIZE=$((48 * MIB))	# streamed: 49 MiB, far under 256 MiB
STREAMED='{"model":"claude-test","stream":true,"max_tokens":9,"messages":[]}'
WHOLE='{"model":"claude-test","max_tokens":9,"messages":[]}'

# held REQUEST SIZE WHAT: a fresh gateway answers REQUEST with SIZE bytes
# of text to a client that holds it a while, then reads it all.
held() {
	start_gateway 1 "$KEY1"
	answer "{\"huge\": $2}"
	out=$(slow "$1" --hold 4 --watch "$GW_PID" --bound "$BOUND" --huge "$2")
	like "$out" 200 "$3: 200"
	grew=$(printf '%s\n' "$out" | sed -n 's/^grew //p')
	[ -n "$grew" ] && [ "$grew" -lt "$BOUND" ]
	ok $? "while its client read nothing, the gateway grew by $grew bytes, under $BOUND"
	like "$out" "complete" "then the client got all of it"
	like "$out" "text ok" "byte for byte"
}

# A JSON answer near its bound, read after the client held it a while.
held "$WHOLE" "$JSON_SIZE" "a JSON answer near 32 MiB"
stop_gateway

# A 48 MiB stream, the same way (every event whole); then one read slowly
# throughout.
held "$STREAMED" "$STREAM_SIZE" "a 48 MiB stream"
answer "{\"huge\": $STREAM_SIZE}"
out=$(slow "$STREAMED" --slow --huge "$STREAM_SIZE")
like "$out" "complete" "a 48 MiB stream read slowly throughout: all of it"
like "$out" "text ok" "byte for byte"
! grep -q 'reads too slowly' "$T/gateway.log"
ok $? "no slow reader was dropped"

# Each answer metered once, with what the server reported.
rows=$(python3 - "$DATA/handoff.db" <<'PY'
import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute("SELECT model, input_tokens,"
        " output_tokens FROM usage WHERE job_id = 1 ORDER BY id"):
    print(*r)
PY
)
want="claude-test 101 1001
claude-test 102 1002
claude-test 103 1003
claude-test 104 1004
claude-test 105 1005"
is "$rows" "$want" "one usage row per answer, its tokens as reported, none counted twice"

# An endless answer read late is still cut at its bound, and not before.
answer '{"endless": true}'
out=$(slow "$WHOLE" --hold 1)
n=$(printf '%s' "$out" | sed -n 's/^cut after \([0-9]*\)$/\1/p')
[ -n "$n" ] && [ "$n" -gt $((31 * MIB)) ] && [ "$n" -le $((32 * MIB)) ]
ok $? "an endless answer read late is cut at 32 MiB (${n:-no cut})"

# A client that leaves while its answer waits: the upstream transfer ends.
before=$(done_requests)
answer "{\"huge\": $STREAM_SIZE}"
out=$(slow "$STREAMED" --hold 2 --leave)
like "$out" left "a client leaves while its answer waits"
wait_for "the upstream transfer to end" test "$(done_requests)" -gt "$before"
ok $? "the gateway ends its upstream transfer"
answer '{"text": "still here"}'
out=$(slow "$WHOLE")
like "$out" complete "and serves the next request"
stop_gateway

# Three clients hold 24 MiB answers at once: the gateway stays small, and
# answers another request meanwhile; then each gets all of its answer.
hwm() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }
start_gateway 3 "$KEY3"
base=$(hwm "$GW_PID")
[ -n "$base" ] || { echo "Bail out! no VmHWM in /proc/$GW_PID/status"; exit 1; }
answer "{\"huge\": $((24 * MIB))}"
for i in 1 2 3; do
	slow "$STREAMED" --hold-until "$T/go:go" --huge $((24 * MIB)) > "$T/held.$i" &
	HELD="$HELD $!"
done
wait_for "the held answers to start" sh -c "cat $T/held.1 $T/held.2 $T/held.3 | grep -c 200 | grep -qx 3"
ok $? "three clients hold their answers"
answer '{"text": "meanwhile"}'
out=$(slow "$WHOLE")
like "$out" complete "another request is answered meanwhile"
for _ in $(seq 30); do	# a chance to buffer, were the gateway to
	[ $(( $(hwm "$GW_PID") - base )) -gt $((3 * BOUND / 1024)) ] && break
	sleep 0.1
done
grew=$(( ($(hwm "$GW_PID") - base) * 1024 ))
[ "$grew" -lt $((3 * BOUND)) ]
ok $? "the gateway grew by $grew bytes for 72 MiB held, under $((3 * BOUND))"
echo go > "$T/go"
for p in $HELD; do wait "$p"; done
HELD=
is "$(cat "$T/held.1" "$T/held.2" "$T/held.3" | grep -c 'text ok')" 3 \
    "then each client got all of its answer, byte for byte"
stop_gateway

# A client that stops reading for good is cut after the low-speed time.
export HANDOFF_TEST_LOW_SPEED_S=2
start_gateway 2 "$KEY2"
unset HANDOFF_TEST_LOW_SPEED_S
before=$(done_requests)
answer "{\"huge\": $STREAM_SIZE}"
out=$(slow "$STREAMED" --hold-until "$T/gateway.log:read under 1 byte/s")
like "$out" "cut after" "a client that stops reading is cut"
grep -q 'job 2: a client read under 1 byte/s for 2 s; its answer was cut' "$T/gateway.log"
ok $? "the gateway says why"
wait_for "the upstream transfer to end" test "$(done_requests)" -gt "$before"
ok $? "and ends its upstream transfer"
answer '{"text": "still here"}'
out=$(slow "$WHOLE")
like "$out" complete "the gateway serves the next request"
stop_gateway

! grep -q -e 'Sanitizer' -e 'runtime error' "$T/gateway.log"
ok $? "no sanitizer report"
done_testing
