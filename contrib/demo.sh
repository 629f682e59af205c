#!/bin/sh
# Install what is missing, build, and show the main job end to end on this
# machine: a GitHub stand-in (tests/emulator, the forge emulator the tests
# use) holds a repository and an issue; handoff serve takes a real GitHub
# delivery of that issue labeled `agent`, runs a demo agent on a checkout
# inside the sandbox, pushes the branch and opens a draft pull request, and
# keeps a status comment on the issue.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/contrib/install-deps.sh"
"$top/contrib/build.sh" "$top/build"
handoff="$top/build/handoff"
demo="$top/build/demo"
cd "$top"

rm -rf "$demo"
mkdir -p "$demo"
pids=
trap 'kill $pids 2>/dev/null; wait $pids 2>/dev/null' EXIT

# The forge, with the repository the issue is about and its spelling mistake.
python3 tests/emulator/forge-emulator.py --port 0 --state-dir "$demo/forge" \
    >"$demo/forge.out" 2>"$demo/forge.log" &
pids=$!
for _ in $(seq 100); do grep -q listening "$demo/forge.out" && break; sleep 0.1; done
E=$(sed -n 's/^listening on //p' "$demo/forge.out")
git init -q "$demo/work"
printf '# Hello-World\n\nMy first repository on GitHub. Remember to committ often.\n' \
    > "$demo/work/README"
git -C "$demo/work" add README
git -C "$demo/work" -c user.name=Codertocat -c user.email=octocat@example.com \
    commit -qm "Initial commit"
admin() { curl -s -o /dev/null -X POST "$E/_admin/$1" -d "$2"; }
admin repos '{"forge":"github","path":"Codertocat/Hello-World","default_branch":"master","from":"'"$demo/work"'"}'
admin tokens '{"forge":"github","token":"ghp_demo_token","user":"handoff-bot","can_write":true}'
admin permissions '{"forge":"github","repo":"Codertocat/Hello-World","user":"Codertocat","permission":"admin"}'
admin issues '{"forge":"github","repo":"Codertocat/Hello-World","number":1,"title":"Spelling error in the README file","body":"It looks like you accidently spelled commit with two ts.","user":"Codertocat"}'

# config.example.ini with the demo agent, a scratch data_dir, the forge, and
# room for a small job (disk is reserved on data_dir's disk as root).
sed -e "s|^#command = .*|command = $top/contrib/agents/demo.sh|" \
    -e "s|^data_dir = .*|data_dir = $demo/data|" \
    -e "s|^memory = .*|memory = 1G|" \
    -e "s|^disk = .*|disk = 1G|" \
    -e "s|^api_url = https://api.github.com|api_url = $E/github/api\ntoken = ghp_demo_token|" \
    config.example.ini > "$demo/handoff.ini"
config="$demo/handoff.ini"
sed "s|https://github.com/Codertocat/Hello-World.git|$E/github/git/Codertocat/Hello-World.git|" \
    webhooks/samples/github/derived/issues.labeled.agent.json > "$demo/issue.json"

"$handoff" -c "$config" serve 2>"$demo/serve.log" &
pids="$pids $!"
for _ in $(seq 50); do
	curl -s -o /dev/null http://127.0.0.1:8080/healthz && break
	sleep 0.1
done

id="demo-$(date +%s)"
echo "\$ handoff deliver --forge github --event issues --delivery $id issue.json"
"$handoff" -c "$config" deliver --forge github --event issues --delivery "$id" "$demo/issue.json"
echo "\$ handoff deliver ... --delivery $id ...     # GitHub redelivers the same event"
"$handoff" -c "$config" deliver --forge github --event issues --delivery "$id" "$demo/issue.json"

job=1
state=
for _ in $(seq 600); do
	state=$("$handoff" -c "$config" show $job --json |
	    sed -n 's/^[[:space:]]*"state":[[:space:]]*"\([a-z]*\)",$/\1/p')
	case $state in done|failed|cancelled) break ;; esac
	sleep 0.1
done
echo "\$ handoff show $job"
"$handoff" -c "$config" show "$job"
echo "\$ handoff logs $job"
"$handoff" -c "$config" logs "$job"
echo
echo "== on the forge: the pull request, its diff, and the status comment"
curl -s "$E/_admin/state" | python3 -c '
import json, sys
repo = json.load(sys.stdin)["repos"][0]
for p in repo["pulls"]:
    print("pull request #%d%s: %s" % (p["number"], " (draft)" if p["draft"] else "", p["title"]))
    print("  %s <- %s" % (p["base"], p["head"]))
    print("  " + p["body"].replace("\n", "\n  "))
for i in repo["issues"]:
    for c in i.get("comments", []):
        print("comment on issue #%d by %s:" % (i["number"], c["user"]))
        print("  " + c["body"].replace("\n", "\n  "))
    for r in i.get("reactions", []):
        print("reaction on issue #%d: %s by %s" % (i["number"], r["content"], r["user"]))
'
branch=$("$handoff" -c "$config" show $job --json |
    sed -n 's/^[[:space:]]*"branch":[[:space:]]*"\(.*\)",$/\1/p')
echo "\$ git diff master...$branch     # on the forge's repository"
git --git-dir="$demo/forge/git/github/Codertocat/Hello-World.git" diff \
    "master...$branch"
echo "\$ curl http://127.0.0.1:8081/jobs/$job     # its status page: steps, task, diff, cost, log"
curl -s -o /dev/null -w '%{http_code} %{content_type}, %{size_download} bytes\n' \
    "http://127.0.0.1:8081/jobs/$job"
[ "$state" = done ]
