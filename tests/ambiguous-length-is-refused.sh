#!/bin/bash
# A request whose body length a proxy in front could read differently (two
# Content-Length headers, one that is not a plain number, one spelt with a
# space before the colon, a body on HEAD, a Transfer-Encoding other than
# chunked or beside Content-Length) is answered 400 and its connection
# closed: the request smuggled in behind it gets no answer and leaves no job
# (RFC 9112 §6.3). Ordinary keep-alive and chunked clients still work.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
write_config
start_serve
S="$SAMPLES/github/derived/issues.labeled.agent.json"

# request OUT BODY-FILE LINE...: the request line and header LINEs, CRLF
# ended, then BODY-FILE's bytes, into OUT.
request() {
	local out=$1 body=$2 l
	shift 2
	{
		for l in "$@"; do printf '%s\r\n' "$l"; done
		printf '\r\n'
		cat "$body"
	} > "$out"
}
size() { wc -c < "$1" | tr -d ' '; }

# A signed delivery that would queue a job, and a GET /metrics.
request "$T/smuggled-hook" "$S" "POST /hooks/github HTTP/1.1" "Host: x" \
    "Content-Type: application/json" "X-GitHub-Event: issues" \
    "X-GitHub-Delivery: smuggled-1" "X-Hub-Signature-256: $(github_sig "$S")" \
    "Content-Length: $(size "$S")"
: > "$T/empty"
request "$T/smuggled-metrics" "$T/empty" "GET /metrics HTTP/1.1" "Host: x"

# front NAME SMUGGLED LINE...: a POST /hooks/github whose body is "{}" and
# then the SMUGGLED request, with the framing header LINEs given.
front() {
	local name=$1 smuggled=$2
	shift 2
	{ printf '{}'; cat "$smuggled"; } > "$T/$name.body"
	request "$T/$name" "$T/$name.body" "POST /hooks/github HTTP/1.1" \
	    "Host: x" "Content-Type: application/json" "X-GitHub-Event: ping" \
	    "X-GitHub-Delivery: front-$name" "$@"
}

# refused NAME WHAT [REASON]: NAME's answer is one 400 (with REASON in its
# JSON, if given) that closes the connection, and nothing else.
refused() {
	local name=$1 what=$2 reason=${3:-}
	python3 "$SRCDIR/tests/raw-http.py" "$PORT" "$T/$name" > "$T/$name.out"
	is "$(head -n 1 "$T/$name.out" | tr -d '\r')" "HTTP/1.1 400 Bad Request" \
	    "$what: 400"
	is "$(grep -a -c '^HTTP/' "$T/$name.out")" 1 \
	    "$what: the request behind it gets no answer"
	is "$(tail -n 1 "$T/$name.out")" "<EOF>" "$what: the connection is closed"
	if [ -n "$reason" ]; then
		has "$T/$name.out" "{\"error\":\"$reason\"}"
		ok $? "$what: the JSON reason says $reason"
		grep -a -q -i '^Connection: close' "$T/$name.out"
		ok $? "$what: the answer says Connection: close"
	fi
}

# The item itself: libevent takes the first Content-Length, a proxy taking
# the last forwards the whole as one request.
L=$(( 2 + $(size "$T/smuggled-hook") ))
front two-cl "$T/smuggled-hook" "Content-Length: 2" "Content-Length: $L"
refused two-cl "two Content-Length headers" "more than one Content-Length"
front two-cl-metrics "$T/smuggled-metrics" "Content-Length: 2" \
    "Content-Length: $(( 2 + $(size "$T/smuggled-metrics") ))"
refused two-cl-metrics "two Content-Length headers before GET /metrics" \
    "more than one Content-Length"
front same-cl "$T/smuggled-metrics" "Content-Length: 2" "content-length: 2"
refused same-cl "two equal Content-Length headers, in two spellings" \
    "more than one Content-Length"

# Not plain digits: libevent reads "+2" as 2 (strtoll).
front plus-cl "$T/smuggled-hook" "Content-Length: +2"
refused plus-cl "Content-Length: +2" "a Content-Length that is not a number"
# libevent refuses "2, 2" itself (a 400 of its own, also closing).
front list-cl "$T/smuggled-hook" "Content-Length: 2, 2"
refused list-cl "Content-Length: 2, 2"

# Transfer-Encoding beside Content-Length: this libevent refuses it itself.
front te-cl "$T/smuggled-hook" "Transfer-Encoding: chunked" "Content-Length: 2"
refused te-cl "Transfer-Encoding and Content-Length"
# A coding before chunked that handoff cannot undo: libevent decodes the
# chunks as if it were not there.
{ printf '0\r\n\r\n'; cat "$T/smuggled-hook"; } > "$T/te-gzip.body"
request "$T/te-gzip" "$T/te-gzip.body" "POST /hooks/github HTTP/1.1" \
    "Host: x" "X-GitHub-Event: ping" "Transfer-Encoding: gzip, chunked"
refused te-gzip "Transfer-Encoding: gzip, chunked" \
    "a Transfer-Encoding other than chunked"

# HEAD: libevent never reads its body, a proxy reads Content-Length's worth.
request "$T/head-cl" "$T/smuggled-hook" "HEAD /healthz HTTP/1.1" "Host: x" \
    "Content-Length: $(size "$T/smuggled-hook")"
refused head-cl "HEAD with a body" "a body on HEAD"

# A space before the colon (RFC 9112 §5.1): libevent keeps a header named
# "Content-Length " and reads no body; a lenient proxy reads 2 + the rest.
request "$T/space-cl" "$T/smuggled-hook" "POST /hooks/github HTTP/1.1" \
    "Host: x" "X-GitHub-Event: ping" \
    "Content-Length : $(size "$T/smuggled-hook")"
refused space-cl "Content-Length with a space before the colon" \
    "a header name that is not a token"

is "$(job_count)" 0 "no smuggled delivery made a job"
is "$(curl -s "$WEB_URL/metrics" | grep 'forge="github",verdict="queued"')" \
    'handoff_deliveries_total{forge="github",verdict="queued"} 0' \
    "no smuggled delivery was queued"

# A keep-alive client: three requests on one connection, one chunked.
request "$T/ka1" "$S" "POST /hooks/github HTTP/1.1" "Host: x" \
    "Content-Type: application/json" "X-GitHub-Event: issues" \
    "X-GitHub-Delivery: keepalive-1" "X-Hub-Signature-256: $(github_sig "$S")" \
    "Content-Length: $(size "$S")"
request "$T/ka2" "$T/empty" "GET /healthz HTTP/1.1" "Host: x"
S2=$(sample_with "$S" '"number": [0-9]*' '"number": 4242')
{ printf '%x\r\n' "$(size "$S2")"; cat "$S2"; printf '\r\n0\r\n\r\n'; } > "$T/ka3.body"
request "$T/ka3" "$T/ka3.body" "POST /hooks/github HTTP/1.1" "Host: x" \
    "Content-Type: application/json" "X-GitHub-Event: issues" \
    "X-GitHub-Delivery: keepalive-2" "X-Hub-Signature-256: $(github_sig "$S2")" \
    "Transfer-Encoding: chunked"
python3 "$SRCDIR/tests/raw-http.py" --each "$PORT" "$T/ka1" "$T/ka2" "$T/ka3" \
    > "$T/ka.out"
is "$(grep -a '^HTTP/' "$T/ka.out" | tr -d '\r' | tr '\n' ,)" \
    "HTTP/1.1 202 Accepted,HTTP/1.1 200 OK,HTTP/1.1 202 Accepted," \
    "a keep-alive client gets its three answers on one connection"
is "$(job_count)" 2 "its two deliveries (one chunked) made two jobs"
is "$(curl -s --max-time 5 "$URL/healthz")" ok "serve is healthy"
done_testing
