#!/bin/bash
# check-config turns a bad configuration into exit status 2 and one line on
# stderr naming the file, the line and the key; -c works before and after
# the subcommand, and $HANDOFF_CONFIG then ./handoff.ini are the fallbacks.
# Env: HANDOFF (the binary). Prints TAP.

. "$SRCDIR/tests/lib.sh"
tmp=$T
cd "$T" || exit 1
unset HANDOFF_CONFIG

# run_with_env FILE ARGS...: run with HANDOFF_CONFIG=FILE for this one call.
run_with_env() {
	HANDOFF_CONFIG=$1
	export HANDOFF_CONFIG
	shift
	run "$@"
	unset HANDOFF_CONFIG
}

# bad NAME LINE KEY TEXT: the config TEXT fails on LINE, naming KEY.
bad() {
	printf '%s' "$4" >"$tmp/$1.ini"
	run check-config -c "$tmp/$1.ini"
	[ "$status" -eq 2 ] && has err "$tmp/$1.ini:$2:" && has err "$3"
	ok $? "$1: exit 2, names $1.ini:$2 and $3"
}

printf '[server]\nlisten = 127.0.0.1:18080\n' >good.ini
printf '[web]\nlisten = 127.0.0.1:18081\n' >other.ini

bad bad-listen 3 "[server] listen" \
    '# comment
[server]
listen = 127.0.0.1:99999
'
bad bad-size 4 "[server] max_body" \
    '[server]
listen = 127.0.0.1:8080

max_body = 25 megabytes
'
bad bad-duration 2 "[agent] timeout" '[agent]
timeout = soon
'
bad bad-bool 2 "[runs] draft" '[runs]
draft = maybe
'
bad bad-enum 2 "[sandbox] network" '[sandbox]
network = internet
'
bad bad-allow 2 "[trigger] allow" '[trigger]
allow = owner, anyone
'
bad zero-per-repo 2 "[runs] max_per_repo" '[runs]
max_per_repo = 0
'
bad bad-branch-prefix 2 "[runs] branch_prefix" '[runs]
branch_prefix = my branch/
'
bad unknown-key 3 "[github] secret" '[github]
api_url = https://api.github.com
secret = x
'
bad unknown-section 5 "[serverr]" '[server]
listen = 127.0.0.1:8080

# a typo
[serverr]
'
bad syntax-error 2 "expected" '[server]
this line has no equals sign
'
bad key-twice 3 "[trigger] label" '[trigger]
label = a
label = b
'
bad missing-env-secret 2 "HANDOFF_TEST_SURELY_UNSET" '[github]
webhook_secret = env:HANDOFF_TEST_SURELY_UNSET
'
bad missing-file-secret 3 "[gitlab] token" "[gitlab]
url = https://gitlab.example.com
token = file:$tmp/no-such-token
"
has err "$tmp/no-such-token"
ok $? "missing-file-secret: names the secret's file"
bad bad-whsec 2 "[gitlab] webhook_signing_token" '[gitlab]
webhook_signing_token = whsec_dG9vLXNob3J0
'
bad app-without-key 2 "[github] app_id" '[github]
app_id = 12345
'
bad bad-price 3 "[llm] prices" '[llm]
openai_url = http://127.0.0.1:8000/v1
prices = gpt-5=1.25/10, claude-x=three/15
'
has err '"claude-x=three/15"'
ok $? "bad-price: names the bad entry"
bad price-twice 2 "[llm] prices" '[llm]
prices = m=1/2, m=3/4
'
bad zero-cost 2 "[llm] max_cost" '[llm]
max_cost = 0
'
bad cost-decimals 2 "[llm] max_cost_per_day" '[llm]
max_cost_per_day = 0.0000001
'
bad bad-llm-url 2 "[llm] anthropic_url" '[llm]
anthropic_url = api.anthropic.com
'

run check-config -c "$tmp/missing.ini"
[ "$status" -eq 2 ] && has err "$tmp/missing.ini"
ok $? "a missing file: exit 2, names the file"

run check-config -c good.ini
[ "$status" -eq 0 ] && has out "listen = 127.0.0.1:18080"
ok $? "check-config -c FILE: exit 0, prints the settings"

run -c good.ini check-config
[ "$status" -eq 0 ] && has out "listen = 127.0.0.1:18080"
ok $? "-c FILE check-config: exit 0, prints the settings"

run check-config -c bad-listen.ini
[ "$status" -eq 2 ] && has err "bad-listen.ini:3:"
ok $? "check-config -c BAD: the named file is read"

run -c bad-listen.ini check-config
[ "$status" -eq 2 ] && has err "bad-listen.ini:3:"
ok $? "-c BAD check-config: the named file is read"

run_with_env "$tmp/good.ini" check-config
[ "$status" -eq 0 ] && has out "listen = 127.0.0.1:18080"
ok $? "HANDOFF_CONFIG names the file when there is no -c"

run_with_env "$tmp/bad-size.ini" check-config
[ "$status" -eq 2 ] && has err "$tmp/bad-size.ini:4:"
ok $? "HANDOFF_CONFIG: its errors name it"

run_with_env "$tmp/bad-size.ini" check-config -c other.ini
[ "$status" -eq 0 ] && has out "listen = 127.0.0.1:18081"
ok $? "-c wins over HANDOFF_CONFIG"

cp bad-duration.ini handoff.ini
run check-config
[ "$status" -eq 2 ] && has err "handoff.ini:2:" && has err "[agent] timeout"
ok $? "without -c or HANDOFF_CONFIG, ./handoff.ini is read"

done_testing
