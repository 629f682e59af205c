#!/bin/bash
# A [repo] section's [llm] budget reaches the gateway of that repository's
# jobs (the gateway reads the job's repository from the store): Acme/Web's
# job is refused past its own $0.05, while a job of another repository
# spends up to the global $0.10.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
M="$T/model"
mkdir -p "$M"
GW_PIDS=
EXTRA_CLEANUP='for p in $GW_PIDS $MODEL_PID; do kill $p 2>/dev/null; done'

test_certs "$T/certs" srv IP:127.0.0.1
python3 "$SRCDIR/tests/gateway-model.py" "$T/certs/srv.pem" \
    "$T/certs/srv.key" "$M" > "$T/model.port" 2>"$T/model.log" &
MODEL_PID=$!
wait_for "the model server" test -s "$T/model.port"
MPORT=$(cat "$T/model.port")
printf 'sk-test-%s\n' "$$" > "$T/anthropic.key"

# Each answer of the model server costs 0.04 at these prices.
write_config "[llm]" "anthropic_key = file:$T/anthropic.key" \
    "anthropic_url = https://127.0.0.1:$MPORT" "ca_file = $T/certs/ca.pem" \
    "prices = claude-test=1000/1000" "max_cost = 0.1" \
    '[repo "acme/web"]' "llm.max_cost = 0.05"
like "$("$HANDOFF" -c "$CONFIG" check-config --repo Acme/Web)" \
    "max_cost = 0.05" "check-config --repo: Acme/Web's budget"

# A job in each repository, as serve queues them.
start_serve
r1=$(deliver github issues "$(labeled 1)")
r2=$(deliver github issues "$(sample_with "$(labeled 2)" \
    '"full_name": "Codertocat/Hello-World"' '"full_name": "Acme/Web"')")
stop_serve > /dev/null
j1=$(jobnum "$r1") j2=$(jobnum "$r2")
ok "$([ -n "$j1" ] && [ -n "$j2" ]; echo $?)" "two jobs queued: $r1 $r2"

start_gateway() {	# start_gateway JOB KEY
	rm -f "$T/ready"
	printf '%s\n' "$2" | "$HANDOFF" -c "$CONFIG" gateway --job "$1" \
	    --ready 3 3>"$T/ready" 2>>"$T/gateway.log" &
	GW_PIDS="$GW_PIDS $!"
	wait_for "the gateway" grep -q '^ready$' "$T/ready"
}
KEY="hk-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
MSG='{"model":"claude-test","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
# ask JOB: one request through the job's gateway; prints the answer.
ask() {
	python3 "$SRCDIR/tests/gateway-client.py" \
	    "$DATA/jobs/$1/net/gateway.sock" POST /anthropic/v1/messages \
	    -H "x-api-key: $KEY" -H "anthropic-version: 2023-06-01" -d "$MSG" \
	    --raw "$T/answers"
}

start_gateway "$j2" "$KEY"
like "$(ask "$j2")" 200 "Acme/Web: the first request is forwarded"
like "$(ask "$j2")" 200 "and the second (0.04 spent, under 0.05)"
out=$(ask "$j2")
like "$out" 403 "the third is refused"
like "$out" 'budget of $0.05 per job reached ($0.08 spent)' \
    "by Acme/Web's own budget"

start_gateway "$j1" "$KEY"
for i in 1 2 3; do
	like "$(ask "$j1")" 200 "Codertocat/Hello-World: request $i forwarded"
done
out=$(ask "$j1")
like "$out" 'budget of $0.10 per job reached ($0.12 spent)' \
    "the fourth is refused by the global budget"

for p in $GW_PIDS; do
	kill -TERM "$p"
	wait "$p"
	is "$?" 0 "gateway $p exits 0 on SIGTERM"
done
GW_PIDS=
! grep -q -e 'Sanitizer' -e 'runtime error' "$T/gateway.log"
ok $? "no sanitizer report"
done_testing
