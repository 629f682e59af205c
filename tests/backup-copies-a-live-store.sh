#!/bin/bash
# `handoff backup FILE` while serve takes deliveries: the copy opens on its
# own, passes PRAGMA integrity_check and has every job committed before it
# began; it is mode 0600 whatever the umask; an existing FILE is replaced
# only with --force, and a link at FILE or FILE.tmp is never followed.
. "$SRCDIR/tests/lib.sh"

command -v sqlite3 >/dev/null || { echo "Bail out! sqlite3 is needed"; exit 1; }
write_config
DB="$DATA/handoff.db"
q() { sqlite3 -cmd ".timeout 10000" "$1" "$2"; }

run -c "$CONFIG" backup "$T/none.db"
is "$status" 1 "without a store there is nothing to back up"
like "$(cat "$T/err")" "no store in" "and it says so"
[ ! -e "$DATA/handoff.db" ]; ok $? "no store is made"

start_serve
(
	for n in $(seq 1 150); do
		deliver github issues "$(labeled $n)" --delivery "d-$n"
		echo
	done > "$T/answers"
) &
loop=$!
wait_for "some jobs" sh -c "[ \$(grep -c '^202' '$T/answers') -ge 20 ]"
committed=$(q "$DB" "SELECT max(id) FROM jobs")
mkdir "$T/backups"
(umask 000; "$HANDOFF" -c "$CONFIG" backup "$T/backups/one.db" >"$T/out" 2>"$T/err")
is "$?" 0 "backup succeeds while deliveries come in"
still=$(grep -c '^202' "$T/answers")
wait "$loop"
is "$(grep -c '^202 {"verdict":"queued"' "$T/answers")" 150 \
    "every delivery is accepted meanwhile"
echo "# $still of 150 deliveries were answered when the backup ended"

# The copy alone, away from the store's WAL.
cp "$T/backups/one.db" "$T/alone.db"
is "$(q "$T/alone.db" "PRAGMA integrity_check")" ok "the copy passes integrity_check"
is "$(q "$T/alone.db" "PRAGMA journal_mode")" delete "it needs no WAL file"
is "$(q "$T/alone.db" "SELECT count(*) FROM jobs WHERE id <= $committed")" \
    "$committed" "it has the $committed jobs committed before the backup"
is "$(stat -c %a "$T/backups/one.db")" 600 "it is mode 0600 (umask 000)"
is "$(ls "$T/backups")" "one.db" "no .tmp file is left"

# An existing FILE stays unless --force.
sum=$(sha256sum < "$T/backups/one.db")
run -c "$CONFIG" backup "$T/backups/one.db"
is "$status" 1 "backup refuses to overwrite a file"
like "$(cat "$T/err")" "--force" "and names --force"
is "$(sha256sum < "$T/backups/one.db")" "$sum" "the file is unchanged"
run -c "$CONFIG" backup --force "$T/backups/one.db"
is "$status" 0 "with --force it replaces it"
is "$(q "$T/backups/one.db" "SELECT count(*) FROM jobs")" 150 \
    "the new copy has all 150 jobs"
is "$(stat -c %a "$T/backups/one.db")" 600 "still mode 0600"

# A link at FILE, even one to nowhere, is a file that exists; a link at
# FILE.tmp is removed, not written through.
ln -s "$T/elsewhere.db" "$T/backups/link.db"
run -c "$CONFIG" backup "$T/backups/link.db"
is "$status" 1 "a link at FILE is refused"
[ ! -e "$T/elsewhere.db" ]; ok $? "nothing is written where it points"
echo "precious" > "$T/victim"
ln -s "$T/victim" "$T/backups/two.db.tmp"
run -c "$CONFIG" backup "$T/backups/two.db"
is "$status" 0 "a link at FILE.tmp does not stop the backup"
is "$(cat "$T/victim")" precious "and what it pointed to is untouched"
is "$(q "$T/backups/two.db" "PRAGMA integrity_check")" ok "that copy is good too"

run -c "$CONFIG" backup
is "$status" 2 "backup without FILE is a usage error"
run -c "$CONFIG" backup "$T/a.db" "$T/b.db"
is "$status" 2 "two files are a usage error"
like "$(cat "$T/err")" "$T/b.db" "naming the extra argument"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly"
done_testing
