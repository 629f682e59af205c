#!/bin/bash
# "Why did my label do nothing?": every delivery handoff ignores is logged
# at info with the reason its answer gives (whether the rules decided it
# or the store: no thread, a closed one), and a duplicate with the job it
# repeats. The forge's text in those lines (a title, a login, a label) is
# bounded and escaped: a hostile title, label or login cannot forge a log
# line or reach a terminal as escape sequences.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }

write_config "[trigger]" "repos = Codertocat/*, gitlabhq/*, gitlab-org/*"
start_serve

# edit IN PYTHON: a copy of delivery IN with d changed by PYTHON; prints it.
n_edit=0
edit() {
	n_edit=$((n_edit + 1))
	python3 - "$1" "$T/edit-$n_edit.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))
PY
	echo "$T/edit-$n_edit.json"
}

# says_why FORGE EVENT FILE ID WHAT: delivered as ID, it is ignored, and
# serve logs at info "ignored: REASON" with REASON its answer's.
says_why() {
	local r reason
	r=$(deliver "$1" "$2" "$3" --delivery "$4")
	reason=$(printf '%s' "$r" | sed -n 's/^200 {"verdict":"ignored","reason":"\(.*\)"}$/\1/p')
	if [ -z "$reason" ]; then
		ok 1 "$5: ignored"
		echo "#   answer: $r"
		return
	fi
	wait_for "the log line of $4" grep -q -F -e "$4" "$T/serve.log"
	grep -F -e " $4 " "$T/serve.log" | grep " info intake: " |
	    grep -q -F -e "ignored: $reason"
	ok $? "$5: logged at info with its reason ($reason)"
}

GH="$SAMPLES/github"
says_why github ping "$GH/ping.0.json" ping-1 "a ping"
says_why github installation "$GH/installation.created.1.json" inst-1 \
    "an installation event"
says_why github issues "$GH/issues.opened.15.json" opened-1 \
    "an event handoff does not act on"
says_why github issues "$GH/issues.labeled.9.json" label-1 \
    "another label than the trigger label"
C=$(edit "$GH/issue_comment.created.0.json" \
    'd["comment"]["body"] = "/agent retry"; d["comment"]["author_association"] = "NONE"')
says_why github issue_comment "$C" outsider-1 "an outsider's /agent"
C=$(edit "$GH/issue_comment.created.0.json" 'd["comment"]["body"] = "thanks!"')
says_why github issue_comment "$C" chat-1 "a comment without the command"
B=$(edit "$GH/derived/issues.labeled.agent.json" 'd["sender"]["login"] = "handoff-bot"')
says_why github issues "$B" bot-1 "the bot's own label"
O=$(edit "$GH/derived/issues.labeled.agent.json" \
    'd["repository"]["full_name"] = "Someone/Else"')
says_why github issues "$O" other-repo-1 "a repository not in [trigger] repos"
R=$(edit "$GH/derived/pull_request_review.submitted.changes_requested.json" \
    'd["pull_request"]["head"]["ref"] = "feature/x"')
says_why github pull_request_review "$R" review-1 \
    "a review of a pull request handoff did not open"
C=$(edit "$GH/issue_comment.created.0.json" \
    'd["comment"]["body"] = "/agent retry"; d["issue"]["number"] = 77')
says_why github issue_comment "$C" nothread-1 \
    "a retry where handoff has no thread (the store's verdict)"

GL="$SAMPLES/gitlab"
says_why gitlab 'Issue Hook' "$GL/issue.json" gl-label-1 \
    "GitLab: another label than the trigger label"
I=$(edit "$GL/issue.json" 'd["changes"]["labels"]["current"] = d["changes"]["labels"]["previous"]')
says_why gitlab 'Issue Hook' "$I" gl-nolabel-1 "GitLab: an issue edit that adds no label"
says_why gitlab 'Merge Request Hook' "$GL/merge_request.json" gl-mr-1 \
    "GitLab: a merge request opened"
says_why gitlab 'Pipeline Hook' "$GL/pipeline.json" gl-pipe-1 \
    "GitLab: a pipeline not on a handoff branch"
says_why gitlab 'Note Hook' "$GL/note_issue.json" gl-note-1 \
    "GitLab: a note without the command"
says_why gitlab 'Push Hook' "$GL/issue.json" gl-push-1 \
    "GitLab: a hook handoff does not act on"
grep " gl-push-1 " "$T/serve.log" | grep -q -F "Push Hook"
ok $? "the line names the event"

# Duplicates: the same delivery again, and another label event for the
# issue whose job is queued, both logged with the job they repeat.
r=$(deliver github issues "$(labeled 5)" --delivery dup-1)
job=$(jobnum "$r")
like "$r" '202 {"verdict":"queued"' "the label queues a job"
r=$(deliver github issues "$(labeled 5)" --delivery dup-1)
like "$r" '"verdict":"duplicate"' "the same delivery again is a duplicate"
r=$(deliver github issues "$(labeled 5)" --delivery dup-2)
like "$r" '"verdict":"duplicate"' "another label event for the issue too"
is "$(grep -c " info intake: github dup-1 .*: duplicate of job ${job:-?}\$" "$T/serve.log")" 1 \
    "the redelivery is logged at info with the job it repeats"
is "$(grep -c " info intake: github dup-2 .*: duplicate of job ${job:-?}\$" "$T/serve.log")" 1 \
    "the second label event too"

# Hostile text: a title with a newline and a forged log line, colours and
# a screen clear, 3000 bytes long; a label and a login alike.
FAKE='2031-01-01T00:00:00Z error serve: FORGED'
H=$(edit "$GH/issues.labeled.9.json" '
fake = "'"$FAKE"'"
d["issue"]["title"] = "Fix\n" + fake + "\x1b[2J\x1b[31mred\u202e" + "x" * 3000
d["label"]["name"] = "bug\n" + fake + "\x1b]0;title\x07"
d["sender"]["login"] = "mallory\r\n" + fake')
r=$(deliver github issues "$H" --delivery hostile-1)
like "$r" '"verdict":"ignored"' "the hostile delivery is ignored"
wait_for "the hostile line" grep -q " hostile-1 " "$T/serve.log"
! grep -q "^$FAKE" "$T/serve.log"
ok $? "no forged line starts a line of the log"
! grep -q -P '[\x00-\x08\x0b-\x1f\x7f]' "$T/serve.log"
ok $? "no control character reaches the log"
line=$(grep " hostile-1 " "$T/serve.log")
like "$line" 'Fix\n2031-01-01' "the title's newline is shown escaped"
like "$line" '\x1b[2J' "its escape sequence too"
like "$line" 'mallory\r\n2031' "and the login's"
[ "${#line}" -lt 1200 ]
ok $? "the 3000-byte title is cut (the line has ${#line} bytes)"
# And on a job's line: the title of a queued delivery.
Q=$(edit "$(labeled 6)" 'd["issue"]["title"] = "Queued\n'"$FAKE"'\x1b[31m"')
r=$(deliver github issues "$Q" --delivery hostile-2)
like "$r" '"verdict":"queued"' "a hostile title on a queued issue"
wait_for "its line" grep -q " hostile-2 " "$T/serve.log"
like "$(grep " hostile-2 " "$T/serve.log")" 'Queued\n2031' "its line escapes it"
! grep -q "^$FAKE" "$T/serve.log"
ok $? "and forges no line"
done_testing
