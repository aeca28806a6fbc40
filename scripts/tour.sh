#!/bin/sh
# A short tour of cairn on the local store (make run).
set -eu
cairn=${1:-bin/cairn}
repo=${CAIRN_PATH:-$HOME/.cairn}
if [ ! -f "$repo/version" ]; then
	"$cairn" init
fi
echo
echo "== cairn add README.md"
cid=$("$cairn" add README.md)
echo "$cid"
echo
echo "== cairn stat $cid"
"$cairn" stat "$cid"
echo
echo "== cairn cat $cid | head -3"
"$cairn" cat "$cid" | head -3
echo
echo "== cairn repo stat"
"$cairn" repo stat
echo
echo "== cairn repo verify"
"$cairn" repo verify
