#!/bin/sh
# Fills /tmp and $HOME (16M files, up to 160M each, removed after), then
# the workspace until writing fails: one file, then 16M files up to 160M.
# Records what each write said.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
out=RESULT-diskfill.txt
fill() {	# fill LABEL FILE MB
	if msg=$(dd if=/dev/zero of="$2" bs=1M count="$3" 2>&1); then
		echo "$1: wrote ${3}M without error"
	else
		echo "$1: write failed (rc=$?): $(echo "$msg" | head -n 1)"
	fi
}
# fill_many LABEL DIR: 16M files up to 160M, until a write fails.
fill_many() {
	i=1
	while [ "$i" -le 10 ]; do
		r=$(fill "$1" "$2/big-$i" 16)
		case $r in
		*failed*) echo "$r (file $i of 16M)"; return ;;
		esac
		i=$((i + 1))
	done
	echo "$1: wrote 160M without error"
}
fill_many /tmp /tmp | tee "$out"
rm -f /tmp/big-*
fill_many HOME "$HOME" | tee -a "$out"
rm -f "$HOME"/big-*
fill workspace big 1024 | tee -a "$out"
fill_many "workspace, in 16M files" . | tee -a "$out"
exit 0
