#!/bin/bash
# conformance.sh [CAIRN]: runs the IPFS gateway conformance suite against a
# fresh cairn daemon (make conformance). It builds nothing: CAIRN is the
# binary (default bin/cairn). The suite and its runners live in
# $TOOLS (default /work/shared/tools): conformance.sh GATEWAY_URL SPECS and
# conformance-fixtures.sh DIR. Prints the pass/fail/skip counts per spec.
# Not part of `make test`: it needs the suite's Go modules and takes minutes.
set -eu
cairn=$(cd "$(dirname "${1:-bin/cairn}")" && pwd)/$(basename "${1:-bin/cairn}")
tools=${TOOLS:-/work/shared/tools}
work=$(mktemp -d)
# REPORT_DIR keeps the suite's JSON reports (one per spec) after the run.
reports=${REPORT_DIR:-$work}
mkdir -p "$reports"
export CAIRN_PATH="$work/repo"
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$cairn" init >"$work/init.log" 2>&1
# A node alone on loopback (a new repo has no bootstrap peers): the
# fixtures are all it serves, and a block it lacks is missing, not
# fetched from anywhere.
"$cairn" daemon --listen /ip4/127.0.0.1/tcp/0 --gateway 127.0.0.1:0 >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	[ -s "$CAIRN_PATH/api" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "daemon exited:" >&2
		cat "$work/daemon.log" >&2
		exit 1
	fi
	sleep 0.1
done
url=$(tr -d '[:space:]' <"$CAIRN_PATH/api")
url=${url%/}
[ -n "$url" ] || { echo "no API URL in $CAIRN_PATH/api" >&2; exit 1; }
echo "daemon at $url"

"$tools/conformance-fixtures.sh" "$work/fixtures" >/dev/null
n=0
for f in "$work"/fixtures/*.car; do
	"$cairn" dag import --pin-roots=false "$f" >/dev/null 2>>"$work/import.log" || echo "import failed: $(basename "$f")" >&2
	n=$((n + 1))
done
echo "imported $n fixtures"

for spec in "trustless-gateway,-trustless-ipns-gateway" path-unixfs-gateway path-raw-gateway path-dag-gateway; do
	echo "== $spec"
	REPORT="$reports/report-${spec%%,*}.json" "$tools/conformance.sh" "$url" "$spec"
done
