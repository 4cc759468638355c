#!/bin/busybox sh
# shellcheck shell=sh
# /init of the cluster VMs' guest (test/helpers/cluster-guest.ts builds the initrd): a stand-in
# for the Kubernetes node OS that ironbay's clusters boot. It reads the NoCloud seed the way
# cloud-init would (the block device labelled "cidata": meta-data's local-hostname,
# network-config in netplan v2, user-data's size), configures the NIC whose MAC the
# network-config matches, and serves `ironbay-guest <hostname>` over plain HTTP on 6443
# (kube-apiserver), 80 and 443 (ingress) with busybox httpd; the kernel answers ping. The ACPI
# power button (libvirt's `virsh shutdown`) powers it off. Console marker lines, which tests
# read from the serial log:
#   IRONBAY-GUEST-SEED user-data=<bytes> kubeadm=<yes|no>   (or IRONBAY-GUEST-NO-SEED)
#   IRONBAY-GUEST-UP hostname=H ip=A mtu=M uptime=S         (or IRONBAY-GUEST-NET-FAILED <why>)
#   IRONBAY-GUEST-POWEROFF
#
# It runs only inside a VM, as PID 1 of its initramfs. Never on a host: busybox --install
# would replace the host's own commands with links to this busybox.
if [ "$$" != 1 ] || [ ! -f /lib/modules/guest-order ]; then
  echo "cluster-guest init: not PID 1 of the guest's initramfs; refusing to run" >&2
  exit 1
fi
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin /seed /www /etc/acpi/PWRF /var/run /var/log
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
up() { cut -d' ' -f1 /proc/uptime; }
# PID 1 must never exit (the kernel panics): a failed boot waits here for its power-off.
idle() {
  while :; do sleep 3600; done
}

while read -r m; do
  [ -n "$m" ] || continue
  insmod "/lib/modules/$m" 2>/dev/null || echo "cluster-guest: insmod $m failed"
done </lib/modules/guest-order
ip link set lo up

# The ACPI power button (the button module's input device, read through evdev): acpid runs
# /etc/acpi/PWRF/00000080 for it.
cat >/etc/acpi/PWRF/00000080 <<'EOF'
#!/bin/sh
echo "IRONBAY-GUEST-POWEROFF" >/dev/console
sync
poweroff -f
EOF
chmod 755 /etc/acpi/PWRF/00000080
acpid -l /var/log/acpid.log || echo "cluster-guest: acpid did not start"

# The seed: cloud-localds labels it "cidata" (vfat seeds say CIDATA). virtio_blk has probed by
# now; a moment's patience all the same.
seed=
n=0
while [ $n -lt 30 ]; do
  seed=$(findfs LABEL=cidata 2>/dev/null || findfs LABEL=CIDATA 2>/dev/null) && [ -n "$seed" ] && break
  seed=
  n=$((n + 1))
  sleep 0.1
done
if [ -z "$seed" ] || ! mount -o ro "$seed" /seed; then
  echo "IRONBAY-GUEST-NO-SEED"
  idle
fi

host=$(sed -n 's/^local-hostname:[[:space:]]*//p' /seed/meta-data 2>/dev/null | head -n1 | tr -cd 'A-Za-z0-9.-')
[ -n "$host" ] || host=ironbay-guest
hostname "$host"
echo "$host" >/etc/hostname
ud=0
kubeadm=no
if [ -f /seed/user-data ]; then
  ud=$(wc -c </seed/user-data | tr -d ' ')
  grep -q kubeadm /seed/user-data && kubeadm=yes
fi
echo "IRONBAY-GUEST-SEED user-data=$ud kubeadm=$kubeadm"

net_failed() {
  echo "IRONBAY-GUEST-NET-FAILED $*"
  idle
}
[ -f /seed/network-config ] || net_failed "no network-config on the seed"

# The NIC whose MAC network-config matches: "ADDRESS MTU GATEWAY SET-NAME" from netplan.awk.
iface=
conf=
n=0
while [ -z "$conf" ] && [ $n -lt 30 ]; do
  for d in /sys/class/net/*; do
    i=${d##*/}
    [ "$i" = lo ] && continue
    c=$(awk -v mac="$(cat "$d/address")" -f /etc/netplan.awk /seed/network-config)
    if [ -n "$c" ]; then
      iface=$i
      conf=$c
      break
    fi
  done
  [ -n "$conf" ] && break
  n=$((n + 1))
  sleep 0.1
done
if [ -z "$conf" ]; then
  macs=
  for d in /sys/class/net/*; do
    [ "${d##*/}" = lo ] || macs="$macs ${d##*/}=$(cat "$d/address")"
  done
  net_failed "no NIC matches network-config (NICs:$macs)"
fi
# shellcheck disable=SC2086 # four words, [0-9A-Za-z.:/_-] only
set -- $conf
addr=$1
mtu=$2
gw=$3
name=$4
if [ "$name" != - ] && [ "$name" != "$iface" ]; then
  ip link set "$iface" name "$name" || net_failed "rename $iface to $name"
  iface=$name
fi
if [ "$mtu" != - ]; then
  ip link set "$iface" mtu "$mtu" || net_failed "mtu $mtu on $iface"
fi
ip addr add "$addr" dev "$iface" || net_failed "address $addr on $iface"
ip link set "$iface" up || net_failed "link up $iface"
if [ "$gw" != - ]; then
  ip route add default via "$gw" dev "$iface" || net_failed "default route via $gw"
fi

echo "ironbay-guest $host" >/www/index.html
# The tests' window into the VM, which has no shell to log in to: GET /cgi-bin/probe?op=ping&ip=A
# (one ping) or ?op=get&url=U (the body). Answers "ok", the body, or "fail". (busybox-static
# 1.35's wget -T crashes: PEERS.md; timeout bounds it instead.)
mkdir -p /www/cgi-bin
cat >/www/cgi-bin/probe <<'PROBE'
#!/bin/sh
# httpd runs CGI with an empty environment: no PATH.
PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
printf 'Content-Type: text/plain\r\n\r\n'
op=
ip=
url=
for kv in $(echo "$QUERY_STRING" | tr '&' ' '); do
  case $kv in
    op=*) op=${kv#op=} ;;
    ip=*) ip=${kv#ip=} ;;
    url=*) url=${kv#url=} ;;
  esac
done
case $op in
  ping) if ping -c 1 -W 2 "$ip" >/dev/null 2>&1; then echo ok; else echo fail; fi ;;
  get) timeout 5 wget -q -O - "$url" 2>/dev/null || echo fail ;;
  *) echo "unknown op" ;;
esac
PROBE
chmod 755 /www/cgi-bin/probe
for port in 6443 80 443; do
  httpd -p "$port" -h /www || echo "cluster-guest: httpd on $port did not start"
done
echo "IRONBAY-GUEST-UP hostname=$host ip=${addr%/*} mtu=$(cat "/sys/class/net/$iface/mtu") uptime=$(up)"
idle
