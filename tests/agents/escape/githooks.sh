#!/bin/sh
# Plants every git setting and hook that runs a command, each appending its
# name to the host path of the task's "canary: /abs/path" line, in case
# handoff runs git on the workspace outside the sandbox. Then edits README
# so that there is something to commit.
[ -f /handoff/task.md ] || { echo "not in a sandbox" >&2; exit 99; }
set -e
canary=$(sed -n 's/^canary: *//p' "$HANDOFF_TASK" | head -n 1)
[ -n "$canary" ] || { echo "no canary line in the task" >&2; exit 2; }
hooks="applypatch-msg pre-applypatch post-applypatch pre-commit
pre-merge-commit prepare-commit-msg commit-msg post-commit pre-rebase
post-checkout post-merge pre-push pre-receive update proc-receive
post-receive post-update reference-transaction push-to-checkout
pre-auto-gc post-rewrite sendemail-validate fsmonitor-watchman
p4-changelist p4-prepare-changelist p4-post-changelist p4-pre-submit
post-index-change"
plant() {	# plant DIR: every hook in DIR
	mkdir -p "$1"
	for h in $hooks; do
		printf '#!/bin/sh\necho "hook %s $(id -u)" >> %s\nexit 0\n' \
		    "$h" "$canary" > "$1/$h"
		chmod +x "$1/$h"
	done
}
plant .git/hooks
plant .git/evil-hooks

git config core.hooksPath .git/evil-hooks
git config core.fsmonitor "echo fsmonitor >> $canary; true"
git config core.sshCommand "echo sshCommand >> $canary; true"
git config core.pager "echo pager >> $canary; cat"
git config core.editor "echo editor >> $canary; true"
git config core.askPass "echo askPass >> $canary; true"
git config credential.helper "!echo credential >> $canary; true"
git config diff.external "echo diff.external >> $canary; true"
git config diff.x.textconv "echo textconv >> $canary; cat"
git config filter.x.clean "echo clean >> $canary; cat"
git config filter.x.smudge "echo smudge >> $canary; cat"
git config filter.x.process "echo process >> $canary; false"
git config filter.x.required false
git config merge.x.driver "echo merge >> $canary; true"
git config gpg.program "echo gpg >> $canary; true"
git config commit.gpgsign true
git config sequence.editor "echo sequence.editor >> $canary; true"
git config uploadpack.packObjectsHook "echo packObjectsHook >> $canary; true"
git config core.alternateRefsCommand "echo alternateRefsCommand >> $canary; true"
git config protocol.ext.allow always
git config remote.evil.url "ext::sh -c \"echo ext >> $canary\""
printf '[core]\n\tfsmonitor = echo included >> %s; true\n' "$canary" \
    > .git/evil.inc
git config include.path evil.inc
printf '* filter=x diff=x merge=x\n' > .gitattributes
echo "A line from the githooks agent." >> README
echo "planted hooks and config; canary $canary"
