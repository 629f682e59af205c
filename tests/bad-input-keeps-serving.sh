#!/bin/bash
# Malformed JSON, wrong types, missing fields, deep nesting and a 30 MB body
# get the right status with a reason, and the daemon keeps serving.
. "$SRCDIR/tests/lib.sh"
write_config '[server]' 'max_body = 1M'
start_serve
S="$SAMPLES/github/derived/issues.labeled.agent.json"

n=0
send() {	# send FILE EVENT: signed raw POST
	n=$((n + 1))
	post /hooks/github "$1" -H "X-Hub-Signature-256: $(github_sig "$1")" \
	    -H "X-GitHub-Event: ${2:-issues}" -H "X-GitHub-Delivery: bad-$n"
}

printf '{"action": "labeled", "issue": ' > "$T/truncated.json"
like "$(send "$T/truncated.json")" '400 {"error":' "truncated JSON is 400 with a reason"

printf '{"action":"labeled"} trailing' > "$T/trailing.json"
like "$(send "$T/trailing.json")" '400 ' "trailing garbage is 400"

printf '[1,2,3]' > "$T/array.json"
like "$(send "$T/array.json")" '400 ' "a top-level array is 400"

W=$(sample_with "$S" '"number": [0-9]*' '"number": "seven"')
like "$(send "$W")" '400 ' "a number given as a string is 400"

M=$(sample_with "$S" '"full_name": "[^"]*",' '')
like "$(send "$M")" '400 ' "a missing repository.full_name is 400"
like "$(send "$M")" 'full_name' "the reason names the missing field"

head -c 200000 /dev/zero | tr '\0' '[' > "$T/deep.json"
like "$(send "$T/deep.json")" '400 ' "200000 levels of nesting are 400"

printf '' > "$T/empty.json"
like "$(send "$T/empty.json")" '400 ' "an empty body is 400"

head -c 31457280 /dev/zero > "$T/huge.json"
r=$(send "$T/huge.json")
like "$r" '413' "a 30 MB body is 413"

# Eight at once: each answered 413 and closed while the clients still send.
pids=
for i in 1 2 3 4 5 6 7 8; do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 -X POST \
	    --data-binary "@$T/huge.json" -H "X-Hub-Signature-256: $(github_sig "$T/empty.json")" \
	    "$URL/hooks/github" > "$T/par.$i" &
	pids="$pids $!"
done
wait $pids
is "$(cat "$T"/par.* | sort | uniq -c | tr -s ' ')" " 8 413" "eight 30 MB bodies at once are all 413"
sleep 0.5
is "$(curl -s --max-time 5 "$URL/healthz")" ok "serve is healthy after them"

r=$(curl -s -o /dev/null -w '%{http_code}' -X GET "$URL/hooks/github")
is "$r" 405 "GET on a hook is 405"
r=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nowhere")
is "$r" 404 "an unknown path is 404"

r=$(deliver github issues "$S")
like "$r" '202 {"verdict":"queued","job":1' "a good delivery is still queued afterwards"
is "$(job_count)" 1 "only the good delivery made a job"
m=$(curl -s "$WEB_URL/metrics")
like "$m" 'handoff_deliveries_total{forge="github",verdict="too_large"} 9' "413s counted"
kill -0 "$SERVE_PID"; ok $? "serve is still running"
done_testing
