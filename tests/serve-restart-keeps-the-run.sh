#!/bin/bash
# Stopping serve with SIGTERM (an upgrade) leaves a running job's runner and
# its sandbox alone; the serve started next adopts the runner, and the job
# ends done on its first attempt: one agent run, one pull request. A runner
# that died while serve was down is handled as a lost runner (its job is
# queued again and resumes); a cancel reaches an adopted runner; SIGQUIT
# stops serve and every runner, its own and those it adopted, leaving their
# jobs to resume. As root, the whole runs again with serve run by an
# unprivileged user.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

TOKEN="ghp_adopt_$$_5d1c09a7e3"
REPO=Codertocat/Hello-World
start_emulator 15
jq_() { emu_repo "$REPO" "$1"; }
emu_source "$(printf '# Hello-World\n\nRemember to committ often.')"
emu_project github "$REPO" "$TOKEN"
admin POST permissions '{"forge":"github","repo":"'"$REPO"'","user":"Codertocat","permission":"write"}' >/dev/null
for n in 1 2 3 4 5; do
	admin POST issues '{"forge":"github","repo":"'"$REPO"'","number":'$n',"title":"Spelling error","body":"gate: g'$n'","user":"Codertocat"}' >/dev/null
done

# The agent says once per run that it runs (into the job's log), then
# waits until its issue's gate is open and fixes the spelling.
mkdir -p "$T/gate"
chmod 755 "$T/gate"
cat > "$T/agent.sh" <<EOF
#!/bin/sh
g=\$(sed -n 's/^gate: *//p' "\$HANDOFF_TASK" | head -n 1)
echo "agent-run-begins \$g"
i=0
while [ ! -e "$T/gate/\$g" ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i+1)); done
exec sh "$SRCDIR/contrib/agents/demo.sh"
EOF
chmod 755 "$T/agent.sh"
MAX_PARALLEL=2 write_config "[github]" "api_url = $E/github/api" \
    "token = $TOKEN" "[agent]" "command = $T/agent.sh" "timeout = 10m" \
    "[sandbox]" "extra_ro = $T/gate, $SRCDIR/contrib/agents" \
    "memory = 512M" "pids = 200" "disk = 256M"
start_serve

issue() {	# issue NUMBER: the labeled delivery for the emulated repository
	sed -e "s|https://github.com/Codertocat/Hello-World.git|$E/github/git/Codertocat/Hello-World.git|" \
	    -e 's|"default_branch": "master"|"default_branch": "main"|' \
	    -e "s|\"number\": 1,|\"number\": $1,|" \
	    "$SAMPLES/github/derived/issues.labeled.agent.json" > "$T/issue-$1.json"
	echo "$T/issue-$1.json"
}
attempts() {
	"$HANDOFF" -c "$CONFIG" show "$1" --json 2>/dev/null |
	    sed -n 's/^	"attempts":	\([0-9]*\),$/\1/p'
}
runs() { grep -c 'agent-run-begins' "$DATA/jobs/$1/log" 2>/dev/null; }
runner_of() { pgrep -f -- "-c $CONFIG runner --job $1$" | head -n 1; }
# gone PID: PID has ended (a zombie not yet reaped by init counts).
gone() {
	st=$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ]
}
# stop SIGNAL: stop serve with SIGNAL; its exit status is checked.
stop() {
	kill -"$1" "$SERVE_PID"
	wait "$SERVE_PID"
	is "$?" 0 "serve stopped with SIG$1 exits 0"
	SERVE_PID=
}
new_log() { tail -n +$((LOGLINES + 1)) "$T/serve.log"; }
# start JOB: deliver issue JOB and wait until its agent runs; RUNNER is
# its runner's pid.
start() {
	r=$(deliver github issues "$(issue "$1")")
	like "$r" "\"job\":$1" "issue $1 is queued as job $1"
	wait_for "job $1's agent" log_has "$1" "agent-run-begins g$1"
	ok $? "job $1's agent runs"
	RUNNER=$(runner_of "$1")
	[ -n "$RUNNER" ]; ok $? "job $1 has a runner"
}

# 1. SIGTERM: serve exits, the runner and its agent run on; the next serve
#    adopts the runner; the job ends done on its first attempt.
start 1
stop TERM
! gone "$RUNNER"; ok $? "job 1's runner outlives serve"
sleep 1
! gone "$RUNNER"; ok $? "and is still running a second later"
pgrep -f -- "$T/agent.sh" >/dev/null; ok $? "its agent runs on in its sandbox"
is "$(job_state 1)" running "job 1 is still running in the store"
LOGLINES=$(wc -l < "$T/serve.log")
start_serve
like "$(new_log)" "job 1: adopted runner $RUNNER" \
    "the new serve says it adopted the runner"
touch "$T/gate/g1"
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 is done"
is "$(attempts 1)" 1 "on its first attempt"
is "$(runs 1)" 1 "the agent ran once"
is "$(jq_ 'len(s["pulls"])')" 1 "one pull request is opened"
wait_for "runner $RUNNER to end" gone "$RUNNER"
ok $? "the adopted runner ends with its job"
like "$(new_log)" "job 1: runner $RUNNER has stopped" \
    "the new serve saw the adopted runner end"
unlike "$(new_log)" "job 1: queued again" "job 1 was not queued again"

# 2. A runner that dies while serve is down: the job is queued again (a
#    lost runner's, as when serve itself died) and resumes. The pid in its
#    lock file, now another process's, is not mistaken for it.
start 2
stop TERM
! gone "$RUNNER"; ok $? "job 2's runner outlives serve"
kill -9 "$RUNNER"
wait_for "runner $RUNNER to die" gone "$RUNNER"
# Its pid now another process's (as a recycled pid would be), named in the
# job's lock file: that process holds no lock, so it is not taken for the
# runner, and serve leaves it alone.
sleep 600 &
OTHER=$!
printf '%s\n' "$OTHER" > "$DATA/jobs/2/runner.lock"
touch "$T/gate/g2"
LOGLINES=$(wc -l < "$T/serve.log")
start_serve
unlike "$(new_log)" "adopted runner" "a dead runner is not adopted"
unlike "$(new_log)" "runner $OTHER" "nor the process its lock file names"
! gone "$OTHER"; ok $? "which serve leaves alone"
kill "$OTHER"; wait "$OTHER" 2>/dev/null
like "$(new_log)" "jobs left running will resume" "its job is queued again"
wait_job_end 2; ok $? "job 2 ends"
is "$(job_state 2)" done "job 2 is done"
is "$(attempts 2)" 2 "on its second attempt"
is "$(runs 2)" 2 "the agent ran again"

# 3. Cancel reaches an adopted runner.
start 3
stop TERM
LOGLINES=$(wc -l < "$T/serve.log")
start_serve
like "$(new_log)" "job 3: adopted runner $RUNNER" "job 3's runner is adopted"
run -c "$CONFIG" cancel 3
is "$status" 0 "handoff cancel 3 succeeds"
wait_job_end 3; ok $? "job 3 ends"
is "$(job_state 3)" cancelled "job 3 is cancelled"
wait_for "runner $RUNNER to end" gone "$RUNNER"
ok $? "the adopted runner stops"
is "$(runs 3)" 1 "the agent ran once"

# 4. SIGQUIT stops serve and its runners: here an adopted one. The job is
#    left running, to resume at the next start.
start 4
stop TERM
LOGLINES=$(wc -l < "$T/serve.log")
start_serve
like "$(new_log)" "job 4: adopted runner $RUNNER" "job 4's runner is adopted"
stop QUIT
gone "$RUNNER"; ok $? "its runner stopped with it"
has "$DATA/jobs/4/log" "stopped by a signal; the job resumes at its step"
ok $? "the runner says the job will resume"
is "$(job_state 4)" running "job 4 is left running in the store"
touch "$T/gate/g4"
start_serve
wait_job_end 4; ok $? "job 4 ends after the next start"
is "$(job_state 4)" done "job 4 is done"
is "$(attempts 4)" 2 "on its second attempt"

# 5. SIGQUIT also stops serve's own runners.
start 5
stop QUIT
gone "$RUNNER"; ok $? "its own runner stopped with it"
is "$(job_state 5)" running "job 5 is left running, to resume"
pgrep -f -- "-c $CONFIG runner" >/dev/null
[ $? -ne 0 ]; ok $? "no runner is left"

# The same with serve run by an unprivileged user.
rerun_as_user "every check above passes with serve run by handoff-esc"

done_testing
