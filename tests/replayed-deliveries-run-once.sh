#!/bin/bash
# A delivery sent again under new delivery ids runs once: GitHub's
# signature covers neither an id nor a time, so whoever saw one signed
# delivery can send its body and signature again. The same label event
# with three new ids is answered as a duplicate of the implementation it
# queued while that is queued or running (afterwards the label starts a
# new one); the same "/agent revise" comment, the same review and the
# same GitLab note or label event under new ids are duplicates of their
# job; another comment saying the same is a new request.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }

GH=Codertocat/Hello-World
GL=gitlab-org/gitlab-test
write_config
start_serve

# The body and signature as GitHub sent them, under another delivery id.
replay() {	# replay FILE EVENT ID
	post /hooks/github "$1" -H "X-GitHub-Event: $2" -H "X-GitHub-Delivery: $3" \
	    -H "X-Hub-Signature-256: $(github_sig "$1")"
}

label=$(delivery gh-label $GH 1 Codertocat)
r=$(replay "$label" issues first)
like "$r" '202 {"verdict":"queued"' "the label event queues an implementation"
j1=$(jobnum "$r")
for id in again-1 again-2 again-3; do
	r=$(replay "$label" issues "$id")
	is "$r" "200 {\"verdict\":\"duplicate\",\"job\":$j1}" \
	    "sent again as $id: a duplicate of job $j1"
done
is "$(job_count)" 1 "one implement job"
run -c "$CONFIG" show "$j1" --json
is "$(grep -c '"verdict":[[:space:]]*"duplicate"' "$T/out")" 3 \
    "job $j1 lists the three as duplicates"

# Variation: the same comment, the same review.
c=$(delivery gh-comment $GH 1 Codertocat id=901 assoc=OWNER "body=/agent revise use tabs")
r=$(replay "$c" issue_comment c-1)
j2=$(jobnum "$r")
like "$r" '202 {"verdict":"queued"' "a revision is queued as job $j2"
for id in c-2 c-3; do
	is "$(replay "$c" issue_comment "$id")" "200 {\"verdict\":\"duplicate\",\"job\":$j2}" \
	    "the same comment as $id: a duplicate of job $j2"
done
c2=$(delivery gh-comment $GH 1 Codertocat id=902 assoc=OWNER "body=/agent revise use tabs")
r=$(replay "$c2" issue_comment c-4)
like "$r" '202 {"verdict":"queued"' "another comment saying the same is a new request"
review="$SAMPLES/github/derived/pull_request_review.submitted.changes_requested.json"
r=$(replay "$review" pull_request_review v-1)
j3=$(jobnum "$r")
like "$r" '202 {"verdict":"queued"' "a review requesting changes is queued as job $j3"
is "$(replay "$review" pull_request_review v-2)" "200 {\"verdict\":\"duplicate\",\"job\":$j3}" \
    "the same review again: a duplicate of job $j3"
n=$(job_count)

# GitLab: the same label event and note under new Idempotency-Keys.
gl=$(delivery gl-label $GL 4 root user_id=1)
r=$(deliver gitlab 'Issue Hook' "$gl" --delivery gl-1)
j4=$(jobnum "$r")
like "$r" '202 {"verdict":"queued"' "a GitLab label event is queued as job $j4"
is "$(deliver gitlab 'Issue Hook' "$gl" --delivery gl-2)" "200 {\"verdict\":\"duplicate\",\"job\":$j4}" \
    "again under a new key: a duplicate"
note=$(delivery gl-note $GL 4 root user_id=1 id=77 "body=/agent revise and docs")
r=$(deliver gitlab 'Note Hook' "$note" --delivery gl-3)
j5=$(jobnum "$r")
like "$r" '202 {"verdict":"queued"' "a GitLab note is queued as job $j5"
is "$(deliver gitlab 'Note Hook' "$note" --delivery gl-4)" "200 {\"verdict\":\"duplicate\",\"job\":$j5}" \
    "the same note under a new key: a duplicate"
is "$(job_count)" "$((n + 2))" "no other job"

# Once the implementation has ended, the label starts a new one.
run -c "$CONFIG" cancel "$j1"
r=$(replay "$label" issues after-cancel)
like "$r" '202 {"verdict":"queued"' "after job $j1 ended, the label queues a new implementation"
done_testing
