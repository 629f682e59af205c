#!/bin/bash
# The manual pages say what the program does: handoff(1) has every command
# `handoff help` lists, each with the usage `handoff help COMMAND` prints;
# handoff.ini(5) has every section and key check-config prints, with its
# default; both are clean under mandoc -T lint, and make install puts them
# in man1 and man5.
# Env: HANDOFF (the binary), SRCDIR, BUILDDIR (for make install). Prints TAP.

. "$SRCDIR/tests/lib.sh"
for tool in mandoc python3 make; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "Bail out! $tool is needed by this test" \
		    "(contrib/install-deps.sh --test)"; exit 1; }
done
BUILDDIR=${BUILDDIR:-$(dirname "$HANDOFF")}
PAGE1=${PAGE1:-$SRCDIR/doc/handoff.1}
PAGE5=${PAGE5:-$SRCDIR/doc/handoff.ini.5}
unset HANDOFF_CONFIG

# The pages as text, one line per output line, no overstrike, no wrapping.
render() { mandoc -T ascii -O width=1000 "$1" | sed 's/.\x08//g'; }

for page in "$PAGE1" "$PAGE5"; do
	lint=$(mandoc -T lint -W warning "$page" 2>&1)
	st=$?
	[ "$st" -eq 0 ] && [ -z "$lint" ]
	ok $? "mandoc -T lint -W warning is clean on $(basename "$page")"
	[ -z "$lint" ] || printf '%s\n' "$lint" | sed 's/^/#   /'
done

# Compare with what the program prints: one result per line,
# "ok<TAB>description" or "not ok<TAB>description<TAB>why".
"$HANDOFF" help >"$T/help" 2>&1
ok $? "handoff help exits 0"
awk '/^commands:/ { on = 1; next } on && NF { print $1 }' "$T/help" \
    >"$T/commands"
[ -s "$T/commands" ]
ok $? "handoff help lists commands"
while read -r cmd; do
	"$HANDOFF" help "$cmd" >"$T/usage.$cmd" 2>&1
done <"$T/commands"
render "$PAGE1" >"$T/page1.txt"
"$HANDOFF" -c /dev/null check-config >"$T/config" 2>"$T/err"
ok $? "handoff -c /dev/null check-config exits 0"

python3 - "$T" "$PAGE1" "$PAGE5" >"$T/results" <<'PY'
import re, sys

tmp, page1, page5 = sys.argv[1:4]

def norm(s):
    return " ".join(s.split())

def result(good, what, why=""):
    print("%s\t%s\t%s" % ("ok" if good else "not ok", what, why))

def sections(lines):
    """The source's .Sh/.Ss regions: {title: [lines]}."""
    out, cur = {}, None
    for line in lines:
        m = re.match(r'^\.S[hs] (.*)$', line)
        if m:
            cur = m.group(1).strip('"')
            out.setdefault(cur, [])
        elif cur is not None:
            out[cur].append(line)
    return out

def entries(lines):
    """The .It Cm NAME entries of a region: {name: text of the entry}."""
    out, cur = {}, None
    for line in lines:
        m = re.match(r'^\.It Cm ([^ ]+)', line)
        if m:
            cur = m.group(1)
            out[cur] = []
            continue
        if line.startswith(".It") or line.startswith(".El"):
            cur = None
        if cur is not None:
            if line.startswith("."):    # drop the macro's name
                line = line.split(None, 1)[1] if " " in line else ""
            out[cur].append(line.replace("\\&", ""))
    return {k: norm(" ".join(v)) for k, v in out.items()}

# handoff(1): every command, its usage in the synopsis, and nothing else.
commands = open(tmp + "/commands").read().split()
text = open(tmp + "/page1.txt").read().splitlines()
synopsis, on = set(), False
for line in text:
    if line == "SYNOPSIS":
        on = True
    elif line and not line[0].isspace():
        on = False
    elif on and line.strip():
        synopsis.add(norm(line))
src1 = sections(open(page1).read().splitlines())
documented = entries(src1.get("COMMANDS", []))
for cmd in commands:
    result(cmd in documented, "handoff(1) COMMANDS has an entry for " + cmd)
    usage = open("%s/usage.%s" % (tmp, cmd)).readline()
    m = re.match(r'^usage: (handoff \[-c FILE\] .*)$', usage.rstrip("\n"))
    if not m:
        result(False, "handoff help %s prints a usage line" % cmd, usage)
        continue
    want = norm(m.group(1))
    result(want in synopsis, "handoff(1) SYNOPSIS has: " + want,
           "synopsis lines: " + " | ".join(sorted(synopsis)))
for cmd in documented:
    result(cmd in commands, "handoff(1) documents only real commands: " + cmd)

# handoff.ini(5): every section and key check-config prints, its default.
src5 = sections(open(page5).read().splitlines())
printed, sect = [], None
for line in open(tmp + "/config").read().splitlines():
    m = re.match(r'^\[([a-z_]+)\]$', line)
    if m:
        sect = m.group(1)
        printed.append((sect, None, None))
        continue
    m = re.match(r'^([a-z_]+) =(?: (.*))?$', line)
    if m and sect:
        printed.append((sect, m.group(1), m.group(2) or ""))
keys = {}
for sect, key, value in printed:
    region = src5.get("[%s]" % sect)
    if key is None:
        result(region is not None, "handoff.ini(5) has a section [%s]" % sect)
        keys[sect] = entries(region or [])
        continue
    entry = keys[sect].get(key)
    result(entry is not None, "handoff.ini(5) [%s] has %s" % (sect, key))
    if entry is not None and value not in ("", "<unset>"):
        result(value in entry,
               "handoff.ini(5) [%s] %s gives its default %s" %
               (sect, key, value), "entry: " + entry)
real = {(s, k) for s, k, v in printed if k}
for sect, documented5 in keys.items():
    for key in documented5:
        result((sect, key) in real,
               "handoff.ini(5) documents only real keys: [%s] %s" %
               (sect, key))
result(any(t.startswith("[repo ") for t in src5),
       "handoff.ini(5) has the [repo \"pattern\"] sections")
PY
ok $? "the pages were compared with the program"
while IFS=$'\t' read -r verdict what why; do
	if [ "$verdict" = ok ]; then
		ok 0 "$what"
	else
		ok 1 "$what"
		[ -n "$why" ] && echo "#   $why"
	fi
done <"$T/results"

# make install puts both pages where man(1) looks.
dest=$T/destdir
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    make -C "$BUILDDIR" install DESTDIR="$dest" >"$T/install.log" 2>&1
st=$?
ok "$st" "make install DESTDIR=... succeeds"
[ "$st" -eq 0 ] || tail -n 20 "$T/install.log" | sed 's/^/#   /'
got1=$(find "$dest" -path '*/man1/handoff.1' -type f)
got5=$(find "$dest" -path '*/man5/handoff.ini.5' -type f)
[ -n "$got1" ] && cmp -s "$got1" "$SRCDIR/doc/handoff.1"
ok $? "make install puts handoff.1 in man1"
[ -n "$got5" ] && cmp -s "$got5" "$SRCDIR/doc/handoff.ini.5"
ok $? "make install puts handoff.ini.5 in man5"

done_testing
