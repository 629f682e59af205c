#!/bin/bash
# 100 deliveries (for 100 issues) from 16 parallel clients: exactly 100
# jobs, 100 distinct ids, every answer a 202 (group commit answers each
# after its commit).
. "$SRCDIR/tests/lib.sh"
write_config
start_serve
for i in $(seq 1 100); do labeled "$i" > /dev/null; done

seq 1 100 | xargs -P 16 -I{} "$HANDOFF" -c "$CONFIG" deliver --forge github \
    --event issues "$T/labeled-{}.json" --delivery "par-{}" > "$T/out" 2>&1
is "$(grep -c '^HTTP 202$' "$T/out")" 100 "100 answers are 202"
is "$(grep -o '"job":[0-9]*' "$T/out" | sort -u | wc -l)" 100 "100 distinct job ids"
is "$(job_count)" 100 "exactly 100 jobs in the store"

# The same 100 again, in parallel: all duplicates, no new job.
seq 1 100 | xargs -P 16 -I{} "$HANDOFF" -c "$CONFIG" deliver --forge github \
    --event issues "$T/labeled-{}.json" --delivery "par-{}" > "$T/out2" 2>&1
is "$(grep -c '"verdict":"duplicate"' "$T/out2")" 100 "100 redeliveries are duplicates"
is "$(job_count)" 100 "still exactly 100 jobs"
done_testing
