#!/bin/bash
# A GitHub delivery is trusted only when X-Hub-Signature-256 matches the raw
# body under the configured secret: anything else is 401 and nothing is stored.
. "$SRCDIR/tests/lib.sh"
write_config
start_serve
S="$SAMPLES/github/derived/issues.labeled.agent.json"

sig=$(github_sig "$S")
cp "$S" "$T/tampered.json"
sed -i 's/"title": "/"title": "x/' "$T/tampered.json"
r=$(post /hooks/github "$T/tampered.json" -H "X-Hub-Signature-256: $sig" \
    -H 'X-GitHub-Event: issues' -H 'X-GitHub-Delivery: t-1')
like "$r" "401 " "tampered body is refused"

r=$(post /hooks/github "$S" -H "X-Hub-Signature-256: $(github_sig "$S" wrong-secret)" \
    -H 'X-GitHub-Event: issues' -H 'X-GitHub-Delivery: t-2')
like "$r" "401 " "wrong secret is refused"

r=$(post /hooks/github "$S" -H 'X-GitHub-Event: issues' -H 'X-GitHub-Delivery: t-3')
like "$r" "401 " "missing signature header is refused"
like "$r" "X-Hub-Signature-256" "the reason names the header"

r=$(post /hooks/github "$S" -H "X-Hub-Signature-256: sha1=0123" \
    -H 'X-GitHub-Event: issues' -H 'X-GitHub-Delivery: t-4')
like "$r" "401 " "a legacy sha1 signature is refused"

r=$(post /hooks/github "$S" -H "X-Hub-Signature-256: ${sig%?}" \
    -H 'X-GitHub-Event: issues' -H 'X-GitHub-Delivery: t-5')
like "$r" "401 " "a truncated signature is refused"

is "$(job_count)" 0 "nothing was stored for refused deliveries"
like "$(curl -s "$WEB_URL/metrics")" \
    'handoff_deliveries_total{forge="github",verdict="unauthorized"} 5' \
    "refusals are counted"

# GitHub's published test vector, over HTTP: the daemon must compute the same.
printf 'Hello, World!' > "$T/hello"
sed -i "s/^webhook_secret = .*/webhook_secret = It's a Secret to Everybody/" "$CONFIG"
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
start_serve
r=$(post /hooks/github "$T/hello" \
    -H 'X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' \
    -H 'X-GitHub-Event: issues' -H 'X-GitHub-Delivery: t-6')
like "$r" "400 " "the published vector authenticates (then fails as JSON, 400)"

r=$(post /hooks/github "$S" -H "X-Hub-Signature-256: $(github_sig "$S" "It's a Secret to Everybody")" \
    -H 'X-GitHub-Event: issues')
like "$r" "400 " "a signed delivery without X-GitHub-Delivery is malformed"
r=$(post /hooks/github "$S" -H "X-Hub-Signature-256: $(github_sig "$S" "It's a Secret to Everybody")" \
    -H 'X-GitHub-Delivery: t-7')
like "$r" "400 " "a signed delivery without X-GitHub-Event is malformed"
r=$(post /hooks/github "$S" -H "X-Hub-Signature-256: $(github_sig "$S" "It's a Secret to Everybody")" \
    -H 'X-GitHub-Event: issues' -H 'X-GitHub-Delivery: t-8' -H 'Content-Type: text/plain')
like "$r" "415 " "an unknown content type is refused"

# The form encoding GitHub offers: signature over the form body as sent.
r=$(deliver github issues "$S" --form)
like "$r" '202 {"verdict":"queued","job":1' "a form-encoded delivery queues a job"
is "$(job_count)" 1 "exactly one job stored"

m=$(curl -s "$WEB_URL/metrics")
like "$m" 'handoff_deliveries_total{forge="github",verdict="unsupported"} 1' \
    "unsupported content type counted"
like "$m" 'handoff_deliveries_total{forge="github",verdict="queued"} 1' "queued counted"
like "$m" 'handoff_deliveries_total{forge="github",verdict="malformed"} 3' "malformed counted"
done_testing
