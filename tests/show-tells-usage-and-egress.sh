#!/bin/bash
# handoff show tells what a job's agent used: its model requests (summed
# per model and in all, with the cost of the priced ones) and the
# connections it attempted, the refused ones by name; show --json has
# them as INTERFACE.md's usage and egress, jobs --json each job's usage.
. "$SRCDIR/tests/lib.sh"
write_config
start_serve
deliver github issues "$(labeled 2)" > /dev/null
stop_serve
job=$(python3 - "$DATA/handoff.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT max(id) FROM jobs").fetchone()[0])
PY
)
is "$job" 1 "a job to tell"
out=$("$HANDOFF" -c "$CONFIG" show "$job")
unlike "$out" 'usage:' "no usage line before the agent asked a model"
unlike "$out" 'egress:' "no egress line before it connected anywhere"

python3 - "$DATA/handoff.db" "$job" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
job, now = int(sys.argv[2]), int(time.time() * 1000)
db.executemany("INSERT INTO usage (job_id, model, input_tokens, output_tokens,"
    " cache_read_tokens, cache_write_tokens, cost_micros, at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [(job, "claude-x", 3000, 4000, 170000, 10000, 600000, now)] +
    [(job, "claude-x", 0, 1000, 0, 0, 110000, now)] * 12 +
    [(job, "local-model", 5, 5, 0, 0, None, now)])
db.executemany("INSERT INTO egress (job_id, host, port, address, allowed,"
    " reason, bytes_in, bytes_out, duration_ms, at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [(job, "pypi.org", 443, "151.101.0.223", 1, None, 5000, 700, 30, now),
     (job, "example.org", 443, None, 0, "not in allow_hosts", 0, 0, 0, now)])
db.commit()
PY
out=$("$HANDOFF" -c "$CONFIG" show "$job")
like "$out" 'usage:        14 requests · 183k tokens in, 16k out · ≈ $1.92' \
    "show: the usage line, the unpriced model's tokens counted, not priced"
like "$out" 'egress:       2 connections, 1 refused' "show: the connections"
like "$out" '  blocked: example.org:443, not in allow_hosts' "show: the refused one"

j=$("$HANDOFF" -c "$CONFIG" show "$job" --json)
is "$(python3 -c 'import json,sys; u=json.load(sys.stdin)["usage"]
print(u["requests"], u["input_tokens"], u["output_tokens"],
      u["cache_read_tokens"], u["cache_write_tokens"], round(u["cost"], 6))' <<<"$j")" \
    "14 3005 16005 170000 10000 1.92" "show --json: usage in all"
is "$(python3 -c 'import json,sys; u=json.load(sys.stdin)["usage"]["models"]
print(";".join("%s %d %s" % (m["model"], m["requests"], m["cost"]) for m in u))' <<<"$j")" \
    "claude-x 13 1.92;local-model 1 None" "show --json: per model, null for no price"
is "$(python3 -c 'import json,sys; e=json.load(sys.stdin)["egress"]
print(";".join("%s %d %s %s %s %d %d" % (c["host"], c["port"], c["address"],
      c["allowed"], c["reason"], c["bytes_in"], c["bytes_out"]) for c in e))' <<<"$j")" \
    "pypi.org 443 151.101.0.223 True None 5000 700;example.org 443 None False not in allow_hosts 0 0" \
    "show --json: each connection"
is "$("$HANDOFF" -c "$CONFIG" jobs --json | python3 -c 'import json,sys
u = json.load(sys.stdin)[0]["usage"]
print(u["requests"], u["input_tokens"], u["output_tokens"], round(u["cost"], 6))')" \
    "14 3005 16005 1.92" "jobs --json: each job's usage in all"
done_testing
