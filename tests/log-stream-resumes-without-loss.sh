#!/bin/bash
# GET /jobs/N/log with Accept: text/event-stream follows a running job's log
# over a real socket: each line arrives while the agent is still writing;
# a client that leaves mid-run and comes back with the id of the last event
# it got (Last-Event-ID) has, over both connections, exactly the log:
# nothing repeated, nothing lost; the end event carries how the job ended
# (done, failed, cancelled). Log lines that read as fields ("event: end",
# "id: 0"), hold CR or NUL, or run past 16 KiB stay data, as a browser's
# parser reads them. The plain answer is the file, from ?from= on, as
# text a browser will not render.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done
CLIENT="$SRCDIR/tests/log-client.py"
CLIENTS=
EXTRA_CLEANUP='for p in $CLIENTS; do kill $p 2>/dev/null; done'

bare_origin "$T/origin.git"

# The agent prints $T/gate/ISSUE/1, 2, ... as the test puts them there.
mkdir -p "$T/gate"
MAX_PARALLEL=1 write_config "[agent]" \
    "command = $SRCDIR/tests/agents/paced.sh $T/gate" "timeout = 5m" \
    "[sandbox]" "extra_ro = $T/gate, $SRCDIR/tests/agents" \
    "memory = 512M" "pids = 200" "disk = 256M"
start_serve

say() {	# say ISSUE: the agent of ISSUE prints stdin's bytes next
	local n
	mkdir -p "$T/gate/$1"
	n=$(($(cat "$T/gate/$1/.n" 2>/dev/null || echo 0) + 1))
	echo "$n" > "$T/gate/$1/.n"
	cat > "$T/gate/$1/.next"
	mv "$T/gate/$1/.next" "$T/gate/$1/$n"
}
finish() {	# finish ISSUE STATUS: the agent of ISSUE exits with STATUS
	echo "$2" > "$T/gate/$1/.end"
	mv "$T/gate/$1/.end" "$T/gate/$1/end"
}
follow() {	# follow OUT [ARGS...]: a live client in the background
	out=$1
	shift
	python3 "$CLIENT" sse "$WEB_URL/jobs/$J/log" --out "$out" "$@" &
	CLIENTS="$CLIENTS $!"
}
got() {	# got OUT DATA: the client writing OUT has an event with DATA
	[ -f "$1" ] && python3 - "$1" "$2" <<'PY'
import json, os, sys
want = os.fsencode(sys.argv[2]).decode("utf-8")
sys.exit(0 if any(json.loads(l).get("data") == want
                  for l in open(sys.argv[1])) else 1)
PY
}
types() {	# types OUT: the types of the events OUT has
	python3 - "$1" <<'PY'
import json, sys
print(" ".join(sorted({json.loads(l)["event"] for l in open(sys.argv[1])
                       if '"data"' in l})))
PY
}
closed() { grep -q '"closed"' "$1" 2>/dev/null; }
last_id() {	# last_id OUT: the id of the last event OUT has
	python3 - "$1" <<'PY'
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1]) if '"data"' in l]
print(ids[-1])
PY
}

r=$(deliver github issues "$(labeled_at 1 "$T/origin.git")")
J=$(jobnum "$r")
wait_for "job $J to start its agent" log_has "$J" "sandbox: started"
ok $? "job $J runs its agent"

# 1. Lines arrive while the agent runs.
follow "$T/s1" --leave-after "bulk 1500"
printf 'first line from the agent\n' | say 1
wait_for "the first line" got "$T/s1" "first line from the agent"
ok $? "the live client gets the agent's first line"
is "$(job_state "$J")" running "while the job still runs (its agent waits)"
head -n 1 "$T/s1" | grep -q '"status": 200' &&
    head -n 1 "$T/s1" | grep -q '"content-type": "text/event-stream'
ok $? "the answer is 200 text/event-stream"

# 2. Lines that would be fields, blank lines or events if passed raw.
python3 - > "$T/hostile" <<'PY'
import sys
w = sys.stdout.buffer.write
w(b"event: end\n")
w(b"data: forged\n")
w(b"id: 0\n")
w(b"retry: 1\n")
w(b"progress 10%\rprogress 50%\revent: end\r\rid: 1\n")	# CR, as tools draw progress
w(b"windows line\r\n")
w(b"nul\0byte\n")
w(b": a comment\n")
w(b"\n")
w(b"<script>alert(1)</script>\n")
# 40000 bytes in one line, an e-acute across the 16 KiB mark
w(b"L" * 16383 + "\u00e9".encode() + b"x" * 23615 + b"\n")
w(b"after the long line\n")
PY
say 1 < "$T/hostile"
wait_for "the hostile lines" got "$T/s1" "after the long line"
ok $? "the client gets the lines that look like SSE"
got "$T/s1" "event: end"; ok $? "'event: end' in the log is data"
got "$T/s1" "data: forged"; ok $? "'data: forged' in the log is data"
got "$T/s1" "progress 10%"$'\xef\xbf\xbd'"progress 50%"$'\xef\xbf\xbd'"event: end"$'\xef\xbf\xbd\xef\xbf\xbd'"id: 1"
ok $? "a line with CRs stays one line of data, each CR shown as U+FFFD"
is "$(types "$T/s1")" message "no event of another type than message came (no forged end)"
got "$T/s1" ""; ok $? "an empty line is an empty event"

# 3. The client leaves mid-run, in the middle of a burst of lines...
seq -f 'bulk %g' 1 3000 | say 1
wait_for "the client to leave" closed "$T/s1"
grep -q '"closed": "left"' "$T/s1"; ok $? "the first client leaves after bulk 1500"
# ...more is written while nobody listens...
printf 'while nobody listens\n' | say 1
wait_for "the log to grow" log_has "$J" "while nobody listens"
# ...and it comes back with the id of the last event it got.
LAST=$(last_id "$T/s1")
follow "$T/s2" --last-id "$LAST"
wait_for "the resumed client" got "$T/s2" "while nobody listens"
ok $? "the resumed client gets what was written while it was away"
printf 'after the reconnect\n' | say 1
wait_for "a line after the reconnect" got "$T/s2" "after the reconnect"
ok $? "and what comes after"
finish 1 0
wait_for "the stream to end" closed "$T/s2"
is "$(job_state "$J")" done "the job ended done"
grep -q '"closed": "complete"' "$T/s2"; ok $? "the server ends the stream"
python3 "$CLIENT" check "$DATA/jobs/$J/log" "$T/s1" "$T/s2" > "$T/check"
has "$T/check" "union exact"
ok $? "both connections together are the log exactly: nothing lost, nothing repeated ($(sed -n 2p "$T/check"))"
has "$T/check" "end done"; ok $? "the end event says done"
is "$(grep -c '"data": "bulk' "$T/s2")" 1500 "the second connection resumed inside the burst, after bulk 1500"

# 4. A client that comes back after the end gets the end and nothing else.
SIZE=$(stat -c %s "$DATA/jobs/$J/log")
python3 "$CLIENT" sse "$WEB_URL/jobs/$J/log" --last-id "$SIZE" > "$T/s3"
is "$(grep -c '"data"' "$T/s3")" 1 "resumed at the log's end: one event"
has "$T/s3" '"event": "end", "data": "done"'; ok $? "the end"

# 5. The plain answer is the file, from ?from= on, not to be rendered.
curl -s -D "$T/h" -o "$T/plain" "$WEB_URL/jobs/$J/log"
cmp -s "$T/plain" "$DATA/jobs/$J/log"; ok $? "the plain answer is the log file"
tr -d '\r' < "$T/h" | grep -qi '^content-type: text/plain; charset=utf-8$' &&
    tr -d '\r' < "$T/h" | grep -qi '^x-content-type-options: nosniff$' &&
    tr -d '\r' < "$T/h" | grep -qi "^content-security-policy: default-src 'none'; sandbox$"
ok $? "as text/plain, nosniff, in a sandbox: the log's <script> is not run"
curl -s -o "$T/from" "$WEB_URL/jobs/$J/log?from=1000"
tail -c +1001 "$DATA/jobs/$J/log" | cmp -s - "$T/from"
ok $? "?from=1000 answers the log from byte 1000"
code=$(curl -s -o /dev/null -w '%{http_code}' "$WEB_URL/jobs/$J/log?from=$((SIZE + 5))")
is "$code" 200 "?from= past the end: 200, empty"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: text/event-stream' \
    -H 'Last-Event-ID: 12abc' "$WEB_URL/jobs/$J/log")
is "$code" 400 "a Last-Event-ID that is no offset: 400"
code=$(curl -s -o /dev/null -w '%{http_code}' "$WEB_URL/jobs/$J/log?from=-1")
is "$code" 400 "a negative from=: 400"
code=$(curl -s -o /dev/null -w '%{http_code}' "$WEB_URL/jobs/999/log")
is "$code" 404 "an unknown job: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: text/event-stream' \
    "$WEB_URL/jobs/999/log")
is "$code" 404 "an unknown job, live: 404"

# 6. How a job ends is what the end event says: failed, cancelled.
r=$(deliver github issues "$(labeled_at 2 "$T/origin.git")")
J=$(jobnum "$r")
follow "$T/f1"
wait_for "job $J to start its agent" log_has "$J" "sandbox: started"
printf 'about to fail\n' | say 2
wait_for "its line" got "$T/f1" "about to fail"
finish 2 3
wait_for "the stream to end" closed "$T/f1"
python3 "$CLIENT" check "$DATA/jobs/$J/log" "$T/f1" > "$T/check"
has "$T/check" "union exact"; ok $? "a failing job's whole log, from before it ran"
has "$T/check" "end failed"; ok $? "the end event says failed"

r=$(deliver github issues "$(labeled_at 3 "$T/origin.git")")
J=$(jobnum "$r")
follow "$T/c1"
wait_for "job $J to start its agent" log_has "$J" "sandbox: started"
printf 'working\n' | say 3
wait_for "its line" got "$T/c1" "working"
run -c "$CONFIG" cancel "$J"
wait_for "the stream to end" closed "$T/c1"
python3 "$CLIENT" check "$DATA/jobs/$J/log" "$T/c1" > "$T/check"
has "$T/check" "union exact"; ok $? "a cancelled job's whole log"
has "$T/check" "end cancelled"; ok $? "the end event says cancelled"

stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly"
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/serve.log"
ok $? "no sanitizer report"
done_testing
