#!/bin/bash
# The status pages' reader threads run below serve's own priority, so that
# a page being rendered waits while the event loop and the store writer
# have intake to do: under SCHED_IDLE, at nice 19 besides, while the loop
# and the writer keep the policy and nice serve was started with. The
# intake workers keep serve's nice under SCHED_BATCH. The readers
# still answer. serve started at a lower priority keeps its readers lower
# still, never at or above its other threads'. The same with serve run by
# an unprivileged user.
. "$SRCDIR/tests/lib.sh"

INTAKE_THREADS=$(nproc)
[ "$INTAKE_THREADS" -le 4 ] || INTAKE_THREADS=4

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

# policy TID: the thread's scheduling policy, as chrt names it.
policy() {
	chrt -p "$1" | sed -n 's/.*scheduling policy: //p'
}

# check LABEL SERVE-NICE: serve's threads as they should be.
check() {
	local label=$1 want=$2 t readers others ckpt
	t=$(threads "$SERVE_PID")
	printf '%s\n' "$t" | sed 's/^/# /'
	is "$(printf '%s\n' "$t" | awk -v p="$SERVE_PID" '$1 == p { print $3 }')" \
	    "$want" "$label: the event loop runs at serve's nice"
	readers=$(printf '%s\n' "$t" | awk '$2 == "handoff-reader"')
	is "$(printf '%s\n' "$readers" | grep -c .)" 2 \
	    "$label: two threads are named handoff-reader"
	is "$(printf '%s\n' "$readers" | awk '{ print $3 }' | sort -u)" 19 \
	    "$label: each runs at nice 19"
	ckpt=$(printf '%s\n' "$t" | awk '$2 == "handoff-ckpt"')
	is "$(printf '%s\n' "$ckpt" | grep -c .)" 1 \
	    "$label: one thread is named handoff-ckpt"
	is "$(printf '%s\n' "$ckpt" | awk '{ print $3 }')" 19 \
	    "$label: the checkpointer runs at nice 19"
	is "$(printf '%s\n' "$ckpt" | while read -r tid _; do
	    policy "$tid"; done)" SCHED_IDLE \
	    "$label: the checkpointer runs under SCHED_IDLE"
	others=$(printf '%s\n' "$t" | awk -v p="$SERVE_PID" \
	    '$1 != p && $2 != "handoff-reader" && $2 != "handoff-intake" &&
	    $2 != "handoff-ckpt" { print $3 }')
	is "$others" "$want" "$label: the store writer runs at serve's nice"
	intake=$(printf '%s\n' "$t" | awk '$2 == "handoff-intake"')
	is "$(printf '%s\n' "$intake" | grep -c .)" "$INTAKE_THREADS" \
	    "$label: $INTAKE_THREADS intake workers, one a CPU up to 4"
	is "$(printf '%s\n' "$intake" | awk '{ print $3 }' | sort -u)" "$want" \
	    "$label: the intake workers run at serve's nice"
	is "$(printf '%s\n' "$readers" | while read -r tid _; do
	    policy "$tid"; done | sort -u)" SCHED_IDLE \
	    "$label: each reader runs under SCHED_IDLE"
	is "$(printf '%s\n' "$t" | awk '$2 != "handoff-reader" &&
	    $2 != "handoff-intake" && $2 != "handoff-ckpt" { print $1 }' |
	    while read -r tid; do policy "$tid"; done | sort -u)" SCHED_OTHER \
	    "$label: the loop and the writer under SCHED_OTHER"
	is "$(printf '%s\n' "$intake" | while read -r tid _; do
	    policy "$tid"; done | sort -u)" SCHED_BATCH \
	    "$label: the intake workers under SCHED_BATCH"
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

# The same with serve run by an unprivileged user.
rerun_as_user "every check above passes with serve run by handoff-esc"

done_testing
