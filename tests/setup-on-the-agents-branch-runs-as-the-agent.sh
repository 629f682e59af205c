#!/bin/bash
# Set-up runs what the repository holds (package.json's scripts, a
# devcontainer.json, any file its commands read). On the default branch
# that is what the maintainers merged; on handoff's own branch it is also
# what an agent wrote in an earlier run. So a revision's set-up, on that
# branch, runs as the agent does: without [setup] env's variables, with
# the agent's network instead of set-up's hosts, and on a layer of that
# branch's own, never one a job on the default branch stands on. Against
# the forge emulator: the first job's set-up has its secret and reaches
# its registry; the revision's has neither and builds its own layer.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3 curl; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

start_peers

GH=octo/widgets
start_emulator 9
emu_source '# widgets'
emu_project github "$GH" "tok-github-$$"
admin POST permissions '{"forge":"github","repo":"'$GH'","user":"maint","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"'$GH'","number":1,"title":"Tidy the README","user":"maint"}' >/dev/null

SECRET="setup-secret-$$-51c0"
export HANDOFF_TEST_SETUP_SECRET=$SECRET
cat > "$T/setup.sh" <<EOF
#!/bin/sh
{
if [ "\${HANDOFF_TEST_SETUP_SECRET:-}" = "$SECRET" ]; then echo "secret: set"
else echo "secret: unset"; fi
echo "registry: \$(curl -s --max-time 20 http://registry.test:$HTTP_PORT/echo 2>/dev/null | head -n 1 | tr -d '\r')"
} > "\$HOME/setup.txt"
EOF
cat > "$T/agent.sh" <<'EOF'
#!/bin/sh
cp "$HOME/setup.txt" "RESULT-$HANDOFF_JOB.txt"
printf 'a line\n' >> README
echo "Added a line." > "$HANDOFF_SUMMARY"
EOF
chmod 755 "$T/setup.sh" "$T/agent.sh"
MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" "token = tok-github-$$" \
    "[agent]" "command = $T/agent.sh" "[sandbox]" "extra_ro = $T/setup.sh" \
    "hosts = registry.test=127.0.0.1" \
    "memory = 512M" "pids = 200" "disk = 256M" \
    "[setup]" "command = $T/setup.sh" "network = allowlist" \
    "allow_hosts = registry.test:$HTTP_PORT" "env = HANDOFF_TEST_SETUP_SECRET"
start_serve

on_branch() {	# on_branch FILE: FILE on handoff's branch in the emulator
	git --git-dir="$T/forge/git/github/$GH.git" show "$BRANCH:$1" 2>&1
}

r=$(deliver github issues "$(delivery gh-label $GH 1 maint)")
j1=$(jobnum "$r")
wait_job_end "$j1"; ok $? "job $j1 ends"
is "$(job_state "$j1")" done "job $j1 (implement, on the default branch) is done"
BRANCH=$("$HANDOFF" -c "$CONFIG" show "$j1" --json | python3 -c \
    'import json, sys; print(json.load(sys.stdin)["branch"])')
r1=$(on_branch "RESULT-$j1.txt")
like "$r1" "secret: set" "on the default branch, set-up has [setup] env"
like "$r1" "registry: GET /echo HTTP/1.1" "and reaches [setup] allow_hosts"

c=$(emu_comment github $GH 1 maint "/agent revise add another line")
r=$(deliver github issue_comment "$(delivery gh-comment $GH 1 maint id=$c assoc=COLLABORATOR "body=/agent revise add another line")")
j2=$(jobnum "$r")
wait_job_end "$j2"; ok $? "job $j2 ends"
is "$(job_state "$j2")" done "job $j2 (revise, on handoff's branch) is done"
r2=$(on_branch "RESULT-$j2.txt")
like "$r2" "secret: unset" "on the agent's commits, set-up has no [setup] env"
is "$(grep '^registry:' <<<"$r2")" "registry: " \
    "nor set-up's network (the agent has none)"
run -c "$CONFIG" logs "$j2"
has "$T/out" "holds commits the default branch has not"
ok $? "the job's log says why"
matches "$(cat "$T/out")" "setup: done: layer [0-9a-f]* built" \
    "the revision builds a layer of its branch's own"
unlike "$(cat "$T/out")" "$SECRET" "the secret is nowhere in the log"
done_testing
