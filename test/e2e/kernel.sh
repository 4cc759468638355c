#!/usr/bin/env bash
# Fetches what the end-to-end boot tests put on a virtual machine, without installing any of it:
#   vmlinuz                 the kernel behind Debian's linux-image-amd64
#   modules/*.ko            its network drivers (virtio_pci, virtio_net + net_failover + failover,
#                           e1000, with their dependencies),
#                           which Debian builds as modules: the test's initrd insmods them
#   modules/order           the .ko files in dependency order (one a line)
#   modules/guest-order     likewise for the cluster VMs' guest (test/helpers/cluster-guest.ts):
#                           virtio_pci, virtio_net, virtio_blk, isofs (+ cdrom) for the NoCloud
#                           seed, button + evdev for the ACPI power button
#   busybox                 busybox-static (Debian's busybox package is dynamically linked, and
#                           busybox-static conflicts with it, so it is unpacked, not installed)
# into a cache folder (default build/e2e/). Safe to run again: it does nothing when the folder
# already holds the same kernel version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-$here/../../build/e2e}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

# The package linux-image-amd64 depends on (e.g. linux-image-6.1.0-56-amd64).
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1
}
pkg=$(kernel_package)
if [[ -z $pkg ]]; then
  # No package lists yet (a fresh machine whose packages were all installed already).
  apt-get update -qq
  pkg=$(kernel_package)
fi
if [[ -z $pkg ]]; then
  echo "e2e kernel: apt-cache knows no linux-image-amd64" >&2
  exit 1
fi
if [[ -f $dest/vmlinuz && -f $dest/busybox && -f $dest/modules/order && -f $dest/modules/guest-order && $(cat "$dest/kernel-package" 2>/dev/null) == "$pkg" ]]; then
  echo "e2e kernel: $pkg already in $dest"
  exit 0
fi

work=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory; as root it warns that _apt cannot
# write there, which is harmless.
(cd "$work" && apt-get download -qq "$pkg" busybox-static 2>&1) | { grep -v '^W: Download is performed unsandboxed' || true; }
shopt -s nullglob
debs=("$work"/linux-image-*.deb)
bbdebs=("$work"/busybox-static_*.deb)
if ((${#debs[@]} != 1 || ${#bbdebs[@]} != 1)); then
  echo "e2e kernel: apt-get download $pkg busybox-static failed" >&2
  exit 1
fi
dpkg -x "${debs[0]}" "$work/k"
dpkg -x "${bbdebs[0]}" "$work/bb"

kernels=("$work"/k/boot/vmlinuz-*)
moddirs=("$work"/k/lib/modules/*)
if ((${#kernels[@]} != 1 || ${#moddirs[@]} != 1)); then
  echo "e2e kernel: unexpected layout in $pkg" >&2
  exit 1
fi
moddir=${moddirs[0]}

# Each wanted module with its dependencies, dependencies first. The package ships no
# modules.dep (depmod writes it at install, and kmod need not be here): a module's own
# .modinfo section names its dependencies ("depends=a,b").
find "$moddir/kernel" -name '*.ko*' >"$work/all-modules"
rm -rf "$work/modules"
mkdir -p "$work/modules"
# add_module NAME ORDER-FILE: the module after its dependencies, each named once in that list.
add_module() {
  local name=$1 order=$2 path deps dep
  grep -qxF "$name.ko" "$order" && return 0
  # Module names use '_' where a file name may use '-'.
  path=$(grep -m1 -E "/(${name}|${name//_/-})\.ko$" "$work/all-modules") || {
    echo "e2e kernel: no module $name in $pkg (compressed modules are not handled)" >&2
    return 1
  }
  deps=$(tr '\0' '\n' <"$path" | sed -n 's/^depends=//p' | head -n1)
  for dep in ${deps//,/ }; do add_module "$dep" "$order"; done
  cp "$path" "$work/modules/$name.ko"
  echo "$name.ko" >>"$order"
}
# virtio_pci is a module too in Debian's kernel (CONFIG_VIRTIO_PCI=m): without it no virtio
# device appears at all.
: >"$work/modules/order"
for name in virtio_pci virtio_net e1000; do add_module "$name" "$work/modules/order"; done
# The cluster guest: its disks (the seed is iso9660) and the power button (an input device,
# which busybox acpid reads through evdev).
: >"$work/modules/guest-order"
for name in virtio_pci virtio_net virtio_blk isofs button evdev; do add_module "$name" "$work/modules/guest-order"; done

bb=$work/bb/bin/busybox
# A dynamically linked busybox names its loader; `file` need not be installed to tell.
if LC_ALL=C grep -qa '/lib64/ld-linux' "$bb"; then
  echo "e2e kernel: $bb from busybox-static is not statically linked" >&2
  exit 1
fi

cp "${kernels[0]}" "$work/vmlinuz"
cp "$bb" "$work/busybox"
rm -rf "$dest/modules"
mv "$work/modules" "$dest/modules"
mv "$work/vmlinuz" "$dest/vmlinuz"
mv "$work/busybox" "$dest/busybox"
echo "$pkg" >"$dest/kernel-package"
echo "e2e kernel: $pkg ($(basename "${kernels[0]}")), modules $(paste -sd' ' "$dest/modules/order") (guest: $(paste -sd' ' "$dest/modules/guest-order")) and busybox-static in $dest"
