#!/bin/bash
# "/agent cancel" is decided at once, without a run slot, and only for
# people who may write, as the forge says: with [runs] max_parallel = 1
# and a slow agent holding that slot, a GitLab guest's cancel (GitLab's
# deliveries carry no author check) and a GitHub organization member's who
# may only read (author_association MEMBER) are refused while the job
# runs, change nothing and say nothing, and the job runs to done; a
# maintainer's cancel stops the running job while the slot is still
# taken by it. A refused cancel leaves the thread's queued jobs be too.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

GH=octo/widgets
GL=group/gadgets
start_emulator 9
emu_source '# widgets'
for f in github:$GH gitlab:$GL; do
	emu_project "${f%%:*}" "${f#*:}" "tok-${f%%:*}-$$"
done
admin POST permissions '{"forge":"github","repo":"'$GH'","user":"maint","permission":"write"}' >/dev/null
admin POST permissions '{"forge":"github","repo":"'$GH'","user":"reader","permission":"read"}' >/dev/null
admin POST permissions '{"forge":"gitlab","repo":"'$GL'","user":"root","user_id":1,"access_level":40}' >/dev/null
admin POST permissions '{"forge":"gitlab","repo":"'$GL'","user":"guest","user_id":7,"access_level":10}' >/dev/null
for n in 1 2; do
	admin POST issues '{"forge":"github","repo":"'$GH'","number":'$n',"title":"Tidy the README","user":"maint"}' >/dev/null
	admin POST issues '{"forge":"gitlab","repo":"'$GL'","number":'$n',"title":"Tidy the README","user":"root"}' >/dev/null
done

# The agent works until its issue's gate opens (two minutes at most).
mkdir -p "$T/gate"
cat > "$T/agent.sh" <<EOF
#!/bin/sh
n=\$(sed -n 's/^[[:space:]]*"number":[[:space:]]*\([0-9][0-9]*\),\$/\1/p' "\$HANDOFF_CONTEXT" | head -n 1)
f=\$(sed -n 's/^[[:space:]]*"forge":[[:space:]]*"\([a-z]*\)",\$/\1/p' "\$HANDOFF_CONTEXT" | head -n 1)
echo "working on \$f #\$n"
i=0
while [ ! -e $T/gate/go-\$f-\$n ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i+1)); done
printf 'a line\n' >> README
echo "Added a line." > "\$HANDOFF_SUMMARY"
EOF
chmod +x "$T/agent.sh"
MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" \
    "token = tok-github-$$" "[gitlab]" "url = $E/gitlab" "token = tok-gitlab-$$" \
    "[agent]" "command = $T/agent.sh" "[sandbox]" "extra_ro = $T/gate" \
    "memory = 512M" "pids = 200" "disk = 256M"
start_serve

bot_says() {	# bot_says REPO-EXPR: what handoff wrote there, as a list
	curl -s "$E/_admin/state" | python3 -c 'import json, sys
s = json.load(sys.stdin)
print([c["body"] for r in s["repos"] for i in r["issues"]
       for c in i.get("comments", []) + i.get("notes", []) if c["user"] == "handoff-bot"])'
}
reactions() {	# reactions FORGE REPO ID: the reactions on comment ID
	emu_repo "$2" "[r['content'] for i in s['issues'] for c in i.get('comments', []) + i.get('notes', []) if c['id'] == $3 for r in c['reactions']]"
}

# --- GitHub: a member who may only read cannot cancel.
r=$(deliver github issues "$(delivery gh-label $GH 1 maint)")
j1=$(jobnum "$r")
wait_for "job $j1 to run" log_has "$j1" "working on github #1"
ok $? "job $j1 runs, in the only run slot"
c=$(emu_comment github $GH 1 maint "/agent revise add a line")
r=$(deliver github issue_comment "$(delivery gh-comment $GH 1 maint id=$c assoc=COLLABORATOR "body=/agent revise add a line")")
jq=$(jobnum "$r")
wait_for "job $jq to be acknowledged" sh -c "'$HANDOFF' -c '$CONFIG' show $jq --json | grep -q '\"detail\":[[:space:]]*\"acknowledged\"'"
ok $? "a revision, job $jq, waits in the queue"
said=$(bot_says)
c=$(emu_comment github $GH 1 reader "/agent cancel")
r=$(deliver github issue_comment "$(delivery gh-comment $GH 1 reader id=$c assoc=MEMBER "body=/agent cancel")")
k=$(jobnum "$r")
like "$r" '"verdict":"queued"' "the member's cancel is taken (their association is MEMBER)"
wait_for "cancel $k to be decided" ended "$k"
ok $? "it is decided while the slot is still taken"
is "$(job_state "$k")" cancelled "refused: the member may only read"
is "$(job_state "$j1")" running "job $j1 still runs"
is "$(job_state "$jq")" queued "job $jq is still queued"
is "$(reactions github $GH "$c")" "[]" "no 👀 on the refused cancel"
is "$(bot_says)" "$said" "and nothing said on the forge"
touch "$T/gate/go-github-1"
wait_job_end "$j1"; ok $? "job $j1 ends"
is "$(job_state "$j1")" done "job $j1 runs to done"
wait_job_end "$jq"
is "$(job_state "$jq")" done "and job $jq after it"

# --- GitLab: a guest cannot cancel; the maintainer can, at once.
r=$(deliver gitlab 'Issue Hook' "$(delivery gl-label $GL 1 root user_id=1)")
j2=$(jobnum "$r")
wait_for "job $j2 to run" log_has "$j2" "working on gitlab #1"
ok $? "job $j2 (GitLab) runs, in the only run slot"
said=$(bot_says)
n=$(emu_comment gitlab $GL 1 guest "/agent cancel")
r=$(deliver gitlab 'Note Hook' "$(delivery gl-note $GL 1 guest user_id=7 id=$n "body=/agent cancel")")
k=$(jobnum "$r")
like "$r" '"verdict":"queued"' "the guest's cancel is taken (GitLab says nothing of its author)"
wait_for "cancel $k to be decided" ended "$k"
ok $? "it is decided while the slot is still taken"
is "$(job_state "$k")" cancelled "refused: a guest may not write"
is "$(job_state "$j2")" running "job $j2 still runs"
is "$(reactions gitlab $GL "$n")" "[]" "no 👀 on the refused cancel"
is "$(bot_says)" "$said" "and nothing said on the forge"
n=$(emu_comment gitlab $GL 1 root "/agent cancel")
r=$(deliver gitlab 'Note Hook' "$(delivery gl-note $GL 1 root user_id=1 id=$n "body=/agent cancel")")
k=$(jobnum "$r")
wait_for "job $j2 to end" ended "$j2"
ok $? "the maintainer's cancel ends job $j2 while it holds the only slot"
is "$(job_state "$j2")" cancelled "job $j2 is cancelled"
is "$(job_state "$k")" done "the cancel is done"
is "$(reactions gitlab $GL "$n")" "['eyes']" "👀 on the maintainer's cancel"
[ ! -e "$T/gate/go-gitlab-1" ]; ok $? "(its agent was never let finish)"

# --- GitHub: the maintainer's cancel.
r=$(deliver github issues "$(delivery gh-label $GH 2 maint)")
j3=$(jobnum "$r")
wait_for "job $j3 to run" log_has "$j3" "working on github #2"
ok $? "job $j3 runs"
c=$(emu_comment github $GH 2 maint "/agent cancel")
r=$(deliver github issue_comment "$(delivery gh-comment $GH 2 maint id=$c assoc=COLLABORATOR "body=/agent cancel")")
wait_for "job $j3 to end" ended "$j3"
ok $? "the maintainer's cancel ends job $j3 while it holds the only slot"
is "$(job_state "$j3")" cancelled "job $j3 is cancelled"
emu_repo $GH "[c['body'] for i in s['issues'] if i['number'] == 2 for c in i['comments'] if c['user'] == 'handoff-bot']" > "$T/said"
has "$T/said" "Cancelled (job $j3)"; ok $? "its status comment says so"

done_testing
