#!/bin/bash
# Relative paths in the config (data_dir, file: secrets, ca_file, extra_ro,
# [sandbox] root, and the same keys in [repo] sections) are the config
# file's directory's, wherever handoff is started from; check-config prints
# them absolute, and serve puts its store there. Env: HANDOFF (the binary).
# Prints TAP.

. "$SRCDIR/tests/lib.sh"
unset HANDOFF_CONFIG
E=$T/etc/handoff
mkdir -p "$E/secrets" "$E/certs" "$E/ro" "$E/repo-ro" "$E/tree/usr" "$T/elsewhere"
chmod 755 "$E/tree" "$E/tree/usr"
printf 'file-canary-28cd1e\n' > "$E/secrets/gh-token"
printf 'whsec-canary-9a0e11\n' > "$E/secrets/hook"
printf -- '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n' \
    > "$E/certs/ca.pem"
PORT=$(free_port)
WEB_PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
cat > "$E/handoff.ini" <<INI
[server]
listen = 127.0.0.1:$PORT
data_dir = data
[web]
listen = 127.0.0.1:$WEB_PORT
[github]
webhook_secret = file:secrets/hook
token = file:./secrets/gh-token
[sandbox]
extra_ro = ro, /opt
root = tree
[llm]
ca_file = certs/ca.pem
[runs]
max_parallel = 0
[repo "acme/web"]
sandbox.extra_ro = repo-ro
INI

# From another directory, -c relative to it, then absolute.
cd "$T/elsewhere" || exit 1
for c in ../etc/handoff/handoff.ini "$E/handoff.ini"; do
	run check-config -c "$c"
	is "$status" 0 "check-config -c $c from elsewhere: exit 0"
	has "$T/out" "data_dir = $E/data"
	ok $? "$c: data_dir is the config's directory's, printed absolute"
	has "$T/out" "token = <set, from file:$E/secrets/gh-token>" &&
	    has "$T/out" "webhook_secret = <set, from file:$E/secrets/hook>"
	ok $? "$c: file: secrets read from the config's directory, shown absolute"
	has "$T/out" "extra_ro = $E/ro, /opt"
	ok $? "$c: extra_ro resolved, an absolute one kept"
	has "$T/out" "root = $E/tree"
	ok $? "$c: [sandbox] root resolved"
	has "$T/out" "ca_file = $E/certs/ca.pem"
	ok $? "$c: ca_file resolved"
	! grep -q -e file-canary -e whsec-canary "$T/out" "$T/err"
	ok $? "$c: no secret shown"
done

run check-config -c ../etc/handoff/handoff.ini --repo acme/web
[ "$status" -eq 0 ] && has "$T/out" "extra_ro = $E/repo-ro"
ok $? "a [repo] section's extra_ro is the config's directory's too"

# HANDOFF_CONFIG, relative, from the config's parent.
cd "$T/etc" || exit 1
HANDOFF_CONFIG=handoff/handoff.ini run check-config
[ "$status" -eq 0 ] && has "$T/out" "data_dir = $E/data"
ok $? "HANDOFF_CONFIG=handoff/handoff.ini: the same absolute data_dir"

# A relative secret file that is missing: the error names it absolute.
sed 's|^token = .*|token = file:secrets/none|' "$E/handoff.ini" > "$E/missing.ini"
cd "$T/elsewhere" || exit 1
run check-config -c ../etc/handoff/missing.ini
[ "$status" -eq 2 ] && has "$T/err" "cannot read file:$E/secrets/none"
ok $? "a missing relative secret file: exit 2, named by its absolute path"

# serve, started elsewhere, keeps its store in the config's directory.
CONFIG=../etc/handoff/handoff.ini
start_serve
[ -f "$E/data/handoff.db" ] && [ ! -e "$T/elsewhere/data" ]
ok $? "serve started elsewhere made its store in $E/data"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly"
cd / || exit 1
run -c "$E/handoff.ini" jobs
is "$status" 0 "handoff jobs from / finds that store"

done_testing
