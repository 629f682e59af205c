#!/bin/bash
# The status pages over HTTP against a real serve: a job run end to end
# against the forge emulator has a page with its steps, the task.md its
# agent was given, the result, the diff from the mirror (additions and
# deletions marked, a file name holding HTML escaped, a binary file named
# only), the usage and cost, the refused hosts, the pull request link and
# the thread's other jobs; / lists jobs newest first, 50 a page, filtered
# by state and by repository; an unknown job is a 404 page.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

TOKEN="ghp_pages_$$_41d0c2"
REPO=Codertocat/Hello-World
start_emulator 11
emu_source "$(printf '# Hello-World\n\nRemember to committ often.')"
emu_project github "$REPO" "$TOKEN"
admin POST permissions '{"forge":"github","repo":"'$REPO'","user":"Codertocat","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":1,"title":"Spelling error in the README file","body":"Fix committ in the README, marker-task-71.","user":"Codertocat"}' >/dev/null

# The agent: rewrites the README (a deletion and additions), adds a file
# whose name is HTML and a binary file, says what it did.
cat > "$T/agent.sh" <<'EOF'
#!/bin/sh
set -e
echo "agent: reading $(head -n 1 "$HANDOFF_TASK")"
printf '# Hello-World\n\nRemember to commit often.\nA line added by the agent.\n' > README
printf 'first line\nsecond line\n' > 'a<img src=x onerror=alert(1)>.txt'
printf '\000\001\002\003binary\000' > blob.bin
printf 'Fixed the spelling\n' > "$HANDOFF_SUMMARY"
echo "agent: done"
EOF
chmod +x "$T/agent.sh"
MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" \
    "token = $TOKEN" "[agent]" "command = $T/agent.sh" \
    "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M"
start_serve

get() {	# get PATH: the page into $T/page, its status into $code
	code=$(curl -s -o "$T/page" -w '%{http_code}' "$WEB_URL$1")
}
rows() {	# rows: the job ids listed in $T/page, in order
	sed -n 's/.*<tr class="job" data-job="\([0-9]*\)">.*/\1/p' "$T/page" |
	    tr '\n' ' ' | sed 's/ $//'
}

r=$(deliver github issues "$(delivery gh-label $REPO 1 Codertocat)")
like "$r" '"job":1' "the labeled issue is queued as job 1"
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 is done"

# What the agent used and where it tried to go, as the gateway and the
# runner record them (show-tells-usage-and-egress.sh does the same).
python3 - "$DATA/handoff.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1000)
db.executemany("INSERT INTO usage (job_id, model, input_tokens, output_tokens,"
    " cache_read_tokens, cache_write_tokens, cost_micros, at)"
    " VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
    [("claude-x", 3000, 4000, 170000, 10000, 600000, now)] +
    [("claude-x", 0, 1000, 0, 0, 110000, now)] * 12 +
    [("local-model", 5, 5, 0, 0, None, now)])
db.executemany("INSERT INTO egress (job_id, host, port, address, allowed,"
    " reason, bytes_in, bytes_out, duration_ms, at)"
    " VALUES (1, ?, ?, ?, ?, ?, 0, 0, 0, ?)",
    [("pypi.org", 443, "151.101.0.223", 1, None, now),
     ("evil.example", 443, None, 0, "not in allow_hosts", now),
     ("10.0.0.7", 80, None, 0, "a private address", now)])
db.commit()
PY

# 1. The finished job's page.
get /jobs/1
is "$code" 200 "GET /jobs/1 is 200"
has "$T/page" '<h1>Spelling error in the README file</h1>'
ok $? "its heading is the issue's title"
has "$T/page" '<section id="steps">' &&
    grep -A40 '<section id="steps">' "$T/page" | grep -q '<td>sandbox</td>' &&
    grep -A40 '<section id="steps">' "$T/page" | grep -q '<td>publish</td>'
ok $? "the steps are listed, the sandbox and publish among them"
grep -A40 '<section id="steps">' "$T/page" | grep '<td>sandbox</td>' |
    grep -Eq '<time datetime="[0-9T:-]+Z">.*<time datetime="[0-9T:-]+Z">'
ok $? "each with its start and end"
sed -n '/<section id="task">/,/<\/section>/p' "$T/page" > "$T/task"
has "$T/task" 'marker-task-71' && has "$T/task" '<pre>'
ok $? "the task.md the agent was given, in a <pre>"
has "$T/task" 'Fix committ in the README'
ok $? "with the issue as the forge has it"
sed -n '/<section id="result">/,/<\/section>/p' "$T/page" > "$T/result"
has "$T/result" 'Fixed the spelling'; ok $? "the result has the agent's summary"
sed -n '/<section id="diff">/,/<\/section>/p' "$T/page" > "$T/diff"
has "$T/diff" '<pre class="diffstat">' && has "$T/diff" 'README'
ok $? "the diffstat"
has "$T/diff" '<span class="del">-Remember to committ often.</span>'
ok $? "a deleted line is marked del"
has "$T/diff" '<span class="add">+A line added by the agent.</span>'
ok $? "an added line is marked add"
has "$T/diff" '<span class="ctx"> # Hello-World</span>'
ok $? "context is marked ctx"
grep -q '<span class="hunk">@@ -1,3 +1,4 @@' "$T/diff"
ok $? "the hunk header is marked hunk"
is "$(grep -c '<div class="file">' "$T/diff")" 3 "one <div class=\"file\"> a file"
has "$T/diff" 'a&lt;img src=x onerror=alert(1)&gt;.txt'
ok $? "the file name holding HTML is escaped"
! grep -q '<img' "$T/page"; ok $? "and no <img> is in the page"
has "$T/diff" '<span class="add">+first line</span>'
ok $? "that file's lines are there"
grep -A3 'blob.bin' "$T/diff" | grep -q 'A binary file.' &&
    ! grep -q 'binary\\000' "$T/diff"
ok $? "the binary file is named, not shown"
sed -n '/<section id="usage">/,/<\/section>/p' "$T/page" > "$T/usage"
has "$T/usage" '14 requests · 183k tokens in, 16k out · ≈ $1.92'
ok $? "the usage and cost line, as handoff show words it"
has "$T/usage" '<td>local-model</td>' && has "$T/usage" 'unpriced'
ok $? "per model, the unpriced one said so"
sed -n '/<section id="egress">/,/<\/section>/p' "$T/page" > "$T/egress"
has "$T/egress" '3 connections attempted, 2 refused'
ok $? "the connections counted"
has "$T/egress" 'evil.example:443</span>: not in allow_hosts' &&
    has "$T/egress" '10.0.0.7:80</span>: a private address'
ok $? "the refused hosts with their reasons"
! has "$T/egress" 'pypi.org'; ok $? "an allowed one is not among the refused"
pr=$("$HANDOFF" -c "$CONFIG" show 1 --json | sed -n 's/^	"pr_url":	"\(.*\)",$/\1/p')
like "$pr" "$E/github/$REPO/pull/" "the job has a pull request"
has "$T/page" "<a rel=\"noreferrer\" href=\"$pr\">"
ok $? "the page links to it"
sed -n '/<section id="log-section">/,/<\/section>/p' "$T/page" > "$T/log"
has "$T/log" '<p id="log-state">ended: done</p>'
ok $? "the log section says the job ended"
has "$T/log" '<pre id="log" data-src="/jobs/1/log">' &&
    ! has "$T/log" 'data-live'
ok $? "an ended job's log is not followed live"
has "$T/log" 'agent: done'; ok $? "the log's end is in the page"
has "$T/page" '<script src="/static/live.js" defer></script>'
ok $? "the page loads the live script"

# 2. Another job of the thread: each page links to the other.
cid=$(emu_comment github $REPO 1 Codertocat '/agent revise also keep the heading')
r=$(deliver github issue_comment "$(delivery gh-comment $REPO 1 Codertocat \
    "id=$cid" 'body=/agent revise also keep the heading')")
n=$(jobnum "$r")
[ -n "$n" ] || n=$(python3 -c 'import sqlite3,sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT max(id) FROM jobs").fetchone()[0])' "$DATA/handoff.db")
wait_job_end "$n"
get /jobs/1
sed -n '/<nav id="thread">/,/<\/nav>/p' "$T/page" > "$T/thread"
has "$T/thread" "<a href=\"/jobs/$n\">job $n</a>"
ok $? "job 1's page links to the thread's job $n"
get "/jobs/$n"
sed -n '/<nav id="thread">/,/<\/nav>/p' "$T/page" > "$T/thread"
has "$T/thread" '<a href="/jobs/1">job 1</a>'
ok $? "and job $n's page back to job 1"

# 3. An unknown job.
get /jobs/999
is "$code" 404 "an unknown job is 404"
has "$T/page" 'There is no job 999.'; ok $? "saying so"

# 4. The list: more jobs than a page, of another repository, left queued
# (no forge credentials: nobody acknowledges or runs them).
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly, every page freed"
write_config
start_serve
for i in $(seq 101 155); do
	deliver github issues "$(delivery gh-label other/many "$i" someone)" >/dev/null
done
total=$(( n + 55 ))
get /
is "$code" 200 "GET / is 200"
has "$T/page" '<table id="jobs">'; ok $? "the jobs are in #jobs"
set -- $(rows)
is "$#" 50 "50 jobs a page"
is "$1" "$total" "newest first"
is "${50}" $(( total - 49 )) "in order"
grep -q 'href="/?page=2">older</a>' "$T/page"; ok $? "a link to the next page"
grep -q "<tr class=\"job\" data-job=\"$total\">.*<td class=\"title\" data-label=\"title\"><a href=\"/jobs/$total\">" "$T/page"
ok $? "each title links to its job"
get '/?page=2'
set -- $(rows)
is "$#" $(( total - 50 )) "page 2 has the rest"
is "${!#}" 1 "down to job 1"
grep -q 'href="/?page=1">newer</a>' "$T/page"; ok $? "page 2 links back"
! grep -q '>older</a>' "$T/page"; ok $? "and no further"
get '/?state=done'
is "$(rows)" "$n 1" "?state=done: the finished jobs"
has "$T/page" '<option selected>done</option>'; ok $? "the filter shows its state"
grep "data-job=\"1\"" "$T/page" | grep -q '\$1.92'
ok $? "the list shows job 1's cost"
grep "data-job=\"1\"" "$T/page" | grep -q "href=\"$pr\""
ok $? "and its pull request"
grep "data-job=\"1\"" "$T/page" | grep -q '>Codertocat<'
ok $? "and who asked"
get '/?state=queued'
set -- $(rows)
is "$#" 50 "?state=queued: a full page"
get '/?state=queued&page=2'
set -- $(rows)
is "$#" 5 "and 5 more on its page 2"
grep -q 'href="/?page=1&amp;state=queued">newer</a>' "$T/page"
ok $? "paging keeps the filter"
get "/?repo=$REPO"
is "$(rows)" "$n 1" "?repo= lists that repository's jobs"
get '/?repo=other%2Fmany&page=2'
set -- $(rows)
is "$#" 5 "?repo=other/many: its page 2"
grep -q 'href="/?page=1&amp;repo=other%2Fmany">newer</a>' "$T/page"
ok $? "the repository stays in the links, encoded"
get '/?state=bogus'
is "$(rows)" "" "an unknown state lists nothing"
has "$T/page" 'No job is in the state &quot;bogus&quot;.'; ok $? "and says so"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly, every page freed"
done_testing
