#!/bin/bash
# [agent] env cannot hand the agent a secret: naming the variable a secret
# is read from (token = env:GH_TOKEN with env = GH_TOKEN), or a variable
# that holds a secret's value (a token from a file, copied into another
# variable), is a configuration error (exit 2, file:line, both keys, never
# the value) for check-config, serve and run alike, and no agent runs.
. "$SRCDIR/tests/lib.sh"
command -v bwrap >/dev/null || { echo "Bail out! bubblewrap is needed"; exit 1; }
AGENTS="$SRCDIR/tests/agents"
TOKEN="ghp-canary-$$-7f3e1b"
export HANDOFF_TEST_GH_TOKEN="$TOKEN"

REPO="$T/repo"
mkrepo "$REPO"
branches() { git -C "$REPO" for-each-ref --format='%(refname:short)' refs/heads/handoff/; }
no_token_anywhere() {	# no_token_anywhere WHAT
	local found=
	has "$T/out" "$TOKEN" && found="$found stdout"
	has "$T/err" "$TOKEN" && found="$found stderr"
	git -C "$REPO" grep -q -F "$TOKEN" $(git -C "$REPO" for-each-ref \
	    --format='%(refname)' refs/heads/) -- 2>/dev/null && found="$found repository"
	[ -z "$found" ]
	ok $? "$1: the token is nowhere${found:+ (found in$found)}"
}

# --- the item: the secret's own variable is passed through ---
write_config '[github]' 'token = env:HANDOFF_TEST_GH_TOKEN' \
    '[agent]' "command = $AGENTS/echo-task.sh" 'timeout = 60s' \
    'env = LANG, HANDOFF_TEST_GH_TOKEN'
line=$(grep -n '^env = ' "$CONFIG" | cut -d: -f1)
tline=$(grep -n '^token = env:' "$CONFIG" | cut -d: -f1)

run -c "$CONFIG" check-config
is "$status" 2 "check-config: exit 2"
has "$T/err" "$CONFIG:$line: [agent] env: HANDOFF_TEST_GH_TOKEN"
ok $? "check-config: names the file, [agent] env's line and the variable"
has "$T/err" "[github] token (line $tline)"
ok $? "check-config: names [github] token and its line"
no_token_anywhere "check-config"

run -c "$CONFIG" run --repo "$REPO" --task "Print the environment"
is "$status" 2 "handoff run: exit 2"
has "$T/err" "[agent] env: HANDOFF_TEST_GH_TOKEN"
ok $? "handoff run: says why"
is "$(branches)" "" "handoff run: no agent ran, no branch"
no_token_anywhere "handoff run"

serve_refused "$CONFIG"
is "$status" 2 "serve: refuses to start, exit 2"
has "$T/err" "[agent] env: HANDOFF_TEST_GH_TOKEN"
ok $? "serve: says why"

# --- a variation: another variable holding a secret read from a file ---
printf '%s\n' "$TOKEN" > "$T/gitlab-token"
export HANDOFF_TEST_DEPLOY="$TOKEN"
write_config '[gitlab]' "token = file:$T/gitlab-token" \
    '[agent]' "command = $AGENTS/echo-task.sh" 'timeout = 60s' \
    'env = HANDOFF_TEST_DEPLOY'
line=$(grep -n '^env = ' "$CONFIG" | cut -d: -f1)
run -c "$CONFIG" check-config
is "$status" 2 "a copy of a file secret: check-config exits 2"
has "$T/err" "$CONFIG:$line: [agent] env: HANDOFF_TEST_DEPLOY holds the value of [gitlab] token"
ok $? "a copy of a file secret: names [agent] env, the variable and [gitlab] token"
no_token_anywhere "a copy of a file secret: check-config"
run -c "$CONFIG" run --repo "$REPO" --task "Print the environment"
is "$status" 2 "a copy of a file secret: handoff run exits 2"
is "$(branches)" "" "a copy of a file secret: no agent ran, no branch"
no_token_anywhere "a copy of a file secret: handoff run"

# --- the LLM keys are secrets too, and the gateway's variables are handoff's ---
LLM_KEY="sk-ant-canary-$$-c41d"
export HANDOFF_TEST_LLM_KEY="$LLM_KEY"
write_config '[llm]' 'anthropic_key = env:HANDOFF_TEST_LLM_KEY' \
    '[agent]' "command = $AGENTS/echo-task.sh" 'timeout = 60s' \
    'env = HANDOFF_TEST_LLM_KEY'
line=$(grep -n '^env = ' "$CONFIG" | cut -d: -f1)
run -c "$CONFIG" run --repo "$REPO" --task "Print the environment"
is "$status" 2 "an [llm] key's variable: handoff run exits 2"
has "$T/err" "$CONFIG:$line: [agent] env: HANDOFF_TEST_LLM_KEY is where [llm] anthropic_key"
ok $? "an [llm] key's variable: names [agent] env and [llm] anthropic_key"
! has "$T/out" "$LLM_KEY" && ! has "$T/err" "$LLM_KEY"
ok $? "an [llm] key's variable: the key is not shown"
is "$(branches)" "" "an [llm] key's variable: no agent ran, no branch"
write_config '[llm]' "anthropic_key = env:HANDOFF_TEST_LLM_KEY" \
    '[agent]' "command = $AGENTS/echo-task.sh" 'timeout = 60s' \
    'env = ANTHROPIC_BASE_URL'
run -c "$CONFIG" check-config
is "$status" 2 "a gateway variable with an [llm] key: check-config exits 2"
has "$T/err" "[agent] env: ANTHROPIC_BASE_URL is set by handoff for the [llm] gateway"
ok $? "a gateway variable with an [llm] key: says handoff sets it"

# --- what may pass still passes, and reaches the agent ---
export HANDOFF_TEST_HARMLESS="harmless-$$"
write_config '[github]' 'token = env:HANDOFF_TEST_GH_TOKEN' \
    '[agent]' "command = $AGENTS/echo-task.sh" 'timeout = 60s' \
    'env = HANDOFF_TEST_HARMLESS'
run -c "$CONFIG" run --repo "$REPO" --task "Print the environment"
is "$status" 0 "another variable: handoff run exits 0"
branch=$(sed -n 's/^branch: //p' "$T/out")
env=$(git -C "$REPO" show "$branch:ENV.txt" 2>/dev/null)
like "$env" "HANDOFF_TEST_HARMLESS=harmless-$$" "another variable: it reaches the agent"
no_token_anywhere "another variable"
done_testing
