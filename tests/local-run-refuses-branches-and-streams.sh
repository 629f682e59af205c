#!/bin/bash
# `handoff run --branch NAME` refuses at once, before any job or sandbox,
# a branch checked out in the repository or in one of its worktrees, and
# one that has commits HEAD lacks (the result, a commit on HEAD, would not
# fast-forward it), saying why and what to do; a branch HEAD already
# contains is moved forward. The agent's output reaches handoff run's
# stdout as the agent runs; a failure's tail is printed once. `handoff
# jobs` and `show` list a local run as local, with its repository and no
# issue number.
. "$SRCDIR/tests/lib.sh"
for t in bwrap git; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done
EXTRA_CLEANUP='[ -n "${RUN_PID:-}" ] && kill "$RUN_PID" 2>/dev/null; touch "$T/gate/open" 2>/dev/null'
mkdir -p "$T/gate"

G() { git -C "$REPO" "$@"; }
REPO="$T/repo"
mkrepo "$REPO"
use() {	# use AGENT: the config runs AGENT
	write_config "[agent]" "command = $1" "timeout = 2m" \
	    "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M" \
	    "extra_ro = $SRCDIR/tests/agents, $T/gate"
}
use "$SRCDIR/tests/agents/edit.sh"
# nothing_ran WHAT: no job, no job directory: nothing started.
nothing_ran() {
	[ ! -e "$DATA/jobs" ] && ! "$HANDOFF" -c "$CONFIG" jobs --json 2>/dev/null |
	    grep -q '"id"'
	ok $? "$1: nothing ran (no job, no sandbox)"
}

# --- the branch checked out in the repository ---
run -c "$CONFIG" run --repo "$REPO" --task "Edit" --branch main
is "$status" 2 "checked out: refused (exit 2)"
like "$(cat "$T/err")" "--branch main is checked out in $REPO" \
    "checked out: it says where"
like "$(cat "$T/err")" "name another branch" "checked out: and what to do"
nothing_ran "checked out"

# --- checked out in a linked worktree ---
G worktree add -q "$T/wt" -b feature
run -c "$CONFIG" run --repo "$REPO" --task "Edit" --branch feature
is "$status" 2 "in a worktree: refused"
like "$(cat "$T/err")" "--branch feature is checked out in $T/wt" \
    "in a worktree: it names the worktree"
nothing_ran "in a worktree"

# --- a branch with commits HEAD lacks ---
G branch diverged
G worktree add -q "$T/wt2" diverged
echo "theirs" > "$T/wt2/theirs.txt"
G -C "$T/wt2" add theirs.txt
git -C "$T/wt2" -c user.name=t -c user.email=t@t commit -q -m theirs
G worktree remove "$T/wt2"
before=$(G rev-parse diverged)
run -c "$CONFIG" run --repo "$REPO" --task "Edit" --branch diverged
is "$status" 2 "not a fast-forward: refused"
like "$(cat "$T/err")" "--branch diverged has commits that HEAD" \
    "not a fast-forward: it says why"
like "$(cat "$T/err")" "git branch -D diverged" "not a fast-forward: and what to do"
nothing_ran "not a fast-forward"
is "$(G rev-parse diverged)" "$before" "the branch is untouched"

# --- a branch behind HEAD: the result fast-forwards it ---
echo more >> "$REPO/README"
G commit -q -a -m "second"
G branch behind HEAD~1
run -c "$CONFIG" run --repo "$REPO" --task "Edit" --branch behind
is "$status" 0 "behind HEAD: it runs"
is "$(G rev-parse behind~1)" "$(G rev-parse main)" \
    "behind HEAD: the branch moved forward to the result"

# --- streaming: the agent waits until its line is seen on stdout ---
cat > "$T/gate/stream.sh" <<EOF
#!/bin/sh
echo "streamed-line-\$\$-ready"
while [ ! -e "$T/gate/open" ]; do sleep 0.1; done
echo "after the gate"
printf 'Nothing\n' > "\$HANDOFF_SUMMARY"
EOF
chmod +x "$T/gate/stream.sh"
use "$T/gate/stream.sh"
"$HANDOFF" -c "$CONFIG" run --repo "$REPO" --task "Stream" >"$T/stream.out" \
    2>"$T/stream.err" &
RUN_PID=$!
wait_for "the agent's line on stdout" grep -q '^streamed-line-[0-9]*-ready$' \
    "$T/stream.out"
ok $? "the agent's line reaches stdout while the agent runs"
! grep -q "after the gate" "$T/stream.out"
ok $? "(the agent is still at its gate)"
touch "$T/gate/open"
wait "$RUN_PID"
is "$?" 0 "the streamed run ends"
RUN_PID=
like "$(cat "$T/stream.out")" "after the gate" "the rest followed"

# --- a failure's tail, once ---
use "$SRCDIR/tests/agents/fail.sh"
run -c "$CONFIG" run --repo "$REPO" --task "Fail"
is "$status" 1 "fail: exit 1"
is "$(grep -c 'error: something broke' "$T/err")" 1 \
    "fail: stderr has the tail once"
is "$(grep -c 'step 30' "$T/out")" 1 "fail: stdout had the agent's output"
"$HANDOFF" -c "$CONFIG" run --repo "$REPO" --task "Fail" >"$T/both" 2>&1
is "$(grep -c 'error: something broke' "$T/both")" 1 \
    "fail, stdout and stderr one file: the tail once"
like "$(cat "$T/both")" "failed: the agent exited with status 3; its output ends above" \
    "fail: and the reason, pointing at the output"

# --- local jobs are listed as local ---
run -c "$CONFIG" jobs
local_rows=$(grep -c " local  *$REPO " "$T/out")
is "$local_rows" "$(grep -c ' local ' "$T/out")" "jobs: each local row names the repository"
[ "$local_rows" -ge 3 ]; ok $? "jobs: the local runs are listed ($local_rows)"
! grep -q "$REPO#" "$T/out"
ok $? "jobs: with no issue number"
n=$("$HANDOFF" -c "$CONFIG" jobs --json --limit 1 | sed -n 's/.*"id":[[:space:]]*\([0-9]*\).*/\1/p' | head -n 1)
run -c "$CONFIG" show "$n"
like "$(head -n 1 "$T/out")" "job $n: implement, local run in $REPO" \
    "show: a local run in the repository"
unlike "$(head -n 1 "$T/out")" "#" "show: no issue number"
run -c "$CONFIG" jobs --json --limit 1
like "$(tr -d ' \t\n' < "$T/out")" '"forge":"local","repo":"'"$REPO"'","number":null' \
    "jobs --json: number is null for a local run"
done_testing
