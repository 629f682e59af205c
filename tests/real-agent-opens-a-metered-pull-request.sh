#!/bin/bash
# A real agent's whole path, end to end: a labeled issue on the emulated
# GitHub, the Claude Code wrapper (contrib/agents/claude-code, with the
# fake `claude` of tests/agents/bin) in the sandbox with network =
# allowlist, its model reached only through handoff's LLM gateway, which
# holds the real key (a canary here) and meters the answers of the test's
# TLS model server. The pull request's description and the status comment
# carry the usage line, the status comment names the host the agent was
# refused, the usage handoff show reports equals what the server sent, and
# the real key is nowhere the agent, the forge or a log could show it.
. "$SRCDIR/tests/lib.sh"
for t in bwrap git python3 curl openssl; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done
FAKES="$SRCDIR/tests/agents/bin"
CANARY="sk-ant-canary-$$-3f9c2e7d1b"
TOKEN="ghp_e2e_$$_9a1c"

# A CA, the model server's certificate, and the server with the real key.
CA_DIR="$T/ca"
test_certs "$CA_DIR" server "IP:127.0.0.1,DNS:localhost"
U1='{"input_tokens":1200,"output_tokens":80,"cache_read_tokens":300,"cache_write_tokens":50}'
U2='{"input_tokens":1500,"output_tokens":40,"cache_read_tokens":900,"cache_write_tokens":0}'
printf '%s\n' '{"answers":[{"text":"I will fix it.","tool_calls":[{"name":"Write","arguments":{"file_path":"README","content":"# Hello-World\n\nRemember to commit often.\n"}}],"usage":'"$U1"'},{"text":"Fixed the spelling of commit.","usage":'"$U2"'}]}' \
    > "$T/script.json"
python3 "$SRCDIR/tests/model-server.py" --cert "$CA_DIR/server.pem" \
    --key "$CA_DIR/server.key" --api-key "$CANARY" --script "$T/script.json" \
    --log "$T/model.log" --totals "$T/totals.json" >"$T/ms.out" 2>"$T/ms.err" &
MS_PID=$!
EXTRA_CLEANUP="kill $MS_PID 2>/dev/null"
wait_for "the model server" grep -q listening "$T/ms.out" ||
    { echo "Bail out! the model server did not start"; exit 1; }
MS=$(sed -n 's/^listening on //p' "$T/ms.out")

start_emulator 12
emu_source "$(printf '# Hello-World\n\nRemember to committ often.')"
emu_project github Codertocat/Hello-World "$TOKEN"
admin POST permissions '{"forge":"github","repo":"Codertocat/Hello-World","user":"Codertocat","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"Codertocat/Hello-World","number":1,"title":"Spelling error in the README file","user":"Codertocat"}' >/dev/null

# The agent: one attempt at a host it is not allowed, then Claude Code.
mkdir -p "$T/agent"
printf '#!/bin/sh\ncurl -sk --max-time 20 -o /dev/null https://blocked.test/ 2>/dev/null\nexec %s "$@"\n' \
    "$SRCDIR/contrib/agents/claude-code" > "$T/agent/run"
chmod 755 "$T/agent/run" "$T/agent"
printf '%s\n' "$CANARY" > "$T/anthropic.key"
chmod 600 "$T/anthropic.key"
MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" "token = $TOKEN" \
    "[agent]" "command = $T/agent/run --model test-model" "env = PATH" \
    "timeout = 60s" \
    "[sandbox]" "network = allowlist" "hosts = blocked.test=127.0.0.1" \
    "extra_ro = $T/agent, $SRCDIR/contrib/agents, $SRCDIR/tests/agents" \
    "memory = 512M" "pids = 200" "disk = 128M" \
    "[llm]" "anthropic_key = file:$T/anthropic.key" "anthropic_url = $MS" \
    "ca_file = $CA_DIR/ca.pem" "prices = test-model=3/15/0.30/3.75"
PATH="$FAKES:$PATH" start_serve

r=$(deliver github issues "$(labeled_at 1 "$E/github/git/Codertocat/Hello-World.git")")
like "$r" '"job":1' "the labeled issue is queued"
wait_job_end 1; ok $? "the job ends"
is "$(job_state 1)" done "the job is done"
[ "$(job_state 1)" = done ] || sed 's/^/#   /' "$DATA/jobs/1/log" 2>/dev/null | tail -30
jq_() { emu_repo Codertocat/Hello-World "$1"; }
body=$(jq_ 's["pulls"][0]["body"]')
like "$body" "Fixed the spelling of commit." "the pull request has the agent's final message"
# 1200+300+50 + 1500+900 in, 80+40 out: 3950 in, 120 out; the cost:
# (2700*3 + 120*15 + 1200*0.30 + 50*3.75) / 1e6 = 0.0104475
like "$body" "Model usage: 2 requests · 4.0k tokens in, 120 out · ≈ \$0.01" \
    "the pull request's description carries the usage line"
mine="[c for c in [i for i in s['issues'] if i['number']==1][0]['comments'] if c['user']=='handoff-bot']"
status_comment=$(jq_ "$mine[0]['body']")
like "$status_comment" "Done (job 1)" "the status comment says done"
like "$status_comment" "Model usage: 2 requests" "and the usage"
like "$status_comment" "blocked: blocked.test:443, not in allow_hosts" \
    "and names the host the agent was refused"
is "$(python3 -c 'import json,sys
L = [json.loads(l) for l in open(sys.argv[1])]
print(sorted({(r["api"], r["status"], r["headers"].get("x-api-key")) for r in L}))' "$T/model.log")" \
    "[('anthropic', 200, '$CANARY')]" "the model got the real key, from the gateway"
j=$("$HANDOFF" -c "$CONFIG" show 1 --json)
is "$(python3 -c 'import json,sys
u = json.load(sys.stdin)["usage"]
print(u["requests"], u["input_tokens"], u["output_tokens"], u["cache_read_tokens"], u["cache_write_tokens"])' <<<"$j")" \
    "2 2700 120 1200 50" "show --json: the usage the server sent"
is "$(python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))["anthropic"]
print(t["requests"], t["input_tokens"], t["output_tokens"], t["cache_read_tokens"], t["cache_write_tokens"])' "$T/totals.json")" \
    "2 2700 120 1200 50" "the server's own totals say the same"
leaks=$(grep -rl -F -e "$CANARY" "$DATA/jobs" "$T/serve.log" "$T/forge" 2>/dev/null | tr '\n' ' ')
is "$leaks" "" "the real key is in no job file, log or forge state"
unlike "$(jq_ 's')" "$CANARY" "nor anywhere on the forge"

# The same with handoff run by an unprivileged user.
rerun_as_user "every check above passes with handoff run by handoff-esc"
done_testing
