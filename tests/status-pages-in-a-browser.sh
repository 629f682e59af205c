#!/bin/bash
# A real browser (headless Chromium) on the status pages: refused without
# the token; signed in, the list shows an issue titled
# <script>alert(1)</script> as text and runs nothing; the Cancel and Retry
# buttons act on a queued job (their forms pass the cross-site checks a
# real browser's requests meet); a running job's page
# shows log lines as the agent writes them, then the end; the finished
# job's page shows its diff. Screenshots land in tests/artefacts/.
. "$SRCDIR/tests/lib.sh"

PY=/usr/bin/python3	# Debian's, with Debian's selenium
for t in bwrap git chromium /usr/bin/chromedriver; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed (contrib/install-deps.sh --test)"; exit 1; }
done
$PY -c 'import selenium' 2>/dev/null ||
    { echo "Bail out! python3-selenium is needed (contrib/install-deps.sh --test)"; exit 1; }

TOKEN="ghp_browser_$$_5d1c"
WEBTOKEN="status-pages-token-$$-7f3a"
HOSTILE='<script>alert(1)</script>'
ART="$PWD/tests/artefacts"
mkdir -p "$ART"
rm -f "$ART"/status-*.png	# this run's, not an earlier one's
start_emulator 11
emu_source "$(printf '# Hello-World\n\nRemember to committ often.')"
emu_project github Codertocat/Hello-World "$TOKEN"
admin POST permissions '{"forge":"github","repo":"Codertocat/Hello-World","user":"Codertocat","permission":"write"}' >/dev/null
admin POST issues '{"forge":"github","repo":"Codertocat/Hello-World","number":1,"title":"'"$HOSTILE"'","body":"Fix the spelling.","user":"Codertocat"}' >/dev/null
admin POST issues '{"forge":"github","repo":"Codertocat/Hello-World","number":2,"title":"A second issue","body":"Waits behind the first.","user":"Codertocat"}' >/dev/null

# The agent: a line, then waits at two gates the browser opens, then fixes
# the spelling (contrib/agents/demo.sh).
mkdir -p "$T/gate"
cat > "$T/agent.sh" <<AGENT
#!/bin/sh
echo "agent: waiting at gate one"
i=0; while [ ! -e $T/gate/one ] && [ \$i -lt 1800 ]; do sleep 0.1; i=\$((i+1)); done
echo "agent: waiting at gate two"
i=0; while [ ! -e $T/gate/two ] && [ \$i -lt 1800 ]; do sleep 0.1; i=\$((i+1)); done
sh $SRCDIR/contrib/agents/demo.sh
echo "agent finished"
AGENT
chmod +x "$T/agent.sh"
MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" \
    "token = $TOKEN" "[web]" "token = $WEBTOKEN" \
    "[agent]" "command = $T/agent.sh" "[sandbox]" \
    "extra_ro = $T/gate, $SRCDIR/contrib/agents" \
    "memory = 512M" "pids = 200" "disk = 256M"
start_serve

sed -e "s|https://github.com/Codertocat/Hello-World.git|$E/github/git/Codertocat/Hello-World.git|" \
    -e 's|"default_branch": "master"|"default_branch": "main"|' \
    -e 's|"title": "Spelling error in the README file"|"title": "<script>alert(1)</script>"|' \
    "$SAMPLES/github/derived/issues.labeled.agent.json" > "$T/issue.json"
like "$(deliver github issues "$T/issue.json")" '"job":1' "the issue is queued"
wait_for "the agent's first line" log_has 1 "waiting at gate one"
ok $? "the agent runs and waits at gate one"
sed -e 's|"number": 1,|"number": 2,|' -e 's|"title": "<script>alert(1)</script>"|"title": "A second issue"|' \
    "$T/issue.json" > "$T/issue-2.json"
like "$(deliver github issues "$T/issue-2.json")" '"job":2' "a second issue is queued behind it"

$PY "$SRCDIR/tests/browser.py" "$WEB_URL" "$WEBTOKEN" "$T/gate" "$ART" \
    > "$T/browser.out" 2> "$T/browser.err"
bstatus=$?
while read -r verdict what; do
	case $verdict in
	PASS) ok 0 "browser: $what" ;;
	FAIL) ok 1 "browser: $what" ;;
	esac
done < "$T/browser.out"
[ $bstatus -eq 0 ] || sed 's/^/# /' "$T/browser.err" | tail -n 30
is "$bstatus" 0 "the browser session ran to its end"
wait_job_end 1
is "$(job_state 1)" done "job 1 is done"
is "$(job_state 2)" cancelled "job 2 was cancelled by the page's button"
is "$(job_state 3)" cancelled "job 3, its retry, too"
for s in refused index live job; do
	[ -s "$ART/status-$s.png" ]
	ok $? "screenshot tests/artefacts/status-$s.png written"
done
grep -rq "$WEBTOKEN" "$T/serve.log" "$DATA/jobs/1/log"
is $? 1 "the status pages' token is in no log"
done_testing
