#!/bin/bash
# A big change is paged on its job's page, never shown whole: a 5 MB file
# fills the first page, cut at the page's 1 MiB; the next 300 files come
# 100 a page behind ?diff=2, 3 and 4, each page linking to the ones around
# it; a file larger than the pages read (16 MiB) is named, not read.
. "$SRCDIR/tests/lib.sh"

for t in bwrap git python3; do
	command -v $t >/dev/null || { echo "Bail out! $t is needed"; exit 1; }
done

bare_origin "$T/origin.git"

cat > "$T/agent.sh" <<'EOF'
#!/bin/sh
set -e
# big.txt: 100,000 lines of 50 bytes; huge.txt: 17 MiB.
awk 'BEGIN { for (i = 1; i <= 100000; i++) printf "line %06d of the big file, forty-odd bytes.\n", i }' > big.txt
awk 'BEGIN { for (i = 1; i <= 278529; i++) printf "huge line %06d of the huge file, sixty-four bytes long.......\n", i }' > huge.txt
mkdir gen
i=1
while [ $i -le 300 ]; do
	printf 'generated file %03d\n' $i > "gen/file-$(printf %03d $i).txt"
	i=$((i + 1))
done
echo "agent: wrote $(ls gen | wc -l) files"
EOF
chmod +x "$T/agent.sh"
MAX_PARALLEL=1 write_config "[agent]" "command = $T/agent.sh" \
    "[runs]" "max_changed_files = 400" \
    "[sandbox]" "memory = 512M" "pids = 200" "disk = 256M"
start_serve

r=$(deliver github issues "$(labeled_at 1 "$T/origin.git")")
like "$r" '"job":1' "the issue is queued"
wait_job_end 1; ok $? "job 1 ends"
is "$(job_state 1)" done "job 1 is done"
"$HANDOFF" -c "$CONFIG" show 1 --json | grep -q '302 files changed'
ok $? "its change has 302 files"

get() {	# get PATH: the diff section of the page into $T/diff
	code=$(curl -s -o "$T/page" -w '%{http_code}' "$WEB_URL$1")
	sed -n '/<section id="diff">/,/<\/section>/p' "$T/page" > "$T/diff"
	size=$(wc -c < "$T/page")
}
files() { grep -c '<div class="file">' "$T/diff"; }
names() {	# the names of the files shown, first and last
	sed -n 's/.*<span class="name">\([^<]*\)<.*/\1/p' "$T/diff" |
	    awk 'NR == 1 { first = $0 } { last = $0 }
	    END { if (NR > 1) print first " " last; else if (NR) print first }'
}

get /jobs/1
is "$code" 200 "page 1 of the diff is 200"
is "$(files)" 1 "page 1 holds the 5 MB file alone"
is "$(names)" "big.txt" "which is big.txt"
[ "$size" -lt $((2 * 1024 * 1024)) ]
ok $? "page 1 is bounded ($size bytes for a 5 MB file)"
has "$T/diff" '<span class="add">+line 000001 of the big file'
ok $? "it starts at the file's start"
! has "$T/diff" 'line 100000 of the big file'; ok $? "and does not reach its end"
grep -q '[0-9]* more lines of this file are not shown' "$T/diff"
ok $? "saying that it is cut"
! has "$T/diff" '<span class="name">gen/'; ok $? "the small files are not on page 1"
grep -Eq ' gen/file-300.txt +\| +1 \+' "$T/diff"; ok $? "but the diffstat names them"
has "$T/diff" '<a rel="next" href="/jobs/1?diff=2#diff">more files</a>'
ok $? "a link to page 2"
! has "$T/diff" 'rel="prev"'; ok $? "none back from page 1"

get '/jobs/1?diff=2'
is "$(files)" 100 "page 2 holds 100 files"
is "$(names)" "gen/file-001.txt gen/file-100.txt" "the first hundred small ones"
has "$T/diff" '<span class="add">+generated file 001</span>'
ok $? "with their lines"
has "$T/diff" 'files 2–101 of 302'; ok $? "counted"
has "$T/diff" '<a rel="prev" href="/jobs/1?diff=1#diff">earlier files</a>' &&
    has "$T/diff" '<a rel="next" href="/jobs/1?diff=3#diff">more files</a>'
ok $? "linking both ways"
get '/jobs/1?diff=4'
is "$(names)" "gen/file-201.txt gen/file-300.txt" "page 4: the last hundred"
get '/jobs/1?diff=5'
is "$(files)" 1 "page 5: the file too large to read"
is "$(names)" "huge.txt" "huge.txt"
grep -q 'Not shown: 17825856 bytes, larger than the 16 MiB this page reads.' "$T/diff"
ok $? "named with its size, not read"
! has "$T/diff" 'huge line'; ok $? "none of its lines"
! has "$T/diff" 'rel="next"'; ok $? "the last page links no further"
get '/jobs/1?diff=6'
is "$code" 200 "a page past the end is 200"
has "$T/diff" 'no files on this page; the change has 302'; ok $? "and says so"
get '/jobs/1?diff=junk'
is "$(names)" "big.txt" "a page that is not a number is page 1"
stop_serve > "$T/stopped"
is "$(cat "$T/stopped")" 0 "serve stops cleanly, every page freed"
done_testing
