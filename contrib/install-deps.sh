#!/bin/sh
# Install the Debian 12 packages handoff needs to build, test and benchmark,
# skipping those already present. Uses sudo when not run as root.
set -eu
build="build-essential autoconf automake pkg-config libevent-dev
libcurl4-openssl-dev libcjson-dev libgit2-dev libssl-dev libsqlite3-dev
libinih-dev libseccomp-dev"
run="bubblewrap git curl openssl ca-certificates python3"
test="clang libclang-rt-14-dev procps iproute2 util-linux passwd mandoc
chromium chromium-driver python3-selenium fonts-liberation
python3-prometheus-client"
bench="wrk nodejs npm"

want="$build $run"
for arg in "$@"; do
	case $arg in
	--test) want="$want $test" ;;
	--bench) want="$want $bench" ;;
	*) echo "usage: $0 [--test] [--bench]" >&2; exit 2 ;;
	esac
done

missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    missing="$missing $p"
done
# nodejs may come from elsewhere with its own npm: accept a working one.
case " $missing " in *" npm "*)
	command -v npm >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ npm//') ;;
esac
case " $missing " in *" nodejs "*)
	command -v node >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ nodejs//') ;;
esac
[ -z "$missing" ] && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing:$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
