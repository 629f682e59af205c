#!/bin/bash
# [trigger] repos: an App installed broadly acts only for the repositories
# its patterns match. Every other repository's label events, commands and
# reviews, on GitHub and GitLab, are answered ignored and queue nothing.
. "$SRCDIR/tests/lib.sh"
write_config '[trigger]' 'repos = Codertocat/*, MyGroup/**'
start_serve
REASON='200 {"verdict":"ignored","reason":"repository not in [trigger] repos"}'
# other FILE: FILE's repository renamed Other/Hello-World.
other() { sample_with "$1" 'Codertocat/Hello-World' 'Other/Hello-World'; }

like "$("$HANDOFF" -c "$CONFIG" check-config)" \
    'repos = Codertocat/*, MyGroup/**' "check-config prints the patterns"

# GitHub: a labeled issue in a listed repository queues; the same delivery
# for another owner does not.
L=$(labeled 1)
r=$(deliver github issues "$L")
like "$r" '202 {"verdict":"queued","job":1' "a label in Codertocat/Hello-World queues"
O=$(other "$L")
grep -q '"full_name": "Other/Hello-World"' "$O" || echo "Bail out! no rewrite"
r=$(deliver github issues "$O" --delivery other-label-1)
is "$r" "$REASON" "the same label in Other/Hello-World is ignored"
is "$(job_count)" 1 "it queued nothing"
unlike "$("$HANDOFF" -c "$CONFIG" jobs --json)" 'Other/' "no job for Other/"

# Repository names compare without case, as the forges do.
r=$(deliver github issues "$(sample_with "$(labeled 2)" \
    '"full_name": "Codertocat/Hello-World"' '"full_name": "CODERTOCAT/hello-world"')")
like "$r" '202 {"verdict":"queued"' "a label in CODERTOCAT/hello-world queues"

# Commands and reviews in an unlisted repository: ignored before anything.
C="$SAMPLES/github/issue_comment.created.0.json"
for body in '/agent revise make it blue' '/agent cancel' '/agent retry'; do
	r=$(deliver github issue_comment "$(other "$(sample_with "$C" \
	    '"body": "[^"]*"' "\"body\": \"$body\"")")")
	is "$r" "$REASON" "\"$body\" in Other/Hello-World is ignored"
done
R="$SAMPLES/github/derived/pull_request_review.submitted.changes_requested.json"
r=$(deliver github pull_request_review "$(other "$R")")
is "$r" "$REASON" "a review asking for changes in Other/Hello-World is ignored"
# The same comment in the listed repository is a command.
r=$(deliver github issue_comment "$(sample_with "$C" '"body": "[^"]*"' \
    '"body": "/agent revise make it blue"')")
like "$r" '202 {"verdict":"queued"' "the comment in Codertocat/Hello-World queues"
is "$(job_count)" 3 "three jobs, all in Codertocat/Hello-World"

# GitLab: nested groups under MyGroup/** only.
r=$(deliver gitlab 'Issue Hook' "$(delivery gl-label mygroup/sub/project 5 alice)")
like "$r" '202 {"verdict":"queued"' "a GitLab label in mygroup/sub/project queues"
r=$(deliver gitlab 'Issue Hook' "$(delivery gl-label gitlabhq/gitlab-test 5 alice)")
is "$r" "$REASON" "a GitLab label in gitlabhq/gitlab-test is ignored"
r=$(deliver gitlab 'Issue Hook' "$(delivery gl-label mygroupx/project 5 alice)")
is "$r" "$REASON" "a GitLab label in mygroupx/project is ignored"
r=$(deliver gitlab 'Note Hook' "$(delivery gl-note gitlabhq/gitlab-test 5 alice \
    id=71 body='/agent cancel')")
is "$r" "$REASON" "a GitLab /agent cancel in gitlabhq/gitlab-test is ignored"
r=$(deliver gitlab 'Note Hook' "$(delivery gl-note mygroup/sub/project 5 alice \
    id=72 body='/agent revise more')")
like "$r" '202 {"verdict":"queued"' "a GitLab /agent revise in mygroup/sub/project queues"
is "$(job_count)" 5 "five jobs in all"
is "$("$HANDOFF" -c "$CONFIG" jobs --json | grep -c '"repo":.*gitlabhq')" 0 \
    "none in gitlabhq/"

# Names that would slip past a pattern that let '*' cross a '/', or match
# an empty name: another repository's path behind the listed owner.
for name in 'Codertocat/Hello-World/../../Other/x' 'Codertocat/' 'Codertocat'; do
	r=$(deliver github issues "$(sample_with "$(labeled 9)" \
	    '"full_name": "Codertocat/Hello-World"' "\"full_name\": \"$name\"")")
	is "$r" "$REASON" "a label in \"$name\" is ignored"
done
# A delivery naming no repository is malformed, as without repos.
N="$T/no-repo.json"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); del d["repository"]["full_name"]
json.dump(d, open(sys.argv[2], "w"))' "$(labeled 10)" "$N"
like "$(deliver github issues "$N")" '400 ' "a label naming no repository is refused"
is "$(job_count)" 5 "none of them queued anything"

# An ignored delivery is not recorded, like every other one: once the
# repository is let through, its redelivery queues.
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
sed -i '/^repos = /d' "$CONFIG"
unlike "$("$HANDOFF" -c "$CONFIG" check-config)" 'Codertocat/*' "repos is gone"
start_serve
r=$(deliver github issues "$O" --delivery other-label-1)
like "$r" '202 {"verdict":"queued"' "without repos, Other/Hello-World queues"
like "$("$HANDOFF" -c "$CONFIG" show "$(jobnum "$r")" --json)" \
    '"repo":	"Other/Hello-World"' "its job names Other/Hello-World"
r=$(deliver gitlab 'Issue Hook' "$(delivery gl-label gitlabhq/gitlab-test 5 alice)")
like "$r" '202 {"verdict":"queued"' "and so does gitlabhq/gitlab-test"

# A pattern that is not one is a configuration error.
printf 'repos = Codertocat/**/x\n' >> "$CONFIG"
"$HANDOFF" -c "$CONFIG" check-config >"$T/out" 2>"$T/err"
is "$?" 2 "a bad pattern: check-config exits 2"
like "$(cat "$T/err")" '[trigger] repos: expected a comma-separated list of repository patterns' \
    "and says what was expected"
like "$(cat "$T/err")" 'got "Codertocat/**/x"' "and what it got"
serve_refused "$CONFIG"
is "$status" 2 "serve refuses it too"
done_testing
