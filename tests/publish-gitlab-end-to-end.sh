#!/bin/bash
# A GitLab issue labeled with the trigger label ends in a draft merge
# request against the forge emulator: the requester's access level is
# checked, 👀 is awarded, one status note follows the job, the branch is
# pushed as oauth2 with the token, and the merge request says "Closes #N".
# A labeler who is not a member gets nothing run. 30 % injected faults end
# in the same single merge request and note; so does the runner killed
# during push and during publish. A "/agent" reply in a diff discussion
# revises the branch with the discussion's notes in the task, and is
# answered on the merge request. A token GitLab refuses fails the job.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

TOKEN="glpat-e2e-$$-91c3a7"
start_emulator 11
jq_() { emu_repo gitlabhq/gitlab-test "$1"; }

emu_source "$(printf '# gitlab-test\n\nRemember to committ often.')" master
emu_project gitlab gitlabhq/gitlab-test "$TOKEN" master
admin POST permissions '{"forge":"gitlab","repo":"gitlabhq/gitlab-test","user":"root","user_id":1,"access_level":40}' >/dev/null
for n in 23 24 25; do
	admin POST issues '{"forge":"gitlab","repo":"gitlabhq/gitlab-test","number":'$n',"title":"New API: create/update/delete file","user":"root"}' >/dev/null
done

# The agent: the demo agent implements; a revision appends a line.
cat > "$T/agent.sh" <<EOF
#!/bin/sh
cat "\$HANDOFF_TASK"
grep -q "Implement what the issue asks" "\$HANDOFF_TASK" && exec sh $SRCDIR/contrib/agents/demo.sh
printf 'Clarified.\n' >> README
printf 'Clarified the README as the discussion asked.\n' > "\$HANDOFF_SUMMARY"
EOF
chmod +x "$T/agent.sh"
MAX_PARALLEL=2 write_config "[gitlab]" "url = $E/gitlab" "token = $TOKEN" \
    "[trigger]" "label = Platform" "[web]" "public_url = http://handoff.example" \
    "[agent]" "command = $T/agent.sh" "[sandbox]" \
    "extra_ro = $SRCDIR/contrib/agents" \
    "memory = 512M" "pids = 200" "disk = 256M"
start_serve

issue() {	# issue IID [USER ID]: the documented Issue Hook, for our project
	sed -e "s|http://example.com/gitlabhq/gitlab-test.git|$E/gitlab/gitlabhq/gitlab-test.git|" \
	    -e "s|\"iid\": 23,|\"iid\": $1,|" \
	    ${2:+-e "s|\"username\": \"root\"|\"username\": \"$2\"|"} \
	    ${3:+-e "0,/\"id\": 1,/s//\"id\": $3,/"} \
	    "$SAMPLES/gitlab/issue.json" > "$T/issue-$1.json"
	echo "$T/issue-$1.json"
}

r=$(deliver gitlab 'Issue Hook' "$(issue 23)" --delivery gl-23)
like "$r" '"job":1' "the labeled issue is queued"
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 is done"
mrs='s["merge_requests"]'
is "$(jq_ "len($mrs)")" 1 "one merge request"
like "$(jq_ "$mrs[0]['head']")" "handoff/23-" "from the thread's branch"
is "$(jq_ "$mrs[0]['base']")" master "to the default branch"
is "$(jq_ "$mrs[0]['draft']")" True "as a draft"
like "$(jq_ "$mrs[0]['title']")" "Draft: New API" "titled after the issue"
like "$(jq_ "$mrs[0]['body']")" "Closes #23" "the description closes the issue"
i23='[i for i in s["issues"] if i["number"]==23][0]'
is "$(jq_ "len($i23['notes'])")" 1 "one status note on the issue"
like "$(jq_ "$i23['notes'][0]['body']")" "Done (job 1)" "it says done"
is "$(jq_ "[r['content'] for r in $i23['reactions']]")" "['eyes']" "👀 on the issue"
git clone -q "http://oauth2:$TOKEN@${E#http://}/gitlab/gitlabhq/gitlab-test.git" \
    "$T/check" 2>/dev/null
branch=$(jq_ "$mrs[0]['head']")
git -C "$T/check" show "origin/$branch:README" > "$T/readme" 2>/dev/null
has "$T/readme" "Remember to commit often."; ok $? "the pushed branch has the fix"

# A labeler who is no member of the project: nothing is run or written.
admin POST issues '{"forge":"gitlab","repo":"gitlabhq/gitlab-test","number":30,"title":"An outsider asks","user":"stranger"}' >/dev/null
r=$(deliver gitlab 'Issue Hook' "$(issue 30 stranger 77)" --delivery gl-30)
j=$(jobnum "$r")
wait_job_end "$j"; ok $? "job $j (a stranger's label) ends"
is "$(job_state "$j")" cancelled "job $j is refused"
i30='[i for i in s["issues"] if i["number"]==30][0]'
is "$(jq_ "len($i30['notes']) + len($i30['reactions'])")" 0 \
    "nothing is written on that issue"
is "$(jq_ "len([m for m in $mrs if m['head'].startswith('handoff/30-')])")" 0 \
    "and no merge request"

admin POST faults '[{"route":"^(GET|POST|PUT) /gitlab/","kind":"500","rate":0.3},
 {"route":"^(GET|POST|PUT) /gitlab/","kind":"429","rate":0.1,"retry_after":1}]' >/dev/null
r=$(deliver gitlab 'Issue Hook' "$(issue 24)" --delivery gl-24)
j=$(jobnum "$r")
like "$r" '"verdict":"queued"' "job $j is queued under faults"
wait_job_end "$j"; ok $? "job $j ends"
is "$(job_state "$j")" done "job $j is done despite the faults"
fired=$(admin GET faults | python3 -c "import json,sys; d=json.load(sys.stdin); d=d.get('faults', d) if isinstance(d, dict) else d; print(sum(f['fired'] for f in d))")
admin DELETE faults >/dev/null
ok "$([ "${fired:-0}" -gt 0 ]; echo $?)" "faults were injected ($fired)"
is "$(jq_ "len([m for m in $mrs if m['head'].startswith('handoff/24-')])")" 1 \
    "exactly one merge request for issue 24"
i24='[i for i in s["issues"] if i["number"]==24][0]'
is "$(jq_ "len($i24['notes'])")" 1 "exactly one status note on issue 24"

# The runner killed with -9 during push, then during publish: one branch,
# one merge request, one status note.
killed_during() {	# killed_during IID ROUTE-REGEX
	admin POST issues '{"forge":"gitlab","repo":"gitlabhq/gitlab-test","number":'$1',"title":"New API: create/update/delete file","user":"root"}' >/dev/null
	admin POST faults '{"route":"'"$2"'","kind":"slow","delay":3,"count":1}' >/dev/null
	r=$(deliver gitlab 'Issue Hook' "$(issue $1)" --delivery gl-$1)
	job=$(jobnum "$r")
	kill_runner_at_fault "$job" "while GitLab is slow"
	is "$(jq_ "len([m for m in $mrs if m['head'].startswith('handoff/$1-')])")" 1 \
	    "job $job: exactly one merge request"
	n='[i for i in s["issues"] if i["number"]=='$1'][0]'
	is "$(jq_ "len($n['notes'])")" 1 "job $job: exactly one status note"
}
killed_during 50 '^POST /gitlab/gitlabhq/gitlab-test.git/git-receive-pack$'
killed_during 60 '^POST /gitlab/api/v4/projects/[^/]+/merge_requests$'

# A reply saying /agent in a discussion on the merge request's diff: the
# discussion's earlier note is in the task with its file and line, 👀 is
# on the reply, and the answer is a note on the merge request.
mr=$(jq_ "$mrs[0]['number']")
did=8a7f2c41d0b9e3f6a5c4b3a2918d7e6f5a4b3c2d
pos='{"new_path":"README","new_line":3,"old_path":"README","old_line":3}'
admin POST comments '{"forge":"gitlab","repo":"gitlabhq/gitlab-test","kind":"merge_requests","number":'$mr',"body":"This sentence is unclear.","user":"root","discussion_id":"'$did'","position":'"$pos"'}' >/dev/null
nid=$(admin POST comments '{"forge":"gitlab","repo":"gitlabhq/gitlab-test","kind":"merge_requests","number":'$mr',"body":"/agent clarify it","user":"root","discussion_id":"'$did'","position":'"$pos"'}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
python3 - "$SAMPLES/gitlab/note_merge_request.json" "$T/note.json" "$E" "$mr" "$nid" "$did" "$branch" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
E, mr, nid, did, branch = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
d["project"]["git_http_url"] = E + "/gitlab/gitlabhq/gitlab-test.git"
d["project"]["path_with_namespace"] = "gitlabhq/gitlab-test"
d["merge_request"]["iid"] = mr
d["merge_request"]["source_branch"] = branch
a = d["object_attributes"]
a.update({"id": nid, "note": "/agent clarify it", "discussion_id": did, "type": "DiffNote",
          "position": {"new_path": "README", "new_line": 3, "old_path": "README", "old_line": 3,
                       "position_type": "text"}})
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
desc=$(jq_ "$mrs[0]['body']")
r=$(deliver gitlab 'Note Hook' "$T/note.json" --delivery gl-note)
j=$(jobnum "$r")
like "$r" '"verdict":"queued"' "the discussion reply is queued as job $j"
wait_job_end "$j"; ok $? "job $j ends"
is "$(job_state "$j")" done "job $j (revise) is done"
run -c "$CONFIG" logs "$j"
has "$T/out" "This sentence is unclear." && has "$T/out" "README, line 3, by root"
ok $? "the task holds the discussion's earlier note, with file and line"
mrn="[n for n in $mrs[0]['notes'] if n['user']=='handoff-bot']"
is "$(jq_ "len($mrn)")" 1 "one reply note on the merge request"
like "$(jq_ "$mrn[0]['body']")" "Clarified the README as the discussion asked." \
    "with the agent's summary"
is "$(jq_ "[r['content'] for n in $mrs[0]['notes'] if n['id']==$nid for r in n['reactions']]")" \
    "['eyes']" "👀 on the reply in the discussion"
is "$(jq_ "$mrs[0]['body']")" "$desc" "the description is unchanged"
git -C "$T/check" fetch -q origin 2>/dev/null
git -C "$T/check" show "origin/$branch:README" > "$T/readme" 2>/dev/null
has "$T/readme" "Clarified."; ok $? "the branch has the revision"

# A token GitLab refuses: the job fails and says why.
sed -i "s/^token = $TOKEN$/token = glpat-refused-token/" "$CONFIG"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
start_serve
admin POST issues '{"forge":"gitlab","repo":"gitlabhq/gitlab-test","number":70,"title":"Another","user":"root"}' >/dev/null
r=$(deliver gitlab 'Issue Hook' "$(issue 70)" --delivery gl-70)
j=$(jobnum "$r")
wait_job_end "$j"; ok $? "job $j ends"
is "$(job_state "$j")" failed "a refused token fails the job"
run -c "$CONFIG" show "$j" --json
has "$T/out" "401 Unauthorized"; ok $? "the reason is GitLab's: 401 Unauthorized"

leak=0
for f in "$T/serve.log" "$DATA"/jobs/*/log; do
	grep -q -F "$TOKEN" "$f" && leak=1
done
jq_ 'json.dumps(s)' | grep -F "$TOKEN" | grep -q -v '"tokens"' && leak=1
is "$leak" 0 "the token is in no log, note or merge request"

done_testing
