#!/bin/sh
# shellcheck shell=dash
# Shared by the lab's two busybox initrds (installer-init.sh and production-init.sh), which source
# it from /lib/ironbay/common.sh. Every marker line the tests read goes to the console (ttyS0
# with console=ttyS0) through `mark`.

# /proc, /sys, /dev and the busybox applets; stdin/stdout/stderr on the console.
early_setup() {
  /bin/busybox mkdir -p /proc /sys /dev /tmp /mnt /root /sbin /usr/bin /usr/sbin
  /bin/busybox --install -s
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev 2>/dev/null
  exec </dev/console >/dev/console 2>&1
  # The kernel's own messages would interleave with the markers.
  echo 1 >/proc/sys/kernel/printk
  ip link set lo up
}

mark() {
  echo "$*"
}

uptime_s() {
  cut -d' ' -f1 /proc/uptime
}

# The kernel modules in /lib/modules/order (dependencies first), as assets.sh put them there.
load_modules() {
  local m
  while read -r m; do
    [ -n "$m" ] && { insmod "/lib/modules/$m" 2>/dev/null || echo "ironbay: insmod $m failed"; }
  done </lib/modules/order
}

# The value of NAME=VALUE on the kernel command line (the last one wins), or empty.
cmdline_arg() {
  local w v=
  # shellcheck disable=SC2013 # words, not lines
  for w in $(cat /proc/cmdline); do
    case $w in
      "$1"=*) v=${w#"$1"=} ;;
    esac
  done
  printf '%s' "$v"
}

# The network interfaces but lo, once at least one exists (NIC drivers probe asynchronously);
# waits up to $1 tenths of a second, then waits 0.5 s more for a second NIC to show up.
network_interfaces() {
  local i=0 d found=
  while [ $i -lt "$1" ]; do
    found=
    for d in /sys/class/net/*; do
      [ "${d##*/}" = lo ] || found=1
    done
    [ -n "$found" ] && break
    sleep 0.1
    i=$((i + 1))
  done
  [ -n "$found" ] && sleep 0.5
  for d in /sys/class/net/*; do
    [ "${d##*/}" = lo ] || echo "${d##*/}"
  done
}

# PID 1 must never exit (the kernel panics): the machine waits for its BMC. It waits on a
# child, not in one: a trapped signal (handle_power_signals) is then handled at once.
wait_forever() {
  while :; do
    sleep 3600 &
    wait $!
  done
}

# busybox's reboot, poweroff and halt (without -f) signal PID 1 as busybox init expects: TERM,
# USR2, USR1. This PID 1 does what they ask.
handle_power_signals() {
  trap 'sync; reboot -f' TERM
  trap 'sync; poweroff -f' USR2
  trap 'sync; halt -f' USR1
}
