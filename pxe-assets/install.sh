#!/usr/bin/env bash
# Copies the iPXE binaries from Debian's ipxe package into pxe-assets/ipxe/ and records their
# SHA-256 sums and the package version in pxe-assets/ipxe/SHA256SUMS. The daemon serves that
# folder over TFTP and HTTP and, at start, refuses a binary whose sum no longer matches (a
# truncated copy would otherwise hang every machine mid-boot, far from the cause).
# Run by setup.sh and systemd/install.sh; safe to run again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${IPXE_SOURCE:-/usr/lib/ipxe}
dest=${1:-$here/ipxe}

# What each file is for; the boot decision (daemon/dhcp/boot-decision.ts) picks by client
# architecture. undionly.kpxe: BIOS PXE; snponly.efi / ipxe.efi: x86-64 UEFI; ipxe.pxe: BIOS
# with iPXE's own NIC drivers. arm64 builds are copied when the package provides them.
files=(undionly.kpxe snponly.efi ipxe.efi ipxe.pxe snponly-arm64.efi ipxe-arm64.efi)

version=$(dpkg-query -W -f='${Version}' ipxe 2>/dev/null || echo unknown)
mkdir -p "$dest"
tmp=$(mktemp "$dest/.SHA256SUMS.XXXXXX")
trap 'rm -f "$tmp"' EXIT
echo "# Debian ipxe $version, copied from $src" >"$tmp"
copied=0
for f in "${files[@]}"; do
  [[ -f $src/$f ]] || continue
  install -m 0644 "$src/$f" "$dest/.$f.new"
  mv "$dest/.$f.new" "$dest/$f"
  (cd "$dest" && sha256sum "$f") >>"$tmp"
  copied=$((copied + 1))
done
if ((copied == 0)); then
  echo "pxe-assets: no iPXE binaries in $src (is Debian's ipxe package installed?)" >&2
  exit 1
fi
chmod 0644 "$tmp"
mv "$tmp" "$dest/SHA256SUMS"
trap - EXIT
echo "pxe-assets: $copied iPXE binaries from Debian ipxe $version in $dest"
