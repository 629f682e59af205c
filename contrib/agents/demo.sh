#!/bin/sh
# A stand-in for a coding agent, for the demo: it reads the task handoff
# wrote, fixes the spelling mistake the demo issue reports, and writes the
# pull request's description. Real agents: see contrib/README.md.
set -eu
echo "task: $(head -n 1 "$HANDOFF_TASK")"
echo "looking for 'commmit' and 'committ' in the repository"
grep -rl -e commmit -e committ --exclude-dir=.git . | while read -r f; do
	echo "fixing $f"
	sed -i -e 's/commmit/commit/g' -e 's/committ/commit/g' "$f"
done
cat > "$HANDOFF_SUMMARY" <<'SUMMARY'
Fix the spelling of "commit" in the README.
SUMMARY
echo "done"
