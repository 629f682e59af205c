#!/bin/bash
# handoff serve runs queued jobs: a labeled issue becomes a commit on the
# thread's branch; `handoff cancel` takes a running sandbox down within two
# seconds; a runner killed with -9 is noticed and its job resumed; jobs left
# running by a serve killed with -9 resume when it starts again; with
# max_parallel = 0 jobs wait in the queue.
. "$SRCDIR/tests/lib.sh"

command -v bwrap >/dev/null || { echo "Bail out! bwrap is needed"; exit 1; }
command -v git >/dev/null || { echo "Bail out! git is needed"; exit 1; }

MARK="handoff-serve-test-$$"
EXTRA_CLEANUP='pkill -9 -f "$MARK" 2>/dev/null'

git init -q --bare "$T/origin.git"
git init -q "$T/src"
echo "hello" > "$T/src/README"
echo "old" > "$T/src/old.txt"
git -C "$T/src" add -A
git -C "$T/src" -c user.name=t -c user.email=t@t commit -qm init
git -C "$T/src" push -q "$T/origin.git" HEAD:refs/heads/main

# An agent that edits, or hangs when the issue body says so.
cat > "$T/agent.sh" <<EOF
#!/bin/sh
if grep -q 'please hang' "\$HANDOFF_TASK"; then
	exec sh "$SRCDIR/tests/agents/hang.sh"
fi
exec sh "$SRCDIR/tests/agents/edit.sh"
EOF
chmod +x "$T/agent.sh"

MAX_PARALLEL=2 write_config "[agent]" "command = $T/agent.sh" "timeout = 2m" \
    "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M"
# The agent scripts in the source tree must be visible in the sandbox.
sed -i "s|^\[sandbox\]|[sandbox]\nextra_ro = $SRCDIR/tests/agents|" "$CONFIG"

issue() { labeled_at "$1" "$T/origin.git" "$2"; }	# issue NUMBER BODY
state() {	# state JOB: the job's state
	"$HANDOFF" -c "$CONFIG" show "$1" --json 2>/dev/null |
	    sed -n 's/^	"state":	"\(.*\)",$/\1/p'
}
wait_state() {	# wait_state JOB STATE SECONDS
	i=0
	while [ "$(state "$1")" != "$2" ] && [ $i -lt $(($3 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ "$(state "$1")" = "$2" ]
}

start_serve

# 1. A labeled issue becomes a commit on the thread's branch.
r=$(deliver github issues "$(issue 1 "Fix the spelling")")
like "$r" '"job":1' "the labeled issue is queued as job 1"
wait_state 1 done 60
ok $? "job 1 ends done"
run -c "$CONFIG" show 1 --json
has "$T/out" 'committed' ; ok $? "job 1 reports its commit"
has "$T/out" '"branch":	"handoff/1-spelling-error-in-the-readme-file"'
ok $? "the thread's branch is named after the issue"
mirror=$(ls -d "$DATA"/mirrors/*.git)
git --git-dir="$mirror" show handoff/1-spelling-error-in-the-readme-file:src/new.txt \
    >"$T/new.txt" 2>/dev/null
has "$T/new.txt" "A new file from the edit agent."
ok $? "the branch in the mirror holds the agent's new file"
git --git-dir="$mirror" log -1 --format=%an%n%s \
    handoff/1-spelling-error-in-the-readme-file >"$T/log1"
has "$T/log1" "handoff"; ok $? "handoff's identity made the commit"
has "$T/log1" "Spelling error in the README file (#1)"
ok $? "the commit message names the issue"
run -c "$CONFIG" logs 1
has "$T/out" "handoff: sandbox: started" && has "$T/out" "editing README"
ok $? "handoff logs shows step lines and the agent's output"
[ ! -d "$DATA/jobs/1/upper" ]; ok $? "the job's writable layer is removed"

# 2. Cancel a running job: the sandbox is gone within two seconds.
r=$(deliver github issues "$(issue 2 "please hang\\\\nmarker: $MARK")")
like "$r" '"job":2' "a hanging job is queued as job 2"
wait_state 2 running 30; ok $? "job 2 runs"
i=0
until pgrep -f "$MARK" >/dev/null || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done
pgrep -f "$MARK" >/dev/null; ok $? "the agent's sleepers are running"
"$HANDOFF" -c "$CONFIG" logs 2 --follow > "$T/follow" 2>&1 &
follow=$!
run -c "$CONFIG" cancel 2
is "$status" 0 "handoff cancel succeeds"
i=0
while kill -0 $follow 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
! kill -0 $follow 2>/dev/null; ok $? "handoff logs --follow ends with the job"
has "$T/follow" "sleeping" && has "$T/follow" "job cancelled"
ok $? "the followed log has the agent's output and the end"
like "$(cat "$T/out")" "cancelled" "handoff cancel says the job is cancelled"
sleep 2
pgrep -f "$MARK" >/dev/null; [ $? -ne 0 ]
ok $? "no process of the sandbox is left two seconds later"
is "$(state 2)" cancelled "job 2 is cancelled"

# 3. A runner killed with -9 is noticed and its job resumed.
r=$(deliver github issues "$(issue 3 "please hang\\\\nmarker: $MARK-3")")
wait_state 3 running 30; ok $? "job 3 runs"
i=0
until pgrep -f "$MARK-3" >/dev/null || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done
runner=$(pgrep -f -- "-c $CONFIG runner --job 3$" | head -n 1)
[ -n "$runner" ]; ok $? "job 3 has a runner process"
old=$(pgrep -f "$MARK-3")
kill -9 "$runner"
sleep 1
alive=0
for p in $old; do	# gone, or a zombie waiting for its reaper
	[ -d /proc/$p ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$p/stat && alive=1
done
[ -n "$old" ] && [ $alive -eq 0 ]; ok $? "the sandbox died with its runner"
i=0
until [ "$(pgrep -f -- "-c $CONFIG runner --job 3$" | head -n 1)" != "" ] &&
    [ "$(pgrep -f -- "-c $CONFIG runner --job 3$" | head -n 1)" != "$runner" ] || [ $i -gt 50 ]; do
	sleep 0.1; i=$((i+1))
done
has "$T/serve.log" "job 3: the runner was killed by signal 9"
ok $? "serve noticed the runner's death"
new=$(pgrep -f -- "-c $CONFIG runner --job 3$" | head -n 1)
[ -n "$new" ] && [ "$new" != "$runner" ]
ok $? "serve started a new runner to resume job 3"
run -c "$CONFIG" cancel 3
wait_state 3 cancelled 10; ok $? "job 3 is then cancelled"

# 4. serve killed with -9 while a job runs: on restart the job resumes.
r=$(deliver github issues "$(issue 4 "Please fix")")
like "$r" '"job":4' "job 4 is queued"
kill -9 "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=
s4=$(state 4)
start_serve
wait_state 4 done 60
ok $? "job 4 ends done after serve restarts (it was $s4 when serve died)"
sleep 0.5
pgrep -f -- "-c $CONFIG runner" >/dev/null
[ $? -ne 0 ]; ok $? "no runner is left over"

# 5. max_parallel = 0 pauses running: deliveries still queue.
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
sed -i 's/^max_parallel = 2$/max_parallel = 0/' "$CONFIG"
start_serve
r=$(deliver github issues "$(issue 5 "Please fix")")
like "$r" '"job":5' "job 5 is queued while running is paused"
sleep 2
is "$(state 5)" queued "job 5 waits in the queue"
run -c "$CONFIG" retry 2
like "$(cat "$T/out")" "queued again as job 6" "handoff retry queues a cancelled job again"
run -c "$CONFIG" retry 1
is "$status" 1 "a job that did not fail is not retried"

done_testing
