#!/bin/bash
# The forge emulator (tests/emulator/forge-emulator.py) that the push and
# pull-request tests use instead of github.com and gitlab.com: every route
# answers as documented, tokens and roles are enforced, git clone, fetch and
# push work over smart HTTP with a token and fail without, a GitHub App JWT
# becomes an installation token, faults are injected as configured, and
# every request is recorded. Uses curl, git, openssl and the emulator only.
. "$SRCDIR/tests/lib.sh"
command -v git >/dev/null 2>&1 || { echo "Bail out! git is needed by this test"; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "Bail out! python3 is needed by this test"; exit 1; }

export HOME="$T/home" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME=Tester GIT_AUTHOR_EMAIL=tester@example.com
export GIT_COMMITTER_NAME=Tester GIT_COMMITTER_EMAIL=tester@example.com
mkdir -p "$HOME"

python3 "$SRCDIR/tests/emulator/forge-emulator.py" --port 0 --state-dir "$T/forge" \
    --seed 7 >"$T/emu.out" 2>"$T/emu.log" &
EMU_PID=$!
EXTRA_CLEANUP='[ -n "$EMU_PID" ] && { kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null; }
[ "$tap_failed" -gt 0 ] && tail -n 40 "$T/emu.log" | sed "s/^/#   emulator: /"'
for _ in $(seq 1 100); do
	grep -q '^listening on ' "$T/emu.out" 2>/dev/null && break
	sleep 0.1
done
BASE=$(sed -n '1s/^listening on //p' "$T/emu.out")
like "$BASE" "http://127.0.0.1:" "the emulator prints the URL of the port it picked"
[ -n "$BASE" ] || { echo "Bail out! the emulator did not start"; cat "$T/emu.log"; exit 1; }
HOSTPORT=${BASE#http://}

# call METHOD PATH BODY [CURL-ARGS...]: $code; body in $T/b, headers in $T/h.
call() {
	m=$1 p=$2 d=$3
	shift 3
	set -- -X "$m" "$@"
	[ -n "$d" ] && set -- "$@" -H 'Content-Type: application/json' --data-binary "$d"
	code=$(curl -s -o "$T/b" -D "$T/h" -w '%{http_code}' "$@" "$BASE$p")
}
admin() { call "$1" "/_admin$2" "${3:-}"; }
GHTOK=ghp_writer
gh() {	# gh METHOD PATH [BODY [CURL-ARGS...]]
	m=$1 p=$2 d=${3:-}
	shift $(($# < 3 ? $# : 3))
	call "$m" "/github/api$p" "$d" -H 'Accept: application/vnd.github+json' \
	    -H 'X-GitHub-Api-Version: 2022-11-28' -H "Authorization: Bearer $GHTOK" "$@"
}
GLTOK=glpat-writer
gl() {	# gl METHOD PATH [BODY [CURL-ARGS...]]
	m=$1 p=$2 d=${3:-}
	shift $(($# < 3 ? $# : 3))
	call "$m" "/gitlab/api/v4$p" "$d" -H "PRIVATE-TOKEN: $GLTOK" "$@"
}
# j EXPR: a Python expression on the last answer's JSON `d`.
j() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$T/b" "$1"
}
hdr() { tr -d '\r' < "$T/h" | sed -n "s/^$1: //Ip" | tail -n 1; }

# --- set-up: a local repository with main and feature, one per forge
git init -q -b main "$T/src"
echo hello > "$T/src/README.md"
git -C "$T/src" add README.md && git -C "$T/src" commit -qm initial
git -C "$T/src" checkout -qb feature
echo change >> "$T/src/README.md"
git -C "$T/src" commit -qam "a change"
git -C "$T/src" branch -q same main

admin POST /repos "{\"forge\":\"github\",\"path\":\"octo/widgets\",\"from\":\"$T/src\"}"
is "$code" 201 "admin: GitHub repository created from a local one"
is "$(j "d['clone_url']")" "$BASE/github/git/octo/widgets.git" "its clone_url is under /github/git"
is "$(j 'sorted(d["branches"])')" '["feature", "main", "same"]' "its branches were pushed in"
admin POST /repos '{"forge":"gitlab","path":"group/project","default_branch":"trunk"}'
is "$code" 201 "admin: GitLab project created with one commit"
GLID=$(j "d['id']")
is "$(j "d['clone_url']")" "$BASE/gitlab/group/project.git" "its clone_url is under /gitlab"
for t in '"github","token":"ghp_writer","user":"handoff-bot","user_id":41' \
    '"github","token":"ghp_reader","user":"reader","can_write":false' \
    '"gitlab","token":"glpat-writer","user":"handoff-bot","user_id":7' \
    '"gitlab","token":"glpat-reader","user":"reader","user_id":8,"can_write":false' \
    '"gitlab","token":"glpat-mailer","user":"mailer","user_id":9,"name":"Mail Er","email":"m@example.com","commit_email":"c@example.com"'; do
	admin POST /tokens "{\"forge\":$t}"
	[ "$code" = 201 ] || echo "# token: $code $(cat "$T/b")"
done
admin POST /issues '{"forge":"github","repo":"octo/widgets","number":12,"title":"Fix typo","body":"teh","user":"alice"}'
is "$code" 201 "admin: GitHub issue 12"

# --- GitHub REST: headers and auth
call GET /github/api/repos/octo/widgets/issues/12 "" -A '' -H "Authorization: Bearer ghp_writer"
is "$code" 403 "GitHub: no User-Agent is 403"
call GET /github/api/repos/octo/widgets/issues/12 "" -H 'X-GitHub-Api-Version: 2019-01-01' \
    -H 'Accept: application/vnd.github+json' -H "Authorization: Bearer ghp_writer"
is "$code" 400 "GitHub: an unknown API version is 400"
call GET /github/api/repos/octo/widgets/issues/12 "" -H "Authorization: Bearer ghp_writer"
is "$code" 400 "GitHub: no Accept and no API version is 400 (the emulator is strict; GitHub is not)"
GHTOK=wrong gh GET /repos/octo/widgets/issues/12
is "$code $(j "d['message']")" "401 Bad credentials" "GitHub: a bad token is 401 Bad credentials"
gh GET /repos/octo/widgets/issues/12
is "$code $(j "d['title']") $(j "d['user']['login']")" "200 Fix typo alice" "GitHub: GET issue"
is "$(hdr x-ratelimit-limit) $(hdr x-ratelimit-resource)" "5000 core" "rate-limit headers"
like "$(hdr x-ratelimit-remaining)" "49" "x-ratelimit-remaining counts down"

# --- GitHub REST: comments, reactions, permissions
gh POST /repos/octo/widgets/issues/12/comments '{"body":"On it"}'
is "$code" 201 "GitHub: comment created"
CID=$(j "d['id']")
like "$(j "d['html_url']")" "/github/octo/widgets/issues/12#issuecomment-$CID" "its html_url"
GHTOK=ghp_reader gh POST /repos/octo/widgets/issues/12/comments '{"body":"me too"}'
is "$code $(j "d['message']")" "403 Resource not accessible by integration" \
    "GitHub: a read-only token may not comment"
gh POST /repos/octo/widgets/issues/12/comments '{}'
is "$code $(j "d['message']")" "422 Validation Failed" "GitHub: a comment without body is 422"
gh PATCH "/repos/octo/widgets/issues/comments/$CID" '{"body":"Done"}'
is "$code $(j "d['body']")" "200 Done" "GitHub: comment edited"
gh POST /repos/octo/widgets/issues/12/comments '{"body":"second"}'
gh GET '/repos/octo/widgets/issues/12/comments?per_page=1&page=2'
is "$code $(j 'len(d)') $(j 'd[0]["body"]')" "200 1 second" "GitHub: comments paginate"
like "$(hdr link)" 'rel="prev"' "with a Link header"
gh POST /repos/octo/widgets/issues/12/reactions '{"content":"eyes"}'
is "$code $(j "d['content']")" "201 eyes" "GitHub: reaction on the issue is 201"
gh POST /repos/octo/widgets/issues/12/reactions '{"content":"eyes"}'
is "$code" 200 "the same reaction again is 200"
gh POST "/repos/octo/widgets/issues/comments/$CID/reactions" '{"content":"rocket"}'
is "$code" 201 "GitHub: reaction on a comment"
gh POST /repos/octo/widgets/issues/12/reactions '{"content":"smile"}'
is "$code" 422 "a reaction outside the enum is 422"
admin POST /permissions '{"forge":"github","repo":"octo/widgets","user":"maint","permission":"maintain"}'
gh GET /repos/octo/widgets/collaborators/maint/permission
is "$code $(j "d['permission']") $(j "d['role_name']")" "200 write maintain" "GitHub: maintain reads as write"
gh GET /repos/octo/widgets/collaborators/octo/permission
is "$(j "d['permission']")" "admin" "the owner is admin"
gh GET /repos/octo/widgets/collaborators/stranger/permission
is "$code" 404 "a stranger is 404"
admin POST /permissions '{"forge":"github","repo":"octo/widgets","user":"handoff-bot","permission":"read"}'
gh POST /repos/octo/widgets/issues/12/comments '{"body":"x"}'
is "$code" 403 "a role below write takes a writing token's write away"
admin POST /permissions '{"forge":"github","repo":"octo/widgets","user":"handoff-bot","permission":"write"}'

# --- GitHub REST: pull requests
gh POST /repos/octo/widgets/pulls '{"head":"octo:feature","base":"main","title":"Fix typo","body":"Closes #12","draft":true}'
is "$code $(j "d['number']") $(j "d['draft']") $(j "d['head']['ref']") $(j "d['base']['ref']")" \
    "201 13 true feature main" "GitHub: pull request created as a draft, numbered after the issue"
like "$(j "d['html_url']")" "/github/octo/widgets/pull/13" "its html_url"
gh POST /repos/octo/widgets/pulls '{"head":"octo:feature","base":"main","title":"again"}'
is "$code $(j 'd["errors"][0]["message"]')" \
    "422 A pull request already exists for octo:feature." "a second open one for the head is 422"
gh POST /repos/octo/widgets/pulls '{"head":"octo:nope","base":"main","title":"x"}'
is "$code" 422 "a head that does not exist is 422"
gh POST /repos/octo/widgets/pulls '{"head":"same","base":"main","title":"x"}'
like "$code $(j 'd["errors"][0]["message"]')" "422 No commits between main and same" \
    "a head with no commits beyond base is 422"
gh POST /repos/octo/widgets/pulls '{"head":"feature","title":"x"}'
is "$code" 422 "a pull request without base is 422"
gh GET '/repos/octo/widgets/pulls?head=octo:feature&state=all'
is "$code $(j 'len(d)') $(j 'd[0]["number"]')" "200 1 13" "GitHub: pulls listed by head"
gh GET '/repos/octo/widgets/pulls?head=octo:other&state=all'
is "$(j 'len(d)')" 0 "another head lists none"
gh PATCH /repos/octo/widgets/pulls/13 '{"title":"Fix the typo","state":"closed"}'
is "$code $(j "d['title']") $(j "d['state']")" "200 Fix the typo closed" "GitHub: pull request edited"
gh GET '/repos/octo/widgets/pulls?head=octo:feature'
is "$(j 'len(d)')" 0 "a closed one is not listed as open"
admin POST /review_comments '{"repo":"octo/widgets","pull":13,"review_id":77,"path":"README.md","line":2,"diff_hunk":"@@ -1 +1,2 @@","body":"say why","user":"alice"}'
is "$code" 201 "admin: review comment added"
gh GET /repos/octo/widgets/pulls/13/reviews/77/comments
is "$code $(j 'd[0]["body"]') $(j 'd[0]["path"]') $(j 'd[0]["pull_request_review_id"]')" \
    "200 say why README.md 77" "GitHub: a review's comments"

# --- GitHub App: a JWT signed with openssl becomes an installation token
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/app.pem" 2>/dev/null
openssl pkey -in "$T/app.pem" -pubout -out "$T/app.pub"
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
jwt() {	# jwt IAT EXP ISS [KEY]
	h=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
	p=$(printf '{"iat":%s,"exp":%s,"iss":%s}' "$1" "$2" "$3" | b64url)
	s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "${4:-$T/app.pem}" | b64url)
	printf '%s.%s.%s' "$h" "$p" "$s"
}
pem=$(awk '{printf "%s\\n", $0}' "$T/app.pub")
admin POST /apps "{\"app_id\":\"123\",\"public_key_pem\":\"$pem\",\"installation_id\":42}"
is "$code" 201 "admin: App registered"
now=$(date +%s)
GHTOK=$(jwt $((now - 60)) $((now + 540)) 123) gh POST /app/installations/42/access_tokens
is "$code" 201 "GitHub: a good JWT gets an installation token"
like "$(j "d['token']")" "ghs_" "a ghs_ token"
like "$(j "d['expires_at']")" "Z" "with expires_at"
INST=$(j "d['token']")
GHTOK=$INST gh POST /repos/octo/widgets/issues/12/comments '{"body":"as the app"}'
is "$code $(j "d['user']['login']")" "201 emulator-app[bot]" "the installation token may write"
GHTOK=$(jwt $((now - 60)) $((now + 540)) 123) gh POST /app/installations/43/access_tokens
is "$code" 404 "another installation is 404"
GHTOK=$(jwt $((now - 700)) $((now - 100)) 123) gh POST /app/installations/42/access_tokens
is "$code" 401 "an expired JWT is 401"
GHTOK=$(jwt $((now - 60)) $((now + 3600)) 123) gh POST /app/installations/42/access_tokens
is "$code" 401 "a JWT expiring beyond ten minutes is 401"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null
GHTOK=$(jwt $((now - 60)) $((now + 540)) 123 "$T/other.pem") gh POST /app/installations/42/access_tokens
is "$code" 401 "a JWT signed with another key is 401"
GHTOK=$(jwt $((now - 60)) $((now + 540)) 123) gh GET /repos/octo/widgets/issues/12
is "$code" 401 "a JWT is not a token for the repository routes"
GHTOK=$(jwt $((now - 60)) $((now + 540)) 123) gh GET /app
is "$code $(j "d['slug']") $(j "d['id']")" "200 emulator-app 123" "GitHub: GET /app (JWT) names the App's slug"
GHTOK=$INST gh GET /app
is "$code" 401 "an installation token cannot read GET /app"
gh GET '/users/emulator-app%5Bbot%5D'
is "$code $(j "d['login']") $(j "d['type']")" "200 emulator-app[bot] Bot" \
    "GitHub: GET /users/SLUG[bot] is the App's bot user"
like "$(j "sorted(d)")" '"received_events_url"' "with the public-user fields"
gh GET /users/nobody-at-all
is "$code" 404 "an unknown user is 404"
gh GET /user
is "$code $(j "d['login']") $(j "d['id']") $(j "d['type']")" "200 handoff-bot 41 User" \
    "GitHub: GET /user is the token's user"

# --- GitLab REST
GLTOK=glpat-mailer gl GET /user
is "$code $(j "d['username']") $(j "d['name']") $(j "d['commit_email']") $(j "d['email']") $(j "d['public_email']")" \
    "200 mailer Mail Er c@example.com m@example.com " "GitLab: GET /user shows the token user its addresses"
gl GET /user
is "$code $(j "d['id']") $(j "d['commit_email']")" "200 7 null" "without a profile it has none"
call GET "/gitlab/api/v4/projects/$GLID/issues/1" ""
is "$code $(j "d['message']")" "401 401 Unauthorized" "GitLab: no token is 401"
admin POST /issues '{"forge":"gitlab","repo":"group/project","number":5,"title":"Crash","user":"bob"}'
gl GET /projects/group%2Fproject/issues/5
is "$code $(j "d['iid']") $(j "d['title']")" "200 5 Crash" "GitLab: issue by URL-encoded path"
call GET "/gitlab/api/v4/projects/$GLID/issues/5" "" -H "Authorization: Bearer glpat-writer"
is "$code $(j "d['iid']")" "200 5" "GitLab: issue by numeric id with a Bearer token"
gl GET /projects/group%2Fnope/issues/5
is "$code" 404 "an unknown project is 404"
admin POST /permissions '{"forge":"gitlab","repo":"group/project","user":"carol","user_id":9,"access_level":40}'
gl GET /projects/group%2Fproject/members/all/9
is "$code $(j "d['access_level']") $(j "d['username']")" "200 40 carol" "GitLab: a member's access level"
gl GET /projects/group%2Fproject/members/all/999
is "$code" 404 "GitLab: a non-member is 404"
gl POST '/projects/group%2Fproject/issues/5/award_emoji?name=eyes'
is "$code $(j "d['name']")" "201 eyes" "GitLab: emoji on the issue"
gl POST '/projects/group%2Fproject/issues/5/award_emoji?name=eyes'
is "$code" 404 "the same emoji again is refused (404, as GitLab)"
gl POST /projects/group%2Fproject/issues/5/notes '{"body":"Working on it"}'
is "$code $(j "d['author']['username']")" "201 handoff-bot" "GitLab: note created"
NID=$(j "d['id']")
gl PUT "/projects/group%2Fproject/issues/5/notes/$NID" '{"body":"Done"}'
is "$code $(j "d['body']")" "200 Done" "GitLab: note edited"
GLTOK=glpat-reader gl POST /projects/group%2Fproject/issues/5/notes '{"body":"x"}'
is "$code" 403 "GitLab: a read-only token may not write"
gl POST "/projects/group%2Fproject/issues/5/notes/$NID/award_emoji?name=rocket"
is "$code" 201 "GitLab: emoji on a note"
gl GET /projects/group%2Fproject/issues/5/notes
is "$code $(j 'len(d)') $(j 'd[0]["body"]') $(hdr x-total)" "200 1 Done 1" "GitLab: notes listed"
like "$(hdr ratelimit-limit)" "2000" "RateLimit headers"

# --- git over smart HTTP
GH_GIT="http://$HOSTPORT/github/git/octo/widgets.git"
GL_GIT="http://$HOSTPORT/gitlab/group/project.git"
code=$(curl -s -o /dev/null -D "$T/h" -w '%{http_code}' "$GH_GIT/info/refs?service=git-upload-pack")
is "$code $(hdr www-authenticate)" '401 Basic realm="emulator"' "git: no credentials is 401 with a Basic challenge"
git clone -q "$GH_GIT" "$T/nocred" 2>/dev/null
isnt_ok=$?
ok $((isnt_ok == 0)) "git: clone without a token fails"
git clone -q "http://x-access-token:wrong@$HOSTPORT/github/git/octo/widgets.git" "$T/bad" 2>/dev/null
r=$?
ok $((r == 0)) "git: clone with a bad token fails"
git clone -q "http://x-access-token:ghp_reader@$HOSTPORT/github/git/octo/widgets.git" "$T/gh"
ok $? "git: clone with a read token"
is "$(git -C "$T/gh" rev-parse origin/feature)" "$(git -C "$T/src" rev-parse feature)" "the clone has the branches"
git -C "$T/gh" checkout -qb handoff/12-fix-typo origin/feature
echo more >> "$T/gh/README.md"
git -C "$T/gh" commit -qam "more"
git -C "$T/gh" push -q origin handoff/12-fix-typo 2>/dev/null
r=$?
ok $((r == 0)) "git: push with a read-only token fails"
git -C "$T/gh" push -q "http://x-access-token:$INST@$HOSTPORT/github/git/octo/widgets.git" \
    handoff/12-fix-typo 2>"$T/err"
ok $? "git: push with the installation token"
admin GET /state
is "$(j '[r for r in d["repos"] if r["forge"]=="github"][0]["branches"]["handoff/12-fix-typo"]')" \
    "$(git -C "$T/gh" rev-parse HEAD)" "the pushed branch is in the emulator's repository"
git -C "$T/gh" fetch -q "http://x-access-token:ghp_writer@$HOSTPORT/github/git/octo/widgets.git" main
ok $? "git: fetch with a token"
git -C "$T/gh" reset -q --hard origin/feature
echo other >> "$T/gh/README.md"
git -C "$T/gh" commit -qam "rewritten"
git -C "$T/gh" push -q --force "http://x-access-token:ghp_writer@$HOSTPORT/github/git/octo/widgets.git" \
    handoff/12-fix-typo 2>"$T/err"
r=$?
ok $((r == 0)) "git: a non-fast-forward push is refused"
like "$(cat "$T/err")" "non-fast-forward" "and git says why"
gh POST /repos/octo/widgets/pulls '{"head":"octo:handoff/12-fix-typo","base":"main","title":"Fix typo"}'
is "$code $(j "d['number']")" "201 14" "GitHub: a pull request from the pushed branch"
git clone -q "http://oauth2:glpat-writer@$HOSTPORT/gitlab/group/project.git" "$T/gl"
ok $? "git: GitLab clone with oauth2 and a token"
is "$(git -C "$T/gl" symbolic-ref --short HEAD)" trunk "its default branch"
git -C "$T/gl" checkout -qb handoff/5-crash
echo fix > "$T/gl/fix.txt" && git -C "$T/gl" add fix.txt && git -C "$T/gl" commit -qm fix
git -C "$T/gl" -c http.postBuffer=1024 push -q origin handoff/5-crash
ok $? "git: GitLab push (chunked request body)"

# --- GitLab merge requests
gl POST /projects/group%2Fproject/merge_requests '{"source_branch":"handoff/5-crash","target_branch":"trunk","title":"Draft: Fix crash","description":"Closes #5"}'
is "$code $(j "d['iid']") $(j "d['draft']") $(j "d['source_branch']")" "201 1 true handoff/5-crash" \
    "GitLab: merge request created, a draft by its title"
like "$(j "d['web_url']")" "/gitlab/group/project/-/merge_requests/1" "its web_url"
gl POST /projects/group%2Fproject/merge_requests '{"source_branch":"handoff/5-crash","target_branch":"trunk","title":"again"}'
is "$code $(j 'd["message"][0]')" \
    "409 Another open merge request already exists for this source branch: !1" "a duplicate is 409"
gl POST /projects/group%2Fproject/merge_requests '{"source_branch":"handoff/5-crash","target_branch":"trunk"}'
is "$code" 400 "a merge request without title is 400"
gl GET '/projects/group%2Fproject/merge_requests?source_branch=handoff/5-crash&state=opened'
is "$code $(j 'len(d)') $(j 'd[0]["iid"]')" "200 1 1" "GitLab: merge requests by source branch"
gl PUT "/projects/$GLID/merge_requests/1" '{"title":"Fix crash","state_event":"close"}'
is "$code $(j "d['draft']") $(j "d['state']")" "200 false closed" "GitLab: merge request edited"
gl POST /projects/group%2Fproject/merge_requests/1/notes '{"body":"on the MR"}'
is "$code" 201 "GitLab: note on a merge request"

# --- faults
admin POST /faults '{"route":"^POST /github/api/repos/.*/comments$","kind":"500","count":2}'
is "$code" 201 "admin: fault set"
admin GET /state
before=$(j 'len([r for r in d["repos"] if r["forge"]=="github"][0]["issues"][0]["comments"])')
gh POST /repos/octo/widgets/issues/12/comments '{"body":"retry me"}'; c1=$code
gh POST /repos/octo/widgets/issues/12/comments '{"body":"retry me"}'; c2=$code
gh POST /repos/octo/widgets/issues/12/comments '{"body":"retry me"}'; c3=$code
is "$c1 $c2 $c3" "500 500 201" "fault count 2: two 500s, then the operation"
admin GET /state
after=$(j 'len([r for r in d["repos"] if r["forge"]=="github"][0]["issues"][0]["comments"])')
is "$after" "$((before + 1))" "a fault leaves the state unchanged"
admin DELETE /faults
admin POST /faults '[{"route":"^GET /github/api/repos/octo/widgets/issues/12$","kind":"429","count":1,"retry_after":3},
 {"route":"^GET /github/api/repos/octo/widgets/pulls$","kind":"403-secondary","count":1,"retry_after":2},
 {"route":"^GET /gitlab/api/v4/","kind":"502","count":1},
 {"route":"^PATCH ","kind":"slow","delay":1,"count":1},
 {"route":"^GET /github/api/user$","kind":"drop","count":1},
 {"route":"^GET /github/git/","kind":"500","count":1}]'
is "$code $(j 'len(d)')" "201 6" "admin: six faults at once"
gh GET /repos/octo/widgets/issues/12
is "$code $(hdr retry-after) $(hdr x-ratelimit-remaining)" "429 3 0" "429 with Retry-After and no requests remaining"
gh GET /repos/octo/widgets/pulls
like "$code $(j "d['message']") $(hdr retry-after)" "403 You have exceeded a secondary rate limit" \
    "403-secondary"
is "$(hdr retry-after)" 2 "with retry-after"
gl GET /projects/group%2Fproject/issues/5
is "$code" 502 "502 on a GitLab route"
gl GET /projects/group%2Fproject/issues/5
is "$code" 200 "and the next request is answered"
t0=$(date +%s%N)
gh PATCH "/repos/octo/widgets/issues/comments/$CID" '{"body":"slowly"}'
ms=$((($(date +%s%N) - t0) / 1000000))
is "$code $(j "d['body']")" "200 slowly" "slow: the operation is done"
ok $((ms < 1000)) "after the delay (${ms} ms)"
curl -s -o /dev/null -H 'Authorization: Bearer ghp_writer' "$BASE/github/api/user"
is "$?" 52 "drop: the connection closes with no answer"
git ls-remote "http://x-access-token:ghp_writer@$HOSTPORT/github/git/octo/widgets.git" >/dev/null 2>&1
r=$?
ok $((r == 0)) "a fault on a git route fails the fetch"
git ls-remote "http://x-access-token:ghp_writer@$HOSTPORT/github/git/octo/widgets.git" >/dev/null 2>&1
ok $? "and the next one works"
admin GET /faults
is "$(j '[f["fired"] for f in d]')" "[1, 1, 1, 1, 1, 1]" "each fault fired once"
admin DELETE /faults
admin POST /faults '{"route":"^GET /gitlab/api/v4/user$","kind":"500","rate":0.5}'
n=0
for _ in $(seq 1 20); do gl GET /user; [ "$code" = 500 ] && n=$((n + 1)); done
ok $((n == 0 || n == 20)) "rate 0.5: some requests fail, some do not ($n of 20)"
admin DELETE /faults

# --- the request log
admin DELETE /requests
gh POST /repos/octo/widgets/issues/12/comments '{"body":"logged"}'
gl GET /projects/group%2Fproject/issues/5
git ls-remote "http://oauth2:glpat-writer@$HOSTPORT/gitlab/group/project.git" >/dev/null 2>&1
admin POST /faults '{"route":"^GET /gitlab/api/v4/user$","kind":"500","count":1}'
gl GET /user
admin GET /requests
is "$(j 'd[0]["method"] + " " + d[0]["path"] + " " + str(d[0]["status"])')" \
    "POST /github/api/repos/octo/widgets/issues/12/comments 201" "log: method, path, status"
is "$(j 'd[0]["body"]["body"]')" logged "log: the JSON body"
is "$(j 'd[0]["headers"]["authorization"]')" "Bearer <redacted>" "log: Authorization redacted, scheme kept"
is "$(j 'd[0]["headers"]["x-github-api-version"]')" "2022-11-28" "log: the other headers"
is "$(j 'd[1]["headers"]["private-token"]')" "<redacted>" "log: PRIVATE-TOKEN redacted"
is "$(j '[r["headers"].get("authorization") for r in d if r["path"].endswith("/info/refs")][-1]')" \
    "Basic <redacted>" "log: git requests too, Basic redacted"
is "$(j 'd[-1]["fault"] + " " + str(d[-1]["status"])')" "500 500" "log: the fault injected"
if grep -q -e ghp_writer -e glpat-writer "$T/b"; then ok 1 "no token in the log"; else ok 0 "no token in the log"; fi
admin DELETE /requests
admin GET /requests
is "$(j 'len(d)')" 0 "admin: the log cleared"

# --- state
admin GET /state
is "$(j '[r for r in d["repos"] if r["forge"]=="github"][0]["pulls"][0]["draft"]')" true "state: pull requests"
is "$(j '[r["content"] for r in [r for r in d["repos"] if r["forge"]=="github"][0]["issues"][0]["reactions"]]')" \
    '["eyes"]' "state: reactions on issues"
is "$(j '[r for r in d["repos"] if r["forge"]=="github"][0]["issues"][0]["comments"][0]["reactions"][0]["content"]')" \
    rocket "state: reactions on comments"
is "$(j '[r for r in d["repos"] if r["forge"]=="gitlab"][0]["issues"][0]["notes"][0]["body"]')" Done "state: GitLab notes"
is "$(j '[r for r in d["repos"] if r["forge"]=="gitlab"][0]["merge_requests"][0]["state"]')" closed \
    "state: merge requests"

kill -TERM "$EMU_PID"
wait "$EMU_PID"
is "$?" 0 "SIGTERM stops the emulator with status 0"
EMU_PID=
done_testing
