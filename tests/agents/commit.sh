#!/bin/sh
# Commits twice by itself, then leaves one more change uncommitted.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
set -e
# The workspace's .git/config names an identity; fall back to one if not.
if ! git config user.email >/dev/null; then
	export GIT_AUTHOR_NAME=agent GIT_AUTHOR_EMAIL=agent@example.invalid
	export GIT_COMMITTER_NAME=agent GIT_COMMITTER_EMAIL=agent@example.invalid
fi
echo "first change"
echo "First change by the commit agent." >> README
git add -A && git commit -q -m "agent: first change"
echo "second change"
mkdir -p lib
printf 'helper\n' > lib/helper.txt
git add -A && git commit -q -m "agent: add lib/helper.txt"
echo "third change, left uncommitted"
printf 'notes\n' > notes.txt
printf 'Two commits and a note\n' > "$HANDOFF_SUMMARY"
git log --oneline | head -n 3
