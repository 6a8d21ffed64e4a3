#!/usr/bin/env bash
# Puts a stand-in for node:MAJOR-slim into podman's storage, under the name the Dockerfile's FROM
# resolves to, so `podman build --pull=never` works with no registry of images (test/image.test.ts).
# A minbase Debian from the mirror apt uses, Node from the npm registry (.ci/fetch-node.sh), npm
# from the registry too, and a `node` user with uid/gid 1000, as the real image has.
# Reuses the image if podman has it, else the rootfs tarball cached under ~/.cache/signaling-ci.
#   .ci/stand-in-node-image.sh [MAJOR] [NPM_MAJOR]
set -euo pipefail
major=${1:-24}
npm_major=${2:-11}
image=docker.io/library/node:$major-slim
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/signaling-ci
tarball=$cache/node-$major-slim-stand-in.tar

if podman image exists "$image"; then
  echo "reusing $image"
  exit 0
fi

if [ ! -f "$tarball" ]; then
  node_bin=$("$here/fetch-node.sh" "$major")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  root=$work/rootfs

  # The release and mirror apt already uses: the only Debian mirror these machines reach.
  . /etc/os-release
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
    | awk -v r="$VERSION_CODENAME" '$2 == r && $3 == "main" { print $1; exit }')
  [ -n "$mirror" ] || { echo "apt has no mirror for $VERSION_CODENAME main" >&2; exit 1; }
  started=$SECONDS
  debootstrap --variant=minbase "$VERSION_CODENAME" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  echo "debootstrap $VERSION_CODENAME from $mirror: $((SECONDS - started)) s"

  # Node where the official image has it; npm unpacked from its registry tarball, as npm installs itself.
  install -m 0755 "$node_bin/node" "$root/usr/local/bin/node"
  (cd "$work" && npm pack --silent "npm@$npm_major" >/dev/null)
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$work"/npm-*.tgz -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

  # The registry's TLS chain here ends in a CA that Node does not bundle: npm gets the host's.
  mkdir -p "$root/etc/ssl/certs" "$root/usr/local/etc"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  echo "cafile=/etc/ssl/certs/ca-certificates.crt" >"$root/usr/local/etc/npmrc"

  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/*
  mkdir -p "$cache"
  # Written aside and renamed, so a run beside this one never imports half a tarball.
  tar -C "$root" -cf "$tarball.$$.partial" .
  mv "$tarball.$$.partial" "$tarball"
fi

podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  --change 'LABEL signaling-ci.stand-in=true' \
  "$tarball" "$image" >/dev/null
echo "imported $image from $tarball"
