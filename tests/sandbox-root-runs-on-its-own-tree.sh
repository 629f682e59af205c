#!/bin/bash
# [sandbox] root: the agent runs on that directory tree's /usr, /bin and
# /etc (here a tree made from Debian's busybox-static), not the host's;
# links in the tree's /etc resolve inside the tree, never to host files;
# the agent's edit still reaches the branch. A missing directory (a
# relative path is the config file's directory's), a world-writable one or
# one of another owner is a
# configuration error, and a tree gone by the time the sandbox starts fails
# the job with that reason.
. "$SRCDIR/tests/sandbox-lib.sh"

command -v git >/dev/null || { echo "Bail out! git is needed"; exit 1; }

# busybox-static's binary, from its Debian package.
mkdir -p "$T/deb"
(cd "$T/deb" && apt-get download busybox-static) >"$T/apt.log" 2>&1 ||
    { echo "Bail out! apt-get download busybox-static failed:"; \
      sed 's/^/# /' "$T/apt.log"; exit 1; }
dpkg -x "$T"/deb/busybox-static_*.deb "$T/deb/x" ||
    { echo "Bail out! cannot unpack busybox-static"; exit 1; }
BB="$T/deb/x/bin/busybox"
[ -x "$BB" ] || { echo "Bail out! no bin/busybox in busybox-static"; exit 1; }

# The host has tools the tree does not.
HOSTONLY=
for f in /usr/bin/python3 /usr/bin/bash /usr/bin/perl; do
	[ -x "$f" ] && { HOSTONLY=$f; break; }
done
[ -n "$HOSTONLY" ] || { echo "Bail out! no host-only tool to look for"; exit 1; }

# A world-readable file the sandbox must never see: in a directory only
# its owner may enter.
SECRET="root-tree-secret-$$"
mkdir -m 700 "$T/hostonly"
echo "$SECRET" > "$T/hostonly/secret.txt"
chmod 644 "$T/hostonly/secret.txt"

# mktree DIR: a merged-usr tree of busybox and its applets, with an /etc
# of its own.
mktree() {
	local dir=$1 a
	mkdir -p "$dir/usr/bin" "$dir/usr/share" "$dir/etc/ssl"
	cp "$BB" "$dir/usr/bin/busybox"
	for a in $("$BB" --list); do
		[ "$a" = busybox ] || ln -s busybox "$dir/usr/bin/$a"
	done
	ln -s usr/bin "$dir/bin"
	ln -s usr/bin "$dir/sbin"
	printf '127.0.0.1 localhost\n10.9.8.7 root-tree-marker\n' > \
	    "$dir/etc/hosts"
	echo "tree-mime-types" > "$dir/usr/share/tree-mime"
	# Absolute links: inside the tree, as if it were /.
	ln -s /usr/share/tree-mime "$dir/etc/mime.types"
	ln -s "$T/hostonly/secret.txt" "$dir/etc/ssl/openssl.cnf"
	chmod -R go-w "$dir"
}
TREE="$T/tree"
mktree "$TREE"

# The agent says what it runs on.
write_agent() {	# write_agent PATH
	cat > "$1" <<-'EOF'
	#!/bin/sh
	{
		echo "exe: $(readlink /proc/$$/exe)"
		echo "sh: $(/bin/sh --help 2>&1 | head -n 1)"
		if [ -e "$HOSTONLY" ]; then echo "hostonly: present"
		else echo "hostonly: absent"; fi
		echo "hosts: $(grep root-tree-marker /etc/hosts)"
		echo "mime: $(cat /etc/mime.types 2>&1)"
		echo "ssl: $(cat /etc/ssl/openssl.cnf 2>&1)"
		echo "passwd: $(cat /etc/passwd)"
	} > RESULT-tree.txt
	EOF
	sed -i "s|\$HOSTONLY|$HOSTONLY|" "$1"
	chmod 755 "$1"
}

# cfg_error NAME ROOT WANT: check-config refuses ROOT.
cfg_error() {
	DATA="$D/data" write_config '[sandbox]' "root = $2"
	cp "$CONFIG" "$D/$1.ini"
	own "$D/$1.ini"
	hrun -c "$D/$1.ini" check-config
	is "$status" 2 "$P $1: check-config exits 2"
	like "$(cat "$T/err")" "root" "$P $1: the error names the key"
	like "$(cat "$T/err")" "not writable by others" \
	    "$P $1: the error says what a root must be"
}

cases() {
	half_setup "$1"
	write_agent "$D/agent.sh"
	own "$D/agent.sh"

	run_case tree "$D/agent.sh" "" "root = $TREE"
	succeeded tree
	out=$(result tree)
	like "$out" "exe: /usr/bin/busybox" "$P the agent's shell is the tree's busybox"
	like "$out" "sh: BusyBox v" "$P /bin/sh says it is BusyBox"
	like "$out" "hostonly: absent" "$P the host's $HOSTONLY is absent inside"
	like "$out" "hosts: 10.9.8.7 root-tree-marker" "$P /etc/hosts is the tree's"
	like "$out" "mime: tree-mime-types" "$P a link in the tree's /etc resolves in the tree"
	unlike "$out" "$SECRET" "$P a link in the tree's /etc never reaches a host file"
	like "$out" "passwd: agent:" "$P /etc/passwd is still handoff's"

	# The tree disappears after the configuration was read: the
	# task file is a FIFO, opened after the config.
	GONE="$T/gone-$WHO"
	mktree "$GONE"
	case_setup gone "$D/agent.sh" "" "root = $GONE"
	rm -f "$TASKFILE"
	mkfifo "$TASKFILE"
	own "$TASKFILE"
	"$D/handoff" -c "$CFG" run --repo "$REPO" --task-file "$TASKFILE" \
	    >"$T/out" 2>"$T/err" &
	pid=$!
	# Opening the FIFO waits for handoff to open it; a handoff that
	# ends first (the config refused) leaves the writer to be stopped.
	{ rm -rf "$GONE"; printf 'Gone\n\nmarker: %s\n' "$MARK"; } \
	    > "$TASKFILE" &
	wpid=$!
	wait $pid
	status=$?
	kill $wpid 2>/dev/null
	wait $wpid 2>/dev/null
	is "$status" 1 "$P gone: handoff run exits 1"
	like "$(cat "$T/err")" "[sandbox] root: $GONE: No such file" \
	    "$P gone: the job fails saying the root is gone"
	! G rev-parse -q --verify refs/heads/handoff/local-1 >/dev/null
	ok $? "$P gone: no branch is left"

	cfg_error relative "tree/usr"
	cfg_error missing "$T/no-such-tree"
	mkdir -p "$T/ww/usr"
	chmod 777 "$T/ww"
	cfg_error world-writable "$T/ww"
	mkdir -p "$T/nousr/etc"
	cfg_error empty "$T/nousr"
	if [ "$WHO" = root ]; then
		mkdir -p "$T/theirs/usr"
		chown -R "$ESC_USER:" "$T/theirs"
		cfg_error other-owner "$T/theirs"
	fi
}

halves cases

done_testing
