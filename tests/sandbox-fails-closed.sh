#!/bin/bash
# The sandbox fails closed: without bubblewrap, when bubblewrap cannot make
# its namespaces or load the seccomp filter, without a pids limit for root,
# with an allowlist whose proxy is not there, or with no agent configured, the
# job fails with that reason and the agent never runs outside a sandbox.
. "$SRCDIR/tests/lib.sh"

command -v git >/dev/null || { echo "Bail out! git is needed"; exit 1; }

git init -q "$T/repo"
echo "hello" > "$T/repo/README"
git -C "$T/repo" add -A
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -qm init

# Run anywhere but in the sandbox, this agent leaves a canary on the host.
cat > "$T/agent.sh" <<EOF
#!/bin/sh
touch "$T/canary"
echo "changed" >> README
EOF
chmod +x "$T/agent.sh"

fake() {	# fake NAME MESSAGE: a bubblewrap that fails as the real one does
	printf '#!/bin/sh\necho "%s" >&2\nexit 1\n' "$2" > "$T/$1"
	chmod +x "$T/$1"
	echo "$T/$1"
}

attempt() {	# attempt DESCRIPTION EXPECTED-REASON [ENV=VALUE...]: a failed job
	what=$1 reason=$2
	shift 2
	rm -f "$T/canary"
	env "$@" "$HANDOFF" -c "$CONFIG" run --repo "$T/repo" --task "Change" \
	    >"$T/out" 2>"$T/err"
	status=$?
	is "$status" 1 "$what: handoff run fails"
	like "$(cat "$T/err")" "$reason" "$what: the reason says so"
	[ ! -e "$T/canary" ]; ok $? "$what: the agent did not run"
}

write_config "[agent]" "command = $T/agent.sh" "[sandbox]" "memory = 256M" \
    "pids = 64" "disk = 64M"

attempt "no bubblewrap" "bubblewrap ($T/none/bwrap) is not installed" \
    HANDOFF_BWRAP="$T/none/bwrap"
attempt "user namespaces refused" \
    "No permissions to create a new namespace" HANDOFF_BWRAP="$(fake userns \
    'bwrap: No permissions to create a new namespace, likely because the kernel does not allow non-privileged user namespaces.')"
attempt "seccomp filter refused" "prctl(PR_SET_SECCOMP): Invalid argument" \
    HANDOFF_BWRAP="$(fake seccomp 'bwrap: prctl(PR_SET_SECCOMP): Invalid argument')"
if [ "$(id -u)" -eq 0 ]; then
	attempt "root without a pids cgroup" "pids limit cannot be enforced" \
	    HANDOFF_CGROUP_ROOT="$T/no-cgroups"
else
	ok 0 "root without a pids cgroup # SKIP not root"
fi

write_config "[agent]" "command = $T/agent.sh" "[sandbox]" \
    "network = allowlist" "allow_hosts = example.com"
attempt "network allowlist without its proxy" \
    "the egress proxy's socket $DATA/jobs/5/net/proxy.sock: No such file" \
    HANDOFF_TEST_BRIDGE=1

write_config "[sandbox]" "memory = 256M"
attempt "no agent" "[agent] command is not set"

run -c "$CONFIG" show 6 --json
has "$T/out" '"state":	"failed"'; ok $? "the store says the job failed"

done_testing
