#!/bin/bash
# The agent wrappers of contrib/agents (claude-code, codex, aider, opencode)
# drive their CLIs as handoff needs, run unmodified against fake CLIs
# (tests/agents/bin) that speak to the test model server
# (tests/model-server.py) over TLS with a CA made here, the way the real
# tools do. First the model server itself: each API streamed and not, the
# usage it reports, 401/429/500 in each provider's format, a held stream
# that arrives in pieces, endless and huge answers. Then each wrapper,
# outside any sandbox, with proxy variables pointing at nothing and
# NO_PROXY covering loopback: the request shape and key each tool sent,
# the file edit made, the summary equal to the tool's final message, the
# tool's state kept in $HOME and out of the repository, no telemetry or
# update checks, usage totals as reported, and the exit status mirrored (a
# model 500, a wrong key → non-zero). Then each wrapper through `handoff
# run` in the real sandbox with [sandbox] network = allowlist and its model
# reached only through handoff's LLM gateway ([llm] pointing at the model
# server over TLS, the real key a file: secret), as root and as an
# unprivileged user: uid 1000, HOME=/home/agent, the edit on the branch,
# the summary, no telemetry, the job's key in the tool's environment and
# the real key at the server, the job's usage equal to the server's, and a
# model that keeps answering 500 failing the job.
. "$SRCDIR/tests/sandbox-lib.sh"
command -v bwrap >/dev/null || { echo "Bail out! bubblewrap is needed"; exit 1; }
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
[ -x /usr/bin/python3 ] || { echo "Bail out! /usr/bin/python3 is needed (the fakes run in the sandbox)"; exit 1; }
FAKES="$SRCDIR/tests/agents/bin"
WRAPPERS="$SRCDIR/contrib/agents"
KEY="sk-test-$$-5e1f0c9a"
BADKEY="sk-wrong-$$-0d2b7e11"

# --- a CA and the model server's certificate, readable by every half ---
CA_DIR="$T/ca"
test_certs "$CA_DIR" server "IP:127.0.0.1,DNS:localhost"
CA="$CA_DIR/ca.pem"

# --- the model server ---
MLOG="$T/model.log"
TOTALS="$T/totals.json"
SCRIPT="$T/script.json"
echo '{}' > "$SCRIPT"
python3 "$SRCDIR/tests/model-server.py" --cert "$CA_DIR/server.pem" \
    --key "$CA_DIR/server.key" --api-key "$KEY" --script "$SCRIPT" \
    --log "$MLOG" --totals "$TOTALS" >"$T/ms.out" 2>"$T/ms.err" &
MS_PID=$!
EXTRA_CLEANUP="$EXTRA_CLEANUP; kill $MS_PID 2>/dev/null"
for _ in $(seq 100); do
	grep -q listening "$T/ms.out" && break
	sleep 0.1
done
MS=$(sed -n 's/^listening on //p' "$T/ms.out")
[ -n "$MS" ] || { echo "Bail out! the model server did not start"
    sed 's/^/# /' "$T/ms.err"; exit 1; }

# q EXPR: EXPR in Python, with L the requests the server logged since the
# last `fresh` (dicts: method, path, api, headers, body, status, usage), D
# the usage totals it reported since then per API ("anthropic", "chat",
# "responses"), and json.
q() {
	python3 - "$MLOG" "$TOTALS" "$T/totals.before" "$1" <<'PY'
import json, sys
log, totals, before, expr = sys.argv[1:5]
L = [json.loads(l) for l in open(log)] if open(log).read().strip() else []
now, was = json.load(open(totals)), json.load(open(before))
D = {api: {k: now[api][k] - was[api][k] for k in now[api]} for api in now}
print(eval(expr))
PY
}
# fresh SCRIPT-JSON: a new script for the server, the log emptied, the
# totals remembered.
fresh() {
	printf '%s\n' "$1" > "$SCRIPT"
	: > "$MLOG"
	cp "$TOTALS" "$T/totals.before"
}
fresh '{}'

# usage IN OUT CACHE-READ CACHE-WRITE: a usage object.
usage() {
	printf '{"input_tokens":%s,"output_tokens":%s,"cache_read_tokens":%s,"cache_write_tokens":%s}' "$@"
}
U1=$(usage 1200 80 300 50)
U2=$(usage 1500 40 900 0)

# ============ the model server ============
# sse API STREAM-BODY: POST with the right key; the answer in $T/body.
call() {	# call PATH AUTH-HEADER BODY [CURL-ARGS...]
	local path=$1 auth=$2 body=$3
	shift 3
	curl -s --cacert "$CA" -o "$T/body" -D "$T/headers" -w '%{http_code}' \
	    -H "$auth" -H 'Content-Type: application/json' -d "$body" "$@" \
	    "$MS$path"
}
A="x-api-key: $KEY"
B="Authorization: Bearer $KEY"
fresh '{"default":{"text":"Hello there.","usage":'"$U1"'}}'
is "$(call /v1/messages "$A" '{"model":"m","messages":[]}')" 200 "server: Messages answers"
is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["content"][0]["text"], d["usage"])' "$T/body")" \
    "Hello there. {'input_tokens': 1200, 'cache_creation_input_tokens': 50, 'cache_read_input_tokens': 300, 'output_tokens': 80}" \
    "server: Messages not streamed carries the text and the usage with cache fields"
call /v1/messages "$A" '{"model":"m","stream":true,"messages":[]}' >/dev/null
is "$(grep '^event: ' "$T/body" | sed 's/event: //' | uniq | tr '\n' ' ')" \
    "message_start content_block_start ping content_block_delta content_block_stop message_delta message_stop " \
    "server: Messages streamed sends Anthropic's events in order"
like "$(grep -A1 'event: message_delta' "$T/body")" '"usage": {"output_tokens": 80}' \
    "server: message_delta carries the cumulative output tokens"
call /v1/chat/completions "$B" '{"model":"m","stream":true}' >/dev/null
is "$(grep -c '"usage": {' "$T/body")" 0 "server: Chat Completions streamed has no usage unless asked"
is "$(tail -n 2 "$T/body" | head -n 1)" "data: [DONE]" "server: ... and ends with [DONE]"
call /v1/chat/completions "$B" '{"model":"m","stream":true,"stream_options":{"include_usage":true}}' >/dev/null
like "$(grep '"choices": \[\]' "$T/body")" '"prompt_tokens": 1500, "completion_tokens": 80, "total_tokens": 1580, "prompt_tokens_details": {"cached_tokens": 300}' \
    "server: with include_usage, a last chunk with no choices has the usage, cached tokens inside prompt tokens"
call /v1/chat/completions "$B" '{"model":"m"}' >/dev/null
like "$(cat "$T/body")" '"object": "chat.completion"' "server: Chat Completions not streamed"
call /v1/responses "$B" '{"model":"m","stream":true}' >/dev/null
like "$(grep -A1 'event: response.completed' "$T/body")" '"usage": {"input_tokens": 1500, "input_tokens_details": {"cached_tokens": 300}, "output_tokens": 80' \
    "server: Responses streamed has the usage on response.completed"
call /v1/responses "$B" '{"model":"m"}' >/dev/null
like "$(cat "$T/body")" '"object": "response", ' "server: Responses not streamed"
is "$(q 'D["anthropic"]["input_tokens"], D["chat"]["requests"], D["chat"]["input_tokens"], D["responses"]["cache_read_tokens"], D["responses"]["cache_write_tokens"]')" \
    "(2400, 3, 2400, 600, 0)" \
    "server: its totals count what it reported (no usage in a stream that did not ask)"
is "$(call /v1/messages "x-api-key: $BADKEY" '{}')" 401 "server: a wrong x-api-key is 401"
like "$(cat "$T/body")" '{"type": "error", "error": {"type": "authentication_error"' "server: ... in Anthropic's format"
is "$(call /v1/messages "$B" '{}')" 401 "server: Messages wants x-api-key, not a bearer"
is "$(call /v1/responses "Authorization: Bearer $BADKEY" '{}')" 401 "server: a wrong bearer is 401"
like "$(cat "$T/body")" '"code": "invalid_api_key"' "server: ... in OpenAI's format"
fresh '{"answers":[{"status":429,"retry_after":3},{"status":500}]}'
is "$(call /v1/chat/completions "$B" '{"model":"m"}')" 429 "server: a scripted 429"
has "$T/headers" "Retry-After: 3"
ok $? "server: ... with Retry-After"
is "$(call /v1/messages "$A" '{"model":"m"}')" 500 "server: a scripted 500"
like "$(cat "$T/body")" '"type": "api_error"' "server: ... in the provider's format"
# A held stream: the first piece arrives, the end only once released.
fresh '{"answers":[{"text":"one two three four","chunks":4,"hold":true,"usage":'"$U1"'}]}'
curl -sN --cacert "$CA" -H "$A" -d '{"model":"m","stream":true}' \
    "$MS/v1/messages" > "$T/held" &
held=$!
first_piece() { grep -q '"text": "one ' "$T/held"; }
wait_for "the first piece" first_piece
ok $? "server: a held stream sends its first piece"
has "$T/held" message_stop
is $? 1 "server: ... and not its end"
curl -s -X POST "$MS/_admin/release" --cacert "$CA" >/dev/null
wait "$held"
has "$T/held" message_stop
ok $? "server: ... which comes once released"
fresh '{"answers":[{"endless":true},{"huge":3000000}]}'
n=$(curl -sN --cacert "$CA" -H "$B" -d '{"model":"m","stream":true}' \
    "$MS/v1/responses" | head -c 5000000 | wc -c)
is "$n" 5000000 "server: an endless stream goes on past 5 MB"
is "$(call /v1/messages "$A" '{"model":"m"}')" 200 "server: answers again after the endless one"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["content"][0]["text"]))' "$T/body")
is "$n" 3000000 "server: a huge answer has the size asked for"

# ============ the wrappers, outside any sandbox ============
# The script for each tool: an edit, then the final message.
final_of() { echo "Finished: $1 wrote its file."; }
script_for() {	# script_for TOOL: the server's answers for TOOL's run
	local fin
	fin=$(final_of "$1")
	case $1 in
	claude-code) echo '{"answers":[{"text":"I will write it.","tool_calls":[{"name":"Write","arguments":{"file_path":"notes/claude.txt","content":"written by claude\n"}}],"usage":'"$U1"'},{"text":"'"$fin"'","usage":'"$U2"'}]}' ;;
	codex) echo '{"answers":[{"tool_calls":[{"name":"apply_patch","arguments":{"input":"*** Begin Patch\n*** Add File: notes/codex.txt\n+written by codex\n*** End Patch"}}],"usage":'"$U1"'},{"text":"'"$fin"'","usage":'"$U2"'}]}' ;;
	aider) echo '{"answers":[{"text":"'"$fin"'\n\nREADME\n```\n<<<<<<< SEARCH\nA test repository.\n=======\nA test repository, written by aider.\n>>>>>>> REPLACE\n```","usage":'"$U1"'}]}' ;;
	opencode|opencode-openai) echo '{"answers":[{"tool_calls":[{"name":"write","arguments":{"filePath":"notes/opencode.txt","content":"written by opencode\n"}}],"usage":'"$U1"'},{"text":"'"$fin"'","usage":'"$U2"'}]}' ;;
	esac
}
file_of() {	# file_of TOOL: the file its run writes, and what it holds
	case $1 in
	claude-code) echo "notes/claude.txt:written by claude" ;;
	codex) echo "notes/codex.txt:written by codex" ;;
	aider) echo "README:A test repository, written by aider." ;;
	opencode*) echo "notes/opencode.txt:written by opencode" ;;
	esac
}
api_of() {
	case $1 in
	claude-code|opencode) echo anthropic ;;
	codex) echo responses ;;
	aider|opencode-openai) echo chat ;;
	esac
}
wrapper_of() { case $1 in opencode-openai) echo opencode ;; *) echo "$1" ;; esac; }
args_of() { case $1 in opencode-openai) echo "--model gateway-openai/gpt-4.1" ;; esac; }

# The variables handoff gives the agent (the gateway's base URLs, the
# job's key, proxy variables: here a proxy where nothing listens), and the
# CA each tool reads.
tool_env() {	# tool_env KEY: NAME=VALUE lines
	cat <<-EOF
	ANTHROPIC_BASE_URL=$MS
	ANTHROPIC_API_KEY=$1
	OPENAI_BASE_URL=$MS/v1
	OPENAI_API_KEY=$1
	NODE_EXTRA_CA_CERTS=$CA
	SSL_CERT_FILE=$CA
	HTTP_PROXY=http://127.0.0.1:9
	HTTPS_PROXY=http://127.0.0.1:9
	ALL_PROXY=http://127.0.0.1:9
	http_proxy=http://127.0.0.1:9
	https_proxy=http://127.0.0.1:9
	all_proxy=http://127.0.0.1:9
	NO_PROXY=localhost,127.0.0.1,::1
	no_proxy=localhost,127.0.0.1,::1
	EOF
}

# outside TOOL [KEY]: the wrapper in a fresh repository $R with HOME $H,
# as handoff would run it; status in $status, output in $T/out, $T/err.
outside() {
	local tool=$1 key=${2:-$KEY} w
	w=$(wrapper_of "$tool")
	R="$T/out-$tool.$RANDOM"
	H="$R.home"
	mkrepo "$R"
	mkdir -p "$H"
	printf 'Write the file\n\nPlease write it.\n' > "$R.task"
	: > "$R.summary"
	# Claude Code refuses to skip permissions as root outside a sandbox.
	root=
	[ "$(id -u)" = 0 ] && root=IS_SANDBOX=1
	# shellcheck disable=SC2046
	(cd "$R" && env -i PATH="$FAKES:/usr/bin:/bin" HOME="$H" LANG=C.UTF-8 \
	    HANDOFF_TASK="$R.task" HANDOFF_SUMMARY="$R.summary" $root \
	    $(tool_env "$key") "$WRAPPERS/$w" $(args_of "$tool")) \
	    >"$T/out" 2>"$T/err"
	status=$?
}

for tool in claude-code codex aider opencode opencode-openai; do
	P="[outside $tool]"
	fresh "$(script_for "$tool")"
	outside "$tool"
	is "$status" 0 "$P the wrapper exits 0"
	[ "$status" = 0 ] || sed 's/^/#   /' "$T/err"
	f=$(file_of "$tool")
	is "$(cat "$R/${f%%:*}" 2>/dev/null)" "${f#*:}" "$P the tool made the edit the model asked for"
	is "$(cat "$R.summary")" "$(final_of "$tool")" "$P the summary is the tool's final message"
	api=$(api_of "$tool")
	n=$([ "$tool" = aider ] && echo 1 || echo 2)
	is "$(q "[(r['method'], r['api'], r['status']) for r in L]")" \
	    "$(python3 -c "print([('POST', '$api', 200)] * $n)")" \
	    "$P $n requests to the $api API, answered"
	if [ "$api" = anthropic ]; then
		is "$(q "sorted({(r['headers'].get('x-api-key'), r['headers'].get('anthropic-version'), 'authorization' in r['headers']) for r in L})")" \
		    "[('$KEY', '2023-06-01', False)]" "$P the key as x-api-key, with anthropic-version"
	else
		is "$(q "sorted({(r['headers'].get('authorization'), 'x-api-key' in r['headers']) for r in L})")" \
		    "[('Bearer $KEY', False)]" "$P the key as a bearer token"
	fi
	is "$(q "sorted({r['body'].get('stream') for r in L})")" "[True]" "$P every request is streamed"
	case $tool in
	claude-code)
		is "$(q "L[0]['path'], L[0]['body']['messages'][0]['content'][0]['text'].splitlines()[0], L[0]['headers']['user-agent'].split('/')[0]")" \
		    "('/v1/messages', 'Write the file', 'claude-cli')" "$P Messages at ANTHROPIC_BASE_URL/v1/messages with the task"
		is "$(q "L[1]['body']['messages'][2]['content'][0]['type']")" tool_result "$P the second request returns the tool's result"
		ls "$H"/.claude/projects/*/*.jsonl >/dev/null 2>&1
		ok $? "$P its transcripts are under \$HOME/.claude" ;;
	codex)
		is "$(q "L[0]['path'], L[0]['headers']['originator'], L[0]['body']['input'][0]['content'][0]['text'].splitlines()[0], L[0]['body']['store']")" \
		    "('/v1/responses', 'codex_exec', 'Write the file', False)" "$P Responses at the custom provider's base_url over HTTP"
		is "$(q "[i['type'] for i in L[1]['body']['input']]")" \
		    "['message', 'function_call', 'function_call_output']" "$P the second request returns the patch's result"
		is "$(q "[r for r in L if r['method'] == 'GET']")" "[]" "$P no WebSocket attempt"
		has "$H/.codex/config.toml" 'supports_websockets = false'
		ok $? "$P its config is \$HOME/.codex/config.toml"
		like "$(cat "$T/out")" "$(final_of codex)" "$P the final message is on stdout" ;;
	aider)
		is "$(q "L[0]['path'], L[0]['body']['model'], 'stream_options' in L[0]['body'], L[0]['headers']['user-agent'].split('/')[0]")" \
		    "('/v1/chat/completions', 'gpt-4.1', False, 'OpenAI')" "$P Chat Completions as LiteLLM sends them, without stream_options"
		is "$(git -C "$R" log --format=%s)" initial "$P aider committed nothing (handoff commits)"
		[ ! -e "$R/.gitignore" ]
		ok $? "$P .gitignore is left alone"
		[ -s "$H/.aider/chat.history.md" ]
		ok $? "$P its history is under \$HOME/.aider" ;;
	opencode)
		is "$(q "L[0]['path'], L[0]['headers']['user-agent'].split('/')[0], L[0]['body']['model']")" \
		    "('/v1/messages', 'opencode', 'claude-sonnet-4-5')" "$P Messages at the baseURL of OPENCODE_CONFIG_CONTENT"
		[ -d "$H/.local/share/opencode/storage" ]
		ok $? "$P its data is under \$HOME/.local/share/opencode" ;;
	opencode-openai)
		is "$(q "L[0]['path'], L[0]['body']['model'], L[0]['body'].get('stream_options')")" \
		    "('/v1/chat/completions', 'gpt-4.1', {'include_usage': True})" "$P Chat Completions through the openai-compatible provider" ;;
	esac
	# The repository holds the edit and nothing of the tool's own.
	is "$(git -C "$R" status --porcelain --untracked-files=all | sed 's/^...//' | tr '\n' ' ')" \
	    "${f%%:*} " "$P the repository holds the edit only"
	# Telemetry, error reports, update checks: none (aider's price list
	# has no switch).
	nonessential=$(grep -v '^https://raw.githubusercontent.com/BerriAI/litellm/' \
	    "$H/.fake-cli-nonessential.log" 2>/dev/null)
	is "$nonessential" "" "$P no telemetry or update check"
	# What the server reported, and so what a gateway should meter.
	case $tool in
	aider) want="1 0 0 0 0" ;;	# no include_usage: no usage on the wire
	codex|opencode-openai) want="2 2700 120 1200 0" ;;
	*) want="2 2700 120 1200 50" ;;
	esac
	is "$(q "' '.join(str(D['$api'][k]) for k in ('requests', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens'))")" \
	    "$want" "$P usage reported: requests, input, output, cache read, cache write"
done

# A model that keeps failing: each wrapper exits non-zero, nothing edited.
for tool in claude-code codex aider opencode; do
	P="[outside $tool, model 500]"
	fresh '{"answers":[{"status":500,"times":100}]}'
	outside "$tool"
	ok "$([ "$status" -ne 0 ]; echo $?)" "$P the wrapper exits non-zero (got $status)"
	f=$(file_of "$tool")
	is "$(git -C "$R" status --porcelain --untracked-files=all)" "" "$P nothing is edited"
	is "$(q "sorted({r['status'] for r in L})")" "[500]" "$P the tool got the 500s"
done

# A 429 with Retry-After, then the answers: the tool retries and succeeds.
P="[outside claude-code, 429 first]"
fresh '{"answers":[{"status":429,"retry_after":1},'"$(script_for claude-code | sed 's/^{"answers":\[//')"
outside claude-code
is "$status" 0 "$P the wrapper exits 0"
is "$(q "[r['status'] for r in L]")" "[429, 200, 200]" "$P the tool retried after the 429"
is "$(cat "$R.summary")" "$(final_of claude-code)" "$P the summary is the final message"

# A key the server does not take: 401, non-zero.
for tool in claude-code codex; do
	P="[outside $tool, wrong key]"
	fresh "$(script_for "$tool")"
	outside "$tool" "$BADKEY"
	ok "$([ "$status" -ne 0 ]; echo $?)" "$P the wrapper exits non-zero (got $status)"
	is "$(q "sorted({r['status'] for r in L})")" "[401]" "$P the server answered 401"
done

# ============ the wrappers in handoff's sandbox, through the gateway ============
# Each job has network = allowlist (no host allowed) and [llm] pointing at
# the model server over TLS with the real key as a file: secret; the CA is
# not in the sandbox and nothing of the server's is passed in: the tool
# reaches the model only through the gateway's base URL, with the job's key.
# Before the wrapper, the agent's command writes its environment to the
# job's log with a key of handoff's shape (hk- and 48 hex digits) masked.
mkdir -p "$T/agent"
cat > "$T/agent/run" <<'EOF'
#!/bin/sh
env | sed 's/hk-[0-9a-f]\{48\}/hk-<48 hex>/g; s/^/agent-env: /' >&2
exec "$@"
EOF
chmod 755 "$T/agent" "$T/agent/run"

# in_sandbox TOOL: handoff run, as the half's user, of TOOL's wrapper
# behind the allowlist and the gateway, the fakes on PATH.
in_sandbox() {
	local tool=$1 name
	name="$tool-$RANDOM"
	REPO="$D/repo-$name"
	mkrepo "$REPO"
	TASKFILE="$D/task-$name.md"
	printf 'Write the file\n\nPlease write it.\n' > "$TASKFILE"
	printf '%s\n' "$KEY" > "$D/llm.key"
	chmod 600 "$D/llm.key"
	DATA="$D/data-$name" write_config '[agent]' \
	    "command = $T/agent/run $WRAPPERS/$(wrapper_of "$tool") $(args_of "$tool")" \
	    'timeout = 60s' 'env = PATH' \
	    '[sandbox]' 'network = allowlist' 'pids = 200' 'memory = 512M' 'disk = 64M' \
	    "extra_ro = $T/agent, $WRAPPERS, $SRCDIR/tests/agents" \
	    '[llm]' "anthropic_key = file:$D/llm.key" "anthropic_url = $MS" \
	    "openai_key = file:$D/llm.key" "openai_url = $MS/v1" \
	    "ca_file = $CA"
	CFG="$D/$name.ini"
	mv "$CONFIG" "$CFG"
	own "$REPO" "$TASKFILE" "$CFG" "$D/llm.key"
	# The half's handoff finds the fakes on PATH (su keeps no PATH).
	cat > "$D/hrun" <<-EOF
	#!/bin/sh
	export PATH="$FAKES:/usr/local/bin:/usr/bin:/bin"
	exec "\$@"
	EOF
	chmod 755 "$D/hrun"
	if [ "$WHO" = user ] && $IS_ROOT; then
		su -s /bin/sh -c "exec \"$D/hrun\" \"$HANDOFF\" -c \"$CFG\" run --repo \"$REPO\" --task-file \"$TASKFILE\"" \
		    "$ESC_USER" >"$T/out" 2>"$T/err"
	else
		"$D/hrun" "$HANDOFF" -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE" \
		    >"$T/out" 2>"$T/err"
	fi
	status=$?
}

# job_id: the newest job of the case's store.
job_id() {
	"$D/handoff" -c "$CFG" jobs --json --limit 1 |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])'
}

sandboxed() {	# sandboxed root|user
	local tool f api auth want got
	half_setup "$1"
	for tool in claude-code codex aider opencode opencode-openai; do
		P="[sandbox $WHO $tool]"
		fresh "$(script_for "$tool")"
		in_sandbox "$tool"
		is "$status" 0 "$P handoff run exits 0"
		[ "$status" = 0 ] || sed 's/^/#   /' "$T/err" "$T/out"
		f=$(file_of "$tool")
		is "$(G show "handoff/local-1:${f%%:*}" 2>/dev/null)" "${f#*:}" \
		    "$P the edit is on the branch"
		like "$(cat "$T/out")" "$(final_of "$tool")" "$P the summary is the tool's final message"
		log=$(job_log)
		like "$log" "fake-cli: $(wrapper_of "$tool" | sed 's/-code//') as uid 1000 in /workspace, HOME=/home/agent" \
		    "$P the tool ran as uid 1000 in /workspace with HOME=/home/agent"
		case $log in
		*"nonessential traffic: https://raw.githubusercontent.com/BerriAI"*)
			nonessential=$(printf '%s\n' "$log" | grep 'nonessential traffic' |
			    grep -v -c BerriAI) ;;
		*) nonessential=$(printf '%s\n' "$log" | grep -c 'nonessential traffic') ;;
		esac
		is "$nonessential" 0 "$P no telemetry or update check"
		# The tool held the job's key and the gateway's base URLs ...
		is "$(printf '%s\n' "$log" | grep -E '^agent-env: (ANTHROPIC|OPENAI)_(API_KEY|BASE_URL)=' | sort -u | tr '\n' ' ')" \
		    "agent-env: ANTHROPIC_API_KEY=hk-<48 hex> agent-env: ANTHROPIC_BASE_URL=http://127.0.0.1:3129/anthropic agent-env: OPENAI_API_KEY=hk-<48 hex> agent-env: OPENAI_BASE_URL=http://127.0.0.1:3129/openai/v1 " \
		    "$P the tool's environment: the gateway's base URLs and the job's key"
		unlike "$log" "$KEY" "$P the real key is nowhere in the tool's environment or the job's log"
		is "$(grep -r -l -F -e "$KEY" "$D/data-$name" 2>&1 | tr '\n' ' ')" "" \
		    "$P ... nor in any file of the job"
		# ... and the model server got the real key in its place (the
		# gateway takes no other key than the job's: the tool sent it).
		api=$(api_of "$tool")
		auth=$([ "$api" = anthropic ] && echo "x-api-key" || echo authorization)
		is "$(q "sorted({(r['api'], r['status'], r['headers'].get('$auth')) for r in L})")" \
		    "[('$api', 200, '$([ "$api" = anthropic ] || printf 'Bearer ')$KEY')]" \
		    "$P the model server's $api API got the real key"
		is "$(q "[r['path'] for r in L if 'hk-' in json.dumps(r)]")" "[]" \
		    "$P ... and never the job's key"
		# The tool's request, as it sent it, at the upstream's path.
		case $tool in
		claude-code) is "$(q "[(r['path'], r['headers']['anthropic-version'], r['headers']['user-agent'].split('/')[0], r['body']['stream']) for r in L]")" \
		    "$(python3 -c "print([('/v1/messages', '2023-06-01', 'claude-cli', True)] * 2)")" \
		    "$P Messages streamed, with the tool's headers" ;;
		codex) is "$(q "[(r['path'], r['headers']['originator'], r['body']['stream'], r['body']['store']) for r in L]")" \
		    "$(python3 -c "print([('/v1/responses', 'codex_exec', True, False)] * 2)")" \
		    "$P Responses streamed over HTTP, with the tool's headers" ;;
		aider) is "$(q "[(r['path'], r['headers']['user-agent'].split('/')[0], r['body']['stream'], r['body'].get('stream_options')) for r in L]")" \
		    "[('/v1/chat/completions', 'OpenAI', True, {'include_usage': True})]" \
		    "$P Chat Completions streamed, the usage aider's stream lacks asked for by the gateway" ;;
		opencode) is "$(q "[(r['path'], r['headers']['user-agent'].split('/')[0], r['body']['model']) for r in L]")" \
		    "$(python3 -c "print([('/v1/messages', 'opencode', 'claude-sonnet-4-5')] * 2)")" \
		    "$P Messages at the baseURL the wrapper gave, with the tool's headers" ;;
		opencode-openai) is "$(q "[(r['path'], r['body']['model'], r['body'].get('stream_options')) for r in L]")" \
		    "$(python3 -c "print([('/v1/chat/completions', 'gpt-4.1', {'include_usage': True})] * 2)")" \
		    "$P Chat Completions through the openai-compatible provider" ;;
		esac
		# The job's usage is what the server reported (for aider's
		# stream too).
		case $tool in
		aider) want="1 1200 80 300 0" ;;
		codex|opencode-openai) want="2 2700 120 1200 0" ;;
		*) want="2 2700 120 1200 50" ;;
		esac
		is "$(q "' '.join(str(D['$api'][k]) for k in ('requests', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens'))")" \
		    "$want" "$P the server reported usage: requests, in, out, cache read, cache write"
		got=$("$D/handoff" -c "$CFG" show "$(job_id)" --json |
		    python3 -c 'import json,sys
u = json.load(sys.stdin).get("usage") or {}
print(" ".join(str(u.get(k)) for k in ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")))')
		is "$got" "$want" "$P show --json: the job's usage is what the server reported"
	done
	# A failing model fails the job: the gateway passes the 500s through.
	P="[sandbox $WHO claude-code, model 500]"
	fresh '{"answers":[{"status":500,"times":100}]}'
	in_sandbox claude-code
	is "$status" 1 "$P handoff run exits 1"
	like "$(cat "$T/err")" "failed" "$P the job failed"
	! G rev-parse -q --verify refs/heads/handoff/local-1 >/dev/null
	ok $? "$P no branch is left"
	is "$(q "sorted({(r['status'], r['headers'].get('x-api-key')) for r in L})")" \
	    "[(500, '$KEY')]" "$P the model server answered the gateway's requests 500"
}
halves sandboxed

done_testing
