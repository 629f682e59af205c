#!/bin/bash
# A real job's lines in serve's log name the job once: "job 1 (implement)
# on handoff/1-..., attempt 1", never "job 1: job 1 (implement)"; and a
# failed job's line is one line, its agent's output left to the job's log.
. "$SRCDIR/tests/lib.sh"
command -v bwrap >/dev/null || { echo "Bail out! bwrap is needed"; exit 1; }
command -v git >/dev/null || { echo "Bail out! git is needed"; exit 1; }

git init -q --bare "$T/origin.git"
mkrepo "$T/src"
git -C "$T/src" push -q "$T/origin.git" HEAD:refs/heads/main

MAX_PARALLEL=1 write_config "[agent]" "command = $SRCDIR/tests/agents/edit.sh" \
    "timeout = 2m" "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M"
start_serve

r=$(deliver github issues "$(labeled_at 1 "$T/origin.git")")
like "$r" '"verdict":"queued"' "the label queues job 1"
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 is done"
grep -q ' info job 1 (implement) on handoff/1-[^ ]*, attempt 1$' "$T/serve.log"
ok $? "its start names the job once"
grep -q ' info job 1: workspace: started$' "$T/serve.log"
ok $? "its steps' lines name the job"
doubled=$(grep -c -E 'job ([0-9]+)[:,]? .*\bjob \1\b' "$T/serve.log")
is "$doubled" 0 "no line names a job twice"

# A failing agent: one line in serve's log, the tail in the job's.
sed -i "s|^command = .*edit.sh\$|command = $SRCDIR/tests/agents/fail.sh|" "$CONFIG"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; SERVE_PID=
start_serve
r=$(deliver github issues "$(labeled_at 2 "$T/origin.git")")
job=$(jobnum "$r")
wait_job_end "$job"; ok $? "job $job ends"
is "$(job_state "$job")" failed "job $job failed"
grep -q " job $job: job failed: the agent exited with status 3; its output ends: \.\.\.\$" "$T/serve.log"
ok $? "serve's log has the failure's first line"
! grep -q 'step 17' "$T/serve.log"
ok $? "not the agent's output"
log_has "$job" "error: something broke"; ok $? "which the job's log has"
doubled=$(grep -c -E 'job ([0-9]+)[:,]? .*\bjob \1\b' "$T/serve.log")
is "$doubled" 0 "still no line names a job twice"
done_testing
