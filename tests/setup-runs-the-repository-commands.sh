#!/bin/bash
# [setup] from_repo: the repository's devcontainer.json (comments, trailing
# commas) with onCreateCommand as a string, updateContentCommand as an
# array and postCreateCommand as an object of both: the first job runs all
# three in order and builds the layer; the next, on another commit, runs
# only updateContentCommand over it. What they wrote is not in the branch.
# Set-up's network and variables are its own: a host in [setup]
# allow_hosts is reached by set-up and refused to the agent, and a
# variable in [setup] env is set for set-up and absent for the agent.
# Handoff run as root and as an unprivileged user.
. "$SRCDIR/tests/sandbox-lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
command -v curl >/dev/null || { echo "Bail out! curl is needed"; exit 1; }

start_peers

mkdir -p "$T/devc/.devcontainer"
cat > "$T/devc/.devcontainer/devcontainer.json" <<'EOF'
// The repository's own development container.
{
	"name": "set-up test",
	/* Each form of the spec. */
	"onCreateCommand": "echo oncreate >> $HOME/runs.txt; echo made > made-by-oncreate.txt",
	"updateContentCommand": ["/bin/sh", "-c", "echo update >> $HOME/runs.txt"],
	"postCreateCommand": {
		"first": "echo post-first >> $HOME/runs.txt",
		"second": ["touch", "made-by-post.txt"],
	},
}
EOF
cat > "$T/devc-agent.sh" <<'EOF'
#!/bin/sh
{
echo "runs: $(tr '\n' ' ' < "$HOME/runs.txt")"
echo "files: $(ls made-by-* | tr '\n' ' ')"
} > RESULT-devc.txt
EOF

# Set-up reaches plain.test (its host) and says whether it had its variable.
cat > "$T/net-setup.sh" <<EOF
#!/bin/sh
echo "setup-net: \$(curl -s --max-time 20 http://plain.test:$HTTP_PORT/echo 2>&1 | head -n 1 | tr -d '\r')" > "\$HOME/setup.txt"
[ -n "\${HANDOFF_TEST_CANARY:-}" ] && echo "setup-secret: set" >> "\$HOME/setup.txt"
exit 0
EOF
cat > "$T/net-agent.sh" <<EOF
#!/bin/sh
{
cat "\$HOME/setup.txt"
echo "agent-net: \$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' http://plain.test:$HTTP_PORT/echo 2>&1)"
echo "agent-tls: \$(curl -sk --max-time 20 https://tls.test:$TLS_PORT/ 2>&1)"
echo "agent-secret: \${HANDOFF_TEST_CANARY:-absent}"
} > RESULT-net.txt
EOF
chmod 755 "$T/devc-agent.sh" "$T/net-setup.sh" "$T/net-agent.sh"

# devc_case NAME: a job on a fresh repository with the devcontainer.json.
devc_case() {
	case_setup "$1" "$T/devc-agent.sh" "" '[setup]' 'from_repo = true'
	cp -r "$T/devc/.devcontainer" "$REPO/"
	echo "$1" > "$REPO/case.txt"
	G add -A && G commit -q -m "case $1"
	own "$REPO"
	hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE"
}

half() {
	half_setup "$1"
	devc_case devc1
	succeeded devc1
	r=$(result devc)
	is "$(grep '^runs:' <<<"$r")" "runs: oncreate update post-first " \
	    "$P devc1: the three commands ran in order"
	is "$(grep '^files:' <<<"$r")" "files: made-by-oncreate.txt made-by-post.txt " \
	    "$P devc1: the string and the array forms wrote in the workspace"
	matches "$(job_log)" "layer [0-9a-f]* built" "$P devc1: the layer is built"
	unlike "$(G ls-tree -r --name-only handoff/local-1)" "made-by" \
	    "$P devc1: set-up's files are not in the branch"

	# Another commit of the same repository, another job.
	echo devc2 > "$REPO/case.txt"
	G add -A && G commit -q -m "case devc2"
	own "$REPO"
	hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE"
	is "$status" 0 "$P devc2: handoff run exits 0"
	r=$(G show handoff/local-2:RESULT-devc.txt 2>&1)
	is "$(grep '^runs:' <<<"$r")" "runs: oncreate update post-first update " \
	    "$P devc2: only updateContentCommand ran, over the layer"
	matches "$(job_log)" "layer [0-9a-f]* reused, updated" "$P devc2: the log says so"
	unlike "$(G ls-tree -r --name-only handoff/local-2)" "made-by" \
	    "$P devc2: set-up's files are not in the branch"

	# from_repo off: the repository's file is not run.
	case_setup off "$T/devc-agent.sh" ""
	cp -r "$T/devc/.devcontainer" "$REPO/"
	G add -A && G commit -q -m "devcontainer"
	own "$REPO"
	hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE"
	succeeded off
	is "$(result devc | grep '^runs:')" "runs: " \
	    "$P off: without from_repo nothing of it runs"

	case_setup net "$T/net-agent.sh" "" "extra_ro = $T/net-setup.sh" \
	    'network = allowlist' "allow_hosts = tls.test:$TLS_PORT" \
	    "hosts = tls.test=127.0.0.1, plain.test=127.0.0.1" \
	    '[setup]' "command = $T/net-setup.sh" 'network = allowlist' \
	    "allow_hosts = plain.test:$HTTP_PORT" 'env = HANDOFF_TEST_CANARY'
	hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE"
	succeeded net
	r=$(result net)
	like "$r" "setup-net: GET /echo HTTP/1.1" "$P net: set-up reached its host"
	like "$r" "agent-net: 403" "$P net: the agent is refused set-up's host"
	like "$r" "agent-tls: hello over tls" "$P net: the agent reaches its own host"
	like "$r" "setup-secret: set" "$P net: set-up had its variable"
	like "$r" "agent-secret: absent" "$P net: the agent has not"
	unlike "$(G log -p handoff/local-1)" "$HANDOFF_TEST_CANARY" \
	    "$P net: the variable's value is nowhere in the branch"
}
halves half
done_testing
