#!/bin/bash
# /metrics, parsed by a real Prometheus parser (Debian's
# python3-prometheus-client), after real jobs: two labeled issues on the
# emulated GitHub, each run end to end (set-up, an agent in the sandbox
# with network = allowlist that asks two models through handoff's LLM
# gateway and is refused a host), the forge answering once 502 (a retry)
# and once with a secondary rate limit (a wait of 1 s). Every family is
# there with its type, and its values are what happened: deliveries as
# sent, each step's histogram counting the jobs that ran it, tokens as the
# model server sent them, refusals by reason, and the forge requests by
# route and status as the emulator saw them. A model name that tries to
# end its label and add a sample of its own stays one label value, and 70
# model names make at most 64 label values and the rest.
. "$SRCDIR/tests/lib.sh"
for t in bwrap git python3 curl openssl; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done
# Debian's package, for Debian's python3.
PY=/usr/bin/python3
if ! "$PY" -c 'import prometheus_client' 2>/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    python3-prometheus-client >/dev/null 2>&1
	"$PY" -c 'import prometheus_client' 2>/dev/null || {
		echo "Bail out! python3-prometheus-client is needed" \
		    "(contrib/install-deps.sh --test)"; exit 1; }
fi
CANARY="sk-canary-$$-7d2e"
TOKEN="ghp_metrics_$$_4c1a"
REPO=Codertocat/Hello-World

# The model server, over TLS, with the real key; every answer the same
# usage, naming no model (the gateway takes the request's).
CA_DIR="$T/ca"
test_certs "$CA_DIR" server "IP:127.0.0.1,DNS:localhost"
printf '%s\n' '{"default":{"text":"ok","no_model":true,"usage":{"input_tokens":100,"output_tokens":7,"cache_read_tokens":20}}}' \
    > "$T/script.json"
python3 "$SRCDIR/tests/model-server.py" --cert "$CA_DIR/server.pem" \
    --key "$CA_DIR/server.key" --api-key "$CANARY" --script "$T/script.json" \
    --totals "$T/totals.json" >"$T/ms.out" 2>"$T/ms.err" &
MS_PID=$!
EXTRA_CLEANUP="kill $MS_PID 2>/dev/null"
wait_for "the model server" grep -q listening "$T/ms.out" ||
    { echo "Bail out! the model server did not start"; exit 1; }
MS=$(sed -n 's/^listening on //p' "$T/ms.out")

start_emulator 14
emu_source "$(printf '# Hello-World\n\nRemember to committ often.')"
emu_project github "$REPO" "$TOKEN"
admin POST permissions '{"forge":"github","repo":"'$REPO'","user":"Codertocat","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":1,"title":"Spelling error in the README file","user":"Codertocat"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":2,"title":"Leave the README as it is","user":"Codertocat"}' >/dev/null

# The agent: one Anthropic request; one OpenAI request for a model whose
# name would end its label and add a line of its own; on issue 2, 70
# models more and no change; a host it is not allowed; on issue 1, the fix.
mkdir -p "$T/agent"
printf '%s\n' '{"model":"gpt-\"q\"} 1\nhandoff_injected_total 9\n#\\x","messages":[{"role":"user","content":"hi"}]}' \
    > "$T/agent/openai.json"
cat > "$T/agent/run" <<EOF
#!/bin/sh
curl -s -o /dev/null --max-time 20 "\$ANTHROPIC_BASE_URL/v1/messages" \\
    -H "x-api-key: \$ANTHROPIC_API_KEY" -H "anthropic-version: 2023-06-01" \\
    -H "content-type: application/json" \\
    -d '{"model":"test-model","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
curl -s -o /dev/null --max-time 20 "\$OPENAI_BASE_URL/chat/completions" \\
    -H "Authorization: Bearer \$OPENAI_API_KEY" \\
    -H "content-type: application/json" --data-binary @$T/agent/openai.json
if grep -q "Leave the README" "\$HANDOFF_TASK"; then
	i=0
	while [ \$i -lt 70 ]; do
		curl -s -o /dev/null --max-time 20 "\$OPENAI_BASE_URL/chat/completions" \\
		    -H "Authorization: Bearer \$OPENAI_API_KEY" \\
		    -H "content-type: application/json" \\
		    -d "{\"model\":\"flood-\$i\",\"messages\":[]}"
		i=\$((i + 1))
	done
	curl -sk --max-time 20 -o /dev/null https://blocked.test/
	echo "Nothing to change." > "\$HANDOFF_SUMMARY"
	exit 0
fi
curl -sk --max-time 20 -o /dev/null https://blocked.test/
exec sh $SRCDIR/contrib/agents/demo.sh
EOF
printf '#!/bin/sh\necho set up > "$HOME/setup.txt"\n' > "$T/agent/setup"
chmod 755 "$T/agent" "$T/agent/run" "$T/agent/setup"
chmod 644 "$T/agent/openai.json"
printf '%s\n' "$CANARY" > "$T/llm.key"
chmod 600 "$T/llm.key"
MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" \
    "token = $TOKEN" \
    "[agent]" "command = $T/agent/run" "timeout = 120s" \
    "[sandbox]" "network = allowlist" "hosts = blocked.test=127.0.0.1" \
    "extra_ro = $T/agent, $SRCDIR/contrib/agents" \
    "memory = 512M" "pids = 200" "disk = 128M" \
    "[setup]" "command = $T/agent/setup" \
    "[llm]" "anthropic_key = file:$T/llm.key" "anthropic_url = $MS" \
    "openai_key = file:$T/llm.key" "openai_url = $MS/v1" \
    "ca_file = $CA_DIR/ca.pem" "prices = test-model=3/15/0.30/3.75"
start_serve

# The forge: the first read of issue 1 fails once (502, retried), the
# first status comment meets a secondary rate limit (retry after 1 s).
admin POST faults '[{"route":"^GET /github/api/repos/[^/]+/[^/]+/issues/1$","kind":"502","count":1},
 {"route":"^POST /github/api/repos/[^/]+/[^/]+/issues/1/comments$","kind":"403-secondary","count":1,"retry_after":1}]' >/dev/null
for n in 1 2; do
	r=$(deliver github issues "$(labeled_at $n "$E/github/git/$REPO.git")")
	like "$r" "\"job\":$n" "issue $n is queued"
	wait_job_end $n; ok $? "job $n ends"
	is "$(job_state $n)" done "job $n is done"
	[ "$(job_state $n)" = done ] || sed 's/^/#   /' "$DATA/jobs/$n/log" 2>/dev/null | tail -30
done
# Deliveries of other verdicts, for intake's counters.
deliver github ping "$SAMPLES/github/ping.0.json" > /dev/null
post /hooks/github "$(labeled 9)" > /dev/null

curl -s "$E/_admin/requests" > "$T/requests.json"
curl -s "$E/_admin/faults" > "$T/faults.json"
curl -s -D "$T/metrics.head" -o "$T/metrics" "$WEB_URL/metrics"
like "$(cat "$T/metrics.head")" "200 OK" "GET /metrics answers"
like "$(cat "$T/metrics.head")" "text/plain; version=0.0.4" \
    "in the text format's version"

# The checks, in Python: "ok<TAB>what" or "not ok<TAB>what<TAB>why" lines.
"$PY" - "$T/metrics" "$T/requests.json" "$T/totals.json" "$T/faults.json" \
    "$T/agent/openai.json" > "$T/checks" 2>"$T/checks.err" <<'PY'
import json, sys
from collections import Counter
from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
requests = json.load(open(sys.argv[2]))
requests = requests.get("requests", requests) if isinstance(requests, dict) else requests
totals = json.load(open(sys.argv[3]))
faults = json.load(open(sys.argv[4]))
faults = faults.get("faults", faults) if isinstance(faults, dict) else faults
hostile = json.load(open(sys.argv[5]))["model"]

def check(cond, what, why=""):
    print("%s\t%s\t%s" % ("ok" if cond else "not ok", what,
          str(why).replace("\n", " ")[:300]))

families = {f.name: f for f in text_string_to_metric_families(text)}
# The parser names a counter without _total, as OpenMetrics does.
want = {
    "handoff_deliveries": "counter", "handoff_jobs": "gauge",
    "handoff_runs_active": "gauge", "handoff_queue_depth": "gauge",
    "handoff_job_duration_seconds": "histogram",
    "handoff_step_duration_seconds": "histogram",
    "handoff_agent_run_seconds": "histogram",
    "handoff_llm_requests": "counter", "handoff_llm_tokens": "counter",
    "handoff_llm_cost": "counter",
    "handoff_egress_connections": "counter",
    "handoff_egress_refusals": "counter",
    "handoff_forge_requests": "counter", "handoff_forge_retries": "counter",
    "handoff_forge_rate_limit_waits": "counter",
    "handoff_forge_rate_limit_wait_seconds": "counter",
}
for name, typ in sorted(want.items()):
    f = families.get(name)
    check(f is not None and f.type == typ and f.documentation,
          "%s: a %s with its help" % (name, typ),
          f and (f.type, f.documentation))
check(set(families) == set(want), "no other family (nothing injected)",
      sorted(set(families) - set(want)))

def samples(name, suffix=""):
    f = families.get(name)
    return [s for s in (f.samples if f else []) if s.name == name + suffix]

def value(name, suffix="", **labels):
    v = [s.value for s in samples(name, suffix) if s.labels == labels]
    return v[0] if len(v) == 1 else None

# Intake: two labeled issues queued, a ping ignored, a forged one refused.
check(value("handoff_deliveries", "_total", forge="github", verdict="queued") == 2,
      "deliveries: 2 queued", value("handoff_deliveries", "_total", forge="github", verdict="queued"))
check(value("handoff_deliveries", "_total", forge="github", verdict="ignored") == 1,
      "deliveries: 1 ignored")
check(value("handoff_deliveries", "_total", forge="github", verdict="unauthorized") == 1,
      "deliveries: 1 unauthorized")
check(value("handoff_jobs", state="done") == 2 and value("handoff_jobs", state="queued") == 0
      and value("handoff_jobs", state="running") == 0, "jobs by state: 2 done")
check(value("handoff_queue_depth") == 0 and value("handoff_runs_active") == 0,
      "queue depth and runs active: 0")

def histogram(name, **labels):
    buckets = [(s.labels["le"], s.value) for s in samples(name, "_bucket")
               if {k: v for k, v in s.labels.items() if k != "le"} == labels]
    return buckets, value(name, "_count", **labels), value(name, "_sum", **labels)

def histogram_ok(name, count, what, **labels):
    buckets, n, total = histogram(name, **labels)
    les = [float(le) for le, _ in buckets]
    counts = [v for _, v in buckets]
    good = (len(buckets) >= 2 and les == sorted(les) and les[-1] == float("inf")
            and counts == sorted(counts) and counts[-1] == n == count
            and total is not None and total >= 0)
    check(good, what, (buckets, n, total))

histogram_ok("handoff_job_duration_seconds", 2, "job durations: 2 jobs")
ran = {"acknowledge": 2, "workspace": 2, "setup": 2, "task": 2,
       "sandbox": 2, "collect": 2, "push": 1, "publish": 1}
for step, n in ran.items():
    histogram_ok("handoff_step_duration_seconds", n,
                 "step %s: %d job%s ran it" % (step, n, "" if n == 1 else "s"),
                 step=step)
check(sorted(s.labels["step"] for s in samples("handoff_step_duration_seconds", "_count"))
      == sorted(ran), "steps: every step, no other")
histogram_ok("handoff_agent_run_seconds", 2, "agent runs: 2")

# Models: what the model server counted, per provider; the hostile name
# one label value, exactly; at most 64 models and the rest.
by = {"anthropic": totals["anthropic"], "openai": totals["chat"]}
for provider, t in by.items():
    req = sum(s.value for s in samples("handoff_llm_requests", "_total")
              if s.labels["provider"] == provider)
    check(req == t["requests"] and req > 0, "%s: requests as the server counted (%d)"
          % (provider, t["requests"]), req)
    for kind, key in (("input", "input_tokens"), ("output", "output_tokens"),
                      ("cache_read", "cache_read_tokens"),
                      ("cache_write", "cache_write_tokens")):
        got = sum(s.value for s in samples("handoff_llm_tokens", "_total")
                  if s.labels["provider"] == provider and s.labels["kind"] == kind)
        check(got == t[key], "%s: %s tokens as the server sent them (%d)"
              % (provider, kind, t[key]), got)
check(value("handoff_llm_requests", "_total", provider="anthropic", model="test-model") == 2,
      "anthropic test-model: 2 requests")
cost = value("handoff_llm_cost", "_total", provider="anthropic", model="test-model")
# (100 * 3 + 7 * 15 + 20 * 0.30) / 1e6 a request
check(cost is not None and abs(cost - 2 * 411e-6) < 1e-9, "the priced model's cost", cost)
# The gateway keeps a model's name to the characters names use.
kept = "".join(c if c.isascii() and (c.isalnum() or c in "._:/@+-") else "?"
               for c in hostile)
check(value("handoff_llm_requests", "_total", provider="openai", model=kept) == 2,
      "the hostile model name is one label value, kept to a name's characters",
      [s.labels["model"] for s in samples("handoff_llm_requests", "_total")][:4])
check(not [s for s in samples("handoff_llm_cost", "_total") if s.labels["provider"] == "openai"],
      "no cost for models without a price")
models = [s.labels["model"] for s in samples("handoff_llm_requests", "_total")]
check(len(models) == 65 and len(set(models)) == 65 and "(other)" in models,
      "72 models: 64 and the rest", len(models))
check(value("handoff_llm_requests", "_total", provider="openai", model="(other)") == 8,
      "the rest: 8 requests of the least used models",
      value("handoff_llm_requests", "_total", provider="openai", model="(other)"))

# Egress: each job refused blocked.test, not in allow_hosts.
check(value("handoff_egress_connections", "_total", allowed="false") == 2,
      "egress: 2 connections refused")
check(value("handoff_egress_refusals", "_total", reason="not_allowed") == 2,
      "refusals: 2 not in allow_hosts")
check(sum(s.value for s in samples("handoff_egress_refusals", "_total")) == 2,
      "refusals: no other reason")

# The forge: every REST request the emulator saw, by route and status.
def route(path):
    repo = "/repos/Codertocat/Hello-World"
    if path == repo or path.startswith(repo + "/"):
        t = path[len(repo):]
        segs = t.split("/")[1:]
        if t.endswith("/reactions") or t.endswith("/award_emoji"):
            return "reactions"
        if t.startswith("/collaborators/") or t.startswith("/members/"):
            return "permission"
        if set(segs) & {"comments", "notes", "discussions"}:
            return "comments"
        if set(segs) & {"pulls", "merge_requests"}:
            return "pulls"
        if t.startswith("/issues/"):
            return "issue"
        return "other"
    if path == "/user":
        return "user"
    if path.startswith("/app/installations/") and path.endswith("/access_tokens"):
        return "token"
    return "other"

seen = Counter()
for r in requests:
    if r["path"].startswith("/github/api/"):
        status = "error" if r["status"] is None else str(r["status"])
        seen[(route(r["path"][len("/github/api"):]), status)] += 1
counted = Counter({(s.labels["route"], s.labels["status"]): s.value
                   for s in samples("handoff_forge_requests", "_total")
                   if s.labels["forge"] == "github"})
check(seen == counted and sum(seen.values()) > 10,
      "forge requests by route and status: as the emulator saw them (%d)"
      % sum(seen.values()), (sorted(seen.items()), sorted(counted.items())))
for key in (("issue", "502"), ("comments", "403"), ("reactions", "201"),
            ("permission", "200"), ("pulls", "201"), ("comments", "201")):
    check(counted.get(key, 0) >= 1, "forge requests: %s %s counted" % key)
fired = sum(f["fired"] for f in faults)
check(fired == 2, "the emulator's faults fired twice", fired)
check(value("handoff_forge_retries", "_total", forge="github") == fired,
      "retries: one per fault", value("handoff_forge_retries", "_total", forge="github"))
check(value("handoff_forge_rate_limit_waits", "_total", forge="github") == 1,
      "rate-limit waits: the secondary limit's")
check(value("handoff_forge_rate_limit_wait_seconds", "_total", forge="github") == 1.0,
      "rate-limit waits: the 1 s it asked for")
check(value("handoff_forge_retries", "_total", forge="gitlab") == 0,
      "gitlab: no retries")
PY
ok $? "the exposition parses"
[ -s "$T/checks.err" ] && sed 's/^/#   /' "$T/checks.err"
while IFS=$'\t' read -r verdict what why; do
	if [ "$verdict" = ok ]; then ok 0 "$what"
	else ok 1 "$what"; echo "#   $why"; fi
done < "$T/checks"
grep -q . "$T/checks"; ok $? "the checks ran"

# The same exposition, raw: the hostile name could not add a line.
unlike "$(cat "$T/metrics")" $'\nhandoff_injected_total' "no injected sample line"

# A model's name in the store as anything may have written it (an older
# handoff, another writer): quotes, backslashes, newlines, a terminal's
# escape, a bidirectional override. The parser reads back the name with
# those two control characters left out, and the bound still holds.
python3 - "$DATA/handoff.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=10)
name = 'x"} 1\nhandoff_injected_total 9\n\\"\x1b[31m\u202eend'
db.executemany("INSERT INTO usage (job_id, provider, model, input_tokens, at)"
    " VALUES (1, 'openai', ?, 5, ?)", [(name, int(time.time() * 1000))] * 3)
db.commit()
PY
curl -s -o "$T/metrics2" "$WEB_URL/metrics"
"$PY" - "$T/metrics2" > "$T/checks2" 2>&1 <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(
    open(sys.argv[1], encoding="utf-8").read())}
want = 'x"} 1\nhandoff_injected_total 9\n\\"[31mend'
req = {s.labels["model"]: s.value for s in fams["handoff_llm_requests"].samples}
print("ok" if req.get(want) == 3 else "not ok", "label", repr(list(req)[:3]))
print("ok" if len(req) == 65 and req.get("(other)") == 9 else "not ok",
      "bound", len(req), req.get("(other)"))
print("ok" if "handoff_injected" not in fams else "not ok", "injected")
PY
is "$(sed -n 's/^\([a-z ]*\) label.*/\1/p' "$T/checks2")" ok \
    "a raw name in the store: read back exactly, controls left out"
is "$(sed -n 's/^\([a-z ]*\) bound.*/\1/p' "$T/checks2")" ok \
    "and still at most 64 models and the rest"
is "$(sed -n 's/^\([a-z ]*\) injected.*/\1/p' "$T/checks2")" ok \
    "and no sample of its own"
grep -v '^ok' "$T/checks2" | sed 's/^/#   /'
done_testing
