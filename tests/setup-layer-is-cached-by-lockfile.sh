#!/bin/bash
# [setup]: a set-up that writes 20,000 files into node_modules/ and a cache
# into $HOME. The first job builds the layer; a second job on another
# commit with the same package-lock.json stands on it without running
# set-up again (its log says so); a changed lockfile builds a new one, and
# so does another repository with the same command and lockfile. The
# agent sees what set-up made, yet none of it is in the branch, not even
# when the agent runs `git add -A` itself and .gitignore does not name
# node_modules. A set-up that fails fails the job with its output's tail
# and leaves no layer behind. Handoff run as root and as an unprivileged
# user.
. "$SRCDIR/tests/sandbox-lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }

printf '{"lockfileVersion": 3, "v": 1}\n' > "$T/lock-1.json"
printf '{"lockfileVersion": 3, "v": 2}\n' > "$T/lock-2.json"

# Set-up: 200 packages of 100 files, a cache in $HOME, a line in the log.
cat > "$T/setup.sh" <<EOF
#!/bin/sh
echo "SETUP-RAN-$MARK"
python3 - <<'PY' || exit 1
import os
for p in range(200):
    d = "node_modules/pkg%03d" % p
    os.makedirs(d)
    for f in range(100):
        with open("%s/f%03d.js" % (d, f), "w") as fh:
            fh.write("module.exports = %d;\\n" % f)
PY
mkdir -p "\$HOME/.cache/npm" && echo cached > "\$HOME/.cache/npm/index"
EOF
# The agent: what it sees, a change of its own, and git add -A.
cat > "$T/agent.sh" <<'EOF'
#!/bin/sh
{
echo "modules: $(find node_modules -type f | wc -l)"
echo "cache: $(cat "$HOME/.cache/npm/index" 2>&1)"
} > RESULT-layer.txt
echo "changed by the agent" >> README
git add -A && git -c user.name=a -c user.email=a@a commit -q -m "agent's own commit"
EOF
chmod 755 "$T/setup.sh" "$T/agent.sh"

# layer_case NAME LOCK: a job on a fresh repository with lockfile LOCK.
layer_case() {
	case_setup "$1" "$T/agent.sh" "" "extra_ro = $T/setup.sh" '[setup]' \
	    "command = $T/setup.sh"
	cp "$2" "$REPO/package-lock.json"
	echo "$1" > "$REPO/case.txt"
	G add -A && G commit -q -m "case $1"
	own "$REPO"
	hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE"
}

# again NAME LOCK REPO CFG: another commit on REPO (lockfile LOCK), another
# job with its config.
again() {
	REPO=$3 CFG=$4
	cp "$2" "$REPO/package-lock.json"
	echo "$1" > "$REPO/case.txt"
	G add -A && G commit -q -m "case $1"
	own "$REPO"
	hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE"
}

# layers: how many set-up layers the cache holds.
layers() { ls "$D/data/setup" | grep -cv '\.'; }

half() {
	half_setup "$1"
	# 20,000 files need the inodes of 512M (one per 16K).
	DISK=512M
	layer_case first "$T/lock-1.json"
	succeeded first
	first_repo=$REPO first_cfg=$CFG
	log=$(job_log)
	like "$log" "SETUP-RAN-$MARK" "$P first: set-up ran"
	matches "$log" "setup: done: layer [0-9a-f]* built in" "$P first: the log says the layer was built"
	matches "$log" "built in [0-9.]* s \\([0-9]* files, [0-9.]* MiB" "$P first: the log says what the layer holds"
	r=$(result layer)
	like "$r" "modules: 20000" "$P first: the agent sees node_modules"
	like "$r" "cache: cached" "$P first: the agent sees set-up's \$HOME"
	files=$(G ls-tree -r --name-only handoff/local-1)
	unlike "$files" "node_modules" "$P first: node_modules is not in the branch"
	like "$files" "RESULT-layer.txt" "$P first: the agent's own file is"
	like "$(G show handoff/local-1:README)" "changed by the agent" \
	    "$P first: the agent's change is"
	is "$(layers)" 1 "$P first: one layer in the cache"

	again second "$T/lock-1.json" "$first_repo" "$first_cfg"
	is "$status" 0 "$P second: handoff run exits 0"
	log=$(job_log)
	unlike "$log" "SETUP-RAN-$MARK" "$P second: set-up did not run"
	matches "$log" "setup: done: layer [0-9a-f]* reused" "$P second: the log says the layer was reused"
	r=$(G show handoff/local-2:RESULT-layer.txt 2>&1)
	like "$r" "modules: 20000" "$P second: the agent sees node_modules"
	like "$r" "cache: cached" "$P second: and set-up's \$HOME"
	unlike "$(G ls-tree -r --name-only handoff/local-2)" "node_modules" \
	    "$P second: node_modules is not in the branch"
	like "$("$D/handoff" -c "$CFG" show 2)" "reused" "$P second: show says the layer was reused"
	is "$(layers)" 1 "$P second: still one layer"

	# Another repository with the same command and lockfile: its set-up
	# ran its own files, so it never shares a layer with another.
	layer_case other "$T/lock-1.json"
	succeeded other
	like "$(job_log)" "SETUP-RAN-$MARK" "$P other: another repository runs its own set-up"
	matches "$(job_log)" "layer [0-9a-f]* built" "$P other: and builds a layer of its own"
	is "$(layers)" 2 "$P other: two layers in the cache"

	again third "$T/lock-2.json" "$first_repo" "$first_cfg"
	is "$status" 0 "$P third: handoff run exits 0"
	like "$(job_log)" "SETUP-RAN-$MARK" "$P third: a changed lockfile runs set-up"
	matches "$(job_log)" "layer [0-9a-f]* built" "$P third: and builds a new layer"
	is "$(layers)" 3 "$P third: three layers in the cache"

	# A failing set-up: the job fails with its tail, no layer is kept,
	# and a [setup] env value it printed is not in what the failure says.
	printf '#!/bin/sh\necho "SETUP-BROKE-%s"\necho "token: $HANDOFF_TEST_CANARY"\nmkdir -p node_modules/x\nexit 3\n' \
	    "$MARK" > "$D/broken.sh"
	chmod 755 "$D/broken.sh"
	own "$D/broken.sh"
	case_setup broken "$T/agent.sh" "" "extra_ro = $D/broken.sh" '[setup]' \
	    "command = $D/broken.sh" 'env = HANDOFF_TEST_CANARY'
	hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE"
	failed_with broken "set-up failed: exited with status 3"
	like "$(cat "$T/err")" "SETUP-BROKE-$MARK" "$P broken: the error holds set-up's output"
	like "$(cat "$T/err")" "token: <HANDOFF_TEST_CANARY>" \
	    "$P broken: a set-up variable's value it printed is named, not shown"
	unlike "$(cat "$T/err")$("$D/handoff" -c "$CFG" show 5 2>&1)" \
	    "$HANDOFF_TEST_CANARY" "$P broken: the value is not in the error nor the store"
	is "$(layers)" 3 "$P broken: no layer is kept from it"
}
halves half
done_testing
