#!/bin/bash
# What is pushed is exactly what a reviewer sees: the agent's commits are
# folded into one commit of handoff's on the base, so a first commit that
# rewrote the CI workflow, planted a .git tree entry and gave a
# terminal-escaping message, undone by a second, leaves no trace on
# the branch; the messages survive, as text, in the body, and the
# authors as the commit's author and a Co-authored-by line, handoff being
# the committer (commits-keep-the-agents-author.sh). A sparse file
# committed and removed again is never packed. A tree entry naming .git as
# another filesystem would read it (git~1) is refused.
. "$SRCDIR/tests/lib.sh"
AGENT="$SRCDIR/tests/agents/smuggle.sh"

G() {	# G ARGS: git on the case's repository
	git -C "$REPO" "$@"
}

smuggle() {	# smuggle CASE [INI-LINES...]: a fresh repository, handoff run
	name=$1
	shift
	REPO="$T/$name"
	mkrepo "$REPO"
	DATA="$T/data-$name"
	write_config '[agent]' "command = $AGENT" \
	    'timeout = 60s' "$@"
	printf 'Smuggle %s\n\ncase: %s\n' "$name" "$name" > "$T/task"
	run -c "$CONFIG" run --repo "$REPO" --task-file "$T/task"
}

smuggle undone
is "$status" 0 "undone: handoff run exits 0"
is "$(G rev-list --count main..handoff/local-1)" 1 "undone: one commit on the branch"
is "$(G log --format=%cn main..handoff/local-1 | sort -u)" handoff \
    "undone: handoff commits what is on the branch"
is "$(G diff --name-only main handoff/local-1)" README "undone: the change is README only"
is "$(G log --format=%h main..handoff/local-1 -- .github)" "" \
    "undone: no commit on the branch touches the workflow"
G rev-list --objects main..handoff/local-1 | grep -q -E '(^| |/)\.git(/|$)'
is "$?" 1 "undone: no tree on the branch holds a .git entry"
is "$(G log --format='%an <%ae>' main..handoff/local-1)" \
    "Linus Torvalds <torvalds@linux-foundation.org>" \
    "undone: the first agent commit's author is the commit's author"
like "$(G log -1 --format=%B handoff/local-1)" \
    "Co-authored-by: agent <agent@example.invalid>" \
    "undone: the second's author a co-author"
body=$(G log -1 --format=%B handoff/local-1)
like "$body" "* Fix CI" "undone: the first message is in the body"
like "$body" "* Tidy README" "undone: the second message is in the body"
printf '%s' "$body" | LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')"
is "$?" 1 "undone: the body holds no control character"

smuggle big '[sandbox]' 'disk = 2G'
is "$status" 0 "big: handoff run exits 0"
is "$(G rev-list --count main..handoff/local-1)" 1 "big: one commit on the branch"
largest=$(G rev-list --objects main..handoff/local-1 | cut -d' ' -f1 |
    G cat-file --batch-check='%(objectsize)' | sort -n | tail -n 1)
ok "$([ "${largest:-0}" -lt 1048576 ]; echo $?)" \
    "big: no object of the branch is large (largest $largest bytes)"
largest=$(git -C "$DATA"/mirrors/*.git cat-file --batch-all-objects \
    --batch-check='%(objectsize)' | sort -n | tail -n 1)
ok "$([ "${largest:-0}" -lt 1048576 ]; echo $?)" \
    "big: the sparse file never reached handoff's mirror (largest $largest bytes)"

smuggle shortname
is "$status" 1 "shortname: handoff run exits 1"
like "$(cat "$T/err")" "the change touches an invalid path" "shortname: the reason says so"
G rev-parse -q --verify refs/heads/handoff/local-1 >/dev/null
is "$?" 1 "shortname: no branch"

done_testing
