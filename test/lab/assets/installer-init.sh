#!/bin/sh
# shellcheck shell=dash
# The lab installer: /init of installer.img (built by test/lab/assets.sh). It writes a raw disk
# image to the machine's disk, puts the machine's seed into the image's FAT partition and
# reports to ironbay; ironbay then sets the boot device to disk and power-cycles the machine.
#
# Kernel command line (from ironbay's iPXE script):
#   ironbay.url=URL       phone-home endpoint (POST /api/v1/boot/report)        required
#   ironbay.token=T       this boot's token                                     required
#   ironbay.boot=ID       this boot's id (printed only)
#   ironbay.machine=NAME  the machine's name, sent in each report
#   ironbay.image=URL     the raw disk image (HTTP, streamed onto the disk)    required
#   ironbay.config=URL    base URL of the seed: URL/meta-data, URL/user-data,
#                         URL/network-config, URL/ironbay.env                  required
#   ironbay.disk=DEV      target disk, default /dev/vda
# Console markers, in order (the tests read them):
#   IRONBAY-INSTALLER-UP ip=A iface=I
#   IRONBAY-IMAGE-WRITTEN bytes=N
#   IRONBAY-SEED-WRITTEN
#   IRONBAY-INSTALLED
# or, at any step, IRONBAY-INSTALL-FAILED <why> (after a "failed" report when one can be sent).
# Reports: JSON {"token","machine","status","message"[,"mac","ip"]}, status "progress" once
# the NIC is up, then "installed" or "failed".
# shellcheck disable=SC1091 # common.sh, beside this file here, in /lib/ironbay/ in the initrd
. /lib/ironbay/common.sh
early_setup
set -o pipefail
echo "ironbay installer: starting, uptime $(uptime_s)"
load_modules

url=$(cmdline_arg ironbay.url)
token=$(cmdline_arg ironbay.token)
boot=$(cmdline_arg ironbay.boot)
machine=$(cmdline_arg ironbay.machine)
image=$(cmdline_arg ironbay.image)
config=$(cmdline_arg ironbay.config)
disk=$(cmdline_arg ironbay.disk)
disk=${disk:-/dev/vda}
mac=
addr=

# A JSON string's contents: control characters dropped, \ and " escaped, at most 900 bytes
# (the daemon takes 1000 in a message).
json_str() {
  printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g' | head -c 900
}

# POSTs a report (status, message); 0 when ironbay answered 2xx. Connection errors are retried;
# a refusal (4xx: bad or superseded token) is not.
report() {
  local body n=0
  body="{\"token\":\"$(json_str "$token")\",\"machine\":\"$(json_str "$machine")\",\"status\":\"$1\",\"message\":\"$(json_str "$2")\""
  [ -n "$mac" ] && body="$body,\"mac\":\"$mac\""
  [ -n "$addr" ] && body="$body,\"ip\":\"$addr\""
  body="$body}"
  while [ $n -lt 5 ]; do
    # busybox-static 1.35's wget -T segfaults: timeout(1) bounds it instead.
    timeout 20 wget -q -O /tmp/reply --header 'Content-Type: application/json' --post-data "$body" "$url" 2>/tmp/report.err && return 0
    grep -q 'HTTP/1\.[01] 4' /tmp/report.err && break
    n=$((n + 1))
    sleep 2
  done
  echo "ironbay installer: report $1 failed: $(tr '\n' ' ' </tmp/report.err)"
  return 1
}

fail() {
  [ -n "$url" ] && [ -n "$addr" ] && report failed "$*"
  mark "IRONBAY-INSTALL-FAILED $*"
  wait_forever
}

for k in url token image config; do
  eval "v=\$$k"
  [ -n "$v" ] || fail "no ironbay.$k on the kernel command line"
done
echo "ironbay installer: machine ${machine:-?} boot ${boot:-?} disk $disk"

# --- network: DHCP on every NIC at once; the boot NIC is the one whose lease routes to ironbay.
ifaces=$(network_interfaces 100)
[ -n "$ifaces" ] || fail "no network interface"
for i in $ifaces; do
  ip link set "$i" up
  udhcpc -i "$i" -s /etc/udhcpc.script -f -q -n -t 8 -T 2 -x hostname:"${machine:-ironbay-installer}" >"/tmp/udhcpc.$i.log" 2>&1 &
  echo $! >"/tmp/udhcpc.$i.pid"
done
# ironbay's address, when the URL names one: `ip route get` then tells the NIC that reaches it.
host=$(echo "$url" | sed -n 's,^[a-zA-Z]*://\([0-9.]*\)[:/].*,\1,p')
iface=
ended=
n=0
while [ -z "$iface" ] && [ $n -lt 400 ]; do
  running=
  for i in $ifaces; do
    if [ -f "/tmp/lease.$i" ]; then
      if [ -z "$host" ] || [ "$(ip route get "$host" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n1)" = "$i" ]; then
        iface=$i
        break
      fi
    fi
    kill -0 "$(cat "/tmp/udhcpc.$i.pid")" 2>/dev/null && running=1
  done
  # udhcpc -q exits right after its hook wrote the lease: a client that ended between the
  # lease check and kill -0 above is looked at once more before giving up.
  if [ -z "$iface" ] && [ -z "$running" ]; then
    [ -n "$ended" ] && break
    ended=1
    continue
  fi
  [ -z "$iface" ] && sleep 0.1
  n=$((n + 1))
done
# Whatever is still asking for a lease stops: the install runs on the boot NIC.
for i in $ifaces; do
  kill "$(cat "/tmp/udhcpc.$i.pid")" 2>/dev/null
done
if [ -z "$iface" ]; then
  for i in $ifaces; do echo "--- udhcpc $i"; cat "/tmp/udhcpc.$i.log"; done
  fail "no DHCP lease on $(echo "$ifaces" | tr '\n' ' ')that reaches ${host:-ironbay}"
fi
addr=$(cut -d' ' -f1 "/tmp/lease.$iface")
mac=$(cat "/sys/class/net/$iface/address")
mark "IRONBAY-INSTALLER-UP ip=$addr iface=$iface"
report progress "installer running" || fail "ironbay refused the progress report: $(tr '\n' ' ' </tmp/report.err)"

# --- the image, streamed onto the disk.
n=0
while [ ! -b "$disk" ] && [ $n -lt 100 ]; do
  sleep 0.1
  n=$((n + 1))
done
[ -b "$disk" ] || fail "no disk $disk"
# The byte count: whole 1 MiB blocks (fullblock) as dd counts them, checked against the
# Content-Length. (Counting the stream itself, tee to busybox's `wc -c`, reads it a character
# at a time: 50 s instead of 3 s for 64 MiB under TCG.)
if ! timeout 3600 wget -S -O - "$image" 2>/tmp/image.err | dd of="$disk" bs=1M iflag=fullblock 2>/tmp/dd.err; then
  fail "image $image: $(grep -v '^  ' /tmp/image.err | tr '\n' ' ')$(tr '\n' ' ' </tmp/dd.err)"
fi
sync
records=$(sed -n 's/^\([0-9]*\)+\([0-9]*\) records out$/\1 \2/p' /tmp/dd.err)
[ -n "$records" ] || fail "image $image: dd said $(tr '\n' ' ' </tmp/dd.err)"
full=${records% *}
partial=${records#* }
written=$((full * 1048576))
length=$(sed -n 's/^ *[Cc]ontent-[Ll]ength: *\([0-9]*\).*/\1/p' /tmp/image.err | tail -n1)
if [ -n "$length" ]; then
  ok=
  if [ "$partial" = 0 ]; then
    [ "$length" -eq "$written" ] && ok=1
  else
    [ "$length" -gt "$written" ] && [ "$length" -lt $((written + 1048576)) ] && ok=1
  fi
  [ -n "$ok" ] || fail "image $image: Content-Length $length but $full+$partial MiB blocks written"
  bytes=$length
elif [ "$partial" = 0 ]; then
  bytes=$written
else
  fail "image $image: no Content-Length, and $full+$partial MiB blocks written"
fi
[ "$bytes" -gt 0 ] || fail "image $image is empty"
mark "IRONBAY-IMAGE-WRITTEN bytes=$bytes"

# --- the seed, into the image's first partition (FAT): the kernel reads the new partition
# table only when asked.
case $disk in
  *[0-9]) part=${disk}p1 ;;
  *) part=${disk}1 ;;
esac
partprobe "$disk" || fail "cannot re-read the partition table of $disk"
n=0
while [ ! -b "$part" ] && [ $n -lt 50 ]; do
  sleep 0.1
  n=$((n + 1))
done
[ -b "$part" ] || fail "the image has no partition $part"
mount -t vfat "$part" /mnt 2>/tmp/mount.err || fail "cannot mount $part as vfat: $(cat /tmp/mount.err)"
mkdir -p /mnt/seed
for f in meta-data user-data network-config ironbay.env; do
  if ! timeout 60 wget -q -O "/mnt/seed/$f" "${config%/}/$f" 2>/tmp/seed.err; then
    rm -f "/mnt/seed/$f"
    umount /mnt
    fail "seed ${config%/}/$f: $(tr '\n' ' ' </tmp/seed.err)"
  fi
done
sync
umount /mnt || fail "cannot unmount $part"
mark "IRONBAY-SEED-WRITTEN"

report installed "image written ($bytes bytes) to $disk, seed written" || fail "ironbay refused the installed report: $(tr '\n' ' ' </tmp/report.err)"
mark "IRONBAY-INSTALLED"
wait_forever
