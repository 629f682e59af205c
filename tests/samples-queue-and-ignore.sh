#!/bin/bash
# Every real sample delivery (@octokit/webhooks-examples, GitLab's documented
# examples) gets the verdict its content calls for, over HTTP.
. "$SRCDIR/tests/lib.sh"
write_config
start_serve

# GitHub: none of the published examples carries the trigger label, is on a
# handoff branch, or asks with the command word: all are ignored, nothing stored.
total=0 ignored=0
for f in "$SAMPLES"/github/*.json; do
	event=$(basename "$f" | cut -d. -f1)
	r=$(deliver github "$event" "$f")
	total=$((total + 1))
	case "$r" in
	'200 {"verdict":"ignored"'*) ignored=$((ignored + 1)) ;;
	*) echo "# $(basename "$f"): $r" ;;
	esac
done
is "$ignored" "$total" "all $total GitHub examples are ignored"
is "$(job_count)" 0 "no job from them"

r=$(deliver github ping "$SAMPLES/github/ping.0.json")
is "$r" '200 {"verdict":"ignored","reason":"ping"}' "ping is answered"

# The labeled example relabeled `agent` queues exactly one implement job.
r=$(deliver github issues "$SAMPLES/github/derived/issues.labeled.agent.json")
like "$r" '202 {"verdict":"queued","job":1' "labeled agent queues job 1"
show=$("$HANDOFF" -c "$CONFIG" show 1 --json)
like "$show" '"kind":	"implement"' "it is an implement job"
like "$show" '"branch":	"handoff/1-' "on a handoff/ branch named after the issue"
is "$(job_count)" 1 "exactly one job"

# A request-changes review on that thread's branch revises it.
B=$(printf '%s' "$show" | sed -n 's/.*"branch":	"\([^"]*\)".*/\1/p')
R=$(sample_with "$SAMPLES/github/derived/pull_request_review.submitted.changes_requested.json" \
    '"ref": "handoff/[^"]*"' "\"ref\": \"$B\"")
r=$(deliver github pull_request_review "$R")
like "$r" '202 {"verdict":"queued","job":2' "changes requested on the branch queues a revise"
like "$("$HANDOFF" -c "$CONFIG" show 2 --json)" '"kind":	"revise"' "job 2 is a revise"

# An /agent comment by an outsider on the issue is ignored; by the owner it revises.
C=$(sample_with "$SAMPLES/github/issue_comment.created.0.json" '"body": "[^"]*"' '"body": "/agent retry"')
C=$(sample_with "$C" '"author_association": "[^"]*"' '"author_association": "NONE"')
r=$(deliver github issue_comment "$C")
like "$r" '"reason":"author not allowed' "an outsider's /agent is ignored"

# GitLab: the documented issue example adds the label Platform.
r=$(deliver gitlab 'Issue Hook' "$SAMPLES/gitlab/issue.json")
like "$r" '200 {"verdict":"ignored","reason":"not the trigger label"}' \
    "GitLab issue example: another label is ignored"
sed -i 's/^\[runs\]/[trigger]\nlabel = Platform\n[runs]/' "$CONFIG"
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
start_serve
r=$(deliver gitlab 'Issue Hook' "$SAMPLES/gitlab/issue.json")
like "$r" '202 {"verdict":"queued"' "GitLab issue example with label Platform is queued"
job=$(jobnum "$r")
show=$("$HANDOFF" -c "$CONFIG" show "$job" --json)
like "$show" '"repo":	"gitlabhq/gitlab-test"' "GitLab job names the project path"
like "$show" '"forge":	"gitlab"' "GitLab job names the forge"
for f in note_issue note_merge_request merge_request pipeline; do
	r=$(deliver gitlab "$(case $f in note_*) echo 'Note Hook';; merge_request) echo 'Merge Request Hook';; pipeline) echo 'Pipeline Hook';; esac)" \
	    "$SAMPLES/gitlab/$f.json")
	like "$r" '200 {"verdict":"ignored"' "GitLab $f example is answered and ignored"
done
done_testing
