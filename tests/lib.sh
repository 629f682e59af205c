# Shared by the integration tests: TAP output, a scratch directory removed
# on exit, and helpers to start handoff serve and talk to it.
# Each test sets HANDOFF (the binary) and SRCDIR through automake.

set -u
: "${HANDOFF:?HANDOFF must name the handoff binary}"
: "${SRCDIR:?SRCDIR must name the source tree}"
SAMPLES="$SRCDIR/webhooks/samples"
GITHUB_SECRET="test-github-secret"
GITLAB_TOKEN="test-gitlab-token"
# 32 random-looking bytes, as GitLab's signing tokens have.
GITLAB_SIGNING="whsec_$(printf 'handoff-test-signing-key-32bytes' | base64)"

T=$(mktemp -d "${TMPDIR:-/tmp}/handoff-test.XXXXXX")
tap_n=0
tap_failed=0
SERVE_PID=

# Runners outlive a serve stopped with SIGTERM or killed; SIGQUIT stops
# serve with its runners, and any runner of this test's config still left
# (its serve killed) is stopped after it.
cleanup() {
	if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
		kill -QUIT "$SERVE_PID" 2>/dev/null
		wait "$SERVE_PID" 2>/dev/null
	fi
	if [ -n "${CONFIG:-}" ] &&
	    pkill -TERM -f -- "-c $CONFIG runner" 2>/dev/null; then
		for _ in $(seq 50); do
			pgrep -f -- "-c $CONFIG runner" >/dev/null || break
			sleep 0.1
		done
		pkill -9 -f -- "-c $CONFIG runner" 2>/dev/null
	fi
	[ -n "${EXTRA_CLEANUP:-}" ] && eval "$EXTRA_CLEANUP"
	if [ "$tap_failed" -gt 0 ] && [ -f "$T/serve.log" ]; then
		echo "# serve.log:"
		tail -n 60 "$T/serve.log" | sed 's/^/#   /'
	fi
	rm -rf "$T"
}
trap cleanup EXIT

for tool in curl openssl base64; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "Bail out! $tool is needed by this test"; exit 1; }
done

ok() {	# ok CONDITION-STATUS DESCRIPTION
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
		if [ -n "${status:-}" ] && [ -f "$T/err" ]; then
			echo "#   last handoff run: exit status $status"
			sed 's/^/#   stderr: /' "$T/err"
		fi
	fi
}

# run ARGS...: handoff ARGS; exit status in $status, output in $T/out, $T/err.
run() {
	"$HANDOFF" "$@" >"$T/out" 2>"$T/err"
	status=$?
}

# has FILE TEXT: FILE contains TEXT, literally.
has() {
	grep -F -q -e "$2" "$1"
}

is() {	# is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}

like() {	# like TEXT SUBSTRING DESCRIPTION
	case "$1" in
	*"$2"*) ok 0 "$3" ;;
	*) ok 1 "$3"; echo "#   '$1'"; echo "#   does not contain '$2'" ;;
	esac
}

unlike() {	# unlike TEXT SUBSTRING DESCRIPTION
	case "$1" in
	*"$2"*) ok 1 "$3"; echo "#   '$1'"; echo "#   contains '$2'" ;;
	*) ok 0 "$3" ;;
	esac
}

matches() {	# matches TEXT EXTENDED-REGEX DESCRIPTION
	if printf '%s\n' "$1" | grep -Eq -e "$2"; then ok 0 "$3"
	else ok 1 "$3"; echo "#   '$1'"; echo "#   does not match '$2'"; fi
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}

# A random port below the kernel's ephemeral range (32768 and up), so that
# no client socket of a parallel test can hold it; one a listener already
# has is likely to be taken (ss), and start_serve moves on when it is.
# rerun_as_user DESCRIPTION: run by root, run this test again as the
# unprivileged user handoff-esc (created if missing), with a copy of
# $HANDOFF it can execute, and report as one check whether every check
# there passed; its TAP stays in $T/user.tap, its failures are shown.
# Returns 0 when it ran, 1 when not (not root, or the second run itself).
rerun_as_user() {
	local shell=sh
	[ "$(id -u)" = 0 ] && [ -z "${AS_USER:-}" ] || return 1
	[ -z "${BASH_VERSION:-}" ] || shell=bash
	id handoff-esc >/dev/null 2>&1 || useradd -m -s /bin/sh handoff-esc ||
	    { echo "Bail out! cannot create user handoff-esc"; exit 1; }
	mkdir "$T/user" && cp "$HANDOFF" "$T/user/handoff" &&
	    chmod 711 "$T" && chmod 755 "$T/user" "$T/user/handoff"
	su handoff-esc -s /bin/sh -c "cd /tmp && AS_USER=1 \
	    HANDOFF='$T/user/handoff' SRCDIR='$SRCDIR' \
	    $shell '$SRCDIR/tests/${0##*/}'" > "$T/user.tap" 2>&1
	ok $? "$1"
	grep -E '^(not ok|Bail|#)' "$T/user.tap" | head -40 | sed 's/^/#   /'
	return 0
}

# ci_agent FILE: an agent script that fixes the spelling in README (the
# samples' "committ"), and, asked to fix CI, copies its task and context
# into the workspace, where they are pushed with the branch.
ci_agent() {
	cat > "$1" <<'AGENT'
#!/bin/sh
set -e
if grep -q "The checks failed on this branch" "$HANDOFF_TASK"; then
	cp "$HANDOFF_TASK" CI-TASK.md
	cp "$HANDOFF_CONTEXT" CI-CONTEXT.json
	echo "Looked at CI" > "$HANDOFF_SUMMARY"
	exit 0
fi
sed -i 's/committ/commit/' README
echo "Fix the spelling" > "$HANDOFF_SUMMARY"
AGENT
	chmod +x "$1"
}

free_port() {
	while :; do
		r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		p=$(( r % 12000 + 20000 ))
		# Never the same port twice in a test: two listeners drawn one
		# after the other, before either binds, could get the same one.
		grep -qx "$p" "$T/ports-drawn" 2>/dev/null && continue
		if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p" >> "$T/ports-drawn"
			echo "$p"
			return
		fi
	done
}

# write_config [EXTRA-INI-LINES...]: $T/handoff.ini on a free port ($URL)
# and the status pages on another ($WEB_URL).
write_config() {
	PORT=$(free_port)
	URL="http://127.0.0.1:$PORT"
	WEB_PORT=$(free_port)
	WEB_URL="http://127.0.0.1:$WEB_PORT"
	CONFIG="$T/handoff.ini"
	DATA="${DATA:-$T/data}"
	{
		printf '[web]\nlisten = 127.0.0.1:%s\n' "$WEB_PORT"
		printf '[server]\nlisten = 127.0.0.1:%s\ndata_dir = %s\n' \
		    "$PORT" "$DATA"
		printf 'timeout = %s\nmax_connections = %s\nlog_level = debug\n' \
		    "${TIMEOUT:-5s}" "${MAX_CONNECTIONS:-64}"
		printf '[github]\nwebhook_secret = %s\nbot_login = handoff-bot\n' \
		    "$GITHUB_SECRET"
		printf '[gitlab]\nwebhook_token = %s\n' "$GITLAB_TOKEN"
		[ -n "${WITH_SIGNING:-}" ] &&
		    printf 'webhook_signing_token = %s\n' "$GITLAB_SIGNING"
		# Jobs stay queued unless a test runs them (MAX_PARALLEL).
		printf '[runs]\ncoalesce = 0\nmax_parallel = %s\n' \
		    "${MAX_PARALLEL:-0}"
		for line in "$@"; do printf '%s\n' "$line"; done
	} > "$CONFIG"
}

# start_serve: handoff serve in the background, waiting until it answers;
# on a port another test took meanwhile, again on a new one.
start_serve() {
	for _ in 1 2 3 4 5; do
		before=$(cat "$T/serve.log" 2>/dev/null | wc -l)
		"$HANDOFF" -c "$CONFIG" serve >>"$T/serve.log" 2>&1 &
		SERVE_PID=$!
		# Ours answers: its own log says it listens (another test's
		# serve may answer on a port ours failed to take).
		for _ in $(seq 1 100); do
			if tail -n +$((before + 1)) "$T/serve.log" |
			    grep -q "serve: listening on 127.0.0.1:$PORT," &&
			    kill -0 "$SERVE_PID" 2>/dev/null &&
			    curl -s --max-time 2 -o /dev/null "$URL/healthz" 2>/dev/null; then
				return 0
			fi
			kill -0 "$SERVE_PID" 2>/dev/null || break
			sleep 0.1
		done
		tail -n +$((before + 1)) "$T/serve.log" |
		    grep -q 'Address already in use' || break
		wait "$SERVE_PID" 2>/dev/null
		new=$(free_port)
		sed -i "s/^listen = 127.0.0.1:$PORT\$/listen = 127.0.0.1:$new/" "$CONFIG"
		PORT=$new
		URL="http://127.0.0.1:$PORT"
		new=$(free_port)
		sed -i "s/^listen = 127.0.0.1:$WEB_PORT\$/listen = 127.0.0.1:$new/" "$CONFIG"
		WEB_PORT=$new
		WEB_URL="http://127.0.0.1:$WEB_PORT"
	done
	echo "# handoff serve did not start:"
	sed 's/^/#   /' "$T/serve.log"
	echo "Bail out! serve did not start"
	exit 1
}

# stop_serve: SIGTERM and wait; prints its exit status.
stop_serve() {
	kill -TERM "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID"
	echo $?
	SERVE_PID=
}

# serve_refused CONFIG: a handoff serve that should refuse to start; its
# exit status in $status, its output in $T/out and $T/err. One that starts
# after all (it says it listens) is stopped, and exits 0.
serve_refused() {
	local pid
	"$HANDOFF" -c "$1" serve >"$T/out" 2>"$T/err" &
	pid=$!
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		grep -q 'serve: listening' "$T/err" && break
		sleep 0.1
	done
	grep -q 'serve: listening' "$T/err" && kill -TERM "$pid"
	wait "$pid"
	status=$?
}

# deliver FORGE EVENT FILE [ARGS...]: prints "CODE BODY" on one line.
deliver() {
	forge=$1 event=$2 file=$3
	shift 3
	"$HANDOFF" -c "$CONFIG" deliver --forge "$forge" --event "$event" \
	    "$file" "$@" 2>&1 | tr '\n' ' ' | sed 's/^HTTP //; s/ $//'
}

# post PATH FILE [CURL-ARGS...]: raw POST, prints "CODE BODY".
post() {
	path=$1 file=$2
	shift 2
	ctype='Content-Type: application/json'
	case "$*" in *Content-Type:*) ctype='X-Ignored: 1' ;; esac
	curl -s -o "$T/body" -w '%{http_code}' -X POST --data-binary "@$file" \
	    -H "$ctype" "$@" "$URL$path" > "$T/code"
	printf '%s %s' "$(cat "$T/code")" "$(tr -d '\n' < "$T/body")"
}

github_sig() {	# github_sig FILE [SECRET]
	printf 'sha256=%s' "$(openssl dgst -sha256 -hmac "${2:-$GITHUB_SECRET}" \
	    < "$1" | sed 's/^.*= //')"
}

# labeled N: the labeled-agent sample for issue N. A label event for an
# issue whose implementation is queued or running is a duplicate of it, so
# deliveries meant to make jobs of their own name issues of their own.
labeled() {
	out="$T/labeled-$1.json"
	sed "0,/\"number\": 1,/s//\"number\": $1,/" \
	    "$SAMPLES/github/derived/issues.labeled.agent.json" > "$out"
	echo "$out"
}

# labeled_at NUMBER CLONE-URL [BODY]: the labeled-issue delivery for issue
# NUMBER of the repository at CLONE-URL (default branch main), with BODY
# as the issue's text when given.
labeled_at() {
	f="$T/issue-$1.json"
	sed -e "s|https://github.com/Codertocat/Hello-World.git|$2|" \
	    -e 's|"default_branch": "master"|"default_branch": "main"|' \
	    -e "s|\"number\": 1,|\"number\": $1,|" \
	    ${3:+-e "s|\"body\": \"It looks like you accidently spelled 'commit' with two 't's.\"|\"body\": \"$3\"|"} \
	    "$SAMPLES/github/derived/issues.labeled.agent.json" > "$f"
	echo "$f"
}

# test_certs DIR NAME SAN: in DIR a CA (ca.pem, ca.key) and a server
# certificate NAME.pem / NAME.key it signed, for SAN ("DNS:tls.test",
# "IP:127.0.0.1,DNS:localhost"); DIR and ca.pem readable by anyone (the
# unprivileged halves). Bails out when openssl cannot.
test_certs() {
	mkdir -p "$1" && (
		cd "$1" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key \
		    -out ca.pem -days 2 -subj /CN=handoff-test-ca \
		    -addext basicConstraints=critical,CA:true \
		    -addext keyUsage=critical,keyCertSign,cRLSign &&
		openssl req -newkey rsa:2048 -nodes -keyout "$2.key" \
		    -out "$2.csr" -subj "/CN=$2" &&
		printf 'subjectAltName=%s\nbasicConstraints=CA:false\nextendedKeyUsage=serverAuth\n' \
		    "$3" > "$2.ext" &&
		openssl x509 -req -in "$2.csr" -CA ca.pem -CAkey ca.key \
		    -CAcreateserial -out "$2.pem" -days 2 -extfile "$2.ext"
	) >/dev/null 2>"$T/openssl.err" || {
		echo "Bail out! openssl could not make the certificates"
		sed 's/^/# /' "$T/openssl.err"; exit 1; }
	chmod 755 "$1"
	chmod 644 "$1/ca.pem"
}

# wait_for WHAT COMMAND...: until COMMAND succeeds (a minute at most).
# start_peers: tests/egress-peers.py's servers (TLS for tls.test, with a
# CA in $T/certs, and plain HTTP), stopped at exit: TLS_PORT, HTTP_PORT,
# CANARY.
start_peers() {
	command -v python3 >/dev/null || { echo "Bail out! python3 is needed"; exit 1; }
	test_certs "$T/certs" tls.test DNS:tls.test
	mkdir -p "$T/peers"
	python3 "$SRCDIR/tests/egress-peers.py" serve "$T/peers" \
	    "$T/certs/tls.test.pem" "$T/certs/tls.test.key" 2>"$T/peers.err" &
	PEERS_PID=$!
	EXTRA_CLEANUP="${EXTRA_CLEANUP:-}
kill -9 $PEERS_PID 2>/dev/null"
	wait_for "the test's servers" test -f "$T/peers/ports" ||
	    { echo "Bail out! servers did not start"; cat "$T/peers.err"; exit 1; }
	read -r TLS_PORT HTTP_PORT CANARY < "$T/peers/ports"
}

wait_for() {
	what=$1
	shift
	for _ in $(seq 600); do "$@" && return 0; sleep 0.1; done
	echo "# timed out waiting for $what"
	return 1
}
# log_has JOB TEXT: the job's log holds TEXT; ended JOB: it is over.
log_has() { grep -q -F -e "$2" "$DATA/jobs/$1/log" 2>/dev/null; }
ended() { case $(job_state "$1") in done|failed|cancelled) return 0 ;; esac; return 1; }

# hold_store: another connection takes the store's write lock (BEGIN
# IMMEDIATE) and keeps it until release_store; STORE_HELD is "held" once
# it has. serve's writer waits for it up to its busy timeout (10 s).
hold_store() {
	mkfifo "$T/hold" "$T/held"
	python3 - "$DATA/handoff.db" "$T/hold" "$T/held" <<'EOF' &
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[3], "w").write("held\n")
open(sys.argv[2]).read()		# until the test lets go
db.execute("ROLLBACK")
EOF
	STORE_HOLDER=$!
	read -r STORE_HELD < "$T/held"
}

release_store() {
	echo done > "$T/hold"
	wait "$STORE_HOLDER"
}

# Count jobs in the store (optionally in one state).
job_count() {
	"$HANDOFF" -c "$CONFIG" jobs --json --limit 1000000 ${1:+--state "$1"} |
	    grep -c '"id":'
}

# A copy of a sample with a JSON string field replaced: sample_with FILE OLD NEW
sample_with() {
	out="$T/$(basename "$1").$RANDOM.json"
	sed "s|$2|$3|" "$1" > "$out"
	echo "$out"
}

# job_state JOB: the job's state; wait_job_end JOB: until it is done, failed
# or cancelled (a minute at most; status 1 if not).
job_state() {
	"$HANDOFF" -c "$CONFIG" show "$1" --json 2>/dev/null |
	    sed -n 's/^	"state":	"\(.*\)",$/\1/p'
}
wait_job_end() {
	for _ in $(seq 600); do
		case $(job_state "$1") in done|failed|cancelled) return 0 ;; esac
		sleep 0.1
	done
	return 1
}

# start_emulator SEED: the forge emulator (tests/emulator) on a free port,
# stopped on exit; E is its URL. admin METHOD PATH [JSON] talks to its
# /_admin; emu_repo REPO EXPR prints the Python expression EXPR evaluated
# on the emulator's state of repository REPO (as s).
start_emulator() {
	python3 "$SRCDIR/tests/emulator/forge-emulator.py" --port 0 \
	    --state-dir "$T/forge" --seed "$1" >"$T/emu.out" 2>"$T/emu.log" &
	EMU_PID=$!
	EXTRA_CLEANUP="${EXTRA_CLEANUP:+$EXTRA_CLEANUP; }kill $EMU_PID 2>/dev/null"
	for _ in $(seq 100); do
		grep -q listening "$T/emu.out" && break
		sleep 0.1
	done
	E=$(sed -n 's/^listening on //p' "$T/emu.out")
	[ -n "$E" ] || { echo "Bail out! the emulator did not start"
	    sed 's/^/# /' "$T/emu.log"; exit 1; }
}
admin() {
	curl -s -X "$1" "$E/_admin/$2" ${3:+-d "$3"}
}
emu_repo() {
	curl -s "$E/_admin/state" | python3 -c "import json, sys
s = [r for r in json.load(sys.stdin)['repos'] if r['path'] == sys.argv[1]][0]
print($2)" "$1"
}

# emu_source README [BRANCH]: $T/src, a repository whose BRANCH (main)
# is one commit of a README holding the text README (and a newline), the
# source of the emulator's repositories. emu_project FORGE PATH TOKEN
# [BRANCH]: PATH on the emulator's FORGE made from it, with TOKEN
# handoff-bot's, who may write there.
emu_source() {
	git init -q "$T/src"
	printf '%s\n' "$1" > "$T/src/README"
	git -C "$T/src" add -A
	git -C "$T/src" -c user.name=t -c user.email=t@t commit -qm init
	git -C "$T/src" branch -q -M "${2:-main}"
}
emu_project() {
	admin POST repos '{"forge":"'"$1"'","path":"'"$2"'","default_branch":"'"${4:-main}"'","from":"'"$T/src"'"}' >/dev/null
	admin POST tokens '{"forge":"'"$1"'","token":"'"$3"'","user":"handoff-bot","can_write":true}' >/dev/null
}

# jobnum ANSWER: the job number in a delivery's answer.
jobnum() { printf '%s' "$1" | sed -n 's/.*"job":\([0-9]*\).*/\1/p'; }

# kill_runner_at_fault JOB WHEN: once the emulator's one fault (a slow
# answer) has fired, kill -9 job's runner; serve must resume the job, which
# must end done. Three checks.
kill_runner_at_fault() {
	for _ in $(seq 300); do
		curl -s "$E/_admin/faults" | grep -q '"fired": 1' && break
		sleep 0.1
	done
	runner=$(pgrep -f -- "-c $CONFIG runner --job $1$" | head -n 1)
	[ -n "$runner" ] && kill -9 "$runner"
	ok $? "job $1: its runner is killed $2"
	admin DELETE faults >/dev/null
	wait_job_end "$1"; ok $? "job $1 ends"
	is "$(job_state "$1")" done "job $1 is done after resuming"
}

# mkrepo DIR [FILE:NAME...]: a repository on main with README, old.txt, a
# workflow and copies of the FILEs as NAMEs, in one commit.
# bare_origin DIR.git: a bare repository whose main is one commit of a
# README saying hello (its work tree left beside it as DIR.src).
bare_origin() {
	git init -q --bare "$1"
	git init -q "$1.src"
	echo "hello" > "$1.src/README"
	git -C "$1.src" add -A
	git -C "$1.src" -c user.name=t -c user.email=t@t commit -qm init
	git -C "$1.src" push -q "$1" HEAD:refs/heads/main
}

mkrepo() {
	local dir=$1 f
	shift
	mkdir -p "$dir"
	git -C "$dir" init -q -b main
	git -C "$dir" config user.name "Test User"
	git -C "$dir" config user.email test@example.com
	printf 'A test repository.\n' > "$dir/README"
	printf 'old\n' > "$dir/old.txt"
	mkdir -p "$dir/.github/workflows"
	printf 'on: push\n' > "$dir/.github/workflows/ci.yml"
	for f in "$@"; do cp "${f%%:*}" "$dir/${f#*:}"; done
	git -C "$dir" add -A
	git -C "$dir" commit -q -m initial
}

# delivery KIND REPO NUMBER USER [KEY=VALUE...]: a delivery about
# REPO#NUMBER by USER, for the emulator at $E (if any), written to a new file whose
# path is printed. KIND: gh-label (the trigger label "agent" added),
# gh-comment (an issue comment: body=, id=, assoc= MEMBER by default),
# gh-review-comment (an inline comment on pull request pr= from branch=:
# body=, id=, review_id=, path=, line=, hunk=), gh-review (a review of pr=
# from branch= asking for changes: body=, id=),
# gl-label (an Issue Hook adding "agent"), gl-note (a note on the issue:
# body=, id=); user_id= is the author's id (GitLab: their member id);
# clone= another URL to clone from.
delivery() {
	python3 - "$SAMPLES" "$T" "${E:-}" "$@" <<'PY'
import json, os, sys, tempfile
samples, tmp, E, kind, repo, number, user = sys.argv[1:8]
kv = dict(a.split("=", 1) for a in sys.argv[8:])
uid = int(kv.get("user_id", 0))
def load(name):
    return json.load(open(os.path.join(samples, name)))
if kind.startswith("gh-"):
    d = load({"gh-label": "github/derived/issues.labeled.agent.json",
              "gh-comment": "github/issue_comment.created.0.json",
              "gh-review-comment": "github/pull_request_review_comment.created.0.json",
              "gh-review": "github/derived/pull_request_review.submitted.changes_requested.json"}[kind])
    owner, name = repo.split("/", 1)
    d["repository"].update({"full_name": repo, "name": name,
        "clone_url": kv.get("clone", E + "/github/git/" + repo + ".git"),
        "default_branch": "main"})
    d["repository"]["owner"]["login"] = owner
    d["sender"].update({"login": user, "id": uid or 1000})
    if "issue" in d:
        d["issue"]["number"] = int(number)
        d["issue"].pop("pull_request", None)
    else:
        d["pull_request"]["number"] = int(kv["pr"])
        d["pull_request"]["head"]["ref"] = kv["branch"]
    if kind == "gh-review-comment":
        d["comment"].update({"id": int(kv["id"]), "body": kv["body"],
            "author_association": kv.get("assoc", "MEMBER"),
            "pull_request_review_id": int(kv["review_id"]), "path": kv["path"],
            "line": int(kv["line"]), "diff_hunk": kv["hunk"]})
        d["comment"]["user"].update({"login": user, "id": uid or 1000})
    if kind == "gh-review":
        d["review"].update({"id": int(kv["id"]), "body": kv["body"],
            "author_association": kv.get("assoc", "MEMBER")})
        d["review"]["user"].update({"login": user, "id": uid or 1000})
    if kind == "gh-comment":
        d["comment"].update({"id": int(kv["id"]), "body": kv["body"],
            "author_association": kv.get("assoc", "MEMBER")})
        d["comment"]["user"].update({"login": user, "id": uid or 1000})
else:
    d = load("gitlab/issue.json" if kind == "gl-label" else "gitlab/note_issue.json")
    d["project"].update({"path_with_namespace": repo,
        "git_http_url": kv.get("clone", E + "/gitlab/" + repo + ".git"),
        "default_branch": "main"})
    d["user"].update({"username": user, "id": uid})
    if kind == "gl-label":
        d["object_attributes"]["iid"] = int(number)
        d["changes"]["labels"]["current"] = [{"id": 9, "title": "agent"}]
        d["changes"]["labels"]["previous"] = []
    else:
        d["issue"]["iid"] = int(number)
        d["object_attributes"].update({"id": int(kv["id"]), "note": kv["body"],
            "author_id": uid})
fd, out = tempfile.mkstemp(prefix=kind + "-", suffix=".json", dir=tmp)
with os.fdopen(fd, "w") as f:
    json.dump(d, f)
print(out)
PY
}

# emu_comment FORGE REPO NUMBER USER BODY: USER's comment (GitLab: note) on
# issue NUMBER, made in the emulator; prints its id.
emu_comment() {
	python3 -c 'import json, sys
print(json.dumps({"forge": sys.argv[1], "repo": sys.argv[2],
    "number": int(sys.argv[3]), "user": sys.argv[4], "body": sys.argv[5]}))' \
	    "$@" > "$T/comment.json"
	curl -s -X POST "$E/_admin/comments" --data-binary "@$T/comment.json" |
	    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
