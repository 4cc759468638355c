#!/bin/bash
# The chassis of one lab machine: OpenIPMI's ipmi_sim runs this program for every chassis
# command (its lan.conf has `chassis_control "THIS_SCRIPT MACHINE_DIR"`), and here "power" is
# a real qemu virtual machine. ipmi_sim runs it through popen(), blocks until it exits and reads
# what it prints, so every branch answers at once and nothing it starts keeps the pipe open:
#
#   THIS_SCRIPT DIR get power|boot ...   prints "power:1" / "boot:pxe", one line each
#   THIS_SCRIPT DIR set PARAM VALUE ...  prints nothing; a non-zero exit makes ipmi_sim answer
#                                        the IPMI request with 0xFF (unspecified error)
#
# What ipmi_sim 2.0.33 (lanserv/bmc_chassis.c) asks for each Chassis Control (IPMI v2.0 §28.3):
#   power up 01h      set power 1       → qemu starts (detached), if it is not running
#   power down 00h    set power 0       → qemu is killed (a hard power-off), if it runs
#   power cycle 02h   set power 0, then "get power" about every second until it reads 0,
#                     then set power 1
#   hard reset 03h    set reset 1       → kill + start (the firmware runs again, and reads
#                                         the boot device like a real reset); nothing when off
#   soft off 05h      set shutdown 1    → ACPI power button over QMP (the guest decides);
#                                         a kill when QMP does not answer
# Set System Boot Options parameter 5 → "set boot DEVICE" (none|pxe|default|cdrom|bios; an
# IPMI "disk" is "default"); Get System Boot Options → "get boot".
#
# Power is the qemu process itself: "get power" reads 1 while the pid in qemu.pid is a live
# qemu started for this machine, so a guest that powers itself off is off.
#
# Boot device, as a real BMC keeps a one-time boot override: the stored device decides the
# boot order when the machine is started, and a start that used "pxe" puts "default" back.
#   pxe          network first.   SeaBIOS: -boot once=n,order=c — this power-on tries the
#                NIC's iPXE ROM, and a reboot from inside the guest (the firmware runs again,
#                qemu does not restart) goes to the disk, as after a consumed override.
#                OVMF: bootindex 1 on the NIC, 2 on the disk.
#   default/none disk first.      SeaBIOS: -boot order=c (a disk with no boot loader falls
#                back to the NIC ROM: PEERS.md). OVMF: bootindex 1 on the disk, 2 on the NIC.
#   bios, cdrom  as default (there is no setup screen or CD-ROM to go to); logged.
#
# DIR (written by test/lab/machines.ts) holds:
#   machine.env   NAME FIRMWARE MAC0 MAC1 TAP0 TAP1 MEM ACCEL QMP_PORT, shell assignments
#   disk.raw      the machine's disk;  OVMF_VARS.fd  its UEFI variable store (uefi only)
#   boot          the stored boot device
#   events        one line per request and per thing done: "TIME set boot pxe",
#                 "TIME vm start boot=pxe pid=N", "TIME vm stop pid=N", … (tests read it)
#   console.log   the serial console, appended across power-ons, each one headed by a
#                 "=== ironbay-lab: power on … ===" line
#   qemu.pid      written by qemu (-daemonize -pidfile);  qemu.log  qemu's own messages
set -u
export TZ=UTC LC_ALL=C

if [[ $# -lt 2 || ! -f ${1:-}/machine.env ]]; then
  echo "vm-chassis: usage: $0 MACHINE_DIR get|set ..."
  exit 1
fi
dir=$1
op=$2
shift 2
# shellcheck source=/dev/null
. "$dir/machine.env"

# "2026-01-02T03:04:05.678Z", without forking (ipmi_sim waits for every "get power").
now() {
  local t=$EPOCHREALTIME
  printf -v stamp '%(%Y-%m-%dT%H:%M:%S)T.%.3sZ' "${t%.*}" "${t#*.}"
}

log_event() {
  now
  printf '%s %s\n' "$stamp" "$*" >>"$dir/events"
}

put() { # file value: replaced by rename, so a reader never sees half a file
  printf '%s\n' "$2" >"$dir/$1.tmp.$$" && mv -f "$dir/$1.tmp.$$" "$dir/$1"
}

value() { # file default → $v
  v=
  if [[ -r $dir/$1 ]]; then IFS= read -r v <"$dir/$1" || :; fi
  [[ -n $v ]] || v=$2
}

# Sets pid and returns 0 when qemu.pid names a live (not zombie) qemu started for this machine.
vm_alive() {
  pid=
  [[ -r $dir/qemu.pid ]] && { read -r pid <"$dir/qemu.pid" || :; }
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  local stat rest argv
  { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
  rest=${stat##*) }
  case ${rest%% *} in Z | X | x) return 1 ;; esac
  # The pid could have been reused since: it must be qemu with this machine's pid file.
  { mapfile -d '' -t argv <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
  [[ " ${argv[*]} " == *" $dir/qemu.pid "* ]]
}

# Ends qemu: SIGTERM, then SIGKILL; returns once it is gone (the tap is free again then).
stop_vm() {
  vm_alive || return 0
  local victim=$pid i
  kill -TERM "$victim" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    vm_alive || break
    sleep 0.05
  done
  if vm_alive; then
    kill -KILL "$victim" 2>/dev/null
    for ((i = 0; i < 40; i++)); do
      vm_alive || break
      sleep 0.05
    done
  fi
  log_event "vm stop pid=$victim"
}

# Starts qemu detached with the stored boot device; consumes a one-time "pxe".
start_vm() {
  local dev order=disk
  value boot none
  dev=$v
  case $dev in
  pxe) order=network ;;
  default | none) ;;
  *) log_event "vm boot device $dev is not emulated: disk first" ;;
  esac
  local -a a=(-name "$NAME" -nodefaults -no-user-config -display none -vga none -machine graphics=off
    -m "$MEM" -smp 1 -daemonize -pidfile "$dir/qemu.pid"
    -chardev "file,id=ser0,path=$dir/console.log,append=on" -serial chardev:ser0
    -qmp "tcp:127.0.0.1:$QMP_PORT,server=on,wait=off"
    -netdev "tap,id=n0,ifname=$TAP0,script=no,downscript=no"
    -netdev "tap,id=n1,ifname=$TAP1,script=no,downscript=no"
    -drive "file=$dir/disk.raw,format=raw,if=none,id=d0")
  local acc
  for acc in $ACCEL; do a+=(-accel "$acc"); done
  if [[ $FIRMWARE == uefi ]]; then
    local nic_index=2 disk_index=1
    [[ $order == network ]] && nic_index=1 disk_index=2
    # OVMF's own PXE (its virtio-net driver): the iPXE option ROM is off (romfile=).
    a+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE"
      -drive "if=pflash,format=raw,unit=1,file=$dir/OVMF_VARS.fd"
      -device "virtio-net-pci,netdev=n0,mac=$MAC0,romfile=,bootindex=$nic_index"
      -device "virtio-blk-pci,drive=d0,bootindex=$disk_index")
  else
    # SeaBIOS with qemu's iPXE ROM on the boot NIC; the legacy -boot order (no bootindex, or
    # SeaBIOS would follow that instead) so that "once" holds for this power-on only.
    a+=(-device "virtio-net-pci,netdev=n0,mac=$MAC0" -device "virtio-blk-pci,drive=d0")
    if [[ $order == network ]]; then a+=(-boot 'once=n,order=c'); else a+=(-boot order=c); fi
  fi
  # The production NIC never network-boots.
  a+=(-device "virtio-net-pci,netdev=n1,mac=$MAC1,romfile=")
  now
  printf '\r\n=== ironbay-lab: power on %s boot=%s firmware=%s at %s ===\r\n' "$NAME" "$dev" "$FIRMWARE" "$stamp" >>"$dir/console.log"
  rm -f "$dir/qemu.pid"
  # Nothing of ipmi_sim's may reach qemu: not the popen pipe (ipmi_sim would wait for qemu to
  # exit), not its sockets (qemu would hold the BMC's port). -daemonize returns once the
  # machine is set up, with the pid written.
  local fd
  for fd in "/proc/$$/fd/"*; do
    fd=${fd##*/}
    ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
  done
  if ! qemu-system-x86_64 "${a[@]}" </dev/null >>"$dir/qemu.log" 2>&1; then
    log_event "vm start failed boot=$dev (see qemu.log)"
    return 1
  fi
  vm_alive
  log_event "vm start boot=$dev firmware=$FIRMWARE pid=$pid"
  if [[ $dev == pxe ]]; then
    put boot default
    log_event "boot pxe consumed: default"
  fi
}

# ACPI power button through QMP (qemu listens on the lab namespace's loopback).
acpi_powerdown() {
  local reply ok=1
  exec 9<>"/dev/tcp/127.0.0.1/$QMP_PORT" || return 1
  printf '{"execute":"qmp_capabilities"}\n{"execute":"system_powerdown"}\n' >&9
  # The greeting, then one answer per command.
  while IFS= read -r -t 2 reply <&9; do
    [[ $reply == *'"return"'* ]] && ((ok++))
    ((ok >= 3)) && break
  done
  exec 9>&-
  ((ok >= 3))
}

case $op in
get)
  for parm in "$@"; do
    case $parm in
    power)
      if vm_alive; then echo "power:1"; else echo "power:0"; fi
      ;;
    boot)
      value boot none
      echo "boot:$v"
      ;;
    *)
      echo "vm-chassis: cannot get '$parm'"
      exit 1
      ;;
    esac
  done
  ;;
set)
  while [[ $# -gt 0 ]]; do
    parm=$1
    if [[ $# -lt 2 ]]; then
      echo "vm-chassis: no value for '$parm'"
      exit 1
    fi
    val=$2
    shift 2
    log_event "set $parm $val"
    case $parm in
    power)
      case $val in
      1) if vm_alive; then log_event "vm already on pid=$pid"; else start_vm || exit 1; fi ;;
      0) if vm_alive; then stop_vm; else log_event "vm already off"; fi ;;
      *)
        echo "vm-chassis: bad power value '$val'"
        exit 1
        ;;
      esac
      ;;
    boot)
      case $val in
      none | pxe | default | cdrom | bios) put boot "$val" ;;
      *)
        echo "vm-chassis: bad boot device '$val'"
        exit 1
        ;;
      esac
      ;;
    reset)
      if vm_alive; then
        stop_vm
        start_vm || exit 1
      else
        log_event "vm off: reset does nothing"
      fi
      ;;
    shutdown)
      if vm_alive; then
        if acpi_powerdown; then
          log_event "vm acpi powerdown sent pid=$pid"
        else
          log_event "vm qmp did not answer: hard off"
          stop_vm
        fi
      fi
      ;;
    identify) ;;
    *)
      echo "vm-chassis: cannot set '$parm'"
      exit 1
      ;;
    esac
  done
  ;;
*)
  echo "vm-chassis: unknown operation '$op'"
  exit 1
  ;;
esac
exit 0
