#!/bin/bash
# A redelivery keeps its delivery id (GitHub's X-GitHub-Delivery, GitLab's
# Idempotency-Key): the second answer is "duplicate" naming the same job.
. "$SRCDIR/tests/lib.sh"
write_config '[trigger]' 'label = agent'
start_serve
S="$SAMPLES/github/derived/issues.labeled.agent.json"

r1=$(deliver github issues "$S" --delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958)
like "$r1" '202 {"verdict":"queued","job":1,"delivery":"72d3162e-cc78-11e3-81ab-4c9367dc0958"}' \
    "first delivery is queued as job 1"
r2=$(deliver github issues "$S" --delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958)
is "$r2" '200 {"verdict":"duplicate","job":1}' "redelivery is a duplicate of job 1"
r3=$(deliver github issues "$S" --delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958 --form)
is "$r3" '200 {"verdict":"duplicate","job":1}' "redelivery in the form encoding too"
is "$(job_count)" 1 "one job in the store"

G=$(sample_with "$SAMPLES/gitlab/issue.json" '"title": "Platform"' '"title": "agent"')
r1=$(deliver gitlab 'Issue Hook' "$G" --delivery gl-1)
like "$r1" '202 {"verdict":"queued","job":2' "GitLab delivery is queued"
r2=$(deliver gitlab 'Issue Hook' "$G" --delivery gl-1)
is "$r2" '200 {"verdict":"duplicate","job":2}' "GitLab redelivery is a duplicate"
is "$(job_count)" 2 "two jobs in the store"

# After a restart the store still knows the delivery.
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
start_serve
r=$(deliver github issues "$S" --delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958)
is "$r" '200 {"verdict":"duplicate","job":1}' "still a duplicate after a restart"
is "$(job_count)" 2 "still two jobs"
done_testing
