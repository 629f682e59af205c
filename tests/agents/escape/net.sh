#!/bin/sh
# Tries to reach the host's loopback (each "port: N" of the task), the
# internet by address and by name. Records "TARGET: probe's line".
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
out=RESULT-net.txt
: > "$out"
try() {
	echo "$1:$2: $(./probe connect "$1" "$2" 2>&1)" | tee -a "$out"
}
for port in $(sed -n 's/^port: *//p' "$HANDOFF_TASK"); do
	try 127.0.0.1 "$port"
	try ::1 "$port"
done
try 1.1.1.1 80
try 8.8.8.8 53
try example.com 443
echo "interfaces: $(tr '\n' ' ' < /proc/net/dev)" >> "$out"
exit 0
