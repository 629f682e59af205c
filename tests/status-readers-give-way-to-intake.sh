#!/bin/bash
# The status pages' reader threads run below serve's own priority, so that
# a page being rendered waits while the event loop and the store writer
# have intake to do; they still answer. serve started at a lower priority
# keeps its readers lower still, never at or above its other threads'.
. "$SRCDIR/tests/lib.sh"

# threads PID: "TID NAME NICE" a line, for each of the process's threads.
threads() {
	local f stat
	for f in /proc/"$1"/task/*; do
		stat=$(cat "$f/stat") || continue
		# after the name: state is field 1, nice 17
		echo "${f##*/} $(cat "$f/comm") $(echo "${stat##*) }" |
		    awk '{ print $17 }')"
	done
}

# check LABEL SERVE-NICE: serve's threads as they should be.
check() {
	local label=$1 want=$2 t readers others
	t=$(threads "$SERVE_PID")
	printf '%s\n' "$t" | sed 's/^/# /'
	is "$(printf '%s\n' "$t" | awk -v p="$SERVE_PID" '$1 == p { print $3 }')" \
	    "$want" "$label: the event loop runs at serve's nice"
	readers=$(printf '%s\n' "$t" | awk '$2 == "handoff-reader"')
	is "$(printf '%s\n' "$readers" | grep -c .)" 2 \
	    "$label: two threads are named handoff-reader"
	is "$(printf '%s\n' "$readers" | awk '{ print $3 }' | sort -u)" 19 \
	    "$label: each runs at nice 19"
	others=$(printf '%s\n' "$t" | awk -v p="$SERVE_PID" \
	    '$1 != p && $2 != "handoff-reader" { print $3 }')
	is "$others" "$want" "$label: the store writer runs at serve's nice"
	deliver github issues "$(labeled 7)" > /dev/null
	is "$(curl -s -o /dev/null -w '%{http_code}' "$WEB_URL/")" 200 \
	    "$label: the list still answers"
	is "$(curl -s -o /dev/null -w '%{http_code}' "$WEB_URL/jobs/1")" 200 \
	    "$label: a job's page still answers"
	stop_serve > "$T/stopped"
	is "$(cat "$T/stopped")" 0 "$label: serve stops cleanly"
}

write_config
start_serve
check "serve at nice 0" 0

# The same serve, started at nice 5: its readers go lower, not higher.
real=$HANDOFF
printf '#!/bin/sh\nexec nice -n 5 "%s" "$@"\n' "$real" > "$T/niced"
chmod +x "$T/niced"
HANDOFF=$T/niced
start_serve
check "serve at nice 5" 5
HANDOFF=$real

done_testing
