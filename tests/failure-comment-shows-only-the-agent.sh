#!/bin/bash
# A failed job's status comment tells the people on the issue why, in words
# meant for them, and shows the agent's own output as text: never handoff's
# log lines (which carry the agent's command line, and so any key an
# operator put there) or host paths. An agent that prints a closing code
# fence, a "## ✅ All checks passed" heading, a link and handoff's marker
# gets all of it shown inside a fence it cannot close, also behind a run of
# twelve backticks, or in the name of a file the policy refuses; a
# failure of handoff's own says which step, not its text (which names
# data_dir). handoff show and the log keep the detail.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

TOKEN="ghp_fence_$$_5d1f0a9c"
KEY="sk-live-$$-operator-key"
REPO=Codertocat/Hello-World
start_emulator 11
jq_() { emu_repo $REPO "$1"; }

emu_source '# Hello-World'
emu_project github "$REPO" "$TOKEN"
admin POST permissions '{"forge":"github","repo":"'$REPO'","user":"Codertocat","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":1,"title":"Run the checks","user":"Codertocat"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":2,"title":"Run the checks behind a long fence","user":"Codertocat"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":3,"title":"Run the checks again","user":"Codertocat"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":4,"title":"Add a workflow","user":"Codertocat"}' >/dev/null

# The operator put a key on the agent's command line.
AGENT="$SRCDIR/tests/agents/fence-break.sh"
MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" \
    "token = $TOKEN" "[web]" "public_url = http://handoff.example" \
    "[agent]" "command = $AGENT --api-key $KEY" "[sandbox]" \
    "memory = 512M" "pids = 200" "disk = 256M"
start_serve

issue() {	# issue NUMBER: the labeled delivery for it
	sed -e "s|https://github.com/$REPO.git|$E/github/git/$REPO.git|" \
	    -e 's|"default_branch": "master"|"default_branch": "main"|' \
	    -e "s|\"number\": 1,|\"number\": $1,|" \
	    "$SAMPLES/github/derived/issues.labeled.agent.json" > "$T/issue-$1.json"
	echo "$T/issue-$1.json"
}
status_of() {	# status_of NUMBER: handoff's status comment on the issue
	jq_ "[c['body'] for i in s['issues'] if i['number']==$1 for c in i['comments'] if c['user']=='handoff-bot'][0]"
}
# outside FILE: the lines of a markdown text that are not in a fenced code
# block, as CommonMark reads it (a fence closes only with a line of at least
# as many of its characters); status 1 when a fence is left open.
outside() {
	python3 - "$1" <<'PY'
import re, sys
lines = re.split(r"\r\n|\r|\n", open(sys.argv[1], encoding="utf-8").read())
out, i, closed = [], 0, True
while i < len(lines):
    m = re.match(r"^ {0,3}(`{3,}|~{3,})(.*)$", lines[i])
    if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
        c, n = m.group(1)[0], len(m.group(1))
        end = re.compile(r"^ {0,3}%s{%d,}[ \t]*$" % (re.escape(c), n))
        j = i + 1
        while j < len(lines) and not end.match(lines[j]):
            j += 1
        closed = closed and j < len(lines)
        i = j + 1
    else:
        out.append(lines[i])
        i += 1
print("\n".join(out))
sys.exit(0 if closed else 1)
PY
}

# check_comment NUMBER JOB: the status comment of a job whose agent failed.
check_comment() {
	status_of "$1" > "$T/comment-$1"
	like "$(cat "$T/comment-$1")" "Failed (job $2)" "job $2: the status comment says it failed"
	like "$(cat "$T/comment-$1")" "the agent exited with status 1" \
	    "job $2: with the agent's exit status"
	! has "$T/comment-$1" "sandbox: running the agent" && ! has "$T/comment-$1" " handoff: "
	ok $? "job $2: none of handoff's log lines"
	! has "$T/comment-$1" "$KEY" && ! has "$T/comment-$1" "$AGENT"
	ok $? "job $2: nor the agent's command line, nor the key on it"
	! has "$T/comment-$1" "$DATA" && ! has "$T/comment-$1" "$T"
	ok $? "job $2: nor a host path"
	has "$T/comment-$1" "## ✅ All checks passed, merge it" &&
	    has "$T/comment-$1" "http://phish.example/login"
	ok $? "job $2: the agent's output is shown"
	outside "$T/comment-$1" > "$T/outside-$1"
	ok $? "job $2: every fence in the comment is closed"
	! has "$T/outside-$1" "All checks passed" && ! has "$T/outside-$1" "phish.example" &&
	    ! has "$T/outside-$1" "running the checks"
	ok $? "job $2: all of it inside a fence: nothing of it renders"
	sed 's/^/#   outside: /' "$T/outside-$1" | head -n 12
	is "$(grep -c -F '<!-- handoff:' "$T/comment-$1")" 1 "job $2: one marker"
	is "$(tail -n 1 "$T/comment-$1")" "<!-- handoff:status -->" \
	    "job $2: handoff's, on the last line"
}

# 1. The agent prints a closing fence, a heading, a link and a marker.
r=$(deliver github issues "$(issue 1)")
j=$(jobnum "$r")
wait_job_end "$j"; ok $? "job $j ends"
is "$(job_state "$j")" failed "job $j fails: its agent exited 1"
check_comment 1 "$j"
run -c "$CONFIG" show "$j" --json
has "$T/out" "its output ends" && has "$T/out" "All checks passed"
ok $? "job $j: handoff show has the error with the agent's output"
run -c "$CONFIG" logs "$j"
has "$T/out" "sandbox: running the agent: $AGENT"
ok $? "job $j: the log keeps handoff's own lines"
! grep -q '^## ✅ All checks passed' "$T/serve.log"
ok $? "job $j: serve's log keeps the agent's output within handoff's lines"

# 2. A variation: the same behind a run of twelve backticks.
r=$(deliver github issues "$(issue 2)")
j=$(jobnum "$r")
wait_job_end "$j"; ok $? "job $j ends"
check_comment 2 "$j"
grep -q '^`\{13,\}$' "$T/comment-2"
ok $? "job $j: the agent's output is fenced by a longer run of backticks"

# 3. A failure of handoff's own: its base trees cannot be made (a file
# where data_dir/trees should be). The comment names the step, not the
# error, which holds data_dir.
rm -rf "$DATA/trees"
: > "$DATA/trees"
r=$(deliver github issues "$(issue 3)")
j=$(jobnum "$r")
wait_job_end "$j"; ok $? "job $j ends"
is "$(job_state "$j")" failed "job $j fails in the workspace step"
status_of 3 > "$T/comment-3"
like "$(cat "$T/comment-3")" "handoff could not finish the workspace step; the operator's log has the reason" \
    "job $j: the status comment says which step failed"
! has "$T/comment-3" "$DATA"; ok $? "job $j: and not the error, which names data_dir"
run -c "$CONFIG" show "$j" --json
has "$T/out" "$DATA/trees"; ok $? "job $j: handoff show has the error itself"
rm -f "$DATA/trees"

# 4. A refusal of the change is told as it is, and the agent named the
# file it refuses: the name is shown as text too.
r=$(deliver github issues "$(issue 4)")
j=$(jobnum "$r")
wait_job_end "$j"; ok $? "job $j ends"
is "$(job_state "$j")" failed "job $j fails: its change touches a protected path"
status_of 4 > "$T/comment-4"
like "$(cat "$T/comment-4")" "the change touches protected path .github/workflows/ci" \
    "job $j: the status comment says which path the policy refused"
outside "$T/comment-4" > "$T/outside-4"
ok $? "job $j: every fence in the comment is closed"
! has "$T/outside-4" "All checks passed" && ! has "$T/outside-4" "phish.example" &&
    has "$T/comment-4" "All checks passed"
ok $? "job $j: the file's name is inside a fence: nothing of it renders"
is "$(grep -c -F '<!-- handoff:' "$T/comment-4")" 1 "job $j: one marker, handoff's"

done_testing
