#!/bin/bash
# /healthz commits a heartbeat; /metrics counts every verdict and the jobs,
# and sums what the gateway and the proxy recorded per model and reason.
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
m=$(curl -s "$WEB_URL/metrics")
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
like "$(curl -s -D - -o /dev/null "$WEB_URL/metrics")" 'text/plain; version=0.0.4' \
    "Prometheus content type"
like "$m" '# TYPE handoff_llm_requests_total counter' "model requests are a counter"
unlike "$m" 'handoff_llm_requests_total{' "no model requests yet"
like "$m" 'handoff_egress_connections_total{allowed="false"} 0' "no refusals yet"

# What the gateway and the proxy record (written here as they would)
# is summed across jobs.
python3 - "$DATA/handoff.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=10)
now = int(time.time() * 1000)
job = db.execute("SELECT min(id) FROM jobs").fetchone()[0]
db.executemany("INSERT INTO usage (job_id, model, input_tokens, output_tokens,"
    " cache_read_tokens, cache_write_tokens, cost_micros, at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [(job, "m-a", 100, 20, 300, 40, 1500000, now),
     (job, "m-a", 5, 1, 0, 0, 250000, now),
     (job, "m-b", 7, 3, 0, 0, None, now)])
db.executemany("INSERT INTO egress (job_id, host, port, allowed, reason, at)"
    " VALUES (?, ?, ?, ?, ?, ?)",
    [(job, "example.org", 443, 0, "not in allow_hosts", now),
     (job, "pypi.org", 443, 1, None, now),
     (job, "10.0.0.1", 443, 0, "resolves to 10.0.0.1, private", now)])
db.commit()
PY
m=$(curl -s "$WEB_URL/metrics")
# Rows from before the store kept the provider are "unknown"'s.
M='provider="unknown",model="m-a"'
like "$m" "handoff_llm_requests_total{$M} 2" "model requests counted per model"
like "$m" 'handoff_llm_requests_total{provider="unknown",model="m-b"} 1' \
    "each model on its own"
like "$m" "handoff_llm_tokens_total{$M,kind=\"input\"} 105" "input tokens summed"
like "$m" "handoff_llm_tokens_total{$M,kind=\"output\"} 21" "output tokens summed"
like "$m" "handoff_llm_tokens_total{$M,kind=\"cache_read\"} 300" "cache reads summed"
like "$m" "handoff_llm_tokens_total{$M,kind=\"cache_write\"} 40" "cache writes summed"
like "$m" "handoff_llm_cost_total{$M} 1.750000" "the priced requests' cost"
unlike "$m" 'handoff_llm_cost_total{provider="unknown",model="m-b"}' \
    "no cost for a model without a price"
like "$m" 'handoff_egress_connections_total{allowed="true"} 1' "allowed connections"
like "$m" 'handoff_egress_connections_total{allowed="false"} 2' "refused connections"
like "$m" 'handoff_egress_refusals_total{reason="not_allowed"} 1' \
    "refused: not in allow_hosts"
like "$m" 'handoff_egress_refusals_total{reason="address"} 1' \
    "refused: resolves to an address never dialed"
done_testing
