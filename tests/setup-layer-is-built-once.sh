#!/bin/bash
# Two jobs of a repository that need the same set-up layer, missing, at
# the same time (two commits with the same lockfile): one
# builds it while the other waits for that build and stands on it; set-up
# runs once. The first job's set-up is held at a gate (a host directory
# bound read-only into the sandbox) until the second has asked for the
# layer. Handoff run as root and as an unprivileged user.
. "$SRCDIR/tests/sandbox-lib.sh"

printf '{"lockfileVersion": 3}\n' > "$T/lock.json"
mkdir -p "$T/gate"
chmod 755 "$T/gate"
cat > "$T/setup.sh" <<EOF
#!/bin/sh
echo "SETUP-RAN-$MARK"
i=0
while [ ! -e "$T/gate/open" ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i + 1)); done
mkdir -p node_modules/dep && echo dep > node_modules/dep/index.js
EOF
cat > "$T/agent.sh" <<'EOF'
#!/bin/sh
echo "dep: $(cat node_modules/dep/index.js 2>&1)" > RESULT-once.txt
EOF
chmod 755 "$T/setup.sh" "$T/agent.sh"

# start_job NAME: a commit of the repository with the lockfile, and a job
# on it started.
start_job() {
	cp "$T/lock.json" "$REPO/package-lock.json"
	echo "$1" > "$REPO/case.txt"
	G add -A && G commit -q -m "commit $1"
	own "$REPO"
	"$D/handoff" -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE" \
	    >"$T/out-$1" 2>"$T/err-$1" &
}

# b has asked for the layer: it waits on the layer's lock (/proc/locks
# marks a waiter with "->", then names the file's device and inode), or
# (were it to build one of its own) its set-up ran.
b_asked() {
	grep -q "SETUP-RAN-$MARK" "$D/data/jobs/2/log" 2>/dev/null && return 0
	for l in "$D"/data/setup/*.lock; do
		[ -e "$l" ] || continue
		grep -Eq -- "-> +FLOCK .*:$(stat -c %i "$l") " /proc/locks &&
		    return 0
	done
	return 1
}

half() {
	half_setup "$1"
	rm -f "$T/gate/open"
	case_setup once "$T/agent.sh" "" "extra_ro = $T/setup.sh, $T/gate" \
	    '[setup]' "command = $T/setup.sh"
	start_job a
	pid_a=$!
	wait_for "$P a's set-up" grep -q "SETUP-RAN-$MARK" "$D/data/jobs/1/log"
	start_job b
	pid_b=$!
	wait_for "$P b at the layer" b_asked
	touch "$T/gate/open"
	wait $pid_a
	is "$?" 0 "$P a: handoff run exits 0"
	wait $pid_b
	is "$?" 0 "$P b: handoff run exits 0"
	la=$(cat "$D/data/jobs/1/log")
	lb=$(cat "$D/data/jobs/2/log")
	ran=$(printf '%s\n%s\n' "$la" "$lb" | grep -c "^SETUP-RAN-$MARK")
	is "$ran" 1 "$P set-up ran once for the two jobs"
	built=$(printf '%s\n%s\n' "$la" "$lb" | grep -c "setup: done: layer [0-9a-f]* built")
	reused=$(printf '%s\n%s\n' "$la" "$lb" | grep -c "setup: done: layer [0-9a-f]* reused")
	is "$built $reused" "1 1" "$P one job built the layer, the other reused it"
	like "$(G show handoff/local-1:RESULT-once.txt)" "dep: dep" \
	    "$P a's agent sees the layer"
	like "$(G show handoff/local-2:RESULT-once.txt)" "dep: dep" \
	    "$P b's agent sees the layer"
}
halves half
done_testing
