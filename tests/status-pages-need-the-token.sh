#!/bin/bash
# With [web] token every status page needs it, as a Bearer header or the
# cookie the login form sets (a wrong one is refused; /healthz needs none);
# cancel and retry are POSTs that work with the Bearer header or with the
# cookie and the form's csrf field, and change the job in the store; a
# foreign Origin, Sec-Fetch-Site: cross-site, or a cookie without the
# right csrf field is refused with nothing changed; without [web] token
# the pages are open but cancel and retry are refused. The token is in no
# page. Without a token the pages still answer only to addresses,
# localhost and [web] public_url's host (DNS rebinding reads nothing).
. "$SRCDIR/tests/lib.sh"

WEB_TOKEN="web-token-$$-9f3b77a1c0"
write_config "[web]" "token = $WEB_TOKEN"
start_serve
for i in 1 2; do
	r=$(deliver github issues "$(labeled "$i")")
	like "$r" "\"job\":$i" "job $i is queued"
done

# req METHOD PATH [CURL-ARGS...]: status in $code, body in $T/page, headers
# in $T/headers; every body is kept to look for the token in at the end.
n_req=0
req() {
	local m=$1 p=$2
	shift 2
	code=$(curl -s -X "$m" -D "$T/headers" -o "$T/page" -w '%{http_code}' \
	    "$@" "$WEB_URL$p")
	n_req=$((n_req + 1))
	cp "$T/page" "$T/seen.$n_req"
	cp "$T/headers" "$T/seen-headers.$n_req"
}
bearer="Authorization: Bearer $WEB_TOKEN"
state() { "$HANDOFF" -c "$CONFIG" show "$1" --json | sed -n 's/^	"state":	"\(.*\)",$/\1/p'; }
cancel_requested() { python3 -c 'import sqlite3,sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT cancel_requested FROM jobs WHERE id=?", (int(sys.argv[2]),)).fetchone()[0])' "$DATA/handoff.db" "$1"; }

# 1. Reading.
for p in / /jobs/1 /jobs/1/log /metrics; do
	req GET "$p"
	is "$code" 401 "GET $p without the token: 401"
done
has "$T/headers" 'WWW-Authenticate: Bearer'; ok $? "saying how to authenticate"
req GET / -H "Authorization: Bearer wrong-$WEB_TOKEN"
is "$code" 401 "a wrong token: 401"
req GET / -H "Authorization: Bearer ${WEB_TOKEN%?}"
is "$code" 401 "the token less its last character: 401"
req GET /healthz
is "$code" 200 "/healthz needs no token"
req GET / -H "$bearer"
is "$code" 200 "GET / with the Bearer token: 200"
grep -q 'data-job="1"' "$T/page"; ok $? "and lists the jobs"
req GET /jobs/1 -H "$bearer"
is "$code" 200 "GET /jobs/1 with the token: 200"
has "$T/page" '<p id="log-state">queued</p>' &&
    has "$T/page" '<pre id="log" data-src="/jobs/1/log" data-live="1"></pre>'
ok $? "a queued job's log is followed live"
grep -q '<form method="post" action="/jobs/1/cancel" class="action"><input type="hidden" name="csrf" value="[0-9a-f]\{64\}"><button type="submit" id="cancel">' "$T/page"
ok $? "a queued job's page has the cancel form, with a csrf field"
! grep -q 'id="retry"' "$T/page"; ok $? "and no retry"
csrf=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$T/page" | head -n 1)
req GET /jobs/1/log -H "$bearer"
[ "$code" != 401 ]; ok $? "GET /jobs/1/log with the token is let through ($code)"
req GET /metrics -H "$bearer"
is "$code" 200 "GET /metrics with the token: 200"

# 2. The login form.
req POST /login --data-urlencode "token=wrong" --data-urlencode "next=/jobs/1"
is "$code" 401 "signing in with a wrong token: 401"
! grep -qi '^Set-Cookie:' "$T/headers"; ok $? "and no cookie"
req POST /login --data-urlencode "token=$WEB_TOKEN" --data-urlencode "next=/jobs/1"
is "$code" 303 "signing in with the token: 303"
grep -qi '^Location: /jobs/1' "$T/headers"; ok $? "back to where it was going"
cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: \(handoff_session=[0-9a-f]*\);.*/\1/p' "$T/headers")
[ -n "$cookie" ]; ok $? "with a session cookie"
grep -i '^Set-Cookie:' "$T/headers" | grep -q 'HttpOnly; SameSite=Strict'
ok $? "HttpOnly, SameSite=Strict"
req GET / -H "Cookie: $cookie"
is "$code" 200 "the cookie opens /"
req GET / -H "Cookie: handoff_session=${cookie#handoff_session=}0"
is "$code" 401 "a wrong cookie does not"

# 3. Cancel with the Bearer token: a queued job is cancelled at once.
req POST /jobs/1/cancel -H "$bearer"
is "$code" 303 "POST /jobs/1/cancel with the Bearer token: 303"
grep -qi '^Location: /jobs/1' "$T/headers"; ok $? "to the job's page"
is "$(state 1)" cancelled "job 1 is cancelled in the store"
req POST /jobs/1/cancel -H "$bearer"
is "$code" 409 "cancelling it again: 409"
has "$T/page" 'job 1 has already ended (cancelled); nothing to cancel'
ok $? "saying why"
req POST /jobs/99/cancel -H "$bearer"
is "$code" 404 "cancelling an unknown job: 404"
req POST /jobs/1/retry -H "$bearer" -H "Origin: https://evil.example"
is "$code" 403 "the Bearer token from a foreign Origin is refused"
req GET /jobs/1 -H "$bearer"
grep -q 'id="retry"' "$T/page" && ! grep -q 'id="cancel"' "$T/page"
ok $? "a cancelled job's page has the retry form, not cancel"

# 4. Retry with the cookie and the form's csrf field, as the page posts it.
form="csrf=$csrf"
host="127.0.0.1:$WEB_PORT"
req POST /jobs/1/retry -H "Cookie: $cookie" --data "$form" \
    -H "Origin: https://evil.example"
is "$code" 403 "a foreign Origin is refused"
req POST /jobs/1/retry -H "Cookie: $cookie" --data "$form" \
    -H "Origin: http://$host.evil.example"
is "$code" 403 "an origin that only starts like ours is refused"
req POST /jobs/1/retry -H "Cookie: $cookie" --data "$form" \
    -H "Sec-Fetch-Site: cross-site"
is "$code" 403 "Sec-Fetch-Site: cross-site is refused"
req POST /jobs/1/retry -H "Cookie: $cookie" --data "$form" \
    -H "Sec-Fetch-Site: same-site"
is "$code" 403 "Sec-Fetch-Site: same-site (a sibling host) is refused"
req POST /jobs/1/retry -H "Cookie: $cookie" --data "x=1"
is "$code" 403 "the cookie without the csrf field is refused"
# The right field with its last character changed (to 0, or to 1 where it
# was 0 already: a "wrong" field equal to the right one proves nothing).
case $csrf in *0) wrong="${csrf%?}1" ;; *) wrong="${csrf%?}0" ;; esac
[ "$wrong" != "$csrf" ] || echo "Bail out! the wrong csrf field equals the right one"
req POST /jobs/1/retry -H "Cookie: $cookie" --data "csrf=$wrong"
is "$code" 403 "the cookie with a wrong csrf field is refused"
req POST /jobs/1/retry -H "Cookie: $cookie" --data "x=1" \
    -H "Authorization: Basic eDp5"
is "$code" 403 "another Authorization scheme does not stand in for the csrf field"
is "$(job_count)" 2 "none of those made a job"
is "$(state 1)" cancelled "job 1 is as it was"
req POST /jobs/1/retry -H "Cookie: $cookie" --data "$form" \
    -H "Origin: http://$host" -H "Sec-Fetch-Site: same-origin"
is "$code" 303 "the page's own form: 303"
grep -qi '^Location: /jobs/3' "$T/headers"; ok $? "to the new job's page"
is "$(state 3)" queued "job 3 is queued, retrying job 1"

# 5. A script: JSON with the Bearer token.
req POST /jobs/3/retry -H "$bearer" -H "Accept: application/json"
is "$code" 409 "retrying a queued job: 409"
has "$T/page" 'job 3 has not failed or been cancelled (queued); nothing to retry'
ok $? "saying why"
req POST /jobs/2/cancel -H "Cookie: $cookie" --data "csrf=$csrf" \
    -H "Sec-Fetch-Site: cross-site"
is "$(state 2)" queued "job 2 stays queued after a cross-site cancel"
req POST /jobs/2/cancel -H "$bearer" -H "Accept: application/json"
is "$code" 200 "cancel as JSON: 200"
is "$(cat "$T/page")" '{"job":2,"state":"cancelled"}' "with the job and its state"
is "$(state 2)" cancelled "job 2 is cancelled in the store"
req POST /jobs/2/retry -H "$bearer" -H "Accept: application/json"
is "$(cat "$T/page")" '{"job":4,"state":"queued"}' "retry as JSON names the new job"
req POST /jobs/2/retry -H "$bearer" -H "Accept: application/json"
is "$(cat "$T/page")" '{"job":4,"state":"queued"}' \
    "retrying again names the retry already queued"

# 6. A running job: cancel asks its runner to stop.
python3 -c 'import sqlite3,sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE jobs SET state = ?, step = ? WHERE id = 4", ("running", "sandbox"))
db.commit()' "$DATA/handoff.db"
req GET /jobs/4 -H "$bearer"
has "$T/page" '<p id="log-state">running</p>' && has "$T/page" 'data-live="1"'
ok $? "a running job's log is followed live"
req POST /jobs/4/cancel -H "$bearer" -H "Accept: application/json"
is "$(cat "$T/page")" '{"job":4,"state":"running"}' \
    "cancelling a running job: it runs until its runner stops it"
is "$(cancel_requested 4)" 1 "the store asks its runner to stop"

# 7. The token is in no answer.
leak=0
for f in "$T"/seen.* "$T"/seen-headers.*; do
	grep -q -F "$WEB_TOKEN" "$f" && { leak=1; echo "# the token is in $f"; }
done
is "$leak" 0 "the token is in no page and no header ($n_req answers)"

# 8. Without [web] token: the pages are open, the actions refused.
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly, every page freed"
write_config
start_serve
req GET /jobs/3 -H "Origin: http://127.0.0.1:$WEB_PORT"
is "$code" 200 "without a token the pages are open"
! grep -q '<form method="post"' "$T/page"; ok $? "with no forms"
req POST /jobs/3/cancel
is "$code" 403 "a cancel without [web] token is refused"
has "$T/page" 'need [web] token'; ok $? "saying why"
req POST /jobs/1/retry -H "Accept: application/json"
is "$code" 403 "and so is a retry"
is "$(state 3)" queued "job 3 is still queued"
is "$(job_count)" 4 "no job was made"

# 9. Open pages still answer only to their own names: a page elsewhere
# whose name it pointed at this address (DNS rebinding) reads nothing.
req GET /jobs/3 -H "Host: rebind.evil.example:$WEB_PORT"
is "$code" 403 "a request naming another host is refused"
! has "$T/page" 'data-job' && ! has "$T/page" '<h1>'; ok $? "with nothing of the page"
req GET / -H "Host: rebind.evil.example"
is "$code" 403 "without a port too"
req GET /healthz -H "Host: lb.internal.example"
is "$code" 200 "/healthz answers a load balancer by any name"
req GET / -H "Host: localhost:$WEB_PORT"
is "$code" 200 "localhost is ours"
req GET / -H "Host: [::1]:$WEB_PORT"
is "$code" 200 "so is an address"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly, every page freed"
write_config "[web]" "public_url = https://Handoff.Example.org/"
start_serve
req GET / -H "Host: handoff.example.org"
is "$code" 200 "and [web] public_url's host"
req GET / -H "Host: example.org"
is "$code" 403 "but not its parent"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly, every page freed"
done_testing
