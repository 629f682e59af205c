#!/bin/bash
# GitLab deliveries: the secret token (X-Gitlab-Token, constant-time) and the
# signing token (Standard Webhooks: webhook-id, webhook-timestamp,
# webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>").
. "$SRCDIR/tests/lib.sh"
WITH_SIGNING=1 write_config '[trigger]' 'label = Platform'
start_serve
G="$SAMPLES/gitlab/issue.json"
# Accepted deliveries name issues of their own: a label event for an issue
# whose implementation is queued is a duplicate of it.
for i in 22 24 25; do
	sed "s|\"iid\": 23,|\"iid\": $i,|" "$G" > "$T/issue-$i.json"
done
key_hex=$(printf '%s' "${GITLAB_SIGNING#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')

sign() {	# sign ID TS FILE
	{ printf '%s.%s.' "$1" "$2"; cat "$3"; } |
	    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary | base64
}
n=0
gl() {	# gl FILE CURL-ARGS...: a raw GitLab POST with a fresh event UUID
	n=$((n + 1))
	f=$1; shift
	post /hooks/gitlab "$f" -H 'X-Gitlab-Event: Issue Hook' \
	    -H "X-Gitlab-Event-UUID: uuid-$n" "$@"
}

like "$(gl "$G" -H "X-Gitlab-Token: $GITLAB_TOKEN")" '202 ' "the secret token is accepted"
like "$(gl "$G" -H 'X-Gitlab-Token: wrong')" '401 ' "a wrong token is refused"
like "$(gl "$G" -H "X-Gitlab-Token: ${GITLAB_TOKEN}x")" '401 ' "a longer token is refused"
like "$(gl "$G")" '401 ' "no token is refused"

now=$(date +%s)
s=$(sign msg-1 "$now" "$T/issue-22.json")
like "$(gl "$T/issue-22.json" -H 'webhook-id: msg-1' -H "webhook-timestamp: $now" \
    -H "webhook-signature: v1,$s")" '202 ' "a valid signature is accepted"

cp "$G" "$T/tampered.json"; sed -i 's/"title": "New API/"title": "Evil API/' "$T/tampered.json"
like "$(gl "$T/tampered.json" -H 'webhook-id: msg-2' -H "webhook-timestamp: $now" \
    -H "webhook-signature: v1,$(sign msg-2 "$now" "$G")" -H "X-Gitlab-Token: $GITLAB_TOKEN")" \
    '401 ' "a tampered signed body is refused even with the right token"

old=$((now - 600))
like "$(gl "$G" -H 'webhook-id: msg-3' -H "webhook-timestamp: $old" \
    -H "webhook-signature: v1,$(sign msg-3 "$old" "$G")")" '401 ' \
    "a signature 10 minutes old is refused"
future=$((now + 600))
like "$(gl "$G" -H 'webhook-id: msg-4' -H "webhook-timestamp: $future" \
    -H "webhook-signature: v1,$(sign msg-4 "$future" "$G")")" '401 ' \
    "a signature 10 minutes ahead is refused"

like "$(gl "$T/issue-25.json" -H 'webhook-id: msg-5' -H "webhook-timestamp: $now" \
    -H "webhook-signature: v2,abc v1,AAAA v1,$(sign msg-5 "$now" "$T/issue-25.json")")" '202 ' \
    "any one of several signatures may match (key rotation)"
like "$(gl "$T/issue-25.json" -H 'webhook-id: msg-6' -H "webhook-timestamp: $now" \
    -H "webhook-signature: v1,$(sign msg-5 "$now" "$T/issue-25.json")")" '401 ' \
    "a signature for another id is refused"

# webhook-id is the delivery id: a resend is a duplicate.
r=$(gl "$T/issue-22.json" -H 'webhook-id: msg-1' -H "webhook-timestamp: $now" \
    -H "webhook-signature: v1,$s" -H 'Idempotency-Key: msg-1')
like "$r" '200 {"verdict":"duplicate"' "a resent signed delivery is a duplicate"

# handoff deliver signs with the configured signing token.
like "$(deliver gitlab 'Issue Hook' "$T/issue-24.json")" '202 ' "handoff deliver signs GitLab deliveries"
is "$(job_count)" 4 "four jobs from the accepted deliveries"
done_testing
