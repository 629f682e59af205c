#!/bin/bash
# A connection whose delivery waits for its answer is read at most 64 KiB
# further: a client that pipelines 2 MB of deliveries behind it finds the
# rest waiting in the kernel, not in serve. Once the store is free, every
# delivery is answered, in the order sent, and makes its job; and a client
# that sends its next delivery as soon as it has an answer is answered
# each time on the same connection.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
command -v ss >/dev/null || { echo "Bail out! ss (iproute2) is needed"; exit 1; }
write_config
start_serve

# Another writer holds the store: the first delivery stays in flight.
hold_store
is "$STORE_HELD" held "another connection holds the store's write lock"

# deliveries.py PORT SECRET SAMPLE FIRST N MODE: N deliveries for issues
# FIRST.. on one connection. MODE pipeline: all sent at once by a thread
# (it says "sent BYTES" when the kernel has taken them all), then every
# answer read; MODE turn: each sent once the last is answered. Prints the
# answers' codes.
cat > "$T/deliveries.py" <<'EOF'
import hashlib, hmac, socket, sys, threading
port, secret = int(sys.argv[1]), sys.argv[2].encode()
sample = open(sys.argv[3], "rb").read()
first, n, mode = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
key = b'"number": 1,'
def request(i):
    body = sample.replace(key, b'"number": %d,' % (first + i), 1)
    sig = hmac.new(secret, body, hashlib.sha256).hexdigest()
    head = ("POST /hooks/github HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nX-GitHub-Event: issues\r\n"
            "X-GitHub-Delivery: piped-%d\r\nX-Hub-Signature-256: sha256=%s\r\n"
            "Content-Length: %d\r\n\r\n" % (first + i, sig, len(body))).encode()
    return head + body
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(60)
buf = b""
def answer():
    global buf
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            return "none"
        buf += b
    head, buf = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buf) < length:
        b = s.recv(65536)
        if not b:
            return "cut"
        buf += b
    buf = buf[length:]
    return head.split(b" ", 2)[1].decode()
if mode == "pipeline":
    data = b"".join(request(i) for i in range(n))
    def send():
        s.sendall(data)
        print("sent %d" % len(data), flush=True)
    t = threading.Thread(target=send)
    t.start()
    codes = [answer() for _ in range(n)]
    t.join()
else:
    codes = []
    for i in range(n):
        s.sendall(request(i))
        codes.append(answer())
print("codes " + " ".join(codes), flush=True)
EOF
SAMPLE=$SAMPLES/github/derived/issues.labeled.agent.json
python3 "$T/deliveries.py" "$PORT" "$GITHUB_SECRET" "$SAMPLE" 100 150 \
    pipeline > "$T/piped" 2>&1 &
client=$!

# What serve has not read of the connection: the client's send queue and
# serve's receive queue, once the client is done sending or both stand
# still.
unread() {
	ss -tnH state established "( sport = :$PORT )" |
	    awk '{ s += $1 } END { print s + 0 }' > "$T/recvq"
	ss -tnH state established "( dport = :$PORT )" |
	    awk '{ s += $2 } END { print s + 0 }' > "$T/sendq"
	echo $(( $(cat "$T/recvq") + $(cat "$T/sendq") ))
}
last=-1
for _ in $(seq 1 100); do
	grep -q '^sent ' "$T/piped" && break
	now=$(unread)
	[ "$now" -gt 0 ] && [ "$now" = "$last" ] && break
	last=$now
	sleep 0.1
done
sleep 0.2
left=$(unread)
total=$((150 * $(wc -c < "$SAMPLE")))
# serve holds the first delivery and reads at most 64 KiB past it (one
# read of up to 64 KiB may cross the mark): some 150 KiB of the 2 MB.
ok "$([ "$left" -ge $((total - 200 * 1024)) ]; echo $?)" \
    "serve read at most about 64 KiB past the delivery in flight ($((total - left)) of $total bytes)"

release_store
wait "$client"
codes=$(sed -n 's/^codes //p' "$T/piped")
is "$(echo "$codes" | tr ' ' '\n' | grep -c '^202$')" 150 \
    "once the store is free, all 150 are answered 202"
# The issues of the jobs, in the order they were made.
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(" ".join(str(r[0]) for r in db.execute(
    "SELECT t.number FROM jobs j JOIN threads t ON t.id = j.thread_id"
    " ORDER BY j.id")))' "$DATA/handoff.db" > "$T/issues"
is "$(tr ' ' '\n' < "$T/issues" | sort -u | wc -l)" 150 \
    "each made a job of its own"
is "$(cat "$T/issues")" "$(seq -s ' ' 100 249)" \
    "the jobs are made in the order the deliveries were sent"

# A client that sends each delivery as soon as it has the last answer.
python3 "$T/deliveries.py" "$PORT" "$GITHUB_SECRET" "$SAMPLE" 300 40 \
    turn > "$T/turns" 2>&1
is "$(sed -n 's/^codes //p' "$T/turns")" "$(printf '202 %.0s' $(seq 40) |
    sed 's/ $//')" "40 deliveries in turn on one connection: 40 answers 202"
is "$(job_count)" 190 "190 jobs in all"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly"
done_testing
