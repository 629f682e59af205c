#!/bin/bash
# check-config prints every setting but no secret: secrets given inline, as
# file:/path and as env:NAME show only where they came from, and a secret that
# fails validation is not echoed in the error either.
# Env: HANDOFF (the binary). Prints TAP.

. "$SRCDIR/tests/lib.sh"
tmp=$T
cd "$T" || exit 1
unset HANDOFF_CONFIG

# The secrets: each text is unique, so finding it anywhere is a leak.
inline_secret=inline-canary-4f1c9a
file_token=file-canary-7d20be
pem_body=pem-canary-b81e44
env_token=env-canary-0c5a7f
web_token=web-canary-e93d12
signing_key=MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
anthropic_key=sk-ant-canary-61d0e2
openai_key=sk-openai-canary-2b9f47

printf '%s\n' "$file_token" >gitlab-token
printf -- '-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n' \
    "$pem_body" >app.pem
HANDOFF_TEST_GITHUB_TOKEN=$env_token
HANDOFF_TEST_WEB_TOKEN=$web_token
export HANDOFF_TEST_GITHUB_TOKEN HANDOFF_TEST_WEB_TOKEN
printf '%s\n' "$openai_key" >openai-key
HANDOFF_TEST_ANTHROPIC_KEY=$anthropic_key
export HANDOFF_TEST_ANTHROPIC_KEY

cat >secrets.ini <<INI
[server]
data_dir = $tmp/data

[web]
token = env:HANDOFF_TEST_WEB_TOKEN

[github]
webhook_secret = $inline_secret
app_id = 12345
private_key = file:$tmp/app.pem

[gitlab]
token = env:HANDOFF_TEST_GITHUB_TOKEN
webhook_token = file:$tmp/gitlab-token
webhook_signing_token = whsec_$signing_key

[llm]
anthropic_key = env:HANDOFF_TEST_ANTHROPIC_KEY
openai_key = file:$tmp/openai-key
prices = claude-sonnet-4-5=3/15/0.30/3.75
max_cost = 5
INI

run check-config -c secrets.ini
[ "$status" -eq 0 ]
ok $? "check-config exits 0"

leaked=
for s in "$inline_secret" "$file_token" "$pem_body" "$env_token" \
    "$web_token" "$signing_key" "$anthropic_key" "$openai_key"; do
	if has out "$s" || has err "$s"; then
		leaked="$leaked $s"
	fi
done
[ -z "$leaked" ]
ok $? "no secret value in the output${leaked:+ (leaked:$leaked)}"

has out "<set, from env:HANDOFF_TEST_GITHUB_TOKEN>"
ok $? "an env: secret shows <set, from env:NAME>"

has out "<set, from env:HANDOFF_TEST_WEB_TOKEN>"
ok $? "[web] token shows <set, from env:NAME>"

has out "<set, from file:$tmp/gitlab-token>" &&
    has out "<set, from file:$tmp/app.pem>"
ok $? "file: secrets show <set, from file:/path>"

has out "anthropic_key = <set, from env:HANDOFF_TEST_ANTHROPIC_KEY>" &&
    has out "openai_key = <set, from file:$tmp/openai-key>"
ok $? "[llm] keys show where they came from"

has out "prices = claude-sonnet-4-5=3.00/15.00/0.30/3.75" &&
    has out "max_cost = 5.00"
ok $? "[llm] prices and budgets are printed"

has out "<set, inline>"
ok $? "inline secrets show <set, inline>"

has out "app_id = 12345"
ok $? "settings that are not secret are printed"

# A secret that fails validation: the error names the key, not the value.
cat >bad-secret.ini <<INI
[github]
app_id = 12345
private_key = $inline_secret
INI
run check-config -c bad-secret.ini
[ "$status" -eq 2 ] && has err "bad-secret.ini:3:" &&
    has err "private_key" && ! has err "$inline_secret"
ok $? "an invalid inline secret: exit 2, named but not echoed"

printf 'whsec_%s\n' "$pem_body" >short-whsec
cat >bad-whsec.ini <<INI
[gitlab]
webhook_signing_token = file:$tmp/short-whsec
INI
run check-config -c bad-whsec.ini
[ "$status" -eq 2 ] && has err "bad-whsec.ini:2:" &&
    has err "webhook_signing_token" && ! has err "$pem_body"
ok $? "an invalid file: secret: exit 2, named but not echoed"

done_testing
