#!/bin/bash
# jobs, show, logs, cancel and retry on a store that does not exist say so
# and exit 1, making neither data_dir nor a store; COMMAND --help prints
# the command's help without reading the config, even a missing or broken
# one; a usage error names the bad argument, and an unknown --state is
# refused with the list of states. Env: HANDOFF (the binary). Prints TAP.

. "$SRCDIR/tests/lib.sh"
cd "$T" || exit 1
unset HANDOFF_CONFIG

DATA=$T/never/data write_config
NOSTORE="no store at $T/never/data/handoff.db: has serve run with this config?"

for c in "jobs" "jobs --json" "show 1" "logs 1" "logs 1 --follow" \
    "cancel 1" "retry 1"; do
	# shellcheck disable=SC2086
	run -c "$CONFIG" $c
	[ "$status" -eq 1 ] && has "$T/err" "$NOSTORE"
	ok $? "$c with no store: exit 1, says there is none"
	[ ! -e "$T/never" ]
	ok $? "$c made no data_dir"
done

mkdir -p "$T/never/data"
for c in "jobs" "show 1" "cancel 1"; do
	# shellcheck disable=SC2086
	run -c "$CONFIG" $c
	[ "$status" -eq 1 ] && has "$T/err" "$NOSTORE" &&
	    [ -z "$(ls -A "$T/never/data")" ]
	ok $? "$c with an empty data_dir: exit 1, no store made in it"
done

# --help, with the config missing, broken, or fine.
printf '[server\nthis is not a config\n' > broken.ini
for c in serve jobs show run logs cancel retry check-config deliver; do
	for cfg in "$T/missing.ini" "$T/broken.ini"; do
		run -c "$cfg" "$c" --help
		[ "$status" -eq 0 ] && has "$T/out" "usage: handoff [-c FILE] $c" &&
		    [ ! -s "$T/err" ]
		ok $? "$c --help with $(basename "$cfg"): its help, exit 0"
	done
done
run -c "$T/broken.ini" show 5 -h
[ "$status" -eq 0 ] && has "$T/out" "usage: handoff [-c FILE] show JOB"
ok $? "show 5 -h: help too"
run -c "$T/broken.ini" jobs
is "$status" 2 "without --help the broken config is still an error"

# usage errors name the argument.
# usage_error WANT-TEXT ARGS...: exit 2, WANT-TEXT on stderr.
usage_error() {
	local want=$1
	shift
	run -c "$CONFIG" "$@"
	[ "$status" -eq 2 ] && has "$T/err" "$want" && has "$T/err" "usage: handoff"
	ok $? "$*: exit 2, says: $want"
}
usage_error 'jobs: --state: no state "bogus"; expected one of queued, running, done, failed, cancelled' \
    jobs --state bogus
usage_error 'jobs: --state needs a value' jobs --state
usage_error 'jobs: --limit: expected a number from 1 to 1000000, got "many"' \
    jobs --limit many
usage_error 'jobs: unexpected argument "--frob"' jobs --frob
usage_error 'show: expected a job number, got "abc"' show abc
usage_error 'show: unexpected argument "2"' show 1 2
usage_error 'show: expected a job number' show
usage_error 'logs: unexpected argument "--tail"' logs 1 --tail
usage_error 'cancel: expected a job number' cancel
usage_error 'retry: expected a job number, got "x1"' retry x1
usage_error 'check-config: unexpected argument "--frob"' check-config --frob
usage_error 'check-config: --repo needs a repository' check-config --repo
usage_error 'serve: unexpected argument "now"' serve now
[ ! -e "$T/never/data/handoff.db" ]
ok $? "no usage error made a store"

# Once serve has made the store, the same commands read it.
start_serve
stop_serve > "$T/stopped"
run -c "$CONFIG" jobs --state done
[ "$status" -eq 0 ] && ! has "$T/err" "no store"
ok $? "jobs --state done on the store serve made: exit 0"
run -c "$CONFIG" show 1
[ "$status" -eq 1 ] && has "$T/err" "no job 1"
ok $? "show 1 on it: no job 1"

done_testing
