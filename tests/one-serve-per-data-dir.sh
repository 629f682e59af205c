#!/bin/bash
# One data directory, one daemon: a second `handoff serve` on the same
# data_dir exits 1 naming the first one's pid, and the first one's running
# job goes on to end done, its sandbox untouched. Beside a serve, `handoff
# run`, the read-only commands and check-config keep working; a second
# runner of a running job exits naming the pid that runs it. A serve that
# starts while `handoff run` or a runner started by hand is inside its
# sandbox leaves that sandbox (and its cgroup) alone, and resumes a job whose
# runner it left alone once that runner stops without ending it.
. "$SRCDIR/tests/lib.sh"
command -v bwrap >/dev/null || { echo "Bail out! bwrap is needed"; exit 1; }
command -v git >/dev/null || { echo "Bail out! git is needed"; exit 1; }

MARK="handoff-one-serve-$$"
EXTRA_CLEANUP='pkill -9 -f "$MARK" 2>/dev/null; [ -n "${HAND:-}" ] && kill -9 "$HAND" 2>/dev/null; [ -n "${LOCAL:-}" ] && kill -9 "$LOCAL" 2>/dev/null'
mkdir -p "$T/gate"

git init -q --bare "$T/origin.git"
mkrepo "$T/src"
git -C "$T/src" push -q "$T/origin.git" HEAD:refs/heads/main

# The agent waits at the gate its task names ("gate: NAME") until the test
# creates $T/gate/NAME, in a process whose command line carries the marker,
# then edits like tests/agents/edit.sh.
cat > "$T/agent.sh" <<EOF
#!/bin/sh
gate=\$(sed -n 's/.*gate: *\([a-z0-9]*\).*/\1/p' "\$HANDOFF_TASK" | head -n 1)
echo "waiting at gate \$gate"
sh -c "while [ ! -e '$T/gate/\$gate' ]; do sleep 0.1; done; : $MARK-\$gate"
exec sh "$SRCDIR/tests/agents/edit.sh"
EOF
chmod +x "$T/agent.sh"

MAX_PARALLEL=1 write_config "[agent]" "command = $T/agent.sh" "timeout = 2m" \
    "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M" \
    "extra_ro = $SRCDIR/tests/agents, $T/gate"

issue() { labeled_at "$1" "$T/origin.git" "$2"; }	# issue NUMBER BODY
# at_gate NAME: until the agent waits at gate NAME (a minute at most).
at_gate() {
	for _ in $(seq 600); do
		pgrep -f "$MARK-$1" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}
runner_of() {	# runner_of JOB: the pids of the job's runners
	pgrep -f -- "-c $CONFIG runner --job $1\$"
}
# The cgroup of job N's sandbox, where the machine gives handoff cgroups
# (cgroup v1 here, as root): handoff/job-HASH-N, HASH of the data_dir.
HASH=$(printf '%s' "$(realpath -m "$DATA")" | sha256sum | cut -c1-8)
CG=
for d in /sys/fs/cgroup/pids/handoff /sys/fs/cgroup/handoff; do
	[ "$(id -u)" -eq 0 ] && [ -d "$d" ] && { CG=$d; break; }
done

start_serve
FIRST=$SERVE_PID

# --- 1. a second serve on the same data_dir, while a job runs ---
r=$(deliver github issues "$(issue 1 "gate: one")")
like "$r" '"job":1' "job 1 is queued"
at_gate one; ok $? "job 1's agent runs in its sandbox"
agent1=$(pgrep -f "$MARK-one")
runner1=$(runner_of 1 | head -n 1)

# Only serve holds serve.lock: neither its runner nor the sandbox has it.
leaked=
for p in $runner1 $agent1; do
	ls -l "/proc/$p/fd" 2>/dev/null | grep -q 'serve\.lock' && leaked="$leaked $p"
done
[ -n "$runner1" ] && [ -z "$leaked" ]
ok $? "serve.lock is in no runner's or agent's descriptors${leaked:+ (in$leaked)}"
ls -l "/proc/$FIRST/fd" | grep -q "$DATA/serve.lock"
ok $? "serve itself holds serve.lock open"

# Ports of its own for both listeners, so that only the data_dir is shared.
awk -v a="$(free_port)" -v b="$(free_port)" \
    '/^listen = / { $0 = "listen = 127.0.0.1:" (n++ ? a : b) } 1' \
    "$CONFIG" > "$T/second.ini"
serve_refused "$T/second.ini"
is "$status" 1 "a second serve on the data_dir exits 1"
is "$(grep -c . "$T/err")" 1 "it says so in one line"
has "$T/err" "data_dir $DATA is in use by handoff serve, pid $FIRST"
ok $? "the line names the data_dir and the first serve's pid"
has "$T/err" "sandboxes"; is $? 1 "it killed no sandbox"
is "$(pgrep -f "$MARK-one")" "$agent1" "job 1's agent still runs"
is "$(job_state 1)" running "job 1 still runs"

# Beside it: the read-only commands, check-config, a local run.
run -c "$CONFIG" jobs
is "$status" 0 "handoff jobs works beside serve"
run -c "$CONFIG" show 1
is "$status" 0 "handoff show works beside serve"
run -c "$CONFIG" check-config
is "$status" 0 "handoff check-config works beside serve"
sed "s|^command = .*|command = $SRCDIR/tests/agents/edit.sh|" "$CONFIG" > "$T/edit.ini"
mkrepo "$T/local"
run -c "$T/edit.ini" run --repo "$T/local" --task "Edit the README"
is "$status" 0 "handoff run on the same data_dir works beside serve"
like "$(cat "$T/out")" "branch: handoff/local-" "handoff run made its branch"

# A second runner of the running job; one that runs it after all is
# stopped once it reaches the gate.
"$HANDOFF" -c "$CONFIG" runner --job 1 >"$T/out" 2>"$T/err" &
second=$!
for _ in $(seq 100); do
	kill -0 "$second" 2>/dev/null || break
	[ "$(pgrep -f "$MARK-one" | wc -l)" -gt 1 ] && kill -9 "$second"
	sleep 0.1
done
wait "$second"
status=$?
is "$status" 1 "a second runner of job 1 exits 1"
has "$T/err" "job 1: runner $runner1 runs it already"
ok $? "it names the pid that runs the job"
is "$(pgrep -f "$MARK-one")" "$agent1" "job 1's agent still runs after it"

touch "$T/gate/one"
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 is done"
run -c "$CONFIG" logs 1
is "$(grep -c 'job 1 (implement)' "$T/out")" 1 "job 1 ran once, never started again"
kill -0 "$FIRST"; ok $? "the first serve still runs"

# --- 2. serve starts while `handoff run` is inside its sandbox ---
kill -TERM "$FIRST"; wait "$FIRST"; SERVE_PID=
mkrepo "$T/local2"
"$HANDOFF" -c "$CONFIG" run --repo "$T/local2" --task "gate: two" \
    >"$T/local.out" 2>"$T/local.err" &
LOCAL=$!
at_gate two; ok $? "handoff run's agent waits in its sandbox"
agent2=$(pgrep -f "$MARK-two")
local_job=$("$HANDOFF" -c "$CONFIG" jobs --json --limit 1 |
    grep -o '"id":[[:space:]]*[0-9]*' | grep -o '[0-9]*$')
if [ -n "$CG" ]; then
	[ -d "$CG/job-$HASH-$local_job" ]
	ok $? "its sandbox has the cgroup $CG/job-$HASH-$local_job"
else
	echo "ok $((tap_n += 1)) - its sandbox's cgroup # SKIP no cgroups for handoff here (not root)"
fi
start_serve
is "$(pgrep -f "$MARK-two")" "$agent2" "serve's start left handoff run's agent alone"
if [ -n "$CG" ]; then
	[ -d "$CG/job-$HASH-$local_job" ]
	ok $? "and its cgroup"
else
	echo "ok $((tap_n += 1)) - and its cgroup # SKIP no cgroups for handoff here (not root)"
fi
has "$T/serve.log" "left by an earlier run"; is $? 1 "serve killed no sandbox"
touch "$T/gate/two"
wait "$LOCAL"
is "$?" 0 "handoff run ends well"
LOCAL=
like "$(cat "$T/local.out")" "branch: handoff/local-" "handoff run made its branch"

# --- 3. serve starts while a runner started by hand runs a job ---
r=$(deliver github issues "$(issue 3 "gate: three")")
J=$(jobnum "$r")
[ -n "$J" ]; ok $? "issue 3 is queued as job $J"
at_gate three; ok $? "job $J's agent runs"
runner3=$(runner_of $J | head -n 1)
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
sleep 0.5
kill -0 "$runner3" 2>/dev/null; ok $? "serve's runner of job $J outlives serve"
kill -TERM "$runner3"
for _ in $(seq 300); do
	[ -z "$(runner_of $J)" ] && ! pgrep -f "$MARK-three" >/dev/null && break
	sleep 0.1
done
[ -z "$(runner_of $J)" ]; ok $? "it stops on SIGTERM, and its agent with it"
is "$(job_state $J)" running "job $J was left running"
"$HANDOFF" -c "$CONFIG" runner --job $J >"$T/hand.out" 2>"$T/hand.err" &
HAND=$!
at_gate three; ok $? "a runner started by hand runs job $J"
agent3=$(pgrep -f "$MARK-three")
lines=$(wc -l < "$T/serve.log")
start_serve
is "$(pgrep -f "$MARK-three")" "$agent3" "serve's start left the hand runner's agent alone"
is "$(job_state $J)" running "and did not queue job $J again"
tail -n +$((lines + 1)) "$T/serve.log" | grep -q "job $J: adopted runner $HAND"
ok $? "serve says it leaves job $J to runner $HAND"
is "$(runner_of $J)" "$HAND" "serve started no runner of its own for job $J"
kill -TERM "$HAND"; wait "$HAND"; HAND=
for _ in $(seq 300); do
	grep -q "job $J: queued again to resume" "$T/serve.log" && break
	sleep 0.1
done
has "$T/serve.log" "job $J: queued again to resume"
ok $? "once that runner stopped, serve queued job $J again"
at_gate three; ok $? "serve's own runner resumes job $J"
touch "$T/gate/three"
wait_job_end $J; ok $? "job $J ends"
is "$(job_state $J)" done "job $J is done"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"
is "$?" 0 "serve stops cleanly"
SERVE_PID=
done_testing
