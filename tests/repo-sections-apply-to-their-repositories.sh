#!/bin/bash
# [repo "PATTERN"] sections: one handoff serve, three repositories. Acme's
# jobs run Acme's own agent command, see a directory its sandbox.extra_ro
# adds, get its branch prefix, and reach a host its sandbox.allow_hosts
# lists through the job's egress proxy (which the others' proxies refuse);
# Slow/Repo's agent timeout ends its job "timed out" where the same agent
# finishes in another repository; check-config --repo prints each one's
# settings. An agent.env in a [repo] section that names a secret's
# variable is refused like one in [agent].
. "$SRCDIR/tests/lib.sh"

for tool in bwrap git python3 curl; do
	command -v $tool >/dev/null || { echo "Bail out! $tool is needed"; exit 1; }
done

# A plain HTTP server for the agents to reach.
start_peers

# origin NAME: a bare repository with one commit on main.
origin() {
	bare_origin "$T/$1.git"
}
origin hello
origin acme
origin slow

# Two agents: each writes who it is, whether it sees Acme's directory and
# what its proxy answered for the test's server; the global one takes its
# time when the issue asks it to.
for who in global acme; do
	cat > "$T/agent-$who.sh" <<EOF
#!/bin/sh
echo "$who agent" > agent.txt
if [ -e "$T/acme-only/marker" ]; then
	echo "sees acme-only" >> agent.txt
fi
echo "http: \$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' \\
    http://plain.test:$HTTP_PORT/echo)" >> agent.txt
if grep -q 'take your time' "\$HANDOFF_TASK"; then
	echo "taking my time"
	sleep 8
fi
printf 'written by the $who agent\n' > "\$HANDOFF_SUMMARY"
EOF
	chmod 755 "$T/agent-$who.sh"
done
mkdir -m 755 "$T/acme-only"
echo "only for acme" > "$T/acme-only/marker"
chmod 644 "$T/acme-only/marker"

# Every job has a proxy that lists no host; Acme's lists the test's.
MAX_PARALLEL=3 write_config "[agent]" "command = $T/agent-global.sh" \
    "timeout = 2m" "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M" \
    "network = allowlist" "hosts = plain.test=127.0.0.1" \
    '[repo "acme/*"]' "agent.command = $T/agent-acme.sh" \
    "sandbox.extra_ro = $T/acme-only" "runs.branch_prefix = acme-bot/" \
    "sandbox.allow_hosts = plain.test:$HTTP_PORT" \
    '[repo "Slow/Repo"]' "agent.timeout = 2s"

# issue NUMBER ORIGIN REPOSITORY [BODY]: a labeled issue of REPOSITORY.
issue() {
	sample_with "$(labeled_at "$1" "$T/$2.git" "${4:-}")" \
	    '"full_name": "Codertocat/Hello-World"' "\"full_name\": \"$3\""
}
field() {	# field JOB NAME: a text field of show --json
	"$HANDOFF" -c "$CONFIG" show "$1" --json |
	    sed -n "s/^	\"$2\":	\"\(.*\)\",\$/\1/p"
}
# on_branch JOB FILE: FILE on the job's branch, in whichever mirror has it.
on_branch() {
	for m in "$DATA"/mirrors/*.git; do
		git --git-dir="$m" show "$(field "$1" branch):$2" 2>/dev/null &&
		    return 0
	done
	return 1
}

# check-config --repo: each repository's own settings.
out=$("$HANDOFF" -c "$CONFIG" check-config --repo ACME/web)
is "$?" 0 "check-config --repo exits 0"
like "$out" "# [repo \"acme/*\"] (line" "it names the section that matches"
like "$out" "command = $T/agent-acme.sh" "Acme/Web: Acme's agent command"
like "$out" "branch_prefix = acme-bot/" "and Acme's branch prefix"
like "$out" "timeout = 2m" "and the global agent timeout"
like "$out" "allow_hosts = plain.test:$HTTP_PORT" "and its allow_hosts"
out=$("$HANDOFF" -c "$CONFIG" check-config --repo slow/repo)
like "$out" "command = $T/agent-global.sh" "Slow/Repo: the global command"
like "$out" "[agent]
command = $T/agent-global.sh
timeout = 2s" "and its own timeout"
out=$("$HANDOFF" -c "$CONFIG" check-config)
like "$out" "[repo \"acme/*\"]
agent.command = $T/agent-acme.sh
sandbox.allow_hosts = plain.test:$HTTP_PORT
sandbox.extra_ro = $T/acme-only
runs.branch_prefix = acme-bot/

[repo \"Slow/Repo\"]
agent.timeout = 2s" "check-config prints the sections, in the table's order"
"$HANDOFF" -c "$CONFIG" check-config --repo 'acme/*' >/dev/null 2>"$T/err"
is "$?" 2 "check-config --repo takes a name, not a pattern"

start_serve
r1=$(deliver github issues "$(issue 1 hello Codertocat/Hello-World)")
r2=$(deliver github issues "$(issue 2 acme Acme/Web)")
r3=$(deliver github issues "$(issue 3 slow Slow/Repo "take your time")")
r4=$(deliver github issues "$(issue 4 hello Codertocat/Hello-World "take your time")")
j1=$(jobnum "$r1") j2=$(jobnum "$r2") j3=$(jobnum "$r3") j4=$(jobnum "$r4")
ok "$([ -n "$j1" ] && [ -n "$j2" ] && [ -n "$j3" ] && [ -n "$j4" ]; echo $?)" \
    "four jobs queued: $r1 $r2 $r3 $r4"
for j in $j1 $j2 $j3 $j4; do
	wait_for "job $j to end" ended "$j"
done

# The global agent in Codertocat/Hello-World, Acme's in Acme/Web.
is "$(job_state "$j1")" done "Codertocat/Hello-World's job is done"
like "$(field "$j1" branch)" "handoff/1-" "with the global branch prefix"
is "$(on_branch "$j1" agent.txt)" "global agent
http: 403" \
    "the global agent's change: no Acme directory, its proxy refused Acme's host"
like "$(field "$j1" summary)" "written by the global agent" \
    "its summary is the global agent's"
is "$(job_state "$j2")" done "Acme/Web's job is done"
like "$(field "$j2" branch)" "acme-bot/2-" "on Acme's branch prefix"
is "$(on_branch "$j2" agent.txt)" "acme agent
sees acme-only
http: 200" \
    "Acme's agent's change: it saw Acme's extra_ro, reached Acme's host"
like "$(cat "$T/peers/conn.http" 2>/dev/null)" "accepted" \
    "the test's server had Acme's connection"
is "$(grep -c . "$T/peers/conn.http")" 1 "and no other"
like "$(field "$j2" summary)" "written by the acme agent" \
    "its summary is Acme's agent's"

# The same slow agent: timed out under Slow/Repo's 2s, done under 2m.
is "$(job_state "$j3")" failed "Slow/Repo's job failed"
like "$(field "$j3" error)" "timed out after 2s" "it timed out after its own 2s"
is "$(job_state "$j4")" done "the same agent in Codertocat/Hello-World is done"
log_has "$j4" "taking my time"; ok $? "after taking its time"
stop_serve >/dev/null

# A [repo] section is no way around the check of env lists: a secret's
# variable is refused, with the file and the key's line, by check-config
# and by serve.
export HANDOFF_TEST_REPO_TOKEN="repo-sections-canary-5c1e"
printf '[github]\ntoken = env:HANDOFF_TEST_REPO_TOKEN\n' >> "$CONFIG"
printf '[repo "acme/web"]\nagent.env = LANG, HANDOFF_TEST_REPO_TOKEN\n' \
    >> "$CONFIG"
line=$(grep -n '^agent.env = ' "$CONFIG" | cut -d: -f1)
"$HANDOFF" -c "$CONFIG" check-config >"$T/out" 2>"$T/err"
is "$?" 2 "agent.env with a secret's variable: check-config exits 2"
has "$T/err" "$CONFIG:$line: [repo \"acme/web\"] agent.env: HANDOFF_TEST_REPO_TOKEN is where [github] token"
ok $? "and names the file, the line, the section and the variable"
! has "$T/err" "canary"; ok $? "not the secret's value"
serve_refused "$CONFIG"
is "$status" 2 "serve refuses it too"
# A variable that holds the secret, named in a section of its own.
sed -i '$d' "$CONFIG"
export HANDOFF_TEST_REPO_COPY="Bearer $HANDOFF_TEST_REPO_TOKEN"
printf 'agent.env = HANDOFF_TEST_REPO_COPY\n' >> "$CONFIG"
"$HANDOFF" -c "$CONFIG" check-config >"$T/out" 2>"$T/err"
is "$?" 2 "agent.env with a variable holding the secret: exit 2"
has "$T/err" "agent.env: HANDOFF_TEST_REPO_COPY holds the value of [github] token"
ok $? "and says which secret it holds"
done_testing
