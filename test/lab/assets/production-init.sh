#!/bin/sh
# shellcheck shell=dash
# The lab's "production OS": /init of production.img, which the disk image (test/lab/assets.sh)
# boots under SeaBIOS (syslinux) and OVMF (GRUB) with console=ttyS0. It reads the seed the
# installer wrote into the FAT partition (label IRONBAY, normally /dev/vda1) at seed/ironbay.env
# (shell syntax, values single-quoted):
#   IRONBAY_HOSTNAME='m1'
#   IRONBAY_PROD_MAC='52:54:00:..'           the NIC to configure
#   IRONBAY_PROD_ADDRESS='198.18.2.11/24'
#   IRONBAY_PROD_GATEWAY=''                  may be empty
#   IRONBAY_SSH_AUTHORIZED_KEYS='...'        may be empty; written to /root/.ssh/authorized_keys
# and then runs Dropbear on TCP port 22: public-key logins as root (shell /bin/sh, busybox; home
# /root), no passwords. Its ed25519 host key is made on the first boot of an installed disk and
# kept in the FAT partition (ssh/ed25519_host_key), so each install has a fresh key that
# reboots and power cycles keep (ironbay pins a machine's key); without a partition, one is made
# each boot. busybox's reboot, poweroff and halt work (they signal PID 1, this script).
# Console markers:
#   IRONBAY-PRODUCTION-UP host=H ip=A        configured (A without its prefix length), port 22
#                                            listening
#   IRONBAY-PRODUCTION-NOSEED                no seed/ironbay.env: up without an address
#   IRONBAY-PRODUCTION-FAILED <why>          a seed that cannot be used: up without an address
# shellcheck disable=SC1091 # common.sh, beside this file here, in /lib/ironbay/ in the initrd
. /lib/ironbay/common.sh
early_setup
firmware=bios
[ -d /sys/firmware/efi ] && firmware=uefi
echo "ironbay production: starting ($firmware), uptime $(uptime_s)"
handle_power_signals
load_modules

# What dropbear needs of the system: root's account (its shell in /etc/shells), host key folder,
# ptys (not for commands, for interactive logins).
echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
echo 'root:x:0:' >/etc/group
echo /bin/sh >/etc/shells
printf 'passwd: files\ngroup: files\nshadow: files\n' >/etc/nsswitch.conf
chmod 700 /root
mkdir -p /etc/dropbear /dev/pts
mount -t devpts devpts /dev/pts

hostkey=/etc/dropbear/dropbear_ed25519_host_key
saved=/boot/ssh/ed25519_host_key
# The host key: the one this disk keeps, else a new one, kept when the partition is mounted.
host_key() {
  local how
  if [ -s $saved ] && cp $saved $hostkey && dropbearkey -y -f $hostkey >/tmp/hostkey.pub 2>/tmp/hostkey.err; then
    how='kept on the disk'
  else
    rm -f $hostkey
    if ! dropbearkey -t ed25519 -f $hostkey >/tmp/hostkey.pub 2>/tmp/hostkey.err; then
      echo "ironbay production: dropbearkey failed: $(tr '\n' ' ' </tmp/hostkey.err); dropbear makes its keys itself"
      rm -f $hostkey
      return
    fi
    how='new, not kept: no partition'
    if grep -q ' /boot ' /proc/mounts; then
      how='new, kept on the disk'
      { mount -o remount,rw /boot && mkdir -p /boot/ssh && cp $hostkey $saved && sync; } 2>/tmp/hostkey.err ||
        how="new, not kept: $(tr '\n' ' ' </tmp/hostkey.err)"
      mount -o remount,ro /boot
    fi
  fi
  chmod 600 $hostkey
  echo "ironbay production: SSH host key $(awk '/^ssh-/ { print $1, $2 }' /tmp/hostkey.pub) ($how)"
}

# Port 22 whatever happened before: a machine that is up is visibly up. Dropbear logs to the
# console (-E); restarted if it dies.
serve_ssh() {
  [ -s $hostkey ] || host_key
  while :; do
    if [ -s $hostkey ]; then
      dropbear -r $hostkey -E -F -s -p 22
    else
      dropbear -R -E -F -s -p 22
    fi
    echo "ironbay production: dropbear exited ($?)"
    sleep 1
  done
}

up_without_address() {
  [ -s $hostkey ] || host_key
  serve_ssh &
  wait_forever
}

# The FAT partition: by label, else the first partition of the first virtio disk.
part=
n=0
while [ -z "$part" ] && [ $n -lt 100 ]; do
  part=$(findfs LABEL=IRONBAY 2>/dev/null)
  [ -z "$part" ] && [ $n -ge 30 ] && [ -b /dev/vda1 ] && part=/dev/vda1
  [ -z "$part" ] && sleep 0.1
  n=$((n + 1))
done
mkdir -p /boot
if [ -z "$part" ] || ! mount -t vfat -o ro "$part" /boot 2>/tmp/mount.err; then
  echo "ironbay production: cannot mount the boot partition ${part:-(none found)}: $(cat /tmp/mount.err 2>/dev/null)"
  mark "IRONBAY-PRODUCTION-NOSEED"
  up_without_address
fi
env=/boot/seed/ironbay.env
if [ ! -f $env ]; then
  mark "IRONBAY-PRODUCTION-NOSEED"
  up_without_address
fi
# A syntax error in a sourced file would end PID 1 (a kernel panic): check first.
if ! sh -n $env 2>/tmp/env.err; then
  mark "IRONBAY-PRODUCTION-FAILED seed/ironbay.env: $(tr '\n' ' ' </tmp/env.err)"
  up_without_address
fi
IRONBAY_HOSTNAME=
IRONBAY_PROD_MAC=
IRONBAY_PROD_ADDRESS=
IRONBAY_PROD_GATEWAY=
IRONBAY_SSH_AUTHORIZED_KEYS=
# shellcheck disable=SC1090,SC1091 # written by the installer from ironbay's seed
. $env

hostname "${IRONBAY_HOSTNAME:-ironbay-lab}"
echo "${IRONBAY_HOSTNAME:-ironbay-lab}" >/etc/hostname
mkdir -p /root/.ssh
chmod 700 /root/.ssh
printf '%s\n' "$IRONBAY_SSH_AUTHORIZED_KEYS" | grep . >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
echo "ironbay production: $(wc -l </root/.ssh/authorized_keys) authorized SSH key(s)"

want=$(echo "$IRONBAY_PROD_MAC" | tr 'A-F' 'a-f')
iface=
for i in $(network_interfaces 100); do
  [ "$(cat "/sys/class/net/$i/address")" = "$want" ] && iface=$i
done
if [ -z "$want" ] || [ -z "$iface" ]; then
  mark "IRONBAY-PRODUCTION-FAILED no interface with MAC '${IRONBAY_PROD_MAC}'"
  up_without_address
fi
ip link set "$iface" up
if ! ip addr add "$IRONBAY_PROD_ADDRESS" dev "$iface" 2>/tmp/ip.err; then
  mark "IRONBAY-PRODUCTION-FAILED address '${IRONBAY_PROD_ADDRESS}' on $iface: $(tr '\n' ' ' </tmp/ip.err)"
  up_without_address
fi
if [ -n "$IRONBAY_PROD_GATEWAY" ] && ! ip route add default via "$IRONBAY_PROD_GATEWAY" dev "$iface" 2>/tmp/ip.err; then
  mark "IRONBAY-PRODUCTION-FAILED gateway '${IRONBAY_PROD_GATEWAY}': $(tr '\n' ' ' </tmp/ip.err)"
  up_without_address
fi
host_key
serve_ssh &
# dropbear listens within a moment; whoever reads the marker may connect at once.
n=0
while ! netstat -ltn 2>/dev/null | grep -q ':22 ' && [ $n -lt 50 ]; do
  sleep 0.1
  n=$((n + 1))
done
mark "IRONBAY-PRODUCTION-UP host=$(hostname) ip=${IRONBAY_PROD_ADDRESS%/*}"
wait_forever
