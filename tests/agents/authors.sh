#!/bin/sh
# Commits as people of its own: a first commit by Ada (who becomes the
# author), one whose author name carries terminal escapes and one whose
# address is no address (both left out), one by Grace (a co-author), and
# one more by Ada; then leaves a change uncommitted.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
set -e
c() {	# c NAME EMAIL FILE: commit a new line of FILE as NAME <EMAIL>
	echo "$1 was here" >> "$3"
	git add -A
	GIT_AUTHOR_NAME=$1 GIT_AUTHOR_EMAIL=$2 git commit -q -m "change by $1"
}
c "Ada Lovelace" ada@example.org README
c "$(printf 'Mallory\033[2J\033]0;owned\007')" mallory@example.org README
c "Eve" "not an address" README
c "Grace Hopper" grace@example.org notes.txt
c "Ada Lovelace" ada@example.org notes.txt
echo "left uncommitted" >> README
printf 'Commits by Ada and Grace\n' > "$HANDOFF_SUMMARY"
git log --format='%an <%ae>' | head -n 5
