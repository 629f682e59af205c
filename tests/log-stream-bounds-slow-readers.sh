#!/bin/bash
# A job's log is served in bounded pieces, however big it is and however
# slowly it is read: clients that open a 40 MB log live and a 50 MB log
# plain and then read nothing hold serve's memory (its peak resident set,
# VmHWM) to less than 32 MiB over what it was idle, and later get all of
# it, byte for byte; a 50 MB log read at full speed comes back whole within
# the same bound. 200 live streams at once follow a log while webhook
# deliveries on the other listener are each answered 202; at most 256 log
# answers run at once (the 257th: 503), and one that ends frees its place.
# Serve stopping ends every stream: a live one whole (its client resumes
# from its last event), a plain one cut (its client must not take a part
# for all), and nothing leaks.
. "$SRCDIR/tests/lib.sh"

command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
command -v ss >/dev/null || { echo "Bail out! ss (iproute2) is needed"; exit 1; }
CLIENT="$SRCDIR/tests/log-client.py"
CLIENTS=
EXTRA_CLEANUP='for p in $CLIENTS; do kill $p 2>/dev/null; done'
MIB=$((1024 * 1024))
BOUND=$((32 * MIB))
# ASan keeps what is freed in a quarantine (256 MiB by default) that would
# count as serve's own memory here: a small one lets RSS tell what serve
# holds. Nothing else about the sanitizers changes.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"

write_config
start_serve
PID=$SERVE_PID

# Two jobs that ended, with big logs written straight into their files.
for n in 1 2; do
	deliver github issues "$(labeled $n)" > /dev/null
	run -c "$CONFIG" cancel "$n"
	mkdir -p "$DATA/jobs/$n"
done
is "$(job_state 1) $(job_state 2)" "cancelled cancelled" "jobs 1 and 2 have ended"
# bigfile PATH MB: lines of 1 to 200 bytes, some of 20 to 70 KB, some CRs.
bigfile() {
	python3 - "$1" "$2" <<'PY'
import random, sys
r = random.Random(14)
size = int(sys.argv[2]) * 1000 * 1000
text = bytes(r.choice(b"abcdefghij klmnop\r") for _ in range(80000))
with open(sys.argv[1], "wb") as f:
    n = 0
    while n < size:
        k = r.randrange(20000, 70000) if r.random() < 0.002 else r.randrange(1, 200)
        at = r.randrange(0, 10000)
        f.write(text[at:at + k] + b"\n")
        n += k + 1
PY
}
bigfile "$DATA/jobs/1/log" 40
bigfile "$DATA/jobs/2/log" 50
BIG_SHA=$(sha256sum < "$DATA/jobs/2/log" | cut -d' ' -f1)

rss() { awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$PID/status"; }
hwm() { awk '$1 == "VmHWM:" { print $2 * 1024 }' "/proc/$PID/status"; }
peak_reset() {
	echo 5 > "/proc/$PID/clear_refs" ||
	    { echo "Bail out! cannot reset serve's peak memory"; exit 1; }
}
within() {	# within WHAT: serve's peak since peak_reset is under the bound
	local grew=$(($(hwm) - IDLE))
	[ "$grew" -lt "$BOUND" ]
	ok $? "$1: serve's peak memory grew by $((grew / 1024)) KiB, under $((BOUND / MIB)) MiB"
}
sent_q() {	# sent_q: serve's connections on the status listener whose
		# send queue in the kernel is not empty (their clients' are full)
	ss -Htn state established "( sport = :$WEB_PORT )" |
	    awk '$2 > 0 { n++ } END { print n + 0 }'
}

# Warm: a page of each kind once, then serve's idle memory.
curl -s -o /dev/null "$WEB_URL/jobs/1/log?from=39999000"
python3 "$CLIENT" sse "$WEB_URL/jobs/1/log" --last-id 39999000 > /dev/null
IDLE=$(rss)
peak_reset

# 1. Clients that open the big logs and read nothing.
python3 "$CLIENT" sse "$WEB_URL/jobs/1/log" --rcvbuf 4096 \
    --hold-until "$T/go" --out "$T/live" &
CLIENTS="$CLIENTS $!"
python3 "$CLIENT" plain "$WEB_URL/jobs/2/log" --rcvbuf 4096 \
    --hold-until "$T/go" --ready "$T/plain-ready" > "$T/plain" &
CLIENTS="$CLIENTS $!"
wait_for "the answers to start" test -s "$T/live" -a -f "$T/plain-ready"
head -n 1 "$T/live" | grep -q '"status": 200'; ok $? "the live answer starts"
has "$T/plain-ready" "status 200"; ok $? "the plain answer starts"
# Serve has written all the kernel takes: it now holds the rest, or not.
wait_for "serve to fill both connections" test "$(sent_q)" -eq 2
ok $? "both clients' buffers are full, serve's are not empty"
for i in 1 2 3; do curl -s -o /dev/null "$WEB_URL/healthz"; done
within "two clients of 40 and 50 MB logs read nothing"
touch "$T/go"
wait_for "the live client to finish" grep -q '"closed"' "$T/live"
wait_for "the plain client to finish" grep -q '^sha256' "$T/plain"
has "$T/live" '"closed": "complete"'; ok $? "then the live client gets its answer to the end"
python3 "$CLIENT" check "$DATA/jobs/1/log" "$T/live" > "$T/check"
has "$T/check" "union exact"; ok $? "every line of the 40 MB log, exactly ($(head -n 1 "$T/check"))"
has "$T/check" "end cancelled"; ok $? "and the end"
has "$T/plain" complete; ok $? "the plain client gets all of its answer"
has "$T/plain" "sha256 $BIG_SHA"; ok $? "the 50 MB log, byte for byte"
within "both read to their end"
! grep -q 'reads too slowly' "$T/serve.log"; ok $? "no client was dropped"

# 2. The 50 MB log read at full speed.
peak_reset
curl -s "$WEB_URL/jobs/2/log" | sha256sum | cut -d' ' -f1 > "$T/sha"
is "$(cat "$T/sha")" "$BIG_SHA" "a 50 MB log fetched plain comes back whole"
within "a 50 MB log fetched at full speed"

# 3. 200 live streams of a queued job's log, while deliveries come in.
deliver github issues "$(labeled 3)" > /dev/null
is "$(job_state 3)" queued "job 3 is queued (nothing runs jobs here)"
mkdir -p "$DATA/jobs/3"
printf 'first line\n' > "$DATA/jobs/3/log"
peak_reset
python3 "$CLIENT" many "$WEB_URL/jobs/3/log" 200 --ready "$T/r200" \
    --release "$T/never" --out "$T/m200" > "$T/many200" &
MANY200=$!
CLIENTS="$CLIENTS $MANY200"
wait_for "200 streams" test -f "$T/r200"
is "$(cat "$T/r200")" "200 200" "200 streams at once, each answered 200"
accepted=0
for i in $(seq 1 30); do
	r=$(deliver github issues "$(labeled $((100 + i)))")
	case $r in 202*) accepted=$((accepted + 1)) ;; esac
	printf 'delivery %d\n' "$i" >> "$DATA/jobs/3/log"
done
is "$accepted" 30 "30 deliveries meanwhile, each answered 202"
every() {	# every: each of the 200 streams got every line, in order
	python3 - "$T/m200" <<'PY'
import collections, sys
got = collections.defaultdict(list)
for line in open(sys.argv[1]):
    i, _, data = line.rstrip("\n").partition(" ")
    got[i].append(data)
want = ["first line"] + ["delivery %d" % i for i in range(1, 31)]
sys.exit(0 if len(got) == 200 and all(v == want for v in got.values()) else 1)
PY
}
wait_for "every stream to have every line" every
ok $? "each of the 200 streams got each line as it was written, in order"
within "200 live streams"

# 4. At most 256 at once; one that ends frees its place.
python3 "$CLIENT" many "$WEB_URL/jobs/3/log" 56 --ready "$T/r56" \
    --release "$T/rel56" > "$T/many56" &
MANY56=$!
CLIENTS="$CLIENTS $MANY56"
wait_for "56 more streams" test -f "$T/r56"
is "$(cat "$T/r56")" "200 56" "56 more: 256 streams at once"
code=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Accept: text/event-stream' \
    "$WEB_URL/jobs/3/log")
is "$code" 503 "the 257th stream: 503"
has "$T/body" "too many"; ok $? "saying why"
code=$(curl -s -o /dev/null -w '%{http_code}' "$WEB_URL/jobs/3/log")
is "$code" 503 "a plain answer counts too: 503"
code=$(curl -s -o /dev/null -w '%{http_code}' "$WEB_URL/healthz")
is "$code" 200 "the status listener still answers the rest"
touch "$T/rel56"
wait "$MANY56"
let_in() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$WEB_URL/jobs/3/log")" = 200 ]; }
wait_for "serve to see them leave" let_in
ok $? "once 56 left, a new answer is let in"

# 5. Serve stops with 200 live streams and a plain one that reads nothing.
python3 "$CLIENT" plain "$WEB_URL/jobs/2/log" --rcvbuf 4096 \
    --hold-until "$T/go2" --ready "$T/plain2-ready" > "$T/plain2" &
PLAIN2=$!
CLIENTS="$CLIENTS $PLAIN2"
wait_for "the plain answer to start" test -f "$T/plain2-ready"
kill -TERM "$PID"
# Serve's loop says so, then ends the streams before it sends anything
# more: from here the plain client may read all serve would still send.
wait_for "serve to stop" grep -q 'finishing requests in flight' "$T/serve.log"
touch "$T/go2"
wait "$PLAIN2"
has "$T/plain2" cut; ok $? "the plain answer was cut, not ended as if whole"
wait "$MANY200"
is "$(cat "$T/many200")" "open 0 complete 200 cut 0" "each live stream was ended whole"
wait "$PID"
is "$?" 0 "serve exits 0 (no leak, no sanitizer report)"
SERVE_PID=
! grep -q 'ERROR: AddressSanitizer\|runtime error\|LeakSanitizer' "$T/serve.log"
ok $? "no sanitizer report"
done_testing
