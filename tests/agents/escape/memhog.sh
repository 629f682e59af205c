#!/bin/sh
# Takes memory until it is stopped: tail keeps a newline-free stream
# whole, then the shell doubles a string.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
echo "memhog: tail of 2G of zeros"
head -c 2G /dev/zero | tail > /dev/null
echo "memhog: tail ended (rc=$?)"
x=xxxxxxxxxxxxxxxx
n=16
while [ "$n" -lt 1073741824 ]; do
	x="$x$x"
	n=$((n * 2))
	echo "memhog: $n bytes"
done
echo "memhog: done, not stopped"
exit 0
