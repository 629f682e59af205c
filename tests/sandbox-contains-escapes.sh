#!/bin/bash
# The sandbox contains an agent that tries to get out. Each scripted agent of
# tests/agents/escape/ tries one thing and records what it saw in the
# workspace (RESULT-<name>.txt, read back from the branch `handoff run`
# leaves); the test checks that it saw nothing of the host (files, secrets in
# environments and command lines, descriptors, network, processes, the
# terminal), that the seccomp filter refuses what it should, that git hooks
# and config it plants never run on the host, that symlinks are stored as
# symlinks and not followed, that the limits (pids, memory, disk, time, log)
# end the run with a clear reason, that nothing it started survives, and
# that handoff still works afterwards.
# Every case runs twice, with handoff run by root and by an unprivileged
# user (tests/sandbox-lib.sh).
. "$SRCDIR/tests/sandbox-lib.sh"
VICTIM_MARK="hovictim-$$-${RANDOM:-0}"
CANARY_ENV=$HANDOFF_TEST_CANARY
CANARY_TOKEN=$HANDOFF_TEST_TOKEN
CANARY_FILE="canary-file-$$-55e2b8"
PROBE_CASES="ptrace mount umount unshare-user unshare-mount unshare-net setns
keyctl add_key bpf perf_event_open tiocsti tiocsti-high tioclinux kexec_load
init_module finit_module clone3 io_uring_setup userfaultfd socket-netlink
socket-packet socket-vsock chroot pivot_root x32"
VICTIMS=
EXTRA_CLEANUP="$EXTRA_CLEANUP"'
for p in $VICTIMS; do pkill -9 -P $p 2>/dev/null; kill -9 $p 2>/dev/null; done'

# A host file no agent may read, world-readable outside the sandbox.
printf '%s\n' "$CANARY_FILE" > "$T/host-secret.txt"
chmod 644 "$T/host-secret.txt"

# handoff serve: a host listener on loopback for the network case, and a
# daemon that must stay healthy through everything.
DATA="$T/serve-data" write_config
mv "$CONFIG" "$T/serve.ini"
CONFIG="$T/serve.ini"
start_serve
SERVE_URL=$URL SERVE_PORT=$PORT

half() {	# half root|user
	half_setup "$1"
	CANARY_DIR="$T/canary-$WHO"
	mkdir -p "$CANARY_DIR"
	chmod 1777 "$CANARY_DIR"

	# Secrets of handoff's environment and config, in any process's
	# environment or command line, the repository config or /etc.
	run_case env-secrets "$AGENTS/escape/env-secrets.sh" ""
	succeeded env-secrets
	r=$(result env-secrets)
	like "$r" "HANDOFF_TASK=" "$P env-secrets: the agent recorded its environment"
	for c in "$CANARY_ENV" "$CANARY_TOKEN" "$GITHUB_SECRET" "$GITLAB_TOKEN"; do
		case $r in
		*"$c"*) ok 1 "$P env-secrets: '$c' is not visible inside" ;;
		*) ok 0 "$P env-secrets: '$c' is not visible inside" ;;
		esac
	done

	run_case fds "$AGENTS/escape/fds.sh" ""
	succeeded fds
	r=$(result fds)
	like "$r" "fds: none" "$P fds: the agent inherits only 0, 1 and 2"
	case $r in *"extra fd"*) echo "$r" | sed 's/^/#   /' ;; esac

	# Host files: nothing outside the workspace, /usr and the minimal /etc
	# (the store exists by now: the cases above ran).
	paths="$T/host-secret.txt $T $D/data $D/data/handoff.db $D/data/jobs/1/log
$D/data/jobs $D/data/trees $D/data/mirrors $D/read-config.ini
$T/serve.ini /etc/shadow /etc/gshadow /root /home/$ESC_USER /sys/kernel
$SRCDIR/src/main.c $BUILDDIR/config.log"
	lines="path: /workspace/README
path: /usr/bin/git"
	for p in $paths; do lines="$lines
path: $p"; done
	run_case read-config "$AGENTS/escape/read-config.sh" "$lines"
	succeeded read-config
	r=$(result read-config)
	like "$r" "/workspace/README: readable" "$P read-config: the workspace is readable"
	like "$r" "/usr/bin/git: readable" "$P read-config: /usr is readable"
	for p in $paths; do
		like "$r" "$p: not readable" "$P read-config: $p is out of reach"
	done
	G log -p --all | grep -q -F "$CANARY_FILE"
	is "$?" 1 "$P read-config: the host secret is nowhere in the repository"

	# The network: the daemon's port on the host loopback, the internet.
	curl -s --max-time 2 -o /dev/null "$SERVE_URL/healthz"
	is "$?" 0 "$P net: the host listener answers on the host"
	run_case net "$AGENTS/escape/net.sh" "port: $SERVE_PORT"
	succeeded net
	r=$(result net)
	for t in "127.0.0.1:$SERVE_PORT" "::1:$SERVE_PORT" 1.1.1.1:80 8.8.8.8:53 \
	    example.com:443; do
		like "$r" "$t: connect: denied" "$P net: $t is unreachable"
	done

	# Host processes: signals and ptrace.
	if [ "$WHO" = user ] && $IS_ROOT; then
		setpriv --reuid="$ESC_USER" --regid="$ESC_USER" --clear-groups \
		    sh -c "sleep 600; : $VICTIM_MARK" </dev/null >/dev/null 2>&1 &
	else
		sh -c "sleep 600; : $VICTIM_MARK" </dev/null >/dev/null 2>&1 &
	fi
	victim=$!
	VICTIMS="$VICTIMS $victim"
	run_case kill "$AGENTS/escape/kill.sh" "pid: $victim
pid: $SERVE_PID
pid: $$"
	# The agent ends with kill -9 -1, which may take the shell handoff
	# started it with: read what it saw from the log, not the branch.
	r=$(job_log)
	for p in "$victim" "$SERVE_PID" "$$"; do
		like "$r" "kill $p: kill: denied" "$P kill: cannot signal host pid $p"
		like "$r" "ptrace $p: ptrace: denied" "$P kill: cannot trace host pid $p"
	done
	kill -0 "$victim" 2>/dev/null
	is "$?" 0 "$P kill: the victim is alive"
	kill -0 "$SERVE_PID" 2>/dev/null
	is "$?" 0 "$P kill: handoff serve is alive"
	kill -9 "$victim" 2>/dev/null
	wait "$victim" 2>/dev/null

	# The seccomp filter and the capabilities.
	run_case seccomp "$AGENTS/escape/seccomp.sh" ""
	succeeded seccomp
	r=$(result seccomp)
	for c in $PROBE_CASES; do
		echo "$r" | grep -q -E "^$c: (denied|killed)"
		ok $? "$P seccomp: $c is refused"
	done
	case $r in
	*ALLOWED*) ok 1 "$P seccomp: nothing is allowed"
		echo "$r" | grep ALLOWED | sed 's/^/#   /' ;;
	*) ok 0 "$P seccomp: nothing is allowed" ;;
	esac
	# glibc falls back from clone3 to clone only on ENOSYS.
	like "$r" "clone3: denied (ENOSYS)" "$P seccomp: clone3 fails with ENOSYS"
	like "$r" "ptrace: denied (EPERM)" "$P seccomp: ptrace fails with EPERM"
	like "$r" "tiocsti-high: denied (EPERM)" "$P seccomp: TIOCSTI with high bits fails with EPERM"
	like "$r" "$(printf 'CapEff:\t0000000000000000')" "$P seccomp: no capabilities"
	like "$r" "$(printf 'NoNewPrivs:\t1')" "$P seccomp: no new privileges"
	like "$r" "$(printf 'Seccomp:\t2')" "$P seccomp: a seccomp filter is on"

	# Pushing a command into the terminal handoff runs in: under script(1),
	# whatever the agent pushed would be read by the shell after handoff.
	case_setup tiocsti "$AGENTS/escape/tiocsti.sh" ""
	if command -v script >/dev/null 2>&1; then
		cat > "$T/ttyrun" <<-'EOF'
		#!/bin/bash
		pre=$1; shift
		"$@" > "$pre.out" 2> "$pre.err"
		echo $? > "$pre.rc"
		for i in 1 2 3; do IFS= read -r -t 1 line && echo "$line"; done > "$pre.tty"
		EOF
		chmod +x "$T/ttyrun"
		# The command for script(1), with the paths (mktemp's, no
		# quotes in them) written in.
		printf '#!/bin/sh\nexec "%s" "%s" "%s" -c "%s" run --repo "%s" --task-file "%s"\n' \
		    "$T/ttyrun" "$T/tty" "$D/handoff" "$CFG" "$REPO" "$TASKFILE" \
		    > "$T/ttycmd"
		chmod +x "$T/ttycmd"
		SHELL=/bin/sh script -qec "$T/ttycmd" /dev/null < /dev/null \
		    > /dev/null 2>&1
		status=$(cat "$T/tty.rc" 2>/dev/null || echo none)
		cp "$T/tty.out" "$T/out"; cp "$T/tty.err" "$T/err"
		case $(cat "$T/tty.tty") in
		*INJECTED*) ok 1 "$P tiocsti: nothing reaches handoff's terminal" ;;
		*) ok 0 "$P tiocsti: nothing reaches handoff's terminal" ;;
		esac
	else
		hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE"
		ok 0 "$P tiocsti: handoff's terminal # SKIP no script(1)"
	fi
	succeeded tiocsti
	r=$(result tiocsti)
	for c in tiocsti tiocsti-high tioclinux; do
		like "$r" "$c: denied" "$P tiocsti: $c is refused"
	done

	# git hooks and config planted in the workspace never run on the host.
	canary="$CANARY_DIR/githooks"
	run_case githooks "$AGENTS/escape/githooks.sh" "canary: $canary"
	succeeded githooks
	[ -e "$canary" ]
	is "$?" 1 "$P githooks: no hook or config command ran outside"
	[ -e "$canary" ] && sed 's/^/#   ran: /' "$canary"
	like "$(G show handoff/local-1:README)" "githooks agent" \
	    "$P githooks: the agent's edit is committed"
	! G cat-file -e handoff/local-1:.git/config 2>/dev/null
	ok $? "$P githooks: no .git in the committed tree"

	# Symlinks are committed as symlinks, never followed.
	run_case symlink "$AGENTS/escape/symlink.sh" ""
	succeeded symlink
	is "$(G ls-tree handoff/local-1 shadow | cut -c1-6)" 120000 \
	    "$P symlink: shadow is a symlink in the tree"
	is "$(G cat-file blob handoff/local-1:shadow)" /etc/shadow \
	    "$P symlink: its blob is the link's text"
	is "$(G ls-tree handoff/local-1 outside | cut -c1-6)" 120000 \
	    "$P symlink: outside is a symlink in the tree"
	is "$(G cat-file blob handoff/local-1:outside)" ../../.. \
	    "$P symlink: its blob is the link's text"
	if $IS_ROOT && [ -s /etc/shadow ]; then
		first=$(head -n 1 /etc/shadow)
		G cat-file --batch-all-objects --batch | grep -q -F -e "$first"
		is "$?" 1 "$P symlink: no part of the host's /etc/shadow is in the repository"
	fi

	# Names that trip naive parsers are committed as they are.
	run_case weirdnames "$AGENTS/escape/weirdnames.sh" ""
	succeeded weirdnames
	names="|$(G ls-tree -z --name-only handoff/local-1 | tr '\0\n' '|%')"
	long=$(printf '%0200d' 0 | tr 0 n)
	for n in 'new%line' ..foo 'a\b' -dash "$long" "$(printf 'with space\tand tab')" \
	    'quote"d'; do
		like "$names" "|$n|" "$P weirdnames: '$(printf %.20s "$n")' is committed"
	done

	# Limits: each ends the run with its reason and leaves nothing behind.
	run_case forkbomb "$AGENTS/escape/forkbomb.sh" ""
	if [ "$WHO" = root ]; then
		failed_with forkbomb "pids limit 200 reached"
	else	# no cgroups for a plain user here: rlimits, named in the reason
		failed_with forkbomb "processes to 200 by RLIMIT_NPROC"
	fi
	no_survivors forkbomb
	( sh -c 'exit 7' ); is "$?" 7 "$P forkbomb: the host can still fork"

	run_case memhog "$AGENTS/escape/memhog.sh" ""
	if [ "$WHO" = root ]; then
		failed_with memhog "memory limit 256M reached"
	else
		failed_with memhog "memory is limited to 256M by RLIMIT_AS"
	fi
	no_survivors memhog

	run_case diskfill "$AGENTS/escape/diskfill.sh" ""
	failed_with diskfill "disk limit 64M reached"
	job_log > "$T/log"
	like "$(cat "$T/log")" "/tmp: write failed" "$P diskfill: /tmp is bounded"
	like "$(cat "$T/log")" "HOME: write failed" "$P diskfill: \$HOME is bounded"

	run_case sleeper "$AGENTS/escape/sleeper.sh" ""
	failed_with sleeper "timed out after 20s"
	no_survivors sleeper

	run_case hang "$AGENTS/hang.sh" ""
	failed_with hang "timed out after 20s"
	no_survivors "hang (setsid and background children)"

	run_case noisy "$AGENTS/noisy.sh" "" '[agent]' 'max_log = 1M'
	failed_with noisy "log limit"
	job_log > "$T/log"
	size=$(wc -c < "$T/log")
	ok "$([ "$size" -gt 0 ] && [ "$size" -le 2097152 ]; echo $?)" \
	    "$P noisy: the log is kept, and bounded ($size bytes)"
	no_survivors noisy

	# After all that, handoff still runs an ordinary agent.
	run_case after "$AGENTS/edit.sh" ""
	succeeded "edit after the escapes"
	like "$(G show handoff/local-1:README)" "edit agent" \
	    "$P edit after the escapes: the change is on the branch"
	is "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$SERVE_URL/healthz")" \
	    200 "$P handoff serve still answers"
	no_survivors "all cases"
}

halves half
done_testing
