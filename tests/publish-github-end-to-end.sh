#!/bin/bash
# A labeled GitHub issue ends in a draft pull request with the agent's
# change, against the forge emulator: the requester's permission is checked,
# 👀 is added, one status comment follows the job, the branch is pushed over
# smart HTTP with the token from a credentials callback, and the pull
# request says "Closes #N". A labeler without write access gets nothing run;
# 30 % injected faults on every route end in the same single pull request
# and comment; a token the forge refuses fails the job clearly; the token is
# in no log and no comment.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

TOKEN="ghp_e2e_$$_6b0e7c31d2"
start_emulator 7
jq_() { emu_repo Codertocat/Hello-World "$1"; }

# The repository the issues are about, on the emulated GitHub.
emu_source "$(printf '# Hello-World\n\nRemember to committ often.')"
emu_project github Codertocat/Hello-World "$TOKEN"
admin POST permissions '{"forge":"github","repo":"Codertocat/Hello-World","user":"Codertocat","permission":"write"}' >/dev/null
admin POST permissions '{"forge":"github","repo":"Codertocat/Hello-World","user":"outsider","permission":"read"}' >/dev/null
# Issue 1 was edited after it was labeled: the task is the issue as it reads now.
admin POST issues '{"forge":"github","repo":"Codertocat/Hello-World","number":1,"title":"Spelling error in the README file","body":"Edited: only the README has the mistake.","user":"Codertocat"}' >/dev/null
for n in 2 3; do
	admin POST issues '{"forge":"github","repo":"Codertocat/Hello-World","number":'$n',"title":"Spelling error in the README file","user":"Codertocat"}' >/dev/null
done

# The agent: prints its task, waits while the issue says "Hold on" and
# the gate is closed, then fixes the spelling (contrib/agents/demo.sh).
mkdir -p "$T/gate"
printf '#!/bin/sh\ncat "$HANDOFF_TASK"\nif grep -q "Hold on" "$HANDOFF_TASK"; then\n\ti=0\n\twhile [ ! -e %s ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\nfi\nexec sh %s\n' \
    "$T/gate/release" "$SRCDIR/contrib/agents/demo.sh" > "$T/agent.sh"
chmod +x "$T/agent.sh"
admin POST comments '{"forge":"github","repo":"Codertocat/Hello-World","number":1,"body":"Please keep the heading as it is.","user":"Codertocat"}' >/dev/null
MAX_PARALLEL=2 write_config "[github]" "api_url = $E/github/api" \
    "token = $TOKEN" "[web]" "public_url = http://handoff.example" \
    "[agent]" "command = $T/agent.sh" "[sandbox]" \
    "extra_ro = $T/gate, $SRCDIR/contrib/agents" \
    "memory = 512M" "pids = 200" "disk = 256M"
# [github] twice: the second section adds to the first.
start_serve

issue() {	# issue NUMBER [SENDER]: the labeled delivery for our emulated repo
	sed -e "s|https://github.com/Codertocat/Hello-World.git|$E/github/git/Codertocat/Hello-World.git|" \
	    -e 's|"default_branch": "master"|"default_branch": "main"|' \
	    -e "s|\"number\": 1,|\"number\": $1,|" \
	    ${2:+-e "s|\"login\": \"Codertocat\"|\"login\": \"$2\"|g"} \
	    "$SAMPLES/github/derived/issues.labeled.agent.json" > "$T/issue-$1.json"
	echo "$T/issue-$1.json"
}

# 1. The main job.
r=$(deliver github issues "$(issue 1)")
like "$r" '"job":1' "the labeled issue is queued"
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 is done"
is "$(jq_ 'len(s["pulls"])')" 1 "one pull request"
is "$(jq_ 's["pulls"][0]["head"]')" "handoff/1-spelling-error-in-the-readme-file" \
    "from the thread's branch"
is "$(jq_ 's["pulls"][0]["base"]')" main "to the default branch"
is "$(jq_ 's["pulls"][0]["draft"]')" True "as a draft"
like "$(jq_ 's["pulls"][0]["body"]')" "Closes #1" "the body closes the issue"
like "$(jq_ 's["pulls"][0]["body"]')" 'Fix the spelling of "commit"' \
    "the body carries the agent's summary"
like "$(jq_ 's["pulls"][0]["body"]')" "http://handoff.example/jobs/1/log" \
    "and a link to the job's log"
git clone -q "http://x-access-token:$TOKEN@${E#http://}/github/git/Codertocat/Hello-World.git" \
    "$T/check" 2>/dev/null
git -C "$T/check" show origin/handoff/1-spelling-error-in-the-readme-file:README \
    > "$T/readme" 2>/dev/null
has "$T/readme" "Remember to commit often."; ok $? "the pushed branch has the fix"
issue1='[i for i in s["issues"] if i["number"]==1][0]'
mine1="[c for c in $issue1['comments'] if c['user']=='handoff-bot']"
is "$(jq_ "len($mine1)")" 1 "one status comment on the issue"
like "$(jq_ "$mine1[0]['body']")" "Done (job 1)" "it says done"
like "$(jq_ "$mine1[0]['body']")" "$E/github/Codertocat/Hello-World/pull/" \
    "with the pull request's link"
is "$(jq_ "[r['content'] for r in $issue1['reactions']]")" "['eyes']" \
    "👀 on the issue"
run -c "$CONFIG" show 1 --json
has "$T/out" '"pr_url":	"'"$E"'/github/Codertocat/Hello-World/pull/'
ok $? "the store knows the pull request"
run -c "$CONFIG" logs 1
has "$T/out" "**Codertocat** wrote:" && has "$T/out" "Please keep the heading as it is."
ok $? "the task carries the issue's comments, fetched from the forge"
! has "$T/out" "handoff:status"; ok $? "but not handoff's own status comment"
has "$T/out" "Edited: only the README has the mistake." &&
    ! has "$T/out" "It looks like you accidently"
ok $? "and the issue's description as it reads now, not as it was delivered"

# 2. A labeler without write access: nothing is run, nothing is written.
r=$(deliver github issues "$(issue 2 outsider)")
like "$r" '"job":2' "an outsider's label is queued"
wait_job_end 2; ok $? "job 2 ends"
is "$(job_state 2)" cancelled "job 2 is refused"
issue2='[i for i in s["issues"] if i["number"]==2][0]'
is "$(jq_ "len($issue2['comments']) + len($issue2['reactions'])")" 0 \
    "nothing is written on that issue"

# 3. 30 % faults on every route: the same single pull request and comment.
admin POST faults '[{"route":"^(GET|POST|PATCH) /github/","kind":"500","rate":0.3},
 {"route":"^(GET|POST|PATCH) /github/","kind":"429","rate":0.1,"retry_after":1}]' >/dev/null
r=$(deliver github issues "$(issue 3)")
like "$r" '"job":3' "job 3 is queued under faults"
wait_job_end 3; ok $? "job 3 ends"
is "$(job_state 3)" done "job 3 is done despite the faults"
fired=$(admin GET faults | python3 -c "import json,sys; d=json.load(sys.stdin); d=d.get('faults', d) if isinstance(d, dict) else d; print(sum(f['fired'] for f in d))")
admin DELETE faults >/dev/null
ok "$([ "${fired:-0}" -gt 0 ]; echo $?)" "faults were injected ($fired)"
is "$(jq_ 'len([p for p in s["pulls"] if p["head"].startswith("handoff/3-")])')" 1 \
    "exactly one pull request for issue 3"
issue3='[i for i in s["issues"] if i["number"]==3][0]'
is "$(jq_ "len($issue3['comments'])")" 1 "exactly one status comment on issue 3"

# 3b. The runner killed with -9 during push, then during publish: serve
# resumes the job, which ends with one branch and one pull request.
killed_during() {	# killed_during NUMBER ROUTE-REGEX: kill the runner there
	admin POST issues '{"forge":"github","repo":"Codertocat/Hello-World","number":'$1',"title":"Spelling error in the README file","user":"Codertocat"}' >/dev/null
	admin POST faults '{"route":"'"$2"'","kind":"slow","delay":3,"count":1}' >/dev/null
	r=$(deliver github issues "$(issue $1)")
	job=$(jobnum "$r")
	kill_runner_at_fault "$job" "while the forge is slow"
	is "$(jq_ 'len([p for p in s["pulls"] if p["head"].startswith("handoff/'$1'-")])')" 1 \
	    "job $job: exactly one pull request"
	n='[i for i in s["issues"] if i["number"]=='$1'][0]'
	is "$(jq_ "len($n['comments'])")" 1 "job $job: exactly one status comment"
}
killed_during 50 '^POST /github/git/.*/git-receive-pack$'
killed_during 60 '^POST /github/api/repos/.*/pulls$'

# 4. Secrets: the token is in no log, comment or pull request.
leak=0
for f in "$T/serve.log" "$DATA"/jobs/*/log; do
	grep -q -F "$TOKEN" "$f" && { leak=1; echo "# token in $f"; }
done
for what in pulls issues; do
	jq_ "json.dumps(s['$what'])" | grep -q -F "$TOKEN" && leak=1
done
is "$leak" 0 "the token is in no log, comment or pull request"

# 5. A token the forge refuses: the job fails and says why.
sed -i "s/^token = $TOKEN$/token = ghp_wrong_token/" "$CONFIG"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
start_serve
admin POST issues '{"forge":"github","repo":"Codertocat/Hello-World","number":70,"title":"Another","user":"Codertocat"}' >/dev/null
r=$(deliver github issues "$(issue 70)")
job=$(jobnum "$r")
wait_job_end "$job"; ok $? "job $job ends"
is "$(job_state "$job")" failed "a refused token fails the job"
run -c "$CONFIG" show "$job" --json
has "$T/out" "401 Bad credentials"; ok $? "the reason is the forge's: 401 Bad credentials"

# 7. As a GitHub App: a JWT signed with the App's key is exchanged for an
# installation token, which then does the rest (git included).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/app.pem" 2>/dev/null
openssl pkey -in "$T/app.pem" -pubout -out "$T/app.pub" 2>/dev/null
python3 - "$E" "$T/app.pub" <<'PY'
import json, sys, urllib.request
pem = open(sys.argv[2]).read()
req = urllib.request.Request(sys.argv[1] + "/_admin/apps", method="POST",
    data=json.dumps({"app_id": "4242", "public_key_pem": pem,
                     "installation_id": 42, "bot_login": "handoff-app[bot]"}).encode())
urllib.request.urlopen(req).read()
PY
sed -i "/^token = ghp_wrong_token$/d" "$CONFIG"
sed -i "s|^api_url = $E/github/api$|api_url = $E/github/api\napp_id = 4242\nprivate_key = file:$T/app.pem\ninstallation_id = 42|" "$CONFIG"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
start_serve
admin POST permissions '{"forge":"github","repo":"Codertocat/Hello-World","user":"handoff-app[bot]","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"Codertocat/Hello-World","number":80,"title":"Spelling error in the README file","user":"Codertocat"}' >/dev/null
r=$(deliver github issues "$(issue 80)")
job=$(jobnum "$r")
wait_job_end "$job"; ok $? "job $job (as an App) ends"
is "$(job_state "$job")" done "job $job is done"
is "$(jq_ 'len([p for p in s["pulls"] if p["head"].startswith("handoff/80-")])')" 1 \
    "the App opened the pull request"
n80='[i for i in s["issues"] if i["number"]==80][0]'
is "$(jq_ "$n80['comments'][0]['user']")" "handoff-app[bot]" \
    "the status comment is the App's"
tokens=$(curl -s "$E/_admin/requests" | python3 -c "import json,sys; d=json.load(sys.stdin); d=d.get('requests', d) if isinstance(d, dict) else d; print(len([r for r in d if r['path'].endswith('/app/installations/42/access_tokens')]))")
ok "$([ "$tokens" -ge 1 ] && [ "$tokens" -le 2 ]; echo $?)" \
    "an installation token per runner process, reused for its requests ($tokens)"

# 8. With every run slot taken, a new request is still acknowledged at
# once: 👀 and a status comment with its place in line.
sed -i "s|^max_parallel = .*|max_parallel = 1|" "$CONFIG"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
start_serve
for n in 90 91; do
	admin POST issues '{"forge":"github","repo":"Codertocat/Hello-World","number":'$n',"title":"Hold on","user":"Codertocat"}' >/dev/null
	sed -i 's/"title": "Spelling error in the README file"/"title": "Hold on"/' "$(issue $n)"
done
r=$(deliver github issues "$T/issue-90.json")
j90=$(jobnum "$r")
for _ in $(seq 300); do [ "$(job_state "$j90")" = running ] && break; sleep 0.1; done
is "$(job_state "$j90")" running "job $j90 takes the only run slot"
r=$(deliver github issues "$T/issue-91.json")
j91=$(jobnum "$r")
n91='[i for i in s["issues"] if i["number"]==91][0]'
for _ in $(seq 100); do
	[ "$(jq_ "len($n91['comments'])")" = 1 ] && break
	sleep 0.1
done
is "$(job_state "$j91")" queued "job $j91 waits for the slot"
is "$(jq_ "[r['content'] for r in $n91['reactions']]")" "['eyes']" \
    "yet it has its 👀 already"
like "$(jq_ "$n91['comments'][0]['body']")" "1 job is ahead of it" \
    "and a status comment with its place in line"
touch "$T/gate/release"
wait_job_end "$j90"
wait_job_end "$j91"
is "$(job_state "$j90") $(job_state "$j91")" "done done" "both end done"
is "$(jq_ "len($n91['comments'])")" 1 "still one status comment for issue 91"
like "$(jq_ "$n91['comments'][0]['body']")" "Done (job $j91)" "it says done"

# 6. Every GitHub request handoff made is an operation of GitHub's own API
# description (@octokit/openapi), with known fields and the required ones.
curl -s "$E/_admin/requests" > "$T/requests.json"
python3 "$SRCDIR/tests/openapi/check-requests" "$T/requests.json" \
    > "$T/openapi.out" 2>&1
ok $? "every request matches GitHub's OpenAPI description"
sed 's/^/# /' "$T/openapi.out" | tail -n 5

done_testing
