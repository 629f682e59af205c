#!/bin/bash
# [store] keep: `handoff gc` removes the jobs that ended longer ago than
# keep, with their rows and files; younger jobs, queued and running ones, an
# open pull request's latest job and a job a kept retry repeats stay. A
# removed job's delivery sent again is still a duplicate, not a new job.
. "$SRCDIR/tests/lib.sh"

for tool in bwrap git sqlite3; do
	command -v $tool >/dev/null || { echo "Bail out! $tool is needed"; exit 1; }
done

git init -q "$T/repo"
echo "v0" > "$T/repo/README"
git -C "$T/repo" add -A
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -qm v0
cat > "$T/agent.sh" <<'EOF'
#!/bin/sh
if grep -q 'please-hold' "$HANDOFF_TASK"; then
	touch "$HANDOFF_SUMMARY.holding"
	exec sleep 600
fi
echo "change $$" >> README
echo "changed" > "$HANDOFF_SUMMARY"
EOF
chmod +x "$T/agent.sh"
write_config "[agent]" "command = $T/agent.sh" "timeout = 2m" "[sandbox]" \
    "memory = 256M" "pids = 64" "disk = 64M" "[store]" "keep = 90d"
DB="$DATA/handoff.db"
q() { sqlite3 "$DB" "$1"; }

# Two local jobs that end done, with their directories.
for n in 1 2; do
	run -c "$CONFIG" run --repo "$T/repo" --task "run $n" --branch "b$n"
	is "$status" 0 "local job $n ends"
done
[ -d "$DATA/jobs/1" ] && [ -d "$DATA/jobs/2" ]; ok $? "both have a directory"

# Jobs from deliveries, through serve (nothing runs: max_parallel 0).
start_serve
r=$(deliver github issues "$(labeled 11)" --delivery old-label-11)
old=$(jobnum "$r")
run -c "$CONFIG" cancel "$old"
r=$(deliver github issues "$(labeled 11)" --delivery new-label-11)
like "$r" '202 {"verdict":"queued"' "the label again on issue 11 queues a job"
queued=$(jobnum "$r")
r=$(deliver github issues "$(labeled 12)" --delivery label-12)
latest=$(jobnum "$r")
run -c "$CONFIG" cancel "$latest"
r=$(deliver github issues "$(labeled 13)" --delivery label-13)
retried=$(jobnum "$r")
run -c "$CONFIG" cancel "$retried"
run -c "$CONFIG" retry "$retried"
is "$status" 0 "job $retried is retried"
retry=$(q "SELECT max(id) FROM jobs WHERE retry_of = $retried")
# Issue 14's pull request was merged: its thread is closed.
r=$(deliver github issues "$(labeled 14)" --delivery label-14)
merged=$(jobnum "$r")
run -c "$CONFIG" cancel "$merged"
q "UPDATE threads SET state = 'closed' WHERE number = 14"
# A queued job on a closed thread: only its state keeps it.
r=$(deliver github issues "$(labeled 15)" --delivery label-15)
waiting=$(jobnum "$r")
q "UPDATE threads SET state = 'closed' WHERE number = 15"
stop_serve >/dev/null

# A running job: its agent holds.
"$HANDOFF" -c "$CONFIG" run --repo "$T/repo" --task "please-hold" \
    --branch hold >"$T/hold.out" 2>&1 &
hold=$!
EXTRA_CLEANUP="kill $hold 2>/dev/null"
wait_for "the held job's agent" sh -c \
    "sqlite3 '$DB' \"SELECT 1 FROM jobs WHERE state = 'running'\" | grep -q 1"
running=$(q "SELECT id FROM jobs WHERE state = 'running'")
wait_for "the held job's sandbox" sh -c "ls $DATA/jobs/$running/ >/dev/null"
run -c "$CONFIG" run --repo "$T/repo" --task "after" --branch after
is "$status" 0 "a job after it ends"
after=$(q "SELECT max(id) FROM jobs")

# Time passes: everything but job 2 ended 100 days ago. Queued and running
# jobs get an old finished_at too, so only their state can keep them.
now=$(($(date +%s) * 1000))
long_ago=$((now - 100 * 86400000))
q "UPDATE jobs SET created_at = $long_ago, finished_at = $long_ago WHERE id <> 2"
q "UPDATE jobs SET finished_at = $((now - 89 * 86400000)) WHERE id = 2"
q "UPDATE deliveries SET received_at = $long_ago"
[ "$(q "SELECT count(*) FROM job_steps WHERE job_id = 1")" -gt 0 ]
ok $? "job 1 has steps"
q "INSERT INTO usage (job_id, model, at) VALUES (1, 'm', $long_ago)"
q "INSERT INTO egress (job_id, host, port, allowed, at) VALUES (1, 'h', 443, 1, $long_ago)"
q "INSERT INTO requests (job_id, created_at) VALUES (1, $long_ago)"
before=$(du -sk "$DATA/jobs/1" | cut -f1)

run -c "$CONFIG" gc
is "$status" 0 "gc succeeds"
like "$(cat "$T/out")" "removed 3 jobs" "gc says it removed three jobs"
gone="1,$old,$merged"
is "$(q "SELECT group_concat(id) FROM jobs WHERE id IN ($gone)")" "" \
    "the jobs that ended 100 days ago are gone ($gone)"
for t in job_steps requests usage egress; do
	is "$(q "SELECT count(*) FROM $t WHERE job_id IN ($gone)")" 0 \
	    "no $t rows of theirs remain"
done
is "$(q "PRAGMA foreign_key_check")" "" "the store's references hold"
[ ! -e "$DATA/jobs/1" ]; ok $? "job 1's directory is gone ($before KiB)"
[ -f "$DATA/jobs/2/log" ]; ok $? "job 2's (89 days) stays"
for j in 2 "$queued" "$running" "$latest" "$retried" "$retry" "$waiting" \
    "$after"; do
	is "$(q "SELECT count(*) FROM jobs WHERE id = $j")" 1 \
	    "job $j stays ($(q "SELECT state FROM jobs WHERE id = $j"))"
done
is "$(q "SELECT state FROM jobs WHERE id = $running")" running \
    "the running job still runs"
kill -0 "$hold"; ok $? "its runner is untouched"
[ -d "$DATA/jobs/$running" ]; ok $? "so is its directory"
is "$(q "SELECT count(*) FROM deliveries WHERE delivery = 'old-label-11' AND job_id IS NULL")" 1 \
    "the removed job's delivery id is kept, without its job"

# A removed job's delivery comes again: a duplicate, no new job. On the
# merged issue the label event would otherwise open the thread again and
# queue its implementation anew.
count=$(q "SELECT count(*) FROM jobs")
start_serve
r=$(deliver github issues "$T/labeled-14.json" --delivery label-14)
is "$r" '200 {"verdict":"duplicate","job":0}' \
    "the merged issue's label, sent again, is a duplicate of a job no longer kept"
r=$(deliver github issues "$T/labeled-11.json" --delivery old-label-11)
is "$r" '200 {"verdict":"duplicate","job":0}' "so is issue 11's first label"
is "$(q "SELECT count(*) FROM jobs")" "$count" "and they make no job"
is "$(q "SELECT state FROM threads WHERE number = 14")" closed \
    "the merged issue's thread stays closed"
stop_serve >/dev/null

# Nothing left to remove: a second gc removes nothing. A delivery id
# without its job is forgotten a month after keep (90 + 30 days).
run -c "$CONFIG" gc
like "$(cat "$T/out")" "removed 0 jobs (0.0 MiB of files), 0 deliveries" \
    "a second gc removes no job, and keeps the delivery ids"
q "UPDATE deliveries SET received_at = $((now - 121 * 86400000)) WHERE delivery = 'old-label-11'"
run -c "$CONFIG" gc
like "$(cat "$T/out")" "1 delivery" \
    "gc forgets a delivery id 30 days after its job went"
is "$(q "SELECT count(*) FROM deliveries WHERE delivery = 'old-label-11'")" 0 \
    "it is gone"
is "$(q "SELECT count(*) FROM deliveries WHERE delivery = 'label-14'")" 1 \
    "a younger one stays"

# The newest job stays whatever its age: SQLite would give its id to the
# next job, and links to it are on the forges.
run -c "$CONFIG" run --repo "$T/repo" --task "last" --branch last
is "$status" 0 "one more local job ends"
newest=$(q "SELECT max(id) FROM jobs")
q "UPDATE jobs SET finished_at = $long_ago WHERE id IN (2, $newest)"
run -c "$CONFIG" gc
is "$(q "SELECT count(*) FROM jobs WHERE id = 2")" 0 "job 2 goes once 100 days old"
is "$(q "SELECT count(*) FROM jobs WHERE id = $newest")" 1 \
    "the newest job, as old, stays"

# keep unset: nothing is removed, whatever the age.
sed -i '/^keep = /d' "$CONFIG"
q "UPDATE jobs SET finished_at = $long_ago WHERE state <> 'running'"
count=$(q "SELECT count(*) FROM jobs")
run -c "$CONFIG" gc
like "$(cat "$T/out")" "removed 0 jobs" "without keep gc removes no job"
is "$(q "SELECT count(*) FROM jobs")" "$count" "all $count stay"

kill "$hold"
wait "$hold" 2>/dev/null
done_testing
