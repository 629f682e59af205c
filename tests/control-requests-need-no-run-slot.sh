#!/bin/bash
# Where handoff has no credentials for the forge, the store decides
# "/agent help" and "/agent cancel" at once, without a run slot: with
# [runs] max_parallel = 1 taken by a job that runs until told, help is
# answered and cancel stops that job. A failed request is retried once at
# a time: a second "/agent retry" (another comment) is a duplicate of the
# retry in progress, and `handoff retry JOB` says the retry is queued
# already.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

GH=Codertocat/Hello-World
bare_origin "$T/origin.git"

mkdir -p "$T/gate"
cat > "$T/agent.sh" <<EOF
#!/bin/sh
echo "working"
grep -q '"number":[[:space:]]*2,' "\$HANDOFF_CONTEXT" && [ ! -e $T/gate/ok-2 ] && exit 3
i=0
while [ ! -e $T/gate/go ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i+1)); done
echo "a line" >> README
EOF
chmod +x "$T/agent.sh"
MAX_PARALLEL=1 write_config "[agent]" "command = $T/agent.sh" "[sandbox]" \
    "extra_ro = $T/gate" "memory = 512M" "pids = 200" "disk = 256M"
start_serve

ask() {	# ask N ID TEXT: the owner's comment ID on issue N, delivered
	deliver github issue_comment "$(delivery gh-comment $GH "$1" Codertocat \
	    id="$2" assoc=OWNER clone="$T/origin.git" "body=$3")"
}

r=$(deliver github issues "$(delivery gh-label $GH 1 Codertocat clone="$T/origin.git")")
j1=$(jobnum "$r")
wait_for "job $j1 to run" log_has "$j1" "working"
ok $? "job $j1 runs in the only run slot"

r=$(ask 1 11 "/agent help")
h=$(jobnum "$r")
wait_for "help $h" ended "$h"
ok $? "/agent help is answered while the slot is taken"
is "$(job_state "$h")" done "help (job $h) is done"
is "$(job_state "$j1")" running "job $j1 still runs"

r=$(ask 1 12 "/agent cancel")
c=$(jobnum "$r")
wait_for "job $j1 to end" ended "$j1"
ok $? "/agent cancel stops job $j1 while it holds the slot"
is "$(job_state "$j1")" cancelled "job $j1 is cancelled"
is "$(job_state "$c")" done "the cancel (job $c) is done"

# A job that fails, retried twice.
r=$(deliver github issues "$(delivery gh-label $GH 2 Codertocat clone="$T/origin.git")")
j2=$(jobnum "$r")
wait_job_end "$j2"
is "$(job_state "$j2")" failed "job $j2 fails"
touch "$T/gate/ok-2"
r=$(ask 2 13 "/agent retry")
r1=$(jobnum "$r")
like "$r" '"verdict":"queued"' "/agent retry queues job $r1"
r=$(ask 2 14 "/agent retry")
like "$r" "{\"verdict\":\"duplicate\",\"job\":$r1}" "a second /agent retry is a duplicate of it"
n=$(job_count)
run -c "$CONFIG" retry "$j2"
is "$status" 0 "handoff retry $j2 succeeds"
has "$T/out" "already queued as job $r1"; ok $? "saying the retry is queued already"
is "$(job_count)" "$n" "no second retry is queued"
run -c "$CONFIG" cancel "$r1"
wait_for "retry $r1 to end" ended "$r1"
run -c "$CONFIG" retry "$j2"
r2=$(sed -n 's/.* as job \([0-9]*\)$/\1/p' "$T/out")
like "$(cat "$T/out")" "queued again as job" "once it is cancelled, handoff retry queues job $r2"
run -c "$CONFIG" retry "$j2"
has "$T/out" "already queued as job $r2"; ok $? "and not twice"
is "$(job_count)" "$((n + 1))" "one retry more in the store"
touch "$T/gate/go"
wait_job_end "$r2"; ok $? "job $r2 ends"
is "$(job_state "$r2")" done "job $r2 is done"
done_testing
