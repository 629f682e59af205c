#!/bin/sh
# Gathers everything secret-looking it can see: its environment, every
# process's environ and cmdline, the repository's config, /etc. The test
# greps RESULT-env-secrets.txt for its canaries.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
out=RESULT-env-secrets.txt
{
	echo "== env"
	env
	for f in /proc/[0-9]*/environ; do
		echo "== $f"
		tr '\0' '\n' < "$f" 2>&1
	done
	for f in /proc/[0-9]*/cmdline; do
		echo "== $f"
		tr '\0' ' ' < "$f" 2>&1
		echo
	done
	echo "== .git/config"
	cat .git/config 2>&1
	echo "== /etc"
	ls -la /etc 2>&1
	for f in /etc/* /etc/*/*; do
		# Text files only; the first 200 lines are enough for a secret.
		[ -f "$f" ] && grep -I -q '' "$f" 2>/dev/null &&
		    { echo "== $f"; head -n 200 "$f" 2>&1; }
	done
	echo "== /home /tmp /run /"
	ls -laR /home /tmp /run 2>&1 | head -n 200
	ls -la / 2>&1
} > "$out" 2>&1
echo "recorded $(wc -l < "$out") lines"
exit 0
