#!/bin/sh
# Install what is missing, build, and show the main job: handoff serve on
# config.example.ini takes a real GitHub delivery (an issue labeled `agent`)
# and queues a job for it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/contrib/install-deps.sh"
"$top/contrib/build.sh" "$top/build"
handoff="$top/build/handoff"
config="$top/config.example.ini"
cd "$top"

"$handoff" -c "$config" serve &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 50); do
	curl -s -o /dev/null http://127.0.0.1:8080/healthz && break
	sleep 0.1
done

id="demo-$(date +%s)"
sample=webhooks/samples/github/derived/issues.labeled.agent.json
echo "\$ handoff deliver --forge github --event issues --delivery $id $sample"
"$handoff" -c "$config" deliver --forge github --event issues --delivery "$id" "$sample"
echo "\$ handoff deliver ... --delivery $id ...     # GitHub redelivers the same event"
"$handoff" -c "$config" deliver --forge github --event issues --delivery "$id" "$sample"
echo "\$ handoff jobs"
"$handoff" -c "$config" jobs --limit 5
job=$("$handoff" -c "$config" jobs --json --limit 1 | sed -n 's/^[[:space:]]*"id":[[:space:]]*\([0-9]*\),$/\1/p' | head -n 1)
echo "\$ handoff show $job"
"$handoff" -c "$config" show "$job"
