#!/bin/sh
# Changes a CI workflow, which [runs] protected_paths forbids by default.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
set -e
mkdir -p .github/workflows
printf '  # the agent was here\n' >> .github/workflows/ci.yml
echo "changed .github/workflows/ci.yml"
