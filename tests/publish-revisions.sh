#!/bin/bash
# Revisions on GitHub, against the forge emulator: a review that requests
# changes starts a revise job whose task holds the review's inline comments
# (fetched through the API, with file, line and hunk); an inline comment
# saying /agent does too. Each revision is new commits on the same branch,
# one reply on the pull request saying what changed, and 👀 where it was
# asked; the description stays the first job's. The runner killed while
# replying still ends with one reply. "/agent retry" repeats the failed
# request. A push the forge refuses (someone else moved the branch) fails
# the job with the forge's reason. "/agent help" is answered with the
# commands.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

TOKEN="ghp_rev_$$_0c41d9e2a7"
REPO=Codertocat/Hello-World
start_emulator 5
jq_() { emu_repo $REPO "$1"; }

emu_source "$(printf '# Hello-World\n\nRemember to committ often.')"
emu_project github "$REPO" "$TOKEN"
admin POST permissions '{"forge":"github","repo":"'$REPO'","user":"Codertocat","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":1,"title":"Spelling error in the README file","user":"Codertocat"}' >/dev/null

# The agent: prints its task and context; implements with the demo agent;
# a revision appends a numbered line to the README, changing nothing when
# the request says "nothing to do", failing when it says "please fail",
# waiting for the gate when it says "hold on".
mkdir -p "$T/gate"
cat > "$T/agent.sh" <<EOF
#!/bin/sh
cat "\$HANDOFF_TASK" "\$HANDOFF_CONTEXT"
grep -q "Implement what the issue asks" "\$HANDOFF_TASK" && exec sh $SRCDIR/contrib/agents/demo.sh
grep -qi "nothing to do" "\$HANDOFF_TASK" && { echo "Nothing needed changing." > "\$HANDOFF_SUMMARY"; exit 0; }
grep -qi "please fail" "\$HANDOFF_TASK" && [ ! -e $T/gate/succeed ] && { echo "failing as asked"; exit 3; }
if grep -qi "hold on" "\$HANDOFF_TASK"; then
	i=0
	while [ ! -e $T/gate/release ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done
fi
n=\$(wc -l < README)
printf 'Revision line %s.\n' "\$n" >> README
printf 'Added revision line %s as the review asked.\n' "\$n" > "\$HANDOFF_SUMMARY"
EOF
chmod +x "$T/agent.sh"
MAX_PARALLEL=2 write_config "[github]" "api_url = $E/github/api" \
    "token = $TOKEN" "[web]" "public_url = http://handoff.example" \
    "[agent]" "command = $T/agent.sh" "[sandbox]" \
    "extra_ro = $T/gate, $SRCDIR/contrib/agents" \
    "memory = 512M" "pids = 200" "disk = 256M"
start_serve

# edit_json IN OUT PYTHON: a copy of a delivery with d changed by PYTHON.
edit_json() {
	python3 - "$1" "$2" "$3" "$E" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
E = sys.argv[4]
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
	echo "$2"
}
BRANCH=handoff/1-spelling-error-in-the-readme-file
CLONE="$E/github/git/$REPO.git"
remote_readme() {	# the README on the branch in the emulator
	git --git-dir="$T/forge/git/github/$REPO.git" show "$BRANCH:README"
}
tip() { git --git-dir="$T/forge/git/github/$REPO.git" rev-parse "$BRANCH"; }
pr_comments='[c for c in s["pulls"][0]["comments"] if c["user"]=="handoff-bot"]'

# 1. The first job opens the pull request.
issue=$(edit_json "$SAMPLES/github/derived/issues.labeled.agent.json" "$T/issue-1.json" \
    "d['repository']['clone_url'] = E + '/github/git/$REPO.git'; d['repository']['default_branch'] = 'main'")
r=$(deliver github issues "$issue")
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 (implement) is done"
PR=$(jq_ 's["pulls"][0]["number"]')
ok "$([ -n "$PR" ] && [ "$PR" -gt 0 ]; echo $?)" "it opened pull request #$PR"
body1=$(jq_ 's["pulls"][0]["body"]')
tip1=$(tip)

# 2. A review requesting changes, with two inline comments the delivery
# does not carry (and one by a bot, which is left out).
hunk='@@ -1,3 +1,3 @@\n # Hello-World\n \n-Remember to committ often.\n+Remember to commit often.'
admin POST review_comments '{"repo":"'$REPO'","pull":'$PR',"review_id":9001,"path":"README","line":3,"diff_hunk":"'"$hunk"'","body":"Say how often, exactly.","user":"Codertocat"}' >/dev/null
admin POST review_comments '{"repo":"'$REPO'","pull":'$PR',"review_id":9001,"path":"docs/guide.md","line":12,"body":"And mention it in the guide.","user":"Codertocat"}' >/dev/null
admin POST review_comments '{"repo":"'$REPO'","pull":'$PR',"review_id":9001,"path":"README","line":1,"body":"Automated lint remark","user":"lint-bot[bot]"}' >/dev/null
review=$(edit_json "$SAMPLES/github/derived/pull_request_review.submitted.changes_requested.json" "$T/review.json" \
    "d['pull_request']['number'] = $PR; d['review']['id'] = 9001; d['review']['body'] = 'Two things, see inline.'; d['repository']['clone_url'] = E + '/github/git/$REPO.git'")
r=$(deliver github pull_request_review "$review")
j=$(jobnum "$r")
like "$r" '"verdict":"queued"' "the review is queued as job $j"
wait_job_end "$j"; ok $? "job $j ends"
is "$(job_state "$j")" done "job $j (revise) is done"
run -c "$CONFIG" logs "$j"
has "$T/out" "Two things, see inline." && has "$T/out" "Say how often, exactly." &&
    has "$T/out" "And mention it in the guide."
ok $? "the task holds the review's body and its inline comments"
has "$T/out" "README, line 3, by Codertocat" && has "$T/out" "docs/guide.md, line 12" &&
    has "$T/out" "-Remember to committ often."
ok $? "with file, line and diff hunk"
grep -q '"path":[[:space:]]*"docs/guide.md"' "$T/out" &&
    grep -q '"line":[[:space:]]*12' "$T/out"
ok $? "context.json's review_comments have them structured"
! has "$T/out" "Automated lint remark"; ok $? "a bot's review comment is left out"
is "$(jq_ 'len(s["pulls"])')" 1 "still one pull request"
is "$(jq_ 's["pulls"][0]["body"]')" "$body1" "its description is the first job's"
remote_readme > "$T/readme"
has "$T/readme" "Remember to commit often." && has "$T/readme" "Revision line 3."
ok $? "the branch has the first fix and the revision"
is "$(git --git-dir="$T/forge/git/github/$REPO.git" rev-parse "$BRANCH~1")" "$tip1" \
    "the revision is a new commit on top of the first"
is "$(jq_ "len($pr_comments)")" 1 "one reply on the pull request"
like "$(jq_ "$pr_comments[0]['body']")" "revised the branch (job $j)" "it says which job"
like "$(jq_ "$pr_comments[0]['body']")" "Added revision line 3 as the review asked." \
    "with the agent's summary"
like "$(jq_ "$pr_comments[0]['body']")" "README | 1 +" "and the diffstat"
is "$(jq_ "[r['content'] for r in s['pulls'][0]['reactions']]")" "['eyes']" \
    "👀 on the pull request (a review takes no reaction)"
i1='[i for i in s["issues"] if i["number"]==1][0]'
is "$(jq_ "len($i1['comments'])")" 1 "one status comment on the issue still"
like "$(jq_ "$i1['comments'][0]['body']")" "Done (job $j)" "it tells of the revision"

# 3. An inline comment saying /agent: 👀 on that comment, a reply, and
# the other comments of its review in the task.
admin POST review_comments '{"repo":"'$REPO'","pull":'$PR',"review_id":9002,"path":"README","line":1,"body":"Keep the heading short.","user":"Codertocat"}' >/dev/null
cid=$(admin POST review_comments '{"repo":"'$REPO'","pull":'$PR',"review_id":9002,"path":"README","line":3,"body":"/agent number the lines","user":"Codertocat"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
rc_file=$(edit_json "$SAMPLES/github/pull_request_review_comment.created.0.json" "$T/rc.json" \
    "d['pull_request']['number'] = $PR; d['pull_request']['head']['ref'] = '$BRANCH'; d['comment']['id'] = $cid; d['comment']['body'] = '/agent number the lines'; d['comment']['pull_request_review_id'] = 9002; d['comment']['path'] = 'README'; d['comment']['line'] = 3; d['repository']['clone_url'] = E + '/github/git/$REPO.git'")
r=$(deliver github pull_request_review_comment "$rc_file")
j=$(jobnum "$r")
wait_job_end "$j"; ok $? "job $j (from an inline comment) ends"
is "$(job_state "$j")" done "job $j is done"
is "$(jq_ "[r['content'] for c in s['review_comments'] if c['id']==$cid for r in c['reactions']]")" \
    "['eyes']" "👀 on the inline comment"
is "$(jq_ "len($pr_comments)")" 2 "a second reply"
run -c "$CONFIG" logs "$j"
is "$(grep -c '"body":[[:space:]]*"/agent number the lines"' "$T/out")" 1 \
    "the inline comment is in the context once, not fetched again"
has "$T/out" "Keep the heading short." && has "$T/out" "README, line 1, by Codertocat"
ok $? "the other comment of its review is in the task"

# pr_comment TEXT: the comment on the pull request, made in the emulator,
# and its delivery.
pr_comment() {
	id=$(admin POST comments '{"forge":"github","repo":"'$REPO'","number":'$PR',"body":"'"$1"'","user":"Codertocat"}' |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	edit_json "$SAMPLES/github/derived/issue_comment.created.pull_request.json" "$T/prc-$id.json" \
	    "d['issue']['number'] = $PR; d['comment']['body'] = '$1'; d['comment']['id'] = $id; d['repository']['clone_url'] = E + '/github/git/$REPO.git'"
}

# 4. The runner killed while replying: resumed, still one reply.
admin POST faults '{"route":"^POST /github/api/repos/.*/issues/'$PR'/comments$","kind":"slow","delay":3,"count":1}' >/dev/null
r=$(deliver github issue_comment "$(pr_comment "/agent once more")")
j=$(jobnum "$r")
kill_runner_at_fault "$j" "while replying"
is "$(jq_ "len([c for c in $pr_comments if 'job $j)' in c['body']])")" 1 \
    "exactly one reply for job $j"

# 4b. A runner killed while writing the status comment on a new issue: the
# request still lands after another runner wrote the comment again; the
# next pass over the thread deletes that copy, keeping the one in use.
admin POST issues '{"forge":"github","repo":"'$REPO'","number":3,"title":"Spelling error in the README file","user":"Codertocat"}' >/dev/null
admin POST faults '{"route":"^POST /github/api/repos/.*/issues/3/comments$","kind":"slow","delay":3,"count":1}' >/dev/null
issue3=$(edit_json "$issue" "$T/issue-3.json" "d['issue']['number'] = 3")
r=$(deliver github issues "$issue3")
j3=$(jobnum "$r")
for _ in $(seq 300); do
	curl -s "$E/_admin/faults" | grep -q '"fired": 1' && break
	sleep 0.1
done
pkill -9 -f -- "-c $CONFIG runner --job $j3( --acknowledge)?$"
ok $? "job $j3: the runner writing its status comment is killed"
admin DELETE faults >/dev/null
wait_job_end "$j3"; ok $? "job $j3 ends"
is "$(job_state "$j3")" done "job $j3 is done"
i3='[i for i in s["issues"] if i["number"]==3][0]'
mine3="[c for c in $i3['comments'] if c['user']=='handoff-bot']"
for _ in $(seq 100); do	# until the killed runner's request has landed
	[ "$(jq_ "len($mine3)")" -ge 2 ] && break
	sleep 0.1
done
is "$(jq_ "len($mine3)")" 2 "a copy of the status comment landed late"
h3=$(edit_json "$SAMPLES/github/issue_comment.created.0.json" "$T/help-3.json" \
    "d['issue']['number'] = 3; d['issue'].pop('pull_request', None); d['comment']['body'] = '/agent help'; d['comment']['user']['login'] = 'Codertocat'; d['comment']['author_association'] = 'OWNER'; d['repository']['clone_url'] = E + '/github/git/$REPO.git'")
r=$(deliver github issue_comment "$h3")
wait_job_end "$(jobnum "$r")"
is "$(jq_ "len([c for c in $mine3 if 'handoff:status' in c['body']])")" 1 \
    "the next pass over the thread leaves one status comment"
like "$(jq_ "[c for c in $mine3 if 'handoff:status' in c['body']][0]['body']")" \
    "Done (job $j3)" "the one the job kept up to date"

# 5. "/agent retry" repeats the thread's failed request.
r=$(deliver github issue_comment "$(pr_comment "/agent please fail")")
jf=$(jobnum "$r")
wait_job_end "$jf"
is "$(job_state "$jf")" failed "job $jf fails as its agent was told"
touch "$T/gate/succeed"
r=$(deliver github issue_comment "$(pr_comment "/agent retry")")
jr=$(jobnum "$r")
wait_job_end "$jr"
is "$(job_state "$jr")" done "the retry, job $jr, is done"
run -c "$CONFIG" logs "$jr"
has "$T/out" "please fail"; ok $? "with the failed job's request as its task"
like "$(jq_ "$pr_comments[-1]['body']")" "job $jr)" "and its reply"

# 5a. A revision that changes nothing is answered on the pull request too.
r=$(deliver github issue_comment "$(pr_comment "/agent nothing to do")")
jn=$(jobnum "$r")
wait_job_end "$jn"
is "$(job_state "$jn")" done "job $jn (no changes) is done"
like "$(jq_ "$pr_comments[-1]['body']")" "changed nothing for this (job $jn)" \
    "and its reply on the pull request says nothing changed"
like "$(jq_ "$pr_comments[-1]['body']")" "Nothing needed changing." "with the summary"
pr_url=$(jq_ 's["pulls"][0]["html_url"] if "html_url" in s["pulls"][0] else ""')
[ -n "$pr_url" ] || pr_url="$E/github/$REPO/pull/$(jq_ 's["pulls"][0]["number"]')"
like "$(jq_ "$i1['comments'][0]['body']")" "changed nothing (job $jn)" \
    "the issue's status comment tells of job $jn"
like "$(jq_ "$i1['comments'][0]['body']")" "The pull request: $pr_url" \
    "and still links the pull request"

# 5b. "/agent help": 👀 and one reply listing the commands, where it was
# asked; nothing is run.
r=$(deliver github issue_comment "$(pr_comment "/agent help")")
jhelp=$(jobnum "$r")
wait_job_end "$jhelp"
is "$(job_state "$jhelp")" done "the help request, job $jhelp, is answered"
help='[c for c in s["pulls"][0]["comments"] if c["user"]=="handoff-bot" and "handoff:help" in c["body"]]'
is "$(jq_ "len($help)")" 1 "with one reply on the pull request"
like "$(jq_ "$help[0]['body']")" '`/agent retry`' "listing the commands"
is "$(jq_ "[r['content'] for c in s['pulls'][0]['comments'] if c['body']=='/agent help' for r in c['reactions']]")" \
    "['eyes']" "👀 on the request"
run -c "$CONFIG" show "$jhelp" --json
! grep -q '"step":[[:space:]]*"sandbox"' "$T/out"; ok $? "no agent ran for it"

# 6. Someone else moves the branch while the agent works: the push is
# refused as not a fast-forward, and the job fails saying so.
r=$(deliver github issue_comment "$(pr_comment "/agent hold on, then add a line")")
jh=$(jobnum "$r")
for _ in $(seq 300); do grep -q "hold on" "$DATA/jobs/$jh/log" 2>/dev/null && break; sleep 0.1; done
git clone -q "$T/forge/git/github/$REPO.git" "$T/other" 2>/dev/null
git -C "$T/other" checkout -q "$BRANCH"
echo "someone else's change" > "$T/other/OTHER"
git -C "$T/other" add -A
git -C "$T/other" -c user.name=o -c user.email=o@o commit -qm "someone else"
git -C "$T/other" push -q origin "$BRANCH"
ok $? "someone else pushes to the branch while the agent works"
other=$(git -C "$T/other" rev-parse HEAD)
touch "$T/gate/release"
wait_job_end "$jh"
is "$(job_state "$jh")" failed "job $jh fails"
run -c "$CONFIG" show "$jh" --json
grep -q '"error":.*push.*rejected.*non-fast-forward\|"error":.*push.*non-fast-forward' "$T/out"
ok $? "the reason is the forge's: not a fast-forward"
grep '"error"' "$T/out" | sed 's/^/# /'
is "$(tip)" "$other" "the other change is kept"
like "$(jq_ "$i1['comments'][0]['body']")" "Failed (job $jh)" "the status comment says it failed"
like "$(jq_ "$i1['comments'][0]['body']")" "the forge refused the push of $BRANCH (non-fast-forward" \
    "and why the forge refused it"
like "$(jq_ "$i1['comments'][0]['body']")" "The pull request: $pr_url" \
    "and still links the pull request"

# No reply twice: the late copy of job 4's reply is gone too.
is "$(jq_ "sorted(set(c['body'].split('(job ')[1].split(')')[0] for c in $pr_comments if 'revised' in c['body'] and [d['body'] for d in $pr_comments].count(c['body']) > 1))")" \
    "[]" "no reply on the pull request is there twice"
deletes=$(curl -s "$E/_admin/requests" | python3 -c "import json,sys; print(len([r for r in json.load(sys.stdin) if r['method'] == 'DELETE' and r['status'] == 204]))")
is "$deletes" 2 "two copies were deleted: the status comment's and job 4's reply's"

leak=0
for f in "$T/serve.log" "$DATA"/jobs/*/log; do
	grep -q -F "$TOKEN" "$f" && { leak=1; echo "# token in $f"; }
done
jq_ "json.dumps(s['pulls']) + json.dumps(s['issues'])" | grep -q -F "$TOKEN" && leak=1
is "$leak" 0 "the token is in no log, comment or pull request"

curl -s "$E/_admin/requests" > "$T/requests.json"
python3 "$SRCDIR/tests/openapi/check-requests" "$T/requests.json" \
    > "$T/openapi.out" 2>&1
ok $? "every request matches GitHub's OpenAPI description"
sed 's/^/# /' "$T/openapi.out" | tail -n 3

done_testing
