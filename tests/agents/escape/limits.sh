#!/bin/sh
# Tries to take more than the sandbox's limits give, one "do: WHAT ARGS"
# line of the task after another, and prints what it got (the log, not the
# workspace, which may be full):
#   do: pin KIND MB    the probe holds MB MiB as KIND (see tests/probe.c)
#   do: hidden MB      MB MiB in a directory it then makes mode 000
#   do: files N        N empty files in /tmp
#   do: summary MB     MB MiB into $HANDOFF_SUMMARY
#   do: sparse SIZE    big.bin, a sparse file of SIZE (truncate -s)
#   do: whoami         its uid and gid
#   do: read PATH      whether PATH can be read
#   do: exists PATH    whether PATH is there at all
#   do: setuid         a setuid copy of sh in the workspace, then 4 s of sleep
#                      (in a process carrying the task's "marker: X")
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
marker=$(sed -n 's/^marker: *//p' "$HANDOFF_TASK" | head -n 1)
mib() { echo $(( $(stat -c %s "$1" 2>/dev/null || echo 0) / 1048576 )); }
sed -n 's/^do: *//p' "$HANDOFF_TASK" | while read -r what a b; do
	case $what in
	pin)	/workspace/probe pin "$a" "$b" ;;
	hidden)	mkdir -p hidden
		dd if=/dev/zero of=hidden/f bs=1M count="$a" 2>/dev/null
		echo "hidden: wrote $(mib hidden/f) MiB"
		chmod 000 hidden ;;
	files)	i=0
		while [ "$i" -lt "$a" ] && touch "/tmp/f$i" 2>/dev/null; do
			i=$((i + 1))
		done
		echo "files: made $i" ;;
	summary)
		dd if=/dev/zero of="$HANDOFF_SUMMARY" bs=1M count="$a" 2>/dev/null
		echo "summary: wrote $(mib "$HANDOFF_SUMMARY") MiB" ;;
	sparse)	truncate -s "$a" big.bin && echo "sparse: $(stat -c %s big.bin) bytes" ;;
	whoami)	echo "whoami: uid $(id -u) gid $(id -g)" ;;
	read)	cat "$a" > /dev/null 2>&1 && r=readable || r="not readable"
		echo "read $a: $r" ;;
	exists)	[ -e "$a" ] && r=present || r=absent
		echo "exists $a: $r" ;;
	setuid)	cp /bin/sh rootsh && chmod 4755 rootsh
		echo "setuid: ready, $(stat -c '%a %u' rootsh)"
		sh -c "sleep 4; : $marker" ;;
	esac
done
exit 0
