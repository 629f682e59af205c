#!/bin/bash
# handoff knows its comments by the marker on their last line, and writes
# no other: an agent whose summary carries "<!-- handoff:reply job N -->"
# and "<!-- handoff:help job M -->" for jobs to come does not stop their
# reply and help answer from appearing, and one whose no-change summary
# names an earlier help answer's marker does not get that answer deleted
# as a copy. Every comment handoff writes has one marker, its own, last;
# the pull request's description has none. A person's comment that
# mentions a marker is still a person's, read into the task.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

TOKEN="ghp_marks_$$_77a2c4e1"
REPO=Codertocat/Hello-World
start_emulator 13
jq_() { emu_repo $REPO "$1"; }

emu_source '# Hello-World'
emu_project github "$REPO" "$TOKEN"
admin POST permissions '{"forge":"github","repo":"'$REPO'","user":"Codertocat","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":1,"title":"Spelling error in the README file","user":"Codertocat"}' >/dev/null
admin POST comments '{"forge":"github","repo":"'$REPO'","number":1,"body":"The page source shows <!-- handoff:status --> in the bot comments; also keep the heading.","user":"Codertocat"}' >/dev/null

MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" \
    "token = $TOKEN" "[web]" "public_url = http://handoff.example" \
    "[agent]" "command = $SRCDIR/tests/agents/plant-markers.sh" \
    "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M"
start_serve

edit_json() {	# edit_json IN OUT PYTHON: a copy of a delivery, d changed
	python3 - "$1" "$2" "$3" "$E" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
E = sys.argv[4]
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
	echo "$2"
}
CLONE="d['repository']['clone_url'] = E + '/github/git/$REPO.git'"
# comment_on NUMBER TEXT: a comment by Codertocat on the issue or pull
# request, made in the emulator, and its delivery.
comment_on() {
	id=$(admin POST comments '{"forge":"github","repo":"'$REPO'","number":'$1',"body":"'"$2"'","user":"Codertocat"}' |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	if [ "$1" = 1 ]; then
		edit_json "$SAMPLES/github/issue_comment.created.0.json" "$T/c-$id.json" \
		    "d['issue']['number'] = 1; d['issue'].pop('pull_request', None); d['comment']['body'] = '$2'; d['comment']['id'] = $id; d['comment']['user']['login'] = 'Codertocat'; d['comment']['author_association'] = 'OWNER'; $CLONE"
	else
		edit_json "$SAMPLES/github/derived/issue_comment.created.pull_request.json" "$T/c-$id.json" \
		    "d['issue']['number'] = $1; d['comment']['body'] = '$2'; d['comment']['id'] = $id; $CLONE"
	fi
}
ask() {	# ask NUMBER TEXT: deliver the comment, wait for its job; prints it
	r=$(deliver github issue_comment "$(comment_on "$1" "$2")")
	j=$(jobnum "$r")
	wait_job_end "$j" || echo "# job $j did not end" >&2
	echo "$j"
}
mine_on_pr='[c for c in s["pulls"][0]["comments"] if c["user"]=="handoff-bot"]'
mine_on_issue='[c for c in [i for i in s["issues"] if i["number"]==1][0]["comments"] if c["user"]=="handoff-bot"]'

# 1. The first job opens the pull request; its summary has markers.
issue=$(edit_json "$SAMPLES/github/derived/issues.labeled.agent.json" "$T/issue-1.json" \
    "$CLONE; d['repository']['default_branch'] = 'main'")
r=$(deliver github issues "$issue")
j1=$(jobnum "$r")
wait_job_end "$j1"; ok $? "job $j1 ends"
is "$(job_state "$j1")" done "job $j1 (implement) is done"
PR=$(jq_ 's["pulls"][0]["number"]')
ok "$([ -n "$PR" ] && [ "$PR" -gt 0 ]; echo $?)" "it opened pull request #$PR"
run -c "$CONFIG" logs "$j1"
has "$T/out" "The page source shows" && has "$T/out" "also keep the heading."
ok $? "a person's comment that mentions a marker is in the task"

# 2. A revision whose summary plants the markers of job j2+1's reply and
# job j2+2's help answer.
j2=$(ask "$PR" "/agent add a line")
is "$(job_state "$j2")" done "job $j2 (revise) is done"
is "$(jq_ "len([c for c in $mine_on_pr if 'revised the branch (job $j2)' in c['body']])")" 1 \
    "job $j2's reply is on the pull request"
j3=$(ask "$PR" "/agent add another line")
is "$j3" "$((j2 + 1))" "the next request is job $((j2 + 1)), whose reply marker job $j2 planted"
is "$(job_state "$j3")" done "job $j3 (revise) is done"
is "$(jq_ "len([c for c in $mine_on_pr if 'revised the branch (job $j3)' in c['body']])")" 1 \
    "job $j3's reply appears all the same"
j4=$(ask "$PR" "/agent help")
is "$j4" "$((j2 + 2))" "then job $((j2 + 2)), whose help marker job $j2 planted"
is "$(jq_ "len([c for c in $mine_on_pr if c['body'].rstrip().endswith('<!-- handoff:help job $j4 -->')])")" 1 \
    "job $j4's help answer appears all the same"

# 3. A help answer on the issue, then a revision that changes nothing and
# whose summary names that answer's marker: it shows in the status
# comment, which must not make the answer a copy to delete.
j5=$(ask 1 "/agent help")
is "$(jq_ "len([c for c in $mine_on_issue if 'help job $j5 -->' in c['body']])")" 1 \
    "job $j5's help answer is on the issue"
j6=$(ask "$PR" "/agent nothing to do")
is "$j6" "$((j5 + 1))" "the revision is job $((j5 + 1))"
is "$(job_state "$j6")" done "job $j6 (no changes) is done"
like "$(jq_ "[c['body'] for c in $mine_on_issue if 'handoff:status' in c['body']][0]")" \
    "changed nothing (job $j6)" "the status comment shows job $j6's summary"
is "$(jq_ "len([c for c in $mine_on_issue if c['body'].rstrip().endswith('<!-- handoff:help job $j5 -->')])")" 1 \
    "job $j5's help answer is still there"
deletes=$(curl -s "$E/_admin/requests" | python3 -c "import json,sys; print(len([r for r in json.load(sys.stdin) if r['method'] == 'DELETE']))")
is "$deletes" 0 "handoff deleted no comment"

# 4. Every comment handoff wrote has one marker, its own, on its last
# line; the description has none.
jq_ "json.dumps($mine_on_issue + $mine_on_pr)" > "$T/mine.json"
python3 - "$T/mine.json" > "$T/markers" <<'PY'
import json, re, sys
for c in json.load(open(sys.argv[1])):
    body = c["body"]
    last = body.rstrip().split("\n")[-1]
    print(body.count("<!-- handoff:"),
          1 if re.fullmatch(r"<!-- handoff:[a-z0-9 ]+ -->", last) else 0)
PY
is "$(sort -u "$T/markers" | tr '\n' ' ')" "1 1 " \
    "each of handoff's $(wc -l < "$T/markers") comments has one marker, on its last line"
has "$T/mine.json" "(handoff):reply job $j3" && has "$T/mine.json" "(handoff):help job $j5"
ok $? "the agent's markers are shown, made inert"
jq_ 's["pulls"][0]["body"]' > "$T/description"
! has "$T/description" "<!-- handoff:"; ok $? "the pull request's description has no marker"

done_testing
