#!/bin/bash
# check-config catches settings that cannot work, one line each naming the
# file, line and key: those that can never work (a token with an App, an
# App's name for its ID, a GitLab URL with /api/v4, one port for both
# listeners, a size without its unit) stop config loading, so serve refuses
# them too (exit 2); what only the host can tell (an unwritable data_dir, an
# agent program that is not there) makes check-config exit 1 and serve
# refuse to start; [agent] env names unset here are warned about. It ends
# with a summary of what handoff will do, secrets masked. Run by root, then
# again by the unprivileged user handoff-esc, for whom data_dir can be
# unwritable. Env: HANDOFF (the binary). Prints TAP.

. "$SRCDIR/tests/lib.sh"
cd "$T" || exit 1
unset HANDOFF_CONFIG
AGENT=$SRCDIR/tests/agents/echo-task.sh
USER_NAME=$(id -un)
printf -- '-----BEGIN PRIVATE KEY-----\npem-canary-55e1a0\n-----END PRIVATE KEY-----\n' \
    > app.pem
printf 'web-canary-91c3d4\n' > web-token

# conf NAME LINES...: $T/NAME.ini of LINES, with a data_dir and ports of
# its own unless LINES set them.
conf() {
	local name=$1 lines
	shift
	lines=$(printf '%s\n' "$@")
	{
		if ! printf '%s' "$lines" | grep -q '^listen ='; then
			printf '[server]\nlisten = 127.0.0.1:%s\n' "$(free_port)"
			printf '[web]\nlisten = 127.0.0.1:%s\n' "$(free_port)"
		fi
		printf '%s' "$lines" | grep -q '^data_dir =' ||
		    printf '[server]\ndata_dir = %s\n' "$T/data-$name"
		printf '%s\n' "$lines"
	} > "$T/$name.ini"
}

# line_of NAME KEY: the last line of NAME.ini setting KEY.
line_of() {
	grep -n "^$2 =" "$T/$1.ini" | tail -n 1 | cut -d: -f1
}

# refused NAME STATUS KEY TEXT: check-config and serve both exit STATUS on
# NAME.ini, on one line naming NAME.ini:LINE, KEY and TEXT.
refused() {
	local name=$1 want=$2 key=$3 text=$4 line
	line=$(line_of "$name" "${key##* }")
	run check-config -c "$T/$name.ini"
	[ "$status" -eq "$want" ] &&
	    grep -F -e "$T/$name.ini:$line: $key: " "$T/err" | grep -q -F -e "$text"
	ok $? "$name: check-config exits $want on $name.ini:$line: $key: ...$text..."
	serve_refused "$T/$name.ini"
	[ "$status" -eq "$want" ] &&
	    grep -F -e "$T/$name.ini:$line: $key: " "$T/err" | grep -q -F -e "$text"
	ok $? "$name: serve refuses to start (exit $want) with the same message"
}

# accepted NAME DESCRIPTION: check-config exits 0 on NAME.ini.
accepted() {
	run check-config -c "$T/$1.ini"
	[ "$status" -eq 0 ]
	ok $? "$2"
}

# -- what can never work: config loading refuses it (exit 2) --

conf token-and-app '[github]' 'webhook_secret = s' 'token = ghp_canary_1' \
    'app_id = 4242' "private_key = file:$T/app.pem"
refused token-and-app 2 "[github] token" \
    "set together with [github] app_id (line $(line_of token-and-app app_id))"
conf token-and-key '[github]' 'token = ghp_canary_1' \
    "private_key = file:$T/app.pem" 'app_id = 4242'
refused token-and-key 2 "[github] token" "[github] app_id"

conf app-slug '[github]' 'app_id = my-app' "private_key = file:$T/app.pem"
refused app-slug 2 "[github] app_id" 'not its name, got "my-app"'
conf app-client-id '[github]' 'app_id = Iv1.0123456789abcdef' \
    "private_key = file:$T/app.pem"
accepted app-client-id "an App's Client ID (Iv1...) is an ID"
conf app-number '[github]' 'app_id = 4242' "private_key = file:$T/app.pem"
accepted app-number "an App's numeric ID is an ID"

conf gitlab-api '[gitlab]' 'url = https://gitlab.example.com/api/v4'
refused gitlab-api 2 "[gitlab] url" "without /api/v4"
conf gitlab-api-slash '[gitlab]' 'url = https://gitlab.example.com/api/v4/'
refused gitlab-api-slash 2 "[gitlab] url" "without /api/v4"
conf gitlab-path '[gitlab]' 'url = https://example.com/gitlab'
accepted gitlab-path "a GitLab under a path is a GitLab URL"

p=$(free_port)
conf same-listen '[server]' "listen = 127.0.0.1:$p" '[web]' "listen = 127.0.0.1:$p"
refused same-listen 2 "[web] listen" "takes the port of [server] listen (127.0.0.1:$p)"
# A variation: a wildcard address takes the port on every address.
conf wildcard-listen '[server]' "listen = 127.0.0.1:$p" '[web]' "listen = 0.0.0.0:$p"
refused wildcard-listen 2 "[web] listen" "0.0.0.0:$p takes the port of [server] listen"
conf default-listen '[web]' 'listen = 127.0.0.1:8080'
refused default-listen 2 "[web] listen" "(127.0.0.1:8080, its default)"

conf bare-memory '[sandbox]' 'memory = 512'
refused bare-memory 2 "[sandbox] memory" "512 bytes; did you mean 512M?"
conf bare-body '[server]' 'max_body = 100'
refused bare-body 2 "[server] max_body" "100 bytes; did you mean 100M?"
conf tiny-memory '[sandbox]' 'memory = 1M'
refused tiny-memory 2 "[sandbox] memory" "at least 16M"
conf bytes '[sandbox]' 'memory = 536870912' '[agent]' 'max_log = 10485760'
accepted bytes "sizes in bytes without a unit, as configs have them, still load"
has "$T/out" "memory = 512M" && has "$T/out" "max_log = 10M"
ok $? "and mean bytes"

# -- what only the host can tell: check-config exits 1, serve refuses --

conf agent-missing '[agent]' "command = $T/no-such-agent --flag"
refused agent-missing 1 "[agent] command" "$T/no-such-agent: No such file or directory"
printf '#!/bin/sh\n' > "$T/not-executable.sh"
chmod 644 "$T/not-executable.sh"
conf agent-not-exec '[agent]' "command = $T/not-executable.sh"
refused agent-not-exec 1 "[agent] command" "not an executable file"
conf agent-not-in-path '[agent]' 'command = handoff-no-such-agent-cli --print'
refused agent-not-in-path 1 "[agent] command" \
    "handoff-no-such-agent-cli: not found in the sandbox's PATH (/usr/local/bin:/usr/bin:/bin); the job would fail with status 127"
# What runs past "VAR=value" and "exec" is the program looked up.
conf agent-after-env '[agent]' 'command = MODE=1 exec handoff-no-such-agent-cli'
refused agent-after-env 1 "[agent] command" "handoff-no-such-agent-cli: not found"

# A [repo] section's agent.command is checked as [agent] command is.
conf repo-agent '[agent]' "command = $AGENT" '[repo "acme/*"]' \
    "agent.command = $T/no-such-agent"
refused repo-agent 1 '[repo "acme/*"] agent.command' \
    "$T/no-such-agent: No such file or directory"

conf agent-in-path '[agent]' 'command = sh -c "exit 0"'
accepted agent-in-path "an agent found in the sandbox's PATH passes"
has "$T/out" "# agent: /usr/bin/sh (found)" || has "$T/out" "# agent: /bin/sh (found)"
ok $? "the summary names the program found"
conf agent-in-repo '[agent]' 'command = ./scripts/agent.sh'
accepted agent-in-repo "an agent in the repository is not the host's to check"
has "$T/out" "a path in the repository; not checked"
ok $? "the summary says it was not checked"

conf data-file '[server]' "data_dir = $T/app.pem"
refused data-file 1 "[server] data_dir" "$T/app.pem: not a directory"

# Several problems: each on a line of its own.
conf two-problems '[server]' "data_dir = $T/app.pem" '[agent]' \
    "command = $T/no-such-agent"
run check-config -c "$T/two-problems.ini"
[ "$status" -eq 1 ] && [ "$(grep -c '^handoff: ' "$T/err")" -eq 2 ] &&
    has "$T/err" "[server] data_dir: $T/app.pem" &&
    has "$T/err" "[agent] command: $T/no-such-agent"
ok $? "two settings that cannot work: exit 1, one line each"
has "$T/out" "# 2 settings cannot work: see above"
ok $? "and the summary counts them"

# An unwritable data_dir: mode 555 stops its owner unless that is root.
mkdir -p "$T/locked/store" && chmod 555 "$T/locked" "$T/locked/store"
conf locked-dir '[server]' "data_dir = $T/locked/store"
conf locked-parent '[server]' "data_dir = $T/locked/new/store"
if [ "$(id -u)" = 0 ]; then
	echo "# as root an unwritable data_dir cannot happen (root writes" \
	    "anywhere): these run again as handoff-esc below"
	run check-config -c "$T/locked-dir.ini"
	[ "$status" -eq 0 ] && has "$T/out" "# data_dir: $T/locked/store (writable by root)"
	ok $? "root: a mode 555 data_dir is writable by root, and the summary says by whom"
else
	refused locked-dir 1 "[server] data_dir" \
	    "$T/locked/store is not writable by $USER_NAME: Permission denied"
	refused locked-parent 1 "[server] data_dir" \
	    "$T/locked/new/store does not exist, and $T/locked, where it would be made, is not writable by $USER_NAME"
	[ ! -e "$T/locked/new" ]
	ok $? "$USER_NAME: nothing was made under the unwritable directory"
fi

# -- [agent] env names unset here: a warning; check-config still exits 0 --

conf env-unset '[agent]' "command = $AGENT" \
    'env = HANDOFF_TEST_SURELY_UNSET, HOME'
accepted env-unset "an [agent] env name unset here is not an error (serve's environment may differ)"
line=$(line_of env-unset env)
has "$T/err" "handoff: warning: $T/env-unset.ini:$line: [agent] env: HANDOFF_TEST_SURELY_UNSET is not set here" &&
    ! has "$T/err" "HOME"
ok $? "it is warned about on its line, naming the variable (and only that one)"
HANDOFF_TEST_SURELY_UNSET=1 run check-config -c "$T/env-unset.ini"
[ "$status" -eq 0 ] && [ ! -s "$T/err" ]
ok $? "set, no warning"
# serve knows its own environment: it says so at start, and starts.
DATA=$T/data-env-serve write_config '[agent]' "command = $AGENT" \
    'env = HANDOFF_TEST_SURELY_UNSET, HOME'
start_serve
grep -q 'serve: \[agent\] env: HANDOFF_TEST_SURELY_UNSET is not set, so it will not reach the sandbox' \
    "$T/serve.log" && ! grep -q 'env: HOME' "$T/serve.log"
ok $? "serve warns of the unset name at start (and of no other)"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "and runs: the warning stops nothing"

# -- the summary --

conf summary '[server]' "data_dir = $T/summary-data" '[web]' \
    "token = file:$T/web-token" '[github]' 'webhook_secret = hook-canary-3b7f' \
    'app_id = 4242' "private_key = file:$T/app.pem" \
    '[agent]' "command = $AGENT"
web=$(sed -n 's/^listen = //p' "$T/summary.ini" | sed -n 2p)
run check-config -c "$T/summary.ini"
[ "$status" -eq 0 ] && [ ! -s "$T/err" ]
ok $? "a config that works: exit 0, nothing on stderr"
has "$T/out" "# GitHub intake: on, publishing as an App"
ok $? "summary: GitHub intake on, publishing as an App"
has "$T/out" "# GitLab: off"
ok $? "summary: GitLab off"
has "$T/out" "# agent: $AGENT (found)"
ok $? "summary: the agent's program, found"
has "$T/out" "# data_dir: $T/summary-data (writable by $USER_NAME; to be made in $T)"
ok $? "summary: data_dir, writable, by whom, to be made where"
has "$T/out" "# status pages: $web (token set)"
ok $? "summary: the status pages, with a token"
! grep -q -e hook-canary -e web-canary -e pem-canary "$T/out" "$T/err"
ok $? "no secret in the output"

# -- and the same as an unprivileged user --

if rerun_as_user "every check above passes for handoff-esc, the unwritable data_dir too"; then
	grep -q "is not writable by handoff-esc" "$T/user.tap"
	ok $? "handoff-esc saw the unwritable data_dir refused"
fi

done_testing
