#!/bin/bash
# A GitLab issue labeled with the trigger label ends in a draft merge
# request against the forge emulator: the requester's access level is
# checked, 👀 is awarded, one status note follows the job, the branch is
# pushed as oauth2 with the token, and the merge request says "Closes #N".
# 30 % injected faults end in the same single merge request and note.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

TOKEN="glpat-e2e-$$-91c3a7"
start_emulator 11
jq_() { emu_repo gitlabhq/gitlab-test "$1"; }

git init -q "$T/src"
printf '# gitlab-test\n\nRemember to committ often.\n' > "$T/src/README"
git -C "$T/src" add -A
git -C "$T/src" -c user.name=t -c user.email=t@t commit -qm init
git -C "$T/src" branch -q -M master
admin POST repos '{"forge":"gitlab","path":"gitlabhq/gitlab-test","default_branch":"master","from":"'"$T/src"'"}' >/dev/null
admin POST tokens '{"forge":"gitlab","token":"'"$TOKEN"'","user":"handoff-bot","can_write":true}' >/dev/null
admin POST permissions '{"forge":"gitlab","repo":"gitlabhq/gitlab-test","user":"root","user_id":1,"access_level":40}' >/dev/null
for n in 23 24; do
	admin POST issues '{"forge":"gitlab","repo":"gitlabhq/gitlab-test","number":'$n',"title":"New API: create/update/delete file","user":"root"}' >/dev/null
done

MAX_PARALLEL=2 write_config "[gitlab]" "url = $E/gitlab" "token = $TOKEN" \
    "[trigger]" "label = Platform" "[web]" "public_url = http://handoff.example" \
    "[agent]" "command = $SRCDIR/contrib/agents/demo.sh" "[sandbox]" \
    "memory = 512M" "pids = 200" "disk = 256M"
start_serve

issue() {	# issue IID: the documented Issue Hook, for our emulated project
	sed -e "s|http://example.com/gitlabhq/gitlab-test.git|$E/gitlab/gitlabhq/gitlab-test.git|" \
	    -e "s|\"iid\": 23,|\"iid\": $1,|" \
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

admin POST faults '[{"route":"^(GET|POST|PUT) /gitlab/","kind":"500","rate":0.3},
 {"route":"^(GET|POST|PUT) /gitlab/","kind":"429","rate":0.1,"retry_after":1}]' >/dev/null
r=$(deliver gitlab 'Issue Hook' "$(issue 24)" --delivery gl-24)
like "$r" '"job":2' "job 2 is queued under faults"
wait_job_end 2; ok $? "job 2 ends"
is "$(job_state 2)" done "job 2 is done despite the faults"
fired=$(admin GET faults | python3 -c "import json,sys; d=json.load(sys.stdin); d=d.get('faults', d) if isinstance(d, dict) else d; print(sum(f['fired'] for f in d))")
admin DELETE faults >/dev/null
ok "$([ "${fired:-0}" -gt 0 ]; echo $?)" "faults were injected ($fired)"
is "$(jq_ "len([m for m in $mrs if m['head'].startswith('handoff/24-')])")" 1 \
    "exactly one merge request for issue 24"
i24='[i for i in s["issues"] if i["number"]==24][0]'
is "$(jq_ "len($i24['notes'])")" 1 "exactly one status note on issue 24"

leak=0
for f in "$T/serve.log" "$DATA"/jobs/*/log; do
	grep -q -F "$TOKEN" "$f" && leak=1
done
jq_ 'json.dumps(s)' | grep -F "$TOKEN" | grep -q -v '"tokens"' && leak=1
is "$leak" 0 "the token is in no log, note or merge request"

done_testing
