#!/bin/bash
# network = allowlist end to end: `handoff run` starts the job's egress
# proxy beside the sandbox step, and the agent inside, with nothing but
# its proxy variables, reaches a listed host over CONNECT (TLS) and plain
# HTTP, is refused one not listed, and has no network without the proxy.
# Every attempt is in handoff show --json and the refusals in the job's
# log. The proxy killed during the run stops the agent and fails the job
# saying so. Handoff run as root and as an unprivileged user.
. "$SRCDIR/tests/sandbox-lib.sh"
command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
command -v curl >/dev/null || { echo "Bail out! curl is needed"; exit 1; }

start_peers

# The agent: each attempt's outcome into RESULT-net.txt.
cat > "$T/net-agent.sh" <<EOF
#!/bin/sh
{
echo "tls: \$(curl -sk --max-time 20 https://tls.test:$TLS_PORT/ 2>&1)"
echo "plain: \$(curl -s --max-time 20 http://plain.test:$HTTP_PORT/echo 2>&1 | head -n 1 | tr -d '\r')"
echo "blocked: \$(curl -sk --max-time 20 -o /dev/null -w '%{http_connect}' https://blocked.test/ 2>/dev/null)"
env -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy -u HTTP_PROXY \\
    -u http_proxy curl -sk --max-time 5 https://tls.test:$TLS_PORT/ >/dev/null 2>&1
echo "direct: \$?"
env -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy -u HTTP_PROXY \\
    -u http_proxy curl -s --max-time 5 http://127.0.0.1:$HTTP_PORT/echo >/dev/null 2>&1
echo "loopback: \$?"
} > RESULT-net.txt
EOF
# The agent that keeps using the network until it is gone, then waits.
cat > "$T/lost-agent.sh" <<EOF
#!/bin/sh
touch /tmp/started
i=0
while [ \$i -lt 600 ]; do
	# The network gone, it waits: handoff must notice and stop it.
	curl -sk --max-time 5 https://tls.test:$TLS_PORT/ >/dev/null 2>&1 ||
	    { sleep 60; exit 0; }
	sleep 0.1
	i=\$((i + 1))
done
exit 0
EOF
chmod 755 "$T/net-agent.sh" "$T/lost-agent.sh"
NET="network = allowlist"
ALLOW="allow_hosts = tls.test:$TLS_PORT, plain.test:$HTTP_PORT"
PINS="hosts = tls.test=127.0.0.1, plain.test=127.0.0.1, blocked.test=127.0.0.1"

half() {
	half_setup "$1"
	run_case net "$T/net-agent.sh" "" "$NET" "$ALLOW" "$PINS"
	succeeded net
	r=$(result net)
	like "$r" "tls: hello over tls" "$P the listed host over CONNECT (TLS)"
	like "$r" "plain: GET /echo HTTP/1.1" "$P the listed host over plain HTTP"
	like "$r" "blocked: 403" "$P a host not listed: 403 from the proxy"
	unlike "$r" "direct: 0" "$P without the proxy variables: no network"
	unlike "$r" "loopback: 0" "$P the host's loopback is not the sandbox's"
	j=$("$D/handoff" -c "$CFG" show 1 --json)
	is "$(python3 -c 'import json,sys
e = json.load(sys.stdin)["egress"]
print(" ".join(sorted("%s:%d:%s" % (c["host"], c["port"],
    "allowed" if c["allowed"] else c["reason"]) for c in e)))' <<<"$j")" \
	    "blocked.test:443:not in allow_hosts plain.test:$HTTP_PORT:allowed tls.test:$TLS_PORT:allowed" \
	    "$P show --json: every attempt, the refusal's reason"
	is "$(python3 -c 'import json,sys
e = json.load(sys.stdin)["egress"]
print(all(c["bytes_in"] > 0 for c in e if c["allowed"]))' <<<"$j")" True \
	    "$P show --json: the bytes each allowed connection moved"
	like "$(job_log)" "egress: blocked blocked.test:443, not in allow_hosts" \
	    "$P the refusal is in the job's log"
	like "$("$D/handoff" -c "$CFG" show 1)" "blocked: blocked.test:443, not in allow_hosts" \
	    "$P show names the refused host"
	is "$(pgrep -f "$CFG proxy --job" | wc -l)" 0 "$P the proxy is gone after the job"

	case_setup lost "$T/lost-agent.sh" "" "$NET" "$ALLOW" "$PINS"
	"$D/handoff" -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE" \
	    >"$T/out" 2>"$T/err" &
	runpid=$!
	wait_for "$P the agent's run" grep -q "running the agent" "$T/err"
	proxy=$(pgrep -f "$CFG proxy --job")
	[ -n "$proxy" ]; ok $? "$P the job's proxy runs beside the agent"
	kill -9 $proxy 2>/dev/null
	wait $runpid
	status=$?
	failed_with lost "the job's egress proxy stopped during the agent's run"
}
halves half
done_testing
