#!/bin/bash
# `handoff run` end to end with the scripted agents of tests/agents/: the
# agent runs in the sandbox on a checkout of the repository's HEAD, and what
# it changed (committed or not) comes back as a commit on a new branch of the
# repository, by handoff's identity, with the task's first line as its
# message; the branch, the commit and a diffstat are printed. The user's
# checked-out branch and working tree are left alone. The agent's own
# commits are folded into that one commit, their messages in its body, in
# order. A failing agent fails the job with its log's
# tail; no change is a job done with "no changes" and no branch; .gitignore
# is honoured; protected paths and [runs] max_changed_files refuse the
# change. The agent gets the task text and the context it is promised.
. "$SRCDIR/tests/lib.sh"
AGENTS="$SRCDIR/tests/agents"
CANARY_ENV="canary-env-$$-19b2e4"
export HANDOFF_TEST_CANARY="$CANARY_ENV"

G() {	# G ARGS: git on the case's repository
	git -C "$REPO" "$@"
}

# use AGENT [INI-LINES...]: the config runs AGENT (a path).
use() {
	agent=$1
	shift
	write_config '[agent]' "command = $agent" 'timeout = 60s' "$@"
}

# last_job: the id of the newest job.
last_job() {
	"$HANDOFF" -c "$CONFIG" jobs --json --limit 1 |
	    grep -o '"id":[[:space:]]*[0-9]*' | head -n 1 | grep -o '[0-9]*$'
}

# job_of_failure: N of "job N failed" on the last run's stderr.
job_of_failure() {
	sed -n 's/.*job \([0-9][0-9]*\) failed.*/\1/p' "$T/err" | head -n 1
}

no_branch() {	# no_branch NAME DESCRIPTION
	G rev-parse -q --verify "refs/heads/$1" >/dev/null
	is "$?" 1 "$2"
}

# --- edit.sh, with --task-file; the user's own work stays as it was ---
REPO="$T/edit"
mkrepo "$REPO"
base=$(G rev-parse HEAD)
echo "a local edit, not committed" >> "$REPO/README"
echo scratch > "$REPO/scratch.txt"
before=$(G status --porcelain)
printf 'Improve the README\n\nAdd a line to README, add src/new.txt, drop old.txt.\n' \
    > "$T/task.md"
use "$AGENTS/edit.sh"
run -c "$CONFIG" run --repo "$REPO" --task-file "$T/task.md"
is "$status" 0 "edit: handoff run exits 0"
out=$(cat "$T/out")
like "$out" "branch: handoff/local-1" "edit: the branch is printed"
grep -q -E '^commit: [0-9a-f]{40}$' "$T/out"
ok $? "edit: the commit is printed"
like "$out" "3 files changed" "edit: a diffstat is printed"
tip=$(G rev-parse -q --verify refs/heads/handoff/local-1)
ok $? "edit: branch handoff/local-1 exists in the repository"
is "$(sed -n 's/^commit: //p' "$T/out")" "$tip" "edit: the printed commit is the branch's tip"
is "$(G rev-parse "$tip^")" "$base" "edit: the commit's parent is the checked-out HEAD"
changes=$(G diff --name-status "$base" "$tip" | tr '\t\n' ' |')
like "$changes" "M README" "edit: README is modified"
like "$changes" "A src/new.txt" "edit: src/new.txt is added"
like "$changes" "D old.txt" "edit: old.txt is deleted"
like "$(G show "$tip:README")" "A line added by the edit agent." "edit: the agent's line is in README"
case $(G show "$tip:README") in
*"a local edit"*) ok 1 "edit: the user's uncommitted edit is not in the branch" ;;
*) ok 0 "edit: the user's uncommitted edit is not in the branch" ;;
esac
is "$(G log -1 --format=%an "$tip")" handoff "edit: the commit's author is handoff"
like "$(G log -1 --format=%B "$tip")" "Improve the README" "edit: the message has the task's first line"
is "$(G symbolic-ref HEAD)" refs/heads/main "edit: the user's branch is still checked out"
is "$(G rev-parse HEAD)" "$base" "edit: main has not moved"
is "$(G status --porcelain)" "$before" "edit: the working tree is unchanged"
like "$(cat "$REPO/README")" "a local edit, not committed" "edit: the user's edit is still there"
# A second run on the same repository takes the next branch.
run -c "$CONFIG" run --repo "$REPO" --task "Improve the README again"
is "$status" 0 "edit again: handoff run exits 0"
like "$(cat "$T/out")" "branch: handoff/local-2" "edit again: the next branch is handoff/local-2"
is "$(G rev-parse handoff/local-1)" "$tip" "edit again: handoff/local-1 is untouched"

# --- --branch NAME ---
REPO="$T/branch"
mkrepo "$REPO"
run -c "$CONFIG" run --repo "$REPO" --task "Use a named branch" --branch feature/named
is "$status" 0 "--branch: handoff run exits 0"
like "$(cat "$T/out")" "branch: feature/named" "--branch: the branch is printed"
G rev-parse -q --verify refs/heads/feature/named >/dev/null
ok $? "--branch: branch feature/named exists"
no_branch handoff/local-1 "--branch: no handoff/local-1 branch"

# --- commit.sh: the agent's commits are folded into handoff's one ---
REPO="$T/commit"
mkrepo "$REPO"
use "$AGENTS/commit.sh"
run -c "$CONFIG" run --repo "$REPO" --task "Make two commits"
is "$status" 0 "commit: handoff run exits 0"
is "$(G rev-list --count main..handoff/local-1)" 1 "commit: one commit on the branch"
is "$(G rev-parse handoff/local-1^)" "$(G rev-parse main)" "commit: on the repository's HEAD"
is "$(G log -1 --format=%an handoff/local-1)" handoff "commit: it is handoff's"
body=$(G log -1 --format=%b handoff/local-1 | tr '\n' '|')
like "$body" "* agent: first change||* agent: add lib/helper.txt|" \
    "commit: the agent's two messages are in its body, in order"
G cat-file -e handoff/local-1:notes.txt 2>/dev/null
ok $? "commit: the uncommitted notes.txt is in it"
G cat-file -e handoff/local-1:lib/helper.txt 2>/dev/null
ok $? "commit: lib/helper.txt (committed by the agent) is in it"

# --- fail.sh: a failing agent fails the job with its log's tail ---
REPO="$T/fail"
mkrepo "$REPO"
use "$AGENTS/fail.sh"
run -c "$CONFIG" run --repo "$REPO" --task "Fail"
is "$status" 1 "fail: handoff run exits 1"
n=$(job_of_failure)
like "$(cat "$T/err")" "job ${n:-?} failed" "fail: stderr says the job failed"
like "$(cat "$T/err")" "error: something broke" "fail: stderr shows the log's tail"
run -c "$CONFIG" logs "${n:-0}"
is "$status" 0 "fail: handoff logs exits 0"
like "$(cat "$T/out")" "step 1" "fail: the log has the agent's first lines"
like "$(cat "$T/out")" "step 30" "fail: the log has step 30"
like "$(cat "$T/out")" "error: something broke" "fail: the log has the error"
no_branch handoff/local-1 "fail: no branch is created"
run -c "$CONFIG" show "${n:-0}" --json
like "$(cat "$T/out")" '"failed"' "fail: the job's state is failed"

# --- nochange.sh: done, "no changes", no branch ---
REPO="$T/nochange"
mkrepo "$REPO"
use "$AGENTS/nochange.sh"
run -c "$CONFIG" run --repo "$REPO" --task "Do nothing"
is "$status" 0 "nochange: handoff run exits 0"
n=$(last_job)
run -c "$CONFIG" show "${n:-0}" --json
like "$(cat "$T/out")" "no changes" "nochange: the job's result is no changes"
like "$(cat "$T/out")" '"done"' "nochange: the job is done"
no_branch handoff/local-1 "nochange: no branch is created"

# --- echo-task.sh: what the agent is given ---
REPO="$T/echo"
mkrepo "$REPO"
use "$AGENTS/echo-task.sh"
run -c "$CONFIG" run --repo "$REPO" --task "Echo the task

A body line with details."
is "$status" 0 "echo-task: handoff run exits 0"
task=$(G show handoff/local-1:TASK.md 2>/dev/null)
like "$task" "Echo the task" "echo-task: the task file has the task's first line"
like "$task" "A body line with details." "echo-task: and its body"
# One line, no space after the colons, whatever the JSON's layout.
context=$(G show handoff/local-1:CONTEXT.json 2>/dev/null | tr '\n' ' ' |
    sed 's/":[[:space:]]*/":/g')
like "$context" '"kind":"implement"' "echo-task: the context says kind implement"
like "$context" '"title":"Echo the task"' "echo-task: the context has the title"
env=$(G show handoff/local-1:ENV.txt 2>/dev/null)
for v in HANDOFF_TASK=/handoff/task.md HANDOFF_CONTEXT=/handoff/context.json \
    HANDOFF_SUMMARY=/handoff/summary.md HOME=/home/agent TMPDIR=/tmp PWD=/workspace; do
	like "$env" "$v" "echo-task: $v"
done
case $env in
*"$CANARY_ENV"*) ok 1 "echo-task: handoff's environment does not reach the agent" ;;
*) ok 0 "echo-task: handoff's environment does not reach the agent" ;;
esac

# --- workflow.sh: protected paths ---
REPO="$T/workflow"
mkrepo "$REPO"
use "$AGENTS/workflow.sh"
run -c "$CONFIG" run --repo "$REPO" --task "Change CI"
is "$status" 1 "workflow: handoff run exits 1"
like "$(cat "$T/err")" "protected path .github/workflows/ci.yml" \
    "workflow: the protected path is named"
no_branch handoff/local-1 "workflow: no branch is created"

# --- many.sh: [runs] max_changed_files ---
REPO="$T/many"
mkrepo "$REPO"
use "$AGENTS/many.sh" '[runs]' 'max_changed_files = 100'
run -c "$CONFIG" run --repo "$REPO" --task "Make many files"
is "$status" 1 "many: handoff run exits 1"
like "$(cat "$T/err")" "150 files changed" "many: the count is given"
like "$(cat "$T/err")" "max_changed_files (100)" "many: the limit is named"
no_branch handoff/local-1 "many: no branch is created"

# --- .gitignore'd files are not committed ---
REPO="$T/ignore"
mkrepo "$REPO"
printf 'build/\n*.log\n' > "$REPO/.gitignore"
G add .gitignore
G commit -q -m "ignore build output"
mkdir -p "$T/agents"
cat > "$T/agents/ignored.sh" <<'EOF'
#!/bin/sh
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
mkdir -p build sub
echo object > build/out.o
echo log > debug.log
echo log > sub/trace.log
echo keep > keep.txt
echo "built"
EOF
chmod +x "$T/agents/ignored.sh"
use "$T/agents/ignored.sh"
run -c "$CONFIG" run --repo "$REPO" --task "Build something"
is "$status" 0 "gitignore: handoff run exits 0"
files=$(G ls-tree -r --name-only handoff/local-1 2>/dev/null | tr '\n' '|')
like "|$files" "|keep.txt|" "gitignore: keep.txt is committed"
for f in build/out.o debug.log sub/trace.log; do
	case "|$files" in
	*"|$f|"*) ok 1 "gitignore: $f is not committed" ;;
	*) ok 0 "gitignore: $f is not committed" ;;
	esac
done

# --- usage ---
run -c "$CONFIG" run --task "No repository"
is "$status" 2 "no --repo: exit status 2"
like "$(cat "$T/err")" "repo" "no --repo: the message names --repo"
run -c "$CONFIG" run --repo "$T/edit"
is "$status" 2 "no --task or --task-file: exit status 2"

done_testing
