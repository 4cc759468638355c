#!/usr/bin/env bash
# Builds the lab machines' software from Debian packages alone, into a folder (default
# build/lab/):
#   vmlinuz          Debian's kernel (test/e2e/kernel.sh's cache in build/e2e/)
#   installer.img    busybox initrd whose /init is test/lab/assets/installer-init.sh: writes
#                    ironbay.image to the disk, the seed from ironbay.config into its FAT
#                    partition, and reports to ironbay.url
#   production.img   busybox initrd whose /init is test/lab/assets/production-init.sh: reads the
#                    seed, configures the production NIC, runs Dropbear (an SSH server) on port 22
#                    with the seed's authorized keys for root
#   disk.img         raw 64 MiB disk that boots the production OS by itself under SeaBIOS and OVMF:
#                      MBR (syslinux's mbr.bin, disk id 0x1b0a7e11), one partition, bootable,
#                      type 0x0e, sectors 2048 to the end (byte offset 1048576), FAT16 labelled
#                      IRONBAY holding vmlinuz, production.img, syslinux.cfg + ldlinux.sys/.c32
#                      (BIOS), EFI/BOOT/BOOTX64.EFI (standalone GRUB with assets/grub.cfg built
#                      in: UEFI) and an empty seed/ folder for the installer
#   SHA256SUMS       of those four
#   disk.env         the disk's layout for scripts and tests (shell syntax): IRONBAY_DISK_BYTES,
#                    IRONBAY_DISK_PART_OFFSET (bytes; `mcopy -i disk.img@@OFFSET`), IRONBAY_DISK_LABEL
# Both initrds carry busybox-static and the kernel's modules for virtio/e1000 NICs, virtio disks
# and vfat, which this script takes from the kernel's own package; production.img also carries
# dropbear and dropbearkey (dropbear-bin) with the shared libraries they load, from those
# libraries' packages (libc6 included: nothing comes from this machine's own /lib). Packages are
# fetched with apt-get download + dpkg -x (never installed), cached in <folder>/.cache/. Nothing
# is rebuilt when no input changed (<folder>/.inputs).
# Needs (setup.sh installs them): fdisk (sfdisk), dosfstools, mtools, syslinux, syslinux-common,
# grub-efi-amd64-bin, grub-common, cpio.
# Usage: test/lab/assets.sh [folder]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
src=$here/assets
out=${1:-$repo/build/lab}
mkdir -p "$out"
out=$(cd "$out" && pwd)
e2e=$repo/build/e2e
# One build at a time per folder (the lab and a test may start together): the second waits, then
# finds the first's outputs up to date.
exec 9>"$out/.lock"
flock 9

# The disk's layout (see the header); the seed test and the lab read these numbers from here.
disk_mib=64
part_start=2048
label=IRONBAY
volume_id=1b0a7e11
# Modules both initrds load, in this order (each after its dependencies): virtio_pci first
# (Debian builds it as a module: without it no virtio device appears), NICs, disk, vfat with the
# code page (437) and I/O charset (ascii) Debian's kernel defaults to.
modules=(virtio_pci virtio_net e1000 virtio_blk vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859_1)
mbr=/usr/lib/syslinux/mbr/mbr.bin
grub_dir=/usr/lib/grub/x86_64-efi
# The production OS's SSH server: Debian's dropbear and the packages of every library it and
# dropbearkey load (the build checks that list against the loader's own, below).
ssh_packages=(dropbear-bin libtomcrypt1 libtommath1 libgmp10 zlib1g libcrypt1 libc6)
ssh_programs=(usr/sbin/dropbear usr/bin/dropbearkey)

die() {
  echo "lab assets: $*" >&2
  exit 1
}
for tool in sfdisk mkfs.fat mcopy mmd syslinux grub-mkstandalone cpio gzip sha256sum flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (run setup.sh)"
done
[[ -f $mbr ]] || die "$mbr is missing (package syslinux-common)"
[[ -d $grub_dir ]] || die "$grub_dir is missing (package grub-efi-amd64-bin)"

# Kernel and busybox-static: the end-to-end tests' cache (quick when already there).
"$repo/test/e2e/kernel.sh" "$e2e" >&2
pkg=$(cat "$e2e/kernel-package")

# The kernel's modules this script needs, from the same package version.
cache=$out/.cache
modcache=$cache/modules
if [[ $(cat "$modcache/stamp" 2>/dev/null) != "$pkg ${modules[*]}" ]]; then
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # apt-get download writes into the current directory; as root it warns that _apt cannot
  # write there, which is harmless.
  (cd "$work" && apt-get download -qq "$pkg" 2>&1) | { grep -v '^W: Download is performed unsandboxed' || true; }
  shopt -s nullglob
  debs=("$work"/linux-image-*.deb)
  shopt -u nullglob
  ((${#debs[@]} == 1)) || die "apt-get download $pkg failed"
  dpkg -x "${debs[0]}" "$work/k"
  find "$work/k/lib/modules" -name '*.ko*' >"$work/all"
  mkdir -p "$work/modules"
  : >"$work/modules/order"
  # A module after its dependencies, which its .modinfo names ("depends=a,b"): the package
  # ships no modules.dep.
  add_module() {
    local name=$1 path deps dep
    grep -qxF "$name.ko" "$work/modules/order" && return 0
    # Module names use '_' where a file name may use '-' (nls_iso8859-1.ko).
    path=$(grep -m1 -E "/${name//_/[-_]}\.ko$" "$work/all") || die "no module $name in $pkg (compressed modules are not handled)"
    deps=$(tr '\0' '\n' <"$path" | sed -n 's/^depends=//p' | head -n1)
    for dep in ${deps//,/ }; do add_module "$dep"; done
    cp "$path" "$work/modules/$name.ko"
    echo "$name.ko" >>"$work/modules/order"
  }
  for m in "${modules[@]}"; do add_module "$m"; done
  echo "$pkg ${modules[*]}" >"$work/modules/stamp"
  rm -rf "$modcache"
  mv "$work/modules" "$modcache"
  rm -rf "$work"
  trap - EXIT
  echo "lab assets: modules from $pkg: $(tr '\n' ' ' <"$modcache/order")" >&2
fi

# dropbear, dropbearkey and their libraries, as the production initrd holds them
# (usr/sbin/dropbear, usr/bin/dropbearkey, lib/x86_64-linux-gnu/*.so*), from the versions
# apt-cache names now; refetched when one of them changes. The loader itself, run on the
# extracted files, lists what they need: a library that resolves outside the extracted packages
# (or not at all) means ssh_packages lacks a package.
sshcache=$cache/dropbear
# One apt-cache call for all (each call reads the package lists: ~1 s).
ssh_want=$(apt-cache policy "${ssh_packages[@]}" 2>/dev/null | awk '/^[^ ]/ { p = $1; sub(/:$/, "", p) } /^ +Candidate: / && $2 != "(none)" { print p "=" $2 }')
for p in "${ssh_packages[@]}"; do
  grep -q "^$p=" <<<"$ssh_want" || die "apt-cache knows no $p (apt-get update?)"
done
if [[ $(cat "$sshcache/stamp" 2>/dev/null) != "$ssh_want" ]]; then
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mapfile -t wanted <<<"$ssh_want"
  (cd "$work" && apt-get download -qq "${wanted[@]}" 2>&1) | { grep -v '^W: Download is performed unsandboxed' || true; }
  shopt -s nullglob
  debs=("$work"/*.deb)
  shopt -u nullglob
  ((${#debs[@]} == ${#ssh_packages[@]})) || die "apt-get download ${wanted[*]} failed"
  for d in "${debs[@]}"; do dpkg -x "$d" "$work/x"; done
  x=$work/x
  loader=$x/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
  libpath=$x/lib/x86_64-linux-gnu:$x/usr/lib/x86_64-linux-gnu
  mkdir -p "$work/root/lib/x86_64-linux-gnu" "$work/root/usr/sbin" "$work/root/usr/bin"
  for prog in "${ssh_programs[@]}"; do
    [[ -x $x/$prog ]] || die "no $prog in dropbear-bin"
    cp "$x/$prog" "$work/root/$prog"
    # "libz.so.1 => /path (0x…)", "/lib64/ld-linux-x86-64.so.2 => /path (0x…)"; linux-vdso has no path.
    "$loader" --inhibit-cache --library-path "$libpath" --list "$x/$prog" >"$work/list" || die "$loader --list $prog failed"
    while read -r name arrow path _; do
      [[ $arrow == '=>' ]] || continue
      [[ $path == "$x"/* ]] || die "$prog needs $name, found at '$path', not in ${ssh_packages[*]}"
      cp -L "$path" "$work/root/lib/x86_64-linux-gnu/${name##*/}"
    done <"$work/list"
  done
  # Each program runs under the extracted loader and libraries (nothing from this machine's /lib).
  "$loader" --inhibit-cache --library-path "$work/root/lib/x86_64-linux-gnu" "$work/root/usr/sbin/dropbear" -V >"$work/version" 2>&1 || true
  grep -q '^Dropbear v' "$work/version" || die "the extracted dropbear does not run: $(cat "$work/version")"
  echo "$ssh_want" >"$work/root/stamp"
  rm -rf "$sshcache"
  mv "$work/root" "$sshcache"
  rm -rf "$work"
  trap - EXIT
  echo "lab assets: dropbear from $(tr '\n' ' ' <"$sshcache/stamp")" >&2
fi

# Everything the outputs are made of; the same hash means nothing to do.
inputs() {
  # This script by its absolute path: the same hash however it was started.
  sha256sum "$here/${0##*/}" "$src"/* "$e2e/vmlinuz" "$e2e/busybox" "$modcache"/* "$mbr"
  (cd "$sshcache" && find . -type f | LC_ALL=C sort | xargs sha256sum)
  dpkg-query -W syslinux syslinux-common grub-efi-amd64-bin grub-common mtools dosfstools fdisk cpio
}
want=$(inputs | sha256sum | cut -d' ' -f1)
outputs=(vmlinuz installer.img production.img disk.img)
fresh=1
for f in "${outputs[@]}" SHA256SUMS disk.env; do [[ -f $out/$f ]] || fresh=; done
if [[ -n $fresh && $(cat "$out/.inputs" 2>/dev/null) == "$want" ]]; then
  echo "lab assets: up to date in $out" >&2
  exit 0
fi
rm -f "$out/.inputs"

build=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$build"' EXIT
# Reproducible archives and FAT timestamps (files are copied with this mtime; mkfs.fat and mtools
# honour it for what they create; FAT cannot go before 1980).
export SOURCE_DATE_EPOCH=315532800
export MTOOLS_SKIP_CHECK=1

# A gzip'd newc cpio initrd: busybox-static, the modules, the shared shell library and `init`;
# with `ssh`, dropbear and its libraries too (the loader where their ELF headers name it).
make_initrd() {
  local init=$1 dest=$2 with=${3:-} root
  root=$(mktemp -d "$build/root.XXXXXX")
  mkdir -p "$root"/{bin,dev,etc,lib/ironbay,lib/modules,mnt,proc,root,sbin,sys,tmp,usr/bin,usr/sbin}
  cp "$e2e/busybox" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  install -m 0755 "$src/$init" "$root/init"
  install -m 0644 "$src/common.sh" "$root/lib/ironbay/common.sh"
  install -m 0755 "$src/udhcpc-hook.sh" "$root/etc/udhcpc.script"
  cp "$modcache"/*.ko "$modcache/order" "$root/lib/modules/"
  if [[ $with == ssh ]]; then
    mkdir -p "$root/lib64" "$root/lib/x86_64-linux-gnu"
    cp "$sshcache"/lib/x86_64-linux-gnu/* "$root/lib/x86_64-linux-gnu/"
    ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
    for prog in "${ssh_programs[@]}"; do install -m 0755 "$sshcache/$prog" "$root/$prog"; done
  fi
  chmod 0755 "$root/bin/busybox"
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  (cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -6 -n) >"$dest"
}
make_initrd installer-init.sh "$build/installer.img"
make_initrd production-init.sh "$build/production.img" ssh
cp "$e2e/vmlinuz" "$build/vmlinuz"

# UEFI: a standalone GRUB (its modules and grub.cfg in a memdisk inside the .efi).
grub-mkstandalone -O x86_64-efi -o "$build/BOOTX64.EFI" --locales= --fonts= --themes= \
  --modules='part_msdos fat search search_label linux normal echo' \
  --install-modules='part_msdos fat search search_label linux normal echo configfile' \
  "boot/grub/grub.cfg=$src/grub.cfg"

# The FAT partition, built as a file with mtools (no loop device), then placed in the disk.
part_sectors=$((disk_mib * 2048 - part_start))
part=$build/part.img
mkfs.fat -F 16 -n "$label" -i "$volume_id" -h "$part_start" -C "$part" $((part_sectors / 2)) >/dev/null
# syslinux (the mtools installer) writes the FAT boot sector's loader and ldlinux.sys/.c32.
syslinux --install "$part"
mmd -i "$part" ::/EFI ::/EFI/BOOT ::/seed
cp "$src/syslinux.cfg" "$build/"
touch -d "@$SOURCE_DATE_EPOCH" "$build/vmlinuz" "$build/production.img" "$build/syslinux.cfg" "$build/BOOTX64.EFI"
mcopy -m -i "$part" "$build/vmlinuz" "$build/production.img" "$build/syslinux.cfg" ::/
mcopy -m -i "$part" "$build/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

disk=$build/disk.img
truncate -s "${disk_mib}M" "$disk"
printf 'label: dos\nlabel-id: 0x%s\nstart=%d, size=%d, type=e, bootable\n' "$volume_id" "$part_start" "$part_sectors" |
  sfdisk --quiet --no-reread --no-tell-kernel "$disk" >/dev/null
dd if="$part" of="$disk" bs=512 seek="$part_start" conv=notrunc,sparse status=none
# The MBR's boot code (440 bytes, before the disk id and the partition table): it loads the
# active partition's boot sector.
dd if="$mbr" of="$disk" bs=440 count=1 conv=notrunc status=none

for f in "${outputs[@]}"; do mv "$build/$f" "$out/$f"; done
(cd "$out" && sha256sum "${outputs[@]}" >SHA256SUMS)
printf 'IRONBAY_DISK_BYTES=%d\nIRONBAY_DISK_PART_OFFSET=%d\nIRONBAY_DISK_LABEL=%s\n' $((disk_mib * 1048576)) $((part_start * 512)) "$label" >"$out/disk.env"
echo "$want" >"$out/.inputs"
echo "lab assets: $(cd "$out" && du -h --apparent-size "${outputs[@]}" | awk '{printf "%s %s, ", $2, $1}')partition at byte $((part_start * 512)) in $out" >&2
