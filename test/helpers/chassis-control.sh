#!/bin/sh
# The chassis of a simulated machine, for OpenIPMI's ipmi_sim (test/helpers/ipmi-sim.ts writes
# `chassis_control "THIS_SCRIPT DIR"` into each BMC's lan.conf). ipmi_sim runs it through
# popen() for every chassis command, waits for it, and reads what it prints:
#
#   THIS_SCRIPT DIR get power|boot ...      prints "power:1" / "boot:pxe", one line each
#   THIS_SCRIPT DIR set PARAM VALUE          prints nothing; a non-zero exit makes ipmi_sim
#                                            answer the IPMI request with 0xFF (unspecified)
#
# DIR is the BMC's own temporary directory; the chassis state lives there, one file per item:
#   power   1 or 0
#   boot    none | pxe | default (= disk) | cdrom | bios — the only boot devices ipmi_sim
#           2.0.33 maps; any other selector is refused before this script runs
#   events  one line per "set", in order ("power 0", "power 1", "reset 1", "shutdown 1",
#           "identify 15 0", "boot pxe") so that tests can see what the BMC was asked to do
#
# What ipmi_sim (lanserv/bmc_chassis.c) asks for each Chassis Control (IPMI v2.0 §28.3):
#   power up 01h      set power 1
#   power down 00h    set power 0
#   power cycle 02h   set power 0, then about every second "get power" until it reads 0, then
#                     set power 1 (ipmi_sim's own timer; this script sees an off and an on)
#   hard reset 03h    set reset 1     — the machine reboots: power stays as it is
#   soft off 05h      set shutdown 1  — an ACPI request; the simulated OS obeys at once: power 0
#   identify          set identify "INTERVAL FORCE" (one argument)
# Set System Boot Options parameter 5 → "set boot DEVICE"; parameter 4 (boot info
# acknowledge) → "get boot"; Get System Boot Options parameter 5 → "get boot".
# It must answer fast: ipmi_sim blocks on it. Files are replaced by rename, never rewritten in
# place, so a reader (the test, through ipmi-sim.ts) never sees a half-written one.
set -u

if [ $# -lt 2 ] || [ ! -d "$1" ]; then
  echo "chassis-control: usage: $0 STATE_DIR get|set ..."
  exit 1
fi
dir=$1
op=$2
shift 2

put() { # file value
  printf '%s\n' "$2" >"$dir/$1.tmp.$$" && mv -f "$dir/$1.tmp.$$" "$dir/$1"
}

# Sets v to the file's first line, or the default. No command substitution and no cat: each
# would fork, and ipmi_sim runs this script, blocking, for every status request.
value() { # file default
  v=
  if [ -r "$dir/$1" ]; then IFS= read -r v <"$dir/$1" || :; fi
  [ -n "$v" ] || v=$2
}

case $op in
get)
  for parm in "$@"; do
    case $parm in
    power)
      value power 0
      echo "power:$v"
      ;;
    boot)
      value boot none
      echo "boot:$v"
      ;;
    *)
      echo "chassis-control: cannot get '$parm'"
      exit 1
      ;;
    esac
  done
  ;;
set)
  while [ $# -gt 0 ]; do
    parm=$1
    if [ $# -lt 2 ]; then
      echo "chassis-control: no value for '$parm'"
      exit 1
    fi
    val=$2
    shift 2
    case $parm in
    power)
      case $val in
      0 | 1) put power "$val" ;;
      *)
        echo "chassis-control: bad power value '$val'"
        exit 1
        ;;
      esac
      ;;
    boot)
      case $val in
      none | pxe | default | cdrom | bios) put boot "$val" ;;
      *)
        echo "chassis-control: bad boot device '$val'"
        exit 1
        ;;
      esac
      ;;
    reset) ;;
    shutdown) put power 0 ;;
    identify) ;;
    *)
      echo "chassis-control: cannot set '$parm'"
      exit 1
      ;;
    esac
    printf '%s %s\n' "$parm" "$val" >>"$dir/events"
  done
  ;;
*)
  echo "chassis-control: unknown operation '$op'"
  exit 1
  ;;
esac
exit 0
