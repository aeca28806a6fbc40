#!/bin/sh
# kubo-interop.sh [CAIRN]: folders both ways between cairn and kubo, through
# CAR files: cairn's export imported by `ipfs dag import` and read back with
# `ipfs get`, and kubo's export imported by cairn and read back with
# `cairn get`. Runs only where an `ipfs` binary is on PATH (kubo 0.42 was
# the reference); skipped elsewhere. Everything lives in a temporary
# directory, removed on exit; neither node goes online.
set -eu
cairn=$(cd "$(dirname "${1:-bin/cairn}")" && pwd)/$(basename "${1:-bin/cairn}")
if ! command -v ipfs >/dev/null 2>&1; then
	echo "kubo-interop: no ipfs binary on PATH: skipped"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
export IPFS_PATH="$work/kubo" CAIRN_PATH="$work/cairn"
ipfs init --profile=test >/dev/null
"$cairn" init >/dev/null

# A tree with nested folders, an empty file and folder, a symlink, and a
# folder past the HAMT threshold (4,097 entries of 28-byte names).
tree="$work/tree"
mkdir -p "$tree/a/b/c" "$tree/empty" "$tree/wide"
head -c 1000000 /dev/urandom >"$tree/a/b/c/big.bin"
echo hello >"$tree/a/hello.txt"
: >"$tree/a/empty.txt"
ln -s a/hello.txt "$tree/link"
i=0
while [ $i -lt 4097 ]; do
	printf 'x' >"$tree/wide/$(printf 'entry-%022d' $i)"
	i=$((i + 1))
done

ok=1
cid_cairn=$("$cairn" add -r "$tree" | tail -n1)
cid_kubo=$(ipfs add -r -Q --cid-version=1 --offline "$tree")
if [ "$cid_cairn" != "$cid_kubo" ]; then
	echo "kubo-interop: FAIL: add -r gives $cid_cairn in cairn, $cid_kubo in kubo"
	ok=0
fi

# cairn -> kubo
"$cairn" dag export "$cid_cairn" >"$work/from-cairn.car"
rm -rf "$IPFS_PATH" && ipfs init --profile=test >/dev/null
ipfs dag import --offline "$work/from-cairn.car" >/dev/null
ipfs get --offline -o "$work/out-kubo" "$cid_cairn" >/dev/null
if diff -r --no-dereference "$tree" "$work/out-kubo" >/dev/null; then
	echo "kubo-interop: cairn's export, imported and read by kubo: same tree"
else
	echo "kubo-interop: FAIL: kubo's copy of cairn's export differs"
	ok=0
fi

# kubo -> cairn
ipfs add -r -Q --cid-version=1 --offline "$tree" >/dev/null
ipfs dag export --offline "$cid_kubo" >"$work/from-kubo.car"
rm -rf "$CAIRN_PATH" && "$cairn" init >/dev/null
"$cairn" dag import "$work/from-kubo.car" >/dev/null
"$cairn" get "$cid_kubo" -o "$work/out-cairn" 2>/dev/null
if diff -r --no-dereference "$tree" "$work/out-cairn" >/dev/null; then
	echo "kubo-interop: kubo's export, imported and read by cairn: same tree"
else
	echo "kubo-interop: FAIL: cairn's copy of kubo's export differs"
	ok=0
fi
[ $ok = 1 ]
