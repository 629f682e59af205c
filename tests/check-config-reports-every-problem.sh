#!/bin/bash
# check-config reports every problem in a config, not only the first: a
# config with errors in several sections gets one line for each, naming
# file:line, the key and what was expected, and exit 2; a syntax error, an
# unknown section and a missing file: secret count too; a config with one
# error gets exactly that one line; past 50 problems the list ends with
# "... and N more". serve refuses the same config with the same lines.
# Env: HANDOFF (the binary). Prints TAP.

. "$SRCDIR/tests/lib.sh"
cd "$T" || exit 1
unset HANDOFF_CONFIG

# reported FILE LINE TEXT DESCRIPTION: $T/err has a line FILE:LINE: TEXT...
reported() {
	grep -q -F -e "handoff: $1:$2: $3" "$T/err"
	ok $? "$4 (line $2)"
}

bad=$T/bad.ini
cat > "$bad" <<CONF
[server]
listen = 127.0.0.1:$(free_port)
data_dir = $T/data
max_body = 100
[github]
app_id = my-app
colour = blue
[gitlab]
url = https://gitlab.example.com/api/v4
token = file:$T/no-such-token
[web]
listen = nowhere
this line has no equals sign
[nosuch]
key = value
[agent]
max_log = 12Q
CONF

run check-config -c "$bad"
is "$status" 2 "check-config exits 2 on a config with many errors"
reported "$bad" 4 "[server] max_body: " "a size without its unit"
reported "$bad" 6 "[github] app_id: " "an App's name for its ID"
reported "$bad" 7 "[github] colour: unknown key" "an unknown key"
reported "$bad" 9 "[gitlab] url: " "a GitLab URL with /api/v4"
reported "$bad" 10 "[gitlab] token: " "a file: secret that is not there"
reported "$bad" 12 "[web] listen: " "a bad listen address"
reported "$bad" 13 'expected "[section]" or "key = value"' "a line that is no key"
reported "$bad" 14 "[nosuch]: unknown section" "an unknown section"
reported "$bad" 17 "[agent] max_log: " "a bad size"
is "$(grep -c "^handoff: $bad:" "$T/err")" 9 "one line for each, no more"
! grep -q "$bad:15:" "$T/err"
ok $? "keys in an unknown section are not reported again"
grep -q "without /api/v4" "$T/err"
ok $? "each line says what was expected"

serve_refused "$bad"
[ "$status" -eq 2 ] && [ "$(grep -c "^handoff: $bad:" "$T/err")" -eq 9 ]
ok $? "serve refuses the config with the same nine lines"

one=$T/one.ini
cat > "$one" <<CONF
[server]
listen = 127.0.0.1:$(free_port)
data_dir = $T/data
[web]
listen = 127.0.0.1:$(free_port)
[github]
app_id = my-app
CONF
run check-config -c "$one"
is "$status" 2 "check-config exits 2 on a config with one error"
is "$(grep -c . "$T/err")" 1 "one error gives one line"
reported "$one" 7 "[github] app_id: " "and it is that error"

# Checks across keys run as well, next to the errors in single keys, but
# not on a key whose value was refused.
printf -- '-----BEGIN PRIVATE KEY-----\npem-canary-7d02b1\n-----END PRIVATE KEY-----\n' \
    > "$T/app.pem"
cross=$T/cross.ini
cat > "$cross" <<CONF
[server]
listen = 127.0.0.1:$(free_port)
data_dir = $T/data
max_body = 100
[web]
listen = 127.0.0.1:$(free_port)
[github]
token = tok-canary-5a1e
app_id = 4242
private_key = file:$T/app.pem
[gitlab]
url = https://gitlab.example.com/api/v4
CONF
run check-config -c "$cross"
is "$status" 2 "check-config exits 2 on errors in keys and across keys"
reported "$cross" 4 "[server] max_body: " "a size without its unit"
reported "$cross" 8 "[github] token: set together with [github] app_id" \
    "a token with an App, a check across keys"
reported "$cross" 12 "[gitlab] url: " "and the GitLab URL after it"
! grep -q -e tok-canary -e pem-canary "$T/err"
ok $? "no secret in the errors"

refused=$T/refused.ini
cat > "$refused" <<CONF
[server]
listen = 127.0.0.1:$(free_port)
data_dir = $T/data
[web]
listen = 127.0.0.1:$(free_port)
[github]
app_id = my-app
private_key = file:$T/app.pem
CONF
run check-config -c "$refused"
[ "$status" -eq 2 ] && [ "$(grep -c . "$T/err")" -eq 1 ]
ok $? "a refused app_id is one problem: no \"expected app_id as well\" after it"
reported "$refused" 7 "[github] app_id: " "the refused app_id"

# Lines inih cannot read, each reported where it stands: a section
# without its "]", a key whose "=" is in a comment, a bare word.
syn=$T/syntax.ini
cat > "$syn" <<CONF
[server]
data_dir = $T/data
[web
nokey ; a = b
max_body = 100
bare
CONF
run check-config -c "$syn"
is "$status" 2 "check-config exits 2 on lines it cannot read"
reported "$syn" 3 'expected "[section]" or "key = value"' "a section without ]"
reported "$syn" 4 'expected "[section]" or "key = value"' "an = only in a comment"
reported "$syn" 5 "[server] max_body: " "the key after them"
reported "$syn" 6 'expected "[section]" or "key = value"' "a bare word"
is "$(grep -c "^handoff: $syn:" "$T/err")" 4 "four lines"
is "$(grep -o "^handoff: $syn:[0-9]*" "$T/err" | cut -d: -f3 | tr '\n' ' ')" \
    "3 4 5 6 " "in the order of the file"

# A file that starts with a UTF-8 byte order mark still loads, its first
# line a section; a bad first line after the mark is reported as one.
bom=$T/bom.ini
printf '\357\273\277[server]\nlisten = 127.0.0.1:%s\ndata_dir = %s\n[web]\nlisten = 127.0.0.1:%s\n' \
    "$(free_port)" "$T/data" "$(free_port)" > "$bom"
run check-config -c "$bom"
is "$status" 0 "a config with a byte order mark loads"
printf '\357\273\277[nosuch]\nkey = 1\n' > "$bom"
run check-config -c "$bom"
[ "$status" -eq 2 ] && [ "$(grep -c . "$T/err")" -eq 1 ]
ok $? "a bad section after the byte order mark is one problem"
reported "$bom" 1 "[nosuch]: unknown section" "the section after the mark"

many=$T/many.ini
{
	printf '[server]\nlisten = 127.0.0.1:%s\ndata_dir = %s\n' \
	    "$(free_port)" "$T/data"
	for i in $(seq 1 60); do printf 'nokey%s = 1\n' "$i"; done
} > "$many"
run check-config -c "$many"
is "$status" 2 "check-config exits 2 on sixty errors"
is "$(grep -c "unknown key" "$T/err")" 50 "the first fifty are listed"
reported "$many" 4 "[server] nokey1: unknown key" "the first is among them"
grep -q -F "handoff: $many: ... and 10 more" "$T/err"
ok $? "the rest are counted: ... and 10 more"

done_testing
