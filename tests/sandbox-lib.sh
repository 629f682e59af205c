# Shared by the sandbox tests: every case runs twice, with handoff run by
# root (the agent then maps to a host uid of no account) and by an
# unprivileged user, handoff-esc, created if missing; not as root, only
# the second half runs, as the current user. Each case is a fresh
# repository (with tests/probe in it), task file and config, and a
# `handoff run` as the half's user.
. "$SRCDIR/tests/lib.sh"
: "${BUILDDIR:?BUILDDIR must name the build directory (for tests/probe)}"
PROBE="$BUILDDIR/tests/probe"
[ -x "$PROBE" ] || { echo "Bail out! $PROBE is not built"; exit 1; }
AGENTS="$SRCDIR/tests/agents"
ESC_USER=handoff-esc
# In the command line of every sleeper the agents start (they read it from
# the task's "marker:" line).
MARK="hoesc-$$-${RANDOM:-0}"
: "${HANDOFF_TEST_TOKEN:=canary-token-$$-c41d07}"
: "${HANDOFF_TEST_CANARY:=canary-env-$$-7f3a91}"
export HANDOFF_TEST_CANARY HANDOFF_TEST_TOKEN
EXTRA_CLEANUP='for p in $(pgrep -f "$MARK"); do kill -9 $p 2>/dev/null; done'

IS_ROOT=false
[ "$(id -u)" = 0 ] && IS_ROOT=true
if $IS_ROOT; then
	id "$ESC_USER" >/dev/null 2>&1 ||
	    useradd -m -s /bin/sh "$ESC_USER" >/dev/null 2>&1 ||
	    { echo "Bail out! cannot create user $ESC_USER"; exit 1; }
	# The unprivileged half reaches its own directory.
	chmod 711 "$T"
fi

G() {	# G ARGS: git on the case's repository, whoever owns it
	git -c safe.directory='*' -C "$REPO" "$@"
}

# own PATH...: give paths to the half's user.
own() {
	[ "$WHO" = root ] || ! $IS_ROOT || chown -R "$ESC_USER:" "$@"
}

# hrun ARGS: handoff as the half's user; exit status in $status, output in
# $T/out, $T/err.
hrun() {
	"$D/handoff" "$@" >"$T/out" 2>"$T/err"
	status=$?
}

# case_setup NAME AGENT TASK-LINES [INI-LINES...]: a fresh repository, task
# file and config for one case: REPO, TASKFILE, CFG ([sandbox] disk is
# $DISK, 64M unless set).
case_setup() {
	name=$1 agent=$2 lines=$3
	shift 3
	REPO="$D/repo-$name"
	mkrepo "$REPO" "$PROBE:probe"
	TASKFILE="$D/task-$name.md"
	printf 'Sandbox test %s\n\nmarker: %s\n%s\n' "$name" "$MARK" "$lines" \
	    > "$TASKFILE"
	DATA="$D/data" write_config '[github]' 'token = env:HANDOFF_TEST_TOKEN' \
	    '[agent]' "command = $agent" 'timeout = 20s' \
	    '[sandbox]' 'pids = 200' 'memory = 256M' "disk = ${DISK:-64M}" "$@"
	CFG="$D/$name.ini"
	mv "$CONFIG" "$CFG"
	own "$REPO" "$TASKFILE" "$CFG"
}

# run_case NAME AGENT TASK-LINES [INI-LINES...]: setup, then handoff run.
run_case() {
	case_setup "$@"
	hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE"
}

# result NAME: the agent's record, from the branch handoff left.
result() {
	G show "handoff/local-1:RESULT-$1.txt" 2>/dev/null
}

# job_log: the log of the newest job of the case's store.
job_log() {
	n=$("$D/handoff" -c "$CFG" jobs --json --limit 1 |
	    grep -o '"id":[[:space:]]*[0-9]*' | head -n 1 | grep -o '[0-9]*$')
	"$D/handoff" -c "$CFG" logs "${n:-0}" 2>&1
}

# no_survivors WHAT: nothing carrying the marker is left (a short grace for
# the kernel to finish tearing the sandbox down).
no_survivors() {
	left=
	for _ in $(seq 1 20); do
		left=$(pgrep -f "$MARK" | tr '\n' ' ')
		[ -z "$left" ] && break
		sleep 0.1
	done
	is "$left" "" "$P $1: no process of the agent survives"
	[ -z "$left" ] || ps -o pid,user,args -p "${left% }" | sed 's/^/#   /'
}

# The run ended well and left branch handoff/local-1.
succeeded() {	# succeeded NAME
	is "$status" 0 "$P $1: handoff run exits 0"
	like "$(cat "$T/out")" "branch: handoff/local-1" "$P $1: the branch is reported"
}

failed_with() {	# failed_with NAME REASON
	is "$status" 1 "$P $1: handoff run exits 1"
	like "$(cat "$T/err")" "failed: " "$P $1: stderr says the job failed"
	like "$(cat "$T/err")" "$2" "$P $1: the reason is '$2'"
	! G rev-parse -q --verify refs/heads/handoff/local-1 >/dev/null
	ok $? "$P $1: no branch is left"
}

# The delegated half: handoff run by the unprivileged user inside cgroup v1
# memory and pids groups given to that user, as systemd's Delegate=yes
# does; only as root, on a machine with those hierarchies.
CG=/sys/fs/cgroup
DELEG="handoff-deleg-$$"
can_delegate() {
	$IS_ROOT && [ -d "$CG/memory" ] && [ -d "$CG/pids" ] &&
	    [ ! -e "$CG/cgroup.controllers" ]
}

# half_setup root|user|delegated: D (the half's directory, with a
# `handoff` that runs as the half's user, passing the canaries on), P (the
# TAP prefix).
half_setup() {
	WHO=$1
	P="[$WHO]"
	D="$T/$WHO"
	mkdir -p "$D"
	own "$D"
	join=
	if [ "$WHO" = delegated ]; then
		for c in memory pids; do
			mkdir -p "$CG/$c/$DELEG"
			chown -R "$ESC_USER:" "$CG/$c/$DELEG"
			join="$join echo \$\$ > $CG/$c/$DELEG/cgroup.procs || exit 1;"
		done
		EXTRA_CLEANUP="$EXTRA_CLEANUP
for c in memory pids; do rmdir $CG/\$c/$DELEG/* $CG/\$c/$DELEG 2>/dev/null; done"
	fi
	if [ "$WHO" != root ] && $IS_ROOT; then
		cat > "$D/handoff" <<-EOF
		#!/bin/sh
		$join
		exec su -s /bin/sh -c 'exec env HANDOFF_TEST_CANARY="$HANDOFF_TEST_CANARY" HANDOFF_TEST_TOKEN="$HANDOFF_TEST_TOKEN" HANDOFF_TEST_BRIDGE="${HANDOFF_TEST_BRIDGE:-}" "\$0" "\$@"' -- $ESC_USER "$HANDOFF" "\$@"
		EOF
	else
		printf '#!/bin/sh\nexec "%s" "$@"\n' "$HANDOFF" > "$D/handoff"
	fi
	chmod 755 "$D/handoff"
}

# halves FUNCTION [delegated]: FUNCTION root (when root), then FUNCTION
# user, then (when asked and possible) FUNCTION delegated.
halves() {
	if $IS_ROOT; then
		"$1" root
	else
		ok 0 "cases with handoff run by root # SKIP not root"
	fi
	"$1" user
	[ "${2:-}" = delegated ] || return 0
	if can_delegate; then
		"$1" delegated
	else
		ok 0 "cases in delegated cgroups # SKIP needs root and cgroup v1 memory and pids"
	fi
}
