#!/bin/sh
# make run: start a node with its gateway, making a repo first if needed.
set -eu
cairn=${1:-bin/cairn}
repo=${CAIRN_PATH:-$HOME/.cairn}
if [ ! -f "$repo/version" ]; then
	"$cairn" init
fi
exec "$cairn" daemon
