#!/bin/bash
# SIGTERM stops accepting, finishes the request in flight, and exits 0.
. "$SRCDIR/tests/lib.sh"
write_config
start_serve
S="$SAMPLES/github/derived/issues.labeled.agent.json"
len=$(wc -c < "$S")
sig=$(github_sig "$S")

exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: issues\r\nX-GitHub-Delivery: inflight\r\nX-Hub-Signature-256: %s\r\nContent-Length: %s\r\n\r\n' \
    "$sig" "$len" >&3
head -c 100 "$S" >&3
sleep 0.3
kill -TERM "$SERVE_PID"
sleep 0.5
kill -0 "$SERVE_PID"; ok $? "serve waits for the request in flight"
curl -s -o /dev/null --max-time 2 "$URL/healthz"
ok $([ $? -ne 0 ] && echo 0 || echo 1) "new connections are refused"
tail -c +101 "$S" >&3
resp=$(timeout 10 cat <&3)
like "$resp" "HTTP/1.1 202" "the request in flight is answered 202"
like "$resp" '"delivery":"inflight"' "with its delivery"
wait "$SERVE_PID"; status=$?; SERVE_PID=
is "$status" 0 "serve exits 0"
is "$(job_count)" 1 "the job is stored"
done_testing
