#!/bin/sh
# shellcheck shell=dash
# udhcpc's hook in the lab installer (/etc/udhcpc.script): configures the lease on $interface
# and records it in /tmp/lease.$interface ("IP ROUTER"); a default route only through the
# first interface to bind (a second NIC must not take the route away mid-install).
# shellcheck disable=SC2154 # udhcpc sets interface, ip, subnet, router
case "$1" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound | renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    gw=
    for r in $router; do
      gw=$r
      break
    done
    if [ -n "$gw" ] && ! ip route show default | grep -q .; then
      ip route add default via "$gw" dev "$interface"
    fi
    echo "$ip $gw" >"/tmp/lease.$interface"
    ;;
esac
exit 0
