#!/bin/sh
# Creates 150 files.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
set -e
mkdir -p gen
i=1
while [ "$i" -le 150 ]; do
	printf 'file %d\n' "$i" > "gen/file-$i.txt"
	i=$((i + 1))
done
echo "created 150 files"
