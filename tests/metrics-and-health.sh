#!/bin/bash
# /healthz commits a heartbeat; /metrics counts every verdict and the jobs.
. "$SRCDIR/tests/lib.sh"
write_config
start_serve
S="$SAMPLES/github/derived/issues.labeled.agent.json"

is "$(curl -s "$URL/healthz")" "ok" "healthz says ok"
is "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" 200 "healthz is 200"
deliver github issues "$(labeled 2)" > /dev/null
deliver github issues "$S" --delivery same > /dev/null
deliver github issues "$S" --delivery same > /dev/null
deliver github ping "$SAMPLES/github/ping.0.json" > /dev/null
post /hooks/github "$S" > /dev/null
post /hooks/gitlab "$S" -H 'X-Gitlab-Token: nope' > /dev/null
m=$(curl -s "$URL/metrics")
like "$m" '# TYPE handoff_deliveries_total counter' "counter type line"
like "$m" 'handoff_deliveries_total{forge="github",verdict="queued"} 2' "queued"
like "$m" 'handoff_deliveries_total{forge="github",verdict="duplicate"} 1' "duplicate"
like "$m" 'handoff_deliveries_total{forge="github",verdict="ignored"} 1' "ignored"
like "$m" 'handoff_deliveries_total{forge="github",verdict="unauthorized"} 1' "github unauthorized"
like "$m" 'handoff_deliveries_total{forge="gitlab",verdict="unauthorized"} 1' "gitlab unauthorized"
like "$m" 'handoff_jobs{state="queued"} 2' "jobs by state"
like "$m" 'handoff_queue_depth 2' "queue depth"
like "$m" 'handoff_runs_active 0' "runs active"
like "$m" 'handoff_job_duration_seconds_bucket{le="+Inf"} 0' "duration histogram"
like "$(curl -s -D - -o /dev/null "$URL/metrics")" 'text/plain; version=0.0.4' \
    "Prometheus content type"
done_testing
