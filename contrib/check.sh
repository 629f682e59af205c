#!/bin/sh
# Install what is missing, build with warnings as errors and sanitizers, and
# run the whole test suite (unit and integration, through automake's TAP
# driver). The build goes to ./build-check.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/contrib/install-deps.sh" --test
"$top/contrib/build.sh" "$top/build-check" --enable-werror --enable-sanitizers
cd "$top/build-check"
make -s check -j"$(nproc)" || {
	for log in $(grep -l -E '^:test-result: (FAIL|ERROR)' tests/*.trs tests/unit/*.trs 2>/dev/null); do
		echo "=== ${log%.trs}.log"
		cat "${log%.trs}.log"
	done
	exit 1
}
