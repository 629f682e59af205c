#!/bin/sh
# Leaves symlinks to host files and out of the workspace, uncommitted.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
out=RESULT-symlink.txt
ln -s /etc/shadow shadow
ln -s ../../.. outside
ln -s /root/.ssh/id_rsa key
ln -s /proc/1/environ environ
{
	echo "shadow -> $(readlink shadow); $(cat shadow > /dev/null 2>&1 &&
	    echo readable || echo not readable)"
	echo "outside -> $(readlink outside); $(ls outside/ 2>&1 | head -n 3 |
	    tr '\n' ' ')"
} > "$out"
cat "$out"
exit 0
