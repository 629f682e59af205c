#!/bin/bash
# A mirror that has gathered more than 50 packs is packed into one by
# `handoff gc`, losing no object (not even one no ref names yet, as a job
# that has not set its branch has); the mirror still fetches and a job
# still runs from it. A mirror being fetched (its lock held) is left alone.
. "$SRCDIR/tests/lib.sh"

for tool in bwrap git flock; do
	command -v $tool >/dev/null || { echo "Bail out! $tool is needed"; exit 1; }
done

git init -q -b main "$T/repo"
echo "v0" > "$T/repo/README"
git -C "$T/repo" add -A
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -qm v0
cat > "$T/agent.sh" <<'EOF'
#!/bin/sh
echo "change $$" >> README
echo "changed" > "$HANDOFF_SUMMARY"
EOF
chmod +x "$T/agent.sh"
write_config "[agent]" "command = $T/agent.sh" "timeout = 2m" "[sandbox]" \
    "memory = 256M" "pids = 64" "disk = 64M"

run -c "$CONFIG" run --repo "$T/repo" --task "first" --branch first
is "$status" 0 "a first job makes the mirror"
M=$(ls -d "$DATA"/mirrors/*.git)
[ -d "$M/objects" ]; ok $? "the mirror is there"
packs() { ls "$M"/objects/pack/pack-*.pack 2>/dev/null | wc -l; }

# 60 more packs, each of one object that no ref names.
for i in $(seq 60); do
	echo "object $i" | git -C "$M" hash-object -w --stdin >> "$T/blobs"
	tail -n 1 "$T/blobs" | git -C "$M" pack-objects -q "$M/objects/pack/pack" \
	    >/dev/null
done
git -C "$M" prune-packed
n=$(packs)
[ "$n" -gt 60 ]; ok $? "the mirror has $n packs"

# While the mirror is being fetched (its lock held), gc leaves it alone.
flock -o "$M.lock" sh -c "echo \$\$ > '$T/held.pid'; touch '$T/held'; exec sleep 60" &
holder=$!
wait_for "the lock" test -f "$T/held"
EXTRA_CLEANUP="kill $(cat "$T/held.pid") 2>/dev/null"
run -c "$CONFIG" gc
is "$status" 0 "gc succeeds while the mirror is locked"
is "$(packs)" "$n" "and leaves its packs alone"
kill "$(cat "$T/held.pid")"
wait "$holder" 2>/dev/null

run -c "$CONFIG" gc
is "$status" 0 "gc succeeds"
like "$(cat "$T/out")" "$n packs of 1 mirror packed into one" \
    "it says it packed the mirror's $n packs into one"
is "$(packs)" 1 "the mirror has one pack"
is "$(ls "$M"/objects/pack/*.idx | wc -l)" 1 "and one index"
missing=0
while read -r b; do
	git -C "$M" cat-file -e "$b" || missing=$((missing + 1))
done < "$T/blobs"
is "$missing" 0 "every object no ref names is still there"
git -C "$M" fsck --no-dangling >"$T/fsck" 2>&1
ok $? "git fsck passes on the mirror"
is "$(git -C "$M" rev-parse first)" "$(git -C "$T/repo" rev-parse first)" \
    "the first job's branch is intact"

echo "v1" >> "$T/repo/README"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -qam v1
run -c "$CONFIG" run --repo "$T/repo" --task "second" --branch second
is "$status" 0 "a job runs from the packed mirror"
git -C "$M" cat-file -e "$(git -C "$T/repo" rev-parse main)"
ok $? "the mirror fetched the new commit"
is "$(git -C "$T/repo" rev-parse second^)" "$(git -C "$T/repo" rev-parse main)" \
    "the job's branch is on it"

run -c "$CONFIG" gc
like "$(cat "$T/out")" "0 packs of 0 mirrors" "a mirror with few packs is not repacked"
done_testing
