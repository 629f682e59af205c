#!/bin/bash
# With [sandbox] network = allowlist the sandbox has a network namespace of
# its own with loopback only, and one way out: the relay from
# 127.0.0.1:3128 and :3129 to the egress proxy's and the LLM gateway's unix
# sockets (data_dir/jobs/N/net/proxy.sock, gateway.sock), which are never
# bound inside. Small HTTP servers on those sockets stand in for the proxy
# and the gateway (HANDOFF_TEST_BRIDGE=1 lets the runner bridge to sockets
# it did not start). The agent reaches both through the relay; with the
# proxy variables unset it reaches nothing else (the host's loopback, a
# host address, handoff serve's listener); names do not resolve; a missing
# socket, or a file that is not one, fails the job before the agent runs;
# the proxy killed mid-run makes the agent's next request fail with a
# clear answer, and the job fails; the relay is gone after every job.
# Every case runs with handoff run by root and by an unprivileged user.
. "$SRCDIR/tests/sandbox-lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
command -v curl >/dev/null || { echo "Bail out! curl is needed"; exit 1; }
for t in curl python3 sha256sum; do
	[ -x /usr/bin/$t ] || { echo "Bail out! /usr/bin/$t is needed inside"; exit 1; }
done
BIG_SHA=$(python3 -c 'import hashlib; print(hashlib.sha256(b"0123456789abcdef" * (3 << 16)).hexdigest())')
HANDOFF_TEST_BRIDGE=1
export HANDOFF_TEST_BRIDGE
FAKES=
EXTRA_CLEANUP="$EXTRA_CLEANUP"'
for p in $FAKES; do kill -9 $p 2>/dev/null; done'

# An HTTP server on a unix socket: answers every request with a fixed
# body naming itself, and logs what it got.
cat > "$T/fake-server.py" <<'PY'
import hashlib, http.server, os, socket, socketserver, sys, time
path, name, log = sys.argv[1:4]
BIG = b"0123456789abcdef" * (3 << 16)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path,
                body.decode(errors="replace") if n < 200 else
                "sha256=" + hashlib.sha256(body).hexdigest()))
        if "slow" in self.path:
            time.sleep(0.3)    # the client's half-close arrives first
        if self.path == "/big":
            out = BIG
        else:
            out = ("fake %s answer for %s\n" % (name, self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = answer
    def log_message(self, *a): pass
    def address_string(self): return "unix"
class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # The relay hands the proxy its connections (a NUL byte carrying the
    # TCP socket, relay.c); the server then speaks on that socket.
    def get_request(self):
        conn, addr = self.socket.accept()
        if conn.recv(1, socket.MSG_PEEK) == b"\0":
            msg, fds, _, _ = socket.recv_fds(conn, 1, 1)
            conn.close()
            with open(log, "a") as f:
                f.write("passed\n")
            tcp = socket.socket(fileno=fds[0])
            tcp.setblocking(True)    # the relay's side was not
            return tcp, addr
        return conn, addr
s = S(path, H)
os.chmod(path, 0o666)
with open(log, "a") as f:
    f.write("listening\n")
s.serve_forever()
PY

# A TCP server on every host address (so on 127.0.0.1 and the host's own
# address too) that says who it is.
cat > "$T/host-server.py" <<'PY'
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 0))
s.listen(16)
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % s.getsockname()[1])
def serve(c):
    try:
        c.recv(4096)
        c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhost-tcp-reached\n")
    finally:
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 "$T/host-server.py" "$T/host-port" &
FAKES="$FAKES $!"
for _ in $(seq 1 100); do [ -s "$T/host-port" ] && break; sleep 0.1; done
HOST_PORT=$(cat "$T/host-port")
HOST_IP=$(ip -4 -o addr show scope global 2>/dev/null |
    awk '{ sub("/.*", "", $4); print $4; exit }')
[ -n "$HOST_IP" ] || { echo "Bail out! no non-loopback host address"; exit 1; }

# handoff serve: its listener must stay out of reach.
DATA="$T/serve-data" write_config
mv "$CONFIG" "$T/serve.ini"
CONFIG="$T/serve.ini"
start_serve
SERVE_PORT=$PORT

is "$(curl -s --max-time 5 "http://127.0.0.1:$HOST_PORT/")" host-tcp-reached \
    "the host server answers on the host's 127.0.0.1"
is "$(curl -s --max-time 5 "http://$HOST_IP:$HOST_PORT/")" host-tcp-reached \
    "the host server answers on $HOST_IP"
is "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$SERVE_PORT/healthz")" 200 "handoff serve answers on the host"

# net_dir N: the net directory of the half's job N, made as the runner
# will: searchable by the sandbox's host user (as root, 65533).
net_dir() {
	NET="$D/data/jobs/$1/net"
	mkdir -p "$NET"
	chmod 700 "$D/data" "$D/data/jobs" "$D/data/jobs/$1" "$NET"
	own "$D/data"
	[ "$WHO" = root ] && chown 65533:65533 "$NET"
	return 0
}

# fake NAME: the stand-in for NAME (proxy or gateway) on $NET/NAME.sock,
# its log in $T/NAME-$WHO-$JOB.log; its pid in FAKE_PID.
fake() {
	flog="$T/$1-$WHO-$JOB.log"
	: > "$flog"
	python3 "$T/fake-server.py" "$NET/$1.sock" "$1" "$flog" &
	FAKE_PID=$!
	FAKES="$FAKES $FAKE_PID"
	for _ in $(seq 1 100); do grep -q listening "$flog" && break; sleep 0.1; done
}

# relays: processes of the half's handoff (its config on their command
# line) in a network namespace other than the host's: the relay.
relays() {
	host=$(readlink /proc/self/ns/net)
	for p in $(pgrep -f -- "-c $CFG run"); do
		ns=$(readlink "/proc/$p/ns/net" 2>/dev/null) || continue
		[ "$ns" != "$host" ] && echo "$p"
	done
}

# no_relay WHAT: no relay is left after the job.
no_relay() {
	left=
	for _ in $(seq 1 50); do
		left=$(for p in ${1:-}; do [ -d "/proc/$p" ] && echo "$p"; done)
		[ -z "$left" ] && [ -z "$(relays)" ] && break
		sleep 0.1
	done
	is "$left$(relays)" "" "$P $2: the relay is gone after the job"
}

half() {	# half root|user
	half_setup "$1"
	JOB=0

	# Both bridges answer; nothing else does.
	JOB=$((JOB + 1))
	net_dir $JOB
	fake proxy; proxy=$FAKE_PID
	fake gateway; gateway=$FAKE_PID
	run_case reach "$AGENTS/bridge.sh" "mode: reach
target: 127.0.0.1 $HOST_PORT
target: $HOST_IP $HOST_PORT
target: 127.0.0.1 $SERVE_PORT
target: ::1 $SERVE_PORT
target: 1.1.1.1 80
path: $NET/proxy.sock
path: $NET
path: $D/data" '[sandbox]' 'network = allowlist'
	succeeded reach
	r=$(result bridge)
	echo "$r" | sed 's/^/#   /'
	like "$r" "proxy: fake proxy answer for /via-proxy" \
	    "$P reach: 127.0.0.1:3128 reaches the proxy's socket"
	like "$r" "gateway: fake gateway answer for /anthropic/v1/messages" \
	    "$P reach: 127.0.0.1:3129 reaches the gateway's socket"
	like "$(cat "$T/gateway-$WHO-$JOB.log")" \
	    'POST /anthropic/v1/messages {"model":"m"}' \
	    "$P reach: the gateway got the agent's request whole"
	like "$(cat "$T/proxy-$WHO-$JOB.log")" "passed" \
	    "$P reach: the relay hands the proxy each connection itself"
	unlike "$(cat "$T/gateway-$WHO-$JOB.log")" "passed" \
	    "$P reach: and relays the gateway's bytes"
	like "$r" "halfclose: fake gateway answer for /openai/v1/responses?slow" \
	    "$P reach: an answer after the client's half-close comes back"
	like "$r" "concurrent: 100 answers" \
	    "$P reach: 100 connections at once all get their answer"
	like "$r" "download: $BIG_SHA" \
	    "$P reach: 3 MiB come through the relay intact"
	up=$(echo "$r" | sed -n 's/^upload: //p')
	like "$(cat "$T/gateway-$WHO-$JOB.log")" "POST /upload sha256=${up:-none}" \
	    "$P reach: 1 MiB goes through the relay intact"
	like "$r" "proxy6: fake proxy answer for /via-proxy6" \
	    "$P reach: [::1]:3128 reaches the proxy's socket too"
	like "$r" "https_proxy: http://127.0.0.1:3128" "$P reach: https_proxy names the bridge"
	like "$r" "HTTP_PROXY: http://127.0.0.1:3128" "$P reach: HTTP_PROXY names the bridge"
	like "$r" "PIP_PROXY: http://127.0.0.1:3128" "$P reach: PIP_PROXY names the bridge"
	like "$r" "NO_PROXY: localhost,127.0.0.1,::1" "$P reach: NO_PROXY covers loopback"
	like "$r" "ANTHROPIC_BASE_URL: http://127.0.0.1:3129/anthropic" \
	    "$P reach: ANTHROPIC_BASE_URL names the gateway"
	like "$r" "OPENAI_BASE_URL: http://127.0.0.1:3129/openai/v1" \
	    "$P reach: OPENAI_BASE_URL names the gateway"
	like "$r" "resolv.conf: nameserver 127.0.0.1" \
	    "$P reach: resolv.conf names a resolver where nothing listens"
	like "$r" "hosts: present" "$P reach: /etc/hosts stays"
	like "$r" "lookup example.com: failed" "$P reach: name lookups fail"
	for t in "127.0.0.1:$HOST_PORT" "$HOST_IP:$HOST_PORT" \
	    "127.0.0.1:$SERVE_PORT" "::1:$SERVE_PORT" 1.1.1.1:80; do
		like "$r" "target $t: connect: denied" \
		    "$P reach: $t is unreachable without the proxy"
	done
	case $r in
	*host-tcp-reached*) ok 1 "$P reach: curl reached no host server" ;;
	*) ok 0 "$P reach: curl reached no host server" ;;
	esac
	for p in "$NET/proxy.sock" "$NET" "$D/data"; do
		like "$r" "path $p: absent" "$P reach: $p is not in the sandbox"
	done
	no_relay "" reach
	kill -9 $proxy $gateway 2>/dev/null

	# The gateway's socket is missing: the agent does not start.
	JOB=$((JOB + 1))
	net_dir $JOB
	fake proxy; proxy=$FAKE_PID
	run_case missing "$AGENTS/bridge.sh" "mode: reach" '[sandbox]' \
	    'network = allowlist'
	failed_with missing "the LLM gateway's socket $NET/gateway.sock does not exist"
	job_log > "$T/log"
	! grep -q "bridge agent ran" "$T/log"
	ok $? "$P missing: the agent did not run"
	no_relay "" missing
	kill -9 $proxy 2>/dev/null

	# A file that is not a socket in its place: the same.
	JOB=$((JOB + 1))
	net_dir $JOB
	fake gateway; gateway=$FAKE_PID
	echo "not a socket" > "$NET/proxy.sock"
	own "$NET/proxy.sock"
	run_case notsock "$AGENTS/bridge.sh" "mode: reach" '[sandbox]' \
	    'network = allowlist'
	failed_with notsock "the egress proxy's socket $NET/proxy.sock is not a socket"
	job_log > "$T/log"
	! grep -q "bridge agent ran" "$T/log"
	ok $? "$P notsock: the agent did not run"
	kill -9 $gateway 2>/dev/null

	# A socket nobody serves any more (its server gone): the same.
	JOB=$((JOB + 1))
	net_dir $JOB
	fake proxy; kill -9 $FAKE_PID; wait $FAKE_PID 2>/dev/null
	fake gateway; gateway=$FAKE_PID
	run_case stale "$AGENTS/bridge.sh" "mode: reach" '[sandbox]' \
	    'network = allowlist'
	failed_with stale "the egress proxy at $NET/proxy.sock does not answer"
	kill -9 $gateway 2>/dev/null

	# The proxy killed mid-run: the agent's next request fails, with a
	# clear answer, and so does the job.
	JOB=$((JOB + 1))
	net_dir $JOB
	fake proxy; proxy=$FAKE_PID
	fake gateway; gateway=$FAKE_PID
	case_setup lose "$AGENTS/bridge.sh" "mode: lose" '[sandbox]' \
	    'network = allowlist'
	"$D/handoff" -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE" \
	    >"$T/out" 2>"$T/err" &
	hpid=$!
	for _ in $(seq 1 300); do
		grep -q "GET /first" "$T/proxy-$WHO-$JOB.log" && break
		sleep 0.1
	done
	like "$(cat "$T/proxy-$WHO-$JOB.log")" "GET /first" \
	    "$P lose: the agent reached the proxy before it was killed"
	running=$(relays)
	ok "$([ -n "$running" ]; echo $?)" \
	    "$P lose: a relay runs during the job (pid ${running:-none})"
	if [ "$WHO" = root ] && [ -n "$running" ]; then
		like "$(grep '^Uid:' /proc/$running/status)" "65533" \
		    "$P lose: the relay runs as the sandbox's host user"
	fi
	like "$(grep '^CapEff:' /proc/${running:-0}/status 2>&1)" \
	    "0000000000000000" "$P lose: the relay holds no capability"
	kill -9 $proxy
	wait $hpid
	status=$?
	failed_with lose "exited with status 3"
	like "$(cat "$T/err")" "handoff: the sandbox's egress proxy is not reachable" \
	    "$P lose: the agent was told the proxy is not reachable"
	job_log > "$T/log"
	like "$(cat "$T/log")" "lost the proxy" "$P lose: the log has the agent's failed request"
	no_relay "$running" lose
	kill -9 $gateway 2>/dev/null
	no_survivors "all cases"
}

halves half
done_testing
