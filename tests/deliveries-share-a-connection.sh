#!/bin/bash
# Deliveries that share one connection: httpd reads a plain POST to a
# webhook path itself and the answer leaves from the writer after the
# commit, so the cases evhttp used to handle must still hold. Requests sent
# together are answered one by one in order; a request in pieces waits for
# its last byte; another path or an unusual request on the same connection
# goes to evhttp with nothing lost; Connection: close and HTTP/1.0 close
# after the answer; a client that leaves before its answer still gets its
# job; and one that sends without ever reading has its connection closed
# while serve goes on serving everyone else.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
write_config
start_serve

# client.py PORT FILE ANSWERS [PIECE]: FILE's bytes on one connection (in
# PIECE-byte writes 5 ms apart if given), then ANSWERS whole answers read by
# their Content-Length; prints each status line, the value of its
# Connection header and its body, then "<EOF>" when the server closes the
# connection within a second, "<OPEN>" when it does not.
cat > "$T/client.py" <<'EOF'
import socket, sys, time
port, path, want = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
piece = int(sys.argv[4]) if len(sys.argv) > 4 else 0
data = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(30)
if piece:
    for i in range(0, len(data), piece):
        s.sendall(data[i:i + piece])
        time.sleep(0.005)
else:
    s.sendall(data)
buf = b""
for _ in range(want):
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            print("<EOF too soon>")
            sys.exit(0)
        buf += b
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        fields[k.strip().lower()] = v.strip()
    n = int(fields.get("content-length", "0"))
    while len(buf) < n:
        buf += s.recv(65536)
    body, buf = buf[:n], buf[n:]
    print(lines[0], fields.get("connection", "-"), body.decode().strip())
s.settimeout(1)
try:
    print("<EOF>" if s.recv(1) == b"" else "<MORE>")
except socket.timeout:
    print("<OPEN>")
except ConnectionResetError:
    print("<EOF>")
EOF
client() { python3 "$T/client.py" "$PORT" "$@"; }

# hook FILE ID [LINE...]: a signed POST /hooks/github of FILE as delivery ID
# (HTTP/1.1 unless a LINE says otherwise: extra header lines, CRLF ended).
hook() {
	local file=$1 id=$2 proto=HTTP/1.1 l
	shift 2
	case "${1:-}" in HTTP/*) proto=$1; shift ;; esac
	printf 'POST /hooks/github %s\r\nHost: x\r\n' "$proto"
	printf 'Content-Type: application/json\r\nX-GitHub-Event: issues\r\n'
	printf 'X-GitHub-Delivery: %s\r\nX-Hub-Signature-256: %s\r\n' "$id" \
	    "$(github_sig "$file")"
	for l in "$@"; do printf '%s\r\n' "$l"; done
	printf 'Content-Length: %s\r\n\r\n' "$(wc -c < "$file" | tr -d ' ')"
	cat "$file"
}

jobs0=$(job_count)

# Three deliveries in one write: three answers, in their order.
{ hook "$(labeled 101)" d-101; hook "$(labeled 102)" d-102
  hook "$(labeled 103)" d-103; } > "$T/three"
client "$T/three" 3 > "$T/three.out"
is "$(grep -c '^HTTP/1.1 202 Accepted - {"verdict":"queued"' "$T/three.out")" 3 \
    "three deliveries in one write: three 202s"
is "$(sed -n 's/.*"delivery":"\([^"]*\)".*/\1/p' "$T/three.out" | tr '\n' ' ')" \
    "d-101 d-102 d-103 " "answered in the order they were sent"
is "$(tail -n 1 "$T/three.out")" "<OPEN>" "the connection stays open"
j1=$(jobnum "$(sed -n 1p "$T/three.out")")
j3=$(jobnum "$(sed -n 3p "$T/three.out")")
is "$(( j3 - j1 ))" 2 "their jobs are made in that order"

# One delivery in 601-byte pieces: one answer once its last byte is in.
hook "$(labeled 104)" d-104 > "$T/pieces"
client "$T/pieces" 1 601 > "$T/pieces.out"
like "$(sed -n 1p "$T/pieces.out")" '"delivery":"d-104"' \
    "a delivery sent 601 bytes at a time is queued"

# A ping trickled in 3-byte pieces, head and all: httpd looks for the end
# of the head where it last stopped, and answers once the body is in.
printf '{"zen":"Keep it logically awesome.","hook_id":1}' > "$T/ping.json"
{ printf 'POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
  printf 'X-GitHub-Event: ping\r\nX-GitHub-Delivery: d-ping\r\n'
  printf 'X-Hub-Signature-256: %s\r\nContent-Length: %s\r\n\r\n' \
      "$(github_sig "$T/ping.json")" "$(wc -c < "$T/ping.json" | tr -d ' ')"
  cat "$T/ping.json"; } > "$T/trickle"
client "$T/trickle" 1 3 > "$T/trickle.out"
like "$(sed -n 1p "$T/trickle.out")" 'HTTP/1.1 200 OK - {"verdict":"ignored"' \
    "a ping sent 3 bytes at a time is answered"

# A delivery, a GET /healthz, a delivery: the GET goes to evhttp, and so
# does everything after it on the connection; nothing is lost or reordered.
{ hook "$(labeled 105)" d-105; printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
  hook "$(labeled 106)" d-106; } > "$T/mixed"
client "$T/mixed" 3 > "$T/mixed.out"
like "$(sed -n 1p "$T/mixed.out")" '"delivery":"d-105"' "mixed: first the delivery"
like "$(sed -n 2p "$T/mixed.out")" 'HTTP/1.1 200 OK' "then /healthz"
like "$(sed -n 3p "$T/mixed.out")" '"delivery":"d-106"' \
    "then the delivery after it, through evhttp"

# Chunked: evhttp reads it, as before.
{ printf 'POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
  printf 'X-GitHub-Event: issues\r\nX-GitHub-Delivery: d-107\r\n'
  printf 'X-Hub-Signature-256: %s\r\nTransfer-Encoding: chunked\r\n\r\n' \
      "$(github_sig "$(labeled 107)")"
  printf '%x\r\n' "$(wc -c < "$T/labeled-107.json")"; cat "$T/labeled-107.json"
  printf '\r\n0\r\n\r\n'; } > "$T/chunked"
client "$T/chunked" 1 > "$T/chunked.out"
like "$(sed -n 1p "$T/chunked.out")" '"delivery":"d-107"' \
    "a chunked delivery is queued"

# Connection: close, and HTTP/1.0: the answer, then the end.
hook "$(labeled 108)" d-108 "Connection: close" > "$T/close"
client "$T/close" 1 > "$T/close.out"
like "$(sed -n 1p "$T/close.out")" 'HTTP/1.1 202 Accepted close {"verdict"' \
    "Connection: close: answered with Connection: close"
is "$(tail -n 1 "$T/close.out")" "<EOF>" "and the connection closed"
hook "$(labeled 109)" d-109 HTTP/1.0 > "$T/old"
client "$T/old" 1 > "$T/old.out"
like "$(sed -n 1p "$T/old.out")" 'HTTP/1.0 202 Accepted' "HTTP/1.0: queued"
is "$(tail -n 1 "$T/old.out")" "<EOF>" "HTTP/1.0: the connection closed"

# A client that leaves right after sending: its delivery is still a job.
hook "$(labeled 110)" d-110 > "$T/gone"
python3 - "$PORT" "$T/gone" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(open(sys.argv[2], "rb").read())
s.close()
EOF
ten_jobs() { [ "$(job_count)" -eq "$(( jobs0 + 10 ))" ]; }
wait_for "the job of the client that left" ten_jobs
ok $? "a delivery whose client left before the answer is a job (ten deliveries, ten jobs)"

# A client that sends and never reads, with a small receive window: its
# answers (401s) stop fitting, and the connection is closed, not waited on.
python3 - "$PORT" > "$T/flood.out" <<'EOF'
import socket, sys, threading
one = (b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.settimeout(60)
sent = 0
try:
    for _ in range(200):
        s.sendall(one * 500)
        sent += 500
except OSError:
    pass
got = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
except OSError:
    pass
print(sent, got.count(b"HTTP/1.1 401"))
EOF
read -r sent answered < "$T/flood.out"
[ "$answered" -gt 0 ] && [ "$answered" -lt "$sent" ]
ok $? "a client that never reads gets some answers ($answered of $sent), then is cut off"
hook "$(labeled 111)" d-111 > "$T/after"
client "$T/after" 1 > "$T/after.out"
like "$(sed -n 1p "$T/after.out")" '"delivery":"d-111"' \
    "serve goes on taking deliveries"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly"
done_testing
