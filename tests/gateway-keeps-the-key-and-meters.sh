#!/bin/bash
# The LLM gateway keeps the real key: only the job's own key passes, the
# model server sees the operator's key and never the job's, no answer and
# no log line carries it; answers stream through as they come and are
# metered into the store as the server reported them; upstream faults pass
# through; budgets refuse in the provider's format and say why; an endless
# answer is cut; other paths are not forwarded.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
M="$T/model"
mkdir -p "$M"
GW_PIDS=
EXTRA_CLEANUP='for p in $GW_PIDS $MODEL_PID; do kill $p 2>/dev/null; done'

# A CA and the model server's certificate for 127.0.0.1.
test_certs "$T/certs" srv IP:127.0.0.1
cp "$T/certs/ca.pem" "$T/ca.pem"
cp "$T/certs/srv.pem" "$T/srv.pem"
cp "$T/certs/srv.key" "$T/srv.key"
python3 "$SRCDIR/tests/gateway-model.py" "$T/srv.pem" "$T/srv.key" "$M" \
    > "$T/model.port" 2>"$T/model.log" &
MODEL_PID=$!
wait_for "the model server" test -s "$T/model.port"
MPORT=$(cat "$T/model.port")

CANARY_A="sk-canary-anthropic-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
CANARY_O="sk-canary-openai-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$CANARY_A" > "$T/anthropic.key"
printf '%s\n' "$CANARY_O" > "$T/openai.key"
LLM=("[llm]" "anthropic_key = file:$T/anthropic.key"
    "openai_key = file:$T/openai.key"
    "anthropic_url = https://127.0.0.1:$MPORT"
    "openai_url = https://127.0.0.1:$MPORT"
    "ca_file = $T/ca.pem")
write_config "${LLM[@]}" "prices = claude-test=3/15/0.3/3.75, gpt-test=2/8/0.5"
CONFIG_A=$CONFIG
# Two jobs in the store, as serve queues them.
start_serve
deliver github issues "$(labeled 2)" > /dev/null
deliver github issues "$(labeled 3)" > /dev/null
stop_serve > /dev/null
is "$(python3 -c 'import sqlite3,sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM jobs").fetchone()[0])' \
    "$DATA/handoff.db")" 2 "two jobs queued"
newkey() { printf 'hk-%s' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"; }
KEY1=$(newkey)
KEY2=$(newkey)

# start_gateway JOB KEY CONFIG: the gateway, ready when it says so on fd 3.
start_gateway() {
	rm -f "$T/ready"
	printf '%s\n' "$2" | "$HANDOFF" -c "$3" gateway --job "$1" --ready 3 \
	    3>"$T/ready" 2>>"$T/gateway.log" &
	GW_PID=$!
	GW_PIDS="$GW_PIDS $GW_PID"
	wait_for "the gateway" grep -q '^ready$' "$T/ready"
}
start_gateway 1 "$KEY1" "$CONFIG_A"
SOCK="$DATA/jobs/1/net/gateway.sock"
gw() { python3 "$SRCDIR/tests/gateway-client.py" "$SOCK" "$@" --raw "$T/answers"; }
seen() { [ -f "$M/requests.jsonl" ] && wc -l < "$M/requests.jsonl" || echo 0; }
last() { tail -n 1 "$M/requests.jsonl"; }
MSG='{"model":"claude-test","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
AV="anthropic-version: 2023-06-01"

# Keys.
out=$(gw POST /anthropic/v1/messages -H "x-api-key: hk-$(printf '0%.0s' $(seq 48))" -H "$AV" -d "$MSG")
like "$out" 401 "a wrong key: 401"
like "$out" '"type":"authentication_error"' "in Anthropic's format"
out=$(gw POST /openai/v1/chat/completions -H "Authorization: Bearer $KEY2" \
    -d '{"model":"gpt-test","messages":[]}')
like "$out" 401 "another job's key: 401"
like "$out" '"error":{"message"' "in OpenAI's format"
out=$(gw POST /anthropic/v1/messages -H "$AV" -d "$MSG")
like "$out" 401 "no key: 401"
out=$(gw POST /anthropic/v1/messages -H "x-api-key: $KEY1" -H "Authorization: Bearer $KEY2" -H "$AV" -d "$MSG")
like "$out" 401 "the job's key beside another: 401"
is "$(seen)" 0 "nothing reached the model server"

# The right key: forwarded with the operator's key instead.
out=$(gw POST '/anthropic/v1/messages?beta=true' -H "x-api-key: $KEY1" -H "$AV" \
    -H "anthropic-beta: tools-2024" -H "Cookie: c=1" -d "$MSG")
like "$out" '"input_tokens": 11' "the job's key: the model's answer"
python3 - "$(last)" "$CANARY_A" "$KEY1" > "$T/check" <<'PY'
import json, sys
r, canary, key = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
h = dict(r["headers"])
print(r["path"], h.get("x-api-key") == canary, key in json.dumps(r),
      h.get("anthropic-version"), h.get("anthropic-beta"), "cookie" in h,
      "authorization" in h, h.get("accept-encoding"))
PY
is "$(cat "$T/check")" "/v1/messages?beta=true True False 2023-06-01 tools-2024 False False identity" \
    "upstream: the path and query, the real key, not the job's; versions kept; cookie dropped; identity"
out=$(gw POST /openai/v1/responses -H "Authorization: Bearer $KEY1" \
    -d '{"model":"gpt-test","input":"hi","stream":true}')
like "$out" 'response.completed' "Responses, streamed"
python3 - "$(last)" "$CANARY_O" "$KEY1" > "$T/check" <<'PY'
import json, sys
r, canary, key = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
h = dict(r["headers"])
print(r["path"], h.get("authorization") == "Bearer " + canary, key in json.dumps(r))
PY
is "$(cat "$T/check")" "/responses True False" "OpenAI: Bearer with the real key, not the job's"

# Streams.
out=$(gw POST /anthropic/v1/messages -H "x-api-key: $KEY1" -H "$AV" \
    -d '{"model":"claude-test","stream":true,"messages":[]}')
like "$out" 'event: message_stop' "Messages, streamed"
out=$(gw POST /openai/v1/chat/completions -H "Authorization: Bearer $KEY1" \
    -d '{"model":"gpt-test","stream":true,"messages":[]}')
like "$out" '"prompt_tokens": 50' "Chat Completions streamed: the usage chunk came"
is "$(python3 -c 'import json,sys; print(json.loads(json.loads(sys.argv[1])["body"])["stream_options"])' "$(last)")" \
    "{'include_usage': True}" "include_usage was added to the request"
out=$(gw POST /anthropic/v1/messages -H "x-api-key: $KEY1" -H "$AV" \
    -d '{"model":"claude-slow","stream":true,"messages":[]}' --release "$M/release")
like "$out" 'first-part-before-release' "a streamed answer's first part arrives while the upstream still waits"
like "$out" 'event: message_stop' "and the rest after"
rm -f "$M/release"
out=$(gw POST /anthropic/v1/messages -H "x-api-key: $KEY1" -H "$AV" \
    -d '{"model":"claude-slow","stream":true,"messages":[]}' --leave)
wait_for "the upstream transfer to end" test -f "$M/client-left"
ok $? "a client that leaves ends the upstream transfer"
rm -f "$M/client-left"
python3 "$SRCDIR/tests/gateway-client.py" "$SOCK" POST /anthropic/v1/messages \
    -H "x-api-key: $KEY1" -H "$AV" -d '{"model":"claude-hold"}' > /dev/null 2>&1 &
client=$!
wait_for "the held request upstream" grep -q claude-hold "$M/requests.jsonl"
kill "$client"
wait_for "the upstream transfer to end" test -f "$M/client-left"
ok $? "a client that leaves before its answer starts ends the upstream transfer too"
out=$(gw POST /anthropic/v1/messages/count_tokens -H "x-api-key: $KEY1" -H "$AV" -d "$MSG")
like "$out" '"input_tokens": 17' "count_tokens is forwarded"
out=$(gw GET /openai/v1/models -H "Authorization: Bearer $KEY1")
like "$out" 'gpt-test' "models is forwarded"

# Faults pass through.
n=$(seen)
out=$(gw POST /anthropic/v1/messages -H "x-api-key: $KEY1" -H "$AV" -d '{"model":"fault-500"}')
like "$out" 500 "upstream 500: 500"
like "$out" 'upstream broke' "with the upstream's body"
out=$(gw POST /openai/v1/chat/completions -H "Authorization: Bearer $KEY1" -d '{"model":"fault-429"}')
like "$out" 429 "upstream 429: 429"
like "$(tail -n 30 "$T/answers")" 'Retry-After: 7' "with its Retry-After"

# Paths.
n=$(seen)
for p in /anthropic/v1/complete /openai/v1/files /anthropic/v1/messages/../../x \
    /v1/messages /openai/v1/chat/completions/x; do
	out=$(gw POST "$p" -H "x-api-key: $KEY1" -d '{}')
	like "$out" 404 "$p: 404"
done
is "$(seen)" "$n" "no unknown path was forwarded"

# An endless answer is cut, its usage recorded, and the gateway stays.
out=$(gw POST /anthropic/v1/messages -H "x-api-key: $KEY1" -H "$AV" -d '{"model":"endless"}')
like "$out" 'cut after' "an endless answer is cut"
n=$(printf '%s' "$out" | sed -n 's/^cut after \([0-9]*\) bytes$/\1/p')
[ -n "$n" ] && [ "$n" -le $((32 * 1024 * 1024)) ]
ok $? "at 32 MiB ($n bytes)"
grep -q 'an answer over 32 MiB was cut' "$T/gateway.log"
ok $? "the gateway says why"
out=$(gw GET /openai/v1/models -H "Authorization: Bearer $KEY1")
like "$out" 200 "the gateway still answers"

# What the store holds is what the server reported.
rows=$(python3 - "$DATA/handoff.db" <<'PY'
import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute("SELECT model, input_tokens,"
        " output_tokens, cache_read_tokens, cache_write_tokens, cost_micros"
        " FROM usage WHERE job_id = 1 ORDER BY id"):
    print(*r)
PY
)
want="claude-test 11 22 3 4 379
gpt-test 25 9 5 0 125
claude-test 100 42 20 10 974
gpt-test 40 7 10 0 141
claude-slow 5 6 0 0 None
claude-slow 5 1 0 0 None
endless 0 0 0 0 None"
is "$rows" "$want" "usage rows: tokens and costs as the server reported them"

# A streamed answer keeps its connection for the client's next request,
# as the CLIs' HTTP clients expect: three answers on one connection.
ka=$(python3 - "$SOCK" "$KEY1" <<'PY'
import http.client, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(sys.argv[1])
c = C("localhost")
c.connect()
first = c.sock
out = []
for i in range(3):
    c.request("POST", "/anthropic/v1/messages",
              '{"model":"claude-test","stream":true,"messages":[]}',
              {"x-api-key": sys.argv[2], "anthropic-version": "2023-06-01"})
    r = c.getresponse()
    body = r.read()
    out.append("%d %s %s" % (r.status, b"message_stop" in body,
                             c.sock is first and not r.will_close))
print(" / ".join(out))
PY
)
is "$ka" "200 True True / 200 True True / 200 True True" \
    "a streamed answer keeps the connection: three on one"

# The canaries and the job's keys are nowhere the agent or a log can see.
for f in "$T/answers" "$T/gateway.log"; do
	! grep -q -e "$CANARY_A" -e "$CANARY_O" "$f"
	ok $? "no real key in $(basename "$f")"
done

# The socket: as root, the sandbox's relay user can connect, no other.
if [ "$(id -u)" = 0 ]; then
	for d in "$T" "$DATA" "$DATA/jobs" "$DATA/jobs/1"; do chmod 711 "$d"; done
	install -m 644 "$SRCDIR/tests/gateway-client.py" "$T/client.py"
	py=$(command -v /usr/bin/python3 || command -v python3)
	out=$(setpriv --reuid 65533 --regid 65533 --clear-groups \
	    "$py" "$T/client.py" "$SOCK" GET /openai/v1/models \
	    -H "Authorization: Bearer $KEY1" 2>&1)
	like "$out" 200 "uid 65533 (the relay) connects"
	out=$(setpriv --reuid 65532 --regid 65532 --clear-groups \
	    "$py" "$T/client.py" "$SOCK" GET /openai/v1/models \
	    -H "Authorization: Bearer $KEY1" 2>&1)
	like "$out" 'Permission denied' "another uid cannot"
else
	is "$(stat -c %a "$SOCK") $(stat -c %a "$DATA/jobs/1/net")" "600 700" \
	    "the socket and its directory are the user's alone"
fi

# A budget: job 2 may spend 0.10; each answer costs 0.04.
write_config "${LLM[@]}" "max_cost = 0.1" "prices = claude-test=1000/1000"
start_gateway 2 "$KEY2" "$CONFIG"
SOCK="$DATA/jobs/2/net/gateway.sock"
for i in 1 2 3; do
	out=$(gw POST /anthropic/v1/messages -H "x-api-key: $KEY2" -H "$AV" -d "$MSG")
	like "$out" 200 "within the budget: request $i forwarded"
done
n=$(seen)
out=$(gw POST /anthropic/v1/messages -H "x-api-key: $KEY2" -H "$AV" -d "$MSG")
like "$out" 403 "the budget reached: 403"
like "$out" '"type":"permission_error","message":"budget of $0.10 per job reached ($0.12 spent)"' \
    "in Anthropic's format, with the reason"
is "$(cat "$DATA/jobs/2/net/budget")" 'budget: budget of $0.10 per job reached ($0.12 spent)' \
    "the reason is where the runner reads it"
out=$(gw POST /openai/v1/chat/completions -H "Authorization: Bearer $KEY2" -d '{"model":"claude-test"}')
like "$out" '"code":"budget_exceeded"' "every later request is refused, in OpenAI's format"
is "$(seen)" "$n" "nothing refused was forwarded"
! grep -q -e "$CANARY_A" -e "$CANARY_O" "$T/gateway.log" "$T/answers"
ok $? "still no real key in answers or logs"

# SIGTERM stops each gateway cleanly (sanitizers report on exit).
for p in $GW_PIDS; do
	kill -TERM "$p"
	wait "$p"
	is "$?" 0 "gateway $p exits 0 on SIGTERM"
done
GW_PIDS=
! grep -q -e 'Sanitizer' -e 'runtime error' "$T/gateway.log"
ok $? "no sanitizer report"
done_testing
