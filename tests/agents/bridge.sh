#!/bin/sh
# Uses the network of a bridged sandbox (network = allowlist) and records
# what it saw in RESULT-bridge.txt. The task's "mode:" line picks what it
# does: "reach" asks both bridges, then tries everything else with the
# proxy variables unset (each "target: HOST PORT" of the task, name
# lookups); "lose" asks the proxy once, then again until it fails, and
# exits 3 with what it got.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
echo "bridge agent ran"
out=RESULT-bridge.txt
: > "$out"
mode=$(sed -n 's/^mode: *//p' "$HANDOFF_TASK")
if [ "$mode" = lose ]; then
	curl -sS http://127.0.0.1:3128/first || exit 4
	i=0
	while [ $i -lt 600 ]; do
		if ! a=$(curl -sS -f http://127.0.0.1:3128/next 2>&1); then
			echo "lost the proxy: $a"
			curl -sS http://127.0.0.1:3128/after
			exit 3
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "the proxy never went away"
	exit 0
fi
{
	echo "proxy: $(curl -sS http://127.0.0.1:3128/via-proxy 2>&1)"
	echo "gateway: $(curl -sS -d '{"model":"m"}' \
	    http://127.0.0.1:3129/anthropic/v1/messages 2>&1)"
	echo "halfclose: $(/usr/bin/python3 - <<'PY'
import socket
s = socket.create_connection(("127.0.0.1", 3129))
body = b'{"half":"close"}'
s.sendall(b"POST /openai/v1/responses?slow HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print(data.decode(errors="replace").splitlines()[-1])
PY
)"
	# More connections at once than the relay holds (64): the rest wait
	# their turn, none is lost.
	echo "concurrent: $(/usr/bin/python3 - <<'PY'
import socket
conns = [socket.create_connection(("127.0.0.1", 3128)) for _ in range(100)]
for i, s in enumerate(conns):
    s.sendall(b"GET /c%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
n = 0
for i, s in enumerate(conns):
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    n += data.endswith(b"answer for /c%d\n" % i)
print("%d answers" % n)
PY
)"
	echo "download: $(curl -sS http://127.0.0.1:3128/big | sha256sum | cut -d' ' -f1)"
	head -c 1048576 /dev/urandom > /tmp/up
	echo "upload: $(sha256sum < /tmp/up | cut -d' ' -f1)"
	curl -sS -o /dev/null --data-binary @/tmp/up http://127.0.0.1:3129/upload
	echo "proxy6: $(curl -sS 'http://[::1]:3128/via-proxy6' 2>&1)"
	echo "https_proxy: ${https_proxy:-unset}"
	echo "HTTP_PROXY: ${HTTP_PROXY:-unset}"
	echo "NO_PROXY: ${NO_PROXY:-unset}"
	echo "PIP_PROXY: ${PIP_PROXY:-unset}"
	echo "ANTHROPIC_BASE_URL: ${ANTHROPIC_BASE_URL:-unset}"
	echo "OPENAI_BASE_URL: ${OPENAI_BASE_URL:-unset}"
	echo "resolv.conf: $(tr '\n' ' ' < /etc/resolv.conf)"
	if [ -r /etc/hosts ]; then echo "hosts: present"; fi
} >> "$out"
unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy
sed -n 's/^target: *//p' "$HANDOFF_TASK" | while read -r host port; do
	echo "target $host:$port: $(./probe connect "$host" "$port" 2>&1)" >> "$out"
	echo "curl $host:$port: $(curl -sS -m 5 "http://$host:$port/" 2>&1 |
	    head -c 200 | tr '\n' ' ')" >> "$out"
done
if getent hosts example.com >/dev/null 2>&1; then
	echo "lookup example.com: resolved" >> "$out"
else
	echo "lookup example.com: failed" >> "$out"
fi
for p in $(sed -n 's/^path: *//p' "$HANDOFF_TASK"); do
	if [ -e "$p" ]; then echo "path $p: present"; else echo "path $p: absent"; fi >> "$out"
done
cat "$out"
exit 0
