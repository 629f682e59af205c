#!/bin/bash
# The limits hold whatever the agent does with its files and memory, with
# handoff run by root and by an unprivileged user: with disk = 64M, what it
# writes through the descriptor of an unlinked file, into a directory it
# makes unreadable, into summary.md or /dev/shm, and the inodes of many
# empty files all count against one filesystem of the job's own, and the
# job ends saying the disk limit was reached; System V shared memory is
# capped, and memfds (memory no rlimit counts) are refused where memory is
# an rlimit; a sparse file larger than [runs] max_file_size is refused at
# collect, and nothing of it is committed; the agent is uid 1000 inside and
# never the host's root: it cannot read root-only files of an extra_ro
# path, sees no /etc/ssl/private, and a setuid file it makes never lands on
# the host. Run a third time unprivileged inside cgroups given to the user
# (Delegate=yes), memory and processes are the cgroups' to limit.
. "$SRCDIR/tests/sandbox-lib.sh"
AGENT="$AGENTS/escape/limits.sh"

# held KIND: the MiB the probe said it held as KIND, from the job's log.
held() {
	job_log | sed -n "s/^pin $1: held \([0-9]*\) MiB.*/\1/p" | head -n 1
}
# said WHAT: the number the agent printed after "WHAT: ".
said() {
	job_log | sed -n "s/^$1: [a-z ]*\([0-9][0-9]*\).*/\1/p" | head -n 1
}
at_most() {	# at_most GOT MAX DESCRIPTION
	ok "$([ -n "$1" ] && [ "$1" -le "$2" ]; echo $?)" "$3 (got ${1:-nothing})"
}

# An extra_ro directory with a root-only key and a file anyone may read.
EXTRA="$T/extra"
mkdir -p "$EXTRA"
chmod 755 "$EXTRA"
echo "secret key" > "$EXTRA/key.pem"
chmod 600 "$EXTRA/key.pem"
echo "public" > "$EXTRA/readme.txt"
chmod 644 "$EXTRA/readme.txt"

limits() {	# limits root|user
	half_setup "$1"

	# Item 1: an unlinked file, written through its descriptor.
	run_case unlinked "$AGENT" "do: pin unlinked 300"
	at_most "$(held unlinked)" 64 "$P unlinked: at most 64 MiB written to an unlinked file"

	# Item 2: a directory made unreadable hides nothing from the limit.
	run_case hidden "$AGENT" "do: hidden 300"
	failed_with hidden "disk limit 64M reached"
	at_most "$(said hidden)" 64 "$P hidden: at most 64 MiB written into a mode-000 directory"
	find "$D/data" -size +1M -type f 2>/dev/null | grep -v -e '\.db' \
	    -e '/mirrors/' -e '/log$' > "$T/big"
	is "$(cat "$T/big")" "" "$P hidden: nothing of it is left on the host"

	# Inodes: 50,000 empty files are not free.
	run_case files "$AGENT" "do: files 50000"
	failed_with files "disk limit 64M reached (all 4096 files in use)"
	at_most "$(said files)" 4096 "$P files: at most 4096 files made"

	# summary.md is on the job's filesystem too.
	run_case summary "$AGENT" "do: summary 300"
	failed_with summary "disk limit 64M reached"
	at_most "$(said summary)" 64 "$P summary: at most 64 MiB in summary.md"

	# Item 3: /dev/shm is no tmpfs without a size.
	run_case devshm "$AGENT" "do: pin devshm 1000"
	failed_with devshm "disk limit 64M reached"
	at_most "$(held devshm)" 64 "$P devshm: at most 64 MiB in /dev/shm"

	# As root on a machine without loop devices: a tmpfs, as big.
	if [ "$WHO" = root ]; then
		HANDOFF_LOOP_CONTROL="$T/no-loop-control" run_case noloop \
		    "$AGENT" "do: pin devshm 1000"
		failed_with noloop "disk limit 64M reached"
		at_most "$(held devshm)" 64 "$P noloop: at most 64 MiB in /dev/shm, without loop devices"
		like "$(cat "$T/err")" "no loop devices" "$P noloop: handoff says the disk is a tmpfs"
	fi

	# Variation: System V segments, detached, count against no rlimit.
	run_case sysv "$AGENT" "do: pin sysv 600"
	is "$status" 0 "$P sysv: the run ends"
	at_most "$(held sysv)" 64 "$P sysv: at most 64 MiB of System V shared memory"

	# Variation: memfd pages that are not mapped count against no rlimit.
	run_case memfd "$AGENT" "do: pin memfd 600"
	if [ "$WHO" != user ]; then
		# The memory cgroup counts them: the probe is killed there.
		r=$(job_log)
		case $r in
		*"pin memfd: held 600"*) ok 1 "$P memfd: the memory cgroup stops the probe" ;;
		*) like "$r" "Killed" "$P memfd: the memory cgroup stops the probe" ;;
		esac
	else
		is "$status" 0 "$P memfd: the run ends"
		like "$(job_log)" "pin memfd: held 0 MiB (stopped: ENOSYS)" \
		    "$P memfd: memfd_create is refused without a memory cgroup"
	fi
	no_survivors "the memory cases"

	# Item 4: a sparse file is its size, not its blocks.
	DISK=2G run_case sparse "$AGENT" "do: sparse 1G"
	failed_with sparse "big.bin 1073741824 bytes, more than [runs] max_file_size (50M)"
	big=$(G cat-file --batch-all-objects --batch-check='%(objectsize)' |
	    sort -n | tail -n 1)
	at_most "$big" $((50 * 1024 * 1024)) "$P sparse: no object over 50M in the repository"

	# Item 5: the agent is uid 1000, owner of nothing of the host's.
	run_case whoami "$AGENT" "do: whoami
do: read $EXTRA/key.pem
do: read $EXTRA/readme.txt
do: exists /etc/ssl/private
do: read /etc/ssl/certs/ca-certificates.crt" \
	    '[sandbox]' "extra_ro = $EXTRA"
	is "$status" 0 "$P whoami: the run ends"
	r=$(job_log)
	like "$r" "whoami: uid 1000 gid 1000" "$P whoami: the agent is uid and gid 1000 inside"
	like "$r" "read $EXTRA/key.pem: not readable" "$P whoami: a root-only file of extra_ro is not readable"
	like "$r" "read $EXTRA/readme.txt: readable" "$P whoami: a world-readable file of extra_ro is"
	like "$r" "exists /etc/ssl/private: absent" "$P whoami: /etc/ssl/private is not there"
	[ -f /etc/ssl/certs/ca-certificates.crt ] &&
	    like "$r" "read /etc/ssl/certs/ca-certificates.crt: readable" \
	    "$P whoami: the CA certificates are"

	# A setuid file of the agent's, while it runs: never a host file, and
	# its processes are not root on the host.
	case_setup setuid "$AGENT" "do: setuid"
	hrun -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE" &
	runner=$!
	for _ in $(seq 200); do
		job_log 2>/dev/null | grep -q "setuid: ready" && break
		sleep 0.1
	done
	like "$(job_log)" "setuid: ready, 4755 1000" "$P setuid: the agent made a setuid file"
	found=$(find "$D/data" -perm -4000 2>/dev/null)
	is "$found" "" "$P setuid: no setuid file under data_dir on the host"
	uids=$(for p in $(pgrep -f "$MARK"); do ps -o uid= -p "$p"; done |
	    tr -d ' ' | sort -u | tr '\n' ' ')
	if [ "$WHO" = root ]; then
		is "$uids" "65533 " "$P setuid: its processes run as host uid 65533, no account"
	else
		is "$uids" "$(id -u "$ESC_USER" 2>/dev/null || id -u) " \
		    "$P setuid: its processes run as the operator's user"
	fi
	wait "$runner"
	status=$?
	succeeded setuid
	is "$(G ls-tree handoff/local-1 rootsh | cut -c1-6)" 100755 \
	    "$P setuid: committed as a plain executable"

	[ "$WHO" = delegated ] || return 0
	# Given cgroups, an unprivileged handoff uses them as root does.
	run_case memhog "$AGENTS/escape/memhog.sh" ""
	failed_with memhog "memory limit 256M reached"
	run_case forkbomb "$AGENTS/escape/forkbomb.sh" ""
	failed_with forkbomb "pids limit 200 reached"
	no_survivors forkbomb
	left=$(ls -d "$CG"/memory/"$DELEG"/*/ "$CG"/pids/"$DELEG"/*/ 2>/dev/null)
	is "$left" "" "$P the jobs' groups are removed"
}

halves limits delegated
done_testing
