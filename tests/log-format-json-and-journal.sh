#!/bin/bash
# [server] log_format = json: every line serve and its runners write is a
# JSON object with time, level and message, a job's lines with its number
# in "job", a module's with "module"; a hostile title stays one escaped
# string. Under systemd, with stderr the journal (JOURNAL_STREAM names its
# device and inode), text lines have no time but sd-daemon's "<N>" level
# prefix; a JOURNAL_STREAM that names another file (a child whose stderr
# was redirected) changes nothing.
. "$SRCDIR/tests/lib.sh"
for t in bwrap git python3 stat; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

git init -q --bare "$T/origin.git"
mkrepo "$T/src"
git -C "$T/src" push -q "$T/origin.git" HEAD:refs/heads/main

MAX_PARALLEL=1 write_config "log_format = json" "[agent]" \
    "command = $SRCDIR/tests/agents/edit.sh" "timeout = 2m" \
    "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M"
# log_format belongs to [server]: move the line there.
sed -i '/^log_format = json$/d; s/^\[server\]$/[server]\nlog_format = json/' "$CONFIG"
"$HANDOFF" -c "$CONFIG" check-config >"$T/out" 2>&1
like "$(cat "$T/out")" "log_format = json" "check-config knows log_format"
start_serve

FAKE='2031-01-01T00:00:00Z error serve: FORGED'
python3 - "$(labeled_at 1 "$T/origin.git")" "$T/hostile.json" "$FAKE" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["issue"]["title"] = 'Say "hi"\n' + sys.argv[3] + "\x1b[31m\\ \u202e"
json.dump(d, open(sys.argv[2], "w"))
PY
r=$(deliver github issues "$T/hostile.json" --delivery json-1)
like "$r" '"verdict":"queued"' "a hostile title queues job 1"
deliver github ping "$SAMPLES/github/ping.0.json" --delivery json-ping >/dev/null
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 is done"

python3 - "$T/serve.log" "$FAKE" >"$T/check" 2>&1 <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
bad, job, module, hostile, ignored = [], 0, 0, 0, 0
for l in lines:
    try:
        o = json.loads(l)
    except ValueError:
        bad.append(l)
        continue
    if not isinstance(o, dict) or not all(isinstance(o.get(k), str)
            for k in ("time", "level", "message")):
        bad.append(l)
        continue
    if o.get("job") == 1 and isinstance(o["job"], int):
        job += 1
    if o.get("module") == "intake" and o["message"].startswith("intake: "):
        module += 1
    if "json-1" in o["message"]:
        hostile += 1
        if "\x1b" in o["message"] or "\n" in o["message"] or \
                'Say "hi"\\n' + sys.argv[2] not in o["message"]:
            bad.append("hostile: " + l)
    if "json-ping" in o["message"] and o["level"] == "info" and \
            o["message"].endswith("ignored: ping"):
        ignored += 1
print("lines=%d bad=%d job=%d module=%d hostile=%d ignored=%d" %
      (len(lines), len(bad), job, module, hostile, ignored))
for l in bad[:5]:
    print("# bad: %r" % l)
PY
cat "$T/check" | sed 's/^/# /'
counts=$(head -n 1 "$T/check")
like "$counts" " bad=0 " "every line is a JSON object with time, level, message"
unlike "$counts" "lines=0 " "there are lines"
unlike "$counts" " job=0 " "a job's lines carry its number (runner lines too)"
unlike "$counts" " module=0 " "a module's lines name it"
like "$counts" " hostile=1 " "the hostile title's line is one JSON line"
like "$counts" " ignored=1" "an ignored delivery is a JSON line at info"
grep -q ' "job":1,\| "job":1}\|"job":1,' "$T/serve.log"
ok $? "job is a number in the text"

# The journal: serve's stderr is the file JOURNAL_STREAM names.
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; SERVE_PID=
sed -i '/^log_format = json$/d' "$CONFIG"
mv "$T/serve.log" "$T/json.log"
: > "$T/serve.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/serve.log") start_serve
r=$(deliver github issues "$(labeled_at 2 "$T/origin.git")")
like "$r" '"verdict":"queued"' "job 2 is queued"
deliver github ping "$SAMPLES/github/ping.0.json" --delivery journal-ping >/dev/null
wait_job_end 2; ok $? "job 2 ends"
wait_for "the last line" grep -q 'job 2: job done' "$T/serve.log"
grep -q -E '^<6>info serve: listening on ' "$T/serve.log"
ok $? "serve's lines carry <6> for info and no time"
grep -q -E '^<6>info job 2 \(implement\) on ' "$T/serve.log"
ok $? "and the runner's (a child's) too"
grep -q -E '^<6>info intake: github journal-ping .*: ignored: ping$' "$T/serve.log"
ok $? "the ignored ping's line too"
! grep -q -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$T/serve.log"
ok $? "no line has a time"
! grep -q -v -E '^<[3467]>(error|warn|info|debug) ' "$T/serve.log"
ok $? "every line has the prefix"
curl -s -o /dev/null "$URL/hooks/github"	# a GET: refused, logged at debug
wait_for "a debug line" grep -q 'use POST' "$T/serve.log"
grep -q -E '^<7>debug intake: github: 405 use POST$' "$T/serve.log"
ok $? "debug lines carry <7>"

# A JOURNAL_STREAM naming another file: serve's stderr is not the journal.
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; SERVE_PID=
: > "$T/other"
: > "$T/serve.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/other") start_serve
deliver github ping "$SAMPLES/github/ping.0.json" --delivery other-ping >/dev/null
wait_for "the ping's line" grep -q other-ping "$T/serve.log"
grep -q -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]* info intake: github other-ping ' "$T/serve.log"
ok $? "a JOURNAL_STREAM of another file keeps the time"
! grep -q '^<' "$T/serve.log"
ok $? "and no <N> prefix"
done_testing
