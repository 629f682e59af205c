#!/bin/bash
# Titles, logins and the agent's words can hold terminal escape sequences,
# newlines and bidirectional overrides. A commit's subject and a pull
# request's title are one line of valid UTF-8 without them (the title cut
# on a character boundary), and handoff show, jobs, logs and run print
# them escaped on a terminal (script(1) gives handoff one), as they are
# elsewhere.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3 script; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

TOKEN="ghp_ctl_$$_3e8b50d4"
REPO=Codertocat/Hello-World
start_emulator 17
jq_() { emu_repo $REPO "$1"; }

# A title with a newline, colours, a right-to-left override, and a "é"
# across its 200th byte.
python3 - "$T/title.json" <<'PY'
import json, sys
t = "Fix\nthe \x1b[31mtypo\x1b[0m in \u202eEMDAER\u202c "
t += "x" * (199 - len(t.encode())) + "\u00e9 and more"
json.dump(t, open(sys.argv[1], "w"))
PY
TITLE=$(cat "$T/title.json")

emu_source '# Hello-World'
emu_project github "$REPO" "$TOKEN"
admin POST permissions '{"forge":"github","repo":"'$REPO'","user":"Codertocat","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":1,"title":'"$TITLE"',"user":"Codertocat"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$REPO'","number":2,"title":"Another","user":"Codertocat"}' >/dev/null

MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" \
    "token = $TOKEN" "[agent]" "command = $SRCDIR/tests/agents/terminal-escapes.sh" \
    "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M"
start_serve

edit_json() {	# edit_json IN OUT PYTHON: a copy of a delivery, d changed
	python3 - "$1" "$2" "$3" "$E" "$T/title.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
E = sys.argv[4]
TITLE = json.load(open(sys.argv[5]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
	echo "$2"
}
# clean_line FILE: FILE holds a JSON string that is one line of valid
# UTF-8 with no control or bidirectional character; says what is wrong.
clean_line() {
	python3 - "$1" <<'PY'
import json, re, sys
t = json.load(open(sys.argv[1]))
bad = re.findall("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
    "\u2066-\u2069\ud800-\udfff\ufffd]", t)
if bad or "\n" in t:
    print("# %r holds %r" % (t, bad)); sys.exit(1)
PY
}
# raw FILE: how many raw control, C1 or bidi characters a terminal would
# act on are in FILE (CR aside: the terminal adds it), or bytes that are
# not UTF-8.
raw() {
	python3 - "$1" <<'PY'
import re, sys
b = open(sys.argv[1], "rb").read()
n = len(re.findall(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|"
    rb"\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]|\xd8\x9c", b))
try:
    b.decode("utf-8")
except UnicodeDecodeError:
    n += 1
print(n)
PY
}
# subject_of GITDIR REF: the first paragraph of the commit's message, as
# a JSON string.
subject_of() {
	git --git-dir="$1" cat-file commit "$2" | python3 -c '
import json, sys
msg = sys.stdin.buffer.read().split(b"\n\n", 1)[1]
print(json.dumps(msg.split(b"\n\n", 1)[0].decode("utf-8", "surrogateescape")))'
}
tty() {	# tty OUT ARGS...: handoff ARGS on a terminal, its screen in OUT
	local out=$1 cmd
	shift
	cmd=$(printf '%q ' "$HANDOFF" -c "$CONFIG" "$@")
	script -qec "$cmd" /dev/null < /dev/null > "$out" 2>&1
}

# 1. The issue: its title is everything at once.
issue=$(edit_json "$SAMPLES/github/derived/issues.labeled.agent.json" "$T/issue-1.json" \
    "d['repository']['clone_url'] = E + '/github/git/$REPO.git'; d['repository']['default_branch'] = 'main'; d['issue']['title'] = TITLE")
r=$(deliver github issues "$issue")
j=$(jobnum "$r")
wait_job_end "$j"; ok $? "job $j ends"
is "$(job_state "$j")" done "job $j is done"
BRANCH=$(jq_ 's["pulls"][0]["head"]')
jq_ 'json.dumps(s["pulls"][0]["title"])' > "$T/pr-title"
clean_line "$T/pr-title"; ok $? "the pull request's title is one clean line"
like "$(cat "$T/pr-title")" '"Fix the [31mtypo [0m in EMDAER xxx' "made of the issue's title"
subject_of "$T/forge/git/github/$REPO.git" "$BRANCH" > "$T/subject"
clean_line "$T/subject"; ok $? "the commit's subject is one clean line, cut on a character boundary"
like "$(cat "$T/subject")" '"Fix the [31mtypo [0m in EMDAER xxx' "made of the issue's title"
like "$(cat "$T/subject")" ' (#1)"' "with the issue's number"

# 2. A sender whose login holds escape sequences (nothing is run for it).
issue2=$(edit_json "$issue" "$T/issue-2.json" \
    "d['issue']['number'] = 2; d['issue']['title'] = 'Another'; d['sender']['login'] = 'mallory\x1b]0;owned\x07\u202e'")
r=$(deliver github issues "$issue2")
j2=$(jobnum "$r")
wait_job_end "$j2"; ok $? "job $j2 (the odd login's) ends"

# 3. Off a terminal, handoff prints what the store holds; on one, escapes.
run -c "$CONFIG" show "$j"
ok "$([ "$(raw "$T/out")" -gt 0 ]; echo $?)" "off a terminal, show prints the title as it is"
for cmd in "show $j" "show $j --json" "jobs" "jobs --json" "logs $j"; do
	tty "$T/tty" $cmd
	is "$(raw "$T/tty")" 0 "on a terminal, $cmd prints no raw control or bidi character"
done
tty "$T/tty" show "$j"
has "$T/tty" 'Fix\nthe \x1b[31mtypo\x1b[0m in \u202eEMDAER' && has "$T/tty" 'Fixed \x1b[31mthe typo'
ok $? "show escapes the title on one line, and the summary"
tty "$T/tty" jobs
has "$T/tty" 'mallory\x1b]0;owned\x07\u202e'; ok $? "jobs escapes the login"
tty "$T/tty" logs "$j"
has "$T/tty" 'working \x1b[2J\x1b]0;pwned\x07 on it, \u202edesrever'
ok $? "logs escapes the agent's output"

# A character across logs' 64 KiB reads is not taken for two bad bytes.
{ head -c 65535 /dev/zero | tr '\0' a; printf '\303\251 whole\n'; } > "$DATA/jobs/$j/log"
tty "$T/tty" logs "$j"
has "$T/tty" "aé whole"; ok $? "logs keeps a character across two reads whole"

# 4. handoff run: the agent's summary on a terminal, the task's first
# line as the commit's subject.
mkrepo "$T/local"
printf 'Fix \033[31mit\342\200\256 now\nsecond line\n' > "$T/task"
tty "$T/tty" run --repo "$T/local" --task-file "$T/task"
like "$(cat "$T/tty")" "branch: handoff/local-" "handoff run ends with a branch"
is "$(raw "$T/tty")" 0 "on a terminal, run prints no raw control or bidi character"
like "$(cat "$T/tty")" 'working \x1b[2J\x1b]0;pwned\x07 on it' \
    "the agent's output, streamed, shows its escapes as text"
has "$T/tty" 'Fixed \x1b[31mthe typo'; ok $? "run escapes the agent's summary"
subject_of "$T/local/.git" "$(sed -n 's/^branch: \(handoff\/local-[0-9]*\).*/\1/p' "$T/tty" | tr -d '\r')" > "$T/subject"
clean_line "$T/subject"; ok $? "the local commit's subject is one clean line"
is "$(cat "$T/subject")" '"Fix [31mit now"' "made of the task's first line"

done_testing
