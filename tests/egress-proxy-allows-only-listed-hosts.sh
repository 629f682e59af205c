#!/bin/sh
# `handoff proxy --job N` over its unix socket: an allowed name pinned to a
# local server is reached with CONNECT (TLS verified end to end) and with
# plain HTTP; names and addresses not allowed, every other spelling of
# loopback, a wildcard's apex and a port not listed are refused with 403
# and nothing dialed; a name that resolves to loopback is refused though
# listed; max_egress cuts a big download and refuses what follows; every
# attempt is a line of egress.jsonl, every refusal a line on stderr.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
PEERS="$SRCDIR/tests/egress-peers.py"
DATA="$T/data"
PROXY_PIDS=
EXTRA_CLEANUP='for p in $PROXY_PIDS $PEERS_PID; do kill -9 $p 2>/dev/null; done'

# A CA and a certificate for tls.test signed by it.
test_certs "$T/certs" tls.test DNS:tls.test
cp "$T/certs/ca.pem" "$T/ca.pem"
cp "$T/certs/tls.test.pem" "$T/tls.pem"
cp "$T/certs/tls.test.key" "$T/tls.key"

python3 "$PEERS" serve "$T" "$T/tls.pem" "$T/tls.key" 2>"$T/peers.err" &
PEERS_PID=$!
wait_for "the test's servers" test -f "$T/ports" ||
    { echo "Bail out! servers did not start"; cat "$T/peers.err"; exit 1; }
read -r TLS_PORT HTTP_PORT CANARY < "$T/ports"

# proxy_config FILE INI-LINES...: a config with these [sandbox] lines.
proxy_config() {
	f=$1
	shift
	{
		printf '[server]\ndata_dir = %s\n[sandbox]\nnetwork = allowlist\n' \
		    "$DATA"
		for line in "$@"; do printf '%s\n' "$line"; done
	} > "$f"
}

# start_proxy CONFIG JOB: the proxy, until it says it is ready.
start_proxy() {
	: > "$T/ready.$2"
	"$HANDOFF" -c "$1" proxy --job "$2" --ready 3 3>"$T/ready.$2" \
	    2>"$T/proxy.$2.err" &
	PROXY_PIDS="$PROXY_PIDS $!"
	eval "PROXY_$2=$!"
	wait_for "proxy $2" grep -q ready "$T/ready.$2"
}

proxy_config "$T/one.ini" \
    "allow_hosts = tls.test:$TLS_PORT, plain.test:$HTTP_PORT, *.wild.test, down.test:1" \
    "hosts = tls.test=127.0.0.1, plain.test=127.0.0.1, wild.test=127.0.0.1, blocked.test=127.0.0.1, down.test=127.0.0.1" \
    "max_egress = 4M"
start_proxy "$T/one.ini" 1
ok $? "the proxy says it is ready on the descriptor it was given"
SOCK="$DATA/jobs/1/net/proxy.sock"
ok "$([ -S "$SOCK" ]; echo $?)" "it listens on jobs/1/net/proxy.sock"
# Only its user lists the directory; as root the sandbox's relay (another
# user, holding it open) may pass through it to the socket.
if [ "$(id -u)" -eq 0 ]; then want=711; else want=700; fi
is "$(stat -c %a "$DATA/jobs/1/net")" "$want" "in a directory only its user lists"
# The socket: the relay's alone (as root, the sandbox's host user's).
if [ "$(id -u)" -eq 0 ]; then want="600 65533"; else want="600 $(id -u)"; fi
is "$(stat -c '%a %u' "$SOCK")" "$want" "a socket only the relay may connect to"

ask() {	# ask HEAD [--tls CAFILE NAME]: the answer as JSON in $T/answer
	python3 "$PEERS" ask "$SOCK" "$@" > "$T/answer" 2>"$T/ask.err"
}
field() {	# field NAME: a field of the last answer
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("" if v is None else v)' "$T/answer" "$1"
}
conns() { cat "$T/conn.$1" 2>/dev/null | wc -l; }

# CONNECT to an allowed, pinned name: TLS passes through untouched (the
# client verifies the server's certificate for tls.test).
ask "CONNECT tls.test:$TLS_PORT HTTP/1.1\r\nHost: tls.test:$TLS_PORT\r\n\r\n" \
    --tls "$T/ca.pem" tls.test
is "$(field status)" 200 "CONNECT to an allowed pinned name: 200"
is "$(field inner_status)" 200 "TLS through the tunnel, certificate verified"
is "$(field body)" "hello over tls" "the server's answer arrives untouched"

# The relay's way: the connection handed over the socket with a NUL byte
# (SCM_RIGHTS); the proxy then speaks on that TCP connection. Anything
# else handed over (no descriptor, a unix socket, a listening socket, two
# descriptors) is dropped unanswered.
ask "CONNECT tls.test:$TLS_PORT HTTP/1.1\r\nHost: tls.test:$TLS_PORT\r\n\r\n" \
    --tls "$T/ca.pem" tls.test --pass tcp
is "$(field status)" 200 "a TCP connection handed over: CONNECT answered on it"
is "$(field body)" "hello over tls" "and TLS passes through it untouched"
for kind in none unix listen two; do
	ask "CONNECT tls.test:$TLS_PORT HTTP/1.1\r\n\r\n" --pass $kind
	is "$(field closed)" True "handed over ($kind): dropped unanswered"
done
is "$(grep -c 'came without a TCP socket' "$T/proxy.1.err")" 4 \
    "each drop is a log line"

# Plain HTTP: origin-form to the origin, Host from the URL, hop-by-hop
# headers gone (a Host header of the client's does not choose the origin).
ask "GET http://Plain.Test.:$HTTP_PORT/echo?q=1 HTTP/1.1\r\nHost: blocked.test\r\nProxy-Authorization: Basic c2VjcmV0\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nX-Kept: yes\r\n\r\n"
is "$(field status)" 200 "plain HTTP to an allowed pinned name: 200"
HEAD_SEEN=$(field body)
like "$HEAD_SEEN" "GET /echo?q=1 HTTP/1.1" "the origin gets origin-form"
like "$HEAD_SEEN" "Host: plain.test:$HTTP_PORT" "Host is the URL's"
like "$HEAD_SEEN" "X-Kept: yes" "end-to-end headers kept"
like "$HEAD_SEEN" "Connection: close" "one request per connection"
for h in blocked.test Proxy-Authorization X-Hop Keep-Alive keep-alive; do
	case $HEAD_SEEN in
	*"$h"*) ok 1 "$h does not reach the origin" ;;
	*) ok 0 "$h does not reach the origin" ;;
	esac
done

# Allowed, but nothing listens there: 502, and the reason.
ask "CONNECT down.test:1 HTTP/1.1\r\n\r\n"
is "$(field status)" 502 "an allowed host that refuses the connection: 502"
like "$(field error)" "connect: Connection refused" "saying why"

# Refused: each answered 403 with X-Proxy-Error; the canary sees nothing.
TLS_BEFORE=$(conns tls)
HTTP_BEFORE=$(conns http)
REFUSED=0
refused() {	# refused HOST:PORT WHY-SUBSTRING DESCRIPTION
	ask "CONNECT $1 HTTP/1.1\r\nHost: $1\r\n\r\n"
	REFUSED=$((REFUSED + 1))
	if [ "$(field status)" = 403 ]; then
		like "$(field error)" "$2" "$3: 403, $2"
	else
		ok 1 "$3: 403, $2"
		echo "#   got: $(cat "$T/answer")"
	fi
}
refused "blocked.test:$CANARY" "not in allow_hosts" "a name not allowed (pinned)"
refused "localhost:$CANARY" "not in allow_hosts" "localhost"
refused "127.0.0.1:$CANARY" "not in allow_hosts" "127.0.0.1"
refused "[::1]:$CANARY" "not in allow_hosts" "[::1]"
refused "0.0.0.0:$CANARY" "not in allow_hosts" "0.0.0.0"
refused "169.254.169.254:80" "not in allow_hosts" "169.254.169.254"
refused "10.0.0.1:443" "not in allow_hosts" "10.0.0.1"
refused "2130706433:$CANARY" "not a dotted-decimal IPv4" "decimal IPv4"
refused "0177.0.0.1:$CANARY" "not a dotted-decimal IPv4" "octal IPv4"
refused "0x7f.1:$CANARY" "not a dotted-decimal IPv4" "hex IPv4"
refused "0x7f000001:$CANARY" "not a dotted-decimal IPv4" "hex IPv4, one number"
refused "127.1:$CANARY" "not a dotted-decimal IPv4" "short IPv4"
refused "[::ffff:127.0.0.1]:$CANARY" "not in allow_hosts" "IPv4-mapped IPv6"
refused "[::ffff:7f00:1]:$CANARY" "not in allow_hosts" "IPv4-mapped IPv6, hex"
refused "[64:ff9b::7f00:1]:$CANARY" "not in allow_hosts" "NAT64 form of loopback"
refused "wild.test:$CANARY" "not in allow_hosts" "the apex of a wildcard"
refused "wild.test:443" "not in allow_hosts" "the apex of a wildcard, 443"
refused "tls.test:$CANARY" "port $CANARY not allowed" "a port not allowed"
refused "tls.test:443" "port 443 not allowed" "443 of a name listed with a port"
refused "plain.test:$CANARY" "port $CANARY not allowed" "another port of a plain HTTP name"
ask "GET http://blocked.test:$CANARY/ HTTP/1.1\r\n\r\n"
REFUSED=$((REFUSED + 1))
is "$(field status)" 403 "plain HTTP to a name not allowed: 403"
ask "GET http://2130706433:$CANARY/ HTTP/1.1\r\n\r\n"
REFUSED=$((REFUSED + 1))
is "$(field status)" 403 "plain HTTP to a decimal IPv4: 403"
ask "GET http://user@plain.test:$HTTP_PORT/ HTTP/1.1\r\n\r\n"
REFUSED=$((REFUSED + 1))
is "$(field status)" 400 "a URL with user information: 400"
ask "GET /echo HTTP/1.1\r\nHost: plain.test:$HTTP_PORT\r\n\r\n"
REFUSED=$((REFUSED + 1))
is "$(field status)" 400 "origin-form to the proxy: 400"
is "$(conns canary)" 0 "nothing was dialed for any refusal"
is "$(conns tls):$(conns http)" "$TLS_BEFORE:$HTTP_BEFORE" \
    "the allowed servers saw no refused request either"

# A second request behind an allowed one on the same connection goes, as
# bytes, to the origin already dialed, never to the host it names.
ask "GET http://plain.test:$HTTP_PORT/echo HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET http://blocked.test:$CANARY/ HTTP/1.1\r\n\r\n"
is "$(field status)" 200 "a pipelined pair: the allowed one is answered"
is "$(conns canary)" 0 "the second one's host is never dialed"

# Bounds: a head past 16 KiB; 64 connections at once, the next one
# waits in the backlog until one of them ends.
python3 - "$SOCK" > "$T/big-head" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"CONNECT tls.test:443 HTTP/1.1\r\nX-Pad: " + b"a" * 20000)
print(s.recv(200).split(b"\r\n")[0].decode())
EOF
REFUSED=$((REFUSED + 1))
is "$(cat "$T/big-head")" "HTTP/1.1 431 Request Header Fields Too Large" \
    "a head past 16 KiB: 431"
python3 - "$SOCK" "$CANARY" > "$T/cap" <<'EOF'
import select, socket, sys
held = []
for _ in range(64):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b"CONNECT ")
    held.append(s)
extra = socket.socket(socket.AF_UNIX)
extra.connect(sys.argv[1])
extra.sendall(b"CONNECT blocked.test:%s HTTP/1.1\r\n\r\n" % sys.argv[2].encode())
r, _, _ = select.select([extra], [], [], 2)
print("waiting" if not r else "answered")
held.pop().close()
r, _, _ = select.select([extra], [], [], 30)
print(extra.recv(100).split(b"\r\n")[0].decode() if r else "no answer")
EOF
REFUSED=$((REFUSED + 1))
is "$(sed -n 1p "$T/cap")" waiting "the 65th connection is not served"
is "$(sed -n 2p "$T/cap")" "HTTP/1.1 403 Forbidden" \
    "until one of the 64 ends"

# A name listed but resolving to loopback (not pinned) is refused after the
# lookup, before any dial; handoff's own lookup of /etc/hosts.
proxy_config "$T/two.ini" "allow_hosts = localhost:$CANARY"
start_proxy "$T/two.ini" 2
SOCK="$DATA/jobs/2/net/proxy.sock"
ask "CONNECT localhost:$CANARY HTTP/1.1\r\n\r\n"
is "$(field status)" 403 "localhost listed but not pinned: 403"
like "$(field error)" "loopback" "the reason names loopback"
ask "GET http://localhost:$CANARY/ HTTP/1.1\r\n\r\n"
is "$(field status)" 403 "the same by plain HTTP: 403"
is "$(conns canary)" 0 "still nothing dialed"
SOCK="$DATA/jobs/1/net/proxy.sock"

# max_egress (4M) cuts an 8 MiB download, then refuses new connections.
ask "GET http://plain.test:$HTTP_PORT/big HTTP/1.1\r\n\r\n"
is "$(field status)" 200 "the big download starts"
LEN=$(field body_len)
ok "$([ "$LEN" -gt 0 ] && [ "$LEN" -lt 4194304 ]; echo $?)" \
    "it is cut before 4 MiB arrive ($LEN bytes of 8 MiB)"
ask "CONNECT tls.test:$TLS_PORT HTTP/1.1\r\n\r\n" --tls "$T/ca.pem" tls.test
REFUSED=$((REFUSED + 1))
is "$(field status)" 403 "past max_egress a new connection is refused"
like "$(field error)" "max_egress" "saying why"

kill -TERM "$PROXY_1" "$PROXY_2"
wait "$PROXY_1"
is "$?" 0 "SIGTERM stops the proxy cleanly"
wait "$PROXY_2"
is "$?" 0 "the second one too"
! grep -q -e 'Sanitizer' -e 'runtime error' "$T"/proxy.*.err
ok $? "no sanitizer report from either"
ok "$([ ! -e "$DATA/jobs/1/net/proxy.sock" ]; echo $?)" "its socket is gone"

# The records: every attempt, as INTERFACE.md's `egress` fields.
python3 - "$DATA/jobs/1/net/egress.jsonl" "$TLS_PORT" "$HTTP_PORT" \
    "$REFUSED" > "$T/records" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
tls, http, refused = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fields = {"host", "port", "address", "allowed", "reason", "bytes_in",
          "bytes_out", "duration_ms"}
print("fields", all(fields <= set(r) for r in recs))
t = [r for r in recs if r["host"] == "tls.test" and r["allowed"]]
# one asked on the socket itself, one on a connection handed over
print("tls", len(t) == 2 and all(r["port"] == tls and
      r["address"] == "127.0.0.1" and r["bytes_in"] > 0 and
      r["bytes_out"] > 0 and r["reason"] == "" for r in t))
big = [r for r in recs if r["host"] == "plain.test" and r["allowed"] and
       "max_egress" in r["reason"]]
print("cut", len(big) == 1 and big[0]["bytes_in"] > 0 and
      big[0]["bytes_in"] + big[0]["bytes_out"] <= 4 * 1024 * 1024)
total = sum(r["bytes_in"] + r["bytes_out"] for r in recs)
print("total", total == 4 * 1024 * 1024)
no = [r for r in recs if not r["allowed"]]
print("refused", len(no) == refused and all(r["address"] == "" and
      r["bytes_in"] == 0 and r["bytes_out"] == 0 for r in no))
print("down", any(r["host"] == "down.test" and r["allowed"] and
      r["address"] == "127.0.0.1" and "refused" in r["reason"] for r in recs))
print("named", any(r["host"] == "blocked.test" and
      r["reason"] == "not in allow_hosts" for r in no))
EOF
for what in fields tls cut total refused down named; do
	has "$T/records" "$what True"
	ok $? "egress.jsonl: $what"
done
has "$DATA/jobs/2/net/egress.jsonl" '"host":"localhost","port":'"$CANARY"
ok $? "egress.jsonl of job 2: localhost"
grep -q '"allowed":false,"reason":"resolves to [0-9a-f:.]*, loopback"' \
    "$DATA/jobs/2/net/egress.jsonl"
ok $? "egress.jsonl of job 2: refused, with the address it resolved to"
is "$(grep -c ' warn proxy: job 1: refused ' "$T/proxy.1.err")" "$REFUSED" \
    "one log line per refusal"
has "$T/proxy.1.err" "refused blocked.test:$CANARY: not in allow_hosts"
ok $? "the log line names host, port and reason"

# Fails closed: when it cannot make its directory it never says ready.
printf x > "$DATA/jobs/3"
proxy_config "$T/three.ini" "allow_hosts = tls.test"
"$HANDOFF" -c "$T/three.ini" proxy --job 3 --ready 3 3>"$T/ready.3" \
    2>"$T/proxy.3.err"
is "$?" 1 "no directory for its socket: exit 1"
is "$(cat "$T/ready.3")" "" "and no ready line"

# Nothing above depends on who runs the proxy: the same as a user.
rerun_as_user "every check above passes with the proxy run by handoff-esc"

done_testing
