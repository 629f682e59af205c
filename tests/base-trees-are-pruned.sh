#!/bin/bash
# Base trees (one checkout per commit, shared by the jobs on it) do not
# pile up: beyond the eight most recently used, those no job holds are
# removed; the one a running job stands on is kept.
. "$SRCDIR/tests/lib.sh"

command -v bwrap >/dev/null || { echo "Bail out! bwrap is needed"; exit 1; }
command -v git >/dev/null || { echo "Bail out! git is needed"; exit 1; }

MARK="handoff-prune-test-$$"
EXTRA_CLEANUP='pkill -9 -f "$MARK" 2>/dev/null'
git init -q "$T/repo"
echo "v0" > "$T/repo/README"
git -C "$T/repo" add -A
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -qm v0

cat > "$T/agent.sh" <<EOF
#!/bin/sh
grep -q 'please-hold' "\$HANDOFF_TASK" && exec sh -c "sleep 600; : $MARK"
echo "nothing to do" > "\$HANDOFF_SUMMARY"
EOF
chmod +x "$T/agent.sh"
write_config "[agent]" "command = $T/agent.sh" "timeout = 2m" "[sandbox]" \
    "memory = 256M" "pids = 64" "disk = 64M"
commit() {
	echo "$1" >> "$T/repo/README"
	git -C "$T/repo" -c user.name=t -c user.email=t@t commit -qam "$1"
}

# A job that stays on the first commit's tree while the others come and go.
"$HANDOFF" -c "$CONFIG" run --repo "$T/repo" --task "please-hold" \
    >"$T/hang.out" 2>&1 &
hang=$!
i=0
until pgrep -f "$MARK" >/dev/null || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done
first=$(git -C "$T/repo" rev-parse HEAD)
for n in $(seq 1 12); do
	commit "v$n"
	run -c "$CONFIG" run --repo "$T/repo" --task "run $n"
	[ "$status" -eq 0 ] || break
done
is "$status" 0 "twelve jobs on twelve new commits succeed"
trees=$(ls -d "$DATA"/trees/*/ | wc -l)
ok "$([ "$trees" -le 9 ]; echo $?)" "at most 8 unused trees are kept ($trees, with the one in use)"
[ -d "$DATA/trees/$first/files" ]; ok $? "the tree a running job stands on is kept"
last=$(git -C "$T/repo" rev-parse HEAD)
[ -d "$DATA/trees/$last/files" ]; ok $? "the most recent tree is kept"
kill -TERM $hang
wait $hang 2>/dev/null
sleep 0.5
pgrep -f "$MARK" >/dev/null; [ $? -ne 0 ]; ok $? "the held job's sandbox is gone after its runner stops"

done_testing
