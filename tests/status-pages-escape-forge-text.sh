#!/bin/bash
# Every string from a forge, the agent or a log reaches the status pages
# as text: an issue titled <script>alert(1)</script>, a hostile login and
# body, a file name and diff line holding HTML, the agent's log and
# summary, a refused host's name, shown escaped in / and /jobs/N (the raw
# HTML holds none of them as markup); a javascript: pull request URL is
# no link; what a request's query puts back in a page is escaped too; the
# pages carry a Content-Security-Policy without inline script.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

bare_origin "$T/origin.git"

cat > "$T/agent.sh" <<'EOF'
#!/bin/sh
set -e
echo 'agent says <script>alert(6)</script>'
printf 'plain\n<script>alert(5)</script>\n' > '<img src=x onerror=alert(4)>.txt'
printf '<script>alert(7)</script>\n' > "$HANDOFF_SUMMARY"
EOF
chmod +x "$T/agent.sh"
MAX_PARALLEL=1 write_config "[agent]" "command = $T/agent.sh" \
    "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M"
start_serve

# The labeled issue with a hostile title, body and login, from our origin.
python3 - "$SAMPLES/github/derived/issues.labeled.agent.json" \
    "$T/origin.git" > "$T/issue.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["repository"].update({"clone_url": sys.argv[2], "default_branch": "main"})
d["issue"]["title"] = "<script>alert(1)</script>"
d["issue"]["body"] = "</pre><script>alert(3)</script>"
d["sender"]["login"] = "\"><svg onload=alert(2)>"
print(json.dumps(d))
PY
r=$(deliver github issues "$T/issue.json")
like "$r" '"job":1' "the hostile issue is queued"
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 is done"
python3 - "$DATA/handoff.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO egress (job_id, host, port, address, allowed, reason,"
    " bytes_in, bytes_out, duration_ms, at) VALUES (1, ?, 443, NULL, 0, ?,"
    " 0, 0, 0, ?)", ("<script>alert(8)</script>", "\"><i>",
    int(time.time() * 1000)))
db.execute("INSERT INTO usage (job_id, model, cost_micros, at)"
    " VALUES (1, '<script>alert(9)</script>', 10, 0)")
db.commit()
PY

# markup FILE WHAT: FILE has no markup but the pages' own: one script
# element (ours), no event handler or style attribute, no element an
# injection would bring.
markup() {
	is "$(grep -o '<script[^>]*>' "$1" | sort | uniq -c | sed 's/^ *//')" \
	    '1 <script src="/static/live.js" defer>' "$2: the only script is ours"
	! grep -Eiq '<[a-z][^>]*[[:space:]"/]on[a-z]+[[:space:]]*=' "$1"
	ok $? "$2: no event handler attribute"
	! grep -Eiq '<[a-z][^>]*[[:space:]]style[[:space:]]*=' "$1"
	ok $? "$2: no style attribute"
	! grep -Eiq '<(img|svg|i)[[:space:]>]' "$1"
	ok $? "$2: no injected element"
	! grep -q '<script>alert' "$1"; ok $? "$2: no <script>alert"
}
get() {
	code=$(curl -s -D "$T/headers" -o "$T/page" -w '%{http_code}' "$WEB_URL$1")
}

get /
is "$code" 200 "GET / is 200"
markup "$T/page" "/"
grep -q '<td class="title" data-label="title"><a href="/jobs/1">&lt;script&gt;alert(1)&lt;/script&gt;</a>' "$T/page"
ok $? "/: the title is shown as text"
has "$T/page" '&quot;&gt;&lt;svg onload=alert(2)&gt;'
ok $? "/: so is the login"
grep -qi '^Content-Security-Policy: default-src .none.; script-src .self.;' "$T/headers"
ok $? "/: a Content-Security-Policy allows only our own script"

get /jobs/1
is "$code" 200 "GET /jobs/1 is 200"
markup "$T/page" "/jobs/1"
has "$T/page" '<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>'
ok $? "/jobs/1: the heading is the title as text"
has "$T/page" '<title>&lt;script&gt;alert(1)&lt;/script&gt; · handoff</title>'
ok $? "/jobs/1: and so is <title>"
has "$T/page" '&lt;/pre&gt;&lt;script&gt;alert(3)&lt;/script&gt;'
ok $? "/jobs/1: the body in task.md cannot close its <pre>"
has "$T/page" '&lt;img src=x onerror=alert(4)&gt;.txt</span>'
ok $? "/jobs/1: the file name is text"
has "$T/page" '<span class="add">+&lt;script&gt;alert(5)&lt;/script&gt;</span>'
ok $? "/jobs/1: the diff line is text"
has "$T/page" 'agent says &lt;script&gt;alert(6)&lt;/script&gt;'
ok $? "/jobs/1: the log line is text"
has "$T/page" '<pre>&lt;script&gt;alert(7)&lt;/script&gt;'
ok $? "/jobs/1: the agent's summary is text"
has "$T/page" '&lt;script&gt;alert(8)&lt;/script&gt;:443</span>: &quot;&gt;&lt;i&gt;'
ok $? "/jobs/1: the refused host and reason are text"
has "$T/page" '<td>&lt;script&gt;alert(9)&lt;/script&gt;</td>'
ok $? "/jobs/1: the model's name is text"

# A variation: a pull request URL that is not a web address is no link.
python3 -c 'import sqlite3,sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE threads SET pr_url = ?", ("javascript:alert(10)//\"><b>x",))
db.commit()' "$DATA/handoff.db"
get /jobs/1
! grep -qi 'href="javascript:' "$T/page"; ok $? "a javascript: URL is no link"
has "$T/page" '<dd id="pr">javascript:alert(10)//&quot;&gt;&lt;b&gt;x</dd>'
ok $? "it is shown as text"
markup "$T/page" "/jobs/1 with that URL"
get /
! grep -qi 'href="javascript:' "$T/page"; ok $? "nor in the list"

# Another: what the query puts back in a page.
get '/?repo=%22%3E%3Cscript%3Ealert(11)%3C/script%3E&state=%3Cscript%3Ealert(12)%3C/script%3E'
markup "$T/page" "/ with hostile filters"
has "$T/page" 'value="&quot;&gt;&lt;script&gt;alert(11)&lt;/script&gt;"'
ok $? "the repository filter stays inside its attribute"
has "$T/page" 'state &quot;&lt;script&gt;alert(12)&lt;/script&gt;&quot;'
ok $? "the unknown state is told as text"
get '/?repo=%22%3E%3Cscript%3Ealert(13)%3C/script%3E&page=1'
get "/?repo=$(printf '%%22')x&page=2"
grep -q 'href="/?page=1&amp;repo=%22x">newer</a>' "$T/page"
ok $? "a filter in a paging link is percent-encoded, then escaped"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly, every page freed"
done_testing
