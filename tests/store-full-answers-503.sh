#!/bin/bash
# When the store cannot commit (here: its disk is full), deliveries get 503
# so the forge redelivers, /healthz says so, and nothing half-written remains.
. "$SRCDIR/tests/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP mounting a small tmpfs needs root"
	exit 0
fi
DATA="$T/small"
mkdir -p "$DATA"
mount -t tmpfs -o size=1M tmpfs "$DATA" || { echo "Bail out! cannot mount tmpfs"; exit 1; }
EXTRA_CLEANUP='umount "$DATA" 2>/dev/null'
write_config
start_serve
S="$SAMPLES/github/derived/issues.labeled.agent.json"

like "$(deliver github issues "$S" --delivery full-1)" '202 ' "a delivery is queued while there is room"
dd if=/dev/zero of="$DATA/filler" bs=4k 2>/dev/null
r=$(deliver github issues "$(labeled 2)" --delivery full-2)
like "$r" '503 ' "a delivery that cannot be committed is 503"
is "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" 503 "healthz is 503"
rm -f "$DATA/filler"
r=$(deliver github issues "$(labeled 2)" --delivery full-2)
like "$r" '202 ' "the forge's redelivery is queued once there is room"
is "$(curl -s "$URL/healthz")" ok "healthz recovers"
is "$(job_count)" 2 "two jobs, nothing from the failed attempt"
like "$(curl -s "$WEB_URL/metrics")" 'handoff_deliveries_total{forge="github",verdict="unavailable"} 1' \
    "the 503 is counted"
done_testing
