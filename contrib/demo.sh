#!/bin/sh
# Install what is missing, build, and show the main job end to end on this
# machine: handoff serve takes a real GitHub delivery (an issue labeled
# `agent`), runs a demo agent on a checkout of the repository inside the
# sandbox, and commits its change on the issue's branch. The repository is
# a local one standing in for GitHub's; publishing the branch as a pull
# request is not part of this demo.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/contrib/install-deps.sh"
"$top/contrib/build.sh" "$top/build"
handoff="$top/build/handoff"
demo="$top/build/demo"
cd "$top"

# The repository the issue is about, with the spelling mistake it reports.
rm -rf "$demo"
mkdir -p "$demo"
git init -q "$demo/work"
printf '# Hello-World\n\nMy first repository on GitHub. Remember to committ often.\n' \
    > "$demo/work/README"
git -C "$demo/work" add README
git -C "$demo/work" -c user.name=Codertocat -c user.email=octocat@example.com \
    commit -qm "Initial commit"
git init -q --bare "$demo/origin.git"
git -C "$demo/work" push -q "$demo/origin.git" HEAD:refs/heads/master

# config.example.ini with the demo agent, a scratch data_dir, and the
# sample delivery pointing at the local repository.
sed -e "s|^#command = .*|command = $top/contrib/agents/demo.sh|" \
    -e "s|^data_dir = .*|data_dir = $demo/data|" \
    -e "s|^memory = .*|memory = 1G|" \
    config.example.ini > "$demo/handoff.ini"
config="$demo/handoff.ini"
sed "s|https://github.com/Codertocat/Hello-World.git|$demo/origin.git|" \
    webhooks/samples/github/derived/issues.labeled.agent.json > "$demo/issue.json"

"$handoff" -c "$config" serve 2>"$demo/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
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
for _ in $(seq 300); do
	state=$("$handoff" -c "$config" show $job --json |
	    sed -n 's/^[[:space:]]*"state":[[:space:]]*"\([a-z]*\)",$/\1/p')
	case $state in done|failed|cancelled) break ;; esac
	sleep 0.1
done
echo "\$ handoff jobs"
"$handoff" -c "$config" jobs --limit 5
echo "\$ handoff show $job"
"$handoff" -c "$config" show "$job"
echo "\$ handoff logs $job"
"$handoff" -c "$config" logs "$job"
branch=$("$handoff" -c "$config" show $job --json |
    sed -n 's/^[[:space:]]*"branch":[[:space:]]*"\(.*\)",$/\1/p')
echo "\$ git log -p $branch     # in handoff's mirror of the repository"
git --git-dir="$(ls -d "$demo"/data/mirrors/*.git)" log -1 -p --stat "$branch"
[ "$state" = done ]
