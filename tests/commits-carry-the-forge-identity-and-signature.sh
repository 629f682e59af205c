#!/bin/bash
# handoff's commits, pushed to the forge emulator over smart HTTP, are
# committed by the account handoff acts as, at its no-reply address: a
# GitHub token's user (ID+LOGIN@users.noreply.HOST), a GitHub App's bot
# user (SLUG[bot], from GET /app and GET /users/SLUG%5Bbot%5D), a GitLab
# token's user (its commit email, else ID-USERNAME@users.noreply.HOST),
# or [runs] author_name and author_email. The forge is asked once per
# account (the store keeps the answer). The agent's own commits keep their
# authors (the first the author, the others Co-authored-by), but a name
# with terminal escapes or an address that is none is left out. With
# [runs] signing_key every commit carries an SSH signature that
# `ssh-keygen -Y verify` and `git verify-commit` accept; the key is in no
# log, no job file, the store, nor the agent's sandbox; an encrypted, a
# short RSA, an ECDSA key and a public key are refused at load.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3 ssh-keygen; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed" \
	    "(ssh-keygen: Debian's openssh-client)"; exit 1; }
done

GH=octo/widgets
GL=group/gadgets
GHTOK="ghp_ident_$$"
GLTOK="glpat-ident-$$"
start_emulator 15
emu_source '# widgets'
emu_project github $GH "$GHTOK"
emu_project gitlab $GL "$GLTOK"
admin POST tokens '{"forge":"gitlab","token":"'"$GLTOK"'","user":"handoff-bot","user_id":77,"name":"Handoff Bot","email":"handoff-bot@corp.example","commit_email":"bot-commits@corp.example"}' >/dev/null
admin POST permissions '{"forge":"github","repo":"'$GH'","user":"maint","permission":"write"}' >/dev/null
admin POST permissions '{"forge":"gitlab","repo":"'$GL'","user":"root","user_id":1,"access_level":40}' >/dev/null
ssh-keygen -q -t ed25519 -N '' -C handoff-signing -f "$T/sign"

# The agent: says whether it can read the key (its path is in the issue)
# or sees it in its environment; an "Authors" issue commits as people.
cat > "$T/agent.sh" <<EOF
#!/bin/sh
k=\$(sed -n 's/^key: //p' "\$HANDOFF_TASK" | head -n 1)
if [ -n "\$k" ] && cat "\$k" >/dev/null 2>&1; then echo "KEY READABLE"; else echo "key not readable"; fi
env | grep -q 'OPENSSH' && echo "KEY IN ENVIRONMENT"
grep -q Authors "\$HANDOFF_TASK" && exec sh $SRCDIR/tests/agents/authors.sh
printf 'a line\n' >> README
echo "Added a line." > "\$HANDOFF_SUMMARY"
EOF
chmod +x "$T/agent.sh"
MAX_PARALLEL=1 write_config "[github]" "api_url = $E/github/api" \
    "token = $GHTOK" "[gitlab]" "url = $E/gitlab" "token = $GLTOK" \
    "[agent]" "command = $T/agent.sh" "[sandbox]" \
    "extra_ro = $SRCDIR/tests/agents" "memory = 512M" "pids = 200" \
    "disk = 256M" "[runs]" "signing_key = file:$T/sign"
start_serve

restart() {
	kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
	start_serve
}
job_for() {	# job_for FORGE REPO NUMBER TITLE: deliver its label, wait
	admin POST issues '{"forge":"'$1'","repo":"'$2'","number":'$3',"title":"'"$4"'","body":"key: '"$T/sign"'","user":"'"$([ $1 = github ] && echo maint || echo root)"'"}' >/dev/null
	if [ "$1" = github ]; then
		r=$(deliver github issues "$(delivery gh-label "$2" "$3" maint)")
	else
		r=$(deliver gitlab 'Issue Hook' "$(delivery gl-label "$2" "$3" root user_id=1)" --delivery "gl-$3-$$")
	fi
	J=$(jobnum "$r")
	wait_job_end "$J"
	is "$(job_state "$J")" done "$1 #$3: job $J is done"
}
head_of() {	# head_of FORGE REPO NUMBER: a clone's commit of the job's branch
	rm -rf "$T/clone"
	if [ "$1" = github ]; then
		git clone -q "http://x-access-token:$GHTOK@${E#http://}/github/git/$2.git" "$T/clone" 2>/dev/null
	else
		git clone -q "http://oauth2:$GLTOK@${E#http://}/gitlab/$2.git" "$T/clone" 2>/dev/null
	fi
	git -C "$T/clone" for-each-ref --format='%(refname)' "refs/remotes/origin/handoff/$3-*" | head -n 1
}
who() {	# who REF: "author / committer" of the commit
	git -C "$T/clone" log -1 --format='%an <%ae> / %cn <%ce>' "$1"
}
user_requests() {	# user_requests PATH-REGEX: how many requests matched
	curl -s "$E/_admin/requests" | python3 -c 'import json, re, sys
d = json.load(sys.stdin)
print(len([r for r in d if re.search(sys.argv[1], r["path"])]))' "$1"
}
ghid=$(curl -s -H "Authorization: Bearer $GHTOK" -H 'Accept: application/vnd.github+json' \
    -H 'X-GitHub-Api-Version: 2022-11-28' "$E/github/api/user" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
admin DELETE requests >/dev/null	# what handoff asks from here on
printf 'handoff@ci namespaces="git" %s\n' "$(cut -d' ' -f1,2 "$T/sign.pub")" > "$T/allowed"

# 1. GitHub, a token, an agent that commits as people; signed.
job_for github $GH 10 "Authors at work"
ref=$(head_of github $GH 10)
is "$(who "$ref")" "Ada Lovelace <ada@example.org> / handoff-bot <$ghid+handoff-bot@users.noreply.127.0.0.1>" \
    "the agent's first author is the author, the token's user the committer"
body=$(git -C "$T/clone" log -1 --format=%B "$ref")
like "$body" "Co-authored-by: Grace Hopper <grace@example.org>" "Grace is a co-author"
is "$(printf '%s\n' "$body" | grep -c '^Co-authored-by:')" 1 "and the only one"
trailers=$(printf '%s\n' "$body" | grep -i '^co-authored-by:')
unlike "$trailers" "Mallory" "a name with terminal escapes is left out"
unlike "$trailers" "Eve" "and an address that is none"
git -C "$T/clone" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" \
    verify-commit "$ref" 2>"$T/verify"
ok $? "git verify-commit accepts the commit's signature"
has "$T/verify" 'Good "git" signature for handoff@ci with ED25519 key'; ok $? "as a good git signature by the key"
git -C "$T/clone" cat-file commit "$ref" > "$T/commit"
python3 - "$T/commit" "$T/payload" "$T/commit.sig" <<'PY'
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
payload, sig, i = [], [], 0
while i < len(lines):
    if lines[i].startswith(b"gpgsig "):
        sig.append(lines[i][7:])
        i += 1
        while lines[i].startswith(b" "):
            sig.append(lines[i][1:])
            i += 1
        continue
    payload.append(lines[i])
    i += 1
open(sys.argv[2], "wb").write(b"\n".join(payload))
open(sys.argv[3], "wb").write(b"\n".join(sig) + b"\n")
PY
head -n 1 "$T/commit.sig" | grep -q -x -- '-----BEGIN SSH SIGNATURE-----'
ok $? "the gpgsig header is an armored SSH signature"
ssh-keygen -Y verify -f "$T/allowed" -I handoff@ci -n git -s "$T/commit.sig" \
    < "$T/payload" >"$T/ykv" 2>&1
ok $? "ssh-keygen -Y verify accepts it over the commit"
printf 'tampered\n' >> "$T/payload"
ssh-keygen -Y verify -f "$T/allowed" -I handoff@ci -n git -s "$T/commit.sig" \
    < "$T/payload" >/dev/null 2>&1
ok "$([ $? -ne 0 ]; echo $?)" "and refuses it over another text"
log_has "$J" "key not readable"; ok $? "the agent could not read the key file"
! log_has "$J" "KEY IN ENVIRONMENT"; ok $? "nor find it in its environment"

# 2. Another job of the same account: the store remembers who it is.
job_for github $GH 20 "Add a line"
ref=$(head_of github $GH 20)
is "$(who "$ref")" "handoff-bot <$ghid+handoff-bot@users.noreply.127.0.0.1> / handoff-bot <$ghid+handoff-bot@users.noreply.127.0.0.1>" \
    "no agent commit: the account is author and committer"
is "$(user_requests '^/github/api/user$')" 1 "GET /user was asked once for both jobs"

# 3. GitLab: the token user's commit email.
job_for gitlab $GL 1 "Add a line"
ref=$(head_of gitlab $GL 1)
is "$(who "$ref")" "Handoff Bot <bot-commits@corp.example> / Handoff Bot <bot-commits@corp.example>" \
    "GitLab: the token user's name and commit email"
git -C "$T/clone" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$T/allowed" \
    verify-commit "$ref" 2>/dev/null
ok $? "signed there too"

# 4. GitLab, another token, whose user shows no address: the no-reply form.
admin POST tokens '{"forge":"gitlab","token":"'"$GLTOK"'-2","user":"gadget-bot","user_id":78}' >/dev/null
sed -i "s|^token = $GLTOK\$|token = $GLTOK-2|" "$CONFIG"
restart
job_for gitlab $GL 2 "Add a line"
ref=$(head_of gitlab $GL 2)
is "$(who "$ref" | sed 's| / .*||')" "gadget-bot <78-gadget-bot@users.noreply.127.0.0.1>" \
    "GitLab: else ID-USERNAME@users.noreply.HOST"

# 5. A GitHub App: its bot user.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/app.pem" 2>/dev/null
openssl pkey -in "$T/app.pem" -pubout -out "$T/app.pub" 2>/dev/null
python3 - "$E" "$T/app.pub" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/_admin/apps", method="POST",
    data=json.dumps({"app_id": "4242", "public_key_pem": open(sys.argv[2]).read(),
                     "installation_id": 42, "bot_login": "widget-maker[bot]"}).encode())
urllib.request.urlopen(req).read()
PY
admin POST permissions '{"forge":"github","repo":"'$GH'","user":"widget-maker[bot]","permission":"write"}' >/dev/null
appid=$(curl -s -H "Authorization: Bearer $GHTOK" -H 'Accept: application/vnd.github+json' \
    -H 'X-GitHub-Api-Version: 2022-11-28' "$E/github/api/users/widget-maker%5Bbot%5D" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
admin DELETE requests >/dev/null
sed -i "s|^token = $GHTOK\$|app_id = 4242\nprivate_key = file:$T/app.pem\ninstallation_id = 42|" "$CONFIG"
restart
job_for github $GH 30 "Add a line"
ref=$(head_of github $GH 30)
is "$(who "$ref" | sed 's| / .*||')" "widget-maker[bot] <$appid+widget-maker[bot]@users.noreply.127.0.0.1>" \
    "a GitHub App: its bot user, SLUG[bot], at its no-reply address"
job_for github $GH 31 "Add a line"
ref=$(head_of github $GH 31)
is "$(who "$ref" | sed 's| / .*||')" "widget-maker[bot] <$appid+widget-maker[bot]@users.noreply.127.0.0.1>" \
    "the App's next job too"
is "$(user_requests '^/github/api/app$') $(user_requests '^/github/api/users/widget-maker%5Bbot%5D$')" "1 1" \
    "from GET /app and GET /users/SLUG%5Bbot%5D, asked once for both jobs"
ok "$([ "$(user_requests '/access_tokens$')" -ge 2 ]; echo $?)" \
    "though each job's runner had an installation token of its own"

# 6. [runs] author_name and author_email win.
printf 'author_name = Release Robot\nauthor_email = robot@widgets.example\n' >> "$CONFIG"
restart
job_for github $GH 40 "Add a line"
ref=$(head_of github $GH 40)
is "$(who "$ref")" "Release Robot <robot@widgets.example> / Release Robot <robot@widgets.example>" \
    "[runs] author_name and author_email are the identity"

# The key: shown as set, never its bytes; in no log, job file or store.
run -c "$CONFIG" check-config
has "$T/out" "signing_key = <set, from file:$T/sign>"; ok $? "check-config shows the key as set"
leak=0
sed -n '2,$p' "$T/sign" | sed '$d' > "$T/key-lines"
grep -r -F -q -f "$T/key-lines" "$DATA" "$T/serve.log" "$T/out" "$T/emu.log" 2>/dev/null && leak=1
curl -s "$E/_admin/state" | grep -F -q -f "$T/key-lines" && leak=1
is "$leak" 0 "no line of the key is in a log, a job's files, the store or on the forge"

# Keys that cannot be used are refused at load.
ssh-keygen -q -t ed25519 -N 'a passphrase' -f "$T/enc"
ssh-keygen -q -t rsa -b 1024 -N '' -f "$T/short" 2>/dev/null
ssh-keygen -q -t ecdsa -N '' -f "$T/ecdsa"
for k in enc short ecdsa sign.pub missing; do
	sed -i "s|^signing_key = .*|signing_key = file:$T/$k|" "$CONFIG"
	run -c "$CONFIG" check-config
	ok "$([ "$status" -ne 0 ] && grep -q '\[runs\] signing_key' "$T/err"; echo $?)" \
	    "check-config refuses the $k key ([runs] signing_key, status $status)"
done
sed -i "s|^signing_key = .*|signing_key = file:$T/enc|" "$CONFIG"
has "$T/err" "without a passphrase" 2>/dev/null || run -c "$CONFIG" check-config
has "$T/err" "without a passphrase"; ok $? "an encrypted key: the error says it needs none"
! grep -F -q -f <(sed -n '2,$p' "$T/enc" | sed '$d') "$T/err"; ok $? "and shows none of its bytes"

done_testing
